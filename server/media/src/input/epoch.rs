//! Where a packet stands in its sender's numbering: extends 16-bit sequence numbers and
//! notices sender restarts. Each restart starts a new epoch, which the router treats as a
//! new source, so its rewriter keeps the subscribers' numbering and timing continuous.
//! Pure: the arrival time is passed in.
//!
//! A restart is a new SSRC, or, with the same SSRC (senders with a fixed `ssrc`), a
//! sequence jump no loss explains, a timestamp that does not fit the sequence step and the
//! time since the last packet, or a stream that was quiet for the no-media time. The last
//! one lines up with what plugins see: a stream reported stopped (`input-media`
//! receiving:false) that comes back is a new epoch, whatever its numbering. Late packets of
//! the epoch before a restart are dropped rather than switching back to it.

use std::time::{Duration, Instant};

/// A sequence-number move larger than this (either way) is a restart, not loss or
/// reordering.
const RESTART_JUMP: i32 = 1000;
/// How far a timestamp may stray (in media time) from what the arrival predicts: far above
/// network reordering and jitter, and a tiny part of the 32-bit space (2 s at 90 kHz is
/// 1/24000 of it), where a restarted sender's random timestamp base lands.
const TS_SLACK: Duration = Duration::from_secs(2);

/// One epoch's numbering.
#[derive(Debug, Clone, Copy)]
struct Run {
    ssrc: u32,
    /// Highest extended sequence number, its timestamp and arrival.
    max: u64,
    max_ts: u32,
    max_at: Instant,
}

impl Run {
    fn start(ssrc: u32, seq: u16, ts: u32, now: Instant) -> Run {
        Run {
            ssrc,
            // One cycle up, so a packet reordered before the first one still extends below it.
            max: (1 << 16) | u64::from(seq),
            max_ts: ts,
            max_at: now,
        }
    }

    /// The packet's extended sequence number when it belongs to this run.
    fn fits(&self, ssrc: u32, seq: u16, ts: u32, now: Instant, clock_rate: u32) -> Option<u64> {
        if ssrc != self.ssrc {
            return None;
        }
        let delta = i32::from(seq.wrapping_sub(self.max as u16) as i16);
        if delta.abs() > RESTART_JUMP {
            return None;
        }
        // Later packets move the timestamp forward by about the time passed; late ones lie
        // a little behind. Either way within the slack.
        let ticks = |d: Duration| (d.as_secs_f64() * f64::from(clock_rate)) as i64;
        let ts_delta = i64::from(ts.wrapping_sub(self.max_ts) as i32);
        let elapsed = now.saturating_duration_since(self.max_at);
        let slack = ticks(TS_SLACK);
        if ts_delta < -slack || ts_delta > ticks(elapsed) + slack {
            return None;
        }
        Some(self.max.saturating_add_signed(i64::from(delta)))
    }
}

/// One stream's sender numbering.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    clock_rate: u32,
    epoch: u64,
    current: Option<Run>,
    /// The run before the last restart: its late packets are dropped.
    previous: Option<Run>,
    last_at: Option<Instant>,
}

impl SeqTracker {
    pub fn new(clock_rate: u32) -> SeqTracker {
        SeqTracker {
            clock_rate,
            epoch: 0,
            current: None,
            previous: None,
            last_at: None,
        }
    }

    /// The packet's (epoch, extended sequence number); `None` = a late packet of the
    /// sender before its restart, to drop. `quiet` = the no-media time.
    pub fn track(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        now: Instant,
        quiet: Duration,
    ) -> Option<(u64, u64)> {
        let resumed = self
            .last_at
            .is_some_and(|t| now.saturating_duration_since(t) >= quiet);
        self.last_at = Some(now);
        if !resumed {
            if let Some(run) = &mut self.current
                && let Some(ext) = run.fits(ssrc, seq, ts, now, self.clock_rate)
            {
                if ext > run.max {
                    run.max = ext;
                    run.max_ts = ts;
                    run.max_at = now;
                }
                return Some((self.epoch, ext));
            }
            if self
                .previous
                .is_some_and(|p| p.fits(ssrc, seq, ts, now, self.clock_rate).is_some())
            {
                return None;
            }
        }
        if self.current.is_some() {
            self.epoch += 1;
        }
        self.previous = self.current;
        let run = Run::start(ssrc, seq, ts, now);
        self.current = Some(run);
        Some((self.epoch, run.max))
    }

