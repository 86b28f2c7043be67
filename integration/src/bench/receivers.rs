//! What the scenarios with many receivers (VideoRoom subscribers, Streaming viewers) share:
//! the measurement window, one row per receiver, the totals over them, the server's and the
//! tool's costs, and their table lines. Scenario-specific fields ride along in `extra`
//! (flattened into the same JSON object, reachable as fields through `Deref`). The options
//! both take are in `options`; setting receivers up and measuring their packets in `setup`.

mod options;
mod setup;

use std::fmt::Write as _;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::live::{Live, Phase};
use super::procfs::{self, Pid, ProcError, ProcSample, ProcUsage};
use super::report::opt;
use super::stats::{Histogram, Jitter};
use crate::media::ffmpeg::{AudioSpec, VideoSpec};
pub use options::RunOptions;
pub(crate) use setup::{Arrival, Measuring, Outcome, connect, measuring_peer, set_up_all};

/// The measurement window in microseconds since the run's epoch (0 = not yet / open).
#[derive(Debug, Default)]
pub(crate) struct Window {
    start_us: AtomicU64,
    end_us: AtomicU64,
}

impl Window {
    pub(crate) fn contains(&self, at_us: u64) -> bool {
        let start = self.start_us.load(Ordering::Relaxed);
        let end = self.end_us.load(Ordering::Relaxed);
        start != 0 && at_us >= start && (end == 0 || at_us < end)
    }

    /// Opens the window at `at` (never 0, which means "not yet").
    pub(crate) fn open(&self, epoch: Instant, at: Instant) {
        let us = (at - epoch).as_micros().max(1) as u64;
        self.start_us.store(us, Ordering::Relaxed);
    }

    pub(crate) fn close(&self, epoch: Instant, at: Instant) {
        let us = (at - epoch).as_micros() as u64;
        self.end_us.store(us, Ordering::Relaxed);
    }
}

/// CPU and memory between two samples, when both were taken.
fn usage(start: Option<ProcSample>, end: Option<ProcSample>) -> Option<ProcUsage> {
    Some(ProcUsage::between(&start?, &end?))
}

/// CPU and memory samples of the server (when its pid is known) and of the tool: at the
/// run's start, at the window's ends, and at the run's end.
pub(crate) struct RunSamples {
    server_pid: Option<Pid>,
    start: Samples,
    window: Option<[Samples; 2]>,
}

type Samples = (Option<ProcSample>, ProcSample);

fn sample(server_pid: Option<Pid>) -> Result<Samples, ProcError> {
    let server = server_pid.map(procfs::sample).transpose()?;
    Ok((server, procfs::sample(Pid::Current)?))
}

/// What the server and the tool used, over the phases of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usages {
    pub server_total: Option<ProcUsage>,
    /// From the run's start to the window's: setup.
    pub server_setup: Option<ProcUsage>,
    pub server_window: Option<ProcUsage>,
    pub client_window: ProcUsage,
    pub client_total: ProcUsage,
}

impl RunSamples {
    pub(crate) fn start(server_pid: Option<u32>) -> Result<Self, ProcError> {
        let server_pid = server_pid.map(Pid::Other);
        Ok(Self {
            server_pid,
            start: sample(server_pid)?,
            window: None,
        })
    }

    /// The measurement window: opens `window`, lets media run for `duration`, closes it and
    /// moves `live` on to draining. Returns the window's length in seconds.
    pub(crate) async fn window(
        &mut self,
        window: &Window,
        epoch: Instant,
        live: &Live,
        duration: Duration,
    ) -> Result<f64, ProcError> {
        let first = sample(self.server_pid)?;
        let start = Instant::now();
        window.open(epoch, start);
        live.set_media_started(start);
        live.set_phase(Phase::Media);
        tokio::time::sleep(duration).await;
        let end = Instant::now();
        window.close(epoch, end);
        self.window = Some([first, sample(self.server_pid)?]);
        live.set_phase(Phase::Drain);
        Ok((end - start).as_secs_f64())
    }

