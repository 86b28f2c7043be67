//! Results of a run: serializable for `--json`, and printed as a table.

use std::fmt::Write as _;

use serde::Serialize;

use super::payload::{Kind, MediaProfile};
use super::procfs::ProcUsage;
use super::stats::StreamStats;

/// One direction-pair (sent, echoed back) of one stream kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamResult {
    pub kind: Kind,
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Distinct packets that came back.
    pub received_packets: u64,
    pub received_bytes: u64,
    pub lost_packets: u64,
    pub loss_pct: f64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Round-trip time (send → echo received), ms.
    pub rtt_p50_ms: Option<f64>,
    pub rtt_p99_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    /// Half the round trip: the one-way latency estimate on a symmetric path.
    pub one_way_p50_ms: Option<f64>,
    /// RFC 3550 interarrival jitter of the echoed stream, ms (a mean over sessions in totals).
    pub jitter_ms: Option<f64>,
    /// Received payload rate over the media window, kbit/s.
    pub received_kbps: f64,
}

impl StreamResult {
    pub fn from_stats(kind: Kind, s: &StreamStats, window_s: f64) -> Self {
        let ms = |us: Option<u64>| us.map(|v| v as f64 / 1000.0);
        let lost = s.sent_packets.saturating_sub(s.received_packets);
        let p50 = ms(s.latency_us.percentile(0.5));
        StreamResult {
            kind,
            sent_packets: s.sent_packets,
            sent_bytes: s.sent_bytes,
            received_packets: s.received_packets,
            received_bytes: s.received_bytes,
            lost_packets: lost,
            loss_pct: if s.sent_packets == 0 {
                0.0
            } else {
                lost as f64 * 100.0 / s.sent_packets as f64
            },
            duplicates: s.seq.duplicates(),
            reordered: s.seq.reordered(),
            rtt_p50_ms: p50,
            rtt_p99_ms: ms(s.latency_us.percentile(0.99)),
            rtt_max_ms: ms(s.latency_us.max()),
            one_way_p50_ms: p50.map(|v| v / 2.0),
            jitter_ms: (s.received_packets > 1).then(|| s.jitter.micros() / 1000.0),
            received_kbps: if window_s > 0.0 {
                s.received_bytes as f64 * 8.0 / window_s / 1000.0
            } else {
                0.0
            },
        }
    }
}

/// One EchoTest session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionResult {
    pub index: usize,
    /// `create` sent → `webrtcup` received.
    pub setup_ms: Option<f64>,
    /// Why the session did not run, if it did not.
    pub error: Option<String>,
    pub audio: StreamResult,
    pub video: StreamResult,
    /// RTP received that was not a bench payload this session sent.
    pub foreign_packets: u64,
    pub send_errors: u64,
}

/// All sessions together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub sessions_up: usize,
    pub sessions_failed: usize,
    pub setup_p50_ms: Option<f64>,
    pub setup_max_ms: Option<f64>,
    pub audio: StreamResult,
    pub video: StreamResult,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchotestReport {
    pub scenario: &'static str,
    pub server: String,
    pub server_pid: Option<u32>,
    pub sessions_requested: usize,
    /// Length of the media window actually run, seconds.
    pub media_seconds: f64,
    pub media: MediaProfile,
    pub totals: Totals,
    /// Server CPU time over the media window per echoed packet, µs.
    pub server_cpu_us_per_echoed_packet: Option<f64>,
    /// The tool's own CPU time over the media window per echoed packet, µs.
    pub client_cpu_us_per_echoed_packet: Option<f64>,
    /// The server from before the first `create` to the end of the media (and drain).
    pub server_total: Option<ProcUsage>,
    /// The server over the media window (and drain) only.
    pub server_media: Option<ProcUsage>,
    pub client_total: ProcUsage,
    pub client_media: ProcUsage,
    pub sessions: Vec<SessionResult>,
}

