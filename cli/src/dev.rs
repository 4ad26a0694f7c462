//! `wedge dev`: everything on loopback in one process — a control plane with a temporary data
//! dir, a node following it, demo origins (or yours) — with the functions built, published
//! under the alias `dev` and deployed through a distribution of the control plane, exactly as
//! in production; rebuilt and redeployed whenever their sources change.
//!
//! The path is one function project (a `wedge.toml`; it is attached to every hook it exports
//! on a catch-all distribution), or a directory of projects with a `distribution.toml`, in
//! which `{demo_origin:NAME}` stands for a demo origin that `wedge dev` starts (see
//! `examples/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use serde_json::json;

use wedge_types::Hook;

use crate::client::Client;
use crate::demo_origin;
use crate::project;

/// How often sources are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// The distribution `wedge dev` deploys.
const DISTRIBUTION: &str = "dev";

/// What `wedge dev` was asked for.
#[derive(Debug, clap::Args)]
pub(crate) struct DevOptions {
    /// A project directory, or a directory of projects with a distribution.toml.
    #[arg(default_value = ".")]
    pub(crate) path: PathBuf,
    /// Deploy this component instead of building the project (no watching).
    #[arg(long)]
    pub(crate) file: Option<PathBuf>,
    /// The function name (default: wedge.toml's).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The viewer port on 127.0.0.1 (0 picks one).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Use this origin instead of the demo origin.
    #[arg(long)]
    pub(crate) origin: Option<String>,
}

/// One function being developed.
struct DevFunction {
    name: String,
    /// The project, when it is built from sources (watched).
    project: Option<PathBuf>,
    /// The component last deployed.
    component: PathBuf,
    stamp: Option<SystemTime>,
}

pub(crate) async fn run(options: DevOptions) -> anyhow::Result<()> {
    let projects = discover(&options)?;
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
    let control_url = format!("http://{}", control.address());
    let client = Client::new(&control_url, Some(admin_token.clone()), None)?;

    let mut functions = Vec::new();
    let mut exported = BTreeMap::new();
    for (name, project) in projects {
        let component = match (&options.file, &project) {
            (Some(file), _) => file.clone(),
            (None, Some(project)) => build_blocking(project.clone()).await?,
            (None, None) => bail!("nothing to deploy for {name}"),
        };
        let (version, hooks) = publish(&client, &name, &component).await?;
        if let Some(project) = &project {
            let manifest = project::Manifest::load(project)?;
            if !manifest.config.is_empty() {
                let body = json!({ "values": manifest.config });
                let path = format!("/v1/functions/{name}/aliases/dev/config");
                client.call(Method::PUT, &path, body.to_string()).await?;
            }
        }
        let names: Vec<&str> = hooks.iter().map(|hook| hook.as_str()).collect();
        println!("published {name} version {version} ({})", names.join(", "));
        exported.insert(name.clone(), hooks);
        let stamp = project.as_deref().and_then(sources_stamp);
        functions.push(DevFunction {
            name,
            project,
            component,
            stamp,
        });
    }

    let template = match distribution_file(&options.path) {
        Some(file) => {
            std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
        }
        None => single_distribution(&options.path, &functions, &exported)?,
    };
    let (source, origins) = demo_origin::substitute(&template, options.origin.as_deref()).await?;
    client
        .call(
            Method::PUT,
            &format!("/v1/distributions/{DISTRIBUTION}"),
            source,
        )
        .await
        .context("deploying the distribution")?;

    let node_path = work.path().join("node.toml");
    std::fs::write(
        &node_path,
        format!(
            "[node]\nid = \"dev\"\naccess_log = \"access.log\"\n[[listeners]]\naddress = \"127.0.0.1:{}\"\n[admin]\naddress = \"127.0.0.1:0\"\n[runtime]\nmax_instances = 64\n[control_plane]\nurl = \"{control_url}\"\ntoken = \"{node_token}\"\ndata_dir = \"node\"\n",
            options.port
        ),
    )?;
    let node = wedge_cdn::RunningNode::start(wedge_cdn::config::NodeConfig::load(&node_path)?)
        .await
        .context("starting the node (is the port free? use --port)")?;
    let url = format!("http://{}", node.listeners()[0]);
    let admin = node
        .admin()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();

    println!();
    for (name, address) in &origins {
        println!("demo origin {name} on http://{address}");
    }
    println!(
        "control plane on {control_url} (WEDGE_CONTROL_URL={control_url} WEDGE_TOKEN={admin_token})"
    );
    println!(
        "node admin on {admin} (WEDGE_NODE_TOKEN={node_token} wedge logs --node {admin} --follow)"
    );
    println!("access log {}", work.path().join("access.log").display());
    println!("\nserving on {url}\n");
    print_tries(&options.path, &url);
    println!("\nwatching the sources for changes; Ctrl-C stops");

    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => { result?; break; }
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        for function in &mut functions {
            let Some(project) = function.project.clone() else {
                continue;
            };
            let now = sources_stamp(&project);
            if now == function.stamp {
                continue;
            }
            function.stamp = now;
            println!("{}: change detected, rebuilding", function.name);
            let redeployed = match build_blocking(project).await {
                Ok(component) => {
                    function.component = component;
                    publish(&client, &function.name, &function.component).await
                }
                Err(error) => Err(error),
            };
            match redeployed {
                Ok((version, _)) => println!("redeployed {} version {version}", function.name),
                Err(error) => println!(
                    "{} not redeployed: {error:#}\nstill serving the previous version",
                    function.name
                ),
            }
        }
    }
    node.shutdown().await;
    control.shutdown().await;
    Ok(())
}

