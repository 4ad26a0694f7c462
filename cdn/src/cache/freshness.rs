//! Whether a response may be stored and for how long: RFC 9111 storability and freshness from
//! `http-cache-semantics`, shaped by the behavior's TTL bounds the way CloudFront shapes them.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header};
use http_cache_semantics::CachePolicy;

use crate::config::CachePolicyConfig;

/// Error statuses cached briefly when the origin says nothing (CloudFront's list).
const CACHEABLE_ERRORS: [u16; 11] = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

/// The Cache-Control directives the node acts on beyond what `http-cache-semantics` reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Directives {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) explicit_lifetime: bool,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) shared_auth_ok: bool,
}

impl Directives {
    /// Reads `cache-control` (every field line) and `expires`.
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut found = Directives {
            explicit_lifetime: headers.contains_key(header::EXPIRES),
            ..Directives::default()
        };
        let lines = headers.get_all(header::CACHE_CONTROL).iter();
        for directive in lines
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || value.and_then(|v| v.parse().ok()).map(Duration::from_secs);
            match name.to_ascii_lowercase().as_str() {
                "no-store" => found.no_store = true,
                "no-cache" => found.no_cache = true,
                "private" => found.private = true,
                "public" => {
                    found.public = true;
                    found.shared_auth_ok = true;
                }
                "must-revalidate" => found.shared_auth_ok = true,
                "max-age" => found.explicit_lifetime = true,
                "s-maxage" => {
                    found.explicit_lifetime = true;
                    found.shared_auth_ok = true;
                }
                "stale-while-revalidate" => {
                    found.stale_while_revalidate = seconds().unwrap_or_default();
                }
                "stale-if-error" => found.stale_if_error = seconds().unwrap_or_default(),
                _ => {}
            }
        }
        found
    }
}

/// How long a stored response is fresh, and how long past that it may still be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// Fresh while its age is below this.
    pub(crate) fresh: Duration,
    /// Served stale while revalidating in the background, this long past `fresh`.
    pub(crate) stale_while_revalidate: Duration,
    /// Served stale when the origin fails, this long past `fresh`.
    pub(crate) stale_if_error: Duration,
}

/// Decides whether a response may be stored and for how long; `None` means "do not store".
/// Never stores `no-store`, `private`, partial content, `Vary: *`, a `Set-Cookie` without
/// `public`, or an authorized request's response without `public`/`s-maxage`/`must-revalidate`.
pub(crate) fn lifetime(
    policy: &CachePolicy,
    status: StatusCode,
    response: &HeaderMap,
    request_has_authorization: bool,
    config: &CachePolicyConfig,
    error_ttl: Duration,
    now: SystemTime,
) -> Option<Lifetime> {
    let directives = Directives::parse(response);
    let vary_star = response.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|name| name.trim() == "*"))
    });
    if directives.no_store
        || directives.private
        || status == StatusCode::PARTIAL_CONTENT
        || vary_star
        || (response.contains_key(header::SET_COOKIE) && !directives.public)
        || (request_has_authorization && !directives.shared_auth_ok)
    {
        return None;
    }
    // What http-cache-semantics computes: max-age / s-maxage / Expires, minus the age so far.
    let origin_lifetime = || {
        let ttl = policy.time_to_live(now);
        if ttl.is_zero() {
            ttl
        } else {
            ttl + policy.age(now)
        }
    };
    let fresh = if status.as_u16() >= 400 {
        if !CACHEABLE_ERRORS.contains(&status.as_u16()) {
            return None;
        }
        if directives.no_cache {
            Duration::ZERO
        } else if directives.explicit_lifetime {
            origin_lifetime().min(config.max_ttl)
        } else {
            error_ttl.min(config.max_ttl)
        }
    } else {
        if !policy.is_storable() {
            return None;
        }
        if directives.no_cache {
            Duration::ZERO
        } else if directives.explicit_lifetime {
            origin_lifetime().clamp(config.min_ttl, config.max_ttl)
        } else {
            config.default_ttl
        }
    };
    Some(Lifetime {
        fresh,
        stale_while_revalidate: directives.stale_while_revalidate,
        stale_if_error: directives.stale_if_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QueryStrings;
    use http::HeaderValue;

    fn config() -> CachePolicyConfig {
        CachePolicyConfig {
            enabled: true,
            default_ttl: Duration::from_secs(100),
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(1000),
            query_strings: QueryStrings::All,
            headers: vec![],
            cookies: vec![],
        }
    }

    fn decide(
        status: u16,
        headers: &[(&'static str, &'static str)],
        auth: bool,
    ) -> Option<Lifetime> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        let mut request = http::Request::get("/x").body(()).unwrap();
        if auth {
            request
                .headers_mut()
                .insert("authorization", HeaderValue::from_static("Bearer t"));
        }
        let mut response = http::Response::new(());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        *response.headers_mut() = map.clone();
        let now = SystemTime::now();
        let policy = CachePolicy::new_options(&request, &response, now, Default::default());
        lifetime(
            &policy,
            response.status(),
            &map,
            auth,
            &config(),
            Duration::from_secs(10),
            now,
        )
    }

    #[test]
    fn origin_lifetimes_are_clamped_to_the_behavior() {
        assert_eq!(
            decide(200, &[("cache-control", "max-age=60")], false)
                .unwrap()
                .fresh,
            Duration::from_secs(60)
        );
        assert_eq!(
            decide(200, &[("cache-control", "max-age=1")], false)
                .unwrap()
                .fresh,
            Duration::from_secs(5)
        );
        assert_eq!(
            decide(200, &[("cache-control", "max-age=99999")], false)
                .unwrap()
                .fresh,
            Duration::from_secs(1000)
        );
        assert_eq!(
            decide(200, &[("cache-control", "s-maxage=30, max-age=5")], false)
                .unwrap()
                .fresh,
            Duration::from_secs(30)
        );
        assert_eq!(
            decide(200, &[], false).unwrap().fresh,
            Duration::from_secs(100)
        );
    }

    #[test]
    fn private_no_store_cookies_and_authorization_are_not_stored() {
        assert_eq!(
            decide(200, &[("cache-control", "private, max-age=60")], false),
            None
        );
        assert_eq!(decide(200, &[("cache-control", "no-store")], false), None);
        assert_eq!(decide(200, &[("set-cookie", "a=b")], false), None);
        assert_eq!(decide(200, &[("cache-control", "max-age=60")], true), None);
        assert!(decide(200, &[("cache-control", "public, max-age=60")], true).is_some());
        assert_eq!(decide(206, &[("cache-control", "max-age=60")], false), None);
        assert_eq!(decide(200, &[("vary", "*")], false), None);
    }

    #[test]
    fn errors_are_cached_briefly_and_no_cache_means_revalidate() {
        assert_eq!(
            decide(503, &[], false).unwrap().fresh,
            Duration::from_secs(10)
        );
        assert_eq!(
            decide(404, &[("cache-control", "max-age=60")], false)
                .unwrap()
                .fresh,
            Duration::from_secs(60)
        );
        assert_eq!(decide(418, &[], false), None);
        assert_eq!(
            decide(200, &[("cache-control", "no-cache")], false)
                .unwrap()
                .fresh,
            Duration::ZERO
        );
        let stale = decide(
            200,
            &[(
                "cache-control",
                "max-age=60, stale-while-revalidate=30, stale-if-error=600",
            )],
            false,
        )
        .unwrap();
        assert_eq!(stale.stale_while_revalidate, Duration::from_secs(30));
        assert_eq!(stale.stale_if_error, Duration::from_secs(600));
    }
}
