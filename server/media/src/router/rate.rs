//! Bitrate of a packet stream over time, for auto-layer: bytes are summed over windows of
//! `WINDOW` and the rate is smoothed across windows, so one keyframe burst does not look
//! like a new layer bitrate. Pure: input is bytes and time.

use std::time::{Duration, Instant};

/// Length of one measuring window.
pub const WINDOW: Duration = Duration::from_millis(500);
/// A stream silent for this long has no rate (the layer is gone).
const SILENT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    /// Smoothed rate in bits per second; `None` until a first window completes.
    bps: Option<u64>,
    last: Option<Instant>,
}

impl RateMeter {
    /// Counts one packet of `bytes` at `now`.
    pub fn add(&mut self, bytes: usize, now: Instant) {
        self.roll(now);
        self.window_start.get_or_insert(now);
        self.bytes += bytes as u64;
        self.last = Some(now);
    }

    /// Closes the window when it is over: the rate moves halfway to the window's rate.
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.window_start else {
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return;
        }
        let w = (self.bytes * 8 * 1000) / (elapsed.as_millis().max(1) as u64);
        self.bps = Some(match self.bps {
            Some(r) => (r + w) / 2,
            None => w,
        });
        self.bytes = 0;
        // Silence longer than a window starts the next window with the next packet.
        self.window_start = (elapsed < 2 * WINDOW).then_some(start + WINDOW);
    }

    /// The current rate in bits per second; `None` when unknown or silent.
    pub fn bps(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= SILENT)
        {
            return None;
        }
        self.roll(now);
        self.bps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bps` as 1000-byte packets for `secs` seconds starting at `t`.
    fn feed(m: &mut RateMeter, t: Instant, bps: u64, secs: u64) -> Instant {
        let per_sec = bps / 8000;
        let step = Duration::from_micros(1_000_000 / per_sec);
        let mut now = t;
        for _ in 0..per_sec * secs {
            m.add(1000, now);
            now += step;
        }
        now
    }

    #[test]
    fn measures_a_steady_rate() {
        let t = Instant::now();
        let mut m = RateMeter::default();
        assert_eq!(m.bps(t), None);
        let now = feed(&mut m, t, 800_000, 3);
        let r = m.bps(now).unwrap();
        assert!((760_000..=840_000).contains(&r), "{r}");
    }

    #[test]
    fn follows_a_change_and_forgets_a_silent_stream() {
        let t = Instant::now();
        let mut m = RateMeter::default();
        let now = feed(&mut m, t, 1_600_000, 2);
        let now = feed(&mut m, now, 400_000, 3);
        let r = m.bps(now).unwrap();
        assert!((380_000..=440_000).contains(&r), "{r}");
        assert_eq!(m.bps(now + Duration::from_secs(2)), None);
    }
}
