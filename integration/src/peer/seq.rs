//! Sequence-number continuity of one received RTP stream: gaps, duplicates, reordering.
//!
//! Pure state machine over extended (64-bit) sequence numbers. Memory is bounded: only the
//! last [`WINDOW`] numbers below the highest one are remembered, older arrivals count as
//! `too_old` (they can no longer be told from duplicates).

/// How many sequence numbers below the highest are remembered.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Continuity counters for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqTracker {
    first: Option<u64>,
    highest: u64,
    /// Bit `s % WINDOW` set: `s` (within the window below `highest`) arrived.
    seen: [u64; WORDS],
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Arrivals of a number already received (within the window).
    pub duplicates: u64,
    /// Arrivals below the highest number received so far (late, not duplicate).
    pub reordered: u64,
    /// Arrivals too far below the highest to be checked.
    pub too_old: u64,
    /// Numbers that left the window without arriving: lost for good.
    pub lost: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker {
            first: None,
            highest: 0,
            seen: [0; WORDS],
            unique: 0,
            duplicates: 0,
            reordered: 0,
            too_old: 0,
            lost: 0,
        }
    }
}

impl SeqTracker {
    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn is_set(&self, seq: u64) -> bool {
        let (w, b) = Self::bit(seq);
        self.seen[w] & b != 0
    }

    fn set(&mut self, seq: u64, on: bool) {
        let (w, b) = Self::bit(seq);
        if on {
            self.seen[w] |= b;
        } else {
            self.seen[w] &= !b;
        }
    }

    /// Records one arrival of `seq`.
    pub fn record(&mut self, seq: u64) {
        let Some(first) = self.first else {
            self.first = Some(seq);
            self.highest = seq;
            self.set(seq, true);
            self.unique = 1;
            return;
        };
        if seq > self.highest {
            // Numbers leaving the window: count those that never came.
            let start = self.highest + 1;
            for s in start..seq {
                self.slide_out(s, first);
                self.set(s, false);
            }
            self.slide_out(seq, first);
            self.set(seq, true);
            self.highest = seq;
            self.unique += 1;
        } else if seq + WINDOW <= self.highest || seq < first {
            self.too_old += 1;
        } else if self.is_set(seq) {
            self.duplicates += 1;
        } else {
            self.set(seq, true);
            self.unique += 1;
            self.reordered += 1;
        }
    }

    /// The slot `s` reuses held `s - WINDOW`: if that number never arrived, it is lost.
    fn slide_out(&mut self, s: u64, first: u64) {
        if s >= first + WINDOW && !self.is_set(s) {
            self.lost += 1;
        }
    }

    /// The first and highest sequence numbers seen.
    pub fn range(&self) -> Option<(u64, u64)> {
        self.first.map(|f| (f, self.highest))
    }

    /// Whether `seq` arrived (only answerable within the window).
    pub fn contains(&self, seq: u64) -> bool {
        self.first.is_some()
            && seq <= self.highest
            && seq + WINDOW > self.highest
            && seq >= self.first.unwrap_or(u64::MAX)
            && self.is_set(seq)
    }

    /// Numbers between the first and the highest that have not arrived (yet): the lost
    /// ones plus the holes still in the window.
    pub fn missing(&self) -> u64 {
        match self.first {
            None => 0,
            Some(f) => (self.highest - f + 1).saturating_sub(self.unique),
        }
    }
}

/// Extends a 16-bit RTP sequence number next to the highest extended one seen (RFC 3550
/// A.1 style: the closest candidate wins).
pub fn extend_seq(highest: Option<u64>, seq: u16) -> u64 {
    let Some(h) = highest else {
        return u64::from(seq);
    };
    let roc = h >> 16;
    let candidates = [roc.wrapping_sub(1), roc, roc + 1]
        .into_iter()
        .filter(|r| *r < (1 << 48))
        .map(|r| (r << 16) | u64::from(seq));
    candidates
        .min_by_key(|c| c.abs_diff(h))
        .unwrap_or(u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_order_stream_as_continuous() {
        let mut t = SeqTracker::default();
        for s in 100..200 {
            t.record(s);
        }
        assert_eq!(t.unique, 100);
        assert_eq!(t.missing(), 0);
        assert_eq!((t.duplicates, t.reordered, t.lost), (0, 0, 0));
        assert!(t.contains(150) && !t.contains(200) && !t.contains(99));
    }

    #[test]
    fn gap_then_late_fill_and_duplicates() {
        let mut t = SeqTracker::default();
        for s in [1, 2, 4, 5] {
            t.record(s);
        }
        assert_eq!(t.missing(), 1);
        assert!(!t.contains(3));
        t.record(3);
        assert_eq!((t.missing(), t.reordered), (0, 1));
        t.record(4);
        assert_eq!(t.duplicates, 1);
    }

    #[test]
    fn holes_leaving_the_window_are_lost() {
        let mut t = SeqTracker::default();
        t.record(0);
        t.record(2);
        t.record(2 + WINDOW + 5);
        // 1 and 3..=7 left the window without arriving.
        assert_eq!(t.lost, 6);
        t.record(1);
        assert_eq!(t.too_old, 1);
        assert_eq!(t.missing(), (2 + WINDOW + 5 + 1) - 3);
    }

    #[test]
    fn extends_across_wrap() {
        assert_eq!(extend_seq(None, 7), 7);
        assert_eq!(extend_seq(Some(65_535), 0), 65_536);
        assert_eq!(extend_seq(Some(65_536), 65_535), 65_535);
        assert_eq!(extend_seq(Some(3 << 16 | 10), 9), 3 << 16 | 9);
    }
}
