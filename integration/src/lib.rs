//! WebRTC test client for portunus (and any Janus-compatible gateway).
//!
//! Two reusable halves, kept independent so the load tool can combine them freely:
//! - [`janus`]: a Janus API client over WebSocket or HTTP long-poll, one type for both, and
//!   [`janus::plugin::PluginHandle`], one attached plugin handle, which the plugin clients share.
//! - [`peer`]: a client PeerConnection on str0m, driven by its own task and UDP socket.
//!
//! [`echo`] glues them into the EchoTest call flow used by the end-to-end tests, [`videoroom`]
//! into the VideoRoom's publisher and subscriber flows; [`bench`] is
//! the load tool built on both (binary `portunus-bench`).

pub mod bench;
pub mod echo;
pub mod janus;
pub mod media;
pub mod peer;
pub mod streaming;
pub mod videoroom;

pub use janus::{Endpoint, JanusClient, JanusError, JanusEvent, Jsep, MessageReply};
pub use peer::{
    DropRule, KeyframeTap, MediaSource, Peer, PeerConfig, PeerError, PeerState, Renegotiation,
    RtpTap, SimulcastMode, SrtpProfileName,
};
