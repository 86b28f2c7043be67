//! Talk detection from the RFC 6464 audio level of each RTP packet, as Janus's VideoRoom
//! does it: sum the levels (-dBov, 0 = loudest, 127 = silence) over a window of
//! `active_packets` packets; an average below `level_average` means talking. A change of
//! state is reported once, at the end of the window where it happened. Pure: input is one
//! level per packet.

use crate::types::TalkDetection;

/// A change of talking state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TalkChange {
    pub talking: bool,
    /// The window's average level in dBov (negative, 0 = loudest).
    pub level_dbov_avg: f32,
}

/// Talk detection state of one audio source.
#[derive(Debug, Clone)]
pub struct TalkDetector {
    config: TalkDetection,
    sum: u64,
    packets: u32,
    talking: bool,
}

impl TalkDetector {
    /// `config.active_packets` must be at least 1 (checked by the engine).
    pub fn new(config: TalkDetection) -> Self {
        TalkDetector {
            config,
            sum: 0,
            packets: 0,
            talking: false,
        }
    }

    pub fn config(&self) -> TalkDetection {
        self.config
    }

    pub fn talking(&self) -> bool {
        self.talking
    }

    /// One packet's level in -dBov (values above 127 count as 127).
    pub fn on_level(&mut self, level: u8) -> Option<TalkChange> {
        self.sum += u64::from(level.min(127));
        self.packets += 1;
        if self.packets < self.config.active_packets.max(1) {
            return None;
        }
        let avg = self.sum as f32 / self.packets as f32;
        self.sum = 0;
        self.packets = 0;
        let talking = avg < f32::from(self.config.level_average);
        if talking == self.talking {
            return None;
        }
        self.talking = talking;
        Some(TalkChange {
            talking,
            level_dbov_avg: -avg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(active_packets: u32, level_average: u8) -> TalkDetector {
        TalkDetector::new(TalkDetection {
            active_packets,
            level_average,
        })
    }

    #[test]
    fn reports_only_changes_at_window_ends() {
        let mut d = detector(4, 25);
        // Loud window: talking, reported once at its last packet.
        assert_eq!(d.on_level(10), None);
        assert_eq!(d.on_level(20), None);
        assert_eq!(d.on_level(10), None);
        assert_eq!(
            d.on_level(20),
            Some(TalkChange {
                talking: true,
                level_dbov_avg: -15.0
            })
        );
        // Still loud: no event.
        for _ in 0..4 {
            assert_eq!(d.on_level(5), None);
        }
        assert!(d.talking());
        // Quiet window: stopped talking.
        for _ in 0..3 {
            assert_eq!(d.on_level(127), None);
        }
        assert_eq!(
            d.on_level(127),
            Some(TalkChange {
                talking: false,
                level_dbov_avg: -127.0
            })
        );
        for _ in 0..8 {
            assert_eq!(d.on_level(100), None);
        }
    }

    #[test]
    fn threshold_is_strict_and_silence_starts_not_talking() {
        let mut d = detector(2, 25);
        // Average exactly at the threshold is not talking (Janus: avg < level_average).
        assert_eq!(d.on_level(25), None);
        assert_eq!(d.on_level(25), None);
        let mut d = detector(2, 25);
        assert_eq!(d.on_level(24), None);
        assert!(d.on_level(25).is_some_and(|c| c.talking));
    }

    #[test]
    fn out_of_range_levels_and_tiny_windows() {
        let mut d = detector(1, 25);
        assert_eq!(
            d.on_level(200),
            None // clamped to 127: silence, and we started silent
        );
        assert!(
            d.on_level(0)
                .is_some_and(|c| c.talking && c.level_dbov_avg == 0.0)
        );
        // A window of 0 packets behaves as 1 rather than dividing by zero.
        let mut d = detector(0, 25);
        assert!(d.on_level(3).is_some_and(|c| c.talking));
    }

    #[test]
    fn janus_defaults_need_a_full_window() {
        let mut d = TalkDetector::new(TalkDetection::default());
        for i in 0..99 {
            assert_eq!(d.on_level(10), None, "packet {i}");
        }
        assert!(d.on_level(10).is_some_and(|c| c.talking));
    }
}
