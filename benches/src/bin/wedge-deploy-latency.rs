//! `cargo run --release -p wedge-benches --features fixtures --bin wedge-deploy-latency`: how long from a deploy
//! until two nodes both serve it.
//!
//! Starts a control plane and two nodes following it on loopback; the site is a control-plane
//! distribution with `site@live` on viewer-request. Two kinds of deploy, 20 of each:
//! - publish + alias move: a component never seen before (the fixture with a unique custom
//!   section, so each is validated, stored, fetched and compiled anew), then `live` moved to it;
//!   timed from the start of the upload;
//! - alias move: `live` flipped between two versions the nodes already have.
//!
//! Each is timed until both nodes have applied the revision (swapped the new state in). Prints
//! p50, p99 and max of each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;
use wedge_test_fixtures as fixtures;

const ADMIN: &str = "bench-admin-token-0123456789";
const NODE: &str = "bench-node-token-0123456789";
const DEPLOYS: usize = 20;

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: impl Into<Bytes>,
) -> anyhow::Result<serde_json::Value> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Full::new(body.into()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let control_toml = dir.path().join("control.toml");
    std::fs::write(
        &control_toml,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"control\"\ntokens = [\n {{ name = \"a\", token = \"{ADMIN}\", role = \"admin\" }},\n {{ name = \"n\", token = \"{NODE}\", role = \"node\" }},\n]\n"
        ),
    )?;
    let control = ControlPlane::start(ControlConfig::load(&control_toml)?).await?;
    let cp = control.address();
    let first = call(
        cp,
        Method::POST,
        "/v1/functions/site/versions",
        unique_component(0),
    )
    .await?;
    let first = first["version"]["number"].as_u64().context("no version")?;
    call(
        cp,
        Method::PUT,
        "/v1/functions/site/aliases/live",
        format!("{{\"version\": {first}}}"),
    )
    .await?;
    call(
        cp,
        Method::PUT,
        "/v1/distributions/site",
        "domains = [\"*\"]\n[origins.main]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"main\"\n[[default_behavior.functions]]\nevent = \"viewer-request\"\nfunction = \"site@live\"\n",
    )
    .await?;

    let mut nodes = Vec::new();
    for index in 0..2 {
        let path = dir.path().join(format!("node-{index}.toml"));
        std::fs::write(
            &path,
            format!(
                "[node]\nid = \"node-{index}\"\naccess_log = \"off\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n[runtime]\nmax_instances = 16\n[control_plane]\nurl = \"http://{cp}\"\ntoken = \"{NODE}\"\ndata_dir = \"node-{index}\"\n"
            ),
        )?;
        nodes.push(
            RunningNode::start(NodeConfig::load(&path)?)
                .await
                .context("starting a node")?,
        );
    }

    let mut published = Vec::new();
    for deploy in 1..=DEPLOYS {
        let started = Instant::now();
        let answer = call(
            cp,
            Method::POST,
            "/v1/functions/site/versions",
            unique_component(deploy),
        )
        .await?;
        let version = answer["version"]["number"].as_u64().context("no version")?;
        let answer = call(
            cp,
            Method::PUT,
            "/v1/functions/site/aliases/live",
            format!("{{\"version\": {version}}}"),
        )
        .await?;
        published.push(until_applied(&nodes, &answer, started).await?);
    }
    let mut moved = Vec::new();
    for deploy in 0..DEPLOYS {
        let version = 1 + (deploy % 2);
        let started = Instant::now();
        let answer = call(
            cp,
            Method::PUT,
            "/v1/functions/site/aliases/live",
            format!("{{\"version\": {version}}}"),
        )
        .await?;
        moved.push(until_applied(&nodes, &answer, started).await?);
    }
    report("publish + alias move", published)?;
    report("alias move", moved)?;
    for node in nodes {
        node.shutdown().await;
    }
    control.shutdown().await;
    Ok(())
}

/// The HELLO fixture with a custom section naming `serial` appended: a valid component with
/// its own digest.
fn unique_component(serial: usize) -> Vec<u8> {
    let mut bytes = fixtures::bytes(fixtures::HELLO);
    let name = b"wedge-bench";
    let payload = serial.to_le_bytes();
    let size = 1 + name.len() + payload.len();
    bytes.push(0); // custom section id
    bytes.push(u8::try_from(size).unwrap_or(u8::MAX)); // LEB128 size (< 128)
    bytes.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

/// Waits until every node applied the revision in `answer`; returns the time since `started`.
async fn until_applied(
    nodes: &[RunningNode],
    answer: &serde_json::Value,
    started: Instant,
) -> anyhow::Result<Duration> {
    let revision = answer["revision"]
        .as_u64()
        .context("no revision in the answer")?;
    while nodes.iter().any(|node| node.applied_revision() < revision) {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("revision {revision} did not reach both nodes within 10 s");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(started.elapsed())
}

fn report(what: &str, mut latencies: Vec<Duration>) -> anyhow::Result<()> {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    writeln!(
        out,
        "{DEPLOYS} deploys, {what} -> both nodes serving: p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1]
    )?;
    Ok(())
}
