//! A publisher: joins, publishes, and sends its clips at real rate until told to stop,
//! recording every packet in the ledger before it leaves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use str0m::media::MediaKind;
use tokio::sync::watch;

use super::{RIDS, SentCounts, VideoroomOptions, Window, flow};
use crate::bench::ledger::{Ledger, Sent};
use crate::bench::live::Live;
use crate::bench::payload::Kind;
use crate::janus::{Endpoint, JanusClient};
use crate::media::clip::{AudioClip, AudioCursor, VideoClip, VideoCursor};
use crate::peer::{KeyframeTap, PeerConfig};

/// Janus drops sessions silent for 60 s by default.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// Keyframe requests closer than this to the last honoured one are merged (browsers do too).
const KEYFRAME_GAP: Duration = Duration::from_millis(300);

pub(crate) struct SenderContext {
    pub(crate) index: u16,
    /// One clip per layer, lowest first.
    pub(crate) videos: Arc<Vec<Arc<VideoClip>>>,
    pub(crate) audio: Arc<AudioClip>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) window: Arc<Window>,
    pub(crate) counts: Arc<SentCounts>,
    pub(crate) live: Arc<Live>,
    pub(crate) epoch: Instant,
    pub(crate) max_payload: usize,
    pub(crate) simulcast: bool,
}

/// A publisher sending in the background.
pub struct RunningPublisher {
    pub index: u16,
    pub id: u64,
    pub setup: Duration,
    pub(crate) counts: Arc<SentCounts>,
    client: Arc<JanusClient>,
    session: u64,
    sending: tokio::task::JoinHandle<flow::Publisher>,
}

