//! `cargo run --release -p wedge-benches --bin wedge-flood -- [SECONDS]`: normal viewers
//! against a node flooded with silent connections.
//!
//! The node allows 300 connections with a 2 s header deadline (the setting under which 300
//! silent sockets used to stop all service). An attacker on 32 loopback addresses holds 600
//! silent sockets, twice the limit, re-opening each as soon as the node closes it. Meanwhile 5
//! viewers each send one request per fresh connection, for SECONDS (default 20). Prints how
//! many viewer requests were answered and how fast, and how many silent sockets the attacker
//! had to open.

#![allow(clippy::print_stdout, reason = "a report printed for a person")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;

const LIMIT: usize = 300;
const ATTACKER_SOCKETS: usize = 2 * LIMIT;
const ATTACKER_ADDRESSES: u8 = 32;
const VIEWERS: usize = 5;
/// A viewer request not answered within this counts as failed.
const VIEWER_PATIENCE: Duration = Duration::from_secs(10);

async fn origin() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let mut response = Response::new(Full::new(Bytes::from_static(b"page")));
                    response.headers_mut().insert(
                        header::CACHE_CONTROL,
                        http::HeaderValue::from_static("max-age=600"),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// One silent socket after another from `from`, until `stop`; returns how many were opened.
async fn attacker(from: Ipv4Addr, node: SocketAddr, stop: Arc<AtomicBool>) -> usize {
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        let socket = TcpSocket::new_v4().and_then(|socket| {
            socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
            Ok(socket)
        });
        let Ok(socket) = socket else { continue };
        let Ok(mut stream) = socket.connect(node).await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        opened += 1;
        let mut buffer = [0u8; 64];
        // Held until the node closes it (or the run ends).
        while !stop.load(Ordering::Relaxed) {
            let read = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer));
            if let Ok(Ok(0) | Err(_)) = read.await {
                break;
            }
        }
    }
    opened
}

/// One request on a fresh connection; its latency, or `None` if it failed.
async fn viewer_request(node: SocketAddr, n: usize) -> Option<Duration> {
    let started = Instant::now();
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(node).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        let request = Request::builder()
            .uri(format!("/page/{}", n % 100))
            .header(header::HOST, "site.test")
            .body(Full::new(Bytes::new()))
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let ok = response.status() == 200;
        response.into_body().collect().await.ok()?;
        ok.then_some(())
    };
    tokio::time::timeout(VIEWER_PATIENCE, exchange)
        .await
        .ok()
        .flatten()
        .map(|()| started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        format!(
            "[node]\nid = \"flood\"\naccess_log = \"off\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[limits]\nmax_connections = {LIMIT}\nheader_read_timeout_ms = 2000\n[[distributions]]\nid = \"site\"\ndomains = [\"*\"]\n[distributions.origins.main]\nurl = \"http://{}\"\n[distributions.default_behavior]\norigin = \"main\"\n",
            origin().await?
        ),
    )?;
    let node = RunningNode::start(NodeConfig::load(&path)?).await?;
    let addr = node.listeners()[0];

    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();
    for n in 0..ATTACKER_SOCKETS {
        let from = Ipv4Addr::new(127, 0, 2, 1 + (n % usize::from(ATTACKER_ADDRESSES)) as u8);
        attackers.spawn(attacker(from, addr, Arc::clone(&stop)));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(AtomicUsize::new(0));
    let mut viewers = tokio::task::JoinSet::new();
    for _ in 0..VIEWERS {
        let counter = Arc::clone(&counter);
        viewers.spawn(async move {
            let mut results = Vec::new();
            while Instant::now() < deadline {
                results.push(viewer_request(addr, counter.fetch_add(1, Ordering::Relaxed)).await);
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(done) = viewers.join_next().await {
        results.extend(done?);
    }
    stop.store(true, Ordering::Relaxed);
    let mut opened = 0;
    while let Some(done) = attackers.join_next().await {
        opened += done?;
    }
    node.shutdown().await;

    let mut latencies: Vec<Duration> = results.iter().flatten().copied().collect();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{seconds} s with {ATTACKER_SOCKETS} silent sockets held against max_connections = {LIMIT}"
    );
    println!("silent sockets opened by the attacker: {opened}");
    println!(
        "viewer requests answered: {} of {} ({:.1} %)",
        latencies.len(),
        results.len(),
        100.0 * latencies.len() as f64 / results.len().max(1) as f64
    );
    println!(
        "viewer latency: p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        latencies.last().copied().unwrap_or_default()
    );
    Ok(())
}
