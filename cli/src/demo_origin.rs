//! Demo origins for `wedge dev`: small HTTP servers on loopback that answer every request with
//! a JSON echo of what they received (method, URI, headers), so what the functions changed on
//! the way in is visible. They send what real origins send and should not: `server`,
//! `x-powered-by` and an internal header, for the functions to strip.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::bail;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// The placeholder a distribution file uses for a demo origin: `{demo_origin:NAME}`.
const PLACEHOLDER: &str = "{demo_origin:";

/// Replaces every `{demo_origin:NAME}` of `template` with the URL of a demo origin named NAME
/// (started here, one per name), or with `fixed` when the user gave their own origin.
/// Returns the text and the origins started.
pub(crate) async fn substitute(
    template: &str,
    fixed: Option<&str>,
) -> anyhow::Result<(String, BTreeMap<String, SocketAddr>)> {
    let mut started = BTreeMap::new();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(PLACEHOLDER) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PLACEHOLDER.len()..];
        let Some(end) = after.find('}') else {
            bail!("unterminated {PLACEHOLDER}NAME}} in the distribution");
        };
        let name = &after[..end];
        if let Some(url) = fixed {
            out.push_str(url);
        } else {
            let address = match started.get(name) {
                Some(address) => *address,
                None => {
                    let address = start(name).await?;
                    started.insert(name.to_owned(), address);
                    address
                }
            };
            out.push_str(&format!("http://{address}"));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, started))
}

/// Starts a demo origin named `name` on an ephemeral loopback port.
pub(crate) async fn start(name: &str) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let name = name.to_owned();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let name = name.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let name = name.clone();
                    async move { Ok::<_, Infallible>(answer(&name, &request)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

fn answer<B>(name: &str, request: &http::Request<B>) -> http::Response<Full<Bytes>> {
    let headers: BTreeMap<&str, String> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = request.uri().path();
    let content_type = if path.ends_with(".css") {
        "text/css"
    } else if path.starts_with("/api/") {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    let body = json!({
        "origin": name,
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "headers": headers,
    });
    let mut response = http::Response::new(Full::new(Bytes::from(format!("{body:#}\n"))));
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static(content_type));
    headers.insert(
        "server",
        http::HeaderValue::from_static("wedge-demo-origin"),
    );
    headers.insert("x-powered-by", http::HeaderValue::from_static("demo"));
    headers.insert("x-internal-build", http::HeaderValue::from_static("42"));
    if let Ok(value) = http::HeaderValue::from_str(name) {
        headers.insert("x-demo-origin", value);
    }
    response
}
