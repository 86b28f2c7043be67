//! The plugin's settings (config.toml `[plugins."janus.plugin.videoroom"]`) and a room's
//! settings, which come from the same section (`rooms` tables) or from a `create` request,
//! with the same names and defaults as Janus's `room-<id>` entries.

use portunus_plugin_sdk::janus::{Param, ParamKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{INVALID_ELEMENT, VrResult, err, validate};
use portunus_plugin_sdk::ids::Id;

pub const AUDIO_CODECS: &[&str] = &["opus", "g722", "pcmu", "pcma", "isac32", "isac16"];
pub const VIDEO_CODECS: &[&str] = &["vp8", "vp9", "h264", "av1", "h265"];
/// Janus keeps at most this many codecs per room list.
const MAX_CODECS: usize = 5;

/// Plugin-wide settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Required on `create` (and on `rtp_forward` when `lock_rtp_forward`).
    pub admin_key: Option<String>,
    /// Room and participant ids are strings instead of integers.
    pub string_ids: bool,
    /// `rtp_forward` / `stop_rtp_forward` need the `admin_key` too.
    pub lock_rtp_forward: bool,
    /// Keys of the section this plugin does not know, written back unchanged by `save_config`.
    pub extra: Map<String, Value>,
}

const SETTINGS_KEYS: &[&str] = &["admin_key", "string_ids", "lock_rtp_forward", "rooms"];

impl Settings {
    /// Reads the section; returns the settings and the room tables.
    pub fn from_json(config: &Value) -> Result<(Settings, Vec<Map<String, Value>>), String> {
        let section = match config {
            Value::Null => return Ok((Settings::default(), Vec::new())),
            Value::Object(m) => m,
            _ => return Err("the videoroom settings must be a table".into()),
        };
        let str_opt = |k: &str| -> Result<Option<String>, String> {
            match section.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("videoroom setting `{k}` must be a string")),
            }
        };
        let bool_opt = |k: &str| -> Result<bool, String> {
            match section.get(k) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("videoroom setting `{k}` must be true or false")),
            }
        };
        let settings = Settings {
            admin_key: str_opt("admin_key")?.filter(|k| !k.is_empty()),
            string_ids: bool_opt("string_ids")?,
            lock_rtp_forward: bool_opt("lock_rtp_forward")?,
            extra: section
                .iter()
                .filter(|(k, _)| !SETTINGS_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let rooms = match section.get("rooms") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    r.as_object()
                        .cloned()
                        .ok_or_else(|| format!("videoroom rooms[{i}] must be a table"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("videoroom setting `rooms` must be an array of tables".into()),
        };
        Ok((settings, rooms))
    }

    /// The section as `save_config` writes it: these settings plus `rooms`.
    pub fn to_json(&self, rooms: Vec<Value>) -> Value {
        let mut m = self.extra.clone();
        if let Some(k) = &self.admin_key {
            m.insert("admin_key".into(), json!(k));
        }
        m.insert("string_ids".into(), json!(self.string_ids));
        m.insert("lock_rtp_forward".into(), json!(self.lock_rtp_forward));
        m.insert("rooms".into(), Value::Array(rooms));
        Value::Object(m)
    }
}

/// One room's settings, Janus names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomConfig {
    pub description: String,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub require_pvtid: bool,
    pub signed_tokens: bool,
    /// Maximum number of concurrent publishers.
    pub publishers: u32,
    /// REMB cap for publishers, bit/s; 0 = none.
    pub bitrate: u32,
    /// Publishers may not raise their bitrate above `bitrate`.
    pub bitrate_cap: bool,
    /// Seconds between keyframe requests to publishers; 0 = never.
    pub fir_freq: u32,
    pub audiocodec: Vec<String>,
    pub videocodec: Vec<String>,
    pub vp9_profile: Option<String>,
    pub h264_profile: Option<String>,
    pub opus_fec: bool,
    pub opus_dtx: bool,
    pub video_svc: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    pub audio_active_packets: u32,
    pub audio_level_average: u8,
    pub videoorient_ext: bool,
    pub playoutdelay_ext: bool,
    pub transport_wide_cc_ext: bool,
    pub record: bool,
    pub rec_dir: Option<String>,
    pub lock_record: bool,
    pub notify_joining: bool,
    pub require_e2ee: bool,
    pub dummy_publisher: bool,
    /// portunus extension: routes drop to a lower simulcast/SVC layer when a subscriber's
    /// bandwidth estimate cannot carry the chosen one, and go back up when it recovers.
    pub auto_layer: bool,
}

