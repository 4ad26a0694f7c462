//! `wedge-control --config control.toml`: runs the control plane until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;

/// The wedge control plane: function versions, aliases and the revision log nodes follow.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The config file (TOML).
    #[arg(
        long,
        short,
        env = "WEDGE_CONTROL_CONFIG",
        default_value = "control.toml"
    )]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_env("WEDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let config = ControlConfig::load(&args.config)?;
    let control = ControlPlane::start(config).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {},
        result = tokio::signal::ctrl_c() => result?,
    }
    control.shutdown().await;
    Ok(())
}
