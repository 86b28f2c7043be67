//! A mountpoint: its settings, its streams (one plain-RTP input in the core, one UDP port
//! per stream) and who watches it; how `create` (and a config table) describes one, and how
//! `list`, `info` and `created` show it, with Janus 1.1.2's names.

use std::collections::BTreeSet;

use portunus_plugin_sdk::ids::Id;
use portunus_plugin_sdk::janus::{Param, ParamKind};
use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::error::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
        }
    }

    pub fn media(self) -> MediaKind {
        match self {
            Kind::Audio => MediaKind::Audio,
            Kind::Video => MediaKind::Video,
        }
    }
}

/// One stream of an RTP mountpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MpStream {
    pub kind: Kind,
    pub mid: String,
    pub label: String,
    /// "stream track" as configured (Janus shows it only with both parts).
    pub msid: Option<String>,
    pub pt: Option<u8>,
    /// Lower-case codec name ("opus", "vp8", ...).
    pub codec: String,
    pub fmtp: Option<String>,
    /// The port asked for (0 = any free one); the bound one once the input is open.
    pub port: u16,
    pub rtcp_port: Option<u16>,
    pub skew: bool,
    pub bufferkf: bool,
    pub svc: bool,
    /// Media arrives now (`input-media` events).
    pub receiving: bool,
    /// When media was last known to arrive (or the stream was opened), ms since the epoch.
    pub last_media_ms: u64,
}

impl MpStream {
    /// Janus's `age_ms`: how long ago media last arrived. Packets stay in the core, so this
    /// is 0 while the core says media arrives, and from the last packet's time as estimated
    /// when it says media stopped (see `on_media_event`).
    pub fn age_ms(&self, now: u64) -> u64 {
        if self.receiving {
            0
        } else {
            now.saturating_sub(self.last_media_ms)
        }
    }

    /// "<stream> <track>" when both are there.
    fn msid_pair(&self) -> Option<&str> {
        self.msid
            .as_deref()
            .filter(|m| m.split_whitespace().count() == 2)
    }

    /// What the core needs to open this stream.
    pub fn input(&self) -> RtpInputStream {
        let (clock_rate, channels) = clock(&self.codec);
        RtpInputStream {
            mid: self.mid.clone(),
            kind: self.kind.media(),
            codec: self.codec.clone(),
            clock_rate,
            channels,
            pt: self.pt,
            fmtp: self.fmtp.clone(),
            port: self.port,
            rtcp_port: self.rtcp_port,
        }
    }
}

/// A live RTP mountpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mountpoint {
    pub id: Id,
    pub name: String,
    pub description: String,
    pub metadata: Option<String>,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub enabled: bool,
    /// Created with the deprecated audio/video keys (changes the `created` reply).
    pub legacy: bool,
    /// The local address the ports are bound to, when one was configured.
    pub host: Option<String>,
    pub collision: Option<u64>,
    pub threads: Option<u64>,
    pub streams: Vec<MpStream>,
    /// The core's input: the route source of every stream (`media-ref.handle`).
    pub source: HandleId,
    pub viewers: BTreeSet<HandleId>,
}

pub const AUDIO_CODECS: &[&str] = &["opus", "pcmu", "pcma", "g722"];
pub const VIDEO_CODECS: &[&str] = &["vp8", "vp9", "h264", "av1"];

/// RTP clock rate and channels of a codec the core takes.
fn clock(codec: &str) -> (u32, Option<u8>) {
    match codec {
        "opus" => (48000, Some(2)),
        "pcmu" | "pcma" | "g722" => (8000, Some(1)),
        _ => (90000, None),
    }
}

/// The codec named by `codec`, or by a deprecated rtpmap ("opus/48000/2") as Janus reads it.
fn codec_of(body: &Map<String, Value>, codec: &str, rtpmap: &str) -> Option<String> {
    let name = match body.get(codec).and_then(Value::as_str) {
        Some(c) => c,
        None => body.get(rtpmap)?.as_str()?.split('/').next()?,
    };
    Some(name.trim().to_ascii_lowercase())
}

