//! The Janus API core: requests in, replies and events out, independent of the transport.
//!
//! A request's path: a transport parses JSON and calls [`ApiCore::handle`] with the sink of
//! its connection → `dispatch` validates in Janus's order and runs the verb, calling the media
//! engine (SDP, candidates) and the plugin (`handle_message`) → the reply goes back to the
//! transport. Asynchronous events (plugin `push_event` via `gateway`, media events via
//! `events`) go to the owning connection of the handle's session.

pub mod auth;
mod dispatch;
pub mod error;
mod events;
mod gateway;
mod info;
mod jsep;
pub mod session;
mod validate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use portunus_media::{ForwarderId, HandleId, MediaEngine, RouteId};
use portunus_plugin_host::PluginHost;
use serde_json::{Value, json};

pub use dispatch::{Followup, Response};
pub use gateway::CoreGateway;

use crate::config::Config;
use crate::transport::ConnectionId;
use auth::Auth;
use session::{Handle, Registry, Session};

/// How often the session watchdog runs (Janus: every 2 s).
const WATCHDOG_PERIOD: Duration = Duration::from_secs(2);
/// How long a detach waits for the plugin to finish `destroy_session` before `detached`.
const DETACH_BARRIER: Duration = Duration::from_secs(3);

/// A transport the core reports in `info`.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    pub package: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub version: u32,
    pub version_string: &'static str,
}

/// The plugin that installed a route, and the handles it touches.
struct RouteOwner {
    plugin: String,
    handles: [u64; 2],
}

/// The plugin that opened a plain-RTP input (the input's id is the map's key).
struct InputOwner {
    plugin: String,
}

/// The plugin that started an RTP forwarder, and the handle of its source.
struct ForwarderOwner {
    plugin: String,
    handle: u64,
}

pub struct ApiCore {
    config: Config,
    pub(crate) registry: Registry,
    pub auth: Auth,
    media: MediaEngine,
    plugins: OnceLock<PluginHost>,
    routes: Mutex<HashMap<RouteId, RouteOwner>>,
    forwarders: Mutex<HashMap<ForwarderId, ForwarderOwner>>,
    /// Plain-RTP inputs by source id. They belong to the plugin, not to a handle: they
    /// outlive handles and hot reloads, and go with `plugin_reset`.
    inputs: Mutex<HashMap<HandleId, InputOwner>>,
    /// Held while a plugin's `save-config` rewrites the configuration file.
    config_write: Mutex<()>,
    accepting: AtomicBool,
    transports: Mutex<Vec<TransportInfo>>,
    /// For work started from plugin threads.
    runtime: tokio::runtime::Handle,
}

impl ApiCore {
    /// Must be called inside the tokio runtime that will run the core's tasks.
    pub fn new(
        config: Config,
        media: MediaEngine,
        runtime: tokio::runtime::Handle,
    ) -> Arc<ApiCore> {
        let general = &config.general;
        let auth = Auth::new(
            general.api_secret.clone(),
            general.token_auth,
            general.token_auth_secret.clone(),
        );
        Arc::new(ApiCore {
            auth,
            config,
            registry: Registry::default(),
            media,
            plugins: OnceLock::new(),
            routes: Mutex::new(HashMap::new()),
            forwarders: Mutex::new(HashMap::new()),
            inputs: Mutex::new(HashMap::new()),
            config_write: Mutex::new(()),
            accepting: AtomicBool::new(true),
            transports: Mutex::new(Vec::new()),
            runtime,
        })
    }

    /// Installs the plugin host (it needs the core's gateway, so it comes after `new`).
    pub fn set_plugins(&self, host: PluginHost) {
        if self.plugins.set(host).is_err() {
            tracing::warn!("plugin host installed twice; keeping the first");
        }
    }

    pub fn add_transport(&self, info: TransportInfo) {
        self.transports.lock().push(info);
    }

    pub fn plugins(&self) -> Option<&PluginHost> {
        self.plugins.get()
    }

