//! A plugin's thread: it owns the plugin's only instance and runs the calls of its command
//! queue one at a time, fires the plugin's timers, and rebuilds the instance after a crash.
//!
//! Nothing here blocks tokio: async callers send a command and await a oneshot reply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use portunus_media::types::{DataMessage, HandleId, JsepIn};
use tokio::sync::oneshot;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::bindings::{GatewayPluginPre, wit};
use crate::convert;
use crate::error::PluginError;
use crate::gateway::Gateway;
use crate::host::{MessageReply, PluginInfo};
use crate::instance::{Crash, HostState, Instance, Limits};

/// After a failed rebuild, how long before the next call tries again.
const REBUILD_BACKOFF: Duration = Duration::from_secs(1);

type Reply<T> = oneshot::Sender<Result<T, PluginError>>;

pub enum Command {
    CreateSession {
        handle: HandleId,
        opaque_id: Option<String>,
        reply: Reply<()>,
    },
    HandleMessage {
        handle: HandleId,
        transaction: String,
        body: String,
        jsep: Option<JsepIn>,
        reply: Reply<MessageReply>,
    },
    SetupMedia(HandleId),
    HangupMedia(HandleId),
    IncomingData(HandleId, DataMessage),
    MediaEvent(wit::MediaEvent),
    /// `done` is told once the plugin has run it (and so pushed whatever events it had).
    DestroySession {
        handle: HandleId,
        done: Option<oneshot::Sender<()>>,
    },
    QuerySession {
        handle: HandleId,
        reply: Reply<serde_json::Value>,
    },
    AdminMessage {
        body: String,
        reply: Reply<serde_json::Value>,
    },
    /// Hot reload: replace the component, carrying the state over with snapshot/restore.
    Reload {
        bytes: Vec<u8>,
        source: String,
        reply: Reply<PluginInfo>,
    },
}

/// Everything a plugin's thread needs to (re)build its instance.
pub struct Spec {
    pub engine: Engine,
    pub linker: Arc<Linker<HostState>>,
    pub pre: GatewayPluginPre<HostState>,
    pub gateway: Arc<dyn Gateway>,
    pub limits: Limits,
    pub package: Arc<str>,
    /// The plugin's settings, as the JSON text `init` takes.
    pub config: String,
    /// "stock" or the file it came from.
    pub source: String,
    /// Held while the thread runs: keeps the epoch ticker going.
    pub _alive: Arc<()>,
}

/// Starts the plugin's thread, instantiates it and calls `init`; returns once `init` is done.
pub fn spawn(spec: Spec) -> Result<(PluginInfo, Sender<Command>), PluginError> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let name = format!("plugin {}", spec.package);
    let package = spec.package.to_string();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut worker = Worker {
                spec,
                instance: None,
                live: BTreeMap::new(),
                next_rebuild: Instant::now(),
            };
            match worker.start_instance() {
                Ok((instance, info)) => {
                    worker.instance = Some(instance);
                    if ready_tx.send(Ok(info)).is_ok() {
                        worker.run(rx);
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| PluginError::Init {
            plugin: package.clone(),
            reason: format!("cannot start its thread: {e}"),
        })?;
    let info = ready_rx.recv().map_err(|_| PluginError::Init {
        plugin: package,
        reason: "its thread ended while starting".into(),
    })??;
    Ok((info, tx))
}

/// Compiles a component and checks it against the world (imports it may use, exports it
/// must have).
pub fn prepare(
    engine: &Engine,
    linker: &Linker<HostState>,
    bytes: &[u8],
    source: &str,
) -> Result<GatewayPluginPre<HostState>, PluginError> {
    let load_error = |reason: String| PluginError::Load {
        path: source.to_owned(),
        reason,
    };
    let component = Component::new(engine, bytes)
        .map_err(|e| load_error(format!("not a valid WebAssembly component: {e}")))?;
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        load_error(format!(
            "imports something portunus does not provide (built against another world?): {e:#}"
        ))
    })?;
    GatewayPluginPre::new(pre).map_err(|e| {
        load_error(format!(
            "does not implement the gateway-plugin world of wit/plugin.wit: {e:#}"
        ))
    })
}

