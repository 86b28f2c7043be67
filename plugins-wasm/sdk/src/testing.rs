//! A recording fake of the gateway for plugins' `cargo test` on the build machine: every
//! call of [`Host`] is kept for the test to look at; ids, mids and ports are deterministic.
//! Enabled by the `testing` feature (a plugin's dev-dependency).

use serde_json::Value;

use crate::host_api::Host;
use crate::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, LogLevel, MediaRef, OfferSpec, Route,
    RouteId, RtpForward, RtpInput, RtpInputInfo, TalkDetection,
};

/// One recorded push.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub handle: HandleId,
    pub transaction: Option<String>,
    pub data: Value,
    pub jsep: Option<JsepOut>,
}

/// Records every call. Route, forwarder and input ids come from one counter (1, 2, ...).
#[derive(Default)]
pub struct FakeHost {
    pub pushed: Vec<Pushed>,
    pub offers: Vec<(HandleId, OfferSpec)>,
    pub inputs: Vec<(HandleId, RtpInput)>,
    pub removed_inputs: Vec<HandleId>,
    pub routes: Vec<(RouteId, Route)>,
    pub removed_routes: Vec<RouteId>,
    /// Every route update: (route, layer, paused).
    pub updates: Vec<(RouteId, LayerChoice, bool)>,
    pub keyframes: Vec<MediaRef>,
    pub caps: Vec<(HandleId, u32)>,
    pub talk: Vec<(MediaRef, Option<TalkDetection>)>,
    pub forwards: Vec<(ForwarderId, RtpForward)>,
    pub removed_forwards: Vec<ForwarderId>,
    pub saved: Vec<Value>,
    pub sent_data: Vec<(HandleId, DataMessage)>,
    pub closed: Vec<HandleId>,
    /// Timers set: (id, delay in ms).
    pub timers: Vec<(u64, u64)>,
    pub next_id: u64,
    pub next_mid: u32,
    /// Milliseconds added to the clock (which starts at 1 700 000 000 000).
    pub now: u64,
    /// save-config fails (a read-only configuration).
    pub fail_save: bool,
    /// push-event with an answer fails (the core could not build it).
    pub fail_answer: bool,
    /// rtp-input-add fails (as the core does for a port in use).
    pub fail_input: bool,
}

/// A forwarder to this host name fails as an unresolvable one does.
pub const UNRESOLVABLE_HOST: &str = "unresolvable.invalid";

impl FakeHost {
    /// The route updates as (route, paused).
    pub fn pauses(&self) -> Vec<(RouteId, bool)> {
        self.updates.iter().map(|(id, _, p)| (*id, *p)).collect()
    }

    /// The route updates as (route, substream, temporal).
    pub fn layers(&self) -> Vec<(RouteId, Option<u8>, Option<u8>)> {
        self.updates
            .iter()
            .map(|(id, l, _)| (*id, l.substream, l.temporal))
            .collect()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Host for FakeHost {
    /// An offer pushed as it is (`JsepOut::Offer`) gets the mids its lines lack numbered
    /// from 0, as the core numbers them.
    fn push_event(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) -> Result<Vec<String>, String> {
        if self.fail_answer && matches!(jsep, Some(JsepOut::Answer(_))) {
            return Err("no pending offer".into());
        }
        self.pushed.push(Pushed {
            handle,
            transaction: transaction.map(str::to_owned),
            data: data.clone(),
            jsep: jsep.cloned(),
        });
        Ok(match jsep {
            Some(JsepOut::Offer(spec)) => spec
                .media
                .iter()
                .map(|m| {
                    m.mid.clone().unwrap_or_else(|| {
                        self.next_mid += 1;
                        (self.next_mid - 1).to_string()
                    })
                })
                .collect(),
            _ => Vec::new(),
        })
    }
    /// The mids a prepared offer's lines lack are `s1`, `s2`, ...
    fn create_offer(&mut self, handle: HandleId, spec: &OfferSpec) -> Result<Vec<String>, String> {
        self.offers.push((handle, spec.clone()));
        Ok(spec
            .media
            .iter()
            .map(|m| {
                m.mid.clone().unwrap_or_else(|| {
                    self.next_mid += 1;
                    format!("s{}", self.next_mid)
                })
            })
            .collect())
    }
    fn route_add(&mut self, route: &Route) -> Result<RouteId, String> {
        let id = self.next_id();
        self.routes.push((id, route.clone()));
        Ok(id)
    }
    fn route_update(
        &mut self,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), String> {
        self.updates.push((id, layer, paused));
        Ok(())
    }
    fn route_remove(&mut self, id: RouteId) {
        self.removed_routes.push(id);
    }
    fn request_keyframe(&mut self, source: &MediaRef) {
        self.keyframes.push(source.clone());
    }
    fn set_bitrate_cap(&mut self, handle: HandleId, bitrate: u32) {
        self.caps.push((handle, bitrate));
    }
    fn talk_detect(
        &mut self,
        source: &MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String> {
        self.talk.push((source.clone(), config));
        Ok(())
    }
    fn rtp_forward_add(&mut self, forward: &RtpForward) -> Result<ForwarderId, String> {
        if forward.host == UNRESOLVABLE_HOST {
            return Err("cannot resolve".into());
        }
        let id = self.next_id();
        self.forwards.push((id, forward.clone()));
        Ok(id)
    }
    fn rtp_forward_remove(&mut self, id: ForwarderId) {
        self.removed_forwards.push(id);
    }
    /// A port 0 (any) is given as 40000 + the stream's index.
    fn rtp_input_add(&mut self, input: &RtpInput) -> Result<RtpInputInfo, String> {
        if self.fail_input {
            return Err("port 5002 is in use".into());
        }
        let source = self.next_id();
        self.inputs.push((source, input.clone()));
        Ok(RtpInputInfo {
            source,
            ports: input
                .streams
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if s.port == 0 {
                        40000 + i as u16
                    } else {
                        s.port
                    }
                })
                .collect(),
        })
    }
    fn rtp_input_remove(&mut self, source: HandleId) {
        self.removed_inputs.push(source);
    }
    fn save_config(&mut self, config: &Value) -> Result<(), String> {
        if self.fail_save {
            return Err("read-only".into());
        }
        self.saved.push(config.clone());
        Ok(())
    }
    fn send_data(&mut self, handle: HandleId, message: &DataMessage) -> Result<(), String> {
        self.sent_data.push((handle, message.clone()));
        Ok(())
    }
    fn close_pc(&mut self, handle: HandleId) {
        self.closed.push(handle);
    }
    fn end_session(&mut self, _handle: HandleId) {}
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        self.timers.push((id, delay_ms));
    }
    fn cancel_timer(&mut self, _id: u64) {}
    fn now_ms(&mut self) -> u64 {
        1_700_000_000_000 + self.now
    }
    fn log(&mut self, _level: LogLevel, _message: &str) {}
}