impl Default for RoomConfig {
    fn default() -> RoomConfig {
        RoomConfig {
            description: String::new(),
            is_private: false,
            secret: None,
            pin: None,
            require_pvtid: false,
            signed_tokens: false,
            publishers: 3,
            bitrate: 0,
            bitrate_cap: false,
            fir_freq: 0,
            audiocodec: vec!["opus".into()],
            videocodec: vec!["vp8".into()],
            vp9_profile: None,
            h264_profile: None,
            opus_fec: true,
            opus_dtx: false,
            video_svc: false,
            audiolevel_ext: true,
            audiolevel_event: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            videoorient_ext: true,
            playoutdelay_ext: true,
            transport_wide_cc_ext: true,
            record: false,
            rec_dir: None,
            lock_record: false,
            notify_joining: false,
            require_e2ee: false,
            dummy_publisher: false,
            auto_layer: false,
        }
    }
}

/// The room settings a `create` request (and a config room table) may carry.
pub const ROOM_PARAMS: &[Param] = &[
    Param::optional("description", ParamKind::String),
    Param::optional("is_private", ParamKind::Bool),
    Param::optional("allowed", ParamKind::Array),
    Param::optional("secret", ParamKind::String),
    Param::optional("pin", ParamKind::String),
    Param::optional("require_pvtid", ParamKind::Bool),
    Param::optional("signed_tokens", ParamKind::Bool),
    Param::optional("bitrate", ParamKind::PositiveInteger),
    Param::optional("bitrate_cap", ParamKind::Bool),
    Param::optional("fir_freq", ParamKind::PositiveInteger),
    Param::optional("publishers", ParamKind::PositiveInteger),
    Param::optional("audiocodec", ParamKind::String),
    Param::optional("videocodec", ParamKind::String),
    Param::optional("vp9_profile", ParamKind::String),
    Param::optional("h264_profile", ParamKind::String),
    Param::optional("opus_fec", ParamKind::Bool),
    Param::optional("opus_dtx", ParamKind::Bool),
    Param::optional("video_svc", ParamKind::Bool),
    Param::optional("audiolevel_ext", ParamKind::Bool),
    Param::optional("audiolevel_event", ParamKind::Bool),
    Param::optional("audio_active_packets", ParamKind::PositiveInteger),
    Param::optional("audio_level_average", ParamKind::PositiveInteger),
    Param::optional("videoorient_ext", ParamKind::Bool),
    Param::optional("playoutdelay_ext", ParamKind::Bool),
    Param::optional("transport_wide_cc_ext", ParamKind::Bool),
    Param::optional("record", ParamKind::Bool),
    Param::optional("rec_dir", ParamKind::String),
    Param::optional("lock_record", ParamKind::Bool),
    Param::optional("permanent", ParamKind::Bool),
    Param::optional("notify_joining", ParamKind::Bool),
    Param::optional("require_e2ee", ParamKind::Bool),
    Param::optional("dummy_publisher", ParamKind::Bool),
    Param::optional("dummy_streams", ParamKind::Array),
    Param::optional("auto_layer", ParamKind::Bool),
];

