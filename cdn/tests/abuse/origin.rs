//! An origin that answers what the node must not pass on: a protocol switch nobody asked for,
//! a head larger than the node accepts from viewers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use wedge_testkit::{NodeBuilder, Site};

/// An origin that reads a request head and answers `response` verbatim, then closes; counts
/// the requests it got.
async fn raw_origin(response: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, hits)
}

fn node_for(origin: std::net::SocketAddr) -> NodeBuilder {
    NodeBuilder::serving(Site::new(origin))
}

#[tokio::test]
async fn an_origin_switching_protocols_on_a_plain_request_is_a_502() {
    let (addr, _) = raw_origin(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
            .to_vec(),
    )
    .await;
    let node = node_for(addr).start().await;
    let reply = node.get("/socket").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("x-wedge-error"), Some("origin-protocol"));
}

#[tokio::test]
async fn an_origin_head_over_the_viewer_limit_is_a_502_and_never_cached() {
    let huge = "x".repeat(40 * 1024);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\nx-huge: {huge}\r\ncontent-length: 2\r\n\r\nok"
    );
    let (addr, hits) = raw_origin(response.into_bytes()).await;
    let node = node_for(addr).start().await;
    for _ in 0..2 {
        let reply = node.get("/big-head").await;
        assert_eq!(reply.status, 502);
        assert_eq!(reply.header("x-wedge-error"), Some("origin-protocol"));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the first answer was not stored"
    );
}
