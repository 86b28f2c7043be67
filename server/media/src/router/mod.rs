//! The native RTP router: routes from (source handle, mid) to (target handle, mid).
//!
//! Hot path, and independent of Wasm and of the Janus API. A packet is looked at once on
//! the shard that owns its source (codec, simulcast layer, keyframe), wrapped in one
//! refcounted [`ForwardPacket`], and handed to every route's target shard without copying
//! the payload. The target side selects the layer and rewrites numbering so the target
//! sees one continuous stream whatever feeds it.

pub mod auto_layer;
pub mod av1_dd;
pub mod h264;
pub mod keyframe;
pub mod layer;
pub mod picture_id;
pub mod rate;
pub mod rewrite;
pub mod spatial;
pub mod temporal;
pub mod vp8;
pub mod vp9;

// Looked up per packet and per target: a fast hash for these small integer-and-mid keys.
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::Mid;
use str0m::rtp::ExtensionValues;

use crate::types::{HandleId, LayerChoice, Route, RouteId};
use auto_layer::AutoLayer;
use keyframe::PayloadDesc;
use layer::LayerSelector;
use picture_id::{PictureIdRewriter, PictureIds};
use rate::RateMeter;
use rewrite::{Rewriter, RtpIn, RtpOut, SourceKey};
use spatial::SpatialFilter;
use temporal::TemporalFilter;

/// Keyframe requests forwarded to one source are limited to one per this interval.
pub const KEYFRAME_THROTTLE: Duration = Duration::from_millis(500);
/// Auto-layer routes reconsider their layer at most this often.
const AUTO_LAYER_PERIOD: Duration = Duration::from_millis(250);
/// Layers (simulcast substreams or SVC spatial layers) whose bitrate auto-layer measures.
const RATE_LAYERS: usize = 4;
/// Bytes an RTP packet takes beyond its payload (header, SRTP tag), for bitrates.
const PACKET_OVERHEAD: usize = 12 + 16;

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
    /// What the payload says about keyframes, layers and VP8 numbering (video only).
    pub desc: PayloadDesc,
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
    temporal: TemporalFilter,
    spatial: SpatialFilter,
    paused: bool,
    /// The (substream, temporal) last reported as forwarded.
    reported: LayerChoice,
    /// What this route forwards, for the target's bandwidth share.
    forwarded: RateMeter,
    /// Auto-layer state, when the route has it on.
    auto: Option<AutoRoute>,
}

/// Auto-layer state of one route: the source's layer bitrates as this route sees them.
#[derive(Debug, Default)]
struct AutoRoute {
    layers: [RateMeter; RATE_LAYERS],
    /// The source is SVC: forwarding a spatial layer takes all the layers below it too.
    svc: bool,
    decider: AutoLayer,
    last_decision: Option<Instant>,
}

/// Numbering state of one outgoing stream (a target m-line), whatever route feeds it.
#[derive(Debug)]
struct StreamOut {
    seq: Rewriter,
    vp8: PictureIdRewriter,
}

/// What the target shard should do with a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub target: HandleId,
    pub mid: Mid,
    pub out: Option<RtpOut>,
    /// Ask the route's source for a keyframe of this layer (a pending simulcast switch).
    pub keyframe_request: Option<(HandleId, Mid, Option<u8>)>,
    /// The (substream or spatial layer, temporal layer) this route forwards changed to
    /// this: the shard reports `MediaEvent::LayerChanged`.
    pub layer_changed: Option<LayerChoice>,
}

