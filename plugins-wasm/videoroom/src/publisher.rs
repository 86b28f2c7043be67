//! Publishers: join, publish / configure (answering the client's offer with the room's
//! codecs), unpublish, leave, and what follows their media (announcements, REMB cap,
//! periodic keyframes, talk detection, data relay).

use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{AUDIO_CODECS, RoomConfig, VIDEO_CODECS};
use crate::error::*;
use crate::events::{self, publisher_entry};
use crate::room::Role;
use crate::{Request, VideoRoom};
use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamKind {
    Audio,
    Video,
    Data,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Audio => "audio",
            StreamKind::Video => "video",
            StreamKind::Data => "data",
        }
    }

    pub fn media(self) -> Option<MediaKind> {
        match self {
            StreamKind::Audio => Some(MediaKind::Audio),
            StreamKind::Video => Some(MediaKind::Video),
            StreamKind::Data => None,
        }
    }
}

impl From<MediaKind> for StreamKind {
    fn from(k: MediaKind) -> StreamKind {
        match k {
            MediaKind::Audio => StreamKind::Audio,
            MediaKind::Video => StreamKind::Video,
        }
    }
}

/// One published m-line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PubStream {
    pub kind: StreamKind,
    pub mindex: u32,
    pub mid: String,
    /// The codec we kept; none when the m-line was rejected.
    pub codec: Option<String>,
    /// Rejected, or the client does not send on it.
    pub disabled: bool,
    pub description: Option<String>,
    pub simulcast: bool,
    pub svc: bool,
    /// The client sends the audio-level extension (talk detection possible).
    pub audio_level: bool,
    pub fec: bool,
    pub talking: bool,
    /// Muted by a moderator (`moderate`): not forwarded.
    pub muted: bool,
    /// The publisher's own `streams: [{mid, send}]` switch.
    pub send: bool,
}

/// A plain-RTP forwarder of one stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarder {
    pub id: ForwarderId,
    pub mid: String,
    pub kind: StreamKind,
    pub host: String,
    pub port: u16,
    pub rtcp_port: Option<u16>,
    pub ssrc: Option<u32>,
    pub pt: Option<u8>,
    pub substream: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publisher {
    pub room: Id,
    pub id: Id,
    pub private_id: u32,
    pub display: Option<String>,
    pub streams: Vec<PubStream>,
    /// An offer of this publisher was answered (it has streams).
    pub negotiated: bool,
    /// Its PeerConnection is up after that: the room knows it publishes.
    pub publishing: bool,
    /// Janus's deprecated `audio` / `video` / `data` switches of `configure`.
    pub audio_active: bool,
    pub video_active: bool,
    pub data_active: bool,
    /// REMB cap asked by `configure` (0 = none); unset = the room's.
    pub bitrate: Option<u32>,
    pub talking: bool,
    pub audio_active_packets: Option<u32>,
    pub audio_level_average: Option<u8>,
    pub forwarders: Vec<Forwarder>,
    pub e2ee: bool,
}

impl Publisher {
    pub fn new(room: Id, id: Id, private_id: u32, display: Option<String>) -> Publisher {
        Publisher {
            room,
            id,
            private_id,
            display,
            streams: Vec::new(),
            negotiated: false,
            publishing: false,
            audio_active: true,
            video_active: true,
            data_active: true,
            bitrate: None,
            talking: false,
            audio_active_packets: None,
            audio_level_average: None,
            forwarders: Vec::new(),
            e2ee: false,
        }
    }

    pub fn stream(&self, mid: &str) -> Option<&PubStream> {
        self.streams.iter().find(|s| s.mid == mid)
    }

    /// Whether media of this stream is forwarded at all (before subscriber choices).
    pub fn forwards(&self, s: &PubStream) -> bool {
        let kind_on = match s.kind {
            StreamKind::Audio => self.audio_active,
            StreamKind::Video => self.video_active,
            StreamKind::Data => self.data_active,
        };
        kind_on && s.send && !s.muted && !s.disabled
    }