pub const CREATE_PARAMS: &[Param] = &[
    Param::optional("name", ParamKind::String),
    Param::optional("description", ParamKind::String),
    Param::optional("metadata", ParamKind::String),
    Param::optional("is_private", ParamKind::Bool),
    Param::required("type", ParamKind::String),
    Param::optional("secret", ParamKind::String),
    Param::optional("pin", ParamKind::String),
    Param::optional("media", ParamKind::Array),
    Param::optional("permanent", ParamKind::Bool),
    Param::optional("audio", ParamKind::Bool),
    Param::optional("video", ParamKind::Bool),
    Param::optional("data", ParamKind::Bool),
];

const RTP_PARAMS: &[Param] = &[
    Param::optional("collision", ParamKind::PositiveInteger),
    Param::optional("threads", ParamKind::PositiveInteger),
    Param::optional("srtpsuite", ParamKind::PositiveInteger),
    Param::optional("srtpcrypto", ParamKind::String),
    Param::optional("e2ee", ParamKind::Bool),
    Param::optional("playoutdelay_ext", ParamKind::Bool),
];

const MEDIA_PARAMS: &[Param] = &[
    Param::required("type", ParamKind::String),
    Param::required("mid", ParamKind::String),
    Param::optional("label", ParamKind::String),
    Param::optional("msid", ParamKind::String),
    Param::optional("mcast", ParamKind::String),
    Param::optional("iface", ParamKind::String),
    Param::required("port", ParamKind::PositiveInteger),
    Param::optional("rtcpport", ParamKind::PositiveInteger),
    Param::optional("pt", ParamKind::PositiveInteger),
    Param::optional("codec", ParamKind::String),
    Param::optional("rtpmap", ParamKind::String),
    Param::optional("fmtp", ParamKind::String),
    Param::optional("skew", ParamKind::Bool),
    Param::optional("bufferkf", ParamKind::Bool),
    Param::optional("simulcast", ParamKind::Bool),
    Param::optional("port2", ParamKind::PositiveInteger),
    Param::optional("port3", ParamKind::PositiveInteger),
    Param::optional("svc", ParamKind::Bool),
    Param::optional("buffermsg", ParamKind::Bool),
];

const AUDIO_PARAMS: &[Param] = &[
    Param::optional("audiomcast", ParamKind::String),
    Param::required("audioport", ParamKind::PositiveInteger),
    Param::optional("audiortcpport", ParamKind::PositiveInteger),
    Param::required("audiopt", ParamKind::PositiveInteger),
    Param::optional("audiocodec", ParamKind::String),
    Param::optional("audiortpmap", ParamKind::String),
    Param::optional("audiofmtp", ParamKind::String),
    Param::optional("audioiface", ParamKind::String),
    Param::optional("audioskew", ParamKind::Bool),
];

const VIDEO_PARAMS: &[Param] = &[
    Param::optional("videomcast", ParamKind::String),
    Param::required("videoport", ParamKind::PositiveInteger),
    Param::optional("videortcpport", ParamKind::PositiveInteger),
    Param::required("videopt", ParamKind::PositiveInteger),
    Param::optional("videocodec", ParamKind::String),
    Param::optional("videortpmap", ParamKind::String),
    Param::optional("videofmtp", ParamKind::String),
    Param::optional("videobufferkf", ParamKind::Bool),
    Param::optional("videoiface", ParamKind::String),
    Param::optional("videosimulcast", ParamKind::Bool),
    Param::optional("videoport2", ParamKind::PositiveInteger),
    Param::optional("videoport3", ParamKind::PositiveInteger),
    Param::optional("videoskew", ParamKind::Bool),
    Param::optional("videosvc", ParamKind::Bool),
];

