//! The Streaming results: per viewer, totals, the server's and the tool's CPU and memory; a
//! table for people and JSON for scripts (field names as the VideoRoom report's where they
//! mean the same).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::feeder::FeedCounts;
use super::flow::MountStream;
use super::{StreamingOptions, ViewerMeasure, Watched};
use crate::bench::payload::Kind;
use crate::bench::procfs::ProcUsage;
use crate::bench::stats::Histogram;
use crate::media::ffmpeg::{AudioSpec, VideoSpec};

/// One viewer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewerResult {
    pub index: usize,
    pub error: Option<String>,
    /// `watch` → `webrtcup`.
    pub setup_ms: Option<f64>,
    /// `watch` → first packet starting a VP8 keyframe.
    pub first_keyframe_ms: Option<f64>,
    /// Packets sent in the window and received (every stream).
    pub packets: u64,
    pub audio_packets: u64,
    pub video_packets: u64,
    pub bytes: u64,
    /// Packets the source sent in the window.
    pub expected: u64,
    pub loss_pct: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Mean RFC 3550 jitter over its streams.
    pub jitter_ms: Option<f64>,
    pub kbps: f64,
    /// Packets that matched no sent packet (should be 0).
    pub unmatched: u64,
}

/// The whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamingTotals {
    pub viewers_up: usize,
    pub viewers_failed: usize,
    /// Packets the source sent in the window (all streams).
    pub sent_packets: u64,
    /// Packets viewers received from the window: what the server forwarded.
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
    pub unmatched_packets: u64,
    /// RTP packets the source could not send (should be 0).
    pub source_send_errors: u64,
}

/// Everything measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamingReport {
    pub scenario: &'static str,
    pub server: String,
    pub server_pid: Option<u32>,
    pub mountpoint: u64,
    /// The tool created the mountpoint (else it was an existing one).
    pub created: bool,
    pub streams: Vec<MountStream>,
    pub viewers_requested: usize,
    pub video: VideoSpec,
    pub audio: AudioSpec,
    pub window_seconds: f64,
    /// Forwarded packets per CPU-second of the server, over the window.
    pub forwarded_per_server_cpu_s: Option<f64>,
    pub server_cpu_us_per_forwarded_packet: Option<f64>,
    /// Server RSS growth from before setup to the window's start, per viewer PeerConnection.
    pub server_kib_per_peer_connection: Option<f64>,
    pub client_cpu_us_per_received_packet: Option<f64>,
    pub server_window: Option<ProcUsage>,
    pub server_setup: Option<ProcUsage>,
    pub server_total: Option<ProcUsage>,
    pub client_window: ProcUsage,
    pub client_total: ProcUsage,
    pub totals: StreamingTotals,
    pub viewers: Vec<ViewerResult>,
    /// Distinct payloads in the ledger (bounded by the clips).
    pub ledger_entries: usize,
}

/// One viewer's outcome: its index, how watching went, and what it measured.
pub(super) type ViewerOutcome = (usize, Result<Watched, String>, Arc<Mutex<ViewerMeasure>>);

pub(super) struct Inputs<'a> {
    pub opts: &'a StreamingOptions,
    pub mountpoint: u64,
    pub created: bool,
    pub streams: &'a [MountStream],
    /// Per stream, what the source sent.
    pub sent: &'a [Arc<FeedCounts>],
    pub window_s: f64,
    pub viewers: &'a [ViewerOutcome],
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

/// Percentage of `expected` not received (0 when nothing was expected).
pub fn loss_pct(expected: u64, got: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        expected.saturating_sub(got) as f64 * 100.0 / expected as f64
    }
}