/// Instantiates a component once to ask who it is, without calling `init`.
pub fn probe(
    engine: &Engine,
    pre: &GatewayPluginPre<HostState>,
    gateway: Arc<dyn Gateway>,
    limits: Limits,
    source: &str,
) -> Result<PluginInfo, PluginError> {
    let load_error = |Crash(reason): Crash| PluginError::Load {
        path: source.to_owned(),
        reason,
    };
    let mut instance =
        Instance::new(engine, pre, Arc::from(source), gateway, limits).map_err(load_error)?;
    let info = instance
        .call(limits, |g, s| g.call_info(s))
        .map_err(load_error)?;
    if info.package.is_empty() {
        return Err(PluginError::Load {
            path: source.to_owned(),
            reason: "its info() has an empty package name".into(),
        });
    }
    Ok(plugin_info(info, source))
}

fn plugin_info(info: wit::PluginInfo, source: &str) -> PluginInfo {
    PluginInfo {
        package: info.package,
        name: info.name,
        author: info.author,
        description: info.description,
        version: info.version,
        version_string: info.version_string,
        source: source.to_owned(),
    }
}

struct Worker {
    spec: Spec,
    /// None after a crash whose rebuild failed; rebuilt on a later call.
    instance: Option<Instance>,
    /// Handles attached to this plugin, with their opaque ids (re-created after a crash).
    live: BTreeMap<HandleId, Option<String>>,
    next_rebuild: Instant,
}

impl Worker {
    fn crashed_error(&self, reason: impl Into<String>) -> PluginError {
        PluginError::Crashed {
            plugin: self.spec.package.to_string(),
            reason: reason.into(),
        }
    }

    /// A fresh instance with `init` done.
    fn start_instance(&self) -> Result<(Instance, PluginInfo), PluginError> {
        start(&self.spec, &self.spec.pre)
    }

