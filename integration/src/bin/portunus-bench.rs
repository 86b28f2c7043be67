//! portunus-bench: load generator for Janus-API gateways (portunus, Janus 1.1.2, ...).
//!
//!     portunus-bench echotest --server ws://127.0.0.1:8188 -n 20 --duration 30 --pid 1234

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use portunus_integration::bench::compare;
use portunus_integration::bench::echotest::{
    self, EchotestOptions, Live, MAX_DURATION, MAX_SESSIONS, Phase,
};
use portunus_integration::bench::payload::MediaProfile;
use portunus_integration::bench::receivers::RunOptions;
use portunus_integration::bench::streaming::{self, StreamingOptions};
use portunus_integration::bench::videoroom::{self, VideoroomOptions};
use portunus_integration::media::VideoCodec;
use portunus_integration::media::ffmpeg::VideoSpec;

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
    /// P publishers (real VP8 or H.264 + Opus made by ffmpeg) × N subscribers in a VideoRoom.
    Videoroom(VideoroomArgs),
    /// One RTP mountpoint (Streaming plugin) fed with plain RTP by the tool (real VP8 or
    /// H.264 + Opus made by ffmpeg), N viewers.
    Streaming(StreamingArgs),
    /// The videoroom (or streaming) scenario against portunus and Janus 1.1.2, alternating,
    /// over a list of subscriber (viewer) counts, in network namespaces the tool creates
    /// (needs root); writes the configurations, results, a ratio table and an SVG plot.
    Compare(CompareArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The portunus binary (build it with `cargo build --release -p portunus`).
    #[arg(long, default_value = "target/release/portunus")]
    portunus: std::path::PathBuf,
    /// The Janus binary (Debian `janus` 1.1.2).
    #[arg(long, default_value = "/usr/bin/janus")]
    janus: std::path::PathBuf,
    /// Which scenario: videoroom (1..P publishers × N subscribers) or streaming (one RTP
    /// mountpoint × N viewers).
    #[arg(long, default_value = "videoroom")]
    scenario: compare::Scenario,
    /// Subscriber (viewer) counts, comma-separated.
    #[arg(short = 'n', long, value_delimiter = ',', default_values_t = [1u32, 5, 10, 20])]
    subscribers: Vec<u32>,
    #[arg(short = 'p', long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=videoroom::MAX_PUBLISHERS as i64))]
    publishers: u32,
    /// Seconds of each measurement window.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600u64))]
    duration: u64,
    #[arg(long)]
    simulcast: bool,
    /// Output folder (configurations, logs, JSON, comparison.md, comparison.svg).
    #[arg(long, default_value = "target/bench-compare")]
    out: std::path::PathBuf,
    /// Extra arguments passed to every scenario run (after `--`, e.g. `-- --video-codec h264`).
    #[arg(last = true)]
    extra: Vec<String>,
}

#[derive(clap::Args, Clone)]
struct VideoroomArgs {
    /// Publishers.
    #[arg(short = 'p', long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=videoroom::MAX_PUBLISHERS as i64))]
    publishers: u32,
    /// Subscribers (each receives every publisher on one PeerConnection).
    #[arg(short = 'n', long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=videoroom::MAX_SUBSCRIBERS as i64))]
    subscribers: u32,
    /// Seconds of the measurement window (after every subscriber is up).
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=videoroom::MAX_DURATION.as_secs()))]
    duration: u64,
    /// Publishers send three simulcast layers (h = the video size and bitrate, m = half
    /// size at 30%, l = quarter size at 10%).
    #[arg(long)]
    simulcast: bool,
    /// Use this existing room instead of creating one for the run.
    #[arg(long)]
    room: Option<u64>,
    /// The VideoRoom's admin_key, if room creation needs one.
    #[arg(long)]
    admin_key: Option<String>,
    /// Frames between keyframes in the clip (keyframe requests are honoured at once too).
    #[arg(long, default_value_t = 150,
          value_parser = clap::value_parser!(u32).range(1..=3000))]
    gop: u32,
    #[command(flatten)]
    common: ReceiverArgs,
}

