//! `wedge-node --config node.toml`: runs an edge node until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;

/// The wedge edge node: an HTTP cache that runs WebAssembly functions on four hooks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The node config file (TOML; see docs/config.md).
    #[arg(long, short, env = "WEDGE_NODE_CONFIG", default_value = "node.toml")]
    config: PathBuf,
    /// Check the config (and load its functions), then exit.
    #[arg(long)]
    check: bool,
    /// Log format for the node's own logs (the access log is always JSON lines).
    #[arg(long, env = "WEDGE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_env("WEDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let config = NodeConfig::load(&args.config)?;
    if args.check {
        let runtime = wedge_runtime::Runtime::new(config.runtime.clone())?;
        wedge_cdn::state::State::build(&config, &runtime).await?;
        tracing::info!(config = %args.config.display(), "config and functions are valid");
        return Ok(());
    }
    let node = RunningNode::start(config).await?;
    tracing::info!(node = node.node_id(), "wedge-node started");
    wait_for_signal().await?;
    tracing::info!("shutting down: draining in-flight requests");
    node.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {},
        result = tokio::signal::ctrl_c() => result?,
    }
    Ok(())
}
