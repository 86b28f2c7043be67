//! Sequence-number and timestamp continuity for one outgoing stream (a target m-line).
//!
//! A target sees one continuous stream even when the route feeding it changes source or
//! simulcast layer: every source gets its own offsets, chosen at the switch so that the
//! first packet of the new source follows the last packet sent. Pure state machine: input
//! is the source's extended sequence number, RTP timestamp and arrival time; output is
//! what to write. No I/O, no clock of its own.

use std::time::Instant;

/// Identifies one incoming stream feeding the target: a change means a source switch.
pub type SourceKey = u64;

/// Output sequence numbers start below this so the first write has ROC 0, as str0m wants.
const FIRST_SEQ_LIMIT: u64 = 0x4000;

/// What the rewriter needs to know about one incoming packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpIn {
    pub source: SourceKey,
    /// Extended (ROC-aware) sequence number of the source.
    pub seq: u64,
    pub timestamp: u32,
    /// Codec clock rate (Hz), to turn wall time into timestamp ticks across a switch.
    pub clock_rate: u32,
    pub arrival: Instant,
}

/// Where to write the packet in the target's numbering, and what else to change in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpOut {
    /// Extended outgoing sequence number.
    pub seq: u64,
    pub timestamp: u32,
    /// The RTP marker to write (moved to the highest forwarded VP9 spatial layer).
    pub marker: bool,
    /// VP8 picture id / TL0PICIDX rewrite, applied by str0m while it serializes the packet.
    pub vp8: Option<str0m::rtp::Vp8Patch>,
    /// The VP8 values that patch writes (for plain-RTP outputs and tests).
    pub picture: Option<super::picture_id::PictureIds>,
}

#[derive(Debug, Clone)]
struct Current {
    source: SourceKey,
    /// First source sequence number forwarded since the switch; older ones are dropped
    /// (they would collide with what the previous source already used).
    first_in_seq: u64,
    seq_offset: u64,
    ts_offset: u32,
    /// Highest source sequence number seen (forwarded or skipped).
    max_in_seq: u64,
    /// Last skipped source sequence number: older packets arriving late are dropped, since
    /// the numbers after them moved down by the skip.
    skip_floor: u64,
}

/// Continuity state for one target stream.
#[derive(Debug, Clone)]
pub struct Rewriter {
    current: Option<Current>,
    /// Highest extended sequence number written, with its timestamp and arrival time.
    last: Option<(u64, u32, Instant)>,
    initial_seq: u64,
}

impl Rewriter {
    /// `seed` picks the first outgoing sequence number (kept below the ROC boundary).
    pub fn new(seed: u64) -> Self {
        Rewriter {
            current: None,
            last: None,
            initial_seq: seed % FIRST_SEQ_LIMIT,
        }
    }

    /// Maps one packet; `None` means drop it (it predates the current source switch).
    pub fn rewrite(&mut self, p: RtpIn) -> Option<RtpOut> {
        let switch = self.current.as_ref().is_none_or(|c| c.source != p.source);
        if switch {
            let (next_seq, next_ts) = match self.last {
                None => (self.initial_seq, p.timestamp),
                Some((seq, ts, at)) => {
                    let elapsed = p.arrival.saturating_duration_since(at);
                    // At least one tick so the timestamp moves forward across the switch.
                    let ticks = (elapsed.as_secs_f64() * f64::from(p.clock_rate)).round();
                    let ticks = (ticks as u64).clamp(1, u64::from(u32::MAX / 2)) as u32;
                    (seq + 1, ts.wrapping_add(ticks))
                }
            };
            self.current = Some(Current {
                source: p.source,
                first_in_seq: p.seq,
                seq_offset: next_seq.wrapping_sub(p.seq),
                ts_offset: next_ts.wrapping_sub(p.timestamp),
                max_in_seq: p.seq,
                skip_floor: 0,
            });
        }
        let cur = self.current.as_mut()?;
        if p.seq < cur.first_in_seq || p.seq < cur.skip_floor {
            return None;
        }
        cur.max_in_seq = cur.max_in_seq.max(p.seq);
        let out = RtpOut {
            seq: p.seq.wrapping_add(cur.seq_offset),
            timestamp: p.timestamp.wrapping_add(cur.ts_offset),
            ..Default::default()
        };
        if self.last.is_none_or(|(seq, _, _)| out.seq > seq) {
            self.last = Some((out.seq, out.timestamp, p.arrival));
        }
        Some(out)
    }