#[derive(clap::Args, Clone)]
struct StreamingArgs {
    /// Viewers (each on its own PeerConnection).
    #[arg(short = 'n', long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=streaming::MAX_VIEWERS as i64))]
    viewers: u32,
    /// Seconds of the measurement window (after every viewer is up).
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=streaming::MAX_DURATION.as_secs()))]
    duration: u64,
    /// Use this existing RTP mountpoint (Opus and VP8 or H.264 as --video-codec says, e.g.
    /// Janus's sample 1) instead of creating one for the run.
    #[arg(long)]
    mountpoint: Option<u64>,
    /// The existing mountpoint's secret (its RTP ports are shown only with it; the Debian
    /// samples' is `adminpwd`).
    #[arg(long)]
    secret: Option<String>,
    /// The existing mountpoint's PIN, if it has one.
    #[arg(long)]
    pin: Option<String>,
    /// The Streaming plugin's admin_key, if mountpoint creation needs one.
    #[arg(long)]
    admin_key: Option<String>,
    /// The created mountpoint keeps the last keyframe for new viewers (`bufferkf`).
    #[arg(long)]
    bufferkf: bool,
    /// Where to send the RTP (default: the --server host).
    #[arg(long)]
    rtp_host: Option<std::net::IpAddr>,
    /// Frames between keyframes (a plain RTP source cannot be asked for one).
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=3000))]
    gop: u32,
    #[command(flatten)]
    common: ReceiverArgs,
}

/// What the scenarios with many receivers (VideoRoom subscribers, Streaming viewers) are
/// both asked: the server, the clip, setup and output.
#[derive(clap::Args, Clone)]
struct ReceiverArgs {
    /// Janus-API WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8188")]
    server: String,
    /// The server's pid: report its CPU time and memory from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Video size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    size: (u32, u32),
    /// Video codec of the clip: vp8, or h264 (libx264 constrained baseline,
    /// packetization-mode 1).
    #[arg(long, default_value = "vp8")]
    video_codec: VideoCodec,
    /// Video bitrate, kbit/s (with simulcast: of the top layer).
    #[arg(long, default_value_t = 1500,
          value_parser = clap::value_parser!(u32).range(50..=20_000))]
    video_kbps: u32,
    /// Seconds a receiver may take from its request (`join`, `watch`) to `webrtcup`.
    #[arg(long, default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=120u64))]
    setup_timeout: u64,
    /// Receivers (subscribers, viewers) set up at once.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=512))]
    setup_concurrency: u32,
    /// Local address for the tool's UDP sockets (its peers' ICE candidate, the RTP source).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Where the ffmpeg clips are cached (default: target/bench-media).
    #[arg(long)]
    media_dir: Option<std::path::PathBuf>,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Receivers listed one by one in the table (all are in the JSON).
    #[arg(long, default_value_t = 10)]
    rows: usize,
}

impl ReceiverArgs {
    /// The run these arguments ask for, `duration` seconds long, the clip with the
    /// scenario's keyframe interval.
    fn run_options(&self, duration: u64, gop: u32) -> RunOptions {
        let mut run = RunOptions::new(&self.server, Duration::from_secs(duration));
        run.server_pid = self.pid;
        run.bind = self.bind;
        run.setup_timeout = Duration::from_secs(self.setup_timeout);
        run.setup_concurrency = self.setup_concurrency as usize;
        run.video = VideoSpec {
            width: self.size.0,
            height: self.size.1,
            kbps: self.video_kbps,
            gop,
            codec: self.video_codec,
            ..VideoSpec::default()
        };
        if let Some(d) = &self.media_dir {
            run.media_dir = d.clone();
        }
        run
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let n = |v: &str| v.parse::<u32>().map_err(|e| format!("{v:?}: {e}"));
    Ok((n(w)?, n(h)?))
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
    /// What the video payloads are shaped as, and the codec negotiated: vp8 or h264.
    #[arg(long, default_value = "vp8")]
    video_codec: VideoCodec,
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
        Scenario::Videoroom(args) => runtime.block_on(run_videoroom(args)),
        Scenario::Streaming(args) => runtime.block_on(run_streaming(args)),
        Scenario::Compare(args) => run_compare(args),
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
        video_codec: args.video_codec,
        ..MediaProfile::default()
    };
    let live = Arc::new(Live::default());
    let (sessions, duration) = (opts.sessions, opts.duration);
    let run = echotest::run(opts, live.clone());
    let report = with_progress(live, sessions, duration, run)
        .await
        .context("echotest")?;
    print_report(&report, args.json, || report.to_table(args.rows))?;
    let errors = report.sessions.iter().map(|s| &s.error);
    none_up("session", true, report.totals.sessions_up, errors)
}

