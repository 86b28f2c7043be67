//! The synchronous requests: room management, moderation and RTP forwarders. Their
//! result (or error) is the `success` reply itself.

use portunus_plugin_sdk::prelude::*;
use serde_json::Map;

use crate::config::{RoomConfig, string_list};
use crate::error::*;
use crate::events;
use crate::publisher::{Forwarder, StreamKind};
use crate::room::Room;
use crate::{VideoRoom, error_event};
use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::Id;

type Body = Map<String, Value>;

const EDIT_PARAMS: &[Param] = &[
    Param::optional("secret", ParamKind::String),
    Param::optional("new_description", ParamKind::NonEmptyString),
    Param::optional("new_is_private", ParamKind::Bool),
    Param::optional("new_secret", ParamKind::String),
    Param::optional("new_pin", ParamKind::String),
    Param::optional("new_require_pvtid", ParamKind::Bool),
    Param::optional("new_bitrate", ParamKind::PositiveInteger),
    Param::optional("new_fir_freq", ParamKind::PositiveInteger),
    Param::optional("new_publishers", ParamKind::PositiveInteger),
    Param::optional("new_lock_record", ParamKind::Bool),
    Param::optional("new_rec_dir", ParamKind::String),
    Param::optional("permanent", ParamKind::Bool),
];

const SECRET_PARAMS: &[Param] = &[
    Param::optional("secret", ParamKind::String),
    Param::optional("permanent", ParamKind::Bool),
];

const ALLOWED_PARAMS: &[Param] = &[
    Param::optional("secret", ParamKind::String),
    Param::required("action", ParamKind::String),
    Param::optional("allowed", ParamKind::Array),
];

const MODERATE_PARAMS: &[Param] = &[
    Param::optional("secret", ParamKind::String),
    Param::required("mid", ParamKind::String),
    Param::required("mute", ParamKind::Bool),
];

const RTP_FORWARD_PARAMS: &[Param] = &[
    Param::optional("secret", ParamKind::String),
    Param::optional("admin_key", ParamKind::String),
    Param::required("host", ParamKind::String),
    Param::optional("host_family", ParamKind::String),
    Param::optional("streams", ParamKind::Array),
    Param::optional("simulcast", ParamKind::Bool),
    Param::optional("srtp_suite", ParamKind::PositiveInteger),
    Param::optional("srtp_crypto", ParamKind::String),
    Param::optional("audio_port", ParamKind::PositiveInteger),
    Param::optional("audio_rtcp_port", ParamKind::PositiveInteger),
    Param::optional("audio_ssrc", ParamKind::PositiveInteger),
    Param::optional("audio_pt", ParamKind::PositiveInteger),
    Param::optional("video_port", ParamKind::PositiveInteger),
    Param::optional("video_rtcp_port", ParamKind::PositiveInteger),
    Param::optional("video_ssrc", ParamKind::PositiveInteger),
    Param::optional("video_pt", ParamKind::PositiveInteger),
    Param::optional("video_port_2", ParamKind::PositiveInteger),
    Param::optional("video_ssrc_2", ParamKind::PositiveInteger),
    Param::optional("video_pt_2", ParamKind::PositiveInteger),
    Param::optional("video_port_3", ParamKind::PositiveInteger),
    Param::optional("video_ssrc_3", ParamKind::PositiveInteger),
    Param::optional("video_pt_3", ParamKind::PositiveInteger),
    Param::optional("data_port", ParamKind::PositiveInteger),
];

const FORWARD_STREAM_PARAMS: &[Param] = &[
    Param::required("mid", ParamKind::String),
    Param::required("port", ParamKind::PositiveInteger),
    Param::optional("host", ParamKind::String),
    Param::optional("host_family", ParamKind::String),
    Param::optional("rtcp_port", ParamKind::PositiveInteger),
    Param::optional("ssrc", ParamKind::PositiveInteger),
    Param::optional("pt", ParamKind::PositiveInteger),
    Param::optional("simulcast", ParamKind::Bool),
    Param::optional("port_2", ParamKind::PositiveInteger),
    Param::optional("ssrc_2", ParamKind::PositiveInteger),
    Param::optional("pt_2", ParamKind::PositiveInteger),
    Param::optional("port_3", ParamKind::PositiveInteger),
    Param::optional("ssrc_3", ParamKind::PositiveInteger),
    Param::optional("pt_3", ParamKind::PositiveInteger),
];

