//! Reading a viewer's request into an [`EdgeRequest`]: limits (413, 414), framing checks, the
//! Host, and removing what only the node may set.

use std::net::IpAddr;

use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::config::ServerLimits;
use crate::error::{EdgeError, ErrorKind};
use crate::message::{EdgeRequest, strip_hop_by_hop};

/// What the server knows about a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) client_ip: IpAddr,
    pub(crate) tls: bool,
}

/// The Host header, or the HTTP/2 `:authority`.
pub(crate) fn host_of<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

fn bad_request(detail: impl Into<String>) -> EdgeError {
    EdgeError::new(ErrorKind::BadRequest, detail)
}

/// Reads the head and the whole body under `limits`.
pub(crate) async fn read_request(
    request: Request<Incoming>,
    conn: &ConnInfo,
    limits: &ServerLimits,
) -> Result<EdgeRequest, EdgeError> {
    let (mut parts, body) = request.into_parts();
    if parts.method == http::Method::CONNECT {
        return Err(EdgeError::new(
            ErrorKind::MethodNotAllowed,
            "CONNECT is not proxied",
        ));
    }
    // The request target as path and query: hyper has parsed it already (an absolute-form or
    // HTTP/2 URI keeps only this part; the authority is in Host).
    let target = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    if target.as_str().len() > limits.max_uri_bytes {
        return Err(EdgeError::new(
            ErrorKind::UriTooLong,
            format!("{} bytes of request target", target.as_str().len()),
        ));
    }
    if !target.as_str().starts_with('/') {
        return Err(bad_request(format!(
            "request target `{target}` is not a path"
        )));
    }
    if !parts.headers.contains_key(header::HOST) {
        let authority = parts.uri.authority().map(|a| a.as_str().to_owned());
        let Some(value) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) else {
            return Err(bad_request("no Host header"));
        };
        parts.headers.insert(header::HOST, value);
    }
    if parts.headers.get_all(header::HOST).iter().count() > 1 {
        return Err(bad_request("more than one Host header"));
    }
    let declared = declared_length(&parts.headers)?;
    if declared.is_some_and(|length| length > limits.max_body_bytes) {
        return Err(EdgeError::new(
            ErrorKind::BodyTooLarge,
            format!("content-length over {} bytes", limits.max_body_bytes),
        ));
    }
    let body = Limited::new(body, limits.max_body_bytes)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                EdgeError::new(
                    ErrorKind::BodyTooLarge,
                    format!("body over {} bytes", limits.max_body_bytes),
                )
            } else {
                bad_request(format!("reading the body: {error}"))
            }
        })?
        .to_bytes();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::EXPECT);
    let node_owned: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-wedge-"))
        .cloned()
        .collect();
    for name in node_owned {
        headers.remove(name);
    }
    let uri = http::Uri::from(target);
    Ok(EdgeRequest {
        method: parts.method,
        uri,
        headers,
        body,
        client_ip: conn.client_ip,
        tls: conn.tls,
    })
}

/// The body length the head declares. Ambiguous framing is refused rather than guessed at:
/// Content-Length with Transfer-Encoding, or several Content-Length values that differ.
fn declared_length(headers: &http::HeaderMap) -> Result<Option<usize>, EdgeError> {
    let lengths: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    if lengths.is_empty() {
        return Ok(None);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(bad_request("both Content-Length and Transfer-Encoding"));
    }
    let mut value = None;
    for length in lengths
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("x").split(','))
    {
        let parsed: usize = length
            .trim()
            .parse()
            .map_err(|_| bad_request("invalid Content-Length"))?;
        if value.is_some_and(|seen| seen != parsed) {
            return Err(bad_request("conflicting Content-Length values"));
        }
        value = Some(parsed);
    }
    Ok(value)
}
