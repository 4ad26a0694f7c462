//! The cache by RFC 9111 on a real node: hits and age, coalescing, revalidation, Vary,
//! stale-while-revalidate, stale-if-error, what is never stored, errors, HEAD, purge.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use wedge_testkit::*;

/// A node in front of `origin` whose clock the test moves (lifetimes pass at once).
async fn node_for(origin: &Origin) -> TestNode {
    NodeBuilder::serving(Site::new(origin.addr))
        .manual_clock()
        .start()
        .await
}

#[tokio::test]
async fn a_fresh_response_is_served_from_the_cache_with_its_age() {
    let origin = Origin::start(|_| Reply::ok("body").header("cache-control", "max-age=60")).await;
    let node = node_for(&origin).await;
    let miss = node.get("/a").await;
    assert_eq!(miss.x_cache(), "Miss from wedge");
    assert!(miss.header("via").unwrap().contains("test-node"));
    let hit = node.get("/a").await;
    assert_eq!(hit.x_cache(), "Hit from wedge");
    assert_eq!(hit.text(), "body");
    assert!(hit.header("age").is_some());
    assert_eq!(origin.hits(), 1);
    assert_eq!(origin.last().header("via"), Some("1.1 test-node (wedge)"));
    assert_eq!(origin.last().header("x-forwarded-for"), Some("127.0.0.1"));
    // A different query string is a different object by default.
    assert_eq!(node.get("/a?v=2").await.x_cache(), "Miss from wedge");
}

#[tokio::test]
async fn concurrent_misses_on_one_key_make_one_origin_fetch() {
    let origin = Origin::start(|_| {
        Reply::ok("slow")
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(300))
    })
    .await;
    let node = Arc::new(node_for(&origin).await);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let node = Arc::clone(&node);
        tasks.push(tokio::spawn(async move { node.get("/popular").await }));
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "slow");
    }
    assert_eq!(origin.hits(), 1, "20 concurrent misses, one origin fetch");
}

#[tokio::test]
async fn a_stale_entry_is_revalidated_and_a_304_refreshes_it() {
    let origin = Origin::start(|request| {
        if request.header("if-none-match") == Some("\"v1\"") {
            Reply::ok("")
                .status(304)
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=60")
                .header("x-refreshed", "yes")
        } else {
            Reply::ok("version one")
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=1")
        }
    })
    .await;
    let node = node_for(&origin).await;
    assert_eq!(node.get("/doc").await.x_cache(), "Miss from wedge");
    node.advance(Duration::from_millis(1100));
    let refreshed = node
        .get_with("/doc", &[("if-none-match", "\"viewer-own\"")])
        .await;
    assert_eq!(refreshed.x_cache(), "RefreshHit from wedge");
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.text(), "version one");
    assert_eq!(
        refreshed.header("x-refreshed"),
        Some("yes"),
        "the 304's headers update the entry"
    );
    assert_eq!(
        origin.last().header("if-none-match"),
        Some("\"v1\""),
        "the node's validator, not the viewer's"
    );
    // The refresh made it fresh for 60 s.
    assert_eq!(node.get("/doc").await.x_cache(), "Hit from wedge");
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn vary_keeps_one_variant_per_selecting_header() {
    let origin = Origin::start(|request| {
        let language = request
            .header("accept-language")
            .unwrap_or("none")
            .to_owned();
        Reply::ok(&language)
            .header("cache-control", "max-age=60")
            .header("vary", "Accept-Language")
    })
    .await;
    let node = node_for(&origin).await;
    assert_eq!(
        node.get_with("/", &[("accept-language", "en")])
            .await
            .text(),
        "en"
    );
    assert_eq!(
        node.get_with("/", &[("accept-language", "fr")])
            .await
            .text(),
        "fr"
    );
    let en = node.get_with("/", &[("accept-language", "en")]).await;
    assert_eq!((en.text().as_str(), en.x_cache()), ("en", "Hit from wedge"));
    let fr = node.get_with("/", &[("accept-language", "fr")]).await;
    assert_eq!((fr.text().as_str(), fr.x_cache()), ("fr", "Hit from wedge"));
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let version = Arc::new(AtomicUsize::new(1));
    let served = Arc::clone(&version);
    let origin = Origin::start(move |_| {
        let body = format!("v{}", served.load(Ordering::SeqCst));
        Reply::ok(&body).header("cache-control", "max-age=1, stale-while-revalidate=30")
    })
    .await;
    let node = node_for(&origin).await;
    assert_eq!(node.get("/swr").await.text(), "v1");
    version.store(2, Ordering::SeqCst);
    node.advance(Duration::from_millis(1100));
    let stale = node.get("/swr").await;
    assert_eq!(stale.text(), "v1", "served stale at once");
    assert_eq!(stale.x_cache(), "Hit from wedge");
    eventually("the revalidation in the background", || async {
        (origin.hits() >= 2).then_some(())
    })
    .await;
    eventually("the revalidated copy to be served", || async {
        (node.get("/swr").await.text() == "v2").then_some(())
    })
    .await;
    let lines = node.log_lines(2).await;
    assert_eq!(lines[1]["cache"], "stale-hit");
}

