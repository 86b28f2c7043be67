//! Calls into the gateway (the `host` interface of `wit/plugin.wit`).
//!
//! Every call returns at once; none waits on the network. Handles are checked by the core:
//! a plugin can only act on handles attached to it.

use serde_json::Value;

use crate::bindings::portunus::plugin::host as raw;
use crate::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, LogLevel, MediaRef, OfferSpec, Route,
    RouteId, RtpForward, RtpInput, RtpInputInfo, TalkDetection,
};

/// Sends a plugin event to the client of `handle`. `data` must be a JSON object; it
/// becomes `plugindata.data`. Pass the request's transaction when the event answers it.
/// With `jsep`, the core answers the client's pending offer (or makes an offer) and the
/// event carries the SDP.
///
/// For an offer, returns the mid the core gave each m-line of the [`crate::OfferSpec`], in
/// its order (route media by these); otherwise an empty list.
pub fn push_event(
    handle: HandleId,
    transaction: Option<&str>,
    data: &Value,
    jsep: Option<&JsepOut>,
) -> Result<Vec<String>, String> {
    raw::push_event(handle, transaction, &data.to_string(), jsep)
}

/// Makes a server offer for `handle` now and returns the mid of each m-line of `spec`, in
/// its order, so the event that carries the offer can name them (VideoRoom `attached`).
/// Send it with a following [`push_event`] with [`JsepOut::PreparedOffer`]. Call it once per
/// push: a second call renegotiates on top of the first.
pub fn create_offer(handle: HandleId, spec: &OfferSpec) -> Result<Vec<String>, String> {
    raw::create_offer(handle, spec)
}

/// Installs a native RTP route. Packets never enter the plugin.
pub fn route_add(route: &Route) -> Result<RouteId, String> {
    raw::route_add(route)
}

/// Changes a route's layer or pauses / resumes it.
pub fn route_update(id: RouteId, layer: LayerChoice, paused: bool) -> Result<(), String> {
    raw::route_update(id, layer, paused)
}

pub fn route_remove(id: RouteId) {
    raw::route_remove(id)
}

/// Asks the sender of `source` for a keyframe.
pub fn request_keyframe(source: &MediaRef) {
    raw::request_keyframe(source)
}

/// Caps what the client sends on `handle` (REMB), in bit/s; 0 removes the cap.
pub fn set_bitrate_cap(handle: HandleId, bitrate: u32) {
    raw::set_bitrate_cap(handle, bitrate)
}

/// Starts (`Some`) or stops (`None`) talk detection on an audio source of this plugin's;
/// changes arrive in [`crate::Plugin::on_media_event`] as [`crate::MediaEvent::TalkChanged`].
/// Needs the audio-level extension on the source ([`crate::MediaLine::audio_level`]).
pub fn talk_detect(source: &MediaRef, config: Option<TalkDetection>) -> Result<(), String> {
    raw::talk_detect(source, config)
}

/// Starts a plain-RTP forwarder (Janus `rtp_forward`) of a source of this plugin's to
/// `host:port`; returns its id. The host is an IP address or a name resolved once now.
pub fn rtp_forward_add(forward: &RtpForward) -> Result<ForwarderId, String> {
    raw::rtp_forward_add(forward)
}

/// Stops a forwarder; unknown ids are ignored. Forwarders also stop with their source's
/// handle.
pub fn rtp_forward_remove(id: ForwarderId) {
    raw::rtp_forward_remove(id)
}

/// Opens a plain-RTP input (Janus Streaming's RTP mountpoint media): one UDP port per
/// stream; `info.source` names it as a route source. Whether media flows arrives as
/// [`crate::MediaEvent::InputMedia`].
pub fn rtp_input_add(input: &RtpInput) -> Result<RtpInputInfo, String> {
    raw::rtp_input_add(input)
}

/// Closes an input of this plugin's and the routes from it; unknown ids are ignored.
pub fn rtp_input_remove(source: HandleId) {
    raw::rtp_input_remove(source)
}

/// Writes `config` (a JSON object) as this plugin's section of the gateway's configuration
/// file, replacing the old one; the next start's [`crate::Plugin::init`] gets it back.
/// For state that must survive a restart (Janus "permanent" settings); call it only when
/// the user asked for that. Fails when the gateway has no file or cannot write it.
pub fn save_config(config: &Value) -> Result<(), String> {
    raw::save_config(&config.to_string())
}

/// Sends a data-channel message to the client.
pub fn send_data(handle: HandleId, message: &DataMessage) -> Result<(), String> {
    raw::send_data(handle, message)
}

/// Sends a text data-channel message on `label`.
pub fn send_text(handle: HandleId, label: &str, text: &str) -> Result<(), String> {
    send_data(
        handle,
        &DataMessage {
            label: label.to_owned(),
            data: text.as_bytes().to_vec(),
            binary: false,
        },
    )
}

/// Closes the handle's PeerConnection (the client gets `hangup`).
pub fn close_pc(handle: HandleId) {
    raw::close_pc(handle)
}

/// Ends the handle (the client gets `detached`).
pub fn end_session(handle: HandleId) {
    raw::end_session(handle)
}

/// Calls [`crate::Plugin::on_timer`]`(id)` once after `delay_ms`. Setting an id again
/// replaces it. Timers do not survive a plugin crash.
pub fn set_timer(id: u64, delay_ms: u64) {
    raw::set_timer(id, delay_ms)
}

pub fn cancel_timer(id: u64) {
    raw::cancel_timer(id)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    raw::now_ms()
}

/// Writes to the gateway's log, tagged with this plugin's package name.
pub fn log(level: LogLevel, message: &str) {
    raw::log(level, message)
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message)
}

pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

pub fn error(message: &str) {
    log(LogLevel::Error, message)
}
