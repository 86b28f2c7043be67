use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginError {
    /// The .wasm file could not be read, compiled or linked.
    #[error("cannot load plugin {path}: {reason}")]
    Load { path: String, reason: String },
    /// `init` returned an error.
    #[error("plugin {plugin} failed to initialise: {reason}")]
    Init { plugin: String, reason: String },
    /// The plugin returned an error from a call (e.g. refused a handle).
    #[error("{0}")]
    Refused(String),
    /// The plugin trapped, ran past its time limit or out of memory; its instance was rebuilt.
    #[error("plugin {plugin} crashed: {reason}")]
    Crashed { plugin: String, reason: String },
    /// The plugin's thread is gone (server shutting down).
    #[error("plugin {0} is not running")]
    Stopped(String),
}
