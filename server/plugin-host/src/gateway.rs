//! What the core does for plugins: the host side of the `host` interface in `wit/plugin.wit`,
//! minus timers and logging, which the plugin host handles itself.
//!
//! Every call names the calling plugin so the core can check that the handles belong to it.
//! Implementations must never wait for a plugin (the caller *is* the plugin's thread).

use portunus_media::types::{
    DataMessage, HandleId, JsepOut, LayerChoice, MediaRef, Route, RouteId,
};

pub trait Gateway: Send + Sync + 'static {
    /// An event for the client of `handle`; with a JSEP the core answers or offers and the
    /// event carries the SDP.
    fn push_event(
        &self,
        plugin: &str,
        handle: HandleId,
        transaction: Option<String>,
        data: serde_json::Value,
        jsep: Option<JsepOut>,
    ) -> Result<(), String>;
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
    fn send_data(&self, plugin: &str, handle: HandleId, message: DataMessage)
    -> Result<(), String>;
    /// Close the handle's PeerConnection (`hangup` "Close PC").
    fn close_pc(&self, plugin: &str, handle: HandleId);
    /// End the handle (`detached`).
    fn end_session(&self, plugin: &str, handle: HandleId);
    /// The plugin crashed and was restarted with fresh state; these handles were live in it.
    /// The core hangs up their PeerConnections and tells their clients.
    fn plugin_failed(&self, plugin: &str, handles: &[HandleId], reason: &str);
}
