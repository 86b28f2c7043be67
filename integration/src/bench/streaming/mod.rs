//! The Streaming scenario: one RTP mountpoint fed by the tool with plain RTP (real VP8 and
//! Opus made by ffmpeg, at real rate), N viewers each on their own PeerConnection. The
//! source starts first and keeps sending; viewers `watch` while media flows (so watch →
//! first keyframe is what a user sees); then a measurement window of `duration` begins.
//!
//! Per viewer: packets and bytes received, loss, one-way latency (send instants found by
//! content in the [`Ledger`], as in the VideoRoom scenario), jitter, watch → first
//! keyframe. Overall: forwarded packets per server CPU-second, server CPU per forwarded
//! packet, server memory per PeerConnection, and the tool's own CPU.
//!
//! Video is VP8 or H.264 (`video.codec`), audio Opus. Only the Janus API is used: the same
//! run works against Janus 1.1.2's `janus.plugin.streaming` and portunus's.

pub mod feeder;
pub mod flow;
pub mod report;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::ledger::Ledger;
use super::live::{Live, Phase};
use super::payload::Kind;
use super::procfs;
use super::receivers::{
    Arrival, Measuring, Received, RunOptions, RunSamples, Window, connect, measuring_peer,
    set_up_all,
};
use crate::janus::JanusClient;
use crate::media::clip::{AudioClip, VideoClip};
use crate::media::ffmpeg::{self, AudioSpec, VideoSpec};
use crate::peer::RtpTap;
use feeder::{Feed, FeedContext, FeedCounts, Source};
use flow::Control;
pub use report::{StreamingReport, StreamingTotals, ViewerResult};

/// Longest media window accepted (the tool must stop by itself).
pub const MAX_DURATION: Duration = Duration::from_secs(600);
pub const MAX_VIEWERS: usize = 2000;
/// Janus drops sessions silent for 60 s by default.
const KEEPALIVE: Duration = Duration::from_secs(25);

/// How to run the scenario.
#[derive(Debug, Clone)]
pub struct StreamingOptions {
    /// Server, window, setup, clips (`run.setup_concurrency`: viewers set up at once).
    pub run: RunOptions,
    pub viewers: usize,
    /// An existing RTP mountpoint; `None` creates one for the run (destroyed afterwards).
    pub mountpoint: Option<u64>,
    /// The existing mountpoint's secret (its ports are shown only with it).
    pub secret: Option<String>,
    pub pin: Option<String>,
    /// The Streaming plugin's admin_key, if `create` needs one.
    pub admin_key: Option<String>,
    /// Created mountpoint: the plugin keeps the last keyframe for new viewers.
    pub bufferkf: bool,
    /// Where to send the RTP; default: the host of `server`.
    pub rtp_host: Option<IpAddr>,
}

impl StreamingOptions {
    pub fn new(server: impl Into<String>, viewers: usize, duration: Duration) -> Self {
        StreamingOptions {
            run: RunOptions::new(server, duration),
            viewers,
            mountpoint: None,
            secret: None,
            pin: None,
            admin_key: None,
            bufferkf: false,
            rtp_host: None,
        }
    }
}

/// Failures that stop the whole run (a failing viewer is only reported).
#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("media: {0}")]
    Media(#[from] crate::media::MediaError),
    #[error("server process: {0}")]
    Proc(#[from] procfs::ProcError),
    #[error("mountpoint: {0}")]
    Mountpoint(String),
    #[error("RTP source: {0}")]
    Source(String),
}

#[derive(Debug, Default)]
struct ViewerMeasure {
    /// By mountpoint stream index.
    streams: Vec<Received>,
    /// Offered mid → mountpoint stream (index, kind), known before media arrives.
    mids: HashMap<String, (usize, Kind)>,
    /// Packets not found in the ledger or on an unknown mid.
    unmatched: u64,
    /// Packets sent outside the window (before it, during setup).
    outside: u64,
    first_keyframe: Option<Instant>,
}

/// The host part of a `ws://host:port/path` URL (brackets of an IPv6 literal removed).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Where the RTP goes: `rtp_host`, else the server URL's host resolved.
async fn rtp_target(opts: &StreamingOptions) -> Result<IpAddr, StreamingError> {
    if let Some(h) = opts.rtp_host {
        return Ok(h);
    }
    let host = url_host(&opts.run.server)
        .ok_or_else(|| StreamingError::Options(format!("no host in {}", opts.run.server)))?;
    tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| StreamingError::Source(format!("resolve {host}: {e}")))?
        .map(|a| a.ip())
        .next()
        .ok_or_else(|| StreamingError::Source(format!("{host} has no address")))
}

