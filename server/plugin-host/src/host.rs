//! Loading plugins and calling into them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use portunus_media::types::{DataMessage, HandleId, JsepIn, MediaEvent};
use tokio::sync::oneshot;
use wasmtime::Engine;

use crate::error::PluginError;
use crate::gateway::Gateway;
use crate::instance::{self, EPOCH_TICK, HostState, Limits};
use crate::worker::{self, Command, Spec};

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
///
/// A plugin that fails to load or initialise (bad file, wrong world, `init` error) is
/// logged, recorded in [`PluginHost::load_errors`] and skipped: the others still run. Only
/// an unreadable plugin directory or an engine that cannot be built fails the whole load.
pub struct PluginHost {
    plugins: RwLock<BTreeMap<String, PluginHandle>>,
    load_errors: Vec<PluginError>,
    _alive: Arc<()>,
}

/// A compiled plugin waiting to be started.
struct Candidate {
    pre: crate::bindings::GatewayPluginPre<HostState>,
    info: PluginInfo,
}

impl PluginHost {
    /// Loads the stock plugins and those of `config.dir`, and calls `init` on each.
    pub fn load(
        config: &PluginConfig,
        gateway: Arc<dyn Gateway>,
    ) -> Result<PluginHost, PluginError> {
        let stock: Vec<(String, Vec<u8>)> = crate::stock::STOCK_PLUGINS
            .iter()
            .map(|(name, bytes)| (format!("stock:{name}"), bytes.to_vec()))
            .collect();
        Self::load_from(config, gateway, stock)
    }