    fn run(&mut self, rx: Receiver<Command>) {
        loop {
            let next_timer = self
                .instance
                .as_ref()
                .and_then(|i| i.store.data().timers.values().min().copied());
            let cmd = match next_timer {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(cmd) => Some(cmd),
                    Err(_) => break,
                },
            };
            match cmd {
                Some(cmd) => self.handle(cmd),
                None => self.fire_timers(),
            }
        }
        tracing::debug!(plugin = &*self.spec.package, "plugin thread ends");
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let mut due: Vec<(Instant, u64)> = match &mut self.instance {
            Some(i) => {
                let timers = &mut i.store.data_mut().timers;
                let due: Vec<(Instant, u64)> = timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(id, at)| (*at, *id))
                    .collect();
                for (_, id) in &due {
                    timers.remove(id);
                }
                due
            }
            None => return,
        };
        due.sort();
        for (_, id) in due {
            if let Err(e) = self.call(|g, s| g.call_on_timer(s, id)) {
                tracing::warn!(
                    plugin = &*self.spec.package,
                    timer = id,
                    "on-timer failed: {e}"
                );
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::CreateSession {
                handle,
                opaque_id,
                reply,
            } => {
                let oid = opaque_id.clone();
                let r = self
                    .call(|g, s| g.call_create_session(s, handle, oid.as_deref()))
                    .and_then(|r| r.map_err(PluginError::Refused));
                if r.is_ok() {
                    self.live.insert(handle, opaque_id);
                }
                let _ = reply.send(r);
            }
            Command::HandleMessage {
                handle,
                transaction,
                body,
                jsep,
                reply,
            } => {
                let jsep = jsep.as_ref().map(convert::jsep_in);
                let r = self
                    .call(|g, s| {
                        g.call_handle_message(s, handle, &transaction, &body, jsep.as_ref())
                    })
                    .and_then(|r| r.map_err(PluginError::Refused))
                    .and_then(|r| match r {
                        wit::MessageReply::Sync(text) => self
                            .json_object(&text, "handle-message")
                            .map(MessageReply::Sync),
                        wit::MessageReply::Ack(hint) => Ok(MessageReply::Ack(hint)),
                    });
                let _ = reply.send(r);
            }
            Command::SetupMedia(handle) => {
                self.forget("setup-media", |g, s| g.call_setup_media(s, handle))
            }
            Command::HangupMedia(handle) => {
                self.forget("hangup-media", |g, s| g.call_hangup_media(s, handle))
            }
            Command::IncomingData(handle, message) => {
                let message = convert::data_to_wit(message);
                self.forget("incoming-data", |g, s| {
                    g.call_incoming_data(s, handle, &message)
                })
            }
            Command::MediaEvent(event) => {
                self.forget("on-media-event", |g, s| g.call_on_media_event(s, &event))
            }
            Command::DestroySession { handle, done } => {
                // Forget the handle first: even if the plugin crashes now, it is gone.
                self.live.remove(&handle);
                self.forget("destroy-session", |g, s| g.call_destroy_session(s, handle));
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Command::QuerySession { handle, reply } => {
                let r = self
                    .call(|g, s| g.call_query_session(s, handle))
                    .and_then(|text| self.json_object(&text, "query-session"));
                let _ = reply.send(r);
            }
            Command::AdminMessage { body, reply } => {
                let r = self
                    .call(|g, s| g.call_handle_admin_message(s, &body))
                    .and_then(|text| self.json_object(&text, "handle-admin-message"));
                let _ = reply.send(r);
            }
            Command::Reload {
                bytes,
                source,
                reply,
            } => {
                let _ = reply.send(self.reload(&bytes, source));
            }
        }
    }

    fn json_object(&self, text: &str, what: &str) -> Result<serde_json::Value, PluginError> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err(PluginError::Refused(format!(
                "plugin {} returned a non-object from {what}",
                self.spec.package
            ))),
            Err(e) => Err(PluginError::Refused(format!(
                "plugin {} returned invalid JSON from {what}: {e}",
                self.spec.package
            ))),
        }
    }

    /// A call nobody waits for: failures are logged (a crash is also reported to the core).
    fn forget(
        &mut self,
        what: &str,
        f: impl FnOnce(&crate::bindings::Guest, &mut wasmtime::Store<HostState>) -> wasmtime::Result<()>,
    ) {
        if let Err(e) = self.call(f) {
            tracing::warn!(plugin = &*self.spec.package, "{what} failed: {e}");
        }
    }

    /// Runs one call into the plugin; after a crash rebuilds the instance and tells the
    /// core which handles were live.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&crate::bindings::Guest, &mut wasmtime::Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if self.instance.is_none() {
            self.try_rebuild()?;
        }
        let Some(instance) = self.instance.as_mut() else {
            return Err(self.crashed_error("the plugin is not running"));
        };
        let result = instance.call(self.spec.limits, f);
        if let Some(config) = instance.store.data_mut().saved_config.take() {
            self.spec.config = config;
        }
        match result {
            Ok(r) => Ok(r),
            Err(Crash(reason)) => {
                self.recover(&reason);
                Err(self.crashed_error(reason))
            }
        }
    }

    /// The instance is poisoned: drop it, build a new one from the pre-instantiated
    /// component, re-create the live handles in it and tell the core to hang them up.
    fn recover(&mut self, reason: &str) {
        let package = self.spec.package.clone();
        tracing::error!(
            plugin = &*package,
            handles = self.live.len(),
            "plugin crashed: {reason}; restarting it"
        );
        self.instance = None;
        self.next_rebuild = Instant::now();
        if let Err(e) = self.try_rebuild() {
            tracing::error!(plugin = &*package, "plugin could not be restarted: {e}");
        }
        let handles: Vec<HandleId> = self.live.keys().copied().collect();
        self.spec.gateway.plugin_failed(&package, &handles, reason);
    }

    fn try_rebuild(&mut self) -> Result<(), PluginError> {
        let now = Instant::now();
        if now < self.next_rebuild {
            return Err(self.crashed_error("the plugin is restarting after a crash"));
        }
        // The old state is gone (and so is that of any earlier attempt that ran `init`):
        // the core lets go of what it held for it before the new `init` opens its own.
        self.spec.gateway.plugin_reset(&self.spec.package);
        match self.start_instance() {
            Ok((mut instance, _)) => {
                if recreate_handles(&mut instance, &self.spec, &self.live) {
                    self.instance = Some(instance);
                    Ok(())
                } else {
                    self.next_rebuild = now + REBUILD_BACKOFF;
                    Err(self.crashed_error("restart failed: re-creating the live handles crashed"))
                }
            }
            Err(e) => {
                self.next_rebuild = now + REBUILD_BACKOFF;
                Err(self.crashed_error(format!("restart failed: {e}")))
            }
        }
    }

    /// Hot reload. A refused or failed reload leaves the plugin as it was, or, when that
    /// cannot be (the old version's inputs had to be closed for the new `init`, or its
    /// snapshot crashed it), restarts the old version with fresh state: a plugin never keeps
    /// running without the inputs it thinks it has.
    fn reload(&mut self, bytes: &[u8], source: String) -> Result<PluginInfo, PluginError> {
        let package = self.spec.package.clone();
        let limits = self.spec.limits;
        // What can refuse without touching the running version comes first.
        let pre = prepare(&self.spec.engine, &self.spec.linker, bytes, &source)?;
        let probed = probe(
            &self.spec.engine,
            &pre,
            self.spec.gateway.clone(),
            limits,
            &source,
        )?;
        if probed.package != *package {
            return Err(wrong_package(&source, &probed.package, &package));
        }
        // The mark: inputs open now belong to the running version; any other one found
        // after a failure was opened by the new instance and is closed.
        let before = self.spec.gateway.inputs_of(&package);
        let mut old_poisoned = false;
        let snapshot = match &mut self.instance {
            Some(old) => match old.call(limits, |g, s| g.call_snapshot(s)) {
                Ok(state) => state,
                Err(Crash(reason)) => {
                    tracing::warn!(
                        plugin = &*package,
                        "snapshot failed ({reason}); reloading without state"
                    );
                    old_poisoned = true;
                    None
                }
            },
            None => None,
        };
        let stateful = snapshot.is_some();
        if !stateful {
            // The new `init` may open the ports the old state holds: they go first.
            self.spec.gateway.plugin_reset(&package);
        }
        let new = start(&self.spec, &pre).and_then(|(mut new, mut info)| {
            info.source.clone_from(&source);
            if info.package != *package {
                return Err(wrong_package(&source, &info.package, &package));
            }
            match snapshot {
                Some(state) => match new.call(limits, |g, s| g.call_restore(s, &state)) {
                    Ok(Ok(())) => Ok((new, info)),
                    Ok(Err(e)) | Err(Crash(e)) => Err(PluginError::Init {
                        plugin: package.to_string(),
                        reason: format!("restore of the previous version's state failed: {e}"),
                    }),
                },
                None if recreate_handles(&mut new, &self.spec, &self.live) => Ok((new, info)),
                None => Err(PluginError::Init {
                    plugin: package.to_string(),
                    reason: "re-creating the live handles crashed".into(),
                }),
            }
        });
        let (new, info) = match new {
            Ok(ok) => ok,
            Err(e) => return Err(self.reload_failed(&before, old_poisoned, e)),
        };
        self.instance = Some(new);
        self.spec.pre = pre;
        self.spec.source = source.clone();
        tracing::info!(plugin = &*package, version = %info.version_string, source, stateful, "plugin reloaded");
        if !stateful && !self.live.is_empty() {
            // Without its state the new version knows the handles but not their media:
            // hang them up so the clients renegotiate.
            let handles: Vec<HandleId> = self.live.keys().copied().collect();
            self.spec.gateway.plugin_failed(
                &package,
                &handles,
                "plugin reloaded without its state",
            );
        }
        Ok(info)
    }

    /// Undoes a reload that failed after the mark `before` (the inputs open then): closes
    /// what the failed instance opened; the old version keeps running if its inputs are all
    /// still open and it did not crash, else it is restarted with fresh state (its `init`
    /// reopens its configured inputs) and its live handles are hung up, as after a crash.
    fn reload_failed(
        &mut self,
        before: &[HandleId],
        old_poisoned: bool,
        error: PluginError,
    ) -> PluginError {
        let package = self.spec.package.clone();
        let gateway = self.spec.gateway.clone();
        let now = gateway.inputs_of(&package);
        let opened: Vec<HandleId> = now
            .iter()
            .copied()
            .filter(|id| !before.contains(id))
            .collect();
        for id in &opened {
            gateway.rtp_input_remove(&package, *id);
        }
        let lost = before.iter().filter(|id| !now.contains(id)).count();
        if self.instance.is_none() || (lost == 0 && !old_poisoned) {
            tracing::warn!(
                plugin = &*package,
                closed = opened.len(),
                "reload failed, the running version is unchanged: {error}"
            );
            return error;
        }
        let why = if lost > 0 {
            format!("its {lost} plain-RTP input(s) were closed for the new version")
        } else {
            "its snapshot crashed it".to_owned()
        };
        tracing::error!(
            plugin = &*package,
            closed = opened.len(),
            lost,
            "reload failed ({error}); {why}: restarting the running version with fresh state"
        );
        self.instance = None;
        self.next_rebuild = Instant::now();
        let restarted = match self.try_rebuild() {
            Ok(()) => "it was restarted with fresh state".to_owned(),
            Err(e) => format!("restarting it failed too ({e}); calls retry it"),
        };
        let handles: Vec<HandleId> = self.live.keys().copied().collect();
        gateway.plugin_failed(
            &package,
            &handles,
            "reload failed; the running version restarted with fresh state",
        );
        let note = format!("; the running version lost its state ({why}): {restarted}");
        match error {
            PluginError::Init { plugin, reason } => PluginError::Init {
                plugin,
                reason: reason + &note,
            },
            PluginError::Load { path, reason } => PluginError::Load {
                path,
                reason: reason + &note,
            },
            other => other,
        }
    }
}