/// The media of an RTP mountpoint as a `create` body (or config table) describes it.
#[derive(Debug, Clone)]
pub struct RtpSpec {
    pub streams: Vec<MpStream>,
    pub legacy: bool,
    pub host: Option<String>,
    pub collision: Option<u64>,
    pub threads: Option<u64>,
}

/// Keys of one stream, whichever form they came in (`media` entry or legacy prefix).
struct StreamKeys<'a> {
    body: &'a Map<String, Value>,
    /// "" for a `media` entry, "audio" / "video" for the legacy keys.
    prefix: &'static str,
    /// Janus's text when this stream cannot be made.
    failure: &'static str,
}

impl StreamKeys<'_> {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
    fn get(&self, name: &str) -> Option<&Value> {
        self.body.get(&self.key(name))
    }
    fn str(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(str::to_owned)
    }
    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == &Value::Bool(true))
    }
    fn port(&self, name: &str) -> SResult<Option<u16>> {
        match self.get(name).and_then(Value::as_u64) {
            None => Ok(None),
            Some(p) => u16::try_from(p).map(Some).map_err(|_| {
                err(
                    INVALID_ELEMENT,
                    format!(
                        "Invalid element ({} should be a port number)",
                        self.key(name)
                    ),
                )
            }),
        }
    }

    fn stream(&self, kind: Kind, mid: String, label: String, now: u64) -> SResult<MpStream> {
        let pt = match self.get("pt").and_then(Value::as_u64) {
            None => None,
            Some(p) if p <= 127 => Some(p as u8),
            Some(_) => {
                return Err(err(
                    INVALID_ELEMENT,
                    format!("Invalid element ({} should be at most 127)", self.key("pt")),
                ));
            }
        };
        let (codec_key, rtpmap_key) = (self.key("codec"), self.key("rtpmap"));
        let codec = codec_of(self.body, &codec_key, &rtpmap_key)
            .ok_or_else(|| err(CANT_CREATE, self.failure))?;
        let known = match kind {
            Kind::Audio => AUDIO_CODECS,
            Kind::Video => VIDEO_CODECS,
        };
        if !known.contains(&codec.as_str()) {
            return Err(err(
                CANT_CREATE,
                format!(
                    "{} (unsupported {} codec '{codec}')",
                    self.failure,
                    kind.as_str()
                ),
            ));
        }
        if self.get("mcast").is_some() {
            return Err(err(
                CANT_CREATE,
                format!("{} (multicast is not supported)", self.failure),
            ));
        }
        if kind == Kind::Video && self.flag("simulcast") {
            return Err(err(
                CANT_CREATE,
                format!("{} (simulcast mountpoints are not supported)", self.failure),
            ));
        }
        Ok(MpStream {
            kind,
            mid,
            label,
            msid: self.str("msid"),
            pt,
            fmtp: self.str("fmtp"),
            port: self.port("port")?.unwrap_or(0),
            rtcp_port: self.port("rtcpport")?,
            skew: self.flag("skew"),
            bufferkf: kind == Kind::Video && self.flag("bufferkf"),
            svc: kind == Kind::Video && codec == "vp9" && self.flag("svc"),
            codec,
            receiving: false,
            last_media_ms: now,
        })
    }
}

/// An interface given as an IP literal becomes the bind address; a name cannot be resolved
/// inside the sandbox.
fn iface(value: Option<&Value>, what: &str) -> SResult<Option<String>> {
    let Some(v) = value.and_then(Value::as_str) else {
        return Ok(None);
    };
    let ok = v.parse::<std::net::IpAddr>().is_ok();
    if ok {
        Ok(Some(v.to_owned()))
    } else {
        Err(err(
            CANT_CREATE,
            format!("Invalid network interface configuration for {what}"),
        ))
    }
}