impl EchotestReport {
    /// The human-readable report: a row per stream kind per session (up to
    /// `max_session_rows` sessions), totals, and process usage.
    pub fn to_table(&self, max_session_rows: usize) -> String {
        let mut out = String::new();
        let t = &self.totals;
        let _ = writeln!(
            out,
            "echotest against {}: {} of {} sessions up, {:.1} s of media \
             (audio {} B every {} ms, {}-shaped video {} kbit/s at {} fps)",
            self.server,
            t.sessions_up,
            self.sessions_requested,
            self.media_seconds,
            self.media.audio_bytes,
            self.media.audio_ptime_ms,
            self.media.video_codec.name().to_uppercase(),
            self.media.video_bps / 1000,
            self.media.video_fps,
        );
        let headers = [
            "session", "setup ms", "kind", "sent", "echoed", "loss %", "RTT p50", "RTT p99",
            "RTT max", "jitter", "kbit/s",
        ];
        let mut rows = Vec::new();
        for s in self.sessions.iter().take(max_session_rows) {
            if let Some(e) = &s.error {
                rows.push(vec![
                    s.index.to_string(),
                    "-".into(),
                    format!("failed: {}", truncate(e, 60)),
                ]);
                continue;
            }
            let setup = opt(s.setup_ms, 1);
            rows.push(stream_row(s.index.to_string(), setup, &s.audio));
            rows.push(stream_row(String::new(), String::new(), &s.video));
        }
        let setup = match (t.setup_p50_ms, t.setup_max_ms) {
            (Some(p), Some(m)) => format!("{p:.1}/{m:.1}"),
            _ => "-".into(),
        };
        rows.push(stream_row("all".into(), setup, &t.audio));
        rows.push(stream_row(String::new(), String::new(), &t.video));
        out.push_str(&table(&headers, &rows));
        if self.sessions.len() > max_session_rows {
            let _ = writeln!(
                out,
                "({} more sessions in --json; \"all\" setup is p50/max)",
                self.sessions.len() - max_session_rows
            );
        }
        let _ = writeln!(
            out,
            "(times in ms; RTT = send -> echo received, one-way ~ RTT/2)"
        );
        if let Some(u) = &self.server_media {
            let _ = writeln!(
                out,
                "server pid {}: {}{}",
                self.server_pid.unwrap_or(0),
                usage_line(u),
                per_packet(self.server_cpu_us_per_echoed_packet),
            );
        }
        let _ = writeln!(
            out,
            "client (this tool): {}{}",
            usage_line(&self.client_media),
            per_packet(self.client_cpu_us_per_echoed_packet),
        );
        out
    }
}

fn stream_row(session: String, setup: String, r: &StreamResult) -> Vec<String> {
    vec![
        session,
        setup,
        match r.kind {
            Kind::Audio => "audio".into(),
            Kind::Video => "video".into(),
        },
        r.sent_packets.to_string(),
        r.received_packets.to_string(),
        format!("{:.2}", r.loss_pct),
        opt(r.rtt_p50_ms, 2),
        opt(r.rtt_p99_ms, 2),
        opt(r.rtt_max_ms, 2),
        opt(r.jitter_ms, 2),
        format!("{:.0}", r.received_kbps),
    ]
}

fn usage_line(u: &ProcUsage) -> String {
    format!(
        "CPU {:.2} s in {:.1} s of media and drain ({:.0}% of one core), RSS {:.1} -> {:.1} MiB, \
         peak {:.1} MiB",
        u.cpu_s,
        u.wall_s,
        u.cpu_percent(),
        u.rss_start_kib as f64 / 1024.0,
        u.rss_end_kib as f64 / 1024.0,
        u.peak_rss_kib as f64 / 1024.0,
    )
}

fn per_packet(us: Option<f64>) -> String {
    us.map(|v| format!(", {v:.1} us CPU per echoed packet"))
        .unwrap_or_default()
}

/// `v` with `decimals`, or `-` when absent.
pub(crate) fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Right-aligned columns under a header and a rule; short rows leave cells empty (a long
/// last cell overflows instead of widening the column).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        // A short row's last cell is free text: it does not set a column width.
        let sized = if row.len() < headers.len() {
            row.len().saturating_sub(1)
        } else {
            row.len()
        };
        for (w, cell) in widths.iter_mut().zip(&row[..sized]) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let text: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied(), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for row in rows {
        if row.len() < headers.len() {
            // Free text after the sized cells.
            let mut text: Vec<String> = row[..row.len().saturating_sub(1)]
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            text.extend(row.last().cloned());
            out.push_str(&text.join("  "));
            out.push('\n');
        } else {
            line(&mut row.iter().map(String::as_str), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_keeps_free_text() {
        let t = table(
            &["a", "bbb", "c"],
            &[
                vec!["1".into(), "22".into(), "x".into()],
                vec!["333".into(), "4".into(), "y".into()],
                vec!["5".into(), "a long failure message".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "  a  bbb  c");
        assert_eq!(lines[1], "---  ---  -");
        assert_eq!(lines[2], "  1   22  x");
        assert_eq!(lines[3], "333    4  y");
        assert_eq!(lines[4], "  5  a long failure message");
    }

    #[test]
    fn stream_result_from_stats() {
        let mut s = StreamStats::default();
        s.record_sent(4, 400);
        for seq in 0..3 {
            s.record_received(seq, seq * 20_000, seq * 20_000 + 1_000, 100);
        }
        let r = StreamResult::from_stats(Kind::Audio, &s, 1.0);
        assert_eq!((r.received_packets, r.lost_packets), (3, 1));
        assert_eq!(r.loss_pct, 25.0);
        assert_eq!(r.rtt_p50_ms, Some(1.0));
        assert_eq!(r.one_way_p50_ms, Some(0.5));
        assert_eq!(r.jitter_ms, Some(0.0));
        assert_eq!(r.received_kbps, 2.4);
        // Nothing received: no latency, no jitter, all lost.
        let mut none = StreamStats::default();
        none.record_sent(2, 200);
        let r = StreamResult::from_stats(Kind::Video, &none, 1.0);
        assert_eq!((r.rtt_p50_ms, r.jitter_ms, r.loss_pct), (None, None, 100.0));
    }
}
