//! `wedge-node --config node.toml`: runs an edge node until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;

/// The wedge edge node: an HTTP cache that runs WebAssembly functions on four hooks.
#[derive(Debug, Parser)]
#[command(name = "wedge-node", version, about)]
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
    // The node's own log goes to stderr (the access log defaults to stdout), coloured only
    // on a terminal.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        if config.control_plane.is_some() {
            tracing::info!(config = %args.config.display(), "config is valid (functions come from the control plane)");
            return Ok(());
        }
        let runtime = wedge_runtime::Runtime::new(config.runtime.clone())?;
        wedge_cdn::state::State::build(
            &config,
            &runtime,
            None,
            wedge_cdn::state::Fallback::Nothing,
        )
        .await?;
        tracing::info!(config = %args.config.display(), "config and functions are valid");
        return Ok(());
    }
    let node = RunningNode::start(config).await?;
    tracing::info!(node = node.node_id(), "wedge-node started");
    serve_until_stopped(&node, &args.config).await?;
    tracing::info!("shutting down: draining in-flight requests");
    node.shutdown().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT; on SIGHUP reloads the config's distributions in place.
async fn serve_until_stopped(node: &RunningNode, path: &std::path::Path) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            result = tokio::signal::ctrl_c() => return Ok(result?),
            _ = hangup.recv() => {
                let reloaded = match NodeConfig::load(path) {
                    Ok(config) => node.reload(&config).await.map_err(anyhow::Error::from),
                    Err(error) => Err(error.into()),
                };
                match reloaded {
                    Ok(()) => tracing::info!(config = %path.display(), "reloaded"),
                    Err(error) => tracing::error!("reload refused, still serving the previous config: {error:#}"),
                }
            }
        }
    }
}