/// Reads the media of a `type: "rtp"` body (after `CREATE_PARAMS` passed).
pub fn parse_rtp(body: &Map<String, Value>, now: u64) -> SResult<RtpSpec> {
    validate(body, RTP_PARAMS)?;
    if body.contains_key("srtpsuite") || body.contains_key("srtpcrypto") {
        let suite = body.get("srtpsuite").and_then(Value::as_u64);
        if suite.is_some_and(|s| s != 32 && s != 80) {
            return Err(err(
                CANT_CREATE,
                "Can't add 'rtp' stream, invalid SRTP suite...",
            ));
        }
        return Err(err(
            CANT_CREATE,
            "Can't add 'rtp' stream, SRTP mountpoints are not supported",
        ));
    }
    let mut streams = Vec::new();
    let mut hosts = Vec::new();
    let legacy = !body.contains_key("media");
    if let Some(media) = body.get("media").and_then(Value::as_array) {
        if media.is_empty() {
            return Err(err(
                CANT_CREATE,
                "Can't add 'rtp' stream, no audio or video have to be streamed...",
            ));
        }
        for m in media {
            let m = m.as_object().ok_or_else(|| {
                err(
                    INVALID_ELEMENT,
                    "Invalid element type (media should be an array of objects)",
                )
            })?;
            validate(m, MEDIA_PARAMS)?;
            let mtype = m.get("type").and_then(Value::as_str).unwrap_or_default();
            let kind = match mtype.to_ascii_lowercase().as_str() {
                "audio" => Kind::Audio,
                "video" => Kind::Video,
                "data" => {
                    return Err(err(
                        CANT_CREATE,
                        "Can't add 'rtp' stream: no datachannels support...",
                    ));
                }
                _ => return Err(err(CANT_CREATE, "Unsupported media type in media stream")),
            };
            let mid = m
                .get("mid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if mid.is_empty() || streams.iter().any(|s: &MpStream| s.mid == mid) {
                return Err(err(
                    CANT_CREATE,
                    format!("Can't add 'rtp' stream, missing or duplicate mid '{mid}'"),
                ));
            }
            let label = m
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or(kind.as_str())
                .to_owned();
            let keys = StreamKeys {
                body: m,
                prefix: "",
                failure: "Can't add 'rtp' stream, error creating data source stream",
            };
            hosts.push(iface(m.get("iface"), "media stream")?);
            streams.push(keys.stream(kind, mid, label, now)?);
        }
    } else {
        let on = |k: &str| body.get(k) == Some(&Value::Bool(true));
        if !on("audio") && !on("video") && !on("data") {
            return Err(err(
                CANT_CREATE,
                "Can't add 'rtp' stream, no audio or video have to be streamed...",
            ));
        }
        if on("audio") {
            validate(body, AUDIO_PARAMS)?;
            let keys = StreamKeys {
                body,
                prefix: "audio",
                failure: "Can't add 'rtp' stream, error creating audio source stream",
            };
            hosts.push(iface(body.get("audioiface"), "audio")?);
            streams.push(keys.stream(Kind::Audio, "a".into(), "audio".into(), now)?);
        }
        if on("video") {
            validate(body, VIDEO_PARAMS)?;
            let keys = StreamKeys {
                body,
                prefix: "video",
                failure: "Can't add 'rtp' stream, error creating video source stream",
            };
            hosts.push(iface(body.get("videoiface"), "video")?);
            streams.push(keys.stream(Kind::Video, "v".into(), "video".into(), now)?);
        }
        if on("data") {
            return Err(err(
                CANT_CREATE,
                "Can't add 'rtp' stream: no datachannels support...",
            ));
        }
    }
    // The core binds all ports of an input on one address.
    let mut host = None;
    for h in hosts.into_iter().flatten() {
        if host.as_ref().is_some_and(|x| x != &h) {
            return Err(err(
                CANT_CREATE,
                "Can't add 'rtp' stream, all streams must use the same interface",
            ));
        }
        host = Some(h);
    }
    Ok(RtpSpec {
        streams,
        legacy,
        host,
        collision: body.get("collision").and_then(Value::as_u64),
        threads: body.get("threads").and_then(Value::as_u64),
    })
}

