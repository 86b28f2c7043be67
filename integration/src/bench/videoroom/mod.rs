//! The VideoRoom scenario: P publishers send real VP8 or H.264 (`video.codec`; optionally
//! three simulcast layers) and Opus, made by ffmpeg and packetized at real rate; N subscribers each receive every
//! publisher on one multistream PeerConnection. Publishers start first and keep sending;
//! subscribers join while media flows (so join → first keyframe is what a user sees); then
//! a measurement window of `duration` begins.
//!
//! Per subscriber: packets and bytes received, loss, one-way latency (the send instant is
//! found by content in the [`Ledger`]: nothing is added to the payload), jitter, join → first
//! keyframe. Overall: forwarded packets per server CPU-second, server CPU per forwarded
//! packet, server memory per PeerConnection, and the tool's own CPU.

pub mod flow;
pub mod report;
mod sender;

pub use sender::RunningPublisher;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
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
pub use report::{SubscriberResult, VideoroomReport, VideoroomTotals};

/// Longest media window accepted (the tool must stop by itself).
pub const MAX_DURATION: Duration = Duration::from_secs(600);
pub const MAX_PUBLISHERS: usize = 16;
pub const MAX_SUBSCRIBERS: usize = 2000;
/// Simulcast RIDs, highest first (the order browsers offer and Janus's default `hml`).
pub const RIDS: [&str; 3] = ["h", "m", "l"];

/// How to run the scenario.
#[derive(Debug, Clone)]
pub struct VideoroomOptions {
    /// Server, window, setup, clips (`run.setup_concurrency`: subscribers set up at once).
    pub run: RunOptions,
    pub publishers: usize,
    pub subscribers: usize,
    /// Publishers send three layers (h = the video spec, m = half size at 30%, l = quarter
    /// size at 10% of the bitrate).
    pub simulcast: bool,
    /// An existing room; `None` creates one for the run (and destroys it afterwards).
    pub room: Option<u64>,
    pub admin_key: Option<String>,
}

impl VideoroomOptions {
    pub fn new(server: impl Into<String>, subscribers: usize, duration: Duration) -> Self {
        VideoroomOptions {
            run: RunOptions::new(server, duration),
            publishers: 1,
            subscribers,
            simulcast: false,
            room: None,
            admin_key: None,
        }
    }

    /// The video clips to send, lowest layer first (one without simulcast).
    pub fn layer_specs(&self) -> Vec<VideoSpec> {
        let v = self.run.video;
        if !self.simulcast {
            return vec![v];
        }
        let scaled = |div: u32, pct: u32| VideoSpec {
            width: (v.width / div) & !1,
            height: (v.height / div) & !1,
            kbps: (v.kbps * pct / 100).max(30),
            ..v
        };
        vec![scaled(4, 10), scaled(2, 30), v]
    }
}

