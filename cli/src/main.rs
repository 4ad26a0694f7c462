//! `wedge`: scaffold, build and publish edge functions, move aliases, deploy them to
//! distributions, roll back, list, follow a node's logs, run everything locally. One function
//! per subcommand; the commands that talk to the control plane share [`remote::Remote`].

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
mod functions;
mod logs;
mod project;
mod remote;
mod revisions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// The wedge command line.
#[derive(Debug, Parser)]
#[command(name = "wedge", version, about, propagate_version = true)]
struct Cli {
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
    Publish(functions::PublishArgs),
    /// Manage aliases: set, ls, rm.
    Alias {
        #[command(subcommand)]
        command: functions::AliasCommand,
    },
    /// Replace the config values an alias's function reads (KEY=VALUE ...; secrets are never
    /// listed back).
    Config(functions::ConfigArgs),
    /// Attach a function (NAME@ALIAS or NAME@VERSION) to a hook of a distribution's behavior,
    /// remove one (`--detach`), or create/replace distributions from a file (`--file`).
    #[command(after_help = deploy::AFTER_HELP)]
    Deploy(deploy::DeployArgs),
    /// Manage distributions: ls, rm.
    Distribution {
        #[command(subcommand)]
        command: deploy::DistributionCommand,
    },
    /// List the newest revisions: what changed, when.
    History(revisions::HistoryArgs),
    /// Restore an earlier revision's state as a new revision.
    Rollback(revisions::RollbackArgs),
    /// List functions (versions, aliases), distributions and nodes with their revision.
    Ls(remote::Remote),
    /// Print a node's recent access and function log lines; `--follow` keeps streaming.
    Logs(logs::LogsArgs),
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
    Dev(dev::DevOptions),
}

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// JSON for scripts instead of lines for people.
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the `human` text.
    pub(crate) fn print(self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Output { json: cli.json };
    match cli.command {
        Command::Init { name, sdk } => init(&name, sdk, out),
        Command::Build { path } => build(&path, out),
        Command::Publish(args) => functions::publish(&args, out).await,
        Command::Alias { command } => functions::alias(&command, out).await,
        Command::Config(args) => functions::config(&args, out).await,
        Command::Deploy(args) => deploy::run(&args, out).await,
        Command::Distribution { command } => deploy::distribution(&command, out).await,
        Command::History(args) => revisions::history(&args, out).await,
        Command::Rollback(args) => revisions::rollback(&args, out).await,
        Command::Ls(remote) => revisions::ls(&remote, out).await,
        Command::Logs(args) => logs::run(&args, out).await,
        Command::Bench {
            component,
            iterations,
        } => {
            let bar = spinner(&format!("benchmarking {}", component.display()), out.json);
            let report = bench::run(&component, iterations).await;
            bar.finish_and_clear();
            let report = report?;
            out.print(&report, || bench::human(&report));
            Ok(())
        }
        Command::Dev(options) => dev::run(options).await,
    }
}

fn init(name: &str, sdk: Option<PathBuf>, out: Output) -> anyhow::Result<()> {
    let sdk = sdk.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest"));
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("wedge-sdk at {}", sdk.display()))?;
    let root = project::init(&std::env::current_dir()?, name, &sdk)?;
    out.print(&json!({"created": root}), || {
        format!(
            "created {}\nnext: cd {name} && wedge publish",
            root.display()
        )
    });
    Ok(())
}

fn build(path: &std::path::Path, out: Output) -> anyhow::Result<()> {
    let bar = spinner("building", out.json);
    let component = project::build(path, &bar);
    bar.finish_and_clear();
    let component = component?;
    out.print(&json!({"component": component}), || {
        format!("built {}", component.display())
    });
    Ok(())
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

/// A bar for an upload: bytes sent of the total, rate and time left.
pub(crate) fn upload_bar(what: &str, json: bool) -> ProgressBar {
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
