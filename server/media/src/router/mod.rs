//! The native RTP router: routes from (source handle, mid) to (target handle, mid).
//!
//! Hot path, and independent of Wasm and of the Janus API. A packet is looked at once on
//! the shard that owns its source (codec, simulcast layer, keyframe), wrapped in one
//! refcounted [`ForwardPacket`], and handed to every route's target shard without copying
//! the payload. The target side selects the layer and rewrites numbering so the target
//! sees one continuous stream whatever feeds it.

pub mod h264;
pub mod keyframe;
pub mod layer;
pub mod rewrite;
pub mod spatial;
pub mod temporal;
pub mod vp8;
pub mod vp9;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::Mid;
use str0m::rtp::ExtensionValues;

use crate::types::{HandleId, LayerChoice, Route, RouteId};
use layer::LayerSelector;
use rewrite::{Rewriter, RtpIn, RtpOut, SourceKey};

/// Keyframe requests forwarded to one source are limited to one per this interval.
pub const KEYFRAME_THROTTLE: Duration = Duration::from_millis(500);

/// What the target needs to know about the codec of a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecInfo {
    pub codec: str0m::format::Codec,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// H.264 packetization mode and profile, to pick the matching target payload type.
    pub h264: Option<(u8, u32)>,
}

/// One incoming RTP packet on its way to the route targets. Built once per packet.
#[derive(Debug)]
pub struct ForwardPacket {
    pub source: HandleId,
    pub source_mid: Mid,
    /// Simulcast substream index (0 = lowest); `None` when the source is not simulcast.
    pub layer: Option<u8>,
    /// Identifies the source stream (handle, mid, layer) for continuity.
    pub key: SourceKey,
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub codec: CodecInfo,
    pub keyframe: bool,
    pub payload: Arc<[u8]>,
    pub ext: ExtensionValues,
    pub arrival: Instant,
}

/// Stable key for a source stream.
pub fn source_key(handle: HandleId, mid: &Mid, layer: Option<u8>) -> SourceKey {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    handle.hash(&mut h);
    mid.hash(&mut h);
    layer.hash(&mut h);
    h.finish()
}

/// A route as its target shard keeps it.
#[derive(Debug)]
struct TargetRoute {
    route: Route,
    target_mid: Mid,
    selector: LayerSelector,
    paused: bool,
}

/// What the target shard should do with a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub target: HandleId,
    pub mid: Mid,
    pub out: Option<RtpOut>,
    /// Ask the route's source for a keyframe of this layer (a pending simulcast switch).
    pub keyframe_request: Option<(HandleId, Mid, Option<u8>)>,
}

/// Routing state of one shard: the routes whose source it owns (fan-out) and those whose
/// target it owns (selection and rewriting).
#[derive(Debug, Default)]
pub struct RouterShard {
    fanout: HashMap<(HandleId, Mid), Vec<(RouteId, HandleId)>>,
    targets: HashMap<RouteId, TargetRoute>,
    rewriters: HashMap<(HandleId, Mid), Rewriter>,
    keyframe_sent: HashMap<(HandleId, Mid), Instant>,
}

impl RouterShard {
    /// Source side: packets of (source, mid) go to `target`.
    pub fn add_fanout(&mut self, id: RouteId, source: HandleId, mid: Mid, target: HandleId) {
        let v = self.fanout.entry((source, mid)).or_default();
        if !v.iter().any(|(r, _)| *r == id) {
            v.push((id, target));
        }
    }

    pub fn has_routes(&self, source: HandleId, mid: &Mid) -> bool {
        self.fanout.contains_key(&(source, *mid))
    }

