//! A small client for the control plane's HTTP/JSON API (and the node's log stream), over
//! http:// or https:// (the system's roots plus an optional CA file). Uploads report their
//! progress to a bar as hyper takes the bytes.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_rustls::HttpsConnector;
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

/// Talks to one control plane (or node admin listener) with one token.
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpsConnector<HttpConnector>, Upload>,
}

/// The roots an https:// URL is checked against: the system's, else the web PKI's, plus the
/// certificates of `ca_file`.
fn roots(ca_file: Option<&std::path::Path>) -> anyhow::Result<rustls::RootCertStore> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .with_context(|| format!("--ca-file {}", path.display()))?;
        if certs.is_empty() {
            bail!("--ca-file {}: no PEM certificate in it", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("--ca-file {}", path.display()))?;
        }
    }
    Ok(roots)
}

impl Client {
    pub(crate) fn new(
        base: &str,
        token: Option<String>,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        if !base.contains("://") {
            bail!("URL `{base}` has no scheme: add http:// or https://, e.g. http://{base}");
        }
        let uri: Uri = base.parse().with_context(|| format!("URL `{base}`"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            bail!("URL `{base}`: expected http://HOST:PORT or https://HOST:PORT");
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_file)?)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
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
            bail!("{method} {path}: {status}: {message}");
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
