//! Temporal layer filtering for one route (VP8 and VP9 temporal scalability): forward the
//! frames whose temporal layer is at most the chosen one. Going down takes effect at the
//! next picture; going up waits for a frame the decoder can follow with only the lower
//! layers (VP8 layer sync Y, VP9 switching-up point U) or a keyframe. Pure: input is the
//! packet's description, output whether to forward it.

use super::keyframe::PayloadDesc;

/// Temporal layers a descriptor can name (VP8: 2 bits, VP9: 3 bits).
const MAX_TEMPORAL: u8 = 7;

#[derive(Debug, Clone, Default)]
pub struct TemporalFilter {
    /// Wanted temporal layer; `None` = all.
    wanted: Option<u8>,
    /// Highest temporal layer forwarded now; `None` until the first picture start.
    current: Option<u8>,
    /// Highest temporal layer the source has sent, to report what is really forwarded.
    highest_seen: Option<u8>,
}

impl TemporalFilter {
    pub fn new(wanted: Option<u8>) -> Self {
        TemporalFilter {
            wanted,
            ..Default::default()
        }
    }

    pub fn set_wanted(&mut self, wanted: Option<u8>) {
        self.wanted = wanted;
    }

    /// The temporal layer forwarded now (capped by what the source sends); `None` before
    /// the first layered packet.
    pub fn current(&self) -> Option<u8> {
        match (self.current, self.highest_seen) {
            (Some(c), Some(h)) => Some(c.min(h)),
            _ => None,
        }
    }

    /// Decides for one packet; packets without a temporal layer always pass.
    pub fn on_packet(&mut self, d: &PayloadDesc) -> bool {
        let Some(tid) = d.temporal else { return true };
        self.highest_seen = Some(self.highest_seen.map_or(tid, |h| h.max(tid)));
        let target = self.wanted.unwrap_or(MAX_TEMPORAL);
        if d.begins_picture {
            match self.current {
                None => self.current = Some(if d.keyframe { target } else { 0 }),
                Some(c) if target < c => self.current = Some(target),
                Some(c) if target > c => {
                    if d.keyframe {
                        self.current = Some(target);
                    } else if d.temporal_switch && tid > c && tid <= target {
                        self.current = Some(tid);
                    } else if let Some(up) = d.temporal_switch_up.filter(|&u| u > c) {
                        // AV1: a switch point for a higher decode target than this
                        // frame's own layer (a base frame can lift to all layers).
                        self.current = Some(up.min(target));
                    }
                }
                Some(_) => {}
            }
        }
        self.current.is_some_and(|c| tid <= c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tid: u8, sync: bool, keyframe: bool) -> PayloadDesc {
        PayloadDesc {
            keyframe,
            begins_picture: true,
            temporal: Some(tid),
            temporal_switch: sync,
            ..Default::default()
        }
    }

    fn cont(tid: u8) -> PayloadDesc {
        PayloadDesc {
            temporal: Some(tid),
            ..Default::default()
        }
    }

    #[test]
    fn all_layers_by_default_and_unlayered_packets_pass() {
        let mut f = TemporalFilter::new(None);
        assert!(f.on_packet(&PayloadDesc::default()));
        assert_eq!(f.current(), None);
        assert!(f.on_packet(&frame(0, false, true)));
        assert!(f.on_packet(&frame(2, false, false)));
        assert!(f.on_packet(&frame(1, false, false)));
        assert_eq!(f.current(), Some(2));
    }

    #[test]
    fn down_at_next_picture_up_at_sync_point() {
        let mut f = TemporalFilter::new(None);
        assert!(f.on_packet(&frame(0, false, true)));
        assert!(f.on_packet(&frame(1, false, false)));
        f.set_wanted(Some(0));
        // The rest of the current frame keeps going; the next tid-1 frame is dropped.
        assert!(f.on_packet(&cont(1)));
        assert!(!f.on_packet(&frame(1, false, false)));
        assert!(!f.on_packet(&cont(1)));
        assert!(f.on_packet(&frame(0, false, false)));
        assert_eq!(f.current(), Some(0));
        f.set_wanted(Some(2));
        // No sync bit: stay on the base layer.
        assert!(!f.on_packet(&frame(2, false, false)));
        assert!(!f.on_packet(&frame(1, false, false)));
        // A layer-sync frame of layer 1 lifts to 1, then 2 at its own sync frame.
        assert!(f.on_packet(&frame(1, true, false)));
        assert!(!f.on_packet(&frame(2, false, false)));
        assert!(f.on_packet(&frame(2, true, false)));
        assert_eq!(f.current(), Some(2));
    }

    #[test]
    fn keyframe_switches_up_at_once_and_start_is_base_layer() {
        let mut f = TemporalFilter::new(Some(1));
        // Joining mid-stream without a keyframe: only the base layer is safe.
        assert!(!f.on_packet(&frame(1, false, false)));
        assert!(f.on_packet(&frame(0, false, false)));
        assert!(f.on_packet(&frame(0, false, true)));
        assert!(f.on_packet(&frame(1, false, false)));
        assert!(!f.on_packet(&frame(2, true, false)));
        assert_eq!(f.current(), Some(1));
    }
}
