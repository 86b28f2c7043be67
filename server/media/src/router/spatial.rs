//! Spatial layer selection for one route of a VP9 SVC stream (the route's `substream` is
//! the spatial layer). Every picture carries its spatial layers in order; the route forwards
//! those up to the chosen one and moves the RTP marker to the end of the highest forwarded
//! layer frame. Going down takes effect at the next picture; going up happens at a frame of
//! the next layer that predicts from no earlier picture of its layer (a keyframe, or a
//! switch point of full SVC), and such a frame is asked for. Pure: input is the packet's
//! description and the time.

use std::time::{Duration, Instant};

use super::keyframe::PayloadDesc;

/// A layer not seen for this long counts as gone (the sender stopped encoding it).
const LAYER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Keyframe requests for a pending switch are repeated at most this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// Spatial layers we track (VP9 allows 8; WebRTC encoders send up to 3).
pub const MAX_SPATIAL: usize = 4;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpatialDecision {
    pub forward: bool,
    /// The RTP marker the forwarded packet carries.
    pub marker: bool,
    /// Ask the source for a keyframe (a switch up is pending).
    pub request_keyframe: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SpatialFilter {
    /// Wanted spatial layer; `None` = the highest present.
    wanted: Option<u8>,
    /// Upper bound set by auto-layer; `None` = no bound.
    cap: Option<u8>,
    /// Highest spatial layer forwarded; `None` until a keyframe.
    current: Option<u8>,
    seen: [Option<Instant>; MAX_SPATIAL],
    last_request: Option<Instant>,
    /// The picture being forwarded is a keyframe: its upper layers will follow as switch
    /// points, so the marker is not set below the target.
    key_picture: bool,
    /// Spatial layers the last scalability structure announced: in a keyframe picture they
    /// count as present before their first packet arrives.
    announced: u8,
}

impl SpatialFilter {
    pub fn new(wanted: Option<u8>) -> Self {
        SpatialFilter {
            wanted,
            ..Default::default()
        }
    }

    pub fn set_wanted(&mut self, wanted: Option<u8>) {
        self.wanted = wanted;
    }

    pub fn set_cap(&mut self, cap: Option<u8>) {
        self.cap = cap;
    }

    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// The layer to forward: the wanted one (bounded by the cap) or the highest present
    /// below it (announced layers count in a keyframe picture); the base layer when nothing
    /// lower is present.
    fn target(&self, now: Instant) -> u8 {
        let bound = match (self.wanted, self.cap) {
            (Some(w), Some(c)) => w.min(c),
            (Some(w), None) => w,
            (None, Some(c)) => c,
            (None, None) => u8::MAX,
        };
        let bound = usize::from(bound).min(MAX_SPATIAL - 1);
        (0..=bound)
            .rev()
            .find(|&l| {
                (self.key_picture && l < usize::from(self.announced))
                    || self.seen[l]
                        .is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT)
            })
            .unwrap_or(0) as u8
    }

    /// Decides for one packet with RTP marker `marker`.
    pub fn on_packet(&mut self, d: &PayloadDesc, marker: bool, now: Instant) -> SpatialDecision {
        let Some(sid) = d.spatial else {
            return SpatialDecision {
                forward: true,
                marker,
                request_keyframe: false,
            };
        };
        let idx = usize::from(sid);
        if idx >= MAX_SPATIAL {
            return SpatialDecision {
                forward: false,
                marker: false,
                request_keyframe: false,
            };
        }
        self.seen[idx] = Some(now);
        if d.begins_picture {
            self.key_picture = d.keyframe;
        }
        if let Some(n) = d.spatial_layers {
            self.announced = n;
        }
        let target = self.target(now);
        match self.current {
            None if d.keyframe => self.current = Some(0),
            Some(c) if d.begins_picture && target < c => self.current = Some(target),
            Some(c) if sid == c + 1 && sid <= target && d.spatial_switch => {
                self.current = Some(sid)
            }
            _ => {}
        }
        let pending = self.current.is_none_or(|c| c < target);
        let mut request_keyframe = false;
        if pending
            && self
                .last_request
                .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_RETRY)
        {
            self.last_request = Some(now);
            request_keyframe = true;
        }
        if !pending {
            self.last_request = None;
        }
        let forward = self.current.is_some_and(|c| sid <= c);
        let top = Some(sid) == self.current && !(self.key_picture && sid < target);
        SpatialDecision {
            forward,
            marker: forward && (marker || (d.end_frame && top)),
            request_keyframe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One packet of a layer frame: `begin`/`end` of the frame, `key` = not inter-predicted.
    fn pkt(sid: u8, begin: bool, end: bool, key: bool) -> PayloadDesc {
        PayloadDesc {
            spatial_layers: None,
            keyframe: key && begin && sid == 0,
            begins_picture: begin && sid == 0,
            spatial: Some(sid),
            spatial_switch: key && begin,
            end_frame: end,
            temporal: Some(0),
            ..Default::default()
        }
    }

    /// Sends one picture of `layers` spatial layers (one packet each, marker on the last);
    /// returns (forwarded, marker) per layer and whether a keyframe was requested.
    fn picture(
        f: &mut SpatialFilter,
        layers: u8,
        key: bool,
        now: Instant,
    ) -> (Vec<(bool, bool)>, bool) {
        let mut out = Vec::new();
        let mut req = false;
        for s in 0..layers {
            let mut p = pkt(s, true, true, key);
            if key && s == 0 {
                p.spatial_layers = Some(layers);
            }
            let d = f.on_packet(&p, s == layers - 1, now);
            req |= d.request_keyframe;
            out.push((d.forward, d.marker));
        }
        (out, req)
    }

    #[test]
    fn waits_for_keyframe_then_forwards_all_layers() {
        let t = Instant::now();
        let mut f = SpatialFilter::new(None);
        let (out, req) = picture(&mut f, 3, false, t);
        assert_eq!(out, vec![(false, false); 3]);
        assert!(req);
        let (out, _) = picture(&mut f, 3, true, t);
        assert_eq!(out, vec![(true, false), (true, false), (true, true)]);
        assert_eq!(f.current(), Some(2));
    }

    #[test]
    fn lower_choice_drops_upper_layers_and_moves_the_marker() {
        let t = Instant::now();
        let mut f = SpatialFilter::new(Some(1));
        let (out, _) = picture(&mut f, 3, true, t);
        assert_eq!(out, vec![(true, false), (true, true), (false, false)]);
        // Down to 0 at the next picture.
        f.set_wanted(Some(0));
        let (out, req) = picture(&mut f, 3, false, t);
        assert_eq!(out, vec![(true, true), (false, false), (false, false)]);
        assert!(!req);
        // Up again: not at a delta picture (k-SVC), a keyframe is asked for.
        f.set_wanted(None);
        let (out, req) = picture(&mut f, 3, false, t);
        assert_eq!(out, vec![(true, true), (false, false), (false, false)]);
        assert!(req);
        let (out, req) = picture(&mut f, 3, false, t + Duration::from_millis(100));
        assert!(!req, "throttled");
        assert_eq!(out[2], (false, false));
        let (out, _) = picture(&mut f, 3, true, t + Duration::from_millis(200));
        assert_eq!(out, vec![(true, false), (true, false), (true, true)]);
    }

    #[test]
    fn multi_packet_frames_mark_only_the_last_packet() {
        let t = Instant::now();
        let mut f = SpatialFilter::new(Some(0));
        picture(&mut f, 2, true, t);
        let a = f.on_packet(&pkt(0, true, false, false), false, t);
        let b = f.on_packet(&pkt(0, false, true, false), false, t);
        let c = f.on_packet(&pkt(1, true, true, false), true, t);
        assert_eq!((a.forward, a.marker), (true, false));
        assert_eq!((b.forward, b.marker), (true, true));
        assert_eq!((c.forward, c.marker), (false, false));
    }

    #[test]
    fn cap_and_missing_layers() {
        let t = Instant::now();
        let mut f = SpatialFilter::new(Some(3));
        // Only two layers exist: the target is the highest present, nothing pending.
        picture(&mut f, 2, true, t);
        let (_, req) = picture(&mut f, 2, false, t + Duration::from_secs(1));
        assert!(!req);
        assert_eq!(f.current(), Some(1));
        f.set_cap(Some(0));
        let (out, _) = picture(&mut f, 2, false, t + Duration::from_secs(1));
        assert_eq!(out, vec![(true, true), (false, false)]);
        // Out-of-range and unlayered packets.
        assert!(!f.on_packet(&pkt(7, true, true, true), true, t).forward);
        let plain = f.on_packet(&PayloadDesc::default(), true, t);
        assert!(plain.forward && plain.marker);
    }
}