/// Routing state of one shard: the routes whose source it owns (fan-out) and those whose
/// target it owns (selection and rewriting).
#[derive(Debug, Default)]
pub struct RouterShard {
    fanout: HashMap<(HandleId, Mid), Vec<(RouteId, HandleId)>>,
    targets: HashMap<RouteId, TargetRoute>,
    rewriters: HashMap<(HandleId, Mid), StreamOut>,
    keyframe_sent: HashMap<(HandleId, Mid), Instant>,
    /// Requests that came within the throttle: when they come due, and for which layer
    /// (`None` = all).
    keyframe_deferred: HashMap<(HandleId, Mid), (Instant, Option<u8>)>,
    /// Bandwidth estimates of the target handles on this shard (bits per second).
    estimates: HashMap<HandleId, u64>,
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
        let temporal = TemporalFilter::new(route.layer.temporal);
        let spatial = SpatialFilter::new(route.layer.substream);
        let paused = route.paused;
        let auto = route.auto_layer.then(AutoRoute::default);
        self.targets.insert(
            id,
            TargetRoute {
                route,
                target_mid,
                selector,
                temporal,
                spatial,
                paused,
                reported: LayerChoice::default(),
                forwarded: RateMeter::default(),
                auto,
            },
        );
    }

    /// Target side: the route `id` as installed (and updated) on this shard.
    pub fn target_route(&self, id: RouteId) -> Option<&Route> {
        self.targets.get(&id).map(|t| &t.route)
    }

    pub fn update(&mut self, id: RouteId, layer: LayerChoice, paused: bool) -> bool {
        match self.targets.get_mut(&id) {
            Some(t) => {
                t.selector.set_wanted(layer.substream);
                t.spatial.set_wanted(layer.substream);
                t.temporal.set_wanted(layer.temporal);
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
        self.keyframe_deferred.retain(|(h, _), _| *h != handle);
        self.estimates.remove(&handle);
    }

    /// Target side: the bandwidth estimate of a target handle (bits per second), from its
    /// congestion controller; auto-layer routes to it fit their layers under it.
    pub fn set_estimate(&mut self, target: HandleId, bps: u64) {
        self.estimates.insert(target, bps);
    }

    /// Auto-layer: measures the packet's layer and, now and then, caps the route's layer
    /// at what the target's estimate (less its other routes) can carry.
    fn auto_layer(&mut self, id: RouteId, p: &ForwardPacket) {
        let Some(t) = self.targets.get_mut(&id) else {
            return;
        };
        let target = t.route.target.handle;
        let Some(auto) = t.auto.as_mut() else { return };
        let layer = p.layer.or(p.desc.spatial);
        let Some(layer) = layer.filter(|l| usize::from(*l) < RATE_LAYERS) else {
            return;
        };
        // SVC: spatial layers in one stream (VP9 simulcast carries SID 0 on every layer).
        auto.svc |= p.layer.is_none() && p.desc.spatial.is_some();
        auto.layers[usize::from(layer)].add(p.payload.len() + PACKET_OVERHEAD, p.arrival);
        let now = p.arrival;
        if auto
            .last_decision
            .is_some_and(|at| now.saturating_duration_since(at) < AUTO_LAYER_PERIOD)
        {
            return;
        }
        auto.last_decision = Some(now);
        let Some(&estimate) = self.estimates.get(&target) else {
            return;
        };
        let others: u64 = self
            .targets
            .iter_mut()
            .filter(|(rid, o)| **rid != id && o.route.target.handle == target && !o.paused)
            .filter_map(|(_, o)| o.forwarded.bps(now))
            .sum();
        let Some(t) = self.targets.get_mut(&id) else {
            return;
        };
        let Some(auto) = t.auto.as_mut() else { return };
        let mut needs = [None; RATE_LAYERS];
        let mut below = 0;
        for (l, m) in auto.layers.iter_mut().enumerate() {
            if let Some(bps) = m.bps(now) {
                needs[l] = Some(if auto.svc { below + bps } else { bps });
                below += bps;
            }
        }
        let cap = auto
            .decider
            .decide(&needs, estimate.saturating_sub(others), now);
        t.selector.set_cap(cap);
        t.spatial.set_cap(cap);
    }

    /// Drops the numbering state of a target (its PeerConnection is new).
    pub fn reset_target(&mut self, handle: HandleId) {
        self.rewriters.retain(|(h, _), _| *h != handle);
    }

    /// Target side: decides and rewrites one forwarded packet.
    pub fn deliver(&mut self, id: RouteId, p: &ForwardPacket, seed: u64) -> Option<Delivery> {
        let t = self.targets.get(&id)?;
        if t.paused {
            return None;
        }
        if t.auto.is_some() {
            self.auto_layer(id, p);
        }
        let t = self.targets.get_mut(&id)?;
        let mut d = Delivery {
            target: t.route.target.handle,
            mid: t.target_mid,
            out: None,
            keyframe_request: None,
            layer_changed: None,
        };
        if let Some(layer) = p.layer {
            let s = t.selector.on_packet(layer, p.desc.keyframe, p.arrival);
            if let Some(l) = s.request_keyframe {
                d.keyframe_request = Some((p.source, p.source_mid, Some(l)));
            }
            if !s.forward {
                // Another simulcast stream: not part of what the target sees, nothing to skip.
                return Some(d);
            }
        }
        let mut marker = p.marker;
        let mut pass = t.temporal.on_packet(&p.desc);
        if p.desc.spatial.is_some() {
            let s = t.spatial.on_packet(&p.desc, p.marker, p.arrival);
            if s.request_keyframe {
                d.keyframe_request = Some((p.source, p.source_mid, None));
            }
            pass &= s.forward;
            marker = s.marker;
        }
        let stream = self
            .rewriters
            .entry((d.target, d.mid))
            .or_insert_with(|| StreamOut {
                seq: Rewriter::new(seed),
                vp8: PictureIdRewriter::default(),
            });
        let vp8 = p.desc.vp8.map(|v| {
            (
                v,
                PictureIds {
                    picture_id: v.picture_id,
                    wide: v.picture_id_wide,
                    tl0_pic_idx: v.tl0_pic_idx,
                },
            )
        });
        if !pass {
            // Dropped by layer filtering: close the gap in the target's numbering.
            stream.seq.skip(p.key, p.seq);
            if let Some((_, ids)) = vp8 {
                stream.vp8.skip(p.key, ids);
            }
            return Some(d);
        }
        let Some(mut out) = stream.seq.rewrite(RtpIn {
            source: p.key,
            seq: p.seq,
            timestamp: p.timestamp,
            clock_rate: p.codec.clock_rate,
            arrival: p.arrival,
        }) else {
            return Some(d);
        };
        out.marker = marker;
        if let Some((fields, ids)) = vp8 {
            let ids = stream.vp8.rewrite(p.key, ids);
            out.picture = Some(ids);
            if let Some(desc) = fields.patchable {
                let mut b = desc.patch();
                if let Some(pid) = ids.picture_id {
                    b = b.picture_id(pid);
                }
                if let Some(tl0) = ids.tl0_pic_idx {
                    b = b.tl0_pic_idx(tl0);
                }
                out.vp8 = b.build().ok();
            }
        }
        d.out = Some(out);
        t.forwarded
            .add(p.payload.len() + PACKET_OVERHEAD, p.arrival);
        let forwarded = LayerChoice {
            substream: if p.layer.is_some() {
                t.selector.current()
            } else if p.desc.spatial.is_some() {
                t.spatial.current()
            } else {
                None
            },
            temporal: t.temporal.current(),
        };
        if forwarded != t.reported {
            t.reported = forwarded;
            d.layer_changed = Some(forwarded);
        }
        Some(d)
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

    /// Source side: keeps a request the throttle refused for when the throttle ends,
    /// merged with any other one kept (different layers merge to all). A target that came
    /// up just after the last keyframe went by would otherwise wait for the next GOP.
    pub fn defer_keyframe(&mut self, source: HandleId, mid: Mid, layer: Option<u8>) {
        let Some(sent) = self.keyframe_sent.get(&(source, mid)) else {
            return;
        };
        let due = *sent + KEYFRAME_THROTTLE;
        self.keyframe_deferred
            .entry((source, mid))
            .and_modify(|(_, l)| {
                if *l != layer {
                    *l = None;
                }
            })
            .or_insert((due, layer));
    }

    /// Source side: when the next deferred keyframe request comes due.
    pub fn next_deferred_keyframe(&self) -> Option<Instant> {
        self.keyframe_deferred.values().map(|(t, _)| *t).min()
    }

    /// Source side: takes the deferred keyframe requests due at `now`.
    pub fn due_keyframes(&mut self, now: Instant) -> Vec<(HandleId, Mid, Option<u8>)> {
        if self.keyframe_deferred.is_empty() {
            return Vec::new();
        }
        let mut due = Vec::new();
        self.keyframe_deferred.retain(|(source, mid), (t, layer)| {
            if *t <= now {
                due.push((*source, *mid, *layer));
                false
            } else {
                true
            }
        });
        due
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
            desc: PayloadDesc {
                keyframe,
                begins_picture: true,
                ..Default::default()
            },
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

    /// A VP8 packet: 15-bit picture id, TL0PICIDX, TID/Y; `key` = keyframe start.
    fn vp8_packet(
        src: HandleId,
        layer: u8,
        seq: u64,
        pid: u16,
        tl0: u8,
        tid: u8,
        key: bool,
    ) -> ForwardPacket {
        let payload = [
            0x90,
            0xe0,
            0x80 | (pid >> 8) as u8,
            pid as u8,
            tl0,
            tid << 6,
            if key { 0x00 } else { 0x01 },
        ];
        let mut p = packet(src, "1", seq, Some(layer), key);
        p.desc = keyframe::describe(keyframe::VideoCodec::Vp8, &payload);
        p.payload = Arc::from(&payload[..]);
        p.marker = true;
        p
    }

    #[test]
    fn temporal_filtering_keeps_numbering_continuous() {
        let mut r = RouterShard::default();
        let mut rt = route(10, "1", 30, "1");
        rt.layer.temporal = Some(0);
        r.add_target(1, rt);
        let mut seqs = Vec::new();
        let mut pids = Vec::new();
        let mut changes = Vec::new();
        // L1T2 pattern: tid 0,1,0,1,... one packet per frame.
        for i in 0..8u16 {
            let tid = (i % 2) as u8;
            let p = vp8_packet(
                10,
                0,
                100 + u64::from(i),
                7000 + i,
                (i / 2) as u8,
                tid,
                i == 0,
            );
            let d = r.deliver(1, &p, 0).unwrap();
            changes.extend(d.layer_changed);
            if let Some(out) = d.out {
                assert!(out.marker);
                assert!(out.vp8.is_some());
                seqs.push(out.seq);
                let rt = rewrite_vp8_for_test(&p, &out);
                pids.push(rt);
            }
        }
        assert_eq!(seqs, vec![0, 1, 2, 3]);
        assert_eq!(
            pids,
            vec![(7000, 0), (7001, 1), (7002, 2), (7003, 3)],
            "picture ids continuous across dropped tid-1 frames"
        );
        assert_eq!(
            changes,
            vec![LayerChoice {
                substream: Some(0),
                temporal: Some(0)
            }]
        );
    }

    /// The picture id and TL0PICIDX a delivery writes; its VP8 patch writes the same.
    fn rewrite_vp8_for_test(p: &ForwardPacket, out: &RtpOut) -> (u16, u8) {
        let ids = out.picture.unwrap();
        let (pid, tl0) = (ids.picture_id.unwrap(), ids.tl0_pic_idx.unwrap());
        let desc = str0m::rtp::Vp8Descriptor::parse(&p.payload).unwrap();
        let patch = desc.patch().picture_id(pid).tl0_pic_idx(tl0).build();
        assert_eq!(patch, Ok(out.vp8.unwrap()));
        (pid, tl0)
    }

    #[test]
    fn simulcast_switch_continues_vp8_picture_ids_and_reports_the_layer() {
        let mut r = RouterShard::default();
        r.add_target(1, route(10, "1", 30, "1"));
        let a = r
            .deliver(1, &vp8_packet(10, 0, 50, 300, 3, 0, true), 0)
            .unwrap();
        assert_eq!(
            a.layer_changed,
            Some(LayerChoice {
                substream: Some(0),
                temporal: Some(0)
            })
        );
        let a2 = r
            .deliver(1, &vp8_packet(10, 0, 51, 301, 4, 0, false), 0)
            .unwrap();
        assert_eq!(a2.layer_changed, None);
        // Layer 1 appears and switches at its keyframe.
        let b = r
            .deliver(1, &vp8_packet(10, 1, 9000, 20, 200, 0, true), 0)
            .unwrap();
        let out = b.out.unwrap();
        assert_eq!(out.seq, a2.out.unwrap().seq + 1);
        assert_eq!(
            rewrite_vp8_for_test(&vp8_packet(10, 1, 9000, 20, 200, 0, true), &out),
            (302, 5)
        );
        assert_eq!(
            b.layer_changed,
            Some(LayerChoice {
                substream: Some(1),
                temporal: Some(0)
            })
        );
    }

    /// Three simulcast layers of L1T3 VP8 (temporal pattern 0,2,1,2; layer sync on the
    /// first tid-2 and the tid-1 frame; a keyframe every 60 frames; layer `l` sends l+1
    /// packets per frame), through layer and temporal switches: the target sees one clean
    /// stream.
    #[test]
    fn simulcast_l1t3_through_switches_is_one_continuous_stream() {
        let mut r = RouterShard::default();
        r.add_target(1, route(10, "1", 30, "1"));
        let t0 = Instant::now();
        let mut seq = [100u64, 5000, 60_000];
        let mut tl0 = [0u8, 50, 200];
        // (frame, layer, tid, out) for every forwarded packet.
        let mut outs: Vec<(u32, u8, u8, RtpOut)> = Vec::new();
        let mut changes = Vec::new();
        for f in 0..300u32 {
            if f == 100 {
                r.update(
                    1,
                    LayerChoice {
                        substream: Some(0),
                        temporal: Some(0),
                    },
                    false,
                );
            }
            if f == 200 {
                r.update(
                    1,
                    LayerChoice {
                        substream: Some(1),
                        temporal: Some(1),
                    },
                    false,
                );
            }
            let tid = [0u8, 2, 1, 2][(f % 4) as usize];
            let sync = f % 4 == 1 || f % 4 == 2;
            let key = f % 60 == 0;
            for l in 0..3u8 {
                if tid == 0 {
                    tl0[usize::from(l)] = tl0[usize::from(l)].wrapping_add(1);
                }
                let pid = (u16::from(l) * 1000 + f as u16) & 0x7fff;
                let packets = l + 1;
                for k in 0..packets {
                    let payload = [
                        0x80 | if k == 0 { 0x10 } else { 0 },
                        0xe0,
                        0x80 | (pid >> 8) as u8,
                        pid as u8,
                        tl0[usize::from(l)],
                        (tid << 6) | if sync { 0x20 } else { 0 },
                        if k == 0 && key { 0x00 } else { 0x01 },
                        0xab,
                    ];
                    let mut p = packet(10, "1", seq[usize::from(l)], Some(l), false);
                    seq[usize::from(l)] += 1;
                    p.desc = keyframe::describe(keyframe::VideoCodec::Vp8, &payload);
                    p.payload = Arc::from(&payload[..]);
                    p.marker = k == packets - 1;
                    p.timestamp = f * 3000 + u32::from(l) * 77_777;
                    p.arrival = t0 + Duration::from_millis(u64::from(f) * 33);
                    let d = r.deliver(1, &p, 0).unwrap();
                    changes.extend(d.layer_changed);
                    if let Some(out) = d.out {
                        outs.push((f, l, tid, out));
                    }
                }
            }
        }
        // Sequence numbers without a gap; one picture id per picture, +1 per picture;
        // TL0PICIDX +1 exactly at base-layer pictures; the marker closes every picture.
        for w in outs.windows(2) {
            let ((fa, la, _, a), (fb, lb, tb, b)) = (w[0], w[1]);
            assert_eq!(b.seq, a.seq + 1, "frame {fb}");
            let (pa, pb) = (a.picture.unwrap(), b.picture.unwrap());
            let (ta, tlb) = (pa.tl0_pic_idx.unwrap(), pb.tl0_pic_idx.unwrap());
            // A picture is one frame of one layer (a switch may show two layers' frames of
            // one capture time, the old one's and the new one's keyframe).
            if (fa, la) == (fb, lb) {
                assert_eq!(pa, pb, "frame {fb}");
                assert!(!a.marker, "marker inside frame {fb}");
            } else {
                assert!(a.marker, "no marker closing frame {fa}");
                assert_eq!(
                    pb.picture_id.unwrap(),
                    (pa.picture_id.unwrap() + 1) & 0x7fff
                );
                let step = if tb == 0 { 1 } else { 0 };
                assert_eq!(tlb, ta.wrapping_add(step), "frame {fb}");
                assert!(b.timestamp.wrapping_sub(a.timestamp) < 90_000, "frame {fb}");
            }
        }
        let window = |from: u32, to: u32| {
            outs.iter()
                .filter(move |(f, ..)| (from..to).contains(f))
                .map(|(_, l, tid, _)| (*l, *tid))
        };
        // Everything: the top layer with all its temporal layers.
        assert!(window(60, 100).all(|(l, _)| l == 2));
        assert_eq!(window(60, 100).map(|(_, t)| t).max(), Some(2));
        // Base layer, base temporal layer only.
        assert!(window(130, 200).all(|lt| lt == (0, 0)));
        // Middle layer, temporal layers 0 and 1.
        assert!(window(250, 300).all(|(l, t)| l == 1 && t <= 1));
        assert!(window(250, 300).any(|(_, t)| t == 1));
        assert_eq!(
            changes.last(),
            Some(&LayerChoice {
                substream: Some(1),
                temporal: Some(1)
            })
        );
        assert!(changes.contains(&LayerChoice {
            substream: Some(0),
            temporal: Some(0)
        }));
    }

    #[test]
    fn vp9_svc_forwards_spatial_layers_up_to_the_choice() {
        let mut r = RouterShard::default();
        let mut rt = route(10, "1", 30, "1");
        rt.layer.substream = Some(0);
        r.add_target(1, rt);
        let vp9 = |seq: u64, payload: &[u8], marker: bool| {
            let mut p = packet(10, "1", seq, None, false);
            p.desc = keyframe::describe(keyframe::VideoCodec::Vp9, payload);
            p.payload = Arc::from(payload);
            p.marker = marker;
            p
        };
        // Keyframe picture: SID 0 (B E, SS with 2 layers), SID 1 (B E, marker).
        let s0 = vp9(1, &[0xae, 0x01, 0x00, 0x00, 0x20, 0xaa], false);
        let s1 = vp9(2, &[0xac, 0x01, 0x03, 0x00, 0xaa], true);
        let d0 = r.deliver(1, &s0, 0).unwrap();
        let d1 = r.deliver(1, &s1, 0).unwrap();
        let o0 = d0.out.unwrap();
        assert!(o0.marker, "marker moved to the top forwarded layer");
        assert_eq!(d1.out, None);
        assert_eq!(
            d0.layer_changed,
            Some(LayerChoice {
                substream: Some(0),
                temporal: Some(0)
            })
        );
        // Next picture: numbering continues over the dropped SID 1 packet.
        let n0 = vp9(3, &[0xec, 0x02, 0x00, 0x01, 0xaa], false);
        assert_eq!(r.deliver(1, &n0, 0).unwrap().out.unwrap().seq, o0.seq + 1);
    }

    /// One L2T2 AV1 picture (one packet per layer frame, the RTP marker on the S1 one)
    /// with its dependency descriptors: a keyframe picture carrying the structure, or a
    /// delta picture of temporal layer `tid`. Returns (sid, tid, packet).
    fn av1_picture(
        dd: &mut av1_dd::DdState,
        seq: &mut u64,
        n: u16,
        key: bool,
        tid: u8,
    ) -> Vec<(u8, u8, ForwardPacket)> {
        use av1_dd::tests::l2t2;
        // Template ids (offset 5): S0 key 5, S0T0 6, S0T1 7, S1 key 8, S1T0 9, S1T1 10.
        let frames = match (key, tid) {
            (true, _) => [
                (0, 0, l2t2(5, true, true, n * 2, true)),
                (1, 0, l2t2(8, true, true, n * 2 + 1, false)),
            ],
            (false, 0) => [
                (0, 0, l2t2(6, true, true, n * 2, false)),
                (1, 0, l2t2(9, true, true, n * 2 + 1, false)),
            ],
            _ => [
                (0, 1, l2t2(7, true, true, n * 2, false)),
                (1, 1, l2t2(10, true, true, n * 2 + 1, false)),
            ],
        };
        frames
            .into_iter()
            .map(|(sid, tid, bytes)| {
                let mut p = packet(10, "1", *seq, None, false);
                *seq += 1;
                p.codec.codec = str0m::format::Codec::Av1;
                p.timestamp = u32::from(n) * 3000;
                p.desc = dd.describe(&bytes);
                assert_eq!((p.desc.spatial, p.desc.temporal), (Some(sid), Some(tid)));
                p.marker = sid == 1;
                (sid, tid, p)
            })
            .collect()
    }

    #[test]
    fn av1_svc_forwards_the_chosen_layers_by_dependency_descriptor() {
        let mut r = RouterShard::default();
        // Routes 1..=4 to targets 31..=34: (spatial, temporal) choices.
        let choices = [
            (Some(0), Some(0)),
            (Some(0), Some(1)),
            (Some(1), Some(0)),
            (None, None),
        ];
        for (i, (s, t)) in choices.iter().enumerate() {
            let mut rt = route(10, "1", 31 + i as HandleId, "1");
            rt.layer.substream = *s;
            rt.layer.temporal = *t;
            r.add_target(i as RouteId + 1, rt);
        }
        let mut dd = av1_dd::DdState::default();
        let mut seq = 0;
        let mut seen: [Vec<(u8, u8)>; 4] = Default::default();
        let mut markers: [Vec<bool>; 4] = Default::default();
        let mut last_seq: [Option<u64>; 4] = [None; 4];
        // A keyframe picture, then delta pictures alternating T1 and T0.
        for n in 0..9u16 {
            for (sid, tid, p) in av1_picture(&mut dd, &mut seq, n, n == 0, (n % 2) as u8) {
                for i in 0..4 {
                    let d = r.deliver(i as RouteId + 1, &p, 0).unwrap();
                    if let Some(o) = d.out {
                        if let Some(prev) = last_seq[i] {
                            assert_eq!(o.seq, prev.wrapping_add(1) & 0xffff, "route {i} gap");
                        }
                        last_seq[i] = Some(o.seq);
                        seen[i].push((sid, tid));
                        markers[i].push(o.marker);
                    }
                }
            }
        }
        let set = |v: &[(u8, u8)]| {
            let mut s = v.to_vec();
            s.sort();
            s.dedup();
            s
        };
        assert_eq!(set(&seen[0]), vec![(0, 0)]);
        assert_eq!(set(&seen[1]), vec![(0, 0), (0, 1)]);
        assert_eq!(set(&seen[2]), vec![(0, 0), (1, 0)]);
        assert_eq!(set(&seen[3]), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        // Every picture: 5 T0 pictures (key included), 4 T1 ones.
        assert_eq!(seen[0].len(), 5);
        assert_eq!(seen[3].len(), 18);
        // The marker closes each forwarded picture at its top forwarded layer.
        assert!(markers[0].iter().all(|m| *m), "{:?}", markers[0]);
        assert!(markers[1].iter().all(|m| *m), "{:?}", markers[1]);
        for (i, (l, m)) in seen[2].iter().zip(&markers[2]).enumerate() {
            assert_eq!(*m, l.0 == 1, "route 2 packet {i}");
        }
    }

    #[test]
    fn av1_svc_switches_up_at_dependency_descriptor_switch_points() {
        let mut r = RouterShard::default();
        let mut rt = route(10, "1", 30, "1");
        rt.layer.substream = Some(0);
        rt.layer.temporal = Some(0);
        r.add_target(1, rt);
        let mut dd = av1_dd::DdState::default();
        let mut seq = 0;
        let mut out = Vec::new();
        let mut requests = 0;
        let mut feed = |r: &mut RouterShard, dd: &mut av1_dd::DdState, from: u16, to: u16| {
            let mut got = Vec::new();
            for n in from..to {
                for (sid, tid, p) in av1_picture(dd, &mut seq, n, n % 100 == 0, (n % 2) as u8) {
                    let d = r.deliver(1, &p, 0).unwrap();
                    if d.keyframe_request.is_some() {
                        requests += 1;
                    }
                    if d.out.is_some() {
                        got.push((n, sid, tid));
                    }
                }
            }
            got
        };
        out.extend(feed(&mut r, &mut dd, 0, 4));
        assert!(out.iter().all(|&(_, s, t)| (s, t) == (0, 0)), "{out:?}");
        // Up to S1 T1: the temporal layer climbs at the next T0 frame (a switch point
        // for the T1 decode target); S1 waits for a keyframe, which is asked for.
        assert!(r.update(
            1,
            LayerChoice {
                substream: Some(1),
                temporal: Some(1)
            },
            false
        ));
        let got = feed(&mut r, &mut dd, 4, 8);
        assert_eq!(
            got,
            vec![(4, 0, 0), (5, 0, 1), (6, 0, 0), (7, 0, 1)],
            "S0 with both temporal layers, no S1 before a keyframe"
        );
        let got = feed(&mut r, &mut dd, 100, 102);
        assert_eq!(
            got,
            vec![(100, 0, 0), (100, 1, 0), (101, 0, 1), (101, 1, 1)]
        );
        assert!(requests > 0);
    }

    #[test]
    fn auto_layer_follows_the_target_estimate() {
        let mut r = RouterShard::default();
        let mut rt = route(10, "1", 30, "1");
        rt.auto_layer = true;
        r.add_target(1, rt);
        let t0 = Instant::now();
        // Three simulcast layers of ~100 kbps, ~400 kbps and ~1.6 Mbps (1000-byte packets).
        let per_20ms = [1usize, 1, 4];
        let sizes = [250usize, 1000, 1000];
        let mut seq = [0u64; 3];
        let mut forwarded = Vec::new();
        let mut run = |r: &mut RouterShard, from_ms: u64, to_ms: u64, key: bool| {
            let mut layers_out = [0usize; 3];
            for ms in (from_ms..to_ms).step_by(20) {
                for l in 0..3 {
                    for k in 0..per_20ms[l] {
                        let mut p = packet(10, "1", seq[l], Some(l as u8), key && k == 0);
                        seq[l] += 1;
                        p.payload = Arc::from(vec![0u8; sizes[l] - PACKET_OVERHEAD]);
                        p.arrival = t0 + Duration::from_millis(ms);
                        if r.deliver(1, &p, 0).is_some_and(|d| d.out.is_some()) {
                            layers_out[l] += 1;
                        }
                    }
                }
            }
            layers_out
        };
        // No estimate yet: the highest layer.
        forwarded.push(run(&mut r, 0, 2000, true));
        assert!(
            forwarded[0][2] > 0 && forwarded[0][0] <= 1,
            "{:?}",
            forwarded[0]
        );
        // The estimate drops below the top layer: down at once (at the next keyframe).
        r.set_estimate(30, 700_000);
        let o = run(&mut r, 2000, 3000, true);
        assert!(o[1] > 0 && o[2] < 20, "{o:?}");
        // Way down: the lowest layer.
        r.set_estimate(30, 50_000);
        let o = run(&mut r, 3000, 4000, true);
        assert!(o[0] > 0 && o[1] < 20, "{o:?}");
        // Recovery: not before the hold, then layer by layer.
        r.set_estimate(30, 5_000_000);
        let o = run(&mut r, 4000, 5000, true);
        assert_eq!((o[1], o[2]), (0, 0), "{o:?}");
        let o = run(&mut r, 5000, 10_000, true);
        assert!(o[2] > 0, "{o:?}");
    }

    #[test]
    fn auto_layer_counts_the_lower_svc_layers_in() {
        let mut r = RouterShard::default();
        let mut rt = route(10, "1", 30, "1");
        rt.auto_layer = true;
        r.add_target(1, rt);
        let t0 = Instant::now();
        let mut seq = 0u64;
        // Two spatial layers per picture, every picture a keyframe (switch points at
        // once): SID 0 500 bytes, SID 1 1500 bytes, 50 pictures/s → ~0.2 and ~0.6 Mbps.
        let mut run = |r: &mut RouterShard, from_ms: u64, to_ms: u64| {
            let mut top = 0;
            for ms in (from_ms..to_ms).step_by(20) {
                for (sid, size) in [(0u8, 500usize), (1, 1500)] {
                    let mut payload = vec![0xae, 0x01, sid << 1, 0x00, 0x20];
                    if sid == 1 {
                        payload = vec![0xac, 0x01, 0x03, 0x00];
                    }
                    payload.resize(size - PACKET_OVERHEAD, 0xaa);
                    let mut p = packet(10, "1", seq, None, false);
                    seq += 1;
                    p.desc = keyframe::describe(keyframe::VideoCodec::Vp9, &payload);
                    p.payload = Arc::from(payload);
                    p.marker = sid == 1;
                    p.arrival = t0 + Duration::from_millis(ms);
                    let d = r.deliver(1, &p, 0).unwrap();
                    if sid == 1 && d.out.is_some() {
                        top += 1;
                    }
                }
            }
            top
        };
        assert!(run(&mut r, 0, 1000) > 0);
        // 0.7 Mbps carries SID 1 alone but not SID 0 + SID 1.
        r.set_estimate(30, 700_000);
        run(&mut r, 1000, 1500);
        assert_eq!(run(&mut r, 1500, 3000), 0);
        r.set_estimate(30, 1_000_000);
        assert!(run(&mut r, 3000, 6000) > 0);
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

    #[test]
    fn throttled_keyframe_requests_come_due_when_the_throttle_ends() {
        let mut r = RouterShard::default();
        let t = Instant::now();
        let (a, b) = (Mid::from("1"), Mid::from("2"));
        // Nothing was sent: nothing to defer.
        r.defer_keyframe(1, a, None);
        assert_eq!(r.next_deferred_keyframe(), None);
        assert!(r.keyframe_allowed(1, a, t));
        r.defer_keyframe(1, a, Some(1));
        r.defer_keyframe(1, a, Some(1));
        assert_eq!(r.next_deferred_keyframe(), Some(t + KEYFRAME_THROTTLE));
        assert!(r.due_keyframes(t + Duration::from_millis(100)).is_empty());
        assert_eq!(
            r.due_keyframes(t + KEYFRAME_THROTTLE),
            vec![(1, a, Some(1))]
        );
        assert!(r.due_keyframes(t + KEYFRAME_THROTTLE).is_empty());
        assert_eq!(r.next_deferred_keyframe(), None);
        // Different layers merge to all; a forgotten source's requests go with it.
        assert!(r.keyframe_allowed(2, b, t));
        r.defer_keyframe(2, b, Some(0));
        r.defer_keyframe(2, b, Some(2));
        assert_eq!(r.due_keyframes(t + KEYFRAME_THROTTLE), vec![(2, b, None)]);
        r.defer_keyframe(2, b, None);
        r.forget_handle(2);
        assert_eq!(r.next_deferred_keyframe(), None);
    }
}