/// A forwarder to start: which stream, where, how.
struct ForwardPlan {
    mid: String,
    kind: StreamKind,
    host: String,
    port: u16,
    rtcp_port: Option<u16>,
    ssrc: Option<u32>,
    pt: Option<u8>,
    substream: Option<u8>,
}

fn port_of(body: &Body, name: &str) -> VrResult<Option<u16>> {
    match body.get(name).and_then(Value::as_u64) {
        None => Ok(None),
        Some(p @ 1..=65535) => Ok(Some(p as u16)),
        Some(_) => Err(err(
            INVALID_ELEMENT,
            format!("Invalid element ({name} should be a port between 1 and 65535)"),
        )),
    }
}

fn u32_of(body: &Body, name: &str) -> Option<u32> {
    body.get(name)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

fn pt_of(body: &Body, name: &str) -> VrResult<Option<u8>> {
    match body.get(name).and_then(Value::as_u64) {
        None => Ok(None),
        Some(p @ 0..=127) => Ok(Some(p as u8)),
        Some(_) => Err(err(
            INVALID_ELEMENT,
            format!("Invalid element ({name} should be a payload type between 0 and 127)"),
        )),
    }
}

/// `permanent: true`: the change goes to the configuration file too.
fn permanent(body: &Body) -> bool {
    body.get("permanent").and_then(Value::as_bool) == Some(true)
}

/// The forwarders of one stream, one per layer whose port is given: `<prefix>port`,
/// `<prefix>ssrc`, `<prefix>pt` (and `<prefix>rtcp_port`) for the whole stream or its
/// first layer, the same with `_2` and `_3` for the other two when not `whole`.
fn layer_plans(
    body: &Body,
    prefix: &str,
    mid: &str,
    kind: StreamKind,
    host: &str,
    whole: bool,
) -> VrResult<Vec<ForwardPlan>> {
    let mut plans = Vec::new();
    for (layer, suffix) in [(0u8, ""), (1, "_2"), (2, "_3")] {
        if whole && layer > 0 {
            break;
        }
        let Some(port) = port_of(body, &format!("{prefix}port{suffix}"))? else {
            continue;
        };
        plans.push(ForwardPlan {
            mid: mid.to_owned(),
            kind,
            host: host.to_owned(),
            port,
            rtcp_port: if layer == 0 {
                port_of(body, &format!("{prefix}rtcp_port"))?
            } else {
                None
            },
            ssrc: u32_of(body, &format!("{prefix}ssrc{suffix}")),
            pt: pt_of(body, &format!("{prefix}pt{suffix}"))?,
            substream: if whole { None } else { Some(layer) },
        });
    }
    Ok(plans)
}

impl<H: Host> VideoRoom<H> {
    pub(crate) fn sync_request(&mut self, request: &str, body: &Body) -> VrResult<Value> {
        match request {
            "create" => self.create(body),
            "edit" => self.edit(body),
            "destroy" => self.destroy(body),
            "exists" => self.exists(body),
            "list" => self.list(body),
            "listparticipants" => self.list_participants(body),
            "allowed" => self.allowed(body),
            "kick" => self.kick(body),
            "moderate" => self.moderate(body),
            "listforwarders" => self.list_forwarders(body),
            "rtp_forward" => self.rtp_forward(body),
            "stop_rtp_forward" => self.stop_rtp_forward(body),
            "enable_recording" => self.enable_recording(body),
            _ => Err(err(
                INVALID_REQUEST,
                format!(
                    "Unsupported request '{request}' (remote publishers are not available in portunus)"
                ),
            )),
        }
    }

    /// Admin API `message_plugin`: the synchronous requests, as Janus allows.
    pub fn admin_message(&mut self, body: &Value) -> Value {
        let Some(body) = body.as_object() else {
            return error_event(&err(INVALID_JSON, "JSON error: not an object"));
        };
        let request = match body.get("request").and_then(Value::as_str) {
            Some(r) => r.to_ascii_lowercase(),
            None => {
                return error_event(&err(MISSING_ELEMENT, "Missing mandatory element (request)"));
            }
        };
        match self.sync_request(&request, body) {
            Ok(v) => v,
            Err(e) => error_event(&e),
        }
    }

    fn room_id(&self, body: &Body) -> VrResult<Id> {
        required_id(body, "room", self.settings.string_ids)
    }

    /// A room whose secret (if any) `body` gives.
    fn room_with_secret(&self, body: &Body) -> VrResult<Id> {
        let id = self.room_id(body)?;
        let room = self.room(&id)?;
        check_secret(room.cfg.secret.as_deref(), body, "secret")?;
        Ok(id)
    }

    /// The room a room-management request is for, in Janus's order: the room id, the
    /// request's elements (`params`), the room exists, its secret (if any) is given.
    fn managed_room(&self, body: &Body, params: &[Param]) -> VrResult<Id> {
        let id = self.room_id(body)?;
        validate(body, params)?;
        let _ = self.room(&id)?;
        self.room_with_secret(body)
    }

    /// The reply to `create`, `edit` or `destroy` (`what`: `created` ...), once the
    /// configuration is saved when `save`.
    fn room_changed(
        &mut self,
        what: &str,
        room: &Id,
        permanent: bool,
        save: bool,
    ) -> VrResult<Value> {
        if save {
            self.save_config().map_err(|e| {
                self.host.warn(&format!("cannot save room {room}: {e}"));
                err(
                    UNKNOWN_ERROR,
                    format!("Room {room} {what}, but saving it to the configuration failed: {e}"),
                )
            })?;
        }
        Ok(events::room_event(
            what,
            room,
            json!({"permanent": permanent}),
        ))
    }

    fn create(&mut self, body: &Body) -> VrResult<Value> {
        let (cfg, warnings) = RoomConfig::from_body(body)?;
        validate(body, &[Param::optional("admin_key", ParamKind::String)])?;
        check_secret(self.settings.admin_key.as_deref(), body, "admin_key")?;
        let string_ids = self.settings.string_ids;
        let id = optional_id(body, "room", string_ids)?.filter(|i| !i.is_empty());
        let allowed = match body.get("allowed") {
            Some(v) => Some(string_list(v, "allowed")?),
            None => None,
        };
        if cfg.record {
            return Err(err(
                UNKNOWN_ERROR,
                "Recording is not supported by this gateway (record must be false)",
            ));
        }
        if let Some(id) = &id
            && self.rooms.contains_key(id)
        {
            return Err(err(ROOM_EXISTS, format!("Room {id} already exists")));
        }
        let id = match id {
            Some(id) => id,
            None => loop {
                let id = self.ids.new_id(string_ids);
                if !self.rooms.contains_key(&id) {
                    break id;
                }
            },
        };
        for w in warnings {
            self.host.warn(&format!("room {id}: {w}"));
        }
        let permanent = permanent(body);
        self.rooms
            .insert(id.clone(), Room::new(id.clone(), cfg, permanent, allowed));
        self.host.info(&format!("room {id} created"));
        self.room_changed("created", &id, permanent, permanent)
    }

    fn edit(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, EDIT_PARAMS)?;
        let permanent = permanent(body);
        let room = self.room_mut(&id)?;
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let b = |k: &str| body.get(k).and_then(Value::as_bool);
        let n = |k: &str| {
            body.get(k)
                .and_then(Value::as_u64)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let c = &mut room.cfg;
        if let Some(v) = s("new_description") {
            c.description = v;
        }
        if let Some(v) = b("new_is_private") {
            c.is_private = v;
        }
        if let Some(v) = s("new_secret") {
            c.secret = Some(v).filter(|x| !x.is_empty());
        }
        if let Some(v) = s("new_pin") {
            c.pin = Some(v).filter(|x| !x.is_empty());
        }
        if let Some(v) = b("new_require_pvtid") {
            c.require_pvtid = v;
        }
        if let Some(v) = n("new_bitrate") {
            c.bitrate = v;
        }
        if let Some(v) = n("new_fir_freq") {
            c.fir_freq = v;
        }
        if let Some(v) = n("new_publishers") {
            c.publishers = v.max(1);
        }
        if let Some(v) = b("new_lock_record") {
            c.lock_record = v;
        }
        if let Some(v) = s("new_rec_dir") {
            c.rec_dir = Some(v);
        }
        if permanent {
            room.permanent = true;
        }
        self.room_changed("edited", &id, permanent, permanent)
    }

    fn destroy(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, SECRET_PARAMS)?;
        let permanent = permanent(body);
        let room = self.room(&id)?;
        let publishers: Vec<HandleId> = room.participants.values().copied().collect();
        let subscribers: Vec<HandleId> = room.subscribers.iter().copied().collect();
        let was_permanent = room.permanent;
        let gone = events::room_event("destroyed", &id, json!({}));
        // As Janus: subscribers hear nothing; what they received just stops (their
        // publishers' PeerConnections close) and no new offer comes.
        for h in &subscribers {
            self.room_destroyed_for_subscriber(*h);
        }
        for h in &publishers {
            self.push(*h, None, &gone, None);
            // Everyone leaves together: no per-publisher notifications to the others.
            if let Some(r) = self.rooms.get_mut(&id) {
                r.participants.clear();
            }
            self.unpublish(*h);
            if let Some(s) = self.sessions.get_mut(h) {
                s.role = crate::room::Role::Idle;
            }
            self.host.close_pc(*h);
        }
        self.rooms.remove(&id);
        self.host.info(&format!("room {id} destroyed"));
        self.room_changed("destroyed", &id, permanent, permanent && was_permanent)
    }

    fn exists(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.room_id(body)?;
        let exists = self.rooms.contains_key(&id);
        Ok(events::room_event(
            "success",
            &id,
            json!({"exists": exists}),
        ))
    }

    fn list(&mut self, body: &Body) -> VrResult<Value> {
        validate(body, &[Param::optional("admin_key", ParamKind::String)])?;
        let admin = self
            .settings
            .admin_key
            .as_deref()
            .is_some_and(|k| body.get("admin_key").and_then(Value::as_str) == Some(k));
        let list: Vec<Value> = self
            .rooms
            .values()
            .filter(|r| admin || !r.cfg.is_private)
            .map(|r| {
                r.cfg
                    .list_entry(&r.id, r.participants.len(), r.check_allowed)
            })
            .collect();
        Ok(events::plain("success", json!({"list": list})))
    }

    fn list_participants(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.room_id(body)?;
        let room = self.room(&id)?;
        let participants: Vec<Value> = room
            .participants
            .values()
            .filter_map(|h| self.sessions.get(h)?.publisher())
            .map(|p| {
                let mut m = Map::new();
                m.insert("id".into(), p.id.to_json());
                if let Some(d) = &p.display {
                    m.insert("display".into(), json!(d));
                }
                m.insert("publisher".into(), json!(p.publishing));
                if p.streams
                    .iter()
                    .any(|s| s.kind == StreamKind::Audio && s.audio_level)
                {
                    m.insert("talking".into(), json!(p.talking));
                }
                Value::Object(m)
            })
            .collect();
        Ok(events::room_event(
            "participants",
            &id,
            json!({"participants": participants}),
        ))
    }

    fn allowed(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, ALLOWED_PARAMS)?;
        let action = body["action"].as_str().unwrap_or_default();
        let tokens = match body.get("allowed") {
            Some(v) => Some(string_list(v, "allowed")?),
            None => None,
        };
        if !matches!(action, "enable" | "disable" | "add" | "remove") {
            return Err(err(
                INVALID_ELEMENT,
                format!("Unsupported action '{action}' (allowed)"),
            ));
        }
        if matches!(action, "add" | "remove") && tokens.is_none() {
            return Err(err(MISSING_ELEMENT, "Missing mandatory element (allowed)"));
        }
        let room = self.room_mut(&id)?;
        match action {
            "enable" => room.check_allowed = true,
            "disable" => room.check_allowed = false,
            "add" => room.allowed.extend(tokens.unwrap_or_default()),
            _ => {
                for t in tokens.unwrap_or_default() {
                    room.allowed.remove(&t);
                }
            }
        }
        let mut reply = events::room_event("success", &id, json!({}));
        if room.check_allowed {
            reply["allowed"] = Value::Array(room.allowed.iter().map(|t| json!(t)).collect());
        }
        Ok(reply)
    }

    /// The participant `id` of the room, or 428.
    fn participant(&self, room: &Id, body: &Body) -> VrResult<(Id, HandleId)> {
        let pid = required_id(body, "id", self.settings.string_ids)?;
        let h = self
            .room(room)?
            .participants
            .get(&pid)
            .copied()
            .ok_or_else(|| err(NO_SUCH_FEED, format!("No such user {pid} in room {room}")))?;
        Ok((pid, h))
    }

    fn kick(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, SECRET_PARAMS)?;
        let (_, h) = self.participant(&id, body)?;
        let ev = events::event(&id, json!({"leaving": "ok", "reason": "kicked"}));
        self.push(h, None, &ev, None);
        self.publisher_gone(h, Some(()));
        self.host.close_pc(h);
        Ok(events::plain("success", json!({})))
    }

    fn moderate(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, MODERATE_PARAMS)?;
        let (pid, h) = self.participant(&id, body)?;
        let mid = body["mid"].as_str().unwrap_or_default().to_owned();
        let mute = body["mute"].as_bool().unwrap_or(false);
        let p = self
            .sessions
            .get_mut(&h)
            .and_then(|s| s.publisher_mut())
            .ok_or_else(|| err(NO_SUCH_FEED, format!("No such user {pid} in room {id}")))?;
        let s = p
            .streams
            .iter_mut()
            .find(|s| s.mid == mid)
            .ok_or_else(|| err(NO_SUCH_FEED, format!("No such stream {mid}")))?;
        if s.muted != mute {
            s.muted = mute;
            self.refresh_feed_routes(h);
            let ev = events::event(
                &id,
                json!({"id": pid.to_json(), "mid": mid, "moderation": if mute {"muted"} else {"unmuted"}}),
            );
            self.notify_participants(&id, &ev, None);
        }
        Ok(events::plain("success", json!({})))
    }

    fn list_forwarders(&mut self, body: &Body) -> VrResult<Value> {
        let id = self.managed_room(body, SECRET_PARAMS)?;
        let room = self.room(&id)?;
        let publishers: Vec<Value> = room
            .participants
            .values()
            .filter_map(|h| self.sessions.get(h)?.publisher())
            .filter(|p| !p.forwarders.is_empty())
            .map(|p| {
                let mut m = Map::new();
                m.insert("publisher_id".into(), p.id.to_json());
                if let Some(d) = &p.display {
                    m.insert("display".into(), json!(d));
                }
                m.insert(
                    "forwarders".into(),
                    Value::Array(p.forwarders.iter().map(events::forwarder).collect()),
                );
                Value::Object(m)
            })
            .collect();
        Ok(events::room_event(
            "forwarders",
            &id,
            json!({"publishers": publishers}),
        ))
    }

    fn check_forward_rights(&self, body: &Body) -> VrResult<Id> {
        let id = self.room_id(body)?;
        let _ = self.room(&id)?;
        if self.settings.lock_rtp_forward {
            check_secret(self.settings.admin_key.as_deref(), body, "admin_key")?;
        }
        self.room_with_secret(body)
    }

    fn rtp_forward(&mut self, body: &Body) -> VrResult<Value> {
        // Janus's order: the request's elements (host first), the room, the publisher.
        let string_ids = self.settings.string_ids;
        validate(body, RTP_FORWARD_PARAMS)?;
        let _ = self.room_id(body)?;
        let pub_id = required_id(body, "publisher_id", string_ids)?;
        let id = self.check_forward_rights(body)?;
        if body.contains_key("srtp_suite") || body.contains_key("srtp_crypto") {
            return Err(err(
                INVALID_ELEMENT,
                "SRTP forwarders are not supported by this gateway (srtp_suite/srtp_crypto)",
            ));
        }
        if body.contains_key("data_port") {
            return Err(err(
                INVALID_ELEMENT,
                "Data forwarders are not supported by this gateway (data_port)",
            ));
        }
        let (h, p) = self
            .find_publisher(&id, &pub_id)
            .ok_or_else(|| no_such_feed(&pub_id))?;
        if !p.negotiated {
            return Err(no_such_feed(&pub_id));
        }
        let host = body.get("host").and_then(Value::as_str).map(str::to_owned);
        let mut skipped = Vec::new();
        let mut plans = Vec::new();
        if let Some(list) = body.get("streams").and_then(Value::as_array) {
            for e in list {
                let e = e.as_object().ok_or_else(|| {
                    err(
                        INVALID_ELEMENT,
                        "Invalid element type (streams should be an array of objects)",
                    )
                })?;
                validate(e, FORWARD_STREAM_PARAMS)?;
                let mid = e["mid"].as_str().unwrap_or_default();
                let Some(s) = p.stream(mid) else {
                    // Janus skips unknown mids with a warning.
                    skipped.push(mid.to_owned());
                    continue;
                };
                if s.kind == StreamKind::Data {
                    return Err(err(
                        INVALID_ELEMENT,
                        "Data forwarders are not supported by this gateway",
                    ));
                }
                let host = e
                    .get("host")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| host.clone())
                    .ok_or_else(|| err(MISSING_ELEMENT, "Missing mandatory element (host)"))?;
                let whole =
                    !s.simulcast || e.get("simulcast").and_then(Value::as_bool) == Some(true);
                plans.extend(layer_plans(e, "", mid, s.kind, &host, whole)?);
            }
        } else {
            // The deprecated flat form: the first audio and the first video stream.
            let host =
                host.ok_or_else(|| err(MISSING_ELEMENT, "Missing mandatory element (host)"))?;
            let simulcast = body.get("simulcast").and_then(Value::as_bool) == Some(true);
            let first = |k: StreamKind| p.streams.iter().find(|s| s.kind == k && !s.disabled);
            // A bad audio_port is an error even without an audio stream.
            if port_of(body, "audio_port")?.is_some()
                && let Some(s) = first(StreamKind::Audio)
            {
                plans.extend(layer_plans(body, "audio_", &s.mid, s.kind, &host, true)?);
            }
            if let Some(s) = first(StreamKind::Video) {
                let whole = !s.simulcast || simulcast;
                plans.extend(layer_plans(body, "video_", &s.mid, s.kind, &host, whole)?);
            }
        }
        for mid in skipped {
            self.host
                .warn(&format!("rtp_forward: no stream with mid '{mid}', skipped"));
        }
        if plans.is_empty() {
            return Err(err(
                MISSING_ELEMENT,
                "Missing mandatory element (streams, or audio_port/video_port)",
            ));
        }
        let mut added: Vec<Forwarder> = Vec::new();
        for plan in plans {
            let fwd = RtpForward {
                source: MediaRef::new(h, plan.mid.clone()),
                host: plan.host.clone(),
                port: plan.port,
                ssrc: plan.ssrc,
                pt: plan.pt,
                substream: plan.substream,
                rtcp_port: plan.rtcp_port,
            };
            match self.host.rtp_forward_add(&fwd) {
                Ok(fid) => added.push(Forwarder {
                    id: fid,
                    mid: plan.mid,
                    kind: plan.kind,
                    host: plan.host,
                    port: plan.port,
                    rtcp_port: plan.rtcp_port,
                    ssrc: plan.ssrc,
                    pt: plan.pt,
                    substream: plan.substream,
                }),
                Err(e) => {
                    // All or nothing: undo the ones that started.
                    for f in &added {
                        self.host.rtp_forward_remove(f.id);
                    }
                    return Err(if e.contains("resolve") {
                        err(
                            INVALID_ELEMENT,
                            format!("Could not resolve address ({})...", plan.host),
                        )
                    } else {
                        err(
                            UNKNOWN_ERROR,
                            format!("Error forwarding mid {}: {e}", plan.mid),
                        )
                    });
                }
            }
        }
        let list: Vec<Value> = added.iter().map(events::forwarder).collect();
        if let Some(p) = self.sessions.get_mut(&h).and_then(|s| s.publisher_mut()) {
            p.forwarders.extend(added);
        }
        Ok(events::room_event(
            "rtp_forward",
            &id,
            json!({"publisher_id": pub_id.to_json(), "forwarders": list}),
        ))
    }

    fn stop_rtp_forward(&mut self, body: &Body) -> VrResult<Value> {
        let string_ids = self.settings.string_ids;
        let _ = self.room_id(body)?;
        let pub_id = required_id(body, "publisher_id", string_ids)?;
        validate(
            body,
            &[
                Param::required("stream_id", ParamKind::PositiveInteger),
                Param::optional("secret", ParamKind::String),
                Param::optional("admin_key", ParamKind::String),
            ],
        )?;
        let id = self.check_forward_rights(body)?;
        let stream_id = body["stream_id"].as_u64().unwrap_or_default();
        let (h, _) = self
            .find_publisher(&id, &pub_id)
            .ok_or_else(|| no_such_feed(&pub_id))?;
        let p = self
            .sessions
            .get_mut(&h)
            .and_then(|s| s.publisher_mut())
            .ok_or_else(|| no_such_feed(&pub_id))?;
        let pos = p
            .forwarders
            .iter()
            .position(|f| f.id == stream_id)
            .ok_or_else(|| err(NO_SUCH_FEED, format!("No such stream ({stream_id})")))?;
        let f = p.forwarders.remove(pos);
        self.host.rtp_forward_remove(f.id);
        Ok(events::room_event(
            "stop_rtp_forward",
            &id,
            json!({"publisher_id": pub_id.to_json(), "stream_id": stream_id}),
        ))
    }

    fn enable_recording(&mut self, body: &Body) -> VrResult<Value> {
        let _ = self.managed_room(
            body,
            &[
                Param::optional("secret", ParamKind::String),
                Param::required("record", ParamKind::Bool),
            ],
        )?;
        if body["record"].as_bool() == Some(true) {
            return Err(err(
                UNKNOWN_ERROR,
                "Recording is not supported by this gateway (record must be false)",
            ));
        }
        Ok(events::plain("success", json!({"record": false})))
    }
}
