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

use crate::config::{CachePolicyConfig, Forward, OriginRequestPolicy, QueryStrings};
use crate::message::EdgeRequest;

/// `request` without what neither this policy nor `cache` forwards; borrowed when that
/// is nothing. `viewer` is the viewer's own headers when a viewer-request function may
/// have changed `request`: fields it set or changed are the function's and are kept.
pub(crate) fn forward<'a>(
    policy: &OriginRequestPolicy,
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
    let dropped: Vec<&HeaderName> = match policy.headers {
        Forward::All => Vec::new(),
        Forward::Only(_) => request
            .headers
            .keys()
            .filter(|name| {
                *name != header::HOST
                    && *name != header::COOKIE
                    && !policy.headers.includes(name)
                    && !cache.headers.contains(name)
                    && !set_by_function(name)
            })
            .collect(),
    };
    let cookies = policy.cookies != Forward::All
        && request.headers.contains_key(header::COOKIE)
        && !set_by_function(&header::COOKIE);
    let query = policy.query_strings != Forward::All
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
        filter_cookies(policy, cache, &mut forwarded.headers);
    }
    if query {
        filter_query(policy, cache, &mut forwarded);
    }
    Cow::Owned(forwarded)
}

fn filter_cookies(
    policy: &OriginRequestPolicy,
    cache: &CachePolicyConfig,
    headers: &mut HeaderMap,
) {
    let kept: Vec<String> = crate::cache::cookies(headers)
        .into_iter()
        .filter(|(name, _)| policy.cookies.includes(name) || cache.cookies.contains(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = kept.join("; ").parse()
        && !kept.is_empty()
    {
        headers.insert(header::COOKIE, value);
    }
}

fn filter_query(
    policy: &OriginRequestPolicy,
    cache: &CachePolicyConfig,
    request: &mut EdgeRequest,
) {
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
            !pair.is_empty() && (keyed(name) || policy.query_strings.includes(&name.to_owned()))
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
