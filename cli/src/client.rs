//! A small client for the control plane's HTTP/JSON API (and the node's log stream). Uploads
//! report their progress to a bar as hyper takes the bytes.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::ProgressBar;
use serde_json::Value;

/// Bytes handed to hyper at a time, so the bar moves as the upload goes.
const CHUNK: usize = 64 * 1024;

/// A request body sent in chunks, each counted on `bar` when hyper takes it.
pub(crate) struct Upload {
    data: Bytes,
    bar: Option<ProgressBar>,
}

impl Upload {
    /// A body without progress.
    pub(crate) fn plain(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            bar: None,
        }
    }

    /// A body whose progress goes to `bar` (its length is set here).
    pub(crate) fn with_progress(data: Bytes, bar: ProgressBar) -> Self {
        bar.set_length(data.len() as u64);
        Self {
            data,
            bar: Some(bar),
        }
    }
}

impl Body for Upload {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let take = self.data.len().min(CHUNK);
        let chunk = self.data.split_to(take);
        if let Some(bar) = &self.bar {
            bar.inc(take as u64);
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// Talks to one control plane with one token.
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpConnector, Upload>,
}

impl Client {
    pub(crate) fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let uri: Uri = base.parse().with_context(|| format!("URL `{base}`"))?;
        if uri.scheme_str() != Some("http") {
            bail!(
                "URL `{base}`: only http:// is supported by this CLI build (run it on loopback or behind a TLS proxy)"
            );
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        })
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        body: Upload,
    ) -> anyhow::Result<Request<Upload>> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        Ok(request.body(body)?)
    }

    /// Sends a request and returns the JSON answer; an error status becomes an error with the
    /// control plane's message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> anyhow::Result<(u16, Value)> {
        self.send(method, path, Upload::plain(body)).await
    }

    /// [`Client::call`] with any body, e.g. an [`Upload`] with progress.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Upload,
    ) -> anyhow::Result<(u16, Value)> {
        let request = self.request(&method, path, body)?;
        let response = self
            .http
            .request(request)
            .await
            .with_context(|| format!("cannot reach the control plane at {} (is wedge-control running? set --control or WEDGE_CONTROL_URL)", self.base))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status >= 400 {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            let hint = match status {
                401 => " (pass a token with --token or WEDGE_TOKEN)",
                403 => " (this token's role may not do that; writes need an admin token)",
                _ => "",
            };
            bail!("{method} {path}: {status}: {message}{hint}");
        }
        Ok((status, value))
    }

    /// GETs `path` and calls `line` with each line of the answer as it arrives, until the
    /// stream ends (a node's `GET /logs`).
    pub(crate) async fn lines(&self, path: &str, mut line: impl FnMut(&str)) -> anyhow::Result<()> {
        let request = self.request(&Method::GET, path, Upload::plain(Bytes::new()))?;
        let response =
            self.http.request(request).await.with_context(|| {
                format!("cannot reach the node's admin listener at {}", self.base)
            })?;
        let status = response.status();
        let mut body = response.into_body();
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let text: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&text[..end]);
                if !status.is_success() {
                    bail!("GET {path}: {status}: {text}");
                }
                line(&text);
            }
        }
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&pending)
            );
        }
        Ok(())
    }
}
