//! Simulcast layer selection for one route: forward only the chosen substream, switch
//! only on a keyframe of the new one, and ask for that keyframe. Pure: input is the
//! packet's layer, whether it starts a keyframe, and the time.

use std::time::{Duration, Instant};

/// A layer not seen for this long counts as gone (the browser stopped sending it).
const LAYER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Keyframe requests for a pending switch are repeated at most this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// Simulcast substreams we track (RFC 8853 allows more; browsers send up to 3).
pub const MAX_LAYERS: usize = 4;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub forward: bool,
    /// Ask the source for a keyframe on this layer (the one we want to switch to).
    pub request_keyframe: Option<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct LayerSelector {
    /// Wanted substream; `None` = the highest present.
    wanted: Option<u8>,
    /// Upper bound set by auto-layer; `None` = no bound.
    cap: Option<u8>,
    current: Option<u8>,
    seen: [Option<Instant>; MAX_LAYERS],
    last_request: Option<Instant>,
}

impl LayerSelector {
    pub fn new(wanted: Option<u8>) -> Self {
        LayerSelector {
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

    /// The layer we should be forwarding now: the wanted one when present, else the
    /// closest present one below it, else the lowest present above it.
    fn target(&self, now: Instant) -> Option<u8> {
        let present = |l: usize| {
            self.seen[l].is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT)
        };
        let bound = match (self.wanted, self.cap) {
            (Some(w), Some(c)) => Some(w.min(c)),
            (w, c) => w.or(c),
        };
        let cap = bound.map_or(MAX_LAYERS - 1, |w| usize::from(w).min(MAX_LAYERS - 1));
        (0..=cap)
            .rev()
            .find(|&l| present(l))
            .or_else(|| (cap + 1..MAX_LAYERS).find(|&l| present(l)))
            .map(|l| l as u8)
    }

    /// Decides for one packet of `layer` (0 = lowest).
    pub fn on_packet(&mut self, layer: u8, keyframe: bool, now: Instant) -> Decision {
        let idx = usize::from(layer);
        if idx >= MAX_LAYERS {
            return Decision {
                forward: false,
                request_keyframe: None,
            };
        }
        self.seen[idx] = Some(now);
        let target = self.target(now);
        let mut request = None;
        if target == Some(layer) && self.current != Some(layer) && keyframe {
            self.current = Some(layer);
            self.last_request = None;
        }
        if let Some(t) = target
            && self.current != Some(t)
            && self
                .last_request
                .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_RETRY)
        {
            self.last_request = Some(now);
            request = Some(t);
        }
        // The current layer disappeared: nothing else to forward until the switch.
        Decision {
            forward: self.current == Some(layer),
            request_keyframe: request,
        }
    }
}

/// Substream index (0 = lowest quality) of `rid` among the source's RIDs. Well-known
/// names (q/h/f, l/m/h) order by name; otherwise the SDP order is taken as highest first,
/// as browsers and janus.js list them.
pub fn substream_index(rids: &[String], rid: &str) -> Option<u8> {
    const KNOWN: [&[&str]; 2] = [&["q", "h", "f"], &["l", "m", "h"]];
    for names in KNOWN {
        if rids.iter().all(|r| names.contains(&r.as_str())) {
            let mut present: Vec<usize> = rids
                .iter()
                .filter_map(|r| names.iter().position(|n| n == r))
                .collect();
            present.sort_unstable();
            let pos = names.iter().position(|n| *n == rid)?;
            return present.iter().position(|&p| p == pos).map(|i| i as u8);
        }
    }
    let pos = rids.iter().position(|r| r == rid)?;
    Some((rids.len() - 1 - pos) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_keyframe_of_highest_layer() {
        let t = Instant::now();
        let mut s = LayerSelector::new(None);
        // Low layer seen first: it is the target for now, but waits for a keyframe.
        let d = s.on_packet(0, false, t);
        assert!(!d.forward);
        assert_eq!(d.request_keyframe, Some(0));
        assert!(s.on_packet(0, true, t).forward);
        // High layer appears: keep low until a high keyframe, ask for one.
        let d = s.on_packet(2, false, t);
        assert!(!d.forward);
        assert_eq!(d.request_keyframe, Some(2));
        assert!(s.on_packet(0, false, t).forward);
        let d = s.on_packet(2, true, t);
        assert!(d.forward);
        assert_eq!(s.current(), Some(2));
        assert!(!s.on_packet(0, true, t).forward);
    }

    #[test]
    fn explicit_choice_and_throttled_requests() {
        let t = Instant::now();
        let mut s = LayerSelector::new(Some(1));
        for l in 0..3 {
            s.on_packet(l, false, t);
        }
        assert_eq!(s.on_packet(1, false, t).request_keyframe, None); // throttled
        let later = t + Duration::from_millis(600);
        assert_eq!(s.on_packet(1, false, later).request_keyframe, Some(1));
        assert!(s.on_packet(1, true, later).forward);
        assert!(!s.on_packet(2, true, later).forward);
        assert!(!s.on_packet(0, true, later).forward);
        s.set_wanted(Some(0));
        assert!(s.on_packet(1, false, later).forward); // until the switch
        assert!(s.on_packet(0, true, later).forward);
        assert!(!s.on_packet(1, true, later).forward);
    }

    #[test]
    fn falls_back_when_the_wanted_layer_stops() {
        let t = Instant::now();
        let mut s = LayerSelector::new(Some(2));
        s.on_packet(2, true, t);
        s.on_packet(1, false, t);
        assert_eq!(s.current(), Some(2));
        let later = t + Duration::from_secs(2);
        let d = s.on_packet(1, false, later);
        assert!(!d.forward);
        assert_eq!(d.request_keyframe, Some(1));
        assert!(s.on_packet(1, true, later).forward);
    }

    #[test]
    fn cap_bounds_the_choice() {
        let t = Instant::now();
        let mut s = LayerSelector::new(None);
        s.on_packet(0, true, t);
        s.on_packet(1, true, t);
        assert_eq!(s.current(), Some(1));
        s.set_cap(Some(0));
        assert!(s.on_packet(0, true, t).forward);
        assert!(!s.on_packet(1, true, t).forward);
        s.set_cap(None);
        assert!(s.on_packet(1, true, t).forward);
    }

    #[test]
    fn out_of_range_layer_is_dropped() {
        let mut s = LayerSelector::new(None);
        assert!(!s.on_packet(9, true, Instant::now()).forward);
    }

    #[test]
    fn substream_indexes() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(substream_index(&v(&["h", "m", "l"]), "l"), Some(0));
        assert_eq!(substream_index(&v(&["h", "m", "l"]), "h"), Some(2));
        assert_eq!(substream_index(&v(&["q", "h", "f"]), "f"), Some(2));
        assert_eq!(substream_index(&v(&["h", "l"]), "h"), Some(1));
        assert_eq!(substream_index(&v(&["a", "b", "c"]), "a"), Some(2));
        assert_eq!(substream_index(&v(&["a", "b", "c"]), "c"), Some(0));
        assert_eq!(substream_index(&v(&["a"]), "z"), None);
    }
}
