//! The VideoRoom results: per subscriber, totals, the server's and the tool's CPU and
//! memory; a table for people and JSON for scripts.

use std::fmt::Write as _;

use super::{RunningPublisher, Subscribed, SubscriberMeasure, VideoroomOptions};
use crate::bench::receivers::{
    Costs, Outcome, ReceiverRow, ReceiverTotals, RowBuilder, Setup, Usages, clips, write_rows,
};
use crate::bench::report::opt;
use crate::media::ffmpeg::{AudioSpec, VideoSpec};

/// One subscriber.
pub type SubscriberResult = ReceiverRow<SubscriberExtra>;

/// What only a VideoRoom subscriber has.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriberExtra {
    /// Simulcast layer most video packets came from (0 = lowest).
    pub video_layer: Option<u8>,
}

/// The whole run.
pub type VideoroomTotals = ReceiverTotals<VideoroomCounts>;

/// What only the VideoRoom totals have.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VideoroomCounts {
    pub publishers_up: usize,
    pub subscribers_up: usize,
    pub subscribers_failed: usize,
    pub keyframe_requests: u64,
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
    #[serde(flatten)]
    pub costs: Costs,
    pub totals: VideoroomTotals,
    pub publisher_errors: Vec<String>,
    pub subscribers: Vec<SubscriberResult>,
    /// Distinct payloads in the ledger (bounded by the clips).
    pub ledger_entries: usize,
}

/// One subscriber's outcome: its index, how joining went, and what it measured.
pub(super) type SubscriberOutcome = Outcome<Subscribed, SubscriberMeasure>;

pub(super) struct Inputs<'a> {
    pub opts: &'a VideoroomOptions,
    pub room: u64,
    pub window_s: f64,
    pub publishers: &'a [RunningPublisher],
    pub publisher_errors: &'a [String],
    pub subscribers: &'a [SubscriberOutcome],
    pub usage: Usages,
    pub ledger_entries: usize,
}

pub(super) fn build(i: Inputs<'_>) -> VideoroomReport {
    let sent: Vec<[u64; 4]> = i.publishers.iter().map(|p| p.sent_in_window()).collect();
    let layers = i.opts.layer_specs().len();
    let mut rows = RowBuilder::new(i.window_s);
    let mut subs = Vec::with_capacity(i.subscribers.len());
    for (index, result, measure) in i.subscribers {
        let m = measure.lock();
        let mut expected = 0;
        let mut video_layer = None;
        let mut streams = Vec::with_capacity(m.streams.len());
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
            expected += sent[slot];
            streams.push(&s.received);
        }
        let setup = result.as_ref().map(|(_, sub)| Setup {
            requested_at: sub.joined_at,
            up_at: sub.up_at,
            first_keyframe: m.first_keyframe,
        });
        let extra = SubscriberExtra { video_layer };
        subs.push(rows.row(*index, setup, streams, expected, m.unmatched, extra));
    }
    let up = subs.iter().filter(|s| s.error.is_none()).count();
    let counts = VideoroomCounts {
        publishers_up: i.publishers.len(),
        subscribers_up: up,
        subscribers_failed: subs.len() - up,
        keyframe_requests: i.publishers.iter().map(|p| p.keyframe_requests()).sum(),
    };
    let totals = rows.totals(&subs, sent.iter().flatten().sum(), counts);
    let costs = Costs::new(totals.forwarded_packets, i.publishers.len() + up, i.usage);
    VideoroomReport {
        scenario: "videoroom",
        server: i.opts.run.server.clone(),
        server_pid: i.opts.run.server_pid,
        room: i.room,
        publishers_requested: i.opts.publishers,
        subscribers_requested: i.opts.subscribers,
        simulcast: i.opts.simulcast,
        video: i.opts.layer_specs(),
        audio: i.opts.run.audio,
        window_seconds: i.window_s,
        costs,
        totals,
        publisher_errors: i.publisher_errors.to_vec(),
        subscribers: subs,
        ledger_entries: i.ledger_entries,
    }
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
            let _ = writeln!(o, "  {}", clips(v, &self.audio));
        }
        for e in &self.publisher_errors {
            let _ = writeln!(o, "  publisher failed: {e}");
        }
        let layer = |x: &SubscriberExtra| x.video_layer.map_or("-".into(), |l| l.to_string());
        write_rows(
            &mut o,
            "sub",
            &self.subscribers,
            rows,
            t,
            Some(("layer", &layer)),
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
        self.costs.write(&mut o);
        o
    }
}