/// Runs the scenario to the end (bounded by setup timeouts, the duration and the drain).
pub async fn run(
    opts: StreamingOptions,
    live: Arc<Live>,
) -> Result<StreamingReport, StreamingError> {
    check(&opts)?;
    let (video, audio) = {
        let (dir, v, a) = (opts.run.media_dir.clone(), opts.run.video, opts.run.audio);
        tokio::task::spawn_blocking(move || load_media(&dir, &v, &a))
            .await
            .map_err(|e| StreamingError::Source(format!("media task: {e}")))??
    };
    let target = rtp_target(&opts).await?;
    let mut samples = RunSamples::start(opts.run.server_pid)?;
    let epoch = Instant::now();
    let ledger = Arc::new(Ledger::default());
    let window = Arc::new(Window::default());
    live.set_phase(Phase::Setup);

    let control_client = connect(&opts.run.server)
        .await
        .map_err(StreamingError::Mountpoint)?;
    let control = Control::attach(&control_client)
        .await
        .map_err(StreamingError::Mountpoint)?;
    let secret = opts
        .secret
        .clone()
        .unwrap_or_else(|| format!("portunus-bench-{:016x}", rand::random::<u64>()));
    let (mountpoint, created, streams) = match opts.mountpoint {
        Some(id) => {
            let s = control
                .info(
                    &control_client,
                    id,
                    opts.secret.as_deref(),
                    opts.run.video.codec,
                    opts.run.setup_timeout,
                )
                .await
                .map_err(StreamingError::Mountpoint)?;
            (id, false, s)
        }
        None => {
            let (id, s) = control
                .create(
                    &control_client,
                    &secret,
                    opts.admin_key.as_deref(),
                    opts.bufferkf,
                    opts.run.video.codec,
                    opts.run.setup_timeout,
                )
                .await
                .map_err(StreamingError::Mountpoint)?;
            (id, true, s)
        }
    };
    if streams.len() > usize::from(u16::MAX) {
        return Err(StreamingError::Mountpoint("too many streams".into()));
    }

    // The source: one task per stream, sending until told to stop.
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(FeedContext {
        ledger: ledger.clone(),
        window: window.clone(),
        live: live.clone(),
        epoch,
        max_payload: opts.run.max_payload,
    });
    let mut counts = Vec::with_capacity(streams.len());
    let mut feeders = Vec::with_capacity(streams.len());
    for (i, s) in streams.iter().enumerate() {
        let socket = UdpSocket::bind(SocketAddr::new(opts.run.bind, 0))
            .await
            .map_err(|e| StreamingError::Source(format!("bind {}: {e}", opts.run.bind)))?;
        let source = match s.kind {
            Kind::Audio => Source::Audio(audio.clone()),
            Kind::Video => Source::Video(video.clone()),
        };
        let c = Arc::new(FeedCounts::default());
        counts.push(c.clone());
        let feed = Feed {
            index: i as u16,
            stream: s.clone(),
            socket,
            target: SocketAddr::new(target, s.port),
            source,
        };
        feeders.push(tokio::spawn(feeder::feed(
            feed,
            ctx.clone(),
            c,
            stop_rx.clone(),
        )));
    }
    let control_client = Arc::new(control_client);
    let mut keepalives = vec![tokio::spawn(keepalive(
        control_client.clone(),
        control.session,
        stop_rx.clone(),
    ))];

    // Viewers, a bounded number at a time.
    let measuring = Measuring {
        ledger: ledger.clone(),
        window: window.clone(),
        live: live.clone(),
        epoch,
    };
    let streams_shared: Arc<Vec<flow::MountStream>> = Arc::new(streams.clone());
    let stream_count = streams.len();
    let (viewers, task_errors) = set_up_all(
        "viewer",
        opts.viewers,
        opts.run.setup_concurrency,
        &live,
        || ViewerMeasure {
            streams: vec![Received::default(); stream_count],
            ..ViewerMeasure::default()
        },
        |_, measure| {
            let (opts, mount, ctx) = (opts.clone(), streams_shared.clone(), measuring.clone());
            async move { watch_one(&opts, mountpoint, mount, ctx, &measure).await }
        },
    )
    .await;
    for e in task_errors {
        tracing::warn!("{e}");
    }
    for (_, r, _) in &viewers {
        if let Ok((client, v)) = r {
            keepalives.push(tokio::spawn(keepalive(
                client.clone(),
                v.session,
                stop_rx.clone(),
            )));
        }
    }

    // The measurement window.
    let window_s = samples
        .window(&window, epoch, &live, opts.run.duration)
        .await?;
    let _ = stop_tx.send(true);
    for f in feeders {
        let _ = f.await;
    }
    tokio::time::sleep(opts.run.drain).await;
    let usage = samples.finish()?;

    let report = report::build(report::Inputs {
        opts: &opts,
        mountpoint,
        created,
        streams: &streams,
        sent: &counts,
        window_s,
        viewers: &viewers,
        usage,
        ledger_entries: ledger.len(),
    });

    // Teardown: viewers, then the mountpoint.
    live.set_phase(Phase::Teardown);
    for k in keepalives {
        let _ = k.await;
    }
    let downs: Vec<_> = viewers
        .into_iter()
        .filter_map(|(_, r, _)| r.ok())
        .map(|(client, v)| {
            tokio::spawn(async move {
                let bye = async {
                    let _ = client.destroy(v.session).await;
                    v.peer.close().await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
            })
        })
        .collect();
    for d in downs {
        let _ = d.await;
    }
    if created
        && let Err(e) = control
            .destroy(&control_client, mountpoint, &secret, Duration::from_secs(5))
            .await
    {
        tracing::warn!("destroy mountpoint {mountpoint}: {e}");
    }
    let _ = control_client.destroy(control.session).await;
    live.set_phase(Phase::Done);
    Ok(report)
}

fn check(opts: &StreamingOptions) -> Result<(), StreamingError> {
    let bad = |m: String| Err(StreamingError::Options(m));
    if opts.viewers > MAX_VIEWERS {
        return bad(format!("viewers must be 0..={MAX_VIEWERS}"));
    }
    opts.run
        .check(MAX_DURATION)
        .map_err(StreamingError::Options)?;
    if opts.mountpoint.is_none() && opts.pin.is_some() {
        return bad("--pin is for an existing --mountpoint".into());
    }
    Ok(())
}

type Clips = (Arc<VideoClip>, Arc<AudioClip>);

fn load_media(
    dir: &std::path::Path,
    video: &VideoSpec,
    audio: &AudioSpec,
) -> Result<Clips, crate::media::MediaError> {
    let v = VideoClip::load_spec(&ffmpeg::ensure_video(dir, video)?, video)?;
    let a = AudioClip::load(&ffmpeg::ensure_audio(dir, audio)?)?;
    Ok((Arc::new(v), Arc::new(a)))
}

/// Keeps `session` alive until `stop` (runs may outlast Janus's 60 s session timeout).
async fn keepalive(client: Arc<JanusClient>, session: u64, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                if let Err(e) = client.keepalive(session).await {
                    tracing::warn!(session, "keepalive: {e}");
                }
            }
        }
    }
}