/// Janus's default name ("mp-<id>") and its rule that names do not start with a number.
pub fn mountpoint_name(name: Option<&str>, id: &Id) -> String {
    match name {
        None => format!("mp-{id}"),
        Some(n) if leading_int(n) != 0 => format!("mp-{n}"),
        Some(n) => n.to_owned(),
    }
}

/// C's `atoi`: the integer at the start of `s` (after blanks), 0 when none.
fn leading_int(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    d.parse::<i64>().map(|v| v * sign).unwrap_or(0)
}

impl Mountpoint {
    /// A `list` entry.
    pub fn list_entry(&self, now: u64) -> Value {
        let mut m = json!({
            "id": self.id.to_json(),
            "type": "live",
            "description": self.description,
            "enabled": self.enabled,
        });
        if let Some(md) = &self.metadata {
            m["metadata"] = json!(md);
        }
        let media: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                let mut e = json!({"mid": s.mid, "type": s.kind.as_str(), "label": s.label});
                if let Some(msid) = s.msid_pair() {
                    e["msid"] = json!(msid);
                }
                e["age_ms"] = json!(s.age_ms(now));
                e
            })
            .collect();
        m["media"] = json!(media);
        m
    }

    /// The `info` object; `admin` (the right secret, or none needed) shows the rest.
    pub fn info(&self, admin: bool, now: u64) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.to_json());
        if admin {
            m.insert("name".into(), json!(self.name));
        }
        m.insert("description".into(), json!(self.description));
        if let Some(md) = &self.metadata {
            m.insert("metadata".into(), json!(md));
        }
        if admin {
            if let Some(s) = &self.secret {
                m.insert("secret".into(), json!(s));
            }
            if let Some(p) = &self.pin {
                m.insert("pin".into(), json!(p));
            }
            if self.is_private {
                m.insert("is_private".into(), json!(true));
            }
        }
        m.insert("enabled".into(), json!(self.enabled));
        if admin {
            m.insert("viewers".into(), json!(self.viewers.len()));
        }
        m.insert("type".into(), json!("live"));
        if let Some(c) = self.collision.filter(|c| *c > 0) {
            m.insert("collision".into(), json!(c));
        }
        if let Some(t) = self.threads.filter(|t| *t > 0) {
            m.insert("threads".into(), json!(t));
        }
        if admin && let Some(h) = &self.host {
            m.insert("host".into(), json!(h));
        }
        let media: Vec<Value> = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut e = json!({
                    "mindex": i,
                    "type": s.kind.as_str(),
                    "mid": s.mid,
                    "label": s.label,
                });
                if let Some(msid) = s.msid_pair() {
                    e["msid"] = json!(msid);
                }
                if let Some(pt) = s.pt {
                    e["pt"] = json!(pt);
                }
                e["codec"] = json!(s.codec);
                e["rtpmap"] = json!(rtpmap(&s.codec));
                if let Some(f) = &s.fmtp {
                    e["fmtp"] = json!(f);
                }
                if s.bufferkf {
                    e["videobufferkf"] = json!(true);
                }
                if s.svc {
                    e["videosvc"] = json!(true);
                }
                if s.skew {
                    e["skew_compensation"] = json!(true);
                }
                if admin {
                    e["port"] = json!(s.port);
                    if let Some(p) = s.rtcp_port {
                        e["rtcpport"] = json!(p);
                    }
                }
                e["age_ms"] = json!(s.age_ms(now));
                e
            })
            .collect();
        m.insert("media".into(), json!(media));
        Value::Object(m)
    }

    /// The `stream` object of the `created` reply.
    pub fn created(&self) -> Value {
        let mut m = json!({
            "id": self.id.to_json(),
            "type": "live",
            "description": self.description,
            "is_private": self.is_private,
        });
        if let Some(h) = &self.host {
            m["host"] = json!(h);
        }
        if self.legacy {
            for s in &self.streams {
                let k = s.kind.as_str();
                m[format!("{k}_port")] = json!(s.port);
                if let Some(p) = s.rtcp_port {
                    m[format!("{k}_rtcp_port")] = json!(p);
                }
            }
        } else {
            let ports: Vec<Value> = self
                .streams
                .iter()
                .map(|s| {
                    let mut e = json!({"type": s.kind.as_str(), "mid": s.mid, "port": s.port});
                    if let Some(msid) = s.msid_pair() {
                        e["msid"] = json!(msid);
                    }
                    if let Some(p) = s.rtcp_port {
                        e["rtcp_port"] = json!(p);
                    }
                    e
                })
                .collect();
            m["ports"] = json!(ports);
        }
        m
    }

    /// The table `save_config` writes, as Janus saves a mountpoint: always the `media` form,
    /// with the ports bound now (so a sender keeps its target across restarts).
    pub fn to_config(&self) -> Value {
        let mut m = json!({
            "type": "rtp",
            "id": self.id.to_json(),
            "name": self.name,
            "description": self.description,
            "is_private": self.is_private,
        });
        for (k, v) in [
            ("metadata", &self.metadata),
            ("secret", &self.secret),
            ("pin", &self.pin),
        ] {
            if let Some(v) = v {
                m[k] = json!(v);
            }
        }
        if let Some(c) = self.collision.filter(|c| *c > 0) {
            m["collision"] = json!(c);
        }
        if let Some(t) = self.threads.filter(|t| *t > 0) {
            m["threads"] = json!(t);
        }
        let media: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                let mut e = json!({
                    "type": s.kind.as_str(),
                    "mid": s.mid,
                    "label": s.label,
                    "port": s.port,
                    "codec": s.codec,
                });
                if let Some(msid) = s.msid_pair() {
                    e["msid"] = json!(msid);
                }
                if let Some(p) = s.rtcp_port {
                    e["rtcpport"] = json!(p);
                }
                if let Some(pt) = s.pt {
                    e["pt"] = json!(pt);
                }
                if let Some(f) = &s.fmtp {
                    e["fmtp"] = json!(f);
                }
                if let Some(h) = &self.host {
                    e["iface"] = json!(h);
                }
                for (k, on) in [("skew", s.skew), ("bufferkf", s.bufferkf), ("svc", s.svc)] {
                    if on {
                        e[k] = json!(true);
                    }
                }
                e
            })
            .collect();
        m["media"] = json!(media);
        m
    }

    pub fn source_ref(&self, index: usize) -> Option<MediaRef> {
        self.streams
            .get(index)
            .map(|s| MediaRef::new(self.source, s.mid.clone()))
    }
}

/// Janus's rtpmap for a codec.
fn rtpmap(codec: &str) -> &'static str {
    match codec {
        "opus" => "opus/48000/2",
        "pcmu" => "PCMU/8000",
        "pcma" => "PCMA/8000",
        "g722" => "G722/8000",
        "vp8" => "VP8/90000",
        "vp9" => "VP9/90000",
        "h264" => "H264/90000",
        "av1" => "AV1/90000",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_janus() {
        assert_eq!(mountpoint_name(None, &Id::Num(7)), "mp-7");
        assert_eq!(mountpoint_name(Some("12abc"), &Id::Num(7)), "mp-12abc");
        assert_eq!(
            mountpoint_name(Some("rtp-sample"), &Id::Num(1)),
            "rtp-sample"
        );
        assert_eq!(leading_int("  -3x"), -3);
        assert_eq!(leading_int("x3"), 0);
    }

    #[test]
    fn rtpmap_names_a_codec() {
        let b = json!({"audiortpmap": "OPUS/48000/2"});
        assert_eq!(
            codec_of(b.as_object().unwrap(), "audiocodec", "audiortpmap").as_deref(),
            Some("opus")
        );
    }
}