    /// A packet of `source` is dropped on purpose (layer filtering): the packets after it
    /// move down one number so the target sees no gap to NACK. Packets of a source not
    /// mapped now, and late ones, change nothing.
    pub fn skip(&mut self, source: SourceKey, seq: u64) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if cur.source != source || seq <= cur.max_in_seq {
            return;
        }
        cur.seq_offset = cur.seq_offset.wrapping_sub(1);
        cur.max_in_seq = seq;
        cur.skip_floor = seq;
    }

    /// The source currently mapped, if any.
    pub fn source(&self) -> Option<SourceKey> {
        self.current.as_ref().map(|c| c.source)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pkt(source: SourceKey, seq: u64, timestamp: u32, at: Instant) -> RtpIn {
        RtpIn {
            source,
            seq,
            timestamp,
            clock_rate: 90_000,
            arrival: at,
        }
    }

    #[test]
    fn first_packet_starts_at_seed_and_keeps_timestamp() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(100);
        let out = r.rewrite(pkt(1, 5000, 1234, t0)).unwrap();
        assert_eq!(
            out,
            RtpOut {
                seq: 100,
                timestamp: 1234,
                ..Default::default()
            }
        );
        let out = r.rewrite(pkt(1, 5001, 4234, t0)).unwrap();
        assert_eq!(
            out,
            RtpOut {
                seq: 101,
                timestamp: 4234,
                ..Default::default()
            }
        );
    }

    #[test]
    fn seed_is_kept_below_roc_boundary() {
        let mut r = Rewriter::new(u64::MAX);
        let out = r.rewrite(pkt(1, 7, 0, Instant::now())).unwrap();
        assert!(out.seq < 0x4000);
    }

    #[test]
    fn source_switch_continues_sequence_and_advances_timestamp_by_wall_time() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(10);
        r.rewrite(pkt(1, 100, 90_000, t0)).unwrap();
        r.rewrite(pkt(1, 101, 93_000, t0 + Duration::from_millis(33)))
            .unwrap();
        // New source with unrelated numbering, 100 ms later.
        let out = r
            .rewrite(pkt(2, 60_000, 7, t0 + Duration::from_millis(133)))
            .unwrap();
        assert_eq!(out.seq, 12);
        assert_eq!(out.timestamp, 93_000 + 9_000);
        let out = r
            .rewrite(pkt(2, 60_001, 3_007, t0 + Duration::from_millis(166)))
            .unwrap();
        assert_eq!(
            out,
            RtpOut {
                seq: 13,
                timestamp: 105_000,
                ..Default::default()
            }
        );
        // And back to the first source.
        let out = r
            .rewrite(pkt(1, 102, 96_000, t0 + Duration::from_millis(167)))
            .unwrap();
        assert_eq!(out.seq, 14);
        assert_eq!(out.timestamp, 105_000 + 90);
    }

    #[test]
    fn reordered_packets_within_a_source_keep_their_relative_numbers() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(0);
        r.rewrite(pkt(1, 10, 0, t0)).unwrap();
        let late = r.rewrite(pkt(1, 12, 200, t0)).unwrap();
        let early = r.rewrite(pkt(1, 11, 100, t0)).unwrap();
        assert_eq!(late.seq, 2);
        assert_eq!(early.seq, 1);
    }

    #[test]
    fn packets_older_than_a_switch_are_dropped() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(0);
        r.rewrite(pkt(1, 10, 0, t0)).unwrap();
        r.rewrite(pkt(2, 500, 0, t0)).unwrap();
        assert_eq!(r.rewrite(pkt(2, 499, 0, t0)), None);
        assert_eq!(r.source(), Some(2));
    }

    #[test]
    fn extended_sequence_and_timestamp_wrap_around() {
        // The source crosses its 16-bit boundary, the output crosses its own, and the
        // timestamp wraps: numbering stays continuous throughout.
        let t0 = Instant::now();
        let mut r = Rewriter::new(0x3fff);
        let mut last: Option<RtpOut> = None;
        for i in 0..70_000u64 {
            let ts = (u32::MAX - 30_000).wrapping_add((i as u32).wrapping_mul(3_000));
            let out = r.rewrite(pkt(1, 65_530 + i, ts, t0)).unwrap();
            if let Some(prev) = last {
                assert_eq!(out.seq, prev.seq + 1);
                assert_eq!(out.timestamp, prev.timestamp.wrapping_add(3_000));
            }
            last = Some(out);
        }
        assert!(last.unwrap().seq > 65_535);
    }

    #[test]
    fn skipped_packets_leave_no_gap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(0);
        assert_eq!(r.rewrite(pkt(1, 10, 0, t0)).unwrap().seq, 0);
        r.skip(1, 11);
        r.skip(1, 12);
        r.skip(1, 12); // a duplicate changes nothing
        r.skip(9, 13); // another source changes nothing
        assert_eq!(r.rewrite(pkt(1, 13, 0, t0)).unwrap().seq, 1);
        // A late packet from before the skip would collide: dropped.
        assert_eq!(r.rewrite(pkt(1, 11, 0, t0)), None);
        // Reordering after the skip is kept.
        assert_eq!(r.rewrite(pkt(1, 15, 0, t0)).unwrap().seq, 3);
        assert_eq!(r.rewrite(pkt(1, 14, 0, t0)).unwrap().seq, 2);
        // A skip older than the newest packet is a late drop: no shift.
        r.skip(1, 12);
        assert_eq!(r.rewrite(pkt(1, 16, 0, t0)).unwrap().seq, 4);
    }

    #[test]
    fn switch_right_after_timestamp_wrap_stays_continuous() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(0);
        r.rewrite(pkt(1, 1, u32::MAX - 10, t0)).unwrap();
        let out = r
            .rewrite(pkt(3, 9, 50, t0 + Duration::from_millis(1)))
            .unwrap();
        assert_eq!(out.seq, 1);
        assert_eq!(out.timestamp, (u32::MAX - 10).wrapping_add(90));
    }
}
