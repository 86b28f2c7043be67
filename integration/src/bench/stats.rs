//! Measurements per received stream: latency percentiles (a log-linear histogram, so long
//! runs with many peers keep constant memory), loss from sequence numbers, and RFC 3550
//! interarrival jitter.

/// Values below this are counted exactly (one bucket each).
const EXACT: u64 = 128;
/// Sub-buckets per power of two above [`EXACT`]: relative error under 1/64.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// A histogram of non-negative integers (microseconds here) with bounded relative error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        let i = bucket_of(v);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += u128::from(v);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The `q` quantile (0..=1, nearest rank), or `None` without samples. Exact below 128,
    /// within 1/64 above; never outside the recorded min..=max.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= 7
    let shift = exp - SUB_BITS;
    let mantissa = v >> shift; // in SUB..2*SUB
    (EXACT + u64::from(exp - 7) * SUB + (mantissa - SUB)) as usize
}

/// The middle of bucket `i`.
fn bucket_value(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let exp = (i - EXACT) / SUB + 7;
    let mantissa = (i - EXACT) % SUB + SUB;
    let shift = exp as u32 - SUB_BITS;
    (mantissa << shift) + ((1u64 << shift) >> 1)
}

/// Which sequence numbers (the sender's own count from 0, carried in the payload) arrived:
/// gives loss, duplicates and reordering.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    seen: Vec<u64>,
    received: u64,
    duplicates: u64,
    reordered: u64,
    highest: Option<u64>,
}

impl SeqTracker {
    /// Largest sequence number accepted: bounds memory against a garbage payload (a 600 s
    /// run at 1000 packets/s stays far below).
    pub const MAX_SEQ: u64 = 1 << 24;

    /// Records `seq`; returns false for a duplicate or out-of-range number.
    pub fn record(&mut self, seq: u64) -> bool {
        if seq >= Self::MAX_SEQ {
            return false;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return false;
        }
        self.seen[word] |= 1 << bit;
        self.received += 1;
        match self.highest {
            Some(h) if seq < h => self.reordered += 1,
            _ => self.highest = Some(seq),
        }
        true
    }

    /// Distinct sequence numbers received.
    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Packets that arrived after a later-numbered one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Packets lost, given how many were sent (numbered 0..sent); without `sent`, the gaps
    /// up to the highest number seen (a tail loss is then invisible).
    pub fn lost(&self, sent: Option<u64>) -> u64 {
        let expected = sent.unwrap_or_else(|| self.highest.map_or(0, |h| h + 1));
        expected.saturating_sub(self.received)
    }

    /// [`lost`](Self::lost) as a fraction of the expected packets (0 when none expected).
    pub fn loss_fraction(&self, sent: Option<u64>) -> f64 {
        let expected = sent.unwrap_or_else(|| self.highest.map_or(0, |h| h + 1));
        if expected == 0 {
            return 0.0;
        }
        self.lost(sent) as f64 / expected as f64
    }
}

/// RFC 3550 interarrival jitter, on send and arrival times in microseconds (any common
/// clock: only differences matter).
#[derive(Debug, Clone, Copy, Default)]
pub struct Jitter {
    last: Option<(u64, u64)>,
    /// Estimate in microseconds, kept as f64 for the 1/16 smoothing.
    jitter: f64,
}

impl Jitter {
    pub fn record(&mut self, sent_us: u64, arrived_us: u64) {
        if let Some((s, a)) = self.last {
            let d = (arrived_us as i128 - a as i128) - (sent_us as i128 - s as i128);
            self.jitter += ((d.unsigned_abs() as f64) - self.jitter) / 16.0;
        }
        self.last = Some((sent_us, arrived_us));
    }

    /// Current estimate in microseconds.
    pub fn micros(&self) -> f64 {
        self.jitter
    }
}

/// Everything measured on one sent-and-received stream.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Distinct packets received (duplicates are counted only in `seq`).
    pub received_packets: u64,
    /// Packets numbered beyond what was sent (not an echo of ours): ignored.
    pub unknown_packets: u64,
    pub received_bytes: u64,
    pub seq: SeqTracker,
    /// Time from send to receipt, microseconds.
    pub latency_us: Histogram,
    pub jitter: Jitter,
}

impl StreamStats {
    pub fn record_sent(&mut self, packets: u64, bytes: u64) {
        self.sent_packets += packets;
        self.sent_bytes += bytes;
    }