    pub fn has_data(&self) -> bool {
        self.streams.iter().any(|s| s.kind == StreamKind::Data)
    }
}

const JOIN_PARAMS: &[Param] = &[
    Param::optional("display", ParamKind::String),
    Param::optional("token", ParamKind::String),
    Param::optional("audio_active_packets", ParamKind::PositiveInteger),
    Param::optional("audio_level_average", ParamKind::PositiveInteger),
];

const CONFIGURE_PARAMS: &[Param] = &[
    Param::optional("audio", ParamKind::Bool),
    Param::optional("video", ParamKind::Bool),
    Param::optional("data", ParamKind::Bool),
    Param::optional("audiocodec", ParamKind::String),
    Param::optional("videocodec", ParamKind::String),
    Param::optional("bitrate", ParamKind::PositiveInteger),
    Param::optional("keyframe", ParamKind::Bool),
    Param::optional("record", ParamKind::Bool),
    Param::optional("filename", ParamKind::String),
    Param::optional("display", ParamKind::String),
    Param::optional("secret", ParamKind::String),
    Param::optional("audio_active_packets", ParamKind::PositiveInteger),
    Param::optional("audio_level_average", ParamKind::PositiveInteger),
    Param::optional("descriptions", ParamKind::Array),
    Param::optional("streams", ParamKind::Array),
    Param::optional("update", ParamKind::Bool),
    Param::optional("restart", ParamKind::Bool),
];

const STREAM_CONF_PARAMS: &[Param] = &[
    Param::required("mid", ParamKind::String),
    Param::optional("send", ParamKind::Bool),
    Param::optional("keyframe", ParamKind::Bool),
    Param::optional("min_delay", ParamKind::Integer),
    Param::optional("max_delay", ParamKind::Integer),
];

const DESCRIPTION_PARAMS: &[Param] = &[
    Param::required("mid", ParamKind::String),
    Param::required("description", ParamKind::String),
];

/// The application m-line of an SDP: its index and mid.
pub fn data_mline(sdp: &str) -> Option<(u32, String)> {
    let mut index = 0u32;
    let mut app: Option<u32> = None;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            if app.is_some() {
                break;
            }
            if line.starts_with("m=application") {
                app = Some(index);
            }
            index += 1;
        } else if let (Some(i), Some(mid)) = (app, line.strip_prefix("a=mid:")) {
            return Some((i, mid.to_owned()));
        }
    }
    app.map(|i| (i, i.to_string()))
}

/// The answer to a publisher's offer: per m-line the first of the room's codecs (or the
/// forced one) that the client offered, recvonly; m-lines without one are rejected.
pub fn answer_offer(
    cfg: &RoomConfig,
    offer: &JsepIn,
    audiocodec: Option<&str>,
    videocodec: Option<&str>,
    old: &[PubStream],
) -> (AnswerSpec, Vec<PubStream>) {
    let mut media = Vec::with_capacity(offer.media.len());
    let mut streams = Vec::with_capacity(offer.media.len() + 1);
    for line in &offer.media {
        let forced = match line.kind {
            MediaKind::Audio => audiocodec,
            MediaKind::Video => videocodec,
        };
        let room_list = match line.kind {
            MediaKind::Audio => &cfg.audiocodec,
            MediaKind::Video => &cfg.videocodec,
        };
        let codec = match forced {
            Some(f) => line.codecs.iter().find(|c| c.as_str() == f).cloned(),
            None => room_list.iter().find(|c| line.codecs.contains(c)).cloned(),
        };
        let sends = matches!(line.direction, Direction::Sendonly | Direction::Sendrecv);
        media.push(MediaAnswer {
            mid: line.mid.clone(),
            accept: codec.is_some(),
            direction: if codec.is_some() && sends {
                Direction::Recvonly
            } else {
                Direction::Inactive
            },
            codec: codec.clone(),
        });
        let prev = old.iter().find(|s| s.mid == line.mid);
        let video = line.kind == MediaKind::Video;
        streams.push(PubStream {
            kind: line.kind.into(),
            mindex: line.index,
            mid: line.mid.clone(),
            disabled: codec.is_none() || !sends,
            // Janus: simulcast for VP8 and H.264 only.
            simulcast: video
                && line.simulcast_layers > 0
                && matches!(codec.as_deref(), Some("vp8") | Some("h264")),
            svc: video && cfg.video_svc && matches!(codec.as_deref(), Some("vp9") | Some("av1")),
            codec,
            description: prev.and_then(|p| p.description.clone()),
            audio_level: line.kind == MediaKind::Audio && line.audio_level && cfg.audiolevel_ext,
            fec: cfg.opus_fec,
            talking: false,
            muted: prev.is_some_and(|p| p.muted),
            send: prev.is_none_or(|p| p.send),
        });
    }
    if offer.data_channels {
        let (mindex, mid) =
            data_mline(&offer.sdp).unwrap_or((offer.media.len() as u32, "data".to_owned()));
        streams.push(PubStream {
            kind: StreamKind::Data,
            mindex,
            mid,
            codec: None,
            disabled: false,
            description: None,
            simulcast: false,
            svc: false,
            audio_level: false,
            fec: false,
            talking: false,
            muted: false,
            send: true,
        });
    }
    (
        AnswerSpec {
            media,
            data_channels: offer.data_channels,
        },
        streams,
    )
}

