//! The portunus plugin host: every feature is a WebAssembly component implementing the
//! `gateway-plugin` world of `wit/plugin.wit`, run by wasmtime.
//!
//! Each plugin has one instance, owned by one thread that serializes every call into it.
//! The core talks to a plugin through [`PluginHandle`]; the plugin talks back through the
//! [`Gateway`] the core passes in at load time.

mod bindings;
mod convert;
pub mod error;
pub mod gateway;
pub mod host;
mod instance;
mod stdio;
mod worker;

pub use error::PluginError;
pub use gateway::{
    Gateway, RtpForwardRequest, RtpInputInfo, RtpInputRequest, RtpInputStreamRequest,
};
pub use host::{MessageReply, PluginConfig, PluginHandle, PluginHost, PluginInfo};

/// The stock plugins built from plugins-wasm/ and carried in the binary.
pub mod stock {
    include!(concat!(env!("OUT_DIR"), "/stock_plugins.rs"));
}

/// A plugin instance called directly on the caller's thread, without the plugin thread
/// and its queue: only for measuring the raw cost of a Wasm call (benches/).
#[doc(hidden)]
pub mod bench {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::error::PluginError;
    use crate::gateway::Gateway;
    use crate::instance::{Instance, Limits};

    pub struct RawPlugin {
        instance: Instance,
        limits: Limits,
    }

    impl RawPlugin {
        pub fn new(bytes: &[u8], gateway: Arc<dyn Gateway>) -> Result<RawPlugin, PluginError> {
            let config = crate::PluginConfig::default();
            let limits = Limits {
                call_timeout: Duration::from_millis(config.call_timeout_ms),
                memory_bytes: (config.memory_limit_mib << 20) as usize,
            };
            let engine = crate::host::engine(&config)?;
            let linker = crate::instance::linker(&engine).map_err(|e| PluginError::Load {
                path: "<host>".into(),
                reason: e.to_string(),
            })?;
            let pre = crate::worker::prepare(&engine, &linker, bytes, "bench")?;
            let mut instance = Instance::new(&engine, &pre, Arc::from("bench"), gateway, limits)
                .map_err(|c| PluginError::Load {
                    path: "bench".into(),
                    reason: c.0,
                })?;
            instance
                .call(limits, |g, s| g.call_init(s, "{}"))
                .map_err(|c| PluginError::Load {
                    path: "bench".into(),
                    reason: c.0,
                })?
                .map_err(|reason| PluginError::Init {
                    plugin: "bench".into(),
                    reason,
                })?;
            // Without the epoch ticker the deadline never passes; fine for a benchmark.
            Ok(RawPlugin { instance, limits })
        }

        pub fn create_session(&mut self, handle: u64) -> Result<(), PluginError> {
            self.instance
                .call(self.limits, |g, s| g.call_create_session(s, handle, None))
                .map_err(|c| PluginError::Crashed {
                    plugin: "bench".into(),
                    reason: c.0,
                })?
                .map_err(PluginError::Refused)
        }

        /// A call the EchoTest does nothing in: the bare cost of entering the component.
        pub fn on_timer(&mut self, id: u64) -> Result<(), PluginError> {
            self.instance
                .call(self.limits, |g, s| g.call_on_timer(s, id))
                .map_err(|c| PluginError::Crashed {
                    plugin: "bench".into(),
                    reason: c.0,
                })
        }

        pub fn query_session(&mut self, handle: u64) -> Result<String, PluginError> {
            self.instance
                .call(self.limits, |g, s| g.call_query_session(s, handle))
                .map_err(|c| PluginError::Crashed {
                    plugin: "bench".into(),
                    reason: c.0,
                })
        }
    }
}
