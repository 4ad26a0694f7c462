//! Headers a viewer forges or slips past the cache key: forwarding headers are the node's,
//! and only what the cache key holds (plus what the origin request policy names) reaches the
//! origin of a caching behavior.

use wedge_test_fixtures as fixtures;

use wedge_testkit::{Hook, NodeBuilder, Origin, Reply, Site, TestNode};
use wedge_types::distribution::{NamesSpec, OriginRequestSpec};

const FORGED: [(&str, &str); 6] = [
    ("x-forwarded-for", "198.51.100.66"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-port", "8443"),
    ("x-real-ip", "198.51.100.66"),
    ("forwarded", "for=198.51.100.66;proto=https"),
];

async fn node_for(origin: &Origin) -> TestNode {
    NodeBuilder::serving(Site::new(origin.addr)).start().await
}

fn names(names: &[&str]) -> NamesSpec {
    NamesSpec::Names(names.iter().map(|n| (*n).to_owned()).collect())
}

#[tokio::test]
async fn a_viewer_cannot_forge_forwarding_headers() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = node_for(&origin).await;
    let reply = node.get_with("/forged", &FORGED).await;
    assert_eq!(reply.status, 200);
    let seen = origin.last();
    let values = |name: &str| -> Vec<String> {
        seen.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(values("x-forwarded-proto"), ["http"]);
    for dropped in [
        "x-forwarded-host",
        "x-forwarded-port",
        "x-real-ip",
        "forwarded",
    ] {
        assert!(values(dropped).is_empty(), "{dropped} reached the origin");
    }
    let log = node.log_lines(1).await;
    assert_eq!(log[0]["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn a_trusted_proxy_is_believed_and_extended() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = NodeBuilder::serving(Site::new(origin.addr))
        .listener(
            "trusted_proxies",
            toml::Value::Array(vec!["127.0.0.0/8".into(), "10.0.0.0/8".into()]),
        )
        .start()
        .await;
    let chain = [
        ("x-forwarded-for", "203.0.113.9, 10.1.2.3"),
        ("x-forwarded-proto", "https"),
    ];
    node.get_with("/via-proxy", &chain).await;
    let seen = origin.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.9, 10.1.2.3, 127.0.0.1")
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    let log = node.log_lines(1).await;
    assert_eq!(
        log[0]["client_ip"], "203.0.113.9",
        "the viewer behind the proxies"
    );
}

/// Headers that shape answers at many origins but are in no cache key.
const UNKEYED: [(&str, &str); 5] = [
    ("x-original-url", "/admin"),
    ("x-rewrite-url", "/admin"),
    ("x-custom", "poison"),
    ("user-agent", "Poisoner/1.0"),
    ("cookie", "session=abc; theme=dark"),
];

#[tokio::test]
async fn unkeyed_viewer_headers_do_not_reach_the_origin_of_a_caching_behavior() {
    let origin = Origin::start(|_| Reply::ok("ok").header("cache-control", "max-age=60")).await;
    let node = node_for(&origin).await;
    let mut headers = UNKEYED.to_vec();
    headers.push(("accept-language", "de"));
    node.get_with("/page", &headers).await;
    let seen = origin.last();
    for (name, _) in UNKEYED {
        assert_eq!(seen.header(name), None, "{name} reached the origin");
    }
    assert_eq!(seen.header("accept-language"), Some("de"));
}

#[tokio::test]
async fn the_origin_request_policy_and_the_cache_key_say_what_is_forwarded() {
    let origin = Origin::start(|_| Reply::ok("ok").header("cache-control", "max-age=60")).await;
    let site = Site::new(origin.addr)
        .behavior("/keyed/*", "main", |b| {
            b.cache.headers = vec!["x-custom".into()];
            b.cache.cookies = vec!["theme".into()];
            b.cache.query_strings = Some(names(&["page"]));
        })
        .behavior("/policy/*", "main", |b| {
            b.origin_request = Some(OriginRequestSpec {
                headers: Some(names(&["user-agent"])),
                cookies: Some(names(&["session"])),
                query_strings: Some(names(&["utm"])),
            });
            b.cache.query_strings = Some(NamesSpec::Keyword("none".into()));
        })
        .behavior("/uncached/*", "main", |b| b.cache.enabled = Some(false));
    let node = NodeBuilder::serving(site).start().await;

    node.get_with("/keyed/a?page=2&utm=x", &UNKEYED).await;
    let seen = origin.last();
    assert_eq!(seen.uri, "/keyed/a?page=2", "only the keyed query string");
    assert_eq!(seen.header("x-custom"), Some("poison"));
    assert_eq!(seen.header("cookie"), Some("theme=dark"));
    assert_eq!(seen.header("user-agent"), None);

    node.get_with("/policy/a?page=2&utm=x", &UNKEYED).await;
    let seen = origin.last();
    assert_eq!(seen.uri, "/policy/a?utm=x");
    assert_eq!(seen.header("user-agent"), Some("Poisoner/1.0"));
    assert_eq!(seen.header("cookie"), Some("session=abc"));
    assert_eq!(seen.header("x-custom"), None);

    node.get_with("/uncached/a?page=2", &UNKEYED).await;
    let seen = origin.last();
    for (name, value) in UNKEYED {
        assert_eq!(
            seen.header(name),
            Some(value),
            "{name} on a behavior that does not cache"
        );
    }
}

#[tokio::test]
async fn what_a_viewer_request_function_sets_is_forwarded() {
    let origin = Origin::start(|_| Reply::ok("ok").header("cache-control", "max-age=60")).await;
    let site = Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::HEADER_REWRITE);
    let node = NodeBuilder::serving(site).start().await;
    node.get_with("/page", &UNKEYED).await;
    let seen = origin.last();
    assert_eq!(seen.header("x-edge-device"), Some("desktop"));
    assert_eq!(seen.header("x-edge-session"), Some("1"));
    assert_eq!(seen.header("x-original-url"), None);
}
