//! The gateway calls behind a trait, so a plugin's request logic can run on [`RealHost`]
//! (the `host` imports, through [`crate::host`]) in the gateway and on a recording fake in
//! `cargo test` on the build machine.

use serde_json::Value;

use crate::host;
use crate::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, LogLevel, MediaRef, OfferSpec, Route,
    RouteId, RtpForward, RtpInput, RtpInputInfo, TalkDetection,
};

/// Every call of [`crate::host`], as methods. See there for what each does.
pub trait Host {
    /// `host::push_event`; returns the mids of an offer's m-lines (empty otherwise).
    fn push_event(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) -> Result<Vec<String>, String>;
    /// `host::create_offer`: makes the offer, returns its mids; a following push with
    /// `JsepOut::PreparedOffer` sends it.
    fn create_offer(&mut self, handle: HandleId, spec: &OfferSpec) -> Result<Vec<String>, String>;
    fn route_add(&mut self, route: &Route) -> Result<RouteId, String>;
    fn route_update(&mut self, id: RouteId, layer: LayerChoice, paused: bool)
    -> Result<(), String>;
    fn route_remove(&mut self, id: RouteId);
    fn request_keyframe(&mut self, source: &MediaRef);
    fn set_bitrate_cap(&mut self, handle: HandleId, bitrate: u32);
    fn talk_detect(
        &mut self,
        source: &MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String>;
    fn rtp_forward_add(&mut self, forward: &RtpForward) -> Result<ForwarderId, String>;
    fn rtp_forward_remove(&mut self, id: ForwarderId);
    fn rtp_input_add(&mut self, input: &RtpInput) -> Result<RtpInputInfo, String>;
    fn rtp_input_remove(&mut self, source: HandleId);
    fn save_config(&mut self, config: &Value) -> Result<(), String>;
    fn send_data(&mut self, handle: HandleId, message: &DataMessage) -> Result<(), String>;
    fn close_pc(&mut self, handle: HandleId);
    fn end_session(&mut self, handle: HandleId);
    fn set_timer(&mut self, id: u64, delay_ms: u64);
    fn cancel_timer(&mut self, id: u64);
    fn now_ms(&mut self) -> u64;
    fn log(&mut self, level: LogLevel, message: &str);

    /// [`Host::push_event`] for an event nothing waits on: a handle that is already gone is
    /// logged (debug), not an error.
    fn push_or_log(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) {
        if let Err(e) = self.push_event(handle, transaction, data, jsep) {
            self.debug(&format!("cannot send an event to handle {handle}: {e}"));
        }
    }

    fn warn(&mut self, message: &str) {
        self.log(LogLevel::Warn, message)
    }
    fn debug(&mut self, message: &str) {
        self.log(LogLevel::Debug, message)
    }
    fn info(&mut self, message: &str) {
        self.log(LogLevel::Info, message)
    }
    fn error(&mut self, message: &str) {
        self.log(LogLevel::Error, message)
    }
}

/// The gateway itself.
#[derive(Debug, Default)]
pub struct RealHost;

impl Host for RealHost {
    fn push_event(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) -> Result<Vec<String>, String> {
        host::push_event(handle, transaction, data, jsep)
    }
    fn create_offer(&mut self, handle: HandleId, spec: &OfferSpec) -> Result<Vec<String>, String> {
        host::create_offer(handle, spec)
    }
    fn route_add(&mut self, route: &Route) -> Result<RouteId, String> {
        host::route_add(route)
    }
    fn route_update(
        &mut self,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), String> {
        host::route_update(id, layer, paused)
    }
    fn route_remove(&mut self, id: RouteId) {
        host::route_remove(id)
    }
    fn request_keyframe(&mut self, source: &MediaRef) {
        host::request_keyframe(source)
    }
    fn set_bitrate_cap(&mut self, handle: HandleId, bitrate: u32) {
        host::set_bitrate_cap(handle, bitrate)
    }
    fn talk_detect(
        &mut self,
        source: &MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String> {
        host::talk_detect(source, config)
    }
    fn rtp_forward_add(&mut self, forward: &RtpForward) -> Result<ForwarderId, String> {
        host::rtp_forward_add(forward)
    }
    fn rtp_forward_remove(&mut self, id: ForwarderId) {
        host::rtp_forward_remove(id)
    }
    fn rtp_input_add(&mut self, input: &RtpInput) -> Result<RtpInputInfo, String> {
        host::rtp_input_add(input)
    }
    fn rtp_input_remove(&mut self, source: HandleId) {
        host::rtp_input_remove(source)
    }
    fn save_config(&mut self, config: &Value) -> Result<(), String> {
        host::save_config(config)
    }
    fn send_data(&mut self, handle: HandleId, message: &DataMessage) -> Result<(), String> {
        host::send_data(handle, message)
    }
    fn close_pc(&mut self, handle: HandleId) {
        host::close_pc(handle)
    }
    fn end_session(&mut self, handle: HandleId) {
        host::end_session(handle)
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        host::set_timer(id, delay_ms)
    }
    fn cancel_timer(&mut self, id: u64) {
        host::cancel_timer(id)
    }
    fn now_ms(&mut self) -> u64 {
        host::now_ms()
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        host::log(level, message)
    }
}
