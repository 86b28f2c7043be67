//! `janus.plugin.streaming`: Janus's Streaming plugin on portunus, RTP mountpoints.
//!
//! A mountpoint's media arrives as plain RTP on UDP ports the core opens for it (one
//! `rtp-input` per mountpoint); each viewer gets a server offer with one m-line per stream,
//! answers it with `start`, and media flows by native routes from (input, mid) to (viewer
//! handle, mid): no packet enters the plugin. Requests, events and error codes are Janus
//! 1.1.2's (shared/janus-api/streaming.md). File (`live`, `ondemand`) and RTSP mountpoints
//! are not implemented: `create` refuses them.
//!
//! The logic runs against the SDK's [`Host`] trait, so `cargo test` on the build machine
//! exercises every request with a recording fake of the gateway.

pub mod config;
pub mod error;
pub mod mountpoint;
pub mod snapshot;
pub mod svc;
pub mod sync_requests;
pub mod viewer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::Map;

use portunus_plugin_sdk::host_api::{Host, RealHost};
use portunus_plugin_sdk::ids::{Id, IdGen};
use portunus_plugin_sdk::prelude::*;
use portunus_plugin_sdk::request::{MessageCodes, Requests, answer_message};

use config::Settings;
use error::*;
use mountpoint::Mountpoint;
use viewer::Session;

pub const PACKAGE: &str = "janus.plugin.streaming";
/// The key of every event and reply (`{"streaming": ...}`).
pub const KEY: &str = "streaming";

/// Requests answered at once (inside `success`).
const SYNC_REQUESTS: &[&str] = &[
    "list",
    "info",
    "create",
    "edit",
    "destroy",
    "recording",
    "enable",
    "disable",
    "kick_all",
];

/// The core's smallest (and default) no-media time, `media.no_media_timer` = 1 s: how long
/// after the last packet an `input-media receiving:false` comes at the least.
const MIN_NO_MEDIA_MS: u64 = 1000;

/// Requests answered by events.
const ASYNC_REQUESTS: &[&str] = &["watch", "start", "pause", "stop", "configure", "switch"];

/// The plugin's whole state. Generic over the gateway so tests can record its calls.
pub struct Streaming<H: Host> {
    pub host: H,
    pub settings: Settings,
    pub mountpoints: BTreeMap<Id, Mountpoint>,
    pub sessions: HashMap<HandleId, Session>,
    /// The mountpoint tables of the configuration file, as `save_config` writes them:
    /// what was configured, plus what `permanent` requests added, changed or removed.
    pub saved: Vec<Value>,
    pub ids: IdGen,
}

pub use portunus_plugin_sdk::request::Request;

pub fn error_event(e: &JanusError) -> Value {
    janus::error_event_value(KEY, e)
}

/// `{"streaming": "event", "result": {...}}`.
pub fn result_event(result: Value) -> Value {
    janus::event(KEY, json!({ "result": result }))
}

impl<H: Host> Streaming<H> {
    pub fn new(host: H) -> Streaming<H> {
        Streaming {
            host,
            settings: Settings::default(),
            mountpoints: BTreeMap::new(),
            sessions: HashMap::new(),
            saved: Vec::new(),
            ids: IdGen::new(0),
        }
    }

    /// Reads the settings and opens the configured mountpoints. A mountpoint whose ports
    /// cannot be opened, or whose id an earlier one has, is left out with an error in the
    /// log, as Janus does; a malformed one stops the plugin.
    pub fn init(&mut self, config: Value) -> Result<(), String> {
        let now = self.host.now_ms();
        self.ids = IdGen::new(now);
        let (settings, tables) = Settings::from_json(&config)?;
        self.settings = settings;
        self.saved = tables.iter().cloned().map(Value::Object).collect();
        for (i, table) in tables.into_iter().enumerate() {
            let what = match table.get("name").and_then(Value::as_str) {
                Some(n) => format!("streaming mountpoint '{n}'"),
                None => format!("streaming mountpoints[{i}]"),
            };
            match self.create_mountpoint(&table) {
                Ok(id) => {
                    // A table without an id got a random one (as in Janus); the saved copy
                    // carries it so `permanent` edit / destroy find this table.
                    if let Some(t) = self.saved.get_mut(i)
                        && !sync_requests::same_id(t, &id)
                    {
                        t["id"] = id.to_json();
                    }
                    self.host.info(&format!("{what}: mountpoint {id} ready"));
                }
                // Ports in use or an id taken twice (a hand-edited file): that mountpoint
                // is left out; only a malformed table stops the plugin.
                Err(e) if e.code == CANT_CREATE && e.message.starts_with("Error creating") => {
                    self.host.error(&format!("{what}: {}", e.message));
                }
                Err(e) if e.code == CANT_CREATE && e.message == DUPLICATE_ID => {
                    self.host.error(&format!("{what}: {}, left out", e.message));
                }
                Err(e) => return Err(format!("{what}: {}", e.message)),
            }
        }
        self.host.info(&format!(
            "{} mountpoint(s) from the configuration",
            self.mountpoints.len()
        ));
        Ok(())
    }

