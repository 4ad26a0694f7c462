//! Requests and responses as the pipeline holds them: fully buffered, headers in an
//! [`http::HeaderMap`], the request target as path plus query.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

/// A viewer's request on its way through the hooks, the cache and to the origin.
#[derive(Debug, Clone)]
pub struct EdgeRequest {
    /// The method.
    pub method: Method,
    /// Path and query, e.g. `/a/b?x=1`.
    pub uri: Uri,
    /// Header fields; `host` is always present (taken from `:authority` on HTTP/2).
    pub headers: HeaderMap,
    /// The whole body (empty when there is none).
    pub body: Bytes,
    /// The viewer's address.
    pub client_ip: IpAddr,
    /// Whether the viewer came over TLS.
    pub tls: bool,
    /// A trusted proxy's `x-forwarded-for` chain with the proxy appended, for the origin;
    /// `None` when the viewer came directly (the origin then gets `client_ip`).
    pub forwarded_for: Option<HeaderValue>,
    /// The viewer's own header fields, kept once a function has changed the request: what a
    /// function set is forwarded to the origin whatever the origin request policy says.
    pub viewer_headers: Option<Arc<HeaderMap>>,
}

impl EdgeRequest {
    /// The Host header, or "" if it is not valid text.
    pub fn host(&self) -> &str {
        self.headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// Whether the response can come from the cache: GET and HEAD.
    pub fn is_cacheable_method(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD
    }
}

/// A response from the origin, the cache, a function or the node.
#[derive(Debug, Clone)]
pub struct EdgeResponse {
    /// The status.
    pub status: StatusCode,
    /// Header fields (no hop-by-hop fields; `content-length` is set when sent).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl EdgeResponse {
    /// A response with no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// legacy ones proxies also drop. Never forwarded in either direction.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop fields, including those the `connection` field names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}
