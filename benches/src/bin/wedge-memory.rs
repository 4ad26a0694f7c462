//! `cargo run --release -p wedge-benches --features fixtures --bin wedge-memory -- [guests|cache] [ARG]`: the
//! node's memory under two attacks, as resident set size before, at peak and after.
//!
//! - `guests [BUDGET_MIB]`: 50 concurrent requests to a viewer-request function that allocates
//!   until it is stopped (the `memory_bomb` fixture, each with the default 128 MiB cap), under
//!   the node's guest memory budget (default: a quarter of the machine's memory), five rounds.
//! - `cache [CAPACITY_MIB]`: unique misses of 1 KiB objects (8 keep-alive clients, 300,000
//!   requests) through a cache of CAPACITY_MIB (default 64).
//!
//! The node, its origin and the clients run in this process; RSS and its peak (VmHWM, reset
//! before each run) come from /proc/self/status.

#![allow(clippy::print_stdout, reason = "a report printed for a person")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;
use wedge_test_fixtures as fixtures;

const MIB: u64 = 1024 * 1024;

/// A field of /proc/self/status in bytes.
fn status_bytes(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no such field")?;
    Ok(kib * 1024)
}

/// Resets the peak RSS (VmHWM) to the current RSS.
fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")
}

/// An origin that answers 1 KiB, cacheable for 10 minutes.
async fn origin() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let body = Bytes::from(vec![b'x'; 1024]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let mut response = Response::new(Full::new(body.clone()));
                    response.headers_mut().insert(
                        header::CACHE_CONTROL,
                        http::HeaderValue::from_static("max-age=600"),
                    );
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn start_node(
    dir: &std::path::Path,
    extra: &str,
    origin: SocketAddr,
) -> anyhow::Result<RunningNode> {
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            "[node]\nid = \"memory\"\naccess_log = \"off\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n{extra}\n[[distributions]]\nid = \"site\"\ndomains = [\"*\"]\n[distributions.origins.main]\nurl = \"http://{origin}\"\n[[distributions.behaviors]]\npath = \"/bomb\"\norigin = \"main\"\n[[distributions.behaviors.functions]]\nevent = \"viewer-request\"\nfunction = \"{}\"\n[distributions.default_behavior]\norigin = \"main\"\n",
            fixtures::MEMORY_BOMB
        ),
    )?;
    Ok(RunningNode::start(NodeConfig::load(&path)?).await?)
}

/// `count` GETs of `path(n)` from `clients` keep-alive connections; returns the statuses seen.
async fn load(
    addr: SocketAddr,
    clients: usize,
    count: usize,
    path: fn(usize) -> String,
) -> anyhow::Result<Vec<u16>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut statuses = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(statuses);
                }
                let request = Request::builder()
                    .uri(path(n))
                    .header(header::HOST, "site.test")
                    .body(Full::new(Bytes::new()))?;
                let response = sender.send_request(request).await?;
                statuses.push(response.status().as_u16());
                response.into_body().collect().await?;
            }
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = tasks.join_next().await {
        statuses.extend(done??);
    }
    Ok(statuses)
}

fn report(label: &str, before: u64, peak: u64, after: u64) {
    println!(
        "{label}: RSS before {} MiB, peak {} MiB, after {} MiB",
        before / MIB,
        peak / MIB,
        after / MIB
    );
}

async fn guests(budget_mib: Option<u64>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let extra = budget_mib.map_or(String::new(), |mib| {
        format!("[runtime]\nmax_guest_memory_bytes = {}\n", mib * MIB)
    });
    let node = start_node(dir.path(), &extra, origin().await?).await?;
    let addr = node.listeners()[0];
    let before = status_bytes("VmRSS:")?;
    reset_peak()?;
    for round in 1..=5 {
        let statuses = load(addr, 50, 50, |_| "/bomb".to_owned()).await?;
        let throttled_or_capped = statuses.iter().filter(|s| **s == 503).count();
        println!("round {round}: {throttled_or_capped} of 50 answered 503");
    }
    let peak = status_bytes("VmHWM:")?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = status_bytes("VmRSS:")?;
    let budget = budget_mib.map_or("default".to_owned(), |mib| format!("{mib} MiB"));
    report(
        &format!("50 concurrent memory bombs × 5, budget {budget}"),
        before,
        peak,
        after,
    );
    node.shutdown().await;
    Ok(())
}

async fn cache(capacity_mib: u64) -> anyhow::Result<()> {
    const REQUESTS: usize = 300_000;
    let dir = tempfile::tempdir()?;
    let extra = format!("[cache]\ncapacity_bytes = {}\n", capacity_mib * MIB);
    let node = start_node(dir.path(), &extra, origin().await?).await?;
    let addr = node.listeners()[0];
    load(addr, 8, 2_000, |n| format!("/warm/{n}")).await?;
    let before = status_bytes("VmRSS:")?;
    reset_peak()?;
    let started = std::time::Instant::now();
    let statuses = load(addr, 8, REQUESTS, |n| format!("/object/{n}")).await?;
    let elapsed = started.elapsed();
    let peak = status_bytes("VmHWM:")?;
    let after = status_bytes("VmRSS:")?;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    println!("{ok} of {REQUESTS} unique misses answered 200 in {elapsed:.1?}");
    report(
        &format!("cache of {capacity_mib} MiB, 1 KiB objects"),
        before,
        peak,
        after,
    );
    node.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "guests".to_owned());
    let number = args.next().map(|n| n.parse::<u64>()).transpose()?;
    match scenario.as_str() {
        "guests" => guests(number).await,
        "cache" => cache(number.unwrap_or(64)).await,
        other => anyhow::bail!("unknown scenario `{other}`: guests or cache"),
    }
}
