//! Cache keys: the distribution, the host, the path, and the query strings, headers and
//! cookies the behavior's cache policy selects.

use std::fmt::Write as _;

use http::{HeaderMap, header};

use crate::config::{CachePolicyConfig, QueryStrings};
use crate::message::EdgeRequest;

/// Where a response is stored. Two requests with equal keys may still get different stored
/// responses when the origin's `Vary` tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The distribution id.
    pub distribution: String,
    /// The path, for purges by path and prefix.
    pub path: String,
    /// The whole key.
    pub primary: String,
}

impl CacheKey {
    /// The key of `request` under `policy` in `distribution`.
    pub fn new(distribution: &str, policy: &CachePolicyConfig, request: &EdgeRequest) -> Self {
        let path = request.path().to_owned();
        let mut primary = String::with_capacity(distribution.len() + path.len() + 64);
        let host = request.host().to_ascii_lowercase();
        let _ = write!(primary, "{distribution}\n{host}\n{path}\n");
        append_query(
            &mut primary,
            &policy.query_strings,
            request.uri.query().unwrap_or(""),
        );
        for name in &policy.headers {
            primary.push('\n');
            primary.push_str(name.as_str());
            primary.push(':');
            for (index, value) in request.headers.get_all(name).iter().enumerate() {
                if index > 0 {
                    primary.push(',');
                }
                primary.push_str(&String::from_utf8_lossy(value.as_bytes()));
            }
        }
        if !policy.cookies.is_empty() {
            let cookies = cookies(&request.headers);
            for name in &policy.cookies {
                primary.push_str("\ncookie:");
                primary.push_str(name);
                if let Some((_, value)) = cookies.iter().find(|(n, _)| n == name) {
                    primary.push('=');
                    primary.push_str(value);
                }
            }
        }
        Self {
            distribution: distribution.to_owned(),
            path,
            primary,
        }
    }
}

fn append_query(key: &mut String, selection: &QueryStrings, query: &str) {
    if matches!(selection, QueryStrings::None) || query.is_empty() {
        return;
    }
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| match selection {
            QueryStrings::Only(names) => {
                let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
                names.iter().any(|wanted| wanted == name)
            }
            _ => true,
        })
        .collect();
    pairs.sort_unstable();
    key.push('?');
    key.push_str(&pairs.join("&"));
}

/// The viewer's cookies as (name, value) pairs, from every `cookie` field line.
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QueryStrings;
    use bytes::Bytes;
    use http::{HeaderName, HeaderValue, Method};
    use std::time::Duration;

    fn request(uri: &str, headers: &[(&'static str, &'static str)]) -> EdgeRequest {
        let mut map = HeaderMap::new();
        map.insert("host", HeaderValue::from_static("Example.com"));
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        EdgeRequest {
            method: Method::GET,
            uri: uri.parse().unwrap(),
            headers: map,
            body: Bytes::new(),
            client_ip: [127, 0, 0, 1].into(),
            tls: false,
            forwarded_for: None,
            viewer_headers: None,
        }
    }

    fn policy(
        query_strings: QueryStrings,
        headers: &[&'static str],
        cookies: &[&str],
    ) -> CachePolicyConfig {
        CachePolicyConfig {
            enabled: true,
            default_ttl: Duration::ZERO,
            min_ttl: Duration::ZERO,
            max_ttl: Duration::ZERO,
            query_strings,
            headers: headers.iter().map(|h| HeaderName::from_static(h)).collect(),
            cookies: cookies.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn key(policy: &CachePolicyConfig, request: &EdgeRequest) -> String {
        CacheKey::new("d", policy, request).primary
    }

    #[test]
    fn query_order_does_not_matter_and_selection_applies() {
        let all = policy(QueryStrings::All, &[], &[]);
        assert_eq!(
            key(&all, &request("/a?b=2&a=1", &[])),
            key(&all, &request("/a?a=1&b=2", &[]))
        );
        assert_ne!(
            key(&all, &request("/a?a=1", &[])),
            key(&all, &request("/a?a=2", &[]))
        );
        let none = policy(QueryStrings::None, &[], &[]);
        assert_eq!(
            key(&none, &request("/a?a=1", &[])),
            key(&none, &request("/a", &[]))
        );
        let only = policy(QueryStrings::Only(vec!["v".into()]), &[], &[]);
        assert_eq!(
            key(&only, &request("/a?v=1&utm=x", &[])),
            key(&only, &request("/a?utm=y&v=1", &[]))
        );
        assert_ne!(
            key(&only, &request("/a?v=1", &[])),
            key(&only, &request("/a?v=2", &[]))
        );
    }

    #[test]
    fn selected_headers_and_cookies_enter_the_key() {
        let selected = policy(QueryStrings::All, &["accept-language"], &["session"]);
        let en = request(
            "/",
            &[("accept-language", "en"), ("cookie", "session=1; other=9")],
        );
        let en_other_cookie = request(
            "/",
            &[("accept-language", "en"), ("cookie", "other=8; session=1")],
        );
        let fr = request("/", &[("accept-language", "fr"), ("cookie", "session=1")]);
        let other_session = request("/", &[("accept-language", "en"), ("cookie", "session=2")]);
        assert_eq!(key(&selected, &en), key(&selected, &en_other_cookie));
        assert_ne!(key(&selected, &en), key(&selected, &fr));
        assert_ne!(key(&selected, &en), key(&selected, &other_session));
        assert_eq!(CacheKey::new("d", &selected, &en).path, "/");
    }
}
