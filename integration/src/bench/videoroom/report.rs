//! The VideoRoom results: per subscriber, totals, the server's and the tool's CPU and
//! memory; a table for people and JSON for scripts.

use std::fmt::Write as _;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{RunningPublisher, Subscribed, SubscriberMeasure, VideoroomOptions};
use crate::bench::procfs::ProcUsage;
use crate::bench::stats::Histogram;
use crate::media::ffmpeg::{AudioSpec, VideoSpec};

/// One subscriber.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriberResult {
    pub index: usize,
    pub error: Option<String>,
    /// `join` → `webrtcup`.
    pub setup_ms: Option<f64>,
    /// `join` → first packet starting a VP8 keyframe.
    pub first_keyframe_ms: Option<f64>,
    /// Packets sent in the window and received (every stream of every publisher).
    pub packets: u64,
    pub bytes: u64,
    /// Packets the publishers sent in the window on the layers this subscriber received.
    pub expected: u64,
    pub loss_pct: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Mean RFC 3550 jitter over its streams.
    pub jitter_ms: Option<f64>,
    pub kbps: f64,
    /// Simulcast layer most video packets came from (0 = lowest).
    pub video_layer: Option<u8>,
    /// Packets that matched no sent packet (should be 0).
    pub unmatched: u64,
}

/// The whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VideoroomTotals {
    pub publishers_up: usize,
    pub subscribers_up: usize,
    pub subscribers_failed: usize,
    /// Packets the publishers sent in the window (all layers).
    pub sent_packets: u64,
    /// Packets subscribers received from the window: what the server forwarded.
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    pub expected_packets: u64,
    pub loss_pct: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub setup_p50_ms: Option<f64>,
    pub setup_max_ms: Option<f64>,
    pub first_keyframe_p50_ms: Option<f64>,
    pub first_keyframe_max_ms: Option<f64>,
    pub keyframe_requests: u64,
    pub unmatched_packets: u64,
}

/// Everything measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VideoroomReport {
    pub scenario: &'static str,
    pub server: String,
    pub server_pid: Option<u32>,
    pub room: u64,
    pub publishers_requested: usize,
    pub subscribers_requested: usize,
    pub simulcast: bool,
    pub video: Vec<VideoSpec>,
    pub audio: AudioSpec,
    pub window_seconds: f64,
    /// Forwarded packets per CPU-second of the server, over the window.
    pub forwarded_per_server_cpu_s: Option<f64>,
    pub server_cpu_us_per_forwarded_packet: Option<f64>,
    /// Server RSS growth from before setup to the window's start, per PeerConnection.
    pub server_kib_per_peer_connection: Option<f64>,
    pub client_cpu_us_per_received_packet: Option<f64>,
    pub server_window: Option<ProcUsage>,
    pub server_setup: Option<ProcUsage>,
    pub server_total: Option<ProcUsage>,
    pub client_window: ProcUsage,
    pub client_total: ProcUsage,
    pub totals: VideoroomTotals,
    pub publisher_errors: Vec<String>,
    pub subscribers: Vec<SubscriberResult>,
    /// Distinct payloads in the ledger (bounded by the clips).
    pub ledger_entries: usize,
}

/// One subscriber's outcome: its index, how joining went, and what it measured.
pub(super) type SubscriberOutcome = (
    usize,
    Result<Subscribed, String>,
    Arc<Mutex<SubscriberMeasure>>,
);

pub(super) struct Inputs<'a> {
    pub opts: &'a VideoroomOptions,
    pub room: u64,
    pub window_s: f64,
    pub publishers: &'a [RunningPublisher],
    pub publisher_errors: &'a [String],
    pub subscribers: &'a [SubscriberOutcome],
    pub server_total: Option<ProcUsage>,
    pub server_setup: Option<ProcUsage>,
    pub server_window: Option<ProcUsage>,
    pub client_window: ProcUsage,
    pub client_total: ProcUsage,
    pub ledger_entries: usize,
}

fn ms(us: Option<u64>) -> Option<f64> {
    us.map(|u| u as f64 / 1000.0)
}

fn loss_pct(expected: u64, got: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        expected.saturating_sub(got) as f64 * 100.0 / expected as f64
    }
}