    pub fn media(&self) -> &MediaEngine {
        &self.media
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `create` is accepted (Admin `accept_new_sessions`).
    pub fn set_accepting(&self, on: bool) {
        self.accepting.store(on, Ordering::Relaxed);
    }

    pub fn session_count(&self) -> usize {
        self.registry.session_count()
    }

    pub fn handle_count(&self) -> usize {
        self.registry.handle_count()
    }

    /// Refreshes a session's activity (HTTP long poll); false if there is no such session.
    pub fn touch_session(&self, id: u64) -> bool {
        match self.registry.session(id) {
            Some(s) => {
                s.touch();
                true
            }
            None => false,
        }
    }

    /// The connection went away: its sessions die, or wait for a `claim` when
    /// `reclaim_session_timeout` is set.
    pub fn connection_lost(&self, connection: ConnectionId) {
        let reclaim = self.config.general.reclaim_session_timeout > 0;
        for session in self.registry.connection_lost(connection, reclaim) {
            tracing::info!(session = session.id, "transport gone, destroying session");
            if self.registry.remove_session(session.id).is_some() {
                self.destroy_handles(&session);
            }
        }
    }

    /// One watchdog pass: reaps idle and unclaimed sessions.
    pub fn reap(&self, now: Instant) {
        let general = &self.config.general;
        let timeout =
            (general.session_timeout > 0).then(|| Duration::from_secs(general.session_timeout));
        let reclaim = Duration::from_secs(general.reclaim_session_timeout);
        let expired = self.registry.expire(now, timeout, reclaim);
        for session in expired.timed_out {
            tracing::info!(session = session.id, "session timed out");
            self.destroy_handles(&session);
            let owner = self.registry.take_owner(&session);
            if let Some(owner) = owner {
                owner.send(
                    session.id,
                    json!({"janus": "timeout", "session_id": session.id}),
                );
                owner.session_released(session.id);
            }
        }
        for session in expired.unclaimed {
            tracing::info!(session = session.id, "session not reclaimed in time");
            self.destroy_handles(&session);
        }
    }

    /// Runs the watchdog until the task is dropped.
    pub async fn watchdog(self: Arc<Self>) {
        let mut tick = tokio::time::interval(WATCHDOG_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.reap(Instant::now());
        }
    }

    /// Destroys every session (server shutdown).
    pub fn destroy_all(&self) {
        let ids: Vec<u64> = self.registry.session_ids();
        for id in ids {
            if let Some(session) = self.registry.remove_session(id) {
                self.destroy_handles(&session);
                if let Some(owner) = self.registry.take_owner(&session) {
                    owner.session_released(id);
                }
            }
        }
    }

    /// Destroys a session's handles without telling the client (the session is gone).
    fn destroy_handles(&self, session: &Session) {
        for id in session.handle_ids() {
            if let Some(handle) = self.registry.remove_handle(id) {
                self.forget_handle(&handle);
                handle.plugin.destroy_session(handle.id);
            }
        }
    }

    /// Media side of a handle's end: PeerConnection, candidates, routes, forwarders.
    fn forget_handle(&self, handle: &Handle) {
        self.media.destroy(handle.id);
        self.routes
            .lock()
            .retain(|_, owner| !owner.handles.contains(&handle.id));
        let gone: Vec<ForwarderId> = {
            let mut forwarders = self.forwarders.lock();
            let gone = forwarders
                .iter()
                .filter(|(_, owner)| owner.handle == handle.id)
                .map(|(id, _)| *id)
                .collect::<Vec<_>>();
            for id in &gone {
                forwarders.remove(id);
            }
            gone
        };
        for id in gone {
            self.media.rtp_forward_remove(id);
        }
    }

    /// Closes a plain-RTP input and forgets the routes from it; false when `plugin` has no
    /// such input (another plugin's is left alone).
    fn close_input(&self, plugin: &str, source: HandleId) -> bool {
        {
            let mut inputs = self.inputs.lock();
            match inputs.get(&source) {
                Some(owner) if owner.plugin == plugin => {
                    inputs.remove(&source);
                }
                _ => return false,
            }
        }
        self.media.rtp_input_remove(source);
        self.routes
            .lock()
            .retain(|_, owner| !owner.handles.contains(&source));
        self.registry.release_id(source);
        tracing::debug!(plugin, source, "rtp input closed");
        true
    }

    /// The source ids of a plugin's plain-RTP inputs.
    fn plugin_inputs(&self, plugin: &str) -> Vec<HandleId> {
        self.inputs
            .lock()
            .iter()
            .filter(|(_, owner)| owner.plugin == plugin)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Closes every plain-RTP input of a plugin (its state is gone).
    fn close_plugin_inputs(&self, plugin: &str) {
        for id in self.plugin_inputs(plugin) {
            self.close_input(plugin, id);
        }
    }

    /// The plugin owning a plain-RTP input.
    fn input_owner(&self, source: HandleId) -> Option<String> {
        self.inputs.lock().get(&source).map(|o| o.plugin.clone())
    }

    /// Detaches a handle: the plugin destroys its session (its last events still reach the
    /// client), then `detached` is sent. Used by `detach` and by the plugin's `end_session`.
    pub async fn detach(self: &Arc<Self>, handle: Arc<Handle>) {
        if !handle.begin_detach() {
            return;
        }
        let had_pc = handle.has_pc();
        self.media.destroy(handle.id);
        let session = self.registry.session(handle.session_id);
        if had_pc && let Some(s) = &session {
            s.send(json!({"janus": "hangup", "session_id": s.id, "sender": handle.id, "reason": "Detach"}));
        }
        // `detached` must follow the events the plugin pushes while destroying its session.
        let done = handle.plugin.destroy_session_done(handle.id);
        if tokio::time::timeout(DETACH_BARRIER, done).await.is_err() {
            tracing::warn!(handle = handle.id, "plugin slow to destroy its session");
        }
        self.registry.remove_handle(handle.id);
        self.forget_handle(&handle);
        if let Some(s) = session {
            s.send(json!({"janus": "detached", "session_id": s.id, "sender": handle.id}));
        }
    }

    /// A plugin's `save-config`: replaces its section of the configuration file.
    fn save_plugin_config(&self, plugin: &str, config: Value) -> Result<(), String> {
        // One read-modify-write of the file at a time, whichever plugin asks.
        let _guard = self.config_write.lock();
        match self.config.save_plugin_section(plugin, &config) {
            Ok(()) => {
                tracing::info!(plugin, "plugin settings saved to the configuration file");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(plugin, "save-config failed: {e}");
                Err(format!("save-config: {e}"))
            }
        }
    }

    /// Sends an event to the client of `handle` (dropped if the handle or session is gone).
    fn send_to_handle(&self, handle: &Handle, event: Value) {
        match self.registry.session(handle.session_id) {
            Some(session) => session.send(event),
            None => tracing::debug!(handle = handle.id, "event for a gone session dropped"),
        }
    }
}