pub(super) fn build(i: Inputs<'_>) -> StreamingReport {
    let sent: Vec<u64> = i
        .sent
        .iter()
        .map(|c| c.in_window.load(Ordering::Relaxed))
        .collect();
    let expected_each: u64 = sent.iter().sum();
    let mut latency_all = Histogram::default();
    let mut setup = Histogram::default();
    let mut keyframe = Histogram::default();
    let mut jitters = Vec::new();
    let mut viewers = Vec::with_capacity(i.viewers.len());
    for (index, result, measure) in i.viewers {
        let m = measure.lock();
        let (mut packets, mut bytes, mut audio, mut video) = (0, 0, 0, 0);
        let mut latency = Histogram::default();
        let mut jitter = (0.0, 0u32);
        for (s, stream) in m.streams.iter().zip(i.streams) {
            packets += s.packets;
            bytes += s.bytes;
            match stream.kind {
                Kind::Audio => audio += s.packets,
                Kind::Video => video += s.packets,
            }
            latency.merge(&s.latency_us);
            if s.packets > 1 {
                jitter.0 += s.jitter.micros();
                jitter.1 += 1;
            }
        }
        latency_all.merge(&latency);
        let (error, setup_ms, first_keyframe_ms) = match result {
            Ok((_, v)) => {
                let up = v.up_at - v.watch_at;
                setup.record(up.as_micros() as u64);
                let key = m
                    .first_keyframe
                    .map(|t| t.saturating_duration_since(v.watch_at));
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
        let expected = if result.is_ok() { expected_each } else { 0 };
        viewers.push(ViewerResult {
            index: *index,
            error,
            setup_ms,
            first_keyframe_ms,
            packets,
            audio_packets: audio,
            video_packets: video,
            bytes,
            expected,
            loss_pct: loss_pct(expected, packets),
            latency_p50_ms: ms(latency.percentile(0.5)),
            latency_p99_ms: ms(latency.percentile(0.99)),
            latency_max_ms: ms(latency.max()),
            jitter_ms,
            kbps: if i.window_s > 0.0 {
                bytes as f64 * 8.0 / i.window_s / 1000.0
            } else {
                0.0
            },
            unmatched: m.unmatched,
        });
    }
    let up = viewers.iter().filter(|v| v.error.is_none()).count();
    let forwarded: u64 = viewers.iter().map(|v| v.packets).sum();
    let expected: u64 = viewers.iter().map(|v| v.expected).sum();
    let totals = StreamingTotals {
        viewers_up: up,
        viewers_failed: viewers.len() - up,
        sent_packets: expected_each,
        forwarded_packets: forwarded,
        forwarded_bytes: viewers.iter().map(|v| v.bytes).sum(),
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
        unmatched_packets: viewers.iter().map(|v| v.unmatched).sum(),
        source_send_errors: i
            .sent
            .iter()
            .map(|c| c.send_errors.load(Ordering::Relaxed))
            .sum(),
    };
    let cpu = i.server_window.map(|u| u.cpu_s).filter(|c| *c > 0.0);
    let kib_per_pc = i
        .server_setup
        .filter(|_| up > 0)
        .map(|u| (u.rss_end_kib as f64 - u.rss_start_kib as f64) / up as f64);
    StreamingReport {
        scenario: "streaming",
        server: i.opts.server.clone(),
        server_pid: i.opts.server_pid,
        mountpoint: i.mountpoint,
        created: i.created,
        streams: i.streams.to_vec(),
        viewers_requested: i.opts.viewers,
        video: i.opts.video,
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
        viewers,
        ledger_entries: i.ledger_entries,
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

impl StreamingReport {
    /// A human-readable table: the first `rows` viewers, then the totals.
    pub fn to_table(&self, rows: usize) -> String {
        let t = &self.totals;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "streaming against {} (mountpoint {}, {}): {} of {} viewers up, {:.1} s window",
            self.server,
            self.mountpoint,
            if self.created {
                "created for the run"
            } else {
                "existing"
            },
            t.viewers_up,
            self.viewers_requested,
            self.window_seconds
        );
        let streams: Vec<String> = self
            .streams
            .iter()
            .map(|s| format!("{} {:?} pt {} → port {}", s.mid, s.kind, s.pt, s.port))
            .collect();
        let v = &self.video;
        let _ = writeln!(
            o,
            "  plain RTP: {}; video: VP8 {}x{} {} fps {} kbit/s (ffmpeg, GOP {}), audio: Opus {} kbit/s 20 ms",
            streams.join(", "),
            v.width,
            v.height,
            v.fps,
            v.kbps,
            v.gop,
            self.audio.kbps
        );
        let _ = writeln!(
            o,
            "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}",
            "view",
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
        );
        for v in self.viewers.iter().take(rows) {
            if let Some(e) = &v.error {
                let _ = writeln!(o, "{:>5} failed: {e}", v.index);
                continue;
            }
            let _ = writeln!(
                o,
                "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7.2} {:>8} {:>8} {:>8} {:>7} {:>7.0}",
                v.index,
                opt(v.setup_ms, 1),
                opt(v.first_keyframe_ms, 0),
                v.packets,
                v.expected,
                v.loss_pct,
                opt(v.latency_p50_ms, 2),
                opt(v.latency_p99_ms, 2),
                opt(v.latency_max_ms, 2),
                opt(v.jitter_ms, 2),
                v.kbps,
            );
        }
        let failed = self.viewers.iter().filter(|v| v.error.is_some());
        for v in failed.filter(|v| v.index >= rows).take(3) {
            let _ = writeln!(
                o,
                "{:>5} failed: {}",
                v.index,
                v.error.as_deref().unwrap_or("")
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
            "source sent {} packets in the window ({} send errors), forwarded {} ({} unmatched); setup max {} ms, first keyframe max {} ms",
            t.sent_packets,
            t.source_send_errors,
            t.forwarded_packets,
            t.unmatched_packets,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_a_share_of_what_was_expected() {
        assert_eq!(loss_pct(0, 0), 0.0);
        assert_eq!(loss_pct(0, 5), 0.0);
        assert_eq!(loss_pct(200, 199), 0.5);
        // Duplicates never make loss negative.
        assert_eq!(loss_pct(10, 12), 0.0);
    }
}
