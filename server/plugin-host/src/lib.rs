//! The portunus plugin host: every feature is a WebAssembly component implementing the
//! `gateway-plugin` world of `wit/plugin.wit`, run by wasmtime.
//!
//! Each plugin has one instance, owned by one thread that serializes every call into it.
//! The core talks to a plugin through [`PluginHandle`]; the plugin talks back through the
//! [`Gateway`] the core passes in at load time.

pub mod error;
pub mod gateway;
pub mod host;

pub use error::PluginError;
pub use gateway::Gateway;
pub use host::{MessageReply, PluginConfig, PluginHandle, PluginHost, PluginInfo};
