//! `janus.plugin.videoroom`: Janus 1.x's multistream VideoRoom (SFU) on portunus.
//!
//! Publishers' offers are answered with the room's codecs; subscribers get server offers
//! with one m-line per subscribed stream; media flows by native routes from (publisher
//! handle, mid) to (subscriber handle, mid), so no packet enters the plugin. Requests,
//! events and error codes are Janus 1.1.2's (shared/janus-api/videoroom.md).
//!
//! The logic runs against the SDK's [`Host`] trait, so `cargo test` on the build
//! machine exercises every request with a recording fake of the gateway.

pub mod config;
pub mod error;
pub mod events;
pub mod publisher;
pub mod room;
pub mod snapshot;
pub mod subscriber;
pub mod sync_requests;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::Map;

use portunus_plugin_sdk::host_api::{Host, RealHost};
use portunus_plugin_sdk::ids::{Id, IdGen};
use portunus_plugin_sdk::prelude::*;
use portunus_plugin_sdk::request::{MessageCodes, Requests, answer_message};

use config::{RoomConfig, Settings};
use error::*;
use room::{Role, Room, Session};

pub const PACKAGE: &str = "janus.plugin.videoroom";

/// Requests answered at once (inside `success`); everything else is asynchronous.
const SYNC_REQUESTS: &[&str] = &[
    "create",
    "edit",
    "destroy",
    "exists",
    "list",
    "allowed",
    "kick",
    "moderate",
    "listparticipants",
    "listforwarders",
    "enable_recording",
    "rtp_forward",
    "stop_rtp_forward",
    "publish_remotely",
    "unpublish_remotely",
    "listremotes",
    "add_remote_publisher",
    "update_remote_publisher",
    "remove_remote_publisher",
];

const ASYNC_REQUESTS: &[&str] = &[
    "join",
    "joinandconfigure",
    "configure",
    "publish",
    "unpublish",
    "start",
    "pause",
    "switch",
    "subscribe",
    "unsubscribe",
    "update",
    "leave",
];

/// The plugin's whole state. Generic over the gateway so tests can record its calls.
pub struct VideoRoom<H: Host> {
    pub host: H,
    pub settings: Settings,
    pub rooms: BTreeMap<Id, Room>,
    pub sessions: HashMap<HandleId, Session>,
    /// Route → (subscriber handle, subscriber mid), to place layer-change events.
    pub routes: HashMap<RouteId, (HandleId, String)>,
    pub ids: IdGen,
}

pub use portunus_plugin_sdk::request::Request;

impl<H: Host> VideoRoom<H> {
    pub fn new(host: H) -> VideoRoom<H> {
        VideoRoom {
            host,
            settings: Settings::default(),
            rooms: BTreeMap::new(),
            sessions: HashMap::new(),
            routes: HashMap::new(),
            ids: IdGen::new(0),
        }
    }

    pub fn init(&mut self, config: Value) -> Result<(), String> {
        let now = self.host.now_ms();
        self.ids = IdGen::new(now);
        let (settings, rooms) = Settings::from_json(&config)?;
        self.settings = settings;
        self.rooms.clear();
        for (i, table) in rooms.iter().enumerate() {
            let id = table
                .get("room")
                .ok_or_else(|| format!("videoroom rooms[{i}]: `room` (the room id) is missing"))
                .and_then(|v| {
                    Id::from_value(v, "room", self.settings.string_ids, INVALID_ELEMENT)
                        .map_err(|e| format!("videoroom rooms[{i}]: {}", e.message))
                })?;
            let mut table = table.clone();
            table.remove("room");
            let allowed = match table.remove("allowed") {
                Some(v) => Some(
                    config::string_list(&v, "allowed")
                        .map_err(|e| format!("videoroom room {id}: {}", e.message))?,
                ),
                None => None,
            };
            let (mut cfg, warnings) = RoomConfig::from_body(&table)
                .map_err(|e| format!("videoroom room {id}: {}", e.message))?;
            for w in warnings {
                self.host.warn(&format!("room {id}: {w}"));
            }
            if cfg.record {
                // Config rooms keep loading; recording is simply not there yet.
                self.host.warn(&format!(
                    "room {id}: record = true is ignored, recording is not implemented yet"
                ));
                cfg.record = false;
            }
            if self.rooms.contains_key(&id) {
                return Err(format!("videoroom: room {id} is configured twice"));
            }
            self.rooms
                .insert(id.clone(), Room::new(id, cfg, true, allowed));
        }
        self.host.info(&format!(
            "{} room(s) from the configuration",
            self.rooms.len()
        ));
        Ok(())
    }