    pub fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        if self.sessions.contains_key(&handle) {
            return Err(format!("handle {handle} already has a session"));
        }
        self.ids.mix(handle);
        self.sessions.insert(handle, Session::new(handle));
        Ok(())
    }

    pub fn handle_message(&mut self, msg: &Message) -> Result<Reply, String> {
        if !self.sessions.contains_key(&msg.handle) {
            return Err("No session associated with this handle...".into());
        }
        Ok(answer_message(self, msg))
    }

    /// An Admin API `message_plugin`: the synchronous requests, as Janus.
    pub fn admin_message(&mut self, body: &Value) -> Value {
        let result = janus::object(body, INVALID_JSON).and_then(|b| {
            let request = janus::request_name(b, MISSING_ELEMENT, INVALID_ELEMENT)?;
            if SYNC_REQUESTS.contains(&request.as_str()) {
                self.sync_request(&request, b)
            } else {
                Err(err(INVALID_REQUEST, format!("Unknown request '{request}'")))
            }
        });
        result.unwrap_or_else(|e| error_event(&e))
    }

    /// Sends an event, logging (not failing) when the handle is gone.
    pub fn push(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        data: &Value,
        jsep: Option<&JsepOut>,
    ) {
        self.host.push_or_log(handle, transaction, data, jsep)
    }

    /// A mountpoint's media started or stopped arriving, or a viewer's SVC layer changed.
    pub fn on_media_event(&mut self, event: MediaEvent) {
        let ev = match event {
            MediaEvent::InputMedia(ev) => ev,
            MediaEvent::LayerChanged(c) => return self.layer_changed(c),
            MediaEvent::TalkChanged(_) => return,
        };
        let now = self.host.now_ms();
        let source = ev.source;
        let Some(stream) = self
            .mountpoints
            .values_mut()
            .filter(|m| m.source == source.handle)
            .flat_map(|m| m.streams.iter_mut())
            .find(|s| s.mid == source.mid)
        else {
            return;
        };
        stream.receiving = ev.receiving;
        stream.last_media_ms = if ev.receiving {
            now
        } else {
            // The core says "stopped" a no-media time after the last packet; that time is the
            // core's setting, never below MIN_NO_MEDIA_MS. Counting from `now` would make
            // `age_ms` too young by all of it; this is exact with the default setting and
            // never too old. Not before the media started, either.
            now.saturating_sub(MIN_NO_MEDIA_MS)
                .max(stream.last_media_ms)
        };
    }

    pub fn query_session(&self, handle: HandleId) -> Value {
        match self.sessions.get(&handle) {
            None => json!({"error": "No session associated with this handle"}),
            Some(s) => s.query(),
        }
    }

    /// Writes the settings and the saved mountpoint tables to the configuration.
    pub fn save_config(&mut self) -> Result<(), String> {
        let section = self.settings.to_json(self.saved.clone());
        self.host.save_config(&section)
    }
}

impl<H: Host> Requests for Streaming<H> {
    type Host = H;
    const KEY: &'static str = KEY;
    const SYNC: &'static [&'static str] = SYNC_REQUESTS;
    const ASYNC: &'static [&'static str] = ASYNC_REQUESTS;
    const CODES: MessageCodes = MESSAGE_CODES;

    fn host(&mut self) -> &mut H {
        &mut self.host
    }

    fn handle_sync(&mut self, request: &str, body: &Map<String, Value>) -> SResult<Value> {
        self.sync_request(request, body)
    }

    fn handle_async(&mut self, request: &str, req: &Request) -> SResult<()> {
        match request {
            "watch" => self.watch(req),
            "start" => self.start(req),
            "pause" => self.pause(req),
            "configure" => self.configure(req),
            "switch" => self.switch(req),
            "stop" => self.stop(req),
            _ => Err(err(INVALID_REQUEST, format!("Unknown request '{request}'"))),
        }
    }
}

/// The exported plugin: the state on the real gateway.
pub struct StreamingPlugin(Streaming<RealHost>);

impl Default for StreamingPlugin {
    fn default() -> Self {
        StreamingPlugin(Streaming::new(RealHost))
    }
}

impl Plugin for StreamingPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE.into(),
            name: "JANUS Streaming plugin".into(),
            author: "portunus (after Meetecho s.r.l.)".into(),
            description: "This is a streaming plugin for Janus, allowing WebRTC peers to watch/listen to pre-recorded files or media generated by an external source.".into(),
            version: 9,
            version_string: "0.0.9".into(),
        }
    }

    fn init(&mut self, config: Value) -> Result<(), String> {
        self.0.init(config)
    }

    fn create_session(
        &mut self,
        handle: HandleId,
        _opaque_id: Option<String>,
    ) -> Result<(), String> {
        self.0.create_session(handle)
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        self.0.handle_message(&msg)
    }

    fn setup_media(&mut self, handle: HandleId) {
        self.0.setup_media(handle)
    }

    fn hangup_media(&mut self, handle: HandleId) {
        self.0.hangup_media(handle)
    }

    fn destroy_session(&mut self, handle: HandleId) {
        self.0.destroy_session(handle)
    }

    fn query_session(&mut self, handle: HandleId) -> Value {
        self.0.query_session(handle)
    }

    fn handle_admin_message(&mut self, body: Value) -> Value {
        self.0.admin_message(&body)
    }

    fn on_media_event(&mut self, event: MediaEvent) {
        self.0.on_media_event(event)
    }

    fn snapshot(&mut self) -> Option<Vec<u8>> {
        self.0.snapshot()
    }

    fn restore(&mut self, state: Vec<u8>) -> Result<(), String> {
        self.0.restore(&state)
    }
}

#[cfg(target_arch = "wasm32")]
export_plugin!(StreamingPlugin);
