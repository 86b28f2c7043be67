//! The EchoTest scenario: N sessions, each on its own WebSocket and PeerConnection, set up
//! in parallel; then all send audio and video at real rates for the same window, and every
//! echoed packet is measured as it arrives (on the peer's driver task, through an RTP tap).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use str0m::media::MediaKind;

pub use super::live::{Live, Phase};
use super::payload::{self, Kind, MediaProfile};
use super::procfs::{self, Pid, ProcError, ProcSample, ProcUsage};
use super::report::{EchotestReport, SessionResult, StreamResult, Totals};
use super::stats::{Histogram, StreamStats};
use crate::echo::{EchoCall, EchoOptions};
use crate::janus::{Endpoint, JanusClient};
use crate::peer::{PeerConfig, RtpTap};

/// Longest media window accepted (the tool must stop by itself).
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most sessions accepted (each takes a UDP port, a WebSocket and a task).
pub const MAX_SESSIONS: usize = 2000;
/// Janus drops sessions silent for 60 s by default.
const KEEPALIVE: Duration = Duration::from_secs(25);

/// How to run the scenario.
#[derive(Debug, Clone)]
pub struct EchotestOptions {
    /// Janus-API WebSocket URL, e.g. `ws://127.0.0.1:8188`.
    pub server: String,
    pub sessions: usize,
    /// Media window (all sessions send during the same window).
    pub duration: Duration,
    /// The server's pid, to report its CPU time and memory.
    pub server_pid: Option<u32>,
    pub media: MediaProfile,
    /// Longest a session may take from `create` to `webrtcup`.
    pub setup_timeout: Duration,
    /// How long to keep receiving after the last packet is sent.
    pub drain: Duration,
    /// Local address of the peers' UDP sockets (their only ICE candidate). Loopback by
    /// default; Janus gathers no loopback candidates, so use a test address against it.
    pub bind: IpAddr,
}