    /// The last samples, and the usages between all of them. Without a window, it spans
    /// the whole run.
    pub(crate) fn finish(self) -> Result<Usages, ProcError> {
        let end = sample(self.server_pid)?;
        let [w0, w1] = self.window.unwrap_or([self.start, end]);
        Ok(Usages {
            server_total: usage(self.start.0, end.0),
            server_setup: usage(self.start.0, w0.0),
            server_window: usage(w0.0, w1.0),
            client_window: ProcUsage::between(&w0.1, &w1.1),
            client_total: ProcUsage::between(&self.start.1, &end.1),
        })
    }
}

pub(crate) fn ms(us: Option<u64>) -> Option<f64> {
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

/// One receiver.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiverRow<X> {
    pub index: usize,
    pub error: Option<String>,
    /// Request (`join`, `watch`) → `webrtcup`.
    pub setup_ms: Option<f64>,
    /// Request → first packet starting a VP8 keyframe.
    pub first_keyframe_ms: Option<f64>,
    /// Packets sent in the window and received (every stream).
    pub packets: u64,
    pub bytes: u64,
    /// Packets the senders sent in the window on the streams this receiver got.
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
    #[serde(flatten)]
    pub extra: X,
}

impl<X> Deref for ReceiverRow<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.extra
    }
}

/// The whole run, over every receiver.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiverTotals<X> {
    #[serde(flatten)]
    pub extra: X,
    /// Packets the senders sent in the window.
    pub sent_packets: u64,
    /// Packets receivers got from the window: what the server forwarded.
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
}

impl<X> Deref for ReceiverTotals<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.extra
    }
}

/// How a receiver's setup went: request sent, `webrtcup`, first keyframe packet.
pub(crate) struct Setup {
    pub requested_at: Instant,
    pub up_at: Instant,
    pub first_keyframe: Option<Instant>,
}

/// What one receiver got on one stream from the window: the row is made of these.
#[derive(Debug, Default, Clone)]
pub(crate) struct Received {
    pub packets: u64,
    pub bytes: u64,
    pub latency_us: Histogram,
    pub jitter: Jitter,
}

impl Received {
    /// A packet of `len` bytes sent at `sent_us` and arrived at `arrived_us` (µs since the
    /// run's epoch).
    pub(crate) fn record(&mut self, len: usize, sent_us: u64, arrived_us: u64) {
        self.packets += 1;
        self.bytes += len as u64;
        self.latency_us.record(arrived_us.saturating_sub(sent_us));
        self.jitter.record(sent_us, arrived_us);
    }
}

/// Builds the rows one receiver at a time and keeps what the totals need.
#[derive(Default)]
pub(crate) struct RowBuilder {
    window_s: f64,
    latency: Histogram,
    setup: Histogram,
    keyframe: Histogram,
    jitters: Vec<f64>,
}

impl RowBuilder {
    pub(crate) fn new(window_s: f64) -> Self {
        Self {
            window_s,
            ..Self::default()
        }
    }

