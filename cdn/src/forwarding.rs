//! What of a viewer's request reaches the origin: a behavior's *origin request policy*
//! (CloudFront's model). The origin gets the headers, cookies and query parameters in the
//! behavior's cache key, those the policy names, and what a function (viewer-request or
//! origin-request) set; everything else the viewer sent is dropped as the request leaves for
//! the origin. An answer the origin shaped from something the cache key does not hold
//! (`x-forwarded-host`, `x-original-url`, an unkeyed cookie) could otherwise be cached and
//! served to everyone.
//!
//! Functions see every viewer header on every hook: the policy applies to the origin alone.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, header};

use crate::config::{CachePolicyConfig, QueryStrings};
use crate::message::EdgeRequest;

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
    fn includes(&self, item: &T) -> bool {
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

    /// `request` without what neither this policy nor `cache` forwards; borrowed when that
    /// is nothing. `viewer` is the viewer's own headers when a viewer-request function may
    /// have changed `request`: fields it set or changed are the function's and are kept.
    pub fn forward<'a>(
        &self,
        cache: &CachePolicyConfig,
        viewer: Option<&HeaderMap>,
        request: &'a EdgeRequest,
    ) -> Cow<'a, EdgeRequest> {
        let set_by_function = |name: &HeaderName| {
            viewer.is_some_and(|viewer| {
                !viewer
                    .get_all(name)
                    .iter()
                    .eq(request.headers.get_all(name))
            })
        };
        let dropped: Vec<&HeaderName> = match self.headers {
            Forward::All => Vec::new(),
            Forward::Only(_) => request
                .headers
                .keys()
                .filter(|name| {
                    *name != header::HOST
                        && *name != header::COOKIE
                        && !self.headers.includes(name)
                        && !cache.headers.contains(name)
                        && !set_by_function(name)
                })
                .collect(),
        };
        let cookies = self.cookies != Forward::All
            && request.headers.contains_key(header::COOKIE)
            && !set_by_function(&header::COOKIE);
        let query = self.query_strings != Forward::All
            && cache.query_strings != QueryStrings::All
            && request.uri.query().is_some();
        if dropped.is_empty() && !cookies && !query {
            return Cow::Borrowed(request);
        }
        let mut forwarded = request.clone();
        for name in dropped {
            forwarded.headers.remove(name);
        }
        if cookies {
            self.filter_cookies(cache, &mut forwarded.headers);
        }
        if query {
            self.filter_query(cache, &mut forwarded);
        }
        Cow::Owned(forwarded)
    }

    fn filter_cookies(&self, cache: &CachePolicyConfig, headers: &mut HeaderMap) {
        let kept: Vec<String> = crate::cache::cookies(headers)
            .into_iter()
            .filter(|(name, _)| self.cookies.includes(name) || cache.cookies.contains(name))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        headers.remove(header::COOKIE);
        if let Ok(value) = kept.join("; ").parse()
            && !kept.is_empty()
        {
            headers.insert(header::COOKIE, value);
        }
    }

    fn filter_query(&self, cache: &CachePolicyConfig, request: &mut EdgeRequest) {
        let Some(query) = request.uri.query() else {
            return;
        };
        let keyed = |name: &str| match &cache.query_strings {
            QueryStrings::All => true,
            QueryStrings::None => false,
            QueryStrings::Only(names) => names.iter().any(|n| n == name),
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
                !pair.is_empty() && (keyed(name) || self.query_strings.includes(&name.to_owned()))
            })
            .collect();
        let mut target = request.path().to_owned();
        if !kept.is_empty() {
            target.push('?');
            target.push_str(&kept.join("&"));
        }
        if let Ok(uri) = target.parse() {
            request.uri = uri;
        }
    }
}
