//! The portunus media core.
//!
//! `engine` owns every PeerConnection (one str0m `Rtc` per handle), sharded over worker
//! threads that share one UDP port. `router` moves RTP between PeerConnections along routes
//! that plugins install; it knows nothing of Wasm or of the Janus API.
//!
//! Code map: `engine` (public face) → `shard` (one thread each: loop, deadlines, messages)
//! → `peer` (one str0m `Rtc` and its state); `input` holds plain-RTP inputs
//! (on the shard of their source id); `udp` binds the shared port, `demux` finds the
//! peer of a datagram, `sdp` shapes and summarises SDP, `srtp` observes the negotiated
//! SRTP profile, `router` holds routes, layer choice, keyframe detection and rewriting.

pub mod audio_level;
pub mod demux;
mod egress;
pub mod engine;
pub mod error;
mod forwarder;
pub mod input;
mod peer;
pub mod router;
pub mod sdp;
mod shard;
mod srtp;
pub mod types;
pub mod udp;

pub use engine::{MediaConfig, MediaEngine};
pub use error::MediaError;
/// Batched sends (sendmmsg, UDP GSO), public for the benchmarks.
pub use shard::batch;
pub use types::*;