/// Failures that stop the whole run (a failing participant is only reported).
#[derive(Debug, thiserror::Error)]
pub enum VideoroomError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("media: {0}")]
    Media(#[from] crate::media::MediaError),
    #[error("server process: {0}")]
    Proc(#[from] procfs::ProcError),
    #[error("room: {0}")]
    Room(String),
    #[error("no publisher came up: {0}")]
    NoPublisher(String),
}

/// Packets a publisher sent inside the window: audio, then video layers 0..=2.
#[derive(Debug, Default)]
pub(crate) struct SentCounts {
    pub(crate) packets: [AtomicU64; 4],
    pub(crate) keyframe_requests: AtomicU64,
}

/// One received stream (a subscriber m-line) as measured.
#[derive(Debug, Default, Clone)]
struct StreamMeasure {
    publisher: u16,
    video: bool,
    received: Received,
    /// Packets per simulcast layer.
    layers: [u64; 3],
}

#[derive(Debug, Default)]
struct SubscriberMeasure {
    streams: HashMap<String, StreamMeasure>,
    /// Packets not found in the ledger (not sent by a bench publisher) or on an unknown mid.
    unmatched: u64,
    /// Packets sent outside the window (before it, during setup).
    outside: u64,
    first_keyframe: Option<Instant>,
}

/// Runs the scenario to the end (bounded by setup timeouts, the duration and the drain).
pub async fn run(
    opts: VideoroomOptions,
    live: Arc<Live>,
) -> Result<VideoroomReport, VideoroomError> {
    check(&opts)?;
    let specs = opts.layer_specs();
    let (videos, audio) = {
        let (dir, specs, audio) = (opts.run.media_dir.clone(), specs.clone(), opts.run.audio);
        tokio::task::spawn_blocking(move || load_media(&dir, &specs, &audio))
            .await
            .map_err(|e| VideoroomError::Room(format!("media task: {e}")))??
    };
    let mut samples = RunSamples::start(opts.run.server_pid)?;
    let epoch = Instant::now();
    let ledger = Arc::new(Ledger::default());
    let window = Arc::new(Window::default());
    live.set_phase(Phase::Setup);

    let control = connect(&opts.run.server)
        .await
        .map_err(VideoroomError::Room)?;
    let created = match opts.room {
        Some(_) => None,
        None => Some(
            flow::create_room(
                &control,
                opts.publishers,
                opts.run.video.codec,
                opts.admin_key.as_deref(),
                opts.run.setup_timeout,
            )
            .await
            .map_err(VideoroomError::Room)?,
        ),
    };
    let room = opts.room.or(created.map(|c| c.0)).unwrap_or_default();

    // Publishers: set up, then send until told to stop.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pubs = Vec::new();
    let mut pub_errors = Vec::new();
    let pub_tasks: Vec<_> = (0..opts.publishers)
        .map(|i| {
            let ctx = sender::SenderContext {
                index: i as u16,
                videos: videos.clone(),
                audio: audio.clone(),
                ledger: ledger.clone(),
                window: window.clone(),
                counts: Arc::new(SentCounts::default()),
                live: live.clone(),
                epoch,
                max_payload: opts.run.max_payload,
                simulcast: opts.simulcast,
            };
            let opts = opts.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move { sender::start(&opts, room, ctx, stop).await })
        })
        .collect();
    for t in pub_tasks {
        match t.await {
            Ok(Ok(p)) => {
                live.sessions_up.fetch_add(1, Ordering::Relaxed);
                pubs.push(p);
            }
            Ok(Err(e)) => {
                live.sessions_failed.fetch_add(1, Ordering::Relaxed);
                pub_errors.push(e);
            }
            Err(e) => pub_errors.push(format!("publisher task: {e}")),
        }
    }
    if pubs.is_empty() {
        let _ = stop_tx.send(true);
        cleanup_room(&control, created, opts.admin_key.as_deref()).await;
        return Err(VideoroomError::NoPublisher(pub_errors.join("; ")));
    }
    let feeds: Vec<u64> = pubs.iter().map(|p| p.id).collect();
    let feed_index: Arc<HashMap<u64, u16>> = Arc::new(
        feeds
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u16))
            .collect(),
    );

    // Subscribers, a bounded number at a time.
    let measuring = Measuring {
        ledger: ledger.clone(),
        window: window.clone(),
        live: live.clone(),
        epoch,
    };
    let (subs, task_errors) = set_up_all(
        "subscriber",
        opts.subscribers,
        opts.run.setup_concurrency,
        &live,
        SubscriberMeasure::default,
        |_, measure| {
            let (opts, ctx) = (opts.clone(), measuring.clone());
            let (feeds, feed_index) = (feeds.clone(), feed_index.clone());
            async move { subscribe_one(&opts, room, &feeds, feed_index, ctx, &measure).await }
        },
    )
    .await;
    pub_errors.extend(task_errors);

    // The measurement window.
    let window_s = samples
        .window(&window, epoch, &live, opts.run.duration)
        .await?;
    let _ = stop_tx.send(true);
    tokio::time::sleep(opts.run.drain).await;
    let usage = samples.finish()?;

    let report = report::build(report::Inputs {
        opts: &opts,
        room,
        window_s,
        publishers: &pubs,
        publisher_errors: &pub_errors,
        subscribers: &subs,
        usage,
        ledger_entries: ledger.len(),
    });

    // Teardown: subscribers, then publishers, then the room.
    live.set_phase(Phase::Teardown);
    let downs: Vec<_> = subs
        .into_iter()
        .filter_map(|(_, r, _)| r.ok())
        .map(|(client, s)| {
            tokio::spawn(async move {
                let bye = async {
                    let _ = client.destroy(s.session).await;
                    s.peer.close().await;
                    let _ = client.close().await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
            })
        })
        .collect();
    for d in downs {
        let _ = d.await;
    }
    for p in pubs {
        p.shutdown().await;
    }
    cleanup_room(&control, created, opts.admin_key.as_deref()).await;
    let _ = control.close().await;
    live.set_phase(Phase::Done);
    Ok(report)
}