/// What to send once a publisher request is done.
enum Done {
    /// `joined` (join / joinandconfigure).
    Joined(Value),
    /// `configured`.
    Configured,
}

impl<H: Host> VideoRoom<H> {
    fn publisher(&self, handle: HandleId) -> Option<&Publisher> {
        self.sessions.get(&handle).and_then(|s| s.publisher())
    }

    fn publisher_mut(&mut self, handle: HandleId) -> Option<&mut Publisher> {
        self.sessions
            .get_mut(&handle)
            .and_then(|s| s.publisher_mut())
    }

    /// The publisher of id `id` in `room`: its handle and state.
    pub fn find_publisher(&self, room: &Id, id: &Id) -> Option<(HandleId, &Publisher)> {
        let h = *self.rooms.get(room)?.participants.get(id)?;
        self.publisher(h).map(|p| (h, p))
    }

    pub(crate) fn join_publisher(&mut self, req: &Request, and_configure: bool) -> VrResult<()> {
        let string_ids = self.settings.string_ids;
        let room_id = required_id(req.body, "room", string_ids)?;
        validate(req.body, JOIN_PARAMS)?;
        if and_configure {
            validate(req.body, CONFIGURE_PARAMS)?;
        }
        let id = optional_id(req.body, "id", string_ids)?.filter(|i| !i.is_empty());
        let room = self.room(&room_id)?;
        check_secret(room.cfg.pin.as_deref(), req.body, "pin")?;
        if room.check_allowed {
            let token = req.body.get("token").and_then(Value::as_str);
            if !token.is_some_and(|t| room.allowed.contains(t)) {
                return Err(err(UNAUTHORIZED, "Unauthorized (not in the allowed list)"));
            }
        }
        if let Some(id) = &id
            && room.participants.contains_key(id)
        {
            return Err(err(ID_EXISTS, format!("User ID {id} already exists")));
        }
        let notify_joining = room.cfg.notify_joining;
        let description = room.cfg.description.clone();
        // The publisher's own talk-detection settings (Janus reports them in `joined`).
        let active_packets = req
            .body
            .get("audio_active_packets")
            .and_then(Value::as_u64)
            .map(|v| u32::try_from(v.max(1)).unwrap_or(u32::MAX));
        let level_average = req
            .body
            .get("audio_level_average")
            .and_then(Value::as_u64)
            .map(|v| u8::try_from(v.min(127)).unwrap_or(127));
        let taken_ids: Vec<Id> = room.participants.keys().cloned().collect();
        let taken_pvt: Vec<u32> = room
            .participants
            .values()
            .filter_map(|h| self.publisher(*h).map(|x| x.private_id))
            .collect();
        let id = match id {
            Some(id) => id,
            None => loop {
                let id = self.ids.new_id(string_ids);
                if !taken_ids.contains(&id) {
                    break id;
                }
            },
        };
        let private_id = loop {
            let p = self.ids.id32();
            if !taken_pvt.contains(&p) {
                break p;
            }
        };
        let display = req
            .body
            .get("display")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Who is there, before we join.
        let mut publishers = Vec::new();
        let mut attendees = Vec::new();
        for h in self.room(&room_id)?.participants.values() {
            if let Some(p) = self.publisher(*h) {
                if p.publishing {
                    publishers.push(publisher_entry(p));
                } else if notify_joining {
                    let mut a = json!({"id": p.id.to_json()});
                    if let Some(d) = &p.display {
                        a["display"] = json!(d);
                    }
                    attendees.push(a);
                }
            }
        }
        self.room_mut(&room_id)?
            .participants
            .insert(id.clone(), req.handle);
        if let Some(s) = self.sessions.get_mut(&req.handle) {
            let mut p = Publisher::new(room_id.clone(), id.clone(), private_id, display.clone());
            p.audio_active_packets = active_packets;
            p.audio_level_average = level_average;
            s.role = Role::Publisher(Box::new(p));
        }
        self.host.info(&format!(
            "handle {}: publisher {id} joined room {room_id}",
            req.handle
        ));
        if notify_joining {
            let mut who = json!({"id": id.to_json()});
            if let Some(d) = &display {
                who["display"] = json!(d);
            }
            let ev = events::event(&room_id, json!({"joining": who}));
            self.notify_participants(&room_id, &ev, Some(req.handle));
        }
        let mut joined = events::room_event(
            "joined",
            &room_id,
            json!({
                "description": description,
                "id": id.to_json(),
                "private_id": private_id,
                "publishers": publishers,
            }),
        );
        if notify_joining {
            joined["attendees"] = Value::Array(attendees);
        }
        if let Some(n) = active_packets {
            joined["audio_active_packets"] = json!(n);
        }
        if let Some(n) = level_average {
            joined["audio_level_average"] = json!(n);
        }
        if and_configure {
            self.publisher_configure(req, false, Done::Joined(joined))
        } else {
            self.push(req.handle, Some(req.transaction), &joined, None);
            Ok(())
        }
    }

