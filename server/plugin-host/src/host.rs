//! Loading plugins and calling into them.

use std::path::PathBuf;
use std::sync::Arc;

use portunus_media::types::{DataMessage, HandleId, JsepIn};

use crate::error::PluginError;
use crate::gateway::Gateway;

/// The `[plugins]` section of config.toml.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Extra .wasm plugins; a plugin here with the package name of a stock one replaces it.
    pub dir: Option<PathBuf>,
    /// Longest a single call into a plugin may run before it is interrupted, in ms.
    pub call_timeout_ms: u64,
    /// Memory limit per plugin instance, in MiB.
    pub memory_limit_mib: u64,
    /// Per plugin package name: its configuration section, passed to `init` as JSON.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Package names of plugins not to load.
    pub disable: Vec<String>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            dir: None,
            call_timeout_ms: 2000,
            memory_limit_mib: 128,
            settings: serde_json::Map::new(),
            disable: Vec::new(),
        }
    }
}

/// What a plugin says about itself (`info`), plus where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub package: String,
    pub name: String,
    pub author: String,
    pub description: String,
    pub version: u32,
    pub version_string: String,
    /// "stock" or the path of the .wasm file.
    pub source: String,
}

/// The outcome of `handle-message`.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageReply {
    /// `success` with this `plugindata.data`.
    Sync(serde_json::Value),
    /// `ack` with an optional hint; events follow.
    Ack(Option<String>),
}

/// Every loaded plugin.
pub struct PluginHost {}

impl PluginHost {
    /// Loads the stock plugins and those of `config.dir`, and calls `init` on each.
    pub fn load(
        _config: &PluginConfig,
        _gateway: Arc<dyn Gateway>,
    ) -> Result<PluginHost, PluginError> {
        todo!("plugin host")
    }

    pub fn plugin(&self, _package: &str) -> Option<PluginHandle> {
        todo!()
    }

    pub fn infos(&self) -> Vec<PluginInfo> {
        todo!()
    }
}

/// A loaded plugin. Cheap to clone; calls queue on the plugin's thread in order.
#[derive(Clone)]
pub struct PluginHandle {}

impl PluginHandle {
    pub fn info(&self) -> &PluginInfo {
        todo!()
    }

    pub async fn create_session(
        &self,
        _handle: HandleId,
        _opaque_id: Option<String>,
    ) -> Result<(), PluginError> {
        todo!()
    }

    pub async fn handle_message(
        &self,
        _handle: HandleId,
        _transaction: String,
        _body: serde_json::Value,
        _jsep: Option<JsepIn>,
    ) -> Result<MessageReply, PluginError> {
        todo!()
    }

    /// Fire and forget, in order with the other calls.
    pub fn setup_media(&self, _handle: HandleId) {
        todo!()
    }

    pub fn hangup_media(&self, _handle: HandleId) {
        todo!()
    }

    pub fn incoming_data(&self, _handle: HandleId, _message: DataMessage) {
        todo!()
    }

    pub fn destroy_session(&self, _handle: HandleId) {
        todo!()
    }

    pub async fn query_session(&self, _handle: HandleId) -> Result<serde_json::Value, PluginError> {
        todo!()
    }

    pub async fn admin_message(
        &self,
        _body: serde_json::Value,
    ) -> Result<serde_json::Value, PluginError> {
        todo!()
    }
}