fn check(opts: &VideoroomOptions) -> Result<(), VideoroomError> {
    let bad = |m: String| Err(VideoroomError::Options(m));
    if opts.publishers == 0 || opts.publishers > MAX_PUBLISHERS {
        return bad(format!("publishers must be 1..={MAX_PUBLISHERS}"));
    }
    if opts.subscribers > MAX_SUBSCRIBERS {
        return bad(format!("subscribers must be 0..={MAX_SUBSCRIBERS}"));
    }
    opts.run
        .check(MAX_DURATION)
        .map_err(VideoroomError::Options)
}

/// The clips every publisher plays: one per simulcast layer, and the audio.
type Clips = (Arc<Vec<Arc<VideoClip>>>, Arc<AudioClip>);

fn load_media(
    dir: &std::path::Path,
    specs: &[VideoSpec],
    audio: &AudioSpec,
) -> Result<Clips, crate::media::MediaError> {
    let videos = specs
        .iter()
        .map(|s| {
            Ok(Arc::new(VideoClip::load_spec(
                &ffmpeg::ensure_video(dir, s)?,
                s,
            )?))
        })
        .collect::<Result<Vec<_>, crate::media::MediaError>>()?;
    let audio = AudioClip::load(&ffmpeg::ensure_audio(dir, audio)?)?;
    Ok((Arc::new(videos), Arc::new(audio)))
}

async fn cleanup_room(control: &JanusClient, created: Option<(u64, u64, u64)>, key: Option<&str>) {
    let Some((room, session, handle)) = created else {
        return;
    };
    let mut body = serde_json::json!({"request": "destroy", "room": room});
    if let Some(k) = key {
        body["admin_key"] = serde_json::json!(k);
    }
    let _ = flow::request(control, session, handle, body, None, Duration::from_secs(5)).await;
    let _ = control.destroy(session).await;
}

type Subscribed = (JanusClient, flow::Subscriber);

/// Connects one subscriber with a tap measuring every packet against the ledger.
async fn subscribe_one(
    opts: &VideoroomOptions,
    room: u64,
    feeds: &[u64],
    feed_index: Arc<HashMap<u64, u16>>,
    ctx: Measuring,
    measure: &Arc<Mutex<SubscriberMeasure>>,
) -> Result<Subscribed, String> {
    let client = connect(&opts.run.server).await?;
    let m = measure.clone();
    let codec = opts.run.video.codec;
    let tap = RtpTap(Arc::new(move |mid: &str, payload: &[u8], at: Instant| {
        let mut m = m.lock();
        let Some(stream) = m.streams.get(mid) else {
            m.unmatched += 1;
            return;
        };
        let (publisher, video) = (stream.publisher, stream.video);
        let kind = if video { Kind::Video } else { Kind::Audio };
        if video && m.first_keyframe.is_none() && codec.is_keyframe_start(payload) {
            m.first_keyframe = Some(at);
        }
        match ctx.arrival(publisher, kind, payload, at) {
            Arrival::Unmatched => m.unmatched += 1,
            Arrival::Outside => m.outside += 1,
            Arrival::Inside { sent, arrived_us } => {
                if let Some(s) = m.streams.get_mut(mid) {
                    s.received.record(payload.len(), sent.at_us, arrived_us);
                    s.layers[usize::from(sent.layer.min(2))] += 1;
                    ctx.counted();
                }
            }
        }
    }));
    let config = measuring_peer(opts.run.bind, opts.run.video.codec, tap);
    let m = measure.clone();
    let on_streams = move |streams: HashMap<String, flow::SubStream>| {
        let mut m = m.lock();
        for (mid, s) in streams {
            if let Some(p) = feed_index.get(&s.feed) {
                m.streams.insert(
                    mid,
                    StreamMeasure {
                        publisher: *p,
                        video: s.video,
                        ..StreamMeasure::default()
                    },
                );
            }
        }
    };
    let sub = tokio::time::timeout(
        opts.run.setup_timeout,
        flow::subscribe(
            &client,
            room,
            feeds,
            config,
            on_streams,
            opts.run.setup_timeout,
        ),
    )
    .await
    .map_err(|_| format!("not up within {} s", opts.run.setup_timeout.as_secs()))??;
    Ok((client, sub))
}
