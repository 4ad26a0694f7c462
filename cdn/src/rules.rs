//! Lambda@Edge's rules on what a hook may change, enforced by comparing the headers a hook got
//! with the headers it returned. Breaking a rule is an `invalid-output` failure (502).

use http::HeaderMap;
use wedge_runtime::Hook;

/// Header fields only the node sets: hop-by-hop fields, framing, and what the node adds to
/// every message. No hook may add, change or remove them.
const NODE_OWNED: [&str; 16] = [
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "content-length",
    "via",
    "x-cache",
    "x-forwarded-proto",
    "x-real-ip",
];

/// The prefix of the node's own headers (`x-wedge-request-id`, `x-wedge-error`, ...).
const NODE_PREFIX: &str = "x-wedge-";

/// The header an origin-request function sets to pick another of the distribution's origins
/// by name. The node consumes it and never forwards it.
pub const ORIGIN_SELECT_HEADER: &str = "x-wedge-origin";

/// Header fields a hook may read but not change, per Lambda@Edge.
fn read_only(hook: Hook) -> &'static [&'static str] {
    match hook {
        Hook::ViewerRequest => &["host"],
        Hook::OriginRequest => &[
            "accept-encoding",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
        ],
        Hook::OriginResponse => &[],
        Hook::ViewerResponse => &["content-encoding", "warning"],
    }
}

/// Whether a hook may not touch the field `name` (lower case).
fn is_protected(hook: Hook, name: &str) -> bool {
    if hook == Hook::OriginRequest && name == ORIGIN_SELECT_HEADER {
        return false;
    }
    NODE_OWNED.contains(&name) || name.starts_with(NODE_PREFIX) || read_only(hook).contains(&name)
}

/// Checks that `after` keeps every protected field of `before` exactly, and adds none.
pub fn check_unchanged(hook: Hook, before: &HeaderMap, after: &HeaderMap) -> Result<(), String> {
    for name in before.keys().chain(after.keys()) {
        let name = name.as_str();
        if is_protected(hook, name) && !before.get_all(name).iter().eq(after.get_all(name).iter()) {
            return Err(format!("header `{name}` may not be changed in {hook}"));
        }
    }
    Ok(())
}

/// Checks a response a hook generated: it may not carry node-owned fields (`content-length`
/// is tolerated when it matches the body, and then replaced by the node's own).
pub fn check_generated(hook: Hook, headers: &HeaderMap, body_len: usize) -> Result<(), String> {
    for (name, value) in headers {
        let name = name.as_str();
        if name == "content-length" {
            if value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                != Some(body_len)
            {
                return Err(format!(
                    "content-length does not match the {body_len}-byte body generated in {hook}"
                ));
            }
            continue;
        }
        if NODE_OWNED.contains(&name) || name.starts_with(NODE_PREFIX) {
            return Err(format!(
                "header `{name}` may not be set by a response generated in {hook}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn read_only_fields_depend_on_the_hook() {
        let before = headers(&[("host", "a.example"), ("accept-encoding", "gzip")]);
        let host_changed = headers(&[("host", "b.example"), ("accept-encoding", "gzip")]);
        assert!(check_unchanged(Hook::ViewerRequest, &before, &host_changed).is_err());
        assert!(check_unchanged(Hook::OriginRequest, &before, &host_changed).is_ok());
        let encoding_removed = headers(&[("host", "a.example")]);
        assert!(check_unchanged(Hook::OriginRequest, &before, &encoding_removed).is_err());
        assert!(check_unchanged(Hook::ViewerRequest, &before, &encoding_removed).is_ok());
    }

    #[test]
    fn node_owned_fields_cannot_be_added_anywhere() {
        let before = headers(&[("x-a", "1")]);
        for name in [
            "via",
            "x-cache",
            "connection",
            "x-wedge-request-id",
            "transfer-encoding",
        ] {
            let mut after = before.clone();
            after.insert(name, HeaderValue::from_static("x"));
            for hook in Hook::ALL {
                assert!(
                    check_unchanged(hook, &before, &after).is_err(),
                    "{name} in {hook}"
                );
            }
        }
        let mut select = before.clone();
        select.insert(ORIGIN_SELECT_HEADER, HeaderValue::from_static("b"));
        assert!(check_unchanged(Hook::OriginRequest, &before, &select).is_ok());
        assert!(check_unchanged(Hook::ViewerRequest, &before, &select).is_err());
    }

    #[test]
    fn generated_responses_may_not_carry_node_fields() {
        assert!(
            check_generated(Hook::ViewerRequest, &headers(&[("content-length", "2")]), 2).is_ok()
        );
        assert!(
            check_generated(Hook::ViewerRequest, &headers(&[("content-length", "3")]), 2).is_err()
        );
        assert!(check_generated(Hook::OriginRequest, &headers(&[("x-cache", "Hit")]), 0).is_err());
        assert!(
            check_generated(Hook::OriginRequest, &headers(&[("content-type", "a/b")]), 0).is_ok()
        );
    }
}