pub(super) fn build(i: Inputs<'_>) -> VideoroomReport {
    let sent: Vec<[u64; 4]> = i.publishers.iter().map(|p| p.sent_in_window()).collect();
    let layers = i.opts.layer_specs().len();
    let mut latency_all = Histogram::default();
    let mut setup = Histogram::default();
    let mut keyframe = Histogram::default();
    let mut jitters = Vec::new();
    let mut subs = Vec::with_capacity(i.subscribers.len());
    for (index, result, measure) in i.subscribers {
        let m = measure.lock();
        let (mut packets, mut bytes, mut expected) = (0, 0, 0);
        let mut latency = Histogram::default();
        let mut jitter = (0.0, 0u32);
        let mut video_layer = None;
        for s in m.streams.values() {
            let Some(sent) = sent.get(usize::from(s.publisher)) else {
                continue;
            };
            let slot = if s.video {
                // The layer most packets came from, or the top one if none came.
                let l = (0..layers)
                    .filter(|l| s.layers[*l] > 0)
                    .max_by_key(|l| s.layers[*l])
                    .unwrap_or(layers - 1);
                video_layer = Some(l as u8);
                1 + l
            } else {
                0
            };
            packets += s.packets;
            bytes += s.bytes;
            expected += sent[slot];
            latency.merge(&s.latency_us);
            if s.packets > 1 {
                jitter.0 += s.jitter.micros();
                jitter.1 += 1;
            }
        }
        latency_all.merge(&latency);
        let (error, setup_ms, first_keyframe_ms) = match result {
            Ok((_, sub)) => {
                let up = sub.up_at - sub.joined_at;
                setup.record(up.as_micros() as u64);
                let key = m
                    .first_keyframe
                    .map(|t| t.saturating_duration_since(sub.joined_at));
                if let Some(k) = key {
                    keyframe.record(k.as_micros() as u64);
                }
                (
                    None,
                    Some(up.as_secs_f64() * 1000.0),
                    key.map(|k| k.as_secs_f64() * 1000.0),
                )
            }
            Err(e) => (Some(e.clone()), None, None),
        };
        let jitter_ms = (jitter.1 > 0).then(|| jitter.0 / f64::from(jitter.1) / 1000.0);
        if let Some(j) = jitter_ms {
            jitters.push(j);
        }
        subs.push(SubscriberResult {
            index: *index,
            error,
            setup_ms,
            first_keyframe_ms,
            packets,
            bytes,
            expected: if result.is_ok() { expected } else { 0 },
            loss_pct: if result.is_ok() {
                loss_pct(expected, packets)
            } else {
                0.0
            },
            latency_p50_ms: ms(latency.percentile(0.5)),
            latency_p99_ms: ms(latency.percentile(0.99)),
            latency_max_ms: ms(latency.max()),
            jitter_ms,
            kbps: if i.window_s > 0.0 {
                bytes as f64 * 8.0 / i.window_s / 1000.0
            } else {
                0.0
            },
            video_layer,
            unmatched: m.unmatched,
        });
    }
    let up = subs.iter().filter(|s| s.error.is_none()).count();
    let forwarded: u64 = subs.iter().map(|s| s.packets).sum();
    let expected: u64 = subs.iter().map(|s| s.expected).sum();
    let totals = VideoroomTotals {
        publishers_up: i.publishers.len(),
        subscribers_up: up,
        subscribers_failed: subs.len() - up,
        sent_packets: sent.iter().flatten().sum(),
        forwarded_packets: forwarded,
        forwarded_bytes: subs.iter().map(|s| s.bytes).sum(),
        expected_packets: expected,
        loss_pct: loss_pct(expected, forwarded),
        latency_p50_ms: ms(latency_all.percentile(0.5)),
        latency_p99_ms: ms(latency_all.percentile(0.99)),
        latency_max_ms: ms(latency_all.max()),
        jitter_ms: (!jitters.is_empty())
            .then(|| jitters.iter().sum::<f64>() / jitters.len() as f64),
        setup_p50_ms: ms(setup.percentile(0.5)),
        setup_max_ms: ms(setup.max()),
        first_keyframe_p50_ms: ms(keyframe.percentile(0.5)),
        first_keyframe_max_ms: ms(keyframe.max()),
        keyframe_requests: i.publishers.iter().map(|p| p.keyframe_requests()).sum(),
        unmatched_packets: subs.iter().map(|s| s.unmatched).sum(),
    };
    let cpu = i.server_window.map(|u| u.cpu_s).filter(|c| *c > 0.0);
    let pcs = i.publishers.len() + up;
    let kib_per_pc = i
        .server_setup
        .filter(|_| pcs > 0)
        .map(|u| (u.rss_end_kib as f64 - u.rss_start_kib as f64) / pcs as f64);
    VideoroomReport {
        scenario: "videoroom",
        server: i.opts.server.clone(),
        server_pid: i.opts.server_pid,
        room: i.room,
        publishers_requested: i.opts.publishers,
        subscribers_requested: i.opts.subscribers,
        simulcast: i.opts.simulcast,
        video: i.opts.layer_specs(),
        audio: i.opts.audio,
        window_seconds: i.window_s,
        forwarded_per_server_cpu_s: cpu.filter(|_| forwarded > 0).map(|c| forwarded as f64 / c),
        server_cpu_us_per_forwarded_packet: cpu
            .filter(|_| forwarded > 0)
            .map(|c| c * 1e6 / forwarded as f64),
        server_kib_per_peer_connection: kib_per_pc,
        client_cpu_us_per_received_packet: (forwarded > 0)
            .then(|| i.client_window.cpu_s * 1e6 / forwarded as f64),
        server_window: i.server_window,
        server_setup: i.server_setup,
        server_total: i.server_total,
        client_window: i.client_window,
        client_total: i.client_total,
        totals,
        publisher_errors: i.publisher_errors.to_vec(),
        subscribers: subs,
        ledger_entries: i.ledger_entries,
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

impl VideoroomReport {
    /// A human-readable table: the first `rows` subscribers, then the totals.
    pub fn to_table(&self, rows: usize) -> String {
        let t = &self.totals;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "videoroom against {} (room {}): {} of {} publishers, {} of {} subscribers up, simulcast {}, {:.1} s window",
            self.server,
            self.room,
            t.publishers_up,
            self.publishers_requested,
            t.subscribers_up,
            self.subscribers_requested,
            if self.simulcast { "on" } else { "off" },
            self.window_seconds
        );
        for v in &self.video {
            let _ = writeln!(
                o,
                "  video: VP8 {}x{} {} fps {} kbit/s (ffmpeg, GOP {}), audio: Opus {} kbit/s 20 ms",
                v.width, v.height, v.fps, v.kbps, v.gop, self.audio.kbps
            );
        }
        for e in &self.publisher_errors {
            let _ = writeln!(o, "  publisher failed: {e}");
        }
        let _ = writeln!(
            o,
            "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>5}",
            "sub",
            "setup ms",
            "key ms",
            "packets",
            "expected",
            "loss %",
            "lat p50",
            "lat p99",
            "lat max",
            "jitter",
            "kbit/s",
            "layer"
        );
        for s in self.subscribers.iter().take(rows) {
            if let Some(e) = &s.error {
                let _ = writeln!(o, "{:>5} failed: {e}", s.index);
                continue;
            }
            let _ = writeln!(
                o,
                "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7.2} {:>8} {:>8} {:>8} {:>7} {:>7.0} {:>5}",
                s.index,
                opt(s.setup_ms, 1),
                opt(s.first_keyframe_ms, 0),
                s.packets,
                s.expected,
                s.loss_pct,
                opt(s.latency_p50_ms, 2),
                opt(s.latency_p99_ms, 2),
                opt(s.latency_max_ms, 2),
                opt(s.jitter_ms, 2),
                s.kbps,
                s.video_layer.map_or("-".into(), |l| l.to_string())
            );
        }
        let failed = self
            .subscribers
            .iter()
            .filter(|s| s.error.is_some())
            .take(3);
        for s in failed.filter(|s| s.index >= rows) {
            let _ = writeln!(
                o,
                "{:>5} failed: {}",
                s.index,
                s.error.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(
            o,
            "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7.2} {:>8} {:>8} {:>8} {:>7}",
            "all",
            opt(t.setup_p50_ms, 1),
            opt(t.first_keyframe_p50_ms, 0),
            t.forwarded_packets,
            t.expected_packets,
            t.loss_pct,
            opt(t.latency_p50_ms, 2),
            opt(t.latency_p99_ms, 2),
            opt(t.latency_max_ms, 2),
            opt(t.jitter_ms, 2),
        );
        let _ = writeln!(
            o,
            "sent {} packets in the window, forwarded {} ({} unmatched), {} keyframe requests; setup max {} ms, first keyframe max {} ms",
            t.sent_packets,
            t.forwarded_packets,
            t.unmatched_packets,
            t.keyframe_requests,
            opt(t.setup_max_ms, 1),
            opt(t.first_keyframe_max_ms, 0)
        );
        if let Some(w) = &self.server_window {
            let _ = writeln!(
                o,
                "server: {:.2} CPU-s in the window ({:.0}% of a core), {} forwarded packets per CPU-second, {} µs per forwarded packet, peak RSS {} MiB, {} KiB per PeerConnection",
                w.cpu_s,
                w.cpu_percent(),
                opt(self.forwarded_per_server_cpu_s, 0),
                opt(self.server_cpu_us_per_forwarded_packet, 2),
                w.peak_rss_kib / 1024,
                opt(self.server_kib_per_peer_connection, 0)
            );
        }
        let _ = writeln!(
            o,
            "tool: {:.2} CPU-s in the window ({:.0}% of a core), {} µs per received packet",
            self.client_window.cpu_s,
            self.client_window.cpu_percent(),
            opt(self.client_cpu_us_per_received_packet, 2)
        );
        o
    }
}
