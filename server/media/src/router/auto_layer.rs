//! Auto-layer (a Beyond-Janus room setting): cap the layer a route forwards at the highest
//! one whose bitrate fits the target's bandwidth estimate. Down at once when the layer in
//! use no longer fits; up only after the estimate has covered the higher layer for
//! `UP_HOLD`, so a noisy estimate does not make the picture flap. Pure: input is what each
//! layer needs, what is available, and the time; output is the cap.

use std::time::{Duration, Instant};

/// How long the estimate must cover a higher layer before switching up to it.
pub const UP_HOLD: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub struct AutoLayer {
    /// Layer in use as the cap; `None` = uncapped (the highest present).
    cap: Option<u8>,
    /// A higher layer that fits, and since when it has fitted.
    rising: Option<(u8, Instant)>,
}

impl AutoLayer {
    pub fn cap(&self) -> Option<u8> {
        self.cap
    }

    /// Decides the cap. `needs[l]` is the bitrate forwarding layer `l` takes (`None` = the
    /// layer is not being sent); `available` the target's estimate left for this route.
    pub fn decide(&mut self, needs: &[Option<u64>], available: u64, now: Instant) -> Option<u8> {
        let Some(highest) = needs.iter().rposition(Option::is_some) else {
            return self.cap;
        };
        let highest = highest as u8;
        let fits = needs
            .iter()
            .enumerate()
            .filter_map(|(l, n)| n.filter(|n| *n <= available).map(|_| l as u8))
            .max();
        // Nothing fits: the lowest layer present is the floor.
        let lowest = needs.iter().position(Option::is_some).unwrap_or(0) as u8;
        let best = fits.unwrap_or(lowest);
        let in_use = self.cap.unwrap_or(highest).min(highest);
        if best < in_use {
            self.cap = Some(best);
            self.rising = None;
        } else if best > in_use {
            match self.rising {
                Some((l, since))
                    if l <= best && now.saturating_duration_since(since) >= UP_HOLD =>
                {
                    self.cap = (l < highest).then_some(l);
                    self.rising = None;
                }
                Some((l, _)) if l <= best => {}
                _ => self.rising = Some((in_use + 1, now)),
            }
        } else {
            self.rising = None;
        }
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEEDS: [Option<u64>; 3] = [Some(150_000), Some(500_000), Some(1_500_000)];

    #[test]
    fn uncapped_while_everything_fits() {
        let t = Instant::now();
        let mut a = AutoLayer::default();
        assert_eq!(a.decide(&NEEDS, 3_000_000, t), None);
        assert_eq!(a.decide(&[], 0, t), None);
    }

    #[test]
    fn drops_at_once_and_climbs_after_the_hold() {
        let t = Instant::now();
        let mut a = AutoLayer::default();
        assert_eq!(a.decide(&NEEDS, 600_000, t), Some(1));
        assert_eq!(a.decide(&NEEDS, 100_000, t), Some(0));
        // Recovery: one layer at a time, each after the estimate held for UP_HOLD.
        let s = Duration::from_millis(500);
        assert_eq!(a.decide(&NEEDS, 2_000_000, t + s), Some(0));
        assert_eq!(a.decide(&NEEDS, 2_000_000, t + s + UP_HOLD / 2), Some(0));
        assert_eq!(a.decide(&NEEDS, 2_000_000, t + s + UP_HOLD), Some(1));
        assert_eq!(a.decide(&NEEDS, 2_000_000, t + s + UP_HOLD * 2), Some(1));
        assert_eq!(a.decide(&NEEDS, 2_000_000, t + s + UP_HOLD * 3), None);
    }

    #[test]
    fn a_dip_during_the_hold_restarts_it() {
        let t = Instant::now();
        let mut a = AutoLayer::default();
        a.decide(&NEEDS, 200_000, t);
        a.decide(&NEEDS, 700_000, t);
        // The estimate dips below layer 1 midway: the hold starts over.
        a.decide(&NEEDS, 200_000, t + UP_HOLD / 2);
        assert_eq!(a.decide(&NEEDS, 700_000, t + UP_HOLD), Some(0));
        assert_eq!(a.decide(&NEEDS, 700_000, t + UP_HOLD * 2), Some(1));
    }

    #[test]
    fn missing_layers_and_nothing_fitting() {
        let t = Instant::now();
        let mut a = AutoLayer::default();
        // Only layers 1 and 2 are sent and nothing fits: layer 1 is the floor.
        assert_eq!(
            a.decide(&[None, Some(500_000), Some(900_000)], 1_000, t),
            Some(1)
        );
        // Everything fits: a cap at the highest layer sent stays.
        assert_eq!(a.decide(&[None, Some(500_000)], 10_000_000, t), Some(1));
    }
}
