//! The control plane's abuse catalogue: what a careless operator, a racing CI job or a hostile
//! client sends, and what must hold.
//!
//! - 20 parallel publishes of the same bytes: every one succeeds, one version is made;
//! - an upload whose declared length is over the limit is refused before it is read (413);
//! - a 5 MB distribution is a 413, not a 400;
//! - a distribution id of `..` (or `.`) is refused;
//! - two distributions claiming the same domain are refused, naming both;
//! - a connection that never sends a request is closed;
//! - a component a node's pool could not hold (more memories than a slot takes) is refused at
//!   publish, though an allocator without a pool would take it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wedge_test_fixtures as fixtures;

use sha2::Digest as _;
use wedge_testkit::control::ControlOptions;
use wedge_testkit::{ADMIN, NODE, TestControl};

#[tokio::test]
async fn parallel_publishes_of_the_same_bytes_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let control = std::sync::Arc::new(
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await,
    );
    let hello = bytes::Bytes::from(fixtures::bytes(fixtures::HELLO));
    let mut uploads = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let hello = hello.clone();
        let control = std::sync::Arc::clone(&control);
        uploads.spawn(async move {
            control
                .call(
                    Method::POST,
                    "/v1/functions/hello/versions",
                    Some(ADMIN),
                    hello,
                )
                .await
        });
    }
    let mut versions = Vec::new();
    while let Some(reply) = uploads.join_next().await {
        let reply = reply.unwrap();
        assert!(
            matches!(reply.status, 200 | 201),
            "{} {:?}",
            reply.status,
            reply.json()
        );
        versions.push(reply.json()["version"]["number"].clone());
    }
    assert!(versions.iter().all(|v| *v == 1), "{versions:?}");
    let blob = control
        .call(
            Method::GET,
            &format!("/v1/blobs/{}", hex::encode(sha2::Sha256::digest(&hello))),
            Some(NODE),
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(blob.body, hello);
}

/// Sends a head declaring `length` body bytes and no body; returns the status line.
async fn declare(addr: std::net::SocketAddr, method: &str, path: &str, length: usize) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: control\r\nauthorization: Bearer {ADMIN}\r\ncontent-length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("no answer before the body")
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn oversized_uploads_are_refused_on_their_declared_length() {
    let dir = tempfile::tempdir().unwrap();
    let control = TestControl::start_in(dir.path(), ControlOptions::limited(1024 * 1024)).await;
    let status = declare(
        control.address(),
        "POST",
        "/v1/functions/big/versions",
        60 * 1024 * 1024,
    )
    .await;
    assert!(status.contains("413"), "{status}");
    let status = declare(
        control.address(),
        "PUT",
        "/v1/distributions/www",
        5 * 1024 * 1024,
    )
    .await;
    assert!(status.contains("413"), "{status}");
    // Streamed without a declared length, a 5 MB distribution is still a 413.
    let big = "# padding\n".repeat(500_000);
    let reply = control
        .call(Method::PUT, "/v1/distributions/www", Some(ADMIN), big)
        .await;
    assert_eq!(reply.status, 413, "{:?}", reply.json());
    control.shutdown().await;
}

fn site(domain: &str) -> String {
    format!(
        "domains = [\"{domain}\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"app\"\n"
    )
}

#[tokio::test]
async fn ids_and_domains_that_collide_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let control = TestControl::start_in(dir.path(), ControlOptions::limited(1024 * 1024)).await;
    for id in ["..", ".", ".hidden"] {
        let reply = control
            .call(
                Method::PUT,
                &format!("/v1/distributions/{id}"),
                Some(ADMIN),
                site("a.example"),
            )
            .await;
        assert_eq!(reply.status, 400, "{id}: {:?}", reply.json());
    }
    let first = control
        .call(Method::PUT, "/v1/distributions/one", Some(ADMIN), site("*"))
        .await;
    assert_eq!(first.status, 200, "{:?}", first.json());
    let second = control
        .call(Method::PUT, "/v1/distributions/two", Some(ADMIN), site("*"))
        .await;
    assert_eq!(second.status, 400);
    let error = second.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("`one`") && error.contains("`two`"),
        "{error}"
    );
    let specific = control
        .call(
            Method::PUT,
            "/v1/distributions/two",
            Some(ADMIN),
            site("*.example"),
        )
        .await;
    assert_eq!(
        specific.status, 200,
        "a more specific domain is no conflict"
    );
    control.shutdown().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let control = TestControl::start_in(dir.path(), ControlOptions::limited(1024 * 1024)).await;
    let mut silent = tokio::net::TcpStream::connect(control.address())
        .await
        .unwrap();
    silent
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: con")
        .await
        .unwrap();
    let mut buffer = [0u8; 64];
    // The control plane's header deadline is 10 s; the wait allows for it and no more.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n) = silent.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection is still open");
    control.shutdown().await;
}

#[tokio::test]
async fn a_component_a_node_could_not_load_is_refused_at_publish() {
    let control = TestControl::start().await;
    let fits = control
        .publish("shape", fixtures::shapes::hook_with_memories(2))
        .await;
    assert_eq!(fits["version"]["number"], 1, "{fits}");
    let too_many = control
        .call(
            Method::POST,
            "/v1/functions/shape/versions",
            Some(ADMIN),
            fixtures::shapes::hook_with_memories(3),
        )
        .await;
    assert_eq!(too_many.status, 400);
    let error = too_many.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("invalid component") && error.contains("memories"),
        "{error}"
    );
}
