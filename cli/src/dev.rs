//! `wedge dev`: everything on loopback in one process — a control plane with a temporary data
//! dir, a node following it, a demo origin (or yours) — with the project built, published and
//! deployed on every hook it exports, redeployed whenever its sources change.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::client::Client;
use crate::project;

/// How often sources are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// What `wedge dev` was asked for.
pub(crate) struct DevOptions {
    pub(crate) project: PathBuf,
    pub(crate) file: Option<PathBuf>,
    pub(crate) name: Option<String>,
    pub(crate) port: u16,
    pub(crate) origin: Option<String>,
}

pub(crate) async fn run(options: DevOptions) -> anyhow::Result<()> {
    let name = match &options.name {
        Some(name) => name.clone(),
        None => project::Manifest::load(&options.project)?.function.name,
    };
    let component = component(&options)?;
    let work = tempfile::tempdir()?;
    let admin_token = format!("dev-admin-{}", random_hex());
    let node_token = format!("dev-node-{}", random_hex());

    let control_toml = work.path().join("control.toml");
    std::fs::write(
        &control_toml,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"control\"\ntokens = [\n {{ name = \"dev\", token = \"{admin_token}\", role = \"admin\" }},\n {{ name = \"node\", token = \"{node_token}\", role = \"node\" }},\n]\n"
        ),
    )?;
    let control = wedge_control::ControlPlane::start(wedge_control::config::ControlConfig::load(
        &control_toml,
    )?)
    .await?;
    let client = Client::new(&format!("http://{}", control.address()), Some(admin_token))?;
    let hooks = deploy(&client, &name, &component).await?.1;

    let origin = match &options.origin {
        Some(url) => url.clone(),
        None => format!("http://{}", demo_origin().await?),
    };
    let mut node_toml = format!(
        "[node]\nid = \"dev\"\naccess_log = \"access.log\"\n[[listeners]]\naddress = \"127.0.0.1:{}\"\n[admin]\naddress = \"127.0.0.1:0\"\n[runtime]\nmax_instances = 64\n[control_plane]\nurl = \"http://{}\"\ntoken = \"{node_token}\"\ndata_dir = \"node\"\n[[distributions]]\nid = \"dev\"\ndomains = [\"*\"]\n[distributions.origins.origin]\nurl = \"{origin}\"\n[distributions.default_behavior]\norigin = \"origin\"\ncache = {{ default_ttl_s = 0 }}\n",
        options.port,
        control.address()
    );
    for hook in &hooks {
        node_toml.push_str(&format!("[[distributions.default_behavior.functions]]\nevent = \"{hook}\"\nfunction = \"control:{name}@dev\"\n"));
    }
    let node_path = work.path().join("node.toml");
    std::fs::write(&node_path, &node_toml)?;
    let node = wedge_cdn::RunningNode::start(wedge_cdn::config::NodeConfig::load(&node_path)?)
        .await
        .context("starting the node (is the port free? use --port)")?;
    let url = format!("http://{}", node.listeners()[0]);
    let admin = node
        .admin()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    println!(
        "wedge dev: {name} on {} -> origin {origin}",
        hooks.join(", ")
    );
    println!("serving on {url}");
    println!("  curl -i {url}/");
    println!(
        "  metrics {admin}/metrics, access log {}",
        work.path().join("access.log").display()
    );
    if options.file.is_none() {
        println!(
            "watching {} for changes; Ctrl-C stops",
            options.project.display()
        );
    }

    let mut stamp = sources_stamp(&options.project);
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => { result?; break; }
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        if options.file.is_some() {
            continue;
        }
        let now = sources_stamp(&options.project);
        if now == stamp {
            continue;
        }
        stamp = now;
        println!("change detected: rebuilding");
        let redeployed = match component_blocking(&options).await {
            Ok(component) => deploy(&client, &name, &component).await,
            Err(error) => Err(error),
        };
        match redeployed {
            Ok((version, _)) => println!("redeployed {name} version {version}"),
            Err(error) => println!("not redeployed: {error:#}\nstill serving the previous version"),
        }
    }
    node.shutdown().await;
    control.shutdown().await;
    Ok(())
}

fn component(options: &DevOptions) -> anyhow::Result<PathBuf> {
    match &options.file {
        Some(file) => Ok(file.clone()),
        None => project::build(&options.project),
    }
}

async fn component_blocking(options: &DevOptions) -> anyhow::Result<PathBuf> {
    let project = options.project.clone();
    tokio::task::spawn_blocking(move || project::build(&project)).await?
}

/// Publishes and points the `dev` alias at the result; returns (version, exported hooks).
async fn deploy(
    client: &Client,
    name: &str,
    component: &Path,
) -> anyhow::Result<(u64, Vec<String>)> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let (_, published) = client
        .call(
            Method::POST,
            &format!("/v1/functions/{name}/versions"),
            Bytes::from(bytes),
        )
        .await?;
    let version = published["version"]["number"]
        .as_u64()
        .context("no version in the answer")?;
    let hooks = published["version"]["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let body = Bytes::from(json!({ "version": version }).to_string());
    client
        .call(
            Method::PUT,
            &format!("/v1/functions/{name}/aliases/dev"),
            body,
        )
        .await?;
    Ok((version, hooks))
}

/// The newest modification time under the project's sources and manifests.
fn sources_stamp(project: &Path) -> Option<SystemTime> {
    fn newest(path: &Path, best: &mut Option<SystemTime>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                newest(&entry.path(), best);
            }
        } else if let Ok(modified) = meta.modified() {
            *best = (*best).max(Some(modified));
        }
    }
    let mut best = None;
    for part in ["src", "Cargo.toml", "wedge.toml"] {
        newest(&project.join(part), &mut best);
    }
    best
}

/// A small origin: every path answers a page naming it.
async fn demo_origin() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let body = format!(
                            "demo origin: {} {}\n",
                            request.method(),
                            request.uri().path()
                        );
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}
