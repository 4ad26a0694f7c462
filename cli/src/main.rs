//! `wedge`: scaffold, build and publish edge functions, move aliases, deploy them to
//! distributions, roll back, list, follow a node's logs, run everything locally.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool prints its results and its errors"
)]

mod bench;
mod client;
mod demo_origin;
mod deploy;
mod dev;
mod logs;
mod project;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// The wedge command line.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// The control plane's URL.
    #[arg(
        long,
        global = true,
        env = "WEDGE_CONTROL_URL",
        default_value = "http://127.0.0.1:7070"
    )]
    control: String,
    /// A bearer token (admin for writes).
    #[arg(long, global = true, env = "WEDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scaffold a function project: Cargo.toml, src/lib.rs with a hook, wedge.toml.
    Init {
        /// The function's name (lower case, digits, `-`, `_`).
        name: String,
        /// Where the wedge-sdk crate is (defaults to this checkout's sdk-guest).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the project's component (adds the wasm32-wasip2 target if missing).
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Build (or take --file) and upload a component; prints its version and digest.
    Publish {
        /// The project directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Publish this component file instead of building the project.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The function name (default: wedge.toml's).
        #[arg(long)]
        name: Option<String>,
    },
    /// Manage aliases.
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
    /// Replace the config values an alias's function reads (KEY=VALUE ...; secrets are never
    /// listed back).
    Config {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// KEY=VALUE pairs.
        values: Vec<String>,
        /// Secret KEY=VALUE pairs (repeatable).
        #[arg(long = "secret", value_name = "KEY=VALUE")]
        secrets: Vec<String>,
    },
    /// Attach a function (NAME@ALIAS or NAME@VERSION) to a hook of a distribution's behavior,
    /// remove one (`--detach`), or create/replace distributions from a file (`--file`).
    #[command(after_help = deploy::AFTER_HELP)]
    Deploy {
        /// NAME@ALIAS or NAME@VERSION.
        #[arg(required_unless_present_any = ["file", "detach"], conflicts_with_all = ["file", "detach"])]
        function: Option<String>,
        /// Remove the function on `--event` of the behavior instead.
        #[arg(long, requires_all = ["distribution", "event"], conflicts_with = "file")]
        detach: bool,
        /// The distribution.
        #[arg(long, short, required_unless_present = "file")]
        distribution: Option<String>,
        /// The behavior's path pattern, or `default`.
        #[arg(long, short, default_value = "default")]
        behavior: String,
        /// The hook (default: the only one the version exports).
        #[arg(long, short)]
        event: Option<String>,
        /// What a failure of the function does: fail, bypass or stale.
        #[arg(long)]
        on_error: Option<String>,
        /// A distribution file: `[[distributions]]` entries as in a node config, or one
        /// distribution with its `id` at the top level.
        #[arg(long, short)]
        file: Option<PathBuf>,
    },
    /// Restore an earlier revision's state as a new revision.
    Rollback {
        /// The revision to restore (default: the one before the latest).
        #[arg(long)]
        to: Option<u64>,
    },
    /// List functions (versions, aliases), distributions and nodes with their revision.
    Ls,
    /// Print a node's recent access and function log lines; `--follow` keeps streaming.
    Logs {
        /// The node's admin URL.
        #[arg(
            long,
            env = "WEDGE_NODE_ADMIN",
            default_value = "http://127.0.0.1:9901"
        )]
        node: String,
        /// Keep streaming new lines.
        #[arg(long, short)]
        follow: bool,
        /// Only lines involving this function.
        #[arg(long)]
        function: Option<String>,
        /// Only requests with this status (`404`) or class (`5xx`).
        #[arg(long)]
        status: Option<String>,
        /// Only `access` or `function` lines.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// How many recent lines to start with.
        #[arg(long, default_value_t = 20)]
        tail: usize,
        /// The node's admin token (`[admin] token`, or its control-plane node token).
        #[arg(long = "node-token", env = "WEDGE_NODE_TOKEN", hide_env_values = true)]
        node_token: Option<String>,
    },
    /// Cold-start benchmark of a component: compile, load from cache, and each hook invoked in
    /// fresh instances; p50/p90/p99 per phase and throughput.
    Bench {
        /// The component (.wasm).
        component: PathBuf,
        /// Invocations per hook.
        #[arg(long, default_value_t = 5000)]
        iterations: usize,
    },
    /// Run a control plane, a node and demo origins locally with the functions deployed;
    /// rebuild and redeploy when their sources change.
    #[command(
        after_help = "The path is one project (deployed on every hook it exports), or a \
directory of projects with a distribution.toml saying where each goes, e.g. `wedge dev examples`."
    )]
    Dev {
        /// A project directory, or a directory of projects with a distribution.toml.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Deploy this component instead of building the project (no watching).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The function name (default: wedge.toml's).
        #[arg(long)]
        name: Option<String>,
        /// The viewer port on 127.0.0.1 (0 picks one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Use this origin instead of the demo origin.
        #[arg(long)]
        origin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AliasCommand {
    /// Point an alias (e.g. `live`) of a function at a version.
    Set {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// The version number.
        #[arg(value_name = "VERSION")]
        number: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn spinner(message: &str, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The strings of a JSON array (nothing for anything else).
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A bar for an upload: bytes sent of the total, rate and time left.
fn upload_bar(what: &str, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_message(format!("uploading {what}"));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn print(json_output: bool, value: &Value, human: impl FnOnce() -> String) {
    if json_output {
        println!("{value}");
    } else {
        println!("{}", human());
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let client = || client::Client::new(&cli.control, cli.token.clone());
    match &cli.command {
        Command::Init { name, sdk } => {
            let sdk = sdk
                .clone()
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest"));
            let sdk = sdk
                .canonicalize()
                .with_context(|| format!("wedge-sdk at {}", sdk.display()))?;
            let root = project::init(&std::env::current_dir()?, name, &sdk)?;
            print(cli.json, &json!({"created": root}), || {
                format!(
                    "created {}\nnext: cd {name} && wedge publish",
                    root.display()
                )
            });
        }
        Command::Build { path } => {
            let bar = spinner("building", cli.json);
            let component = project::build(path, &bar);
            bar.finish_and_clear();
            let component = component?;
            print(cli.json, &json!({"component": component}), || {
                format!("built {}", component.display())
            });
        }
        Command::Publish { path, file, name } => {
            let component = match file {
                Some(file) => file.clone(),
                None => {
                    let bar = spinner("building", cli.json);
                    let built = project::build(path, &bar);
                    bar.finish_and_clear();
                    built?
                }
            };
            let manifest = if name.is_none() || file.is_none() {
                Some(project::Manifest::load(path)?)
            } else {
                None
            };
            let declared = manifest
                .as_ref()
                .map(|m| m.function.hooks.clone())
                .unwrap_or_default();
            let name = match (name, &manifest) {
                (Some(name), _) => name.clone(),
                (None, Some(manifest)) => manifest.function.name.clone(),
                (None, None) => unreachable_name()?,
            };
            let bytes = std::fs::read(&component)
                .with_context(|| format!("reading {}", component.display()))?;
            let bar = upload_bar(&component.display().to_string(), cli.json);
            let result = client()?
                .send(
                    Method::POST,
                    &format!("/v1/functions/{name}/versions"),
                    client::Upload::with_progress(Bytes::from(bytes), bar.clone()),
                )
                .await;
            bar.finish_and_clear();
            let (status, published) = result?;
            let exported: Vec<String> = strings(&published["version"]["hooks"])
                .into_iter()
                .map(str::to_owned)
                .collect();
            print(cli.json, &published, || {
                let verb = if status == 201 {
                    "published"
                } else {
                    "already published"
                };
                let mut line = format!(
                    "{verb} {name} version {} (sha256 {}) in revision {}",
                    published["version"]["number"],
                    published["version"]["digest"].as_str().unwrap_or("?"),
                    published["revision"]
                );
                if !declared.is_empty() && declared != exported {
                    line.push_str(&format!("\nwarning: wedge.toml declares hooks {declared:?}, the component exports {exported:?}"));
                }
                line
            });
        }
        Command::Alias {
            command:
                AliasCommand::Set {
                    function,
                    alias,
                    number: version,
                },
        } => {
            let body = Bytes::from(json!({"version": version}).to_string());
            let (_, answer) = client()?
                .call(
                    Method::PUT,
                    &format!("/v1/functions/{function}/aliases/{alias}"),
                    body,
                )
                .await?;
            print(cli.json, &answer, || {
                format!(
                    "{function}@{alias} -> version {version} (revision {})",
                    answer["revision"]
                )
            });
        }
        Command::Config {
            function,
            alias,
            values,
            secrets,
        } => {
            let pairs = |items: &[String]| -> anyhow::Result<serde_json::Map<String, Value>> {
                items
                    .iter()
                    .map(|item| {
                        let (key, value) = item
                            .split_once('=')
                            .with_context(|| format!("`{item}`: expected KEY=VALUE"))?;
                        Ok((key.to_owned(), Value::String(value.to_owned())))
                    })
                    .collect()
            };
            let body = json!({"values": pairs(values)?, "secrets": pairs(secrets)?});
            let path = format!("/v1/functions/{function}/aliases/{alias}/config");
            let (_, answer) = client()?
                .call(Method::PUT, &path, Bytes::from(body.to_string()))
                .await?;
            print(cli.json, &answer, || {
                format!(
                    "{function}@{alias}: {} values, {} secrets (revision {})",
                    values.len(),
                    secrets.len(),
                    answer["revision"]
                )
            });
        }
        Command::Deploy {
            function,
            detach,
            distribution,
            behavior,
            event,
            on_error,
            file,
        } => {
            let client = client()?;
            let answer = match (file, function, distribution) {
                (Some(file), _, _) => deploy::apply_file(&client, file).await?,
                (None, None, Some(distribution)) if *detach => {
                    let event = event.as_deref().context("--detach needs --event")?;
                    deploy::detach(&client, distribution, behavior, event).await?
                }
                (None, Some(function), Some(distribution)) => {
                    deploy::attach(
                        &client,
                        &deploy::Attach {
                            function,
                            distribution,
                            behavior,
                            event: event.as_deref(),
                            on_error: on_error.as_deref(),
                        },
                    )
                    .await?
                }
                _ => anyhow::bail!("give FUNCTION@ALIAS with --distribution, or --file"),
            };
            print(cli.json, &answer, || deploy::human(&answer));
        }
        Command::Logs {
            node,
            follow,
            function,
            status,
            kind,
            tail,
            node_token,
        } => {
            logs::run(
                node,
                node_token.clone(),
                &logs::LogQuery {
                    follow: *follow,
                    function: function.as_deref(),
                    status: status.as_deref(),
                    kind: kind.as_deref(),
                    tail: *tail,
                },
                cli.json,
            )
            .await?;
        }
        Command::Rollback { to } => {
            let client = client()?;
            let to = match to {
                Some(to) => *to,
                None => {
                    let (_, latest) = client
                        .call(Method::GET, "/v1/functions", Bytes::new())
                        .await?;
                    latest["revision"]
                        .as_u64()
                        .unwrap_or(0)
                        .checked_sub(1)
                        .filter(|r| *r > 0)
                        .context("there is no earlier revision to roll back to")?
                }
            };
            let body = Bytes::from(json!({"to": to}).to_string());
            let (_, answer) = client.call(Method::POST, "/v1/rollback", body).await?;
            print(cli.json, &answer, || {
                format!("restored revision {to} as revision {}", answer["revision"])
            });
        }
        Command::Dev {
            path,
            file,
            name,
            port,
            origin,
        } => {
            dev::run(dev::DevOptions {
                path: path.clone(),
                file: file.clone(),
                name: name.clone(),
                port: *port,
                origin: origin.clone(),
            })
            .await?;
        }
        Command::Bench {
            component,
            iterations,
        } => {
            let bar = spinner(&format!("benchmarking {}", component.display()), cli.json);
            let report = bench::run(component, *iterations).await;
            bar.finish_and_clear();
            let report = report?;
            print(cli.json, &report, || bench::human(&report));
        }
        Command::Ls => {
            let client = client()?;
            let (_, mut listed) = client
                .call(Method::GET, "/v1/functions", Bytes::new())
                .await?;
            let (_, distributions) = client
                .call(Method::GET, "/v1/distributions", Bytes::new())
                .await?;
            let (_, nodes) = client.call(Method::GET, "/v1/nodes", Bytes::new()).await?;
            listed["distributions"] = distributions["distributions"].clone();
            listed["nodes"] = nodes["nodes"].clone();
            print(cli.json, &listed, || human_listing(&listed));
        }
    }
    Ok(())
}

/// `--name` and `--file` both absent cannot happen (the manifest is then loaded); kept as an
/// error rather than a panic.
fn unreachable_name() -> anyhow::Result<String> {
    anyhow::bail!("name the function with --name or a wedge.toml")
}

fn human_listing(listed: &Value) -> String {
    let mut out = format!("revision {}\n", listed["revision"]);
    let Some(functions) = listed["functions"].as_object() else {
        return out;
    };
    for (name, function) in functions {
        out.push_str(&format!("{name}\n"));
        for version in function["versions"].as_array().into_iter().flatten() {
            let digest = version["digest"].as_str().unwrap_or("");
            let hooks: Vec<&str> = strings(&version["hooks"]);
            out.push_str(&format!(
                "  v{:<4} {}  {:>8} B  {}\n",
                version["number"],
                &digest[..digest.len().min(12)],
                version["size"],
                hooks.join(",")
            ));
        }
        for (alias, version) in function["aliases"].as_object().into_iter().flatten() {
            out.push_str(&format!("  @{alias} -> v{version}\n"));
        }
    }
    if let Some(distributions) = listed["distributions"].as_object() {
        out.push_str("distributions\n");
        for (id, distribution) in distributions {
            let source = distribution["source"].as_str().unwrap_or("");
            out.push_str(&format!("  {id}\n"));
            out.push_str(&deploy::summary(source));
        }
    }
    if let Some(nodes) = listed["nodes"].as_object() {
        out.push_str("nodes\n");
        let now = wedge_control::model::now_ms();
        for (id, node) in nodes {
            let ago = now.saturating_sub(node["last_contact_ms"].as_u64().unwrap_or(0));
            out.push_str(&format!(
                "  {id:<20} revision {:<6} last contact {:.1}s ago\n",
                node["revision"],
                ago as f64 / 1000.0
            ));
        }
    }
    out
}