    /// `expected` counts only for a receiver that came up.
    pub(crate) fn row<'a, X>(
        &mut self,
        index: usize,
        setup: Result<Setup, &String>,
        streams: impl IntoIterator<Item = &'a Received>,
        expected: u64,
        unmatched: u64,
        extra: X,
    ) -> ReceiverRow<X> {
        let (mut packets, mut bytes) = (0, 0);
        let mut latency = Histogram::default();
        let mut jitter = (0.0, 0u32);
        for s in streams {
            packets += s.packets;
            bytes += s.bytes;
            latency.merge(&s.latency_us);
            if s.packets > 1 {
                jitter.0 += s.jitter.micros();
                jitter.1 += 1;
            }
        }
        self.latency.merge(&latency);
        let up = setup.is_ok();
        let (error, setup_ms, first_keyframe_ms) = match setup {
            Ok(s) => {
                let up = s.up_at - s.requested_at;
                self.setup.record(up.as_micros() as u64);
                let key = s
                    .first_keyframe
                    .map(|t| t.saturating_duration_since(s.requested_at));
                if let Some(k) = key {
                    self.keyframe.record(k.as_micros() as u64);
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
            self.jitters.push(j);
        }
        let expected = if up { expected } else { 0 };
        ReceiverRow {
            index,
            error,
            setup_ms,
            first_keyframe_ms,
            packets,
            bytes,
            expected,
            loss_pct: loss_pct(expected, packets),
            latency_p50_ms: ms(latency.percentile(0.5)),
            latency_p99_ms: ms(latency.percentile(0.99)),
            latency_max_ms: ms(latency.max()),
            jitter_ms,
            kbps: if self.window_s > 0.0 {
                bytes as f64 * 8.0 / self.window_s / 1000.0
            } else {
                0.0
            },
            unmatched,
            extra,
        }
    }

    pub(crate) fn totals<R, X>(
        &self,
        rows: &[ReceiverRow<R>],
        sent_packets: u64,
        extra: X,
    ) -> ReceiverTotals<X> {
        let forwarded: u64 = rows.iter().map(|r| r.packets).sum();
        let expected: u64 = rows.iter().map(|r| r.expected).sum();
        let j = &self.jitters;
        ReceiverTotals {
            extra,
            sent_packets,
            forwarded_packets: forwarded,
            forwarded_bytes: rows.iter().map(|r| r.bytes).sum(),
            expected_packets: expected,
            loss_pct: loss_pct(expected, forwarded),
            latency_p50_ms: ms(self.latency.percentile(0.5)),
            latency_p99_ms: ms(self.latency.percentile(0.99)),
            latency_max_ms: ms(self.latency.max()),
            jitter_ms: (!j.is_empty()).then(|| j.iter().sum::<f64>() / j.len() as f64),
            setup_p50_ms: ms(self.setup.percentile(0.5)),
            setup_max_ms: ms(self.setup.max()),
            first_keyframe_p50_ms: ms(self.keyframe.percentile(0.5)),
            first_keyframe_max_ms: ms(self.keyframe.max()),
            unmatched_packets: rows.iter().map(|r| r.unmatched).sum(),
        }
    }
}

/// What the server and the tool cost over a run: per forwarded packet (from the window's
/// CPU time), memory per PeerConnection, and the CPU and memory of each phase. The reports
/// flatten it, so these stay top-level fields of their JSON (`compare` reads them back).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Costs {
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
}

impl Costs {
    /// `peer_connections`: those set up before the window (the RSS growth is shared by them).
    pub(crate) fn new(forwarded: u64, peer_connections: usize, usage: Usages) -> Self {
        let cpu = usage
            .server_window
            .map(|u| u.cpu_s)
            .filter(|c| *c > 0.0 && forwarded > 0);
        let pcs = peer_connections;
        Self {
            forwarded_per_server_cpu_s: cpu.map(|c| forwarded as f64 / c),
            server_cpu_us_per_forwarded_packet: cpu.map(|c| c * 1e6 / forwarded as f64),
            server_kib_per_peer_connection: usage
                .server_setup
                .filter(|_| pcs > 0)
                .map(|u| (u.rss_end_kib as f64 - u.rss_start_kib as f64) / pcs as f64),
            client_cpu_us_per_received_packet: (forwarded > 0)
                .then(|| usage.client_window.cpu_s * 1e6 / forwarded as f64),
            server_window: usage.server_window,
            server_setup: usage.server_setup,
            server_total: usage.server_total,
            client_window: usage.client_window,
            client_total: usage.client_total,
        }
    }

    /// The `server:` (when measured) and `tool:` lines of the table.
    pub(crate) fn write(&self, o: &mut String) {
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
        let client = &self.client_window;
        let _ = writeln!(
            o,
            "tool: {:.2} CPU-s in the window ({:.0}% of a core), {} µs per received packet",
            client.cpu_s,
            client.cpu_percent(),
            opt(self.client_cpu_us_per_received_packet, 2)
        );
    }
}