    /// Routes fed by (source, mid), with their target handles.
    pub fn fanout(&self, source: HandleId, mid: &Mid) -> &[(RouteId, HandleId)] {
        self.fanout
            .get(&(source, *mid))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Target side.
    pub fn add_target(&mut self, id: RouteId, route: Route) {
        let target_mid = Mid::from(route.target.mid.as_str());
        let selector = LayerSelector::new(route.layer.substream);
        let paused = route.paused;
        self.targets.insert(
            id,
            TargetRoute {
                route,
                target_mid,
                selector,
                paused,
            },
        );
    }

    pub fn update(&mut self, id: RouteId, layer: LayerChoice, paused: bool) -> bool {
        match self.targets.get_mut(&id) {
            Some(t) => {
                t.selector.set_wanted(layer.substream);
                t.route.layer = layer;
                t.paused = paused;
                t.route.paused = paused;
                true
            }
            None => false,
        }
    }

    pub fn remove(&mut self, id: RouteId) {
        self.targets.remove(&id);
        self.fanout.retain(|_, v| {
            v.retain(|(r, _)| *r != id);
            !v.is_empty()
        });
    }

    /// Forgets everything about a handle (its routes are removed by id elsewhere).
    pub fn forget_handle(&mut self, handle: HandleId) {
        self.targets
            .retain(|_, t| t.route.source.handle != handle && t.route.target.handle != handle);
        self.fanout.retain(|(src, _), v| {
            v.retain(|(_, target)| *target != handle);
            *src != handle && !v.is_empty()
        });
        self.rewriters.retain(|(h, _), _| *h != handle);
        self.keyframe_sent.retain(|(h, _), _| *h != handle);
    }

    /// Drops the numbering state of a target (its PeerConnection is new).
    pub fn reset_target(&mut self, handle: HandleId) {
        self.rewriters.retain(|(h, _), _| *h != handle);
    }

    /// Target side: decides and rewrites one forwarded packet.
    pub fn deliver(&mut self, id: RouteId, p: &ForwardPacket, seed: u64) -> Option<Delivery> {
        let t = self.targets.get_mut(&id)?;
        if t.paused {
            return None;
        }
        let target = t.route.target.handle;
        let mid = t.target_mid;
        let mut keyframe_request = None;
        if let Some(layer) = p.layer {
            let d = t.selector.on_packet(layer, p.keyframe, p.arrival);
            if let Some(l) = d.request_keyframe {
                keyframe_request = Some((p.source, p.source_mid, Some(l)));
            }
            if !d.forward {
                return Some(Delivery {
                    target,
                    mid,
                    out: None,
                    keyframe_request,
                });
            }
        }
        let rw = self
            .rewriters
            .entry((target, mid))
            .or_insert_with(|| Rewriter::new(seed));
        let out = rw.rewrite(RtpIn {
            source: p.key,
            seq: p.seq,
            timestamp: p.timestamp,
            clock_rate: p.codec.clock_rate,
            arrival: p.arrival,
        });
        Some(Delivery {
            target,
            mid,
            out,
            keyframe_request,
        })
    }

    /// Target side: the sources of routes feeding (target, mid), for keyframe requests.
    pub fn sources_of(&self, target: HandleId, mid: &Mid) -> Vec<(HandleId, Mid, Option<u8>)> {
        self.targets
            .values()
            .filter(|t| t.route.target.handle == target && t.target_mid == *mid && !t.paused)
            .map(|t| {
                (
                    t.route.source.handle,
                    Mid::from(t.route.source.mid.as_str()),
                    t.selector.current(),
                )
            })
            .collect()
    }

    /// Source side: true when a keyframe request to (source, mid) may go out now.
    pub fn keyframe_allowed(&mut self, source: HandleId, mid: Mid, now: Instant) -> bool {
        match self.keyframe_sent.get(&(source, mid)) {
            Some(at) if now.saturating_duration_since(*at) < KEYFRAME_THROTTLE => false,
            _ => {
                self.keyframe_sent.insert((source, mid), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MediaRef;

    fn route(src: HandleId, smid: &str, dst: HandleId, dmid: &str) -> Route {
        Route {
            source: MediaRef {
                handle: src,
                mid: smid.into(),
            },
            target: MediaRef {
                handle: dst,
                mid: dmid.into(),
            },
            layer: LayerChoice::default(),
            paused: false,
            auto_layer: false,
        }
    }

    fn packet(
        src: HandleId,
        mid: &str,
        seq: u64,
        layer: Option<u8>,
        keyframe: bool,
    ) -> ForwardPacket {
        let mid = Mid::from(mid);
        ForwardPacket {
            source: src,
            source_mid: mid,
            layer,
            key: source_key(src, &mid, layer),
            seq,
            timestamp: seq as u32 * 3000,
            marker: false,
            codec: CodecInfo {
                codec: str0m::format::Codec::Vp8,
                clock_rate: 90_000,
                channels: None,
                h264: None,
            },
            keyframe,
            payload: Arc::from(&[1u8, 2, 3][..]),
            ext: ExtensionValues::default(),
            arrival: Instant::now(),
        }
    }

    #[test]
    fn source_switch_keeps_target_continuous() {
        let mut r = RouterShard::default();
        r.add_target(1, route(10, "0", 30, "1"));
        r.add_target(2, route(20, "0", 30, "1"));
        let a = r.deliver(1, &packet(10, "0", 500, None, false), 0).unwrap();
        let a2 = r.deliver(1, &packet(10, "0", 501, None, false), 0).unwrap();
        assert_eq!(a.target, 30);
        assert_eq!(a.mid, Mid::from("1"));
        r.remove(1);
        assert!(
            r.deliver(1, &packet(10, "0", 502, None, false), 0)
                .is_none()
        );
        let b = r
            .deliver(2, &packet(20, "0", 9000, None, false), 0)
            .unwrap();
        assert_eq!(a.out.unwrap().seq + 1, a2.out.unwrap().seq);
        assert_eq!(a2.out.unwrap().seq + 1, b.out.unwrap().seq);
    }

    #[test]
    fn paused_routes_forward_nothing_but_keep_state() {
        let mut r = RouterShard::default();
        r.add_target(1, route(10, "0", 30, "0"));
        let first = r.deliver(1, &packet(10, "0", 1, None, false), 0).unwrap();
        assert!(r.update(1, LayerChoice::default(), true));
        assert!(r.deliver(1, &packet(10, "0", 2, None, false), 0).is_none());
        assert!(r.update(1, LayerChoice::default(), false));
        let again = r.deliver(1, &packet(10, "0", 3, None, false), 0).unwrap();
        assert_eq!(again.out.unwrap().seq, first.out.unwrap().seq + 2);
        assert!(!r.update(99, LayerChoice::default(), false));
    }

    #[test]
    fn simulcast_waits_for_keyframe_and_requests_it() {
        let mut r = RouterShard::default();
        r.add_target(1, route(10, "1", 30, "1"));
        let d = r
            .deliver(1, &packet(10, "1", 1, Some(1), false), 0)
            .unwrap();
        assert_eq!(d.out, None);
        assert_eq!(d.keyframe_request, Some((10, Mid::from("1"), Some(1))));
        let d = r.deliver(1, &packet(10, "1", 2, Some(1), true), 0).unwrap();
        assert!(d.out.is_some());
    }

    #[test]
    fn echo_route_and_forgetting_a_handle() {
        let mut r = RouterShard::default();
        r.add_fanout(1, 10, Mid::from("0"), 10);
        r.add_fanout(1, 10, Mid::from("0"), 10);
        r.add_target(1, route(10, "0", 10, "0"));
        assert_eq!(r.fanout(10, &Mid::from("0")), &[(1, 10)]);
        assert!(r.deliver(1, &packet(10, "0", 1, None, false), 0).is_some());
        assert_eq!(
            r.sources_of(10, &Mid::from("0")),
            vec![(10, Mid::from("0"), None)]
        );
        r.forget_handle(10);
        assert!(!r.has_routes(10, &Mid::from("0")));
        assert!(r.deliver(1, &packet(10, "0", 2, None, false), 0).is_none());
    }

    #[test]
    fn keyframe_requests_are_throttled_per_source() {
        let mut r = RouterShard::default();
        let t = Instant::now();
        let m = Mid::from("1");
        assert!(r.keyframe_allowed(1, m, t));
        assert!(!r.keyframe_allowed(1, m, t + Duration::from_millis(100)));
        assert!(r.keyframe_allowed(2, m, t));
        assert!(r.keyframe_allowed(1, m, t + Duration::from_millis(600)));
    }
}
