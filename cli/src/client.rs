//! A small client for the control plane's HTTP/JSON API.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Talks to one control plane with one token.
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub(crate) fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let uri: Uri = base
            .parse()
            .with_context(|| format!("control-plane URL `{base}`"))?;
        if uri.scheme_str() != Some("http") {
            bail!(
                "control-plane URL `{base}`: only http:// is supported by this CLI build (run it on loopback or behind a TLS proxy)"
            );
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends a request and returns the JSON answer; an error status becomes an error with the
    /// control plane's message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body))?;
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
}