type Watched = (Arc<JanusClient>, flow::Viewer);

/// Connects one viewer with a tap measuring every packet against the ledger.
async fn watch_one(
    opts: &StreamingOptions,
    mountpoint: u64,
    mount: Arc<Vec<flow::MountStream>>,
    ctx: Measuring,
    measure: &Arc<Mutex<ViewerMeasure>>,
) -> Result<Watched, String> {
    let client = connect(&opts.run.server).await?;
    let m = measure.clone();
    let codec = opts.run.video.codec;
    let tap = RtpTap(Arc::new(move |mid: &str, payload: &[u8], at: Instant| {
        let mut m = m.lock();
        let Some(&(index, kind)) = m.mids.get(mid) else {
            m.unmatched += 1;
            return;
        };
        if kind == Kind::Video && m.first_keyframe.is_none() && codec.is_keyframe_start(payload) {
            m.first_keyframe = Some(at);
        }
        match ctx.arrival(index as u16, kind, payload, at) {
            Arrival::Unmatched => m.unmatched += 1,
            Arrival::Outside => m.outside += 1,
            Arrival::Inside { sent, arrived_us } => {
                if let Some(s) = m.streams.get_mut(index) {
                    s.record(payload.len(), sent.at_us, arrived_us);
                    ctx.counted();
                }
            }
        }
    }));
    let config = measuring_peer(opts.run.bind, opts.run.video.codec, tap);
    let viewer = tokio::time::timeout(
        opts.run.setup_timeout,
        flow::watch(
            &client,
            mountpoint,
            opts.pin.as_deref(),
            config,
            |offered| measure.lock().mids = flow::match_offer(&mount, offered),
            opts.run.setup_timeout,
        ),
    )
    .await
    .map_err(|_| format!("not up within {} s", opts.run.setup_timeout.as_secs()))??;
    Ok((Arc::new(client), viewer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_host_of_a_server_url() {
        assert_eq!(url_host("ws://10.199.3.1:8188"), Some("10.199.3.1"));
        assert_eq!(url_host("ws://localhost:8188/janus"), Some("localhost"));
        assert_eq!(
            url_host("wss://user:pw@example.test/x"),
            Some("example.test")
        );
        assert_eq!(url_host("ws://[::1]:8188/"), Some("::1"));
        assert_eq!(url_host("127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(url_host("ws://"), None);
        assert_eq!(url_host("ws://[::1"), None);
        assert_eq!(url_host("ws://:8188"), None);
    }

    #[test]
    fn rejects_bad_options() {
        let ok = StreamingOptions::new("ws://127.0.0.1:8188", 2, Duration::from_secs(5));
        assert!(check(&ok).is_ok());
        let mut o = ok.clone();
        o.viewers = MAX_VIEWERS + 1;
        assert!(check(&o).is_err());
        let mut o = ok.clone();
        o.run.duration = Duration::ZERO;
        assert!(check(&o).is_err());
        let mut o = ok.clone();
        o.run.duration = MAX_DURATION + Duration::from_secs(1);
        assert!(check(&o).is_err());
        let mut o = ok.clone();
        o.run.max_payload = 100;
        assert!(check(&o).is_err());
        let mut o = ok.clone();
        o.run.video.fps = 0;
        assert!(check(&o).is_err());
        let mut o = ok.clone();
        o.pin = Some("1234".into());
        assert!(check(&o).is_err());
        o.mountpoint = Some(1);
        assert!(check(&o).is_ok());
    }
}
