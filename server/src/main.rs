//! The portunus gateway binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "A WebRTC gateway with the Janus API and WebAssembly plugins"
)]
struct Args {
    /// Configuration file.
    #[arg(short, long, default_value = "config.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = portunus::Config::load(&args.config)
        .with_context(|| format!("bad configuration in {}", args.config.display()))?;
    let server = portunus::start(config).await.context("cannot start")?;
    if let Some(addr) = server.http_addr() {
        tracing::info!("demo pages at http://{addr}/");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