#[tokio::test]
async fn stale_if_error_serves_stale_when_the_origin_is_down() {
    let mut origin = Origin::start(|request| {
        let lifetime = if request.uri.contains("sie") {
            "max-age=1, stale-if-error=60"
        } else {
            "max-age=1"
        };
        Reply::ok("kept").header("cache-control", lifetime)
    })
    .await;
    let node = node_for(&origin).await;
    node.get("/sie").await;
    node.get("/plain").await;
    origin.stop().await;
    node.advance(Duration::from_millis(1100));
    let stale = node.get("/sie").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.text(), "kept");
    assert_eq!(stale.header("x-wedge-error"), Some("origin-unreachable"));
    let down = node.get("/plain").await;
    assert_eq!(down.status, 502);
    assert_eq!(down.header("x-wedge-error"), Some("origin-unreachable"));
    assert_eq!(down.x_cache(), "Error from wedge");

    // A 5xx from the origin also counts as an error.
    origin.restart(|_| Reply::ok("broken").status(500)).await;
    let stale = node.get("/sie").await;
    assert_eq!((stale.status, stale.text().as_str()), (200, "kept"));
    let lines = node.log_lines(5).await;
    assert_eq!(lines[4]["cache"], "stale-if-error");
}

#[tokio::test]
async fn private_no_store_cookies_and_authorized_responses_are_not_stored() {
    let origin = Origin::start(|request| match request.uri.as_str() {
        "/private" => Reply::ok("p").header("cache-control", "private, max-age=60"),
        "/no-store" => Reply::ok("n").header("cache-control", "no-store"),
        "/cookie" => Reply::ok("c")
            .header("cache-control", "max-age=60")
            .header("set-cookie", "s=1"),
        _ => Reply::ok("a").header("cache-control", "max-age=60"),
    })
    .await;
    let node = node_for(&origin).await;
    for path in ["/private", "/no-store", "/cookie"] {
        node.get(path).await;
        assert_eq!(node.get(path).await.x_cache(), "Miss from wedge", "{path}");
    }
    node.get_with("/auth", &[("authorization", "Bearer t")])
        .await;
    assert_eq!(
        node.get_with("/auth", &[("authorization", "Bearer t")])
            .await
            .x_cache(),
        "Miss from wedge"
    );
    assert_eq!(origin.hits(), 8);
}

#[tokio::test]
async fn errors_are_cached_briefly() {
    let origin = Origin::start(|_| Reply::ok("gone").status(404)).await;
    let node = node_for(&origin).await;
    let first = node.get("/missing").await;
    assert_eq!((first.status, first.x_cache()), (404, "Error from wedge"));
    let second = node.get("/missing").await;
    assert_eq!((second.status, second.x_cache()), (404, "Hit from wedge"));
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn head_is_served_from_a_stored_get() {
    let origin =
        Origin::start(|_| Reply::ok("twelve bytes").header("cache-control", "max-age=60")).await;
    let node = node_for(&origin).await;
    let head = node.send(Method::HEAD, "/h", &[], Bytes::new()).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("12"));
    assert_eq!(
        origin.last().method,
        Method::GET,
        "a HEAD miss fetches the GET it can store"
    );
    let get = node.get("/h").await;
    assert_eq!(
        (get.x_cache(), get.text().as_str()),
        ("Hit from wedge", "twelve bytes")
    );
    let head = node.send(Method::HEAD, "/h", &[], Bytes::new()).await;
    assert_eq!(head.x_cache(), "Hit from wedge");
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn a_truncated_origin_body_is_an_error_and_never_stored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncache-control: max-age=60\r\n\r\nonly part")
                .await;
        }
    });
    let node = NodeBuilder::serving(Site::new(addr)).start().await;
    let first = node.get("/t").await;
    assert_eq!(first.status, 502);
    assert_eq!(first.header("x-wedge-error"), Some("origin-protocol"));
    let second = node.get("/t").await;
    assert_eq!(second.status, 502);
    assert_eq!(connections.load(Ordering::SeqCst), 2, "nothing was stored");
}

