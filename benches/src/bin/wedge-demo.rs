//! `cargo run --release -p wedge-benches --bin wedge-demo`: an edge node with functions on a
//! demo origin, all on loopback, until Ctrl-C. Prints the config it runs and what to curl.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;
use wedge_test_fixtures as fixtures;

/// The viewer port, overridable with WEDGE_DEMO_PORT.
const DEFAULT_PORT: u16 = 8080;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::var("WEDGE_DEMO_PORT") {
        Ok(value) => value
            .parse()
            .context("WEDGE_DEMO_PORT must be a port number")?,
        Err(_) => DEFAULT_PORT,
    };
    let origin = start_origin().await?;
    let dir = tempfile::tempdir()?;
    let config = format!(
        r#"[node]
id = "demo"
access_log = "access.log"

[[listeners]]
address = "127.0.0.1:{port}"

[admin]
address = "127.0.0.1:0"

[[distributions]]
id = "demo"
domains = ["*"]

[distributions.origins.app]
url = "http://{origin}"

[[distributions.behaviors]]
path = "/api/*"
origin = "app"
cache = {{ enabled = false }}

[distributions.default_behavior]
origin = "app"

[[distributions.default_behavior.functions]]
event = "viewer-request"
function = "{respond}"

[[distributions.default_behavior.functions]]
event = "origin-response"
function = "{all_hooks}"

[[distributions.default_behavior.functions]]
event = "viewer-response"
function = "{all_hooks}"
"#,
        respond = fixtures::RESPOND,
        all_hooks = fixtures::ALL_HOOKS,
    );
    let path = dir.path().join("node.toml");
    std::fs::write(&path, &config)?;
    let node = RunningNode::start(NodeConfig::load(&path)?)
        .await
        .with_context(|| {
            format!(
                "starting the node on 127.0.0.1:{port} (set WEDGE_DEMO_PORT to use another port)"
            )
        })?;
    let viewer = node.listeners()[0];
    let admin = node
        .admin()
        .context("the demo config has an admin listener")?;
    let mut out = std::io::stderr().lock();
    use std::io::Write as _;
    writeln!(
        out,
        "wedge-node demo: functions on a cached demo origin ({origin}).\n\n--- node.toml ---\n{config}---\n\n\
         Try:\n  \
         curl -i http://{viewer}/            # twice: Miss, then Hit; x-origin-response / x-viewer-response added by functions\n  \
         curl -i http://{viewer}/hello       # generated at the edge by viewer-request, never cached\n  \
         curl -i http://{viewer}/api/time    # not cached (behavior /api/*)\n  \
         curl -s http://{admin}/metrics      # Prometheus metrics\n  \
         curl -s -XPOST http://{admin}/purge -d '{{\"paths\":[\"/*\"]}}'\n\n\
         Access log: {}\nCtrl-C stops.",
        dir.path().join("access.log").display()
    )?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    node.shutdown().await;
    Ok(())
}

/// A small origin: `/` and other pages cacheable for 60 s, `/api/time` not cacheable.
async fn start_origin() -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs();
                    let (body, cache_control) = if request.uri().path() == "/api/time" {
                        (format!("{{\"unix_time\": {now}}}\n"), "no-store")
                    } else {
                        (
                            format!(
                                "page {} rendered by the origin at {now}\n",
                                request.uri().path()
                            ),
                            "max-age=60",
                        )
                    };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    response.headers_mut().insert(
                        "cache-control",
                        hyper::header::HeaderValue::from_static(cache_control),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