    /// Like [`PluginHost::load`] with another set of built-in plugins (tests, embedders).
    pub fn load_from(
        config: &PluginConfig,
        gateway: Arc<dyn Gateway>,
        builtin: Vec<(String, Vec<u8>)>,
    ) -> Result<PluginHost, PluginError> {
        let limits = limits(config);
        let engine = engine(config)?;
        let linker = Arc::new(instance::linker(&engine).map_err(|e| PluginError::Load {
            path: "<host>".into(),
            reason: format!("cannot link the host interfaces: {e}"),
        })?);
        let alive = Arc::new(());
        start_ticker(&engine, Arc::downgrade(&alive));

        let mut sources: Vec<(String, Vec<u8>, bool)> =
            builtin.into_iter().map(|(s, b)| (s, b, true)).collect();
        if let Some(dir) = &config.dir {
            for path in wasm_files(dir)? {
                let source = path.display().to_string();
                // An unreadable file fails like an invalid one (empty bytes), named by path.
                let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                    tracing::error!(file = source, "cannot read plugin: {e}");
                    Vec::new()
                });
                sources.push((source, bytes, false));
            }
        }

        let mut load_errors = Vec::new();
        let mut chosen: BTreeMap<String, (Candidate, bool)> = BTreeMap::new();
        for (source, bytes, builtin) in sources {
            let candidate = worker::prepare(&engine, &linker, &bytes, &source).and_then(|pre| {
                let info = worker::probe(&engine, &pre, gateway.clone(), limits, &source)?;
                Ok(Candidate { pre, info })
            });
            let candidate = match candidate {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("skipping plugin: {e}");
                    load_errors.push(e);
                    continue;
                }
            };
            let package = candidate.info.package.clone();
            match chosen.get(&package) {
                Some((old, true)) if !builtin => {
                    tracing::info!(
                        package,
                        file = source,
                        "replaces the stock plugin {}",
                        old.info.source
                    );
                }
                Some((old, _)) => {
                    let e = PluginError::Load {
                        path: source,
                        reason: format!(
                            "package {package} is already provided by {}",
                            old.info.source
                        ),
                    };
                    tracing::error!("skipping plugin: {e}");
                    load_errors.push(e);
                    continue;
                }
                None => {}
            }
            chosen.insert(package, (candidate, builtin));
        }

        let mut plugins = BTreeMap::new();
        for (package, (candidate, _)) in chosen {
            if config.disable.contains(&package) {
                tracing::info!(package, "plugin disabled by config");
                continue;
            }
            let settings = config
                .settings
                .get(&package)
                .cloned()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
            let spec = Spec {
                engine: engine.clone(),
                linker: linker.clone(),
                pre: candidate.pre,
                gateway: gateway.clone(),
                limits,
                package: Arc::from(package.as_str()),
                config: settings.to_string(),
                source: candidate.info.source.clone(),
                _alive: alive.clone(),
            };
            match worker::spawn(spec) {
                Ok((info, tx)) => {
                    tracing::info!(package, version = %info.version_string, source = %info.source, "plugin loaded");
                    plugins.insert(
                        package,
                        PluginHandle {
                            info: Arc::new(info),
                            tx,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(file = %candidate.info.source, "skipping plugin: {e}");
                    load_errors.push(e);
                }
            }
        }
        Ok(PluginHost {
            plugins: RwLock::new(plugins),
            load_errors,
            _alive: alive,
        })
    }

    pub fn plugin(&self, package: &str) -> Option<PluginHandle> {
        self.plugins.read().get(package).cloned()
    }

    pub fn infos(&self) -> Vec<PluginInfo> {
        self.plugins
            .read()
            .values()
            .map(|p| (*p.info).clone())
            .collect()
    }

    /// The plugins that were skipped at load, and why.
    pub fn load_errors(&self) -> &[PluginError] {
        &self.load_errors
    }

    /// Hot reload: replaces the running `package` with the component in `path`. The old
    /// version's `snapshot` is handed to the new one's `restore`, in the plugin's own queue,
    /// so no call is lost or reordered. Without a snapshot the live handles are re-created
    /// empty and hung up ([`Gateway::plugin_failed`]). On any error the old version keeps
    /// running.
    pub async fn reload(&self, package: &str, path: &Path) -> Result<PluginInfo, PluginError> {
        let handle = self
            .plugin(package)
            .ok_or_else(|| PluginError::Stopped(package.to_owned()))?;
        let bytes = std::fs::read(path).map_err(|e| PluginError::Load {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let source = path.display().to_string();
        let info = handle
            .request(|reply| Command::Reload {
                bytes,
                source,
                reply,
            })
            .await?;
        let mut plugins = self.plugins.write();
        if let Some(p) = plugins.get_mut(package) {
            p.info = Arc::new(info.clone());
        }
        Ok(info)
    }
}

fn limits(config: &PluginConfig) -> Limits {
    Limits {
        call_timeout: Duration::from_millis(config.call_timeout_ms.max(1)),
        memory_bytes: usize::try_from(config.memory_limit_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
    }
}

/// One engine for every plugin: epoch interruption, and a virtual-memory reservation sized
/// to the memory limit rather than wasmtime's 4 GiB default per memory (many plugins on a
/// small box would otherwise run out of address space or overcommit).
pub(crate) fn engine(config: &PluginConfig) -> Result<Engine, PluginError> {
    let mut c = wasmtime::Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .memory_reservation(config.memory_limit_mib.saturating_mul(1 << 20).max(1 << 20))
        .memory_guard_size(64 << 10)
        .memory_reservation_for_growth(0);
    Engine::new(&c).map_err(|e| PluginError::Load {
        path: "<engine>".into(),
        reason: format!("cannot create the wasmtime engine: {e}"),
    })
}

/// Advances the engine's epoch every tick while any plugin (or the host) is alive.
fn start_ticker(engine: &Engine, alive: Weak<()>) {
    let engine = engine.clone();
    let r = std::thread::Builder::new()
        .name("plugin epoch".into())
        .spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = r {
        // Without the ticker a looping plugin would never be interrupted.
        tracing::error!("cannot start the plugin epoch thread: {e}");
    }
}

/// The `*.wasm` files of the plugin directory, sorted by name.
fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = std::fs::read_dir(dir).map_err(|e| PluginError::Load {
        path: dir.display().to_string(),
        reason: format!("cannot read the plugin directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// A loaded plugin. Cheap to clone; calls queue on the plugin's thread in order.
#[derive(Clone)]
pub struct PluginHandle {
    info: Arc<PluginInfo>,
    tx: Sender<Command>,
}

impl PluginHandle {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn stopped(&self) -> PluginError {
        PluginError::Stopped(self.info.package.clone())
    }

    /// Queues a command and waits for its reply without blocking the async runtime.
    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, PluginError>>) -> Command,
    ) -> Result<T, PluginError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| self.stopped())?;
        rx.await.map_err(|_| self.stopped())?
    }

    fn send(&self, cmd: Command) {
        if self.tx.send(cmd).is_err() {
            tracing::debug!(plugin = %self.info.package, "plugin stopped; call dropped");
        }
    }

    pub async fn create_session(
        &self,
        handle: HandleId,
        opaque_id: Option<String>,
    ) -> Result<(), PluginError> {
        self.request(|reply| Command::CreateSession {
            handle,
            opaque_id,
            reply,
        })
        .await
    }

    pub async fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: serde_json::Value,
        jsep: Option<JsepIn>,
    ) -> Result<MessageReply, PluginError> {
        let body = body.to_string();
        self.request(|reply| Command::HandleMessage {
            handle,
            transaction,
            body,
            jsep,
            reply,
        })
        .await
    }

    /// Fire and forget, in order with the other calls.
    pub fn setup_media(&self, handle: HandleId) {
        self.send(Command::SetupMedia(handle))
    }

    pub fn hangup_media(&self, handle: HandleId) {
        self.send(Command::HangupMedia(handle))
    }

    pub fn incoming_data(&self, handle: HandleId, message: DataMessage) {
        self.send(Command::IncomingData(handle, message))
    }

    /// A media event the plugin steers (`LayerChanged`, `TalkChanged`), fire and forget;
    /// the client-visible events are not a plugin's and are dropped here.
    pub fn media_event(&self, event: MediaEvent) {
        match crate::convert::media_event_to_wit(event) {
            Some(e) => self.send(Command::MediaEvent(e)),
            None => {
                tracing::debug!(plugin = %self.info.package, "not a plugin media event; dropped")
            }
        }
    }

    pub fn destroy_session(&self, handle: HandleId) {
        self.send(Command::DestroySession { handle, done: None })
    }

    /// `destroy_session`, resolving once the plugin has run it: every event the plugin pushed
    /// from it has then been handed to the core (a detach sends `detached` after them).
    pub async fn destroy_session_done(&self, handle: HandleId) {
        let (done, rx) = oneshot::channel();
        self.send(Command::DestroySession {
            handle,
            done: Some(done),
        });
        // An error means the plugin's thread is gone: nothing more will come from it.
        let _ = rx.await;
    }

    pub async fn query_session(&self, handle: HandleId) -> Result<serde_json::Value, PluginError> {
        self.request(|reply| Command::QuerySession { handle, reply })
            .await
    }

    pub async fn admin_message(
        &self,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, PluginError> {
        let body = body.to_string();
        self.request(|reply| Command::AdminMessage { body, reply })
            .await
    }
}