    pub fn create_session(
        &mut self,
        handle: HandleId,
        opaque_id: Option<String>,
    ) -> Result<(), String> {
        if self.sessions.contains_key(&handle) {
            return Err(format!("handle {handle} already has a session"));
        }
        self.ids.mix(handle);
        self.sessions
            .insert(handle, Session::new(handle, opaque_id));
        Ok(())
    }

    pub fn handle_message(&mut self, msg: &Message) -> Result<Reply, String> {
        if !self.sessions.contains_key(&msg.handle) {
            return Err("No session associated with this handle".into());
        }
        Ok(answer_message(self, msg))
    }

    fn async_request(&mut self, request: &str, req: &Request) -> VrResult<()> {
        if self.sessions.get(&req.handle).is_some_and(|s| s.kicked) {
            return Err(err(UNAUTHORIZED, "Unauthorized, you have been kicked"));
        }
        let role = match self.sessions.get(&req.handle).map(|s| &s.role) {
            Some(Role::Idle) => 0,
            Some(Role::Publisher(_)) => 1,
            Some(Role::Subscriber(_)) => 2,
            None => return Err(err(UNKNOWN_ERROR, "No session associated with this handle")),
        };
        match (role, request) {
            (0, "join") => match req.body.get("ptype").map(|p| p.as_str()) {
                None => Err(err(MISSING_ELEMENT, "Missing mandatory element (ptype)")),
                Some(Some("publisher")) => self.join_publisher(req, false),
                Some(Some("subscriber" | "listener")) => self.join_subscriber(req),
                Some(Some(_)) => Err(err(INVALID_ELEMENT, "Invalid element (ptype)")),
                Some(None) => Err(err(
                    INVALID_ELEMENT,
                    "Invalid element type (ptype should be a string)",
                )),
            },
            (0, "joinandconfigure") => match req.body.get("ptype").and_then(Value::as_str) {
                Some("publisher") => self.join_publisher(req, true),
                None if !req.body.contains_key("ptype") => {
                    Err(err(MISSING_ELEMENT, "Missing mandatory element (ptype)"))
                }
                _ => Err(err(INVALID_ELEMENT, "Invalid element (ptype)")),
            },
            (0, _) => Err(err(
                JOIN_FIRST,
                "Invalid request on unconfigured participant",
            )),
            (1, "join" | "joinandconfigure") => Err(err(
                ALREADY_JOINED,
                "Already in as a publisher on this handle",
            )),
            (1, "configure") => self.configure_publisher(req, false),
            (1, "publish") => self.configure_publisher(req, true),
            (1, "unpublish") => self.unpublish_request(req),
            (1, "leave") => self.leave_publisher(req),
            (2, "join" | "joinandconfigure") => Err(err(
                ALREADY_JOINED,
                "Already in as a subscriber on this handle",
            )),
            (2, "start") => self.start(req),
            (2, "pause") => self.pause(req),
            (2, "configure") => self.configure_subscriber(req),
            (2, "switch") => self.switch(req),
            (2, "subscribe" | "unsubscribe" | "update") => self.update(req, request),
            (2, "leave") => self.leave_subscriber(req),
            _ => Err(err(INVALID_REQUEST, format!("Unknown request '{request}'"))),
        }
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

    /// Sends `data` to every publisher-type participant of `room`, but `except`.
    pub fn notify_participants(&mut self, room: &Id, data: &Value, except: Option<HandleId>) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let handles: Vec<HandleId> = r
            .participants
            .values()
            .copied()
            .filter(|h| Some(*h) != except)
            .collect();
        for h in handles {
            self.push(h, None, data, None);
        }
    }

    pub fn room(&self, id: &Id) -> VrResult<&Room> {
        self.rooms.get(id).ok_or_else(|| no_such_room(id))
    }

    pub fn room_mut(&mut self, id: &Id) -> VrResult<&mut Room> {
        self.rooms.get_mut(id).ok_or_else(|| no_such_room(id))
    }

