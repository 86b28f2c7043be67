//! The public face of the media core. All methods are synchronous and short (they hand a
//! command to the owning shard and wait for its reply), so they may be called from the
//! plugin threads and from async code alike.

use std::net::{IpAddr, SocketAddr};

use tokio::sync::mpsc;

use crate::error::MediaError;
use crate::types::*;

/// Media settings (the `[media]` section of config.toml).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP port every PeerConnection shares (0 = any free port).
    pub udp_port: u16,
    /// Worker threads (shards); 0 = one per core.
    pub workers: usize,
    /// Local addresses to gather host candidates on; empty = every IPv4 interface, loopback included.
    pub interfaces: Vec<IpAddr>,
    /// NAT 1:1: the public address announced (as a server-reflexive candidate) for each host candidate.
    pub nat_1_1: Option<IpAddr>,
    /// Seconds without packets on an m-line before `media receiving:false` (Janus no_media_timer).
    pub no_media_timer: u64,
    /// Lost packets per second that trigger `slowlink`; 0 = never (Janus slowlink_threshold).
    pub slowlink_threshold: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            udp_port: 10000,
            workers: 0,
            interfaces: Vec::new(),
            nat_1_1: None,
            no_media_timer: 1,
            slowlink_threshold: 0,
        }
    }
}

/// Handle to the running media core. Cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {}

impl MediaEngine {
    /// Binds the UDP sockets, starts the shards, and returns the engine with the stream of
    /// its events.
    pub fn start(
        _config: MediaConfig,
    ) -> Result<(MediaEngine, mpsc::UnboundedReceiver<MediaEvent>), MediaError> {
        todo!("media engine")
    }

    /// The addresses the shared UDP port is bound on (host candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        todo!()
    }

    /// A client offer for `handle` (creating its PeerConnection when it has none). Keeps it
    /// pending until `answer`. Invalid SDP → `InvalidSdp`.
    pub fn remote_offer(&self, _handle: HandleId, _sdp: &str) -> Result<SdpSummary, MediaError> {
        todo!()
    }

    /// Answers the pending client offer as the plugin asked; returns the answer SDP, which
    /// carries the server's candidates and `a=end-of-candidates`.
    pub fn answer(&self, _handle: HandleId, _spec: &AnswerSpec) -> Result<String, MediaError> {
        todo!()
    }

    /// Makes a server offer for `handle` (creating its PeerConnection when it has none).
    pub fn offer(&self, _handle: HandleId, _spec: &OfferSpec) -> Result<String, MediaError> {
        todo!()
    }

    /// The client's answer to our offer. No pending offer → `UnexpectedAnswer`.
    pub fn remote_answer(&self, _handle: HandleId, _sdp: &str) -> Result<SdpSummary, MediaError> {
        todo!()
    }

    /// A trickled client candidate. Candidates that arrive before any SDP are queued.
    pub fn add_remote_candidate(
        &self,
        _handle: HandleId,
        _candidate: TrickleCandidate,
    ) -> Result<(), MediaError> {
        todo!()
    }

    /// Closes the handle's PeerConnection, if any; a `Hangup` event with `reason` follows.
    pub fn hangup(&self, _handle: HandleId, _reason: &str) {
        todo!()
    }

    /// Forgets the handle: PeerConnection, queued candidates and every route touching it.
    /// No event follows.
    pub fn destroy(&self, _handle: HandleId) {
        todo!()
    }

    pub fn send_data(&self, _handle: HandleId, _message: DataMessage) -> Result<(), MediaError> {
        todo!()
    }

    /// Asks the sender of `source` for a keyframe (PLI).
    pub fn request_keyframe(&self, _source: &MediaRef) {
        todo!()
    }

    /// Caps what the client sends on this handle with REMB; 0 removes the cap.
    pub fn set_bitrate_cap(&self, _handle: HandleId, _bitrate: u32) {
        todo!()
    }

    pub fn route_add(&self, _route: Route) -> Result<RouteId, MediaError> {
        todo!()
    }

    pub fn route_update(
        &self,
        _id: RouteId,
        _layer: LayerChoice,
        _paused: bool,
    ) -> Result<(), MediaError> {
        todo!()
    }

    pub fn route_remove(&self, _id: RouteId) {
        todo!()
    }
}