fn run_compare(args: CompareArgs) -> anyhow::Result<()> {
    if args.subscribers.is_empty() || args.subscribers.iter().any(|n| *n > 2000) {
        anyhow::bail!("subscriber counts must be 0..=2000");
    }
    if args.scenario == compare::Scenario::Streaming && (args.publishers != 1 || args.simulcast) {
        anyhow::bail!("-p and --simulcast are for the videoroom scenario");
    }
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    for (what, p) in [("portunus", &args.portunus), ("janus", &args.janus)] {
        if !p.is_file() {
            anyhow::bail!("{what} binary not found at {}", p.display());
        }
    }
    let opts = compare::CompareOptions {
        portunus: abs(&args.portunus),
        janus: abs(&args.janus),
        scenario: args.scenario,
        subscribers: args.subscribers,
        publishers: args.publishers,
        duration_s: args.duration,
        simulcast: args.simulcast,
        out: abs(&args.out),
        bench: std::env::current_exe().context("own path")?,
        extra: args.extra,
    };
    let rows = compare::run(&opts).map_err(anyhow::Error::msg)?;
    print!("{}", compare::table(&rows));
    println!(
        "\nconfigurations, logs and per-run JSON in {}; plot: {}",
        opts.out.display(),
        opts.out.join("comparison.svg").display()
    );
    Ok(())
}

fn videoroom_options(args: &VideoroomArgs) -> VideoroomOptions {
    VideoroomOptions {
        run: args.common.run_options(args.duration, args.gop),
        publishers: args.publishers as usize,
        subscribers: args.subscribers as usize,
        simulcast: args.simulcast,
        room: args.room,
        admin_key: args.admin_key.clone(),
    }
}

async fn run_videoroom(args: VideoroomArgs) -> anyhow::Result<()> {
    let opts = videoroom_options(&args);
    let live = Arc::new(Live::default());
    let (peers, duration) = (opts.publishers + opts.subscribers, opts.run.duration);
    let run = videoroom::run(opts, live.clone());
    let report = with_progress(live, peers, duration, run)
        .await
        .context("videoroom")?;
    let c = &args.common;
    print_report(&report, c.json, || report.to_table(c.rows))?;
    let errors = report.subscribers.iter().map(|s| &s.error);
    none_up(
        "subscriber",
        args.subscribers > 0,
        report.totals.subscribers_up,
        errors,
    )
}

fn streaming_options(args: &StreamingArgs) -> StreamingOptions {
    StreamingOptions {
        run: args.common.run_options(args.duration, args.gop),
        viewers: args.viewers as usize,
        mountpoint: args.mountpoint,
        secret: args.secret.clone(),
        pin: args.pin.clone(),
        admin_key: args.admin_key.clone(),
        bufferkf: args.bufferkf,
        rtp_host: args.rtp_host,
    }
}

async fn run_streaming(args: StreamingArgs) -> anyhow::Result<()> {
    let opts = streaming_options(&args);
    let live = Arc::new(Live::default());
    let (viewers, duration) = (opts.viewers, opts.run.duration);
    let run = streaming::run(opts, live.clone());
    let report = with_progress(live, viewers, duration, run)
        .await
        .context("streaming")?;
    let c = &args.common;
    print_report(&report, c.json, || report.to_table(c.rows))?;
    let errors = report.viewers.iter().map(|v| &v.error);
    none_up("viewer", args.viewers > 0, report.totals.viewers_up, errors)
}

/// Runs `run` under a progress bar of `sessions` to set up, then `duration` of media.
async fn with_progress<T>(
    live: Arc<Live>,
    sessions: usize,
    duration: Duration,
    run: impl std::future::Future<Output = T>,
) -> T {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let bar = progress(live, sessions, duration, stopped);
    let result = run.await;
    let _ = stop.send(());
    let _ = bar.await;
    result
}

/// The report as JSON or as the table for people, on stdout.
fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}

/// Fails the run when `what`s were asked for and none came up, with the first error seen.
fn none_up<'a>(
    what: &str,
    asked: bool,
    up: usize,
    errors: impl IntoIterator<Item = &'a Option<String>>,
) -> anyhow::Result<()> {
    if asked && up == 0 {
        let why = errors
            .into_iter()
            .find_map(Clone::clone)
            .unwrap_or_default();
        anyhow::bail!("no {what} came up: {why}");
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