impl EchotestOptions {
    pub fn new(server: impl Into<String>, sessions: usize, duration: Duration) -> Self {
        EchotestOptions {
            server: server.into(),
            sessions,
            duration,
            server_pid: None,
            media: MediaProfile::default(),
            setup_timeout: Duration::from_secs(20),
            drain: Duration::from_secs(1),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// Failures that stop the whole run (a failing session is only reported).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("server process: {0}")]
    Proc(#[from] ProcError),
}

/// Measurements of one session, written by its sender task and its peer's RTP tap.
#[derive(Debug, Default)]
struct SessionStats {
    audio: StreamStats,
    video: StreamStats,
    /// RTP payloads that were not bench payloads (e.g. padding probes).
    foreign: u64,
    send_errors: u64,
}

impl SessionStats {
    fn stream(&mut self, kind: Kind) -> &mut StreamStats {
        match kind {
            Kind::Audio => &mut self.audio,
            Kind::Video => &mut self.video,
        }
    }
}

struct Session {
    index: usize,
    stats: Arc<Mutex<SessionStats>>,
    /// The call, until its sender task takes it.
    call: Option<(JanusClient, EchoCall)>,
    /// Why the session did not run to the end.
    error: Option<String>,
}

/// Runs the scenario to the end (bounded by the setup timeout, the duration and the drain).
pub async fn run(opts: EchotestOptions, live: Arc<Live>) -> Result<EchotestReport, BenchError> {
    if opts.sessions == 0 || opts.sessions > MAX_SESSIONS {
        return Err(BenchError::Options(format!(
            "sessions must be 1..={MAX_SESSIONS}, got {}",
            opts.sessions
        )));
    }
    if opts.duration.is_zero() || opts.duration > MAX_DURATION {
        return Err(BenchError::Options(format!(
            "duration must be 1..={} s, got {:?}",
            MAX_DURATION.as_secs(),
            opts.duration
        )));
    }
    let server_pid = opts.server_pid.map(Pid::Other);
    let sample_server = || server_pid.map(procfs::sample).transpose();
    let server_start = sample_server()?;
    let client_start = procfs::sample(Pid::Current)?;
    // Send and arrival times are microseconds since this instant.
    let epoch = Instant::now();

    live.set_phase(Phase::Setup);
    let setups = (0..opts.sessions).map(|index| {
        let opts = opts.clone();
        let live = live.clone();
        tokio::spawn(async move {
            let stats = Arc::new(Mutex::new(SessionStats::default()));
            let setup = set_up(&opts, stats.clone(), epoch, live.clone()).await;
            match &setup {
                Ok(_) => live.sessions_up.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(session = index, "setup failed: {e}");
                    live.sessions_failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            let (call, error) = match setup {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            };
            Session {
                index,
                stats,
                call,
                error,
            }
        })
    });
    let mut sessions = Vec::with_capacity(opts.sessions);
    for (index, task) in setups.collect::<Vec<_>>().into_iter().enumerate() {
        sessions.push(task.await.unwrap_or_else(|e| Session {
            index,
            stats: Arc::default(),
            call: None,
            error: Some(format!("setup task: {e}")),
        }));
    }

    // Media: every established session sends over the same window.
    let server_media_start = sample_server()?;
    let client_media_start = procfs::sample(Pid::Current)?;
    let media_start = Instant::now();
    live.set_media_started(media_start);
    live.set_phase(Phase::Media);
    let deadline = tokio::time::Instant::from_std(media_start + opts.duration);
    let mut senders = Vec::new();
    for (i, s) in sessions.iter_mut().enumerate() {
        let Some((client, call)) = s.call.take() else {
            continue;
        };
        let stats = s.stats.clone();
        let live = live.clone();
        let media = opts.media;
        senders.push((
            i,
            tokio::spawn(async move {
                send_media(&client, &call, &media, &stats, &live, epoch, deadline).await;
                (client, call)
            }),
        ));
    }
    let mut up = Vec::new();
    for (i, task) in senders {
        match task.await {
            Ok(pair) => up.push((i, pair)),
            Err(e) => sessions[i].error = Some(format!("sender task: {e}")),
        }
    }
    let media_end = Instant::now();
    live.set_phase(Phase::Drain);
    tokio::time::sleep(opts.drain).await;
    let server_end = sample_server()?;
    let client_end = procfs::sample(Pid::Current)?;

    // Results before teardown, so the hangup's last packets are not counted.
    let window = (media_end - media_start).as_secs_f64();
    let mut results = Vec::with_capacity(sessions.len());
    for s in &sessions {
        let st = s.stats.lock();
        let established = up.iter().find(|(i, _)| *i == s.index);
        results.push(SessionResult {
            index: s.index,
            setup_ms: established
                .and_then(|(_, (_, call))| call.setup_time())
                .map(|d| d.as_secs_f64() * 1000.0),
            error: s.error.clone(),
            audio: StreamResult::from_stats(Kind::Audio, &st.audio, window),
            video: StreamResult::from_stats(Kind::Video, &st.video, window),
            foreign_packets: st.foreign + st.audio.unknown_packets + st.video.unknown_packets,
            send_errors: st.send_errors,
        });
    }
    let totals = totals(&sessions, &results, window);

    live.set_phase(Phase::Teardown);
    let teardowns = up.into_iter().map(|(_, (client, call))| {
        tokio::spawn(async move {
            let bye = async {
                let _ = client.destroy(call.session).await;
                call.peer.close().await;
                let _ = client.close().await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
        })
    });
    for t in teardowns.collect::<Vec<_>>() {
        let _ = t.await;
    }
    live.set_phase(Phase::Done);

    let cpu_per_packet = |usage: &Option<ProcUsage>| {
        let packets = totals.audio.received_packets + totals.video.received_packets;
        usage
            .filter(|_| packets > 0)
            .map(|u| u.cpu_s * 1e6 / packets as f64)
    };
    let server_media = usage(server_media_start, server_end);
    let client_media = ProcUsage::between(&client_media_start, &client_end);
    Ok(EchotestReport {
        scenario: "echotest",
        server: opts.server.clone(),
        server_pid: opts.server_pid,
        sessions_requested: opts.sessions,
        media_seconds: window,
        media: opts.media,
        server_cpu_us_per_echoed_packet: cpu_per_packet(&server_media),
        client_cpu_us_per_echoed_packet: cpu_per_packet(&Some(client_media)),
        server_total: usage(server_start, server_end),
        server_media,
        client_total: ProcUsage::between(&client_start, &client_end),
        client_media,
        totals,
        sessions: results,
    })
}

fn usage(start: Option<ProcSample>, end: Option<ProcSample>) -> Option<ProcUsage> {
    Some(ProcUsage::between(&start?, &end?))
}

/// Connects its own WebSocket (as each browser tab would) and sets up the EchoTest call.
async fn set_up(
    opts: &EchotestOptions,
    stats: Arc<Mutex<SessionStats>>,
    epoch: Instant,
    live: Arc<Live>,
) -> Result<(JanusClient, EchoCall), String> {
    let client = JanusClient::connect(&Endpoint::WebSocket(opts.server.clone()))
        .await
        .map_err(|e| format!("connect {}: {e}", opts.server))?;
    let tap = RtpTap(Arc::new(move |_mid: &str, payload: &[u8], at: Instant| {
        let Some(stamp) = payload::decode(payload) else {
            stats.lock().foreign += 1;
            return;
        };
        let arrived_us = at.saturating_duration_since(epoch).as_micros() as u64;
        let fresh = stats.lock().stream(stamp.kind).record_received(
            stamp.seq,
            stamp.sent_us,
            arrived_us,
            payload.len() as u64,
        );
        if fresh {
            live.received_packets.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let echo = EchoOptions {
        peer: PeerConfig {
            bind: SocketAddr::new(opts.bind, 0),
            data_channel: None,
            keep_payloads: 0,
            rtp_tap: Some(tap),
            video_codec: opts.media.video_codec,
            ..PeerConfig::default()
        },
        timeout: opts.setup_timeout,
        ..EchoOptions::default()
    };
    let setup = tokio::time::timeout(opts.setup_timeout, EchoCall::establish(&client, &echo));
    match setup.await {
        Ok(Ok(call)) => Ok((client, call)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no webrtcup within {} s",
            opts.setup_timeout.as_secs()
        )),
    }
}

/// Sends audio packets and video frames at the profile's rates until `deadline`, and
/// keeps the Janus session alive meanwhile.
async fn send_media(
    client: &JanusClient,
    call: &EchoCall,
    media: &MediaProfile,
    stats: &Mutex<SessionStats>,
    live: &Live,
    epoch: Instant,
    deadline: tokio::time::Instant,
) {
    let state = call.peer.state();
    let audio_mid = state.mid_of(MediaKind::Audio).map(str::to_string);
    let video_mid = state.mid_of(MediaKind::Video).map(str::to_string);
    let frame_sizes = media.video_frame_sizes();
    // Real clients are not in step: start each session at a random phase.
    let now = tokio::time::Instant::now();
    let phase = |period: Duration| period.mul_f64(rand::random::<f64>());
    let mut audio_tick =
        tokio::time::interval_at(now + phase(media.audio_interval()), media.audio_interval());
    let mut video_tick =
        tokio::time::interval_at(now + phase(media.frame_interval()), media.frame_interval());
    let (mut audio_seq, mut video_seq) = (0u64, 0u64);
    let now_us = || epoch.elapsed().as_micros() as u64;

    let sending = async {
        loop {
            let (kind, mid, packets) = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = audio_tick.tick() => {
                    let Some(mid) = &audio_mid else { continue };
                    let p = payload::encode_as(media.video_codec, Kind::Audio, true, audio_seq, now_us(), media.audio_bytes);
                    audio_seq += 1;
                    (Kind::Audio, mid, vec![p])
                }
                _ = video_tick.tick() => {
                    let Some(mid) = &video_mid else { continue };
                    let sent_us = now_us();
                    let packets: Vec<Vec<u8>> = frame_sizes
                        .iter()
                        .enumerate()
                        .map(|(i, size)| {
                            payload::encode_as(media.video_codec, Kind::Video, i == 0, video_seq + i as u64, sent_us, *size)
                        })
                        .collect();
                    video_seq += packets.len() as u64;
                    (Kind::Video, mid, packets)
                }
            };
            let count = packets.len() as u64;
            let bytes: u64 = packets.iter().map(|p| p.len() as u64).sum();
            let step = match kind {
                Kind::Audio => media.audio_rtp_step(),
                Kind::Video => media.video_rtp_step(),
            };
            // Counted as sent before the write: a packet numbered but not written is lost.
            stats.lock().stream(kind).record_sent(count, bytes);
            live.sent_packets.fetch_add(count, Ordering::Relaxed);
            if let Err(e) = call.peer.send_frame(mid, packets, step).await {
                stats.lock().send_errors += 1;
                tracing::warn!(
                    handle = call.handle,
                    "send failed, session stops sending: {e}"
                );
                break;
            }
        }
    };
    let keepalive = async {
        let mut tick = tokio::time::interval_at(now + KEEPALIVE, KEEPALIVE);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tick.tick() => {
                    if let Err(e) = client.keepalive(call.session).await {
                        tracing::warn!(session = call.session, "keepalive: {e}");
                    }
                }
            }
        }
    };
    tokio::join!(sending, keepalive);
}

fn totals(sessions: &[Session], results: &[SessionResult], window: f64) -> Totals {
    let mut audio = StreamStats::default();
    let mut video = StreamStats::default();
    let mut jitter = (0.0, 0.0, 0u32);
    for s in sessions {
        let st = s.stats.lock();
        for (all, one) in [(&mut audio, &st.audio), (&mut video, &st.video)] {
            all.record_sent(one.sent_packets, one.sent_bytes);
            all.received_packets += one.received_packets;
            all.received_bytes += one.received_bytes;
            all.latency_us.merge(&one.latency_us);
        }
        if st.audio.received_packets > 1 || st.video.received_packets > 1 {
            jitter.0 += st.audio.jitter.micros();
            jitter.1 += st.video.jitter.micros();
            jitter.2 += 1;
        }
    }
    let mut setup = Histogram::default();
    for r in results {
        if let Some(ms) = r.setup_ms {
            setup.record((ms * 1000.0) as u64);
        }
    }
    let mean_jitter_ms = |sum: f64| (jitter.2 > 0).then(|| sum / f64::from(jitter.2) / 1000.0);
    let total = |kind: Kind, merged: &StreamStats, jitter_ms: Option<f64>| {
        let mut r = StreamResult::from_stats(kind, merged, window);
        let per_session = results.iter().map(|s| match kind {
            Kind::Audio => &s.audio,
            Kind::Video => &s.video,
        });
        (r.duplicates, r.reordered) =
            per_session.fold((0, 0), |(d, o), s| (d + s.duplicates, o + s.reordered));
        r.jitter_ms = jitter_ms;
        r
    };
    Totals {
        sessions_up: setup.count() as usize,
        sessions_failed: results.len() - setup.count() as usize,
        setup_p50_ms: setup.percentile(0.5).map(|us| us as f64 / 1000.0),
        setup_max_ms: setup.max().map(|us| us as f64 / 1000.0),
        audio: total(Kind::Audio, &audio, mean_jitter_ms(jitter.0)),
        video: total(Kind::Video, &video, mean_jitter_ms(jitter.1)),
    }
}