/// The clips sent, for the table's head: `video: VP8 1280x720 30 fps ..., audio: Opus ...`.
pub(crate) fn clips(v: &VideoSpec, audio: &AudioSpec) -> String {
    format!(
        "video: {} {}x{} {} fps {} kbit/s (ffmpeg, GOP {}), audio: Opus {} kbit/s 20 ms",
        v.codec.name().to_uppercase(),
        v.width,
        v.height,
        v.fps,
        v.kbps,
        v.gop,
        audio.kbps
    )
}

/// A scenario's own last column of the receiver table (header, value per row).
pub(crate) type ExtraColumn<'a, X> = (&'a str, &'a dyn Fn(&X) -> String);

/// The receiver table: header, the first `limit` rows, up to 3 later failures, the totals.
pub(crate) fn write_rows<X, T>(
    o: &mut String,
    label: &str,
    rows: &[ReceiverRow<X>],
    limit: usize,
    totals: &ReceiverTotals<T>,
    extra: Option<ExtraColumn<'_, X>>,
) {
    let _ = write!(
        o,
        "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}",
        label,
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
    if let Some((header, _)) = extra {
        let _ = write!(o, " {header:>5}");
    }
    o.push('\n');
    for r in rows.iter().take(limit) {
        if let Some(e) = &r.error {
            let _ = writeln!(o, "{:>5} failed: {e}", r.index);
            continue;
        }
        let _ = write!(
            o,
            "{:>5} {:>9} {:>8} {:>9} {:>9} {:>7.2} {:>8} {:>8} {:>8} {:>7} {:>7.0}",
            r.index,
            opt(r.setup_ms, 1),
            opt(r.first_keyframe_ms, 0),
            r.packets,
            r.expected,
            r.loss_pct,
            opt(r.latency_p50_ms, 2),
            opt(r.latency_p99_ms, 2),
            opt(r.latency_max_ms, 2),
            opt(r.jitter_ms, 2),
            r.kbps,
        );
        if let Some((_, value)) = extra {
            let _ = write!(o, " {:>5}", value(&r.extra));
        }
        o.push('\n');
    }
    let failed = rows.iter().filter(|r| r.error.is_some());
    for r in failed.filter(|r| r.index >= limit).take(3) {
        let _ = writeln!(
            o,
            "{:>5} failed: {}",
            r.index,
            r.error.as_deref().unwrap_or("")
        );
    }
    let t = totals;
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

    #[test]
    fn the_window_counts_only_between_its_ends() {
        let w = Window::default();
        assert!(!w.contains(5));
        w.start_us.store(10, Ordering::Relaxed);
        assert!(!w.contains(9));
        assert!(w.contains(10) && w.contains(1_000_000));
        w.end_us.store(20, Ordering::Relaxed);
        assert!(w.contains(19) && !w.contains(20));
    }

    #[derive(Debug, Clone, serde::Serialize)]
    struct Layer {
        video_layer: Option<u8>,
    }

    fn rows() -> (Vec<ReceiverRow<Layer>>, ReceiverTotals<()>) {
        let t0 = Instant::now();
        let mut stream = Received::default();
        stream.record(25_000 - 278 * 89, 0, 1_000);
        for i in 1..90 {
            stream.record(278, i * 20_000, i * 20_000 + 1_500);
        }
        let mut b = RowBuilder::new(2.0);
        let ok = Setup {
            requested_at: t0,
            up_at: t0 + std::time::Duration::from_millis(30),
            first_keyframe: None,
        };
        let layer = Layer {
            video_layer: Some(1),
        };
        let up = b.row(0, Ok(ok), [&stream], 100, 0, layer);
        let error = "timeout".to_string();
        let none = Layer { video_layer: None };
        let failed = b.row(1, Err(&error), [], 100, 3, none);
        let rows = vec![up, failed];
        let totals = b.totals(&rows, 100, ());
        (rows, totals)
    }

    #[test]
    fn a_failed_receiver_expects_nothing_and_totals_add_up() {
        let (rows, t) = rows();
        assert_eq!((rows[0].expected, rows[0].loss_pct), (100, 10.0));
        assert_eq!(rows[0].kbps, 100.0);
        assert_eq!(rows[0].video_layer, Some(1), "extra fields read through");
        assert_eq!((rows[1].expected, rows[1].loss_pct), (0, 0.0));
        assert_eq!(rows[1].error.as_deref(), Some("timeout"));
        assert_eq!((t.forwarded_packets, t.expected_packets), (90, 100));
        assert_eq!((t.loss_pct, t.unmatched_packets), (10.0, 3));
        assert!(t.setup_p50_ms.is_some() && t.first_keyframe_p50_ms.is_none());
    }

    #[test]
    fn extra_fields_sit_beside_the_shared_ones_in_json() {
        let (rows, _) = rows();
        let json = serde_json::to_value(&rows[0]).expect("JSON");
        for key in ["index", "packets", "expected", "jitter_ms", "video_layer"] {
            assert!(json.get(key).is_some(), "row JSON has {key}: {json}");
        }
        assert!(json.get("extra").is_none());
    }

    #[test]
    fn the_table_has_the_extra_column_and_the_failures() {
        let (rows, t) = rows();
        let layer = |x: &Layer| x.video_layer.map_or("-".into(), |l| l.to_string());
        let mut o = String::new();
        write_rows(&mut o, "sub", &rows, 1, &t, Some(("layer", &layer)));
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines.len(), 4, "{o}");
        assert!(lines[0].starts_with("  sub  setup ms") && lines[0].ends_with("kbit/s layer"));
        assert!(lines[1].starts_with("    0      30.0") && lines[1].ends_with("    1"));
        assert_eq!(lines[2], "    1 failed: timeout");
        assert!(lines[3].starts_with("  all"));
    }

    #[test]
    fn usages_without_a_server_pid_have_only_the_tool() {
        let u = RunSamples::start(None)
            .and_then(RunSamples::finish)
            .expect("/proc/self");
        assert!(u.server_total.is_none() && u.server_setup.is_none());
        assert!(u.server_window.is_none());
        assert!(u.client_total.cpu_s >= 0.0 && u.client_window.cpu_s >= 0.0);
    }

    #[test]
    fn costs_are_top_level_report_fields_and_read_back() {
        #[derive(serde::Serialize)]
        struct Report {
            scenario: &'static str,
            #[serde(flatten)]
            costs: Costs,
        }
        let usage = RunSamples::start(Some(std::process::id()))
            .and_then(RunSamples::finish)
            .expect("/proc");
        let costs = Costs::new(1_000, 4, usage);
        let report = Report {
            scenario: "videoroom",
            costs,
        };
        let json = serde_json::to_value(&report).expect("JSON");
        for key in [
            "forwarded_per_server_cpu_s",
            "server_cpu_us_per_forwarded_packet",
            "server_kib_per_peer_connection",
            "client_cpu_us_per_received_packet",
            "server_window",
            "server_setup",
            "server_total",
            "client_window",
            "client_total",
        ] {
            assert!(json.get(key).is_some(), "report JSON has {key}: {json}");
        }
        assert!(json.get("costs").is_none());
        use serde::Deserialize as _;
        assert_eq!(Costs::deserialize(&json).expect("read back"), costs);
    }

    #[tokio::test]
    async fn the_window_phase_opens_and_closes_the_window() {
        let pid = std::process::id();
        let mut samples = RunSamples::start(Some(pid)).expect("/proc");
        let (window, live, epoch) = (Window::default(), Live::default(), Instant::now());
        let s = samples
            .window(&window, epoch, &live, Duration::from_millis(20))
            .await
            .expect("/proc");
        assert!(s >= 0.02, "{s}");
        let now_us = (Instant::now() - epoch).as_micros() as u64;
        assert!(!window.contains(now_us), "closed after the window");
        assert!(window.contains(window.start_us.load(Ordering::Relaxed)));
        let u = samples.finish().expect("/proc");
        assert!(u.server_setup.is_some() && u.server_window.is_some());
    }
}