/// (function name, project) for what `options` points at: one project, or every project
/// directly under a directory.
fn discover(options: &DevOptions) -> anyhow::Result<Vec<(String, Option<PathBuf>)>> {
    let path = &options.path;
    if options.file.is_some() || path.join("wedge.toml").exists() {
        let name = match &options.name {
            Some(name) => name.clone(),
            None => project::Manifest::load(path)?.function.name,
        };
        let project = options.file.is_none().then(|| path.clone());
        return Ok(vec![(name, project)]);
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?;
    for entry in entries {
        let dir = entry?.path();
        if dir.join("wedge.toml").exists() {
            found.push((project::Manifest::load(&dir)?.function.name, Some(dir)));
        }
    }
    if found.is_empty() {
        bail!(
            "{}: no wedge.toml here or in its subdirectories (create a project with `wedge init NAME`)",
            path.display()
        );
    }
    found.sort();
    Ok(found)
}

/// The directory's `distribution.toml`, when it deploys several functions.
fn distribution_file(path: &Path) -> Option<PathBuf> {
    let file = path.join("distribution.toml");
    file.exists().then_some(file)
}

/// A catch-all distribution with the one function on every hook it exports.
fn single_distribution(
    path: &Path,
    functions: &[DevFunction],
    exported: &BTreeMap<String, Vec<Hook>>,
) -> anyhow::Result<String> {
    let [function] = functions else {
        bail!(
            "{}: several projects need a distribution.toml saying where each goes",
            path.display()
        );
    };
    let limits = match &function.project {
        Some(project) => toml::to_string(&project::Manifest::load(project)?.limits)?,
        None => String::new(),
    };
    let mut source = String::from(
        "id = \"dev\"\ndomains = [\"*\"]\n[origins.origin]\nurl = \"{demo_origin:main}\"\n[default_behavior]\norigin = \"origin\"\ncache = { default_ttl_s = 0 }\n",
    );
    for hook in exported.get(&function.name).into_iter().flatten() {
        source.push_str(&format!(
            "[[default_behavior.functions]]\nevent = \"{hook}\"\nfunction = \"{}@dev\"\n{limits}",
            function.name
        ));
    }
    Ok(source)
}

/// Prints what to try: the directory's `try.txt` (`{url}` replaced), or a plain curl.
fn print_tries(path: &Path, url: &str) {
    match std::fs::read_to_string(path.join("try.txt")) {
        Ok(text) => {
            for line in text.lines() {
                println!("  {}", line.replace("{url}", url));
            }
        }
        Err(_) => println!("  curl -i {url}/"),
    }
}

async fn build_blocking(project: PathBuf) -> anyhow::Result<PathBuf> {
    let bar = crate::spinner(&format!("building {}", project.display()), false);
    let bar_for_build = bar.clone();
    let built =
        tokio::task::spawn_blocking(move || project::build(&project, &bar_for_build)).await?;
    bar.finish_and_clear();
    built
}

/// Publishes and points the `dev` alias at the result; returns (version, exported hooks).
async fn publish(
    client: &Client,
    name: &str,
    component: &Path,
) -> anyhow::Result<(u64, Vec<Hook>)> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let (_, published) = client
        .call(
            Method::POST,
            &format!("/v1/functions/{name}/versions"),
            Bytes::from(bytes),
        )
        .await?;
    let published: wedge_control::service::Published = crate::remote::typed(&published)?;
    let version = u64::from(published.version.number);
    let hooks = published.version.hooks;
    let body = json!({ "version": version }).to_string();
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

fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}
