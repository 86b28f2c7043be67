//! The portunus media core.
//!
//! `engine` owns every PeerConnection (one str0m `Rtc` per handle), sharded over worker
//! threads that share one UDP port. `router` moves RTP between PeerConnections along routes
//! that plugins install; it knows nothing of Wasm or of the Janus API.

pub mod engine;
pub mod error;
pub mod types;

pub use engine::{MediaConfig, MediaEngine};
pub use error::MediaError;
pub use types::*;
