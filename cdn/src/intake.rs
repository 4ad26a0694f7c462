//! Reading a viewer's request into an [`EdgeRequest`]: limits (413, 414), framing checks, the
//! Host, and removing what only the node may set.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use ipnet::IpNet;

use crate::config::ServerLimits;
use crate::error::{EdgeError, ErrorKind};
use crate::message::{EdgeRequest, strip_hop_by_hop};

/// What the server knows about a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The address the connection comes from: the viewer, or a proxy in front of the node.
    pub(crate) peer_ip: IpAddr,
    pub(crate) tls: bool,
    /// The listener's trusted proxies (`listeners[].trusted_proxies`).
    pub(crate) trusted_proxies: Arc<[IpNet]>,
}

/// Forwarding headers: the node sets them for its origins, so a viewer's own are dropped at
/// intake; only a trusted proxy's are believed.
const FORWARDING_HEADERS: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "forwarded",
];

/// Who the viewer is, as the connection and any trusted proxy say.
struct Viewer {
    client_ip: IpAddr,
    tls: bool,
    /// A trusted proxy's `x-forwarded-for` chain with the proxy appended.
    forwarded_for: Option<HeaderValue>,
}

/// Takes the forwarding headers out of `headers` and decides who the viewer is. From a trusted
/// proxy, the viewer is the right-most `x-forwarded-for` address that is not itself a trusted
/// proxy, and its `x-forwarded-proto` is believed; the chain goes on with the proxy appended.
fn viewer(headers: &mut HeaderMap, conn: &ConnInfo) -> Viewer {
    let trusted = |ip: &IpAddr| conn.trusted_proxies.iter().any(|net| net.contains(ip));
    let mut viewer = Viewer {
        client_ip: conn.peer_ip,
        tls: conn.tls,
        forwarded_for: None,
    };
    if trusted(&conn.peer_ip) {
        let chain: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        if !chain.is_empty() {
            let hops: Vec<IpAddr> = chain.iter().map_while(|hop| hop.parse().ok()).collect();
            viewer.client_ip = hops
                .iter()
                .rev()
                .find(|ip| !trusted(ip))
                .or(hops.first())
                .copied()
                .unwrap_or(conn.peer_ip);
            viewer.forwarded_for =
                HeaderValue::from_str(&format!("{}, {}", chain.join(", "), conn.peer_ip)).ok();
        }
        if let Some(proto) = headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
        {
            viewer.tls = proto.trim().eq_ignore_ascii_case("https");
        }
    }
    for name in FORWARDING_HEADERS {
        headers.remove(name);
    }
    viewer
}

/// The host a request is for: the authority of an absolute-form target or of HTTP/2's
/// `:authority`, which take precedence over the Host header (RFC 9112 §3.2.2), else the Host.
pub(crate) fn host_of<B>(request: &Request<B>) -> &str {
    request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
        })
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
    let target = crate::target::normalise(&target)
        .map_err(|problem| bad_request(format!("request target: {}", problem.0)))?;
    if parts.headers.get_all(header::HOST).iter().count() > 1 {
        return Err(bad_request("more than one Host header"));
    }
    // The target's authority (absolute form, HTTP/2 :authority) names the host, not the Host
    // field: what is routed, keyed and forwarded is one host.
    if let Some(authority) = parts.uri.authority() {
        let value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad_request("invalid authority"))?;
        parts.headers.insert(header::HOST, value);
    }
    if !parts.headers.contains_key(header::HOST) {
        return Err(bad_request("no Host header"));
    }
    let declared = declared_length(&parts.headers)?;
    if declared.is_some_and(|length| length > limits.max_body_bytes) {
        return Err(EdgeError::new(
            ErrorKind::BodyTooLarge,
            format!("content-length over {} bytes", limits.max_body_bytes),
        ));
    }
    let body = read_body(body, limits).await?;
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
    let viewer = viewer(&mut headers, conn);
    let uri = http::Uri::from(target);
    Ok(EdgeRequest {
        method: parts.method,
        uri,
        headers,
        body,
        client_ip: viewer.client_ip,
        tls: viewer.tls,
        forwarded_for: viewer.forwarded_for,
        viewer_headers: None,
    })
}

/// The whole body, at most `limits.max_body_bytes`, refused when it stalls for
/// `limits.body_read_timeout` (a short Content-Length, a missing last chunk).
async fn read_body(body: Incoming, limits: &ServerLimits) -> Result<Bytes, EdgeError> {
    let mut body = Limited::new(body, limits.max_body_bytes);
    let mut collected = BytesMut::new();
    loop {
        if body.is_end_stream() {
            return Ok(collected.freeze());
        }
        let frame = tokio::time::timeout(limits.body_read_timeout, body.frame())
            .await
            .map_err(|_| {
                EdgeError::new(
                    ErrorKind::BodyTimeout,
                    format!(
                        "no body byte for {:?} after {} bytes",
                        limits.body_read_timeout,
                        collected.len()
                    ),
                )
            })?;
        match frame {
            None => return Ok(collected.freeze()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    collected.extend_from_slice(&data);
                }
            }
            Some(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(EdgeError::new(
                    ErrorKind::BodyTooLarge,
                    format!("body over {} bytes", limits.max_body_bytes),
                ));
            }
            Some(Err(error)) => return Err(bad_request(format!("reading the body: {error}"))),
        }
    }
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