impl RunningPublisher {
    /// Packets sent inside the window: audio, then video per layer (lowest first).
    pub fn sent_in_window(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.counts.packets[i].load(Ordering::Relaxed))
    }

    pub fn keyframe_requests(&self) -> u64 {
        self.counts.keyframe_requests.load(Ordering::Relaxed)
    }

    /// Waits for the sender (stopped by the run) and leaves.
    pub async fn shutdown(self) {
        let bye = async {
            if let Ok(p) = self.sending.await {
                let _ = self.client.destroy(self.session).await;
                p.peer.close().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
    }
}

/// Connects, publishes and starts sending.
pub(crate) async fn start(
    opts: &VideoroomOptions,
    room: u64,
    ctx: SenderContext,
    stop: watch::Receiver<bool>,
) -> Result<RunningPublisher, String> {
    let client = JanusClient::connect(&Endpoint::WebSocket(opts.run.server.clone()))
        .await
        .map_err(|e| format!("connect {}: {e}", opts.run.server))?;
    let layers = ctx.videos.len();
    let wanted: Arc<Vec<AtomicBool>> =
        Arc::new((0..layers).map(|_| AtomicBool::new(false)).collect());
    let w = wanted.clone();
    let counts = ctx.counts.clone();
    let keyframe_tap = KeyframeTap(Arc::new(move |_mid: &str, rid: Option<&str>| {
        // RIDs are highest first; layers lowest first.
        let layer = match rid {
            Some(r) => RIDS
                .iter()
                .position(|x| *x == r)
                .map(|p| layers.saturating_sub(1 + p)),
            None => Some(layers - 1),
        };
        if let Some(flag) = layer.and_then(|l| w.get(l)) {
            flag.store(true, Ordering::Relaxed);
        }
        counts.keyframe_requests.fetch_add(1, Ordering::Relaxed);
    }));
    let config = PeerConfig {
        bind: SocketAddr::new(opts.run.bind, 0),
        data_channel: None,
        keep_payloads: 0,
        simulcast: if ctx.simulcast {
            RIDS.iter().map(|r| r.to_string()).collect()
        } else {
            Vec::new()
        },
        keyframe_tap: Some(keyframe_tap),
        video_codec: ctx.videos[0].codec(),
        ..PeerConfig::default()
    };
    let display = format!("bench-{}", ctx.index);
    let publisher = tokio::time::timeout(
        opts.run.setup_timeout,
        flow::publish(&client, room, &display, config, opts.run.setup_timeout),
    )
    .await
    .map_err(|_| format!("not up within {} s", opts.run.setup_timeout.as_secs()))??;
    let client = Arc::new(client);
    let (id, session, setup) = (
        publisher.id,
        publisher.session,
        publisher.up_at - publisher.created_at,
    );
    let index = ctx.index;
    let counts = ctx.counts.clone();
    let c = client.clone();
    let sending = tokio::spawn(async move {
        send(&c, &publisher, ctx, wanted, stop).await;
        publisher
    });
    Ok(RunningPublisher {
        index,
        id,
        setup,
        counts,
        client,
        session,
        sending,
    })
}

async fn send(
    client: &JanusClient,
    publisher: &flow::Publisher,
    ctx: SenderContext,
    wanted: Arc<Vec<AtomicBool>>,
    mut stop: watch::Receiver<bool>,
) {
    let state = publisher.peer.state();
    let (Some(audio_mid), Some(video_mid)) = (
        state.mid_of(MediaKind::Audio).map(str::to_string),
        state.mid_of(MediaKind::Video).map(str::to_string),
    ) else {
        tracing::warn!(publisher = ctx.index, "no audio or video m-line to send on");
        return;
    };
    let layers = ctx.videos.len();
    // Publishers start at different points of the clip, as different cameras would.
    let offset = usize::from(ctx.index) * 37;
    let mut videos: Vec<VideoCursor> = ctx
        .videos
        .iter()
        .map(|c| VideoCursor::new(c.clone(), offset))
        .collect();
    let mut audio = AudioCursor::new(ctx.audio.clone(), offset);
    let mut last_key = vec![None::<Instant>; layers];
    let fps = videos[0].fps();
    let now = tokio::time::Instant::now();
    let mut video_tick = tokio::time::interval_at(now, Duration::from_secs(1) / fps);
    let mut audio_tick = tokio::time::interval_at(now, Duration::from_millis(20));
    let mut keepalive = tokio::time::interval_at(now + KEEPALIVE, KEEPALIVE);
    for t in [&mut video_tick, &mut audio_tick] {
        // A late tick is sent late, not in a burst: real senders do not catch up.
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let now_us = || ctx.epoch.elapsed().as_micros() as u64;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = keepalive.tick() => {
                if let Err(e) = client.keepalive(publisher.session).await {
                    tracing::warn!(publisher = ctx.index, "keepalive: {e}");
                }
            }
            _ = audio_tick.tick() => {
                let (p, step) = audio.next_packet();
                let at_us = now_us();
                ctx.ledger.record(ctx.index, &p, Sent { at_us, kind: Kind::Audio, layer: 0 });
                count(&ctx, at_us, 0, 1);
                if let Err(e) = publisher.peer.send_frame(&audio_mid, vec![p], step).await {
                    tracing::warn!(publisher = ctx.index, "audio send failed, stopping: {e}");
                    break;
                }
            }
            _ = video_tick.tick() => {
                for (layer, cursor) in videos.iter_mut().enumerate() {
                    if wanted[layer].swap(false, Ordering::Relaxed) {
                        let now = Instant::now();
                        if last_key[layer].is_none_or(|t| now - t >= KEYFRAME_GAP) {
                            cursor.request_keyframe();
                            last_key[layer] = Some(now);
                        }
                    }
                    let frame = cursor.next_frame(ctx.max_payload);
                    let at_us = now_us();
                    for p in &frame.packets {
                        ctx.ledger.record(ctx.index, p, Sent { at_us, kind: Kind::Video, layer: layer as u8 });
                    }
                    count(&ctx, at_us, 1 + layer, frame.packets.len() as u64);
                    let rid = ctx.simulcast.then(|| RIDS[layers - 1 - layer]);
                    let step = cursor.rtp_step();
                    if let Err(e) = publisher.peer.send_frame_on(&video_mid, rid, frame.packets, step).await {
                        tracing::warn!(publisher = ctx.index, "video send failed, stopping: {e}");
                        return;
                    }
                }
            }
        }
    }
}

fn count(ctx: &SenderContext, at_us: u64, slot: usize, packets: u64) {
    ctx.live.sent_packets.fetch_add(packets, Ordering::Relaxed);
    if ctx.window.contains(at_us) {
        ctx.counts.packets[slot].fetch_add(packets, Ordering::Relaxed);
    }
}
