//! Request-level tests on a recording fake of the gateway.

use portunus_plugin_sdk::prelude::*;

use crate::VideoRoom;
use crate::host_api::Host;

/// One recorded push.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub handle: HandleId,
    pub transaction: Option<String>,
    pub data: Value,
    pub jsep: Option<JsepOut>,
}

/// Records every call; mids and ids are deterministic.
#[derive(Default)]
pub struct Fake {
    pub pushed: Vec<Pushed>,
    pub offers: Vec<(HandleId, OfferSpec)>,
    pub routes: Vec<(RouteId, Route)>,
    pub removed_routes: Vec<RouteId>,
    pub updates: Vec<(RouteId, LayerChoice, bool)>,
    pub keyframes: Vec<MediaRef>,
    pub caps: Vec<(HandleId, u32)>,
    pub talk: Vec<(MediaRef, Option<TalkDetection>)>,
    pub forwards: Vec<(ForwarderId, RtpForward)>,
    pub removed_forwards: Vec<ForwarderId>,
    pub saved: Vec<Value>,
    pub sent_data: Vec<(HandleId, DataMessage)>,
    pub closed: Vec<HandleId>,
    pub timers: Vec<(u64, u64)>,
    pub next_id: u64,
    pub next_mid: u32,
    pub fail_save: bool,
}

impl Host for Fake {
    fn push_event(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) -> Result<Vec<String>, String> {
        self.pushed.push(Pushed {
            handle,
            transaction: transaction.map(str::to_owned),
            data: data.clone(),
            jsep: jsep.cloned(),
        });
        Ok(Vec::new())
    }
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
        self.next_id += 1;
        self.routes.push((self.next_id, route.clone()));
        Ok(self.next_id)
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
        if forward.host == "unresolvable.invalid" {
            return Err("cannot resolve".into());
        }
        self.next_id += 1;
        self.forwards.push((self.next_id, forward.clone()));
        Ok(self.next_id)
    }
    fn rtp_forward_remove(&mut self, id: ForwarderId) {
        self.removed_forwards.push(id);
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
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        self.timers.push((id, delay_ms));
    }
    fn cancel_timer(&mut self, _id: u64) {}
    fn now_ms(&mut self) -> u64 {
        1_700_000_000_000
    }
    fn log(&mut self, _level: LogLevel, _message: &str) {}
}

pub type Vr = VideoRoom<Fake>;