fn wrong_package(source: &str, got: &str, want: &str) -> PluginError {
    PluginError::Load {
        path: source.to_owned(),
        reason: format!("its package is {got}, not {want}"),
    }
}

/// Instantiates `pre`, asks for its info and calls `init` with the plugin's settings.
fn start(
    spec: &Spec,
    pre: &GatewayPluginPre<HostState>,
) -> Result<(Instance, PluginInfo), PluginError> {
    let init_error = |reason: String| PluginError::Init {
        plugin: spec.package.to_string(),
        reason,
    };
    let mut instance = Instance::new(
        &spec.engine,
        pre,
        spec.package.clone(),
        spec.gateway.clone(),
        spec.limits,
    )
    .map_err(|Crash(r)| init_error(r))?;
    let info = instance
        .call(spec.limits, |g, s| g.call_info(s))
        .map_err(|Crash(r)| init_error(r))?;
    instance
        .call(spec.limits, |g, s| g.call_init(s, &spec.config))
        .map_err(|Crash(r)| init_error(r))?
        .map_err(init_error)?;
    Ok((instance, plugin_info(info, &spec.source)))
}

/// Calls `create-session` for every live handle; false when the instance crashed doing so.
fn recreate_handles(
    instance: &mut Instance,
    spec: &Spec,
    live: &BTreeMap<HandleId, Option<String>>,
) -> bool {
    for (handle, opaque_id) in live {
        let r = instance.call(spec.limits, |g, s| {
            g.call_create_session(s, *handle, opaque_id.as_deref())
        });
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                plugin = &*spec.package,
                handle,
                "re-creating handle refused: {e}"
            ),
            Err(Crash(e)) => {
                tracing::error!(
                    plugin = &*spec.package,
                    handle,
                    "re-creating handle crashed: {e}"
                );
                return false;
            }
        }
    }
    true
}