    /// Records a packet the sender numbered `seq` and sent at `sent_us`, received at
    /// `arrived_us`; returns false (and measures nothing) for a duplicate or a number never
    /// sent (which also bounds the tracker's memory whatever the far end sends).
    pub fn record_received(&mut self, seq: u64, sent_us: u64, arrived_us: u64, bytes: u64) -> bool {
        if seq >= self.sent_packets {
            self.unknown_packets += 1;
            return false;
        }
        if !self.seq.record(seq) {
            return false;
        }
        self.received_packets += 1;
        self.received_bytes += bytes;
        self.latency_us.record(arrived_us.saturating_sub(sent_us));
        self.jitter.record(sent_us, arrived_us);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile(0.5), Some(50));
        assert_eq!(h.percentile(0.99), Some(99));
        assert_eq!(h.percentile(1.0), Some(100));
        assert_eq!(h.percentile(0.0), Some(1));
        assert_eq!(h.max(), Some(100));
        assert_eq!(h.mean(), Some(50.5));
    }

    #[test]
    fn histogram_large_values_within_relative_error() {
        let mut h = Histogram::default();
        let mut exact: Vec<u64> = (0..20_000u64).map(|i| 1_000 + i * 37 % 90_001).collect();
        for v in &exact {
            h.record(*v);
        }
        exact.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let want = exact[(q * exact.len() as f64).ceil() as usize - 1] as f64;
            let got = h.percentile(q).unwrap() as f64;
            assert!(
                (got - want).abs() / want < 1.0 / 64.0,
                "q {q}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn histogram_empty_and_merge() {
        let empty = Histogram::default();
        assert_eq!(empty.percentile(0.5), None);
        assert_eq!(empty.mean(), None);
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(1_000_000);
        b.record(30);
        a.merge(&b);
        a.merge(&empty);
        assert_eq!(a.count(), 3);
        assert_eq!(a.percentile(0.5), Some(30));
        assert_eq!(a.percentile(0.0), Some(10));
        // The top bucket's middle is clamped to the real maximum.
        assert_eq!(a.percentile(1.0), Some(1_000_000));
    }

    #[test]
    fn histogram_bucket_round_trip() {
        for v in [0u64, 127, 128, 129, 255, 256, 1_000, 123_456, u64::MAX / 2] {
            let mid = bucket_value(bucket_of(v));
            assert_eq!(bucket_of(mid), bucket_of(v), "value {v}");
        }
    }

    #[test]
    fn loss_from_sequence_numbers() {
        let mut t = SeqTracker::default();
        for seq in [0, 1, 2, 4, 3, 3, 7, 9] {
            t.record(seq);
        }
        assert_eq!(t.received(), 7);
        assert_eq!(t.duplicates(), 1);
        assert_eq!(t.reordered(), 1); // 3 after 4
        // 10 sent (0..=9): 5, 6, 8 missing.
        assert_eq!(t.lost(Some(10)), 3);
        assert!((t.loss_fraction(Some(10)) - 0.3).abs() < 1e-9);
        // Sent unknown: gaps up to 9 only; a tail loss is invisible.
        assert_eq!(t.lost(None), 3);
        assert_eq!(t.lost(Some(12)), 5);
        // Nothing sent, nothing lost.
        assert_eq!(SeqTracker::default().loss_fraction(Some(0)), 0.0);
        assert_eq!(SeqTracker::default().lost(Some(4)), 4);
    }

    #[test]
    fn seq_tracker_rejects_absurd_numbers() {
        let mut t = SeqTracker::default();
        assert!(!t.record(u64::MAX));
        assert!(!t.record(SeqTracker::MAX_SEQ));
        assert_eq!(t.received(), 0);
        assert!(t.seen.is_empty());
    }

    #[test]
    fn jitter_zero_for_constant_delay_and_grows_with_variation() {
        let mut j = Jitter::default();
        for i in 0..100u64 {
            j.record(i * 20_000, i * 20_000 + 5_000);
        }
        assert_eq!(j.micros(), 0.0);

        // Alternating 0 / 2 ms extra delay: |D| = 2000 every packet, so J converges to 2000.
        let mut j = Jitter::default();
        for i in 0..500u64 {
            j.record(i * 20_000, i * 20_000 + (i % 2) * 2_000);
        }
        assert!((j.micros() - 2_000.0).abs() < 1.0, "{}", j.micros());

        // One step of 1.6 ms: the first estimate is 1/16 of it.
        let mut j = Jitter::default();
        j.record(0, 0);
        j.record(20_000, 21_600);
        assert!((j.micros() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn stream_stats_ignore_duplicates() {
        let mut s = StreamStats::default();
        s.record_sent(3, 300);
        assert!(s.record_received(0, 1_000, 1_500, 100));
        assert!(s.record_received(2, 41_000, 41_700, 100));
        assert!(!s.record_received(2, 41_000, 45_000, 100));
        // Never sent: not an echo.
        assert!(!s.record_received(3, 61_000, 61_500, 100));
        assert!(!s.record_received(u64::MAX, 0, 0, 100));
        assert_eq!(s.unknown_packets, 2);
        assert_eq!((s.received_packets, s.received_bytes), (2, 200));
        assert_eq!(s.seq.lost(Some(s.sent_packets)), 1);
        assert_eq!(s.latency_us.count(), 2);
        assert_eq!(s.latency_us.max(), Some(700));
    }
}