#[tokio::test]
async fn origin_failures_map_to_502_and_504() {
    let slow = Origin::start(|_| Reply::ok("late").delay(Duration::from_secs(5))).await;
    let node = node_for(&slow).await;
    let reply = node.get("/slow").await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.header("x-wedge-error"), Some("origin-timeout"));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let node = NodeBuilder::serving(Site::new(addr)).start().await;
    let reply = node.get("/refused").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("x-wedge-error"), Some("origin-unreachable"));
    let lines = node.log_lines(1).await;
    assert_eq!(lines[0]["error_source"], "origin");
}

#[tokio::test]
async fn unsafe_methods_pass_to_the_origin_and_invalidate() {
    let origin = Origin::start(|_| Reply::ok("x").header("cache-control", "max-age=60")).await;
    let node = node_for(&origin).await;
    node.get("/item").await;
    assert_eq!(node.get("/item").await.x_cache(), "Hit from wedge");
    let post = node
        .send(Method::POST, "/item", &[], Bytes::from_static(b"new"))
        .await;
    assert_eq!(post.x_cache(), "Miss from wedge");
    assert_eq!(origin.last().body, Bytes::from_static(b"new"));
    assert_eq!(
        node.get("/item").await.x_cache(),
        "Miss from wedge",
        "the POST invalidated /item"
    );
}

#[tokio::test]
async fn purge_by_path_prefix_and_surrogate_key_reports_what_went() {
    let origin = Origin::start(|request| {
        let key = if request.uri.starts_with("/img/") {
            "images all"
        } else {
            "all"
        };
        Reply::ok("x")
            .header("cache-control", "max-age=600")
            .header("surrogate-key", key)
    })
    .await;
    let node = node_for(&origin).await;
    for path in ["/a", "/img/1", "/img/2", "/docs/x", "/docs/y"] {
        let reply = node.get(path).await;
        assert_eq!(
            reply.header("surrogate-key"),
            None,
            "surrogate keys stay inside the node"
        );
    }
    let purged = node.admin_post("/purge", r#"{"paths": ["/a"]}"#).await;
    assert_eq!(purged.text(), r#"{"purged":1}"#);
    let purged = node
        .admin_post(
            "/purge",
            r#"{"distribution": "site", "paths": ["/docs/*"]}"#,
        )
        .await;
    assert_eq!(purged.text(), r#"{"purged":2}"#);
    let purged = node
        .admin_post("/purge", r#"{"surrogate_keys": ["images"]}"#)
        .await;
    assert_eq!(purged.text(), r#"{"purged":2}"#);
    for path in ["/a", "/img/1", "/docs/x"] {
        assert_eq!(node.get(path).await.x_cache(), "Miss from wedge", "{path}");
    }
    let bad = node.admin_post("/purge", r#"{"pathz": []}"#).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("pathz"));
}

#[tokio::test]
async fn head_passed_to_the_origin_keeps_its_length_and_connect_is_refused() {
    let origin = Origin::start(|_| Reply::ok("0123456789")).await;
    let site = Site::new(origin.addr).tune_default(|b| b.cache.enabled = Some(false));
    let node = NodeBuilder::serving(site).start().await;
    let head = node.send(Method::HEAD, "/h", &[], Bytes::new()).await;
    assert_eq!(
        origin.last().method,
        Method::HEAD,
        "nothing is cached, so HEAD goes as HEAD"
    );
    assert_eq!(head.header("content-length"), Some("10"));
    let connect = raw(
        node.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&connect), 405, "{connect}");
}

#[tokio::test]
async fn a_viewer_revalidating_its_copy_gets_a_304_from_the_cache() {
    let origin = Origin::start(|_| {
        Reply::ok("the object")
            .header("cache-control", "max-age=60")
            .header("etag", "\"v7\"")
            .header("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")
    })
    .await;
    let node = node_for(&origin).await;
    let first = node.get("/obj").await;
    assert_eq!(
        origin.last().header("x-wedge-request-id"),
        first.header("x-wedge-request-id")
    );
    let revalidated = node.get_with("/obj", &[("if-none-match", "\"v7\"")]).await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), Some("\"v7\""));
    assert_eq!(revalidated.x_cache(), "Hit from wedge");
    let by_date = node
        .get_with(
            "/obj",
            &[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
        )
        .await;
    assert_eq!(by_date.status, 304);
    let changed = node.get_with("/obj", &[("if-none-match", "\"v6\"")]).await;
    assert_eq!(
        (changed.status, changed.text().as_str()),
        (200, "the object")
    );
    assert_eq!(
        origin.hits(),
        1,
        "the viewer's validators never reach the origin"
    );
}
