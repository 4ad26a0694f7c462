//! The cache's memory is bounded by its configured size: a long run of unique misses leaves
//! the process within `capacity + 25 %` of where it started, plus a fixed allowance for the
//! allocator. Alone in its own test binary, so that no other test's memory is counted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use wedge_testkit::*;

const CAPACITY: u64 = 16 * 1024 * 1024;
/// What the allocator, hyper's buffers and the test itself may add beyond the cache.
const ALLOWANCE: u64 = 32 * 1024 * 1024;
const CLIENTS: usize = 8;
const MISSES: usize = 60_000;
const WARM_UP: usize = 1_000;

/// This process's resident set, from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// An origin that answers every request with 1 KiB and remembers nothing (the shared test
/// origin records every request, which would be counted here).
async fn quiet_origin() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let response = http::Response::builder()
                        .header("cache-control", "max-age=600")
                        .header("etag", "\"0123456789abcdef\"")
                        .header("last-modified", "Mon, 30 Nov 2026 00:00:00 GMT")
                        .body(Full::new(body.clone()))
                        .unwrap();
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// `count` requests for unique paths, from `CLIENTS` keep-alive connections.
async fn unique_misses(addr: std::net::SocketAddr, from: usize, count: usize) {
    let next = Arc::new(AtomicUsize::new(from));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let next = Arc::clone(&next);
        clients.spawn(async move {
            let mut connection = Connection::open(addr).await;
            let headers = [
                (
                    "user-agent",
                    "a-browser-with-a-long-user-agent/1.0 (X11; Linux x86_64)",
                ),
                (
                    "cookie",
                    "session=0123456789abcdef; theme=dark; consent=yes",
                ),
            ];
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= from + count {
                    return;
                }
                let path = format!("/object/{n}");
                let answer = connection
                    .send(HOST, Method::GET, &path, &headers, Bytes::new())
                    .await;
                assert_eq!(answer.status, 200);
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_misses_keep_memory_within_the_cache_capacity() {
    let origin = quiet_origin().await;
    let node = NodeBuilder::serving(Site::new(origin))
        .set("cache", "capacity_bytes", CAPACITY as i64)
        .set("node", "access_log", "off")
        .start()
        .await;
    // Warm up connections, pools and the allocator's arenas, with the cache far from full.
    unique_misses(node.addr, 0, WARM_UP).await;
    let before = rss_bytes();
    unique_misses(node.addr, WARM_UP, MISSES).await;
    let after = rss_bytes();
    let status: serde_json::Value =
        serde_json::from_slice(&node.admin_get("/status").await.body).unwrap();
    let weighed = status["cache"]["bytes"].as_u64().unwrap();
    assert!(
        weighed <= CAPACITY,
        "the cache weighs {weighed}, over {CAPACITY}"
    );
    let grown = after.saturating_sub(before);
    let bound = CAPACITY + CAPACITY / 4 + ALLOWANCE;
    assert!(
        grown <= bound,
        "RSS grew by {} MiB over {MISSES} unique misses (bound {} MiB; before {} MiB)",
        grown >> 20,
        bound >> 20,
        before >> 20
    );
}