    pub(crate) fn configure_publisher(&mut self, req: &Request, publish: bool) -> VrResult<()> {
        self.publisher_configure(req, publish, Done::Configured)
    }

    fn publisher_configure(&mut self, req: &Request, publish: bool, done: Done) -> VrResult<()> {
        let body = req.body;
        validate(body, CONFIGURE_PARAMS)?;
        let handle = req.handle;
        let p = self
            .publisher(handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        let room_id = p.room.clone();
        let negotiated = p.negotiated;
        let room = self.room(&room_id)?;
        let cfg = room.cfg.clone();
        if body.get("record").and_then(Value::as_bool) == Some(true) {
            return Err(err(
                UNKNOWN_ERROR,
                "Recording is not supported by this gateway (record must be false)",
            ));
        }
        if publish && negotiated {
            return Err(err(ALREADY_PUBLISHED, "Can't publish, already published"));
        }
        let offer = match req.jsep {
            None => None,
            Some(j) if j.kind == JsepType::Offer => Some(j),
            Some(_) => {
                return Err(err(INVALID_SDP_TYPE, "Unknown SDP type 'answer'"));
            }
        };
        let forced = |name: &str, list: &[String], known: &[&str]| -> VrResult<Option<String>> {
            let Some(c) = body.get(name).and_then(Value::as_str) else {
                return Ok(None);
            };
            let c = c.to_ascii_lowercase();
            if !known.contains(&c.as_str()) || !list.contains(&c) {
                let what = if name == "audiocodec" {
                    "Audio"
                } else {
                    "Video"
                };
                return Err(err(
                    INVALID_ELEMENT,
                    format!("{what} codec unavailable in this room"),
                ));
            }
            Ok(Some(c))
        };
        // Janus looks at forced codecs only when there is an offer to answer.
        let (audiocodec, videocodec) = if offer.is_some() {
            (
                forced("audiocodec", &cfg.audiocodec, AUDIO_CODECS)?,
                forced("videocodec", &cfg.videocodec, VIDEO_CODECS)?,
            )
        } else {
            (None, None)
        };
        if offer.is_some() && !negotiated {
            let active = room
                .participants
                .values()
                .filter(|h| **h != handle)
                .filter(|h| self.publisher(**h).is_some_and(|p| p.negotiated))
                .count();
            if active >= cfg.publishers as usize {
                return Err(err(
                    PUBLISHERS_FULL,
                    format!(
                        "Maximum number of publishers ({}) already reached",
                        cfg.publishers
                    ),
                ));
            }
        }
        if let Some(o) = offer
            && cfg.require_e2ee
            && !o.e2ee
        {
            return Err(err(INVALID_SDP, "Room requires end-to-end encrypted media"));
        }
        let old_mids: Vec<String> = self
            .publisher(handle)
            .map(|p| p.streams.iter().map(|s| s.mid.clone()).collect())
            .unwrap_or_default();
        let mut stream_confs = Vec::new();
        if let Some(Value::Array(list)) = body.get("streams") {
            for s in list {
                let s = s.as_object().ok_or_else(|| {
                    err(
                        INVALID_ELEMENT,
                        "Invalid element type (streams should be an array of objects)",
                    )
                })?;
                validate(s, STREAM_CONF_PARAMS)?;
                let mid = s["mid"].as_str().unwrap_or_default();
                if !old_mids.iter().any(|m| m == mid) {
                    return Err(err(NO_SUCH_FEED, format!("No such mid '{mid}' published")));
                }
                stream_confs.push(s);
            }
        }
        let mut descriptions = Vec::new();
        if let Some(Value::Array(list)) = body.get("descriptions") {
            for d in list {
                let d = d.as_object().ok_or_else(|| {
                    err(
                        INVALID_ELEMENT,
                        "Invalid element type (descriptions should be an array of objects)",
                    )
                })?;
                validate(d, DESCRIPTION_PARAMS)?;
                descriptions.push((
                    d["mid"].as_str().unwrap_or_default().to_owned(),
                    d["description"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }

        // Validated: apply.
        let mut announce = false;
        let mut keyframe = body.get("keyframe").and_then(Value::as_bool) == Some(true);
        let mut talk_changed = false;
        let display_event;
        let bitrate;
        {
            let p = self
                .publisher_mut(handle)
                .ok_or_else(|| err(UNKNOWN_ERROR, "publisher gone"))?;
            if let Some(v) = body.get("audio").and_then(Value::as_bool) {
                p.audio_active = v;
            }
            if let Some(v) = body.get("video").and_then(Value::as_bool) {
                keyframe |= v && !p.video_active;
                p.video_active = v;
            }
            if let Some(v) = body.get("data").and_then(Value::as_bool) {
                p.data_active = v;
            }
            if let Some(v) = body.get("audio_active_packets").and_then(Value::as_u64) {
                p.audio_active_packets = Some(u32::try_from(v.max(1)).unwrap_or(u32::MAX));
                talk_changed = true;
            }
            if let Some(v) = body.get("audio_level_average").and_then(Value::as_u64) {
                p.audio_level_average = Some(u8::try_from(v.min(127)).unwrap_or(127));
                talk_changed = true;
            }
            // Janus tells the room only when a display name is replaced, not first set.
            display_event = match body.get("display").and_then(Value::as_str) {
                Some(d) => p
                    .display
                    .replace(d.to_owned())
                    .map(|_| json!({"videoroom": "event", "id": p.id.to_json(), "display": d})),
                None => None,
            };
            bitrate = body.get("bitrate").and_then(Value::as_u64).map(|b| {
                let b = u32::try_from(b).unwrap_or(u32::MAX);
                // A room with bitrate_cap keeps its cap whatever the publisher asks.
                if cfg.bitrate_cap && cfg.bitrate > 0 {
                    if b == 0 {
                        cfg.bitrate
                    } else {
                        b.min(cfg.bitrate)
                    }
                } else {
                    b
                }
            });
            if let Some(b) = bitrate {
                p.bitrate = Some(b);
            }
            for (mid, d) in &descriptions {
                if let Some(s) = p.streams.iter_mut().find(|s| &s.mid == mid) {
                    s.description = Some(d.clone());
                    announce = true;
                }
            }
            for s in &stream_confs {
                let mid = s["mid"].as_str().unwrap_or_default();
                if let Some(ps) = p.streams.iter_mut().find(|x| x.mid == mid) {
                    if let Some(send) = s.get("send").and_then(Value::as_bool) {
                        ps.send = send;
                    }
                    if s.get("keyframe").and_then(Value::as_bool) == Some(true) {
                        keyframe = true;
                    }
                }
            }
        }
        if let Some(b) = bitrate
            && self.sessions.get(&handle).is_some_and(|s| s.pc_up)
        {
            // 0 lifts the cap (the demos' "No limit").
            self.host.set_bitrate_cap(handle, b);
        }
        if let Some(ev) = display_event {
            self.notify_participants(&room_id, &ev, Some(handle));
        }
        self.refresh_feed_routes(handle);

        let Some(offer) = offer else {
            if keyframe {
                self.publisher_keyframe(handle);
            }
            if talk_changed {
                self.start_talk_detection(handle);
            }
            if announce {
                self.announce(handle);
            }
            let data = match done {
                Done::Joined(j) => j,
                Done::Configured => events::event(&room_id, json!({"configured": "ok"})),
            };
            self.push(handle, Some(req.transaction), &data, None);
            return Ok(());
        };

        // An offer: answer it with the room's codecs.
        let old = self
            .publisher(handle)
            .map(|p| p.streams.clone())
            .unwrap_or_default();
        let (spec, mut streams) = answer_offer(
            &cfg,
            offer,
            audiocodec.as_deref(),
            videocodec.as_deref(),
            &old,
        );
        for (mid, d) in &descriptions {
            if let Some(s) = streams.iter_mut().find(|s| &s.mid == mid) {
                s.description = Some(d.clone());
            }
        }
        let gone: Vec<String> = old
            .iter()
            .filter(|o| !streams.iter().any(|s| s.mid == o.mid && !s.disabled))
            .map(|o| o.mid.clone())
            .collect();
        let was_publishing;
        let data = {
            let p = self
                .publisher_mut(handle)
                .ok_or_else(|| err(UNKNOWN_ERROR, "publisher gone"))?;
            p.streams = streams;
            p.e2ee = offer.e2ee;
            was_publishing = p.publishing;
            let configured = events::configured_with_streams(&room_id, p);
            match done {
                // Janus adds the codecs and streams of the answer to `joined` too.
                Done::Joined(mut j) => {
                    for k in ["audio_codec", "video_codec", "streams"] {
                        if let Some(v) = configured.get(k) {
                            j[k] = v.clone();
                        }
                    }
                    j
                }
                Done::Configured => configured,
            }
        };
        let jsep = JsepOut::Answer(spec);
        if let Err(e) = self
            .host
            .push_event(handle, Some(req.transaction), &data, Some(&jsep))
        {
            if let Some(p) = self.publisher_mut(handle) {
                p.streams = old;
            }
            return Err(err(INVALID_SDP, format!("Error processing SDP: {e}")));
        }
        if let Some(p) = self.publisher_mut(handle) {
            p.negotiated = true;
        }
        if !gone.is_empty() && was_publishing {
            self.feed_gone(&room_id, handle, Some(&gone));
        }
        if was_publishing {
            // A renegotiation of a live PeerConnection: tell the room what changed.
            self.start_talk_detection(handle);
            self.announce(handle);
            self.refresh_feed_routes(handle);
        } else if self.sessions.get(&handle).is_some_and(|s| s.pc_up) {
            self.publisher_media_up(handle);
        }
        if keyframe {
            self.publisher_keyframe(handle);
        }
        Ok(())
    }

    /// Tells every other participant that `handle` publishes (its current streams).
    fn announce(&mut self, handle: HandleId) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        if !p.publishing {
            return;
        }
        let room = p.room.clone();
        let ev = events::event(&room, json!({"publishers": [publisher_entry(p)]}));
        self.notify_participants(&room, &ev, Some(handle));
    }

    /// The publisher's PeerConnection is up: it now publishes.
    pub(crate) fn publisher_media_up(&mut self, handle: HandleId) {
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        if !p.negotiated || p.publishing {
            return;
        }
        p.publishing = true;
        let (room_id, own_bitrate) = (p.room.clone(), p.bitrate);
        let Ok(room) = self.room(&room_id) else {
            return;
        };
        let (room_bitrate, fir_freq) = (room.cfg.bitrate, room.cfg.fir_freq);
        let cap = own_bitrate.unwrap_or(room_bitrate);
        if cap > 0 {
            self.host.set_bitrate_cap(handle, cap);
        }
        if fir_freq > 0 {
            self.host.set_timer(handle, u64::from(fir_freq) * 1000);
        }
        self.start_talk_detection(handle);
        self.announce(handle);
    }

    /// Talk detection on every audio stream with the audio-level extension, in rooms with
    /// `audiolevel_event`.
    fn start_talk_detection(&mut self, handle: HandleId) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        if !p.publishing {
            return;
        }
        let Ok(room) = self.room(&p.room) else {
            return;
        };
        if !room.cfg.audiolevel_event {
            return;
        }
        let config = TalkDetection {
            active_packets: p
                .audio_active_packets
                .unwrap_or(room.cfg.audio_active_packets),
            level_average: p
                .audio_level_average
                .unwrap_or(room.cfg.audio_level_average),
        };
        let mids: Vec<String> = p
            .streams
            .iter()
            .filter(|s| s.kind == StreamKind::Audio && s.audio_level && !s.disabled)
            .map(|s| s.mid.clone())
            .collect();
        for mid in mids {
            let source = MediaRef::new(handle, mid.clone());
            if let Err(e) = self.host.talk_detect(&source, Some(config)) {
                self.host.warn(&format!(
                    "handle {handle}: no talk detection on mid {mid}: {e}"
                ));
            }
        }
    }

    fn publisher_keyframe(&mut self, handle: HandleId) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        let mids: Vec<String> = p
            .streams
            .iter()
            .filter(|s| s.kind == StreamKind::Video && !s.disabled)
            .map(|s| s.mid.clone())
            .collect();
        for mid in mids {
            self.host.request_keyframe(&MediaRef::new(handle, mid));
        }
    }

    /// `fir_freq`: a keyframe request to every video stream of the publisher, periodically.
    pub(crate) fn fir_timer(&mut self, handle: HandleId) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        if !p.publishing {
            return;
        }
        let fir = self.rooms.get(&p.room).map_or(0, |r| r.cfg.fir_freq);
        if fir == 0 {
            return;
        }
        self.publisher_keyframe(handle);
        self.host.set_timer(handle, u64::from(fir) * 1000);
    }

    pub(crate) fn unpublish_request(&mut self, req: &Request) -> VrResult<()> {
        let p = self
            .publisher(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        // As Janus: "published" means the PeerConnection is up.
        if !p.publishing {
            return Err(err(NOT_PUBLISHED, "Can't unpublish, not published"));
        }
        let room = p.room.clone();
        self.unpublish(req.handle);
        let ev = events::event(&room, json!({"unpublished": "ok"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        self.host.close_pc(req.handle);
        Ok(())
    }

    /// Stops publishing (unpublish, hangup, leave, kick): forwarders, routes of the
    /// subscribers, and the room is told.
    pub(crate) fn unpublish(&mut self, handle: HandleId) {
        self.unpublish_and_tell(handle, true)
    }

    /// [`Self::unpublish`]; `tell` false keeps the others from hearing `unpublished` (a
    /// kicked publisher: they hear `kicked` only, as in Janus).
    fn unpublish_and_tell(&mut self, handle: HandleId, tell: bool) {
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        if !p.negotiated && !p.publishing {
            return;
        }
        let was_publishing = p.publishing;
        p.negotiated = false;
        p.publishing = false;
        p.talking = false;
        p.streams.clear();
        let forwarders = std::mem::take(&mut p.forwarders);
        let (room, id) = (p.room.clone(), p.id.clone());
        for f in forwarders {
            self.host.rtp_forward_remove(f.id);
        }
        self.host.cancel_timer(handle);
        if was_publishing && tell {
            let ev = events::event(&room, json!({"unpublished": id.to_json()}));
            self.notify_participants(&room, &ev, Some(handle));
        }
        self.feed_gone(&room, handle, None);
    }

    pub(crate) fn leave_publisher(&mut self, req: &Request) -> VrResult<()> {
        let room = self
            .publisher(req.handle)
            .map(|p| p.room.clone())
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        self.publisher_gone(req.handle, None);
        // Janus leaves the PeerConnection to the client (it is no longer routed anywhere).
        let ev = events::event(&room, json!({"leaving": "ok"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    /// The publisher leaves its room (leave, detach, kick, room destroyed). `kicked` tells
    /// the others with `kicked` instead of `leaving`.
    pub(crate) fn publisher_gone(&mut self, handle: HandleId, kicked: Option<()>) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        let (room, id) = (p.room.clone(), p.id.clone());
        if kicked.is_some() {
            let ev = events::event(&room, json!({"kicked": id.to_json()}));
            self.notify_participants(&room, &ev, Some(handle));
        }
        self.unpublish_and_tell(handle, kicked.is_none());
        if let Some(r) = self.rooms.get_mut(&room) {
            r.participants.remove(&id);
        }
        if kicked.is_none() {
            let ev = events::event(&room, json!({"leaving": id.to_json()}));
            self.notify_participants(&room, &ev, Some(handle));
        }
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.role = Role::Idle;
            s.kicked = kicked.is_some();
        }
    }

    pub(crate) fn talk_changed(&mut self, c: TalkChange) {
        let handle = c.source.handle;
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        let Some(s) = p.streams.iter_mut().find(|s| s.mid == c.source.mid) else {
            return;
        };
        s.talking = c.talking;
        let mindex = s.mindex;
        p.talking = p.streams.iter().any(|s| s.talking);
        let (room, id) = (p.room.clone(), p.id.clone());
        let ev = events::room_event(
            if c.talking {
                "talking"
            } else {
                "stopped-talking"
            },
            &room,
            json!({
                "id": id.to_json(),
                "mindex": mindex,
                "mid": c.source.mid,
                // Janus reports the level as -dBov (0 = loudest, 127 = silence).
                "audio-level-dBov-avg": -c.level_dbov_avg,
            }),
        );
        self.notify_participants(&room, &ev, None);
    }

    /// A data-channel message of a publisher goes to the subscribers of its data.
    pub fn incoming_data(&mut self, handle: HandleId, message: DataMessage) {
        let Some(p) = self.publisher(handle) else {
            return;
        };
        if !p.publishing || !p.data_active || !p.has_data() {
            return;
        }
        let Some(room) = self.rooms.get(&p.room) else {
            return;
        };
        let targets: Vec<HandleId> = room
            .subscribers
            .iter()
            .copied()
            .filter(|h| {
                self.sessions
                    .get(h)
                    .and_then(|s| s.subscriber())
                    .is_some_and(|sub| sub.receives_data_of(handle))
            })
            .collect();
        for t in targets {
            if let Err(e) = self.host.send_data(t, &message) {
                self.host
                    .debug(&format!("no data relay from {handle} to {t}: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_mline_found() {
        let sdp = "v=0\r\nm=audio 9 x\r\na=mid:0\r\nm=application 9 y\r\na=mid:2\r\n";
        assert_eq!(data_mline(sdp), Some((1, "2".into())));
        assert_eq!(data_mline("v=0\r\nm=audio 9 x\r\na=mid:0\r\n"), None);
    }
}