    /// The sender's SSRC now (for PLI).
    pub fn ssrc(&self) -> Option<u32> {
        self.current.map(|r| r.ssrc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(1);
    /// Opus: 20 ms packets.
    const STEP: u32 = 960;

    /// Feeds packets 20 ms apart from `at`.
    struct Feed {
        t: SeqTracker,
        at: Instant,
    }

    impl Feed {
        fn new() -> Feed {
            Feed {
                t: SeqTracker::new(48_000),
                at: Instant::now(),
            }
        }

        fn after(&mut self, ms: u64, ssrc: u32, seq: u16, ts: u32) -> Option<(u64, u64)> {
            self.at += Duration::from_millis(ms);
            self.t.track(ssrc, seq, ts, self.at, QUIET)
        }

        fn next(&mut self, ssrc: u32, seq: u16, ts: u32) -> Option<(u64, u64)> {
            self.after(20, ssrc, seq, ts)
        }
    }

    #[test]
    fn extends_across_wrap_and_reordering() {
        let mut f = Feed::new();
        let (e, first) = f.next(1, 65534, 0).unwrap();
        assert_eq!(e, 0);
        assert_eq!(f.next(1, 65535, STEP), Some((0, first + 1)));
        assert_eq!(f.next(1, 1, 3 * STEP), Some((0, first + 3)));
        assert_eq!(f.next(1, 0, 2 * STEP), Some((0, first + 2)));
        assert_eq!(f.next(1, 2, 4 * STEP), Some((0, first + 4)));
        // Timestamps wrap too.
        let mut g = Feed::new();
        g.next(1, 10, u32::MAX - 100);
        assert_eq!(g.next(1, 11, STEP - 101).unwrap().0, 0);
        assert_eq!(f.t.ssrc(), Some(1));
    }

    #[test]
    fn a_new_ssrc_or_a_jump_is_a_new_epoch() {
        let mut f = Feed::new();
        f.next(1, 100, 0);
        assert_eq!(f.next(2, 100, 0).unwrap().0, 1);
        assert_eq!(f.next(2, 101, STEP).unwrap().0, 1);
        // Same SSRC, numbering restarted far away.
        assert_eq!(f.next(2, 40_000, 2 * STEP).unwrap().0, 2);
        assert_eq!(f.next(2, 40_001, 3 * STEP).unwrap().0, 2);
    }

    #[test]
    fn a_restart_with_a_fixed_ssrc_behind_the_old_numbering_is_a_new_epoch() {
        let mut f = Feed::new();
        for i in 0..50u16 {
            f.next(7, 5000 + i, 1_000_000 + u32::from(i) * STEP);
        }
        // Restarted: a fresh random base, 600 behind, timestamps elsewhere.
        assert_eq!(f.next(7, 4400, 3_000_000_000), Some((1, (1 << 16) | 4400)));
        assert_eq!(f.next(7, 4401, 3_000_000_000 + STEP).unwrap().0, 1);
        // A late packet of the run before is dropped, not a switch back.
        assert_eq!(f.next(7, 5049, 1_000_000 + 49 * STEP), None);
        assert_eq!(f.next(7, 4402, 3_000_000_000 + 2 * STEP).unwrap().0, 1);
    }

    #[test]
    fn a_timestamp_that_does_not_fit_the_sequence_is_a_restart() {
        let mut f = Feed::new();
        f.next(7, 100, 0);
        f.next(7, 101, STEP);
        // Next number, but 10 s of media later after 20 ms.
        assert_eq!(f.next(7, 102, 480_000 + 2 * STEP).unwrap().0, 1);
        // Going backwards beyond the slack too (4 s, and 6 s ahead of the run before).
        assert_eq!(f.next(7, 103, 480_000 + 2 * STEP - 192_000).unwrap().0, 2);
    }

    #[test]
    fn pauses_and_gaps_that_fit_stay_one_epoch() {
        let mut f = Feed::new();
        f.next(7, 100, 0);
        // DTX: 400 ms of silence in one step.
        assert_eq!(f.after(400, 7, 101, 19_200).unwrap().0, 0);
        // Loss of 5 packets, a late one.
        assert_eq!(f.next(7, 107, 19_200 + 6 * STEP).unwrap().0, 0);
        assert_eq!(f.next(7, 104, 19_200 + 3 * STEP).unwrap().0, 0);
    }

    #[test]
    fn a_quiet_stream_that_resumes_is_a_new_epoch() {
        let mut f = Feed::new();
        f.next(7, 100, 0);
        f.next(7, 101, STEP);
        // Same numbering as if nothing happened, but quiet for the no-media time.
        assert_eq!(f.after(1000, 7, 102, 2 * STEP).unwrap().0, 1);
        assert_eq!(f.next(7, 103, 3 * STEP).unwrap().0, 1);
    }

    #[test]
    fn the_old_ssrc_after_a_restart_is_dropped_unless_the_new_one_went_quiet() {
        let mut f = Feed::new();
        f.next(1, 100, 0);
        f.next(1, 101, STEP);
        assert_eq!(f.next(2, 9000, 77).unwrap().0, 1);
        assert_eq!(f.next(1, 102, 2 * STEP), None);
        assert_eq!(f.next(2, 9001, 77 + STEP).unwrap().0, 1);
        assert_eq!(t_ssrc(&f), Some(2));
        // The first sender is back for good after the second stopped.
        assert_eq!(f.after(1500, 1, 103, 3 * STEP).unwrap().0, 2);
        assert_eq!(t_ssrc(&f), Some(1));
    }

    fn t_ssrc(f: &Feed) -> Option<u32> {
        f.t.ssrc()
    }
}
