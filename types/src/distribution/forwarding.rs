//! A behavior's *origin request policy* (CloudFront's model): what of a viewer's request
//! reaches the origin beyond the cache key. The node applies it (wedge-cdn's `forwarding`).

use http::HeaderName;

/// Viewer headers a caching behavior forwards without being told: content negotiation
/// (which origins answer with `Vary`), how a body is framed and typed, and credentials (a
/// response to a request with `authorization` is stored only when the origin explicitly
/// allows it, RFC 9111 §3.5, so it cannot poison the cache).
pub const DEFAULT_FORWARDED_HEADERS: [&str; 6] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "authorization",
    "content-type",
    "content-length",
];

/// Which of a kind of request part (headers, cookies, query parameters) is forwarded, beyond
/// those in the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward<T> {
    /// Every one the viewer sent.
    All,
    /// Only these (empty: none).
    Only(Vec<T>),
}

impl<T: PartialEq> Forward<T> {
    /// Whether `item` is forwarded.
    pub fn includes(&self, item: &T) -> bool {
        match self {
            Self::All => true,
            Self::Only(items) => items.contains(item),
        }
    }
}

/// A behavior's origin request policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequestPolicy {
    /// Viewer headers forwarded (lower case). `Host` is always the origin's.
    pub headers: Forward<HeaderName>,
    /// Cookie names forwarded.
    pub cookies: Forward<String>,
    /// Query parameter names forwarded.
    pub query_strings: Forward<String>,
}

impl OriginRequestPolicy {
    /// Everything: the default of a behavior that does not cache (nothing it answers is shared).
    pub fn forward_all() -> Self {
        Self {
            headers: Forward::All,
            cookies: Forward::All,
            query_strings: Forward::All,
        }
    }

    /// The cache key plus [`DEFAULT_FORWARDED_HEADERS`]: the default of a caching behavior.
    pub fn cache_key_only() -> Self {
        Self {
            headers: Forward::Only(
                DEFAULT_FORWARDED_HEADERS
                    .iter()
                    .map(|name| HeaderName::from_static(name))
                    .collect(),
            ),
            cookies: Forward::Only(Vec::new()),
            query_strings: Forward::Only(Vec::new()),
        }
    }
}
