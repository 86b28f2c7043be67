//! The Streaming results: per viewer, totals, the server's and the tool's CPU and memory; a
//! table for people and JSON for scripts (field names as the VideoRoom report's where they
//! mean the same).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::feeder::FeedCounts;
use super::flow::MountStream;
use super::{StreamingOptions, ViewerMeasure, Watched};
use crate::bench::payload::Kind;
use crate::bench::receivers::{
    Costs, Outcome, ReceiverRow, ReceiverTotals, RowBuilder, Setup, Usages, clips, write_rows,
};
use crate::bench::report::opt;
use crate::media::ffmpeg::{AudioSpec, VideoSpec};

/// One viewer.
pub type ViewerResult = ReceiverRow<ViewerExtra>;

/// What only a Streaming viewer has.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewerExtra {
    pub audio_packets: u64,
    pub video_packets: u64,
}

/// The whole run.
pub type StreamingTotals = ReceiverTotals<StreamingCounts>;

/// What only the Streaming totals have.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamingCounts {
    pub viewers_up: usize,
    pub viewers_failed: usize,
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
    #[serde(flatten)]
    pub costs: Costs,
    pub totals: StreamingTotals,
    pub viewers: Vec<ViewerResult>,
    /// Distinct payloads in the ledger (bounded by the clips).
    pub ledger_entries: usize,
}

/// One viewer's outcome: its index, how watching went, and what it measured.
pub(super) type ViewerOutcome = Outcome<Watched, ViewerMeasure>;

pub(super) struct Inputs<'a> {
    pub opts: &'a StreamingOptions,
    pub mountpoint: u64,
    pub created: bool,
    pub streams: &'a [MountStream],
    /// Per stream, what the source sent.
    pub sent: &'a [Arc<FeedCounts>],
    pub window_s: f64,
    pub viewers: &'a [ViewerOutcome],
    pub usage: Usages,
    pub ledger_entries: usize,
}

pub(super) fn build(i: Inputs<'_>) -> StreamingReport {
    let sent: Vec<u64> = i
        .sent
        .iter()
        .map(|c| c.in_window.load(Ordering::Relaxed))
        .collect();
    let expected_each: u64 = sent.iter().sum();
    let mut rows = RowBuilder::new(i.window_s);
    let mut viewers = Vec::with_capacity(i.viewers.len());
    for (index, result, measure) in i.viewers {
        let m = measure.lock();
        let mut extra = ViewerExtra {
            audio_packets: 0,
            video_packets: 0,
        };
        let mut streams = Vec::with_capacity(m.streams.len());
        for (s, stream) in m.streams.iter().zip(i.streams) {
            match stream.kind {
                Kind::Audio => extra.audio_packets += s.packets,
                Kind::Video => extra.video_packets += s.packets,
            }
            streams.push(s);
        }
        let setup = result.as_ref().map(|(_, v)| Setup {
            requested_at: v.watch_at,
            up_at: v.up_at,
            first_keyframe: m.first_keyframe,
        });
        viewers.push(rows.row(*index, setup, streams, expected_each, m.unmatched, extra));
    }
    let up = viewers.iter().filter(|v| v.error.is_none()).count();
    let counts = StreamingCounts {
        viewers_up: up,
        viewers_failed: viewers.len() - up,
        source_send_errors: i
            .sent
            .iter()
            .map(|c| c.send_errors.load(Ordering::Relaxed))
            .sum(),
    };
    let totals = rows.totals(&viewers, expected_each, counts);
    let costs = Costs::new(totals.forwarded_packets, up, i.usage);
    StreamingReport {
        scenario: "streaming",
        server: i.opts.run.server.clone(),
        server_pid: i.opts.run.server_pid,
        mountpoint: i.mountpoint,
        created: i.created,
        streams: i.streams.to_vec(),
        viewers_requested: i.opts.viewers,
        video: i.opts.run.video,
        audio: i.opts.run.audio,
        window_seconds: i.window_s,
        costs,
        totals,
        viewers,
        ledger_entries: i.ledger_entries,
    }
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
        let _ = writeln!(
            o,
            "  plain RTP: {}; {}",
            streams.join(", "),
            clips(&self.video, &self.audio)
        );
        write_rows(&mut o, "view", &self.viewers, rows, t, None);
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
        self.costs.write(&mut o);
        o
    }
}
