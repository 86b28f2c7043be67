//! What the core does for plugins: the host side of the `host` interface in `wit/plugin.wit`,
//! minus timers and logging, which the plugin host handles itself.
//!
//! Every call names the calling plugin so the core can check that the handles belong to it.
//! Implementations must never wait for a plugin (the caller *is* the plugin's thread).

use portunus_media::types::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, MediaRef, OfferSpec, Route, RouteId,
    TalkDetection,
};

/// A plain-RTP forwarder as a plugin asks for it: the destination is still a host string
/// (an IP literal or a name), which the core resolves once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpForwardRequest {
    pub source: MediaRef,
    pub host: String,
    pub port: u16,
    pub ssrc: Option<u32>,
    pub pt: Option<u8>,
    pub substream: Option<u8>,
    pub rtcp_port: Option<u16>,
}

/// One stream of a plain-RTP input as a plugin asks for it (`wit` `rtp-input-stream`):
/// already the media core's own description, which checks it.
pub type RtpInputStreamRequest = portunus_media::types::RtpInputStream;

/// A plain-RTP input as a plugin asks for it: the bind address is still a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInputRequest {
    /// An IP literal; `None` = every interface.
    pub host: Option<String>,
    pub streams: Vec<RtpInputStreamRequest>,
}

/// What an opened input is called as a route source, and the RTP port of each stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInputInfo {
    pub source: HandleId,
    pub ports: Vec<u16>,
}

pub trait Gateway: Send + Sync + 'static {
    /// An event for the client of `handle`; with a JSEP the core answers or offers and the
    /// event carries the SDP. For an offer: the mid of each offered m-line, in the order of
    /// the offer spec; otherwise empty.
    fn push_event(
        &self,
        plugin: &str,
        handle: HandleId,
        transaction: Option<String>,
        data: serde_json::Value,
        jsep: Option<JsepOut>,
    ) -> Result<Vec<String>, String>;
    /// Make a server offer for `handle` now, kept for the next `push_event` with
    /// `JsepOut::PreparedOffer`; returns the mid of each m-line of `spec`, in its order.
    fn create_offer(
        &self,
        plugin: &str,
        handle: HandleId,
        spec: OfferSpec,
    ) -> Result<Vec<String>, String>;
    fn route_add(&self, plugin: &str, route: Route) -> Result<RouteId, String>;
    fn route_update(
        &self,
        plugin: &str,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), String>;
    fn route_remove(&self, plugin: &str, id: RouteId);
    fn request_keyframe(&self, plugin: &str, source: MediaRef);
    fn set_bitrate_cap(&self, plugin: &str, handle: HandleId, bitrate: u32);
    /// Start (`Some`) or stop (`None`) talk detection on an audio source of the plugin's.
    fn talk_detect(
        &self,
        plugin: &str,
        source: MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String>;
    /// Start a plain-RTP forwarder of a source of the plugin's.
    fn rtp_forward_add(
        &self,
        plugin: &str,
        forward: RtpForwardRequest,
    ) -> Result<ForwarderId, String>;
    /// Stop a forwarder of the plugin's; unknown ids (or another plugin's) are ignored.
    fn rtp_forward_remove(&self, plugin: &str, id: ForwarderId);
    /// Open a plain-RTP input owned by the plugin; its `source` id works as a route source.
    fn rtp_input_add(&self, plugin: &str, input: RtpInputRequest) -> Result<RtpInputInfo, String>;
    /// Close an input of the plugin's (and the routes from it); others' ids are ignored.
    fn rtp_input_remove(&self, plugin: &str, source: HandleId);
    /// The source ids of the plugin's open inputs. The host takes it as a mark before a
    /// reload and closes (`rtp_input_remove`) what a failed new instance opened since.
    fn inputs_of(&self, _plugin: &str) -> Vec<HandleId> {
        Vec::new()
    }
    /// Replace the plugin's section of the configuration file with `config` (a JSON object).
    fn save_config(&self, plugin: &str, config: serde_json::Value) -> Result<(), String>;
    fn send_data(&self, plugin: &str, handle: HandleId, message: DataMessage)
    -> Result<(), String>;
    /// Close the handle's PeerConnection (`hangup` "Close PC").
    fn close_pc(&self, plugin: &str, handle: HandleId);
    /// End the handle (`detached`).
    fn end_session(&self, plugin: &str, handle: HandleId);
    /// The plugin crashed and was restarted with fresh state; these handles were live in it.
    /// The core hangs up their PeerConnections and tells their clients.
    fn plugin_failed(&self, plugin: &str, handles: &[HandleId], reason: &str);
    /// The plugin's state is gone: it is about to be restarted after a crash, or replaced by
    /// a reload without a snapshot. Called before the new instance's `init`, so what that
    /// `init` opens is kept: the core closes what it held for the old state (plain-RTP
    /// inputs). Not called for a reload whose state moves by snapshot/restore.
    fn plugin_reset(&self, _plugin: &str) {}
}
