//! Plugin host tests against the real Wasm plugins of plugins-wasm/ (built by build.rs),
//! with a recording `Gateway`: the core's side of the interface, not a peer.

mod common;
mod echotest;
mod host_calls;
mod isolation;
mod loading;
mod reload;
mod timers;