    pub fn setup_media(&mut self, handle: HandleId) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        s.pc_up = true;
        match &s.role {
            Role::Publisher(_) => self.publisher_media_up(handle),
            Role::Subscriber(_) => {
                self.install_routes(handle);
                // As Janus: a new subscriber's PeerConnection is up, ask its feeds for a keyframe.
                self.request_feed_keyframes(handle);
            }
            Role::Idle => {}
        }
    }

    pub fn hangup_media(&mut self, handle: HandleId) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        s.pc_up = false;
        match &s.role {
            Role::Publisher(_) => self.unpublish(handle),
            Role::Subscriber(_) => self.subscriber_hangup(handle),
            Role::Idle => {}
        }
    }

    pub fn destroy_session(&mut self, handle: HandleId) {
        let role = match self.sessions.get(&handle) {
            Some(s) => match &s.role {
                Role::Idle => 0,
                Role::Publisher(_) => 1,
                Role::Subscriber(_) => 2,
            },
            None => return,
        };
        match role {
            1 => self.publisher_gone(handle, None),
            2 => self.subscriber_gone(handle),
            _ => {}
        }
        self.sessions.remove(&handle);
    }

    pub fn on_timer(&mut self, id: u64) {
        // Timer ids are publisher handles: the fir_freq keyframe requests.
        self.fir_timer(id);
    }

    pub fn on_media_event(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::LayerChanged(c) => self.layer_changed(c),
            MediaEvent::TalkChanged(c) => self.talk_changed(c),
            // The VideoRoom opens no plain-RTP inputs.
            MediaEvent::InputMedia(_) => {}
        }
    }

    pub fn query_session(&self, handle: HandleId) -> Value {
        let Some(s) = self.sessions.get(&handle) else {
            return json!({"error": "No session associated with this handle"});
        };
        match &s.role {
            Role::Idle => json!({"type": "none", "media_up": s.pc_up}),
            Role::Publisher(p) => json!({
                "type": "publisher",
                "room": p.room.to_json(),
                "id": p.id.to_json(),
                "private_id": p.private_id,
                "display": p.display,
                "media_up": s.pc_up,
                "publishing": p.publishing,
                "bitrate": p.bitrate,
                "audio_active": p.audio_active,
                "video_active": p.video_active,
                "data_active": p.data_active,
                "talking": p.talking,
                "streams": p.streams.iter().map(events::pub_stream).collect::<Vec<_>>(),
                "forwarders": p.forwarders.len(),
            }),
            Role::Subscriber(sub) => json!({
                "type": "subscriber",
                "room": sub.room.to_json(),
                "private_id": sub.pvt_id,
                "media_up": s.pc_up,
                "started": sub.started,
                "paused": sub.paused,
                "offer_pending": sub.offer_pending,
                "streams": events::sub_streams(sub),
            }),
        }
    }

    /// The section `save_config` writes: the settings and every permanent room.
    pub fn save_config(&mut self) -> Result<(), String> {
        let rooms = self
            .rooms
            .values()
            .filter(|r| r.permanent)
            .map(Room::to_config)
            .collect();
        let section = self.settings.to_json(rooms);
        self.host.save_config(&section)
    }
}

pub fn error_event(e: &JanusError) -> Value {
    janus::error_event_value(events::KEY, e)
}

impl<H: Host> Requests for VideoRoom<H> {
    type Host = H;
    const KEY: &'static str = events::KEY;
    const SYNC: &'static [&'static str] = SYNC_REQUESTS;
    const ASYNC: &'static [&'static str] = ASYNC_REQUESTS;
    const CODES: MessageCodes = MESSAGE_CODES;

    fn host(&mut self) -> &mut H {
        &mut self.host
    }

    fn handle_sync(&mut self, request: &str, body: &Map<String, Value>) -> VrResult<Value> {
        self.sync_request(request, body)
    }

    fn handle_async(&mut self, request: &str, req: &Request) -> VrResult<()> {
        self.async_request(request, req)
    }
}

/// The exported plugin: the state on the real gateway.
pub struct VideoRoomPlugin(VideoRoom<RealHost>);

impl Default for VideoRoomPlugin {
    fn default() -> Self {
        VideoRoomPlugin(VideoRoom::new(RealHost))
    }
}

impl Plugin for VideoRoomPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE.into(),
            name: "JANUS VideoRoom plugin".into(),
            author: "portunus (after Meetecho s.r.l.)".into(),
            description: "This is a plugin implementing a videoconferencing SFU (Selective Forwarding Unit) for Janus, that is an audio/video router.".into(),
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
        opaque_id: Option<String>,
    ) -> Result<(), String> {
        self.0.create_session(handle, opaque_id)
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

    fn incoming_data(&mut self, handle: HandleId, message: DataMessage) {
        self.0.incoming_data(handle, message)
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

    fn on_timer(&mut self, id: u64) {
        self.0.on_timer(id)
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
export_plugin!(VideoRoomPlugin);