fn u32_of(v: &Value) -> u32 {
    v.as_u64()
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A comma list of codec names, lower case, in order; like Janus, only the first five count
/// and an unknown (or empty) name among them refuses the whole list (returned as the error).
pub fn codec_list(text: &str, known: &[&str]) -> Result<Vec<String>, String> {
    let mut list = Vec::new();
    for name in text
        .split(',')
        .take(MAX_CODECS)
        .map(|s| s.trim().to_ascii_lowercase())
    {
        if !known.contains(&name.as_str()) {
            return Err(name);
        }
        if !list.contains(&name) {
            list.push(name);
        }
    }
    Ok(list)
}

impl RoomConfig {
    /// Builds a room's settings from a `create` body or a config table (already validated
    /// against [`ROOM_PARAMS`]). Returns warnings for what was ignored.
    pub fn from_body(body: &Map<String, Value>) -> VrResult<(RoomConfig, Vec<String>)> {
        validate(body, ROOM_PARAMS)?;
        let mut c = RoomConfig::default();
        let mut warnings = Vec::new();
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let b = |k: &str, d: bool| body.get(k).and_then(Value::as_bool).unwrap_or(d);
        if let Some(d) = s("description") {
            c.description = d;
        }
        c.is_private = b("is_private", false);
        c.secret = s("secret").filter(|x| !x.is_empty());
        c.pin = s("pin").filter(|x| !x.is_empty());
        c.require_pvtid = b("require_pvtid", false);
        c.signed_tokens = b("signed_tokens", false);
        if let Some(v) = body.get("publishers") {
            c.publishers = u32_of(v).max(1);
        }
        if let Some(v) = body.get("bitrate") {
            c.bitrate = u32_of(v);
            if c.bitrate > 0 && c.bitrate < 64000 {
                // Janus raises tiny caps to 64 kbit/s too.
                c.bitrate = 64000;
            }
        }
        c.bitrate_cap = b("bitrate_cap", false);
        if let Some(v) = body.get("fir_freq") {
            c.fir_freq = u32_of(v);
        }
        if let Some(text) = s("audiocodec") {
            c.audiocodec = codec_list(&text, AUDIO_CODECS).map_err(|_| {
                err(
                    INVALID_ELEMENT,
                    "Invalid element (audiocodec can only be or contain opus, isac32, isac16, pcmu, pcma or g722)",
                )
            })?;
        }
        if let Some(text) = s("videocodec") {
            c.videocodec = codec_list(&text, VIDEO_CODECS).map_err(|_| {
                err(
                    INVALID_ELEMENT,
                    "Invalid element (videocodec can only be or contain vp8, vp9, av1, h264 or h265)",
                )
            })?;
        }
        c.vp9_profile = s("vp9_profile");
        c.h264_profile = s("h264_profile");
        c.opus_fec = b("opus_fec", true);
        c.opus_dtx = b("opus_dtx", false);
        c.video_svc = b("video_svc", false);
        if c.video_svc && !c.videocodec.iter().any(|v| v == "vp9" || v == "av1") {
            warnings.push("video_svc needs vp9 or av1 as a video codec: disabled".into());
            c.video_svc = false;
        }
        c.audiolevel_ext = b("audiolevel_ext", true);
        c.audiolevel_event = b("audiolevel_event", false);
        if let Some(v) = body.get("audio_active_packets") {
            c.audio_active_packets = u32_of(v).max(1);
        }
        if let Some(v) = body.get("audio_level_average") {
            c.audio_level_average = u8::try_from(u32_of(v).min(127)).unwrap_or(127);
        }
        c.videoorient_ext = b("videoorient_ext", true);
        c.playoutdelay_ext = b("playoutdelay_ext", true);
        c.transport_wide_cc_ext = b("transport_wide_cc_ext", true);
        c.record = b("record", false);
        c.rec_dir = s("rec_dir");
        c.lock_record = b("lock_record", false);
        c.notify_joining = b("notify_joining", false);
        c.require_e2ee = b("require_e2ee", false);
        c.dummy_publisher = b("dummy_publisher", false);
        c.auto_layer = b("auto_layer", false);
        Ok((c, warnings))
    }

    /// The settings as a config table / create body (None values left out: TOML has no null).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("description".into(), json!(self.description));
        m.insert("is_private".into(), json!(self.is_private));
        for (k, v) in [
            ("secret", &self.secret),
            ("pin", &self.pin),
            ("vp9_profile", &self.vp9_profile),
            ("h264_profile", &self.h264_profile),
            ("rec_dir", &self.rec_dir),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        m.insert("require_pvtid".into(), json!(self.require_pvtid));
        m.insert("signed_tokens".into(), json!(self.signed_tokens));
        m.insert("publishers".into(), json!(self.publishers));
        m.insert("bitrate".into(), json!(self.bitrate));
        m.insert("bitrate_cap".into(), json!(self.bitrate_cap));
        m.insert("fir_freq".into(), json!(self.fir_freq));
        m.insert("audiocodec".into(), json!(self.audiocodec.join(",")));
        m.insert("videocodec".into(), json!(self.videocodec.join(",")));
        m.insert("opus_fec".into(), json!(self.opus_fec));
        m.insert("opus_dtx".into(), json!(self.opus_dtx));
        m.insert("video_svc".into(), json!(self.video_svc));
        m.insert("audiolevel_ext".into(), json!(self.audiolevel_ext));
        m.insert("audiolevel_event".into(), json!(self.audiolevel_event));
        m.insert(
            "audio_active_packets".into(),
            json!(self.audio_active_packets),
        );
        m.insert(
            "audio_level_average".into(),
            json!(self.audio_level_average),
        );
        m.insert("videoorient_ext".into(), json!(self.videoorient_ext));
        m.insert("playoutdelay_ext".into(), json!(self.playoutdelay_ext));
        m.insert(
            "transport_wide_cc_ext".into(),
            json!(self.transport_wide_cc_ext),
        );
        m.insert("record".into(), json!(self.record));
        m.insert("lock_record".into(), json!(self.lock_record));
        m.insert("notify_joining".into(), json!(self.notify_joining));
        m.insert("require_e2ee".into(), json!(self.require_e2ee));
        m.insert("dummy_publisher".into(), json!(self.dummy_publisher));
        m.insert("auto_layer".into(), json!(self.auto_layer));
        m
    }

    /// This room's entry of a `list` reply (Janus's keys and conditions).
    pub fn list_entry(&self, room: &Id, num_participants: usize, allowed: bool) -> Value {
        let _ = allowed;
        let mut m = Map::new();
        m.insert("room".into(), room.to_json());
        m.insert("description".into(), json!(self.description));
        m.insert("pin_required".into(), json!(self.pin.is_some()));
        m.insert("is_private".into(), json!(self.is_private));
        m.insert("max_publishers".into(), json!(self.publishers));
        m.insert("bitrate".into(), json!(self.bitrate));
        if self.bitrate_cap {
            m.insert("bitrate_cap".into(), json!(true));
        }
        m.insert("fir_freq".into(), json!(self.fir_freq));
        m.insert("require_pvtid".into(), json!(self.require_pvtid));
        m.insert("require_e2ee".into(), json!(self.require_e2ee));
        m.insert("dummy_publisher".into(), json!(self.dummy_publisher));
        m.insert("notify_joining".into(), json!(self.notify_joining));
        m.insert("audiocodec".into(), json!(self.audiocodec.join(",")));
        m.insert("videocodec".into(), json!(self.videocodec.join(",")));
        if self.audiocodec.iter().any(|c| c == "opus") {
            m.insert("opus_fec".into(), json!(self.opus_fec));
            if self.opus_dtx {
                m.insert("opus_dtx".into(), json!(true));
            }
        }
        if self.video_svc {
            m.insert("video_svc".into(), json!(true));
        }
        m.insert("record".into(), json!(self.record));
        if let Some(d) = &self.rec_dir {
            m.insert("rec_dir".into(), json!(d));
        }
        m.insert("lock_record".into(), json!(self.lock_record));
        m.insert("num_participants".into(), json!(num_participants));
        m.insert("audiolevel_ext".into(), json!(self.audiolevel_ext));
        m.insert("audiolevel_event".into(), json!(self.audiolevel_event));
        if self.audiolevel_event {
            m.insert(
                "audio_active_packets".into(),
                json!(self.audio_active_packets),
            );
            m.insert(
                "audio_level_average".into(),
                json!(self.audio_level_average),
            );
        }
        m.insert("videoorient_ext".into(), json!(self.videoorient_ext));
        m.insert("playoutdelay_ext".into(), json!(self.playoutdelay_ext));
        m.insert(
            "transport_wide_cc_ext".into(),
            json!(self.transport_wide_cc_ext),
        );
        if self.auto_layer {
            m.insert("auto_layer".into(), json!(true));
        }
        Value::Object(m)
    }
}

/// Reads a list of token strings (`allowed`); non-strings are a 430.
pub fn string_list(v: &Value, name: &str) -> VrResult<Vec<String>> {
    let Some(a) = v.as_array() else {
        return Err(err(
            INVALID_ELEMENT,
            format!("Invalid element type ({name} should be an array)"),
        ));
    };
    a.iter()
        .map(|t| {
            t.as_str().map(str::to_owned).ok_or_else(|| {
                err(
                    INVALID_ELEMENT,
                    format!("Invalid element in the {name} array (not a string)"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_janus_defaults() {
        let (c, w) = RoomConfig::from_body(&Map::new()).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.publishers, 3);
        assert_eq!(c.audiocodec, ["opus"]);
        assert_eq!(c.videocodec, ["vp8"]);
        assert!(c.opus_fec && c.audiolevel_ext && !c.audiolevel_event);
        assert_eq!((c.audio_active_packets, c.audio_level_average), (100, 25));
    }

    #[test]
    fn codec_lists_keep_order_and_refuse_unknown() {
        let body = json!({"videocodec": "VP9, h264,vp9", "audiocodec": "pcmu,opus"});
        let (c, _) = RoomConfig::from_body(body.as_object().unwrap()).unwrap();
        assert_eq!(c.videocodec, ["vp9", "h264"]);
        assert_eq!(c.audiocodec, ["pcmu", "opus"]);
        let body = json!({"videocodec": "vp8,foo"});
        let e = RoomConfig::from_body(body.as_object().unwrap()).unwrap_err();
        assert_eq!(e.code, INVALID_ELEMENT);
        assert!(
            e.message
                .starts_with("Invalid element (videocodec can only be")
        );
        let body = json!({"audiocodec": ""});
        assert!(RoomConfig::from_body(body.as_object().unwrap()).is_err());
    }

    #[test]
    fn bad_types_are_430() {
        let body = json!({"publishers": "six"});
        let e = RoomConfig::from_body(body.as_object().unwrap()).unwrap_err();
        assert_eq!(e.code, INVALID_ELEMENT);
        assert_eq!(
            e.message,
            "Invalid element type (publishers should be a positive integer)"
        );
    }

    #[test]
    fn round_trip_through_config() {
        let body = json!({"description": "x", "secret": "s", "bitrate": 128000, "videocodec": "vp9", "video_svc": true});
        let (c, _) = RoomConfig::from_body(body.as_object().unwrap()).unwrap();
        let (c2, _) = RoomConfig::from_body(&c.to_json()).unwrap();
        assert_eq!(c, c2);
        assert!(c2.video_svc);
    }

    #[test]
    fn settings_section() {
        let (s, rooms) = Settings::from_json(&json!({
            "string_ids": false, "admin_key": "k", "rooms": [{"room": 1234}], "other": 1
        }))
        .unwrap();
        assert_eq!(s.admin_key.as_deref(), Some("k"));
        assert_eq!(rooms.len(), 1);
        assert_eq!(s.to_json(vec![])["other"], json!(1));
        assert!(Settings::from_json(&json!({"rooms": 3})).is_err());
        assert!(Settings::from_json(&json!({"string_ids": "yes"})).is_err());
    }
}
