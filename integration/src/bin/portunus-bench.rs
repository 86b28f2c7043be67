//! portunus-bench: load generator for Janus-API gateways (portunus, Janus 1.1.2, ...).
//!
//!     portunus-bench echotest --server ws://127.0.0.1:8188 -n 20 --duration 30 --pid 1234

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use portunus_integration::bench::echotest::{
    self, EchotestOptions, Live, MAX_DURATION, MAX_SESSIONS, Phase,
};
use portunus_integration::bench::payload::MediaProfile;

#[derive(Parser)]
#[command(version, about = "Load generator for Janus-API WebRTC gateways")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N parallel EchoTest sessions sending audio and video at real rates.
    Echotest(EchotestArgs),
}

#[derive(clap::Args)]
struct EchotestArgs {
    /// Janus-API WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8188")]
    server: String,
    /// Parallel sessions.
    #[arg(short = 'n', long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_SESSIONS as i64))]
    sessions: u32,
    /// Seconds of media (every session sends over the same window).
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION.as_secs()))]
    duration: u64,
    /// The server's pid: report its CPU time and memory from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Video bitrate per session, kbit/s.
    #[arg(long, default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(8..=20_000u64))]
    video_kbps: u64,
    /// Seconds a session may take from `create` to `webrtcup`.
    #[arg(long, default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=120u64))]
    setup_timeout: u64,
    /// Local address for the peers' UDP sockets (their ICE candidate).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Sessions listed one by one in the table (all are in the JSON).
    #[arg(long, default_value_t = 20)]
    rows: usize,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    match cli.scenario {
        Scenario::Echotest(args) => runtime.block_on(run_echotest(args)),
    }
}

async fn run_echotest(args: EchotestArgs) -> anyhow::Result<()> {
    let mut opts = EchotestOptions::new(
        &args.server,
        args.sessions as usize,
        Duration::from_secs(args.duration),
    );
    opts.server_pid = args.pid;
    opts.bind = args.bind;
    opts.setup_timeout = Duration::from_secs(args.setup_timeout);
    opts.media = MediaProfile {
        video_bps: args.video_kbps * 1000,
        ..MediaProfile::default()
    };
    let live = Arc::new(Live::default());
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let bar = progress(live.clone(), opts.sessions, opts.duration, stopped);
    let result = echotest::run(opts, live).await;
    let _ = stop.send(());
    let _ = bar.await;
    let report = result.context("echotest")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table(args.rows));
    }
    if report.totals.sessions_up == 0 {
        let why = report
            .sessions
            .iter()
            .find_map(|s| s.error.clone())
            .unwrap_or_default();
        anyhow::bail!("no session came up: {why}");
    }
    Ok(())
}

/// A task redrawing a progress bar (on stderr, hidden when it is not a terminal) from the
/// run's live counters: sessions during setup, then the media window.
fn progress(
    live: Arc<Live>,
    sessions: usize,
    duration: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let style = |template: &str| {
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        let bar = ProgressBar::new(sessions as u64).with_style(style(
            "{spinner} setup    [{bar:30}] {pos}/{len} sessions {msg}",
        ));
        let mut media = false;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => break,
            }
            let up = live.sessions_up.load(Ordering::Relaxed);
            let failed = live.sessions_failed.load(Ordering::Relaxed);
            let sent = live.sent_packets.load(Ordering::Relaxed);
            let echoed = live.received_packets.load(Ordering::Relaxed);
            match live.phase() {
                Phase::Setup => {
                    bar.set_position((up + failed) as u64);
                    bar.set_message(format!("({failed} failed)"));
                }
                Phase::Media => {
                    if !media {
                        media = true;
                        bar.set_style(style("{spinner} media    [{bar:30}] {pos}/{len} s {msg}"));
                        bar.set_length(duration.as_secs());
                    }
                    let elapsed = live.media_started().map_or(0, |t| t.elapsed().as_secs());
                    bar.set_position(elapsed.min(duration.as_secs()));
                    bar.set_message(format!(
                        "{up} sessions, {sent} packets sent, {echoed} echoed"
                    ));
                }
                Phase::Drain | Phase::Teardown => {
                    bar.set_message(format!(
                        "draining and hanging up: {sent} sent, {echoed} echoed"
                    ));
                }
                Phase::Done => {}
            }
            bar.tick();
        }
        bar.finish_and_clear();
    })
}
