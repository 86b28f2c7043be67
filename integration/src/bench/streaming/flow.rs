//! The Streaming plugin's call flow as streamingtest runs it, for the load tool: an RTP
//! mountpoint made with `create` (or an existing one read with `info`), and viewers that
//! `watch` (the server offers), answer with `start`, and receive. Written against the Janus
//! API only, so it runs unchanged against Janus 1.1.2 and against portunus once it has a
//! Streaming plugin. The request/trickle/webrtcup steps are the VideoRoom flow's.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench::payload::Kind;
use crate::bench::videoroom::flow::{FlowError, answer_offer, attach, request};
use crate::janus::JanusClient;
use crate::media::VideoCodec;
use crate::peer::{MediaLine, Peer, PeerConfig, offered_media};

/// Janus package name of the Streaming plugin.
pub const STREAMING: &str = "janus.plugin.streaming";

/// One RTP stream of a mountpoint: where the plugin listens and what it expects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountStream {
    pub mid: String,
    pub kind: Kind,
    /// UDP port the plugin receives this stream's RTP on.
    pub port: u16,
    /// Payload type the tool sends with (the mountpoint's, or Opus 111 / VP8 100 /
    /// H.264 126).
    pub pt: u8,
}

/// Opus, VP8 and H.264 payload types of the Janus samples (and of mountpoints the tool
/// creates).
pub const OPUS_PT: u8 = 111;
pub const VP8_PT: u8 = 100;
pub const H264_PT: u8 = 126;
/// The fmtp of the Janus H.264 sample, and what the tool's clips are.
pub const H264_FMTP: &str = "profile-level-id=42e01f;packetization-mode=1";

/// The usual payload type of a stream kind with `video` as the video codec.
fn default_pt(kind: Kind, video: VideoCodec) -> u8 {
    match (kind, video) {
        (Kind::Audio, _) => OPUS_PT,
        (Kind::Video, VideoCodec::Vp8) => VP8_PT,
        (Kind::Video, VideoCodec::H264) => H264_PT,
    }
}

/// The `create` body for an RTP mountpoint with one Opus and one video stream (VP8, or
/// H.264 with the sample's fmtp) on ports the plugin picks (`port: 0`). `secret` lets the
/// tool read and destroy it later.
pub fn create_body(
    secret: &str,
    admin_key: Option<&str>,
    bufferkf: bool,
    video: VideoCodec,
) -> Value {
    let mut body = json!({
        "request": "create",
        "type": "rtp",
        "description": "portunus-bench",
        "is_private": false,
        "permanent": false,
        "secret": secret,
        "media": [
            {"type": "audio", "mid": "a", "label": "audio", "port": 0,
             "pt": OPUS_PT, "codec": "opus"},
            {"type": "video", "mid": "v", "label": "video", "port": 0,
             "pt": default_pt(Kind::Video, video), "codec": video.name(), "bufferkf": bufferkf},
        ],
    });
    if video == VideoCodec::H264 {
        body["media"][1]["fmtp"] = json!(H264_FMTP);
    }
    if let Some(k) = admin_key {
        body["admin_key"] = json!(k);
    }
    body
}

/// The mountpoint id and streams in a `created` reply (`stream.id`, `stream.ports`) to a
/// [`create_body`] with `video` as the codec.
pub fn parse_created(
    data: &Value,
    video: VideoCodec,
) -> Result<(u64, Vec<MountStream>), FlowError> {
    let stream = data
        .get("stream")
        .ok_or_else(|| format!("create: no stream in {data}"))?;
    let id = stream
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("create: no numeric stream.id in {data}"))?;
    // `ports` carries type/mid/port; the payload types are the ones the tool asked for.
    let streams = parse_streams(stream.get("ports"), |kind| default_pt(kind, video))?;
    Ok((id, streams))
}

/// The streams in an `info` reply (`info.media`, ports present only with the secret).
/// Streams that are not Opus or `video` (the tool has nothing else to send) are an error.
pub fn parse_info(data: &Value, video: VideoCodec) -> Result<Vec<MountStream>, FlowError> {
    let info = data
        .get("info")
        .ok_or_else(|| format!("info: no info in {data}"))?;
    let media = info.get("media").and_then(Value::as_array);
    for (i, m) in media.into_iter().flatten().enumerate() {
        let codec = m.get("codec").and_then(Value::as_str);
        if let Some(c) = codec.filter(|c| *c != "opus" && *c != video.name()) {
            let mid = m.get("mid").and_then(Value::as_str).unwrap_or("-");
            let hint = match c {
                "vp8" | "h264" => format!(" (pass --video-codec {c})"),
                _ => String::new(),
            };
            return Err(format!(
                "mountpoint stream {i} (mid {mid}) is {c}: the tool sends Opus and {video}{hint} \
                 (file mountpoints have nothing to feed)"
            ));
        }
        if m.get("type").and_then(Value::as_str) == Some("data") {
            return Err("mountpoints with a data stream are not supported".into());
        }
    }
    let streams = parse_streams(info.get("media"), |_| 0)?;
    // Missing payload types default to the samples'.
    Ok(streams
        .into_iter()
        .zip(media.into_iter().flatten().filter(is_av))
        .map(|(mut s, m)| {
            s.pt = m
                .get("pt")
                .and_then(Value::as_u64)
                .and_then(|p| u8::try_from(p).ok())
                .filter(|p| *p < 128)
                .unwrap_or(default_pt(s.kind, video));
            s
        })
        .collect())
}

fn is_av(m: &&Value) -> bool {
    matches!(
        m.get("type").and_then(Value::as_str),
        Some("audio" | "video")
    )
}

/// Audio and video entries of `list` (objects with type/mid/port), in order.
fn parse_streams(
    list: Option<&Value>,
    pt: impl Fn(Kind) -> u8,
) -> Result<Vec<MountStream>, FlowError> {
    let list = list
        .and_then(Value::as_array)
        .ok_or("the mountpoint lists no streams (an RTP mountpoint? with its secret?)")?;
    let mut out = Vec::new();
    for m in list.iter().filter(is_av) {
        let kind = match m.get("type").and_then(Value::as_str) {
            Some("audio") => Kind::Audio,
            _ => Kind::Video,
        };
        let mid = m
            .get("mid")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("stream without mid: {m}"))?;
        let port = m
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                format!("stream {mid}: no port (pass the mountpoint's secret to read it)")
            })?;
        out.push(MountStream {
            mid: mid.to_string(),
            kind,
            port,
            pt: pt(kind),
        });
    }
    if out.is_empty() {
        return Err("the mountpoint has no audio or video stream".into());
    }
    Ok(out)
}

/// A control handle on the plugin (create, info, destroy).
pub struct Control {
    pub session: u64,
    pub handle: u64,
}

impl Control {
    pub async fn attach(client: &JanusClient) -> Result<Self, FlowError> {
        let (session, handle) = attach(client, STREAMING).await?;
        Ok(Control { session, handle })
    }

    /// Creates the bench mountpoint; its id and streams.
    pub async fn create(
        &self,
        client: &JanusClient,
        secret: &str,
        admin_key: Option<&str>,
        bufferkf: bool,
        video: VideoCodec,
        timeout: Duration,
    ) -> Result<(u64, Vec<MountStream>), FlowError> {
        let body = create_body(secret, admin_key, bufferkf, video);
        let (data, _) = request(client, self.session, self.handle, body, None, timeout).await?;
        parse_created(&data, video)
    }

    /// The streams of an existing mountpoint.
    pub async fn info(
        &self,
        client: &JanusClient,
        id: u64,
        secret: Option<&str>,
        video: VideoCodec,
        timeout: Duration,
    ) -> Result<Vec<MountStream>, FlowError> {
        let mut body = json!({"request": "info", "id": id});
        if let Some(s) = secret {
            body["secret"] = json!(s);
        }
        let (data, _) = request(client, self.session, self.handle, body, None, timeout).await?;
        parse_info(&data, video)
    }

    pub async fn destroy(
        &self,
        client: &JanusClient,
        id: u64,
        secret: &str,
        timeout: Duration,
    ) -> Result<(), FlowError> {
        let body = json!({"request": "destroy", "id": id, "secret": secret, "permanent": false});
        request(client, self.session, self.handle, body, None, timeout)
            .await
            .map(drop)
    }
}

/// A viewer, media up.
pub struct Viewer {
    pub session: u64,
    pub handle: u64,
    pub peer: Peer,
    /// When `watch` was sent.
    pub watch_at: Instant,
    pub up_at: Instant,
}

/// `watch` → offer → `start` + answer (trickling the peer's candidates meanwhile) →
/// `webrtcup`. `on_offer` learns the offer's audio/video m-lines before any media can
/// arrive (the peer's RTP tap needs to know which stream each mid carries).
pub async fn watch(
    client: &JanusClient,
    mountpoint: u64,
    pin: Option<&str>,
    peer_config: PeerConfig,
    on_offer: impl FnOnce(&[MediaLine]),
    timeout: Duration,
) -> Result<Viewer, FlowError> {
    let (session, handle) = attach(client, STREAMING).await?;
    let mut body = json!({"request": "watch", "id": mountpoint});
    if let Some(p) = pin {
        body["pin"] = json!(p);
    }
    let watch_at = Instant::now();
    let (data, offer) = request(client, session, handle, body, None, timeout).await?;
    let offer = offer.ok_or_else(|| format!("watch: no JSEP offer in {data}"))?;
    on_offer(&offered_media(&offer.sdp));
    let start = json!({"request": "start"});
    let (peer, up_at) =
        answer_offer(client, session, handle, &offer, start, peer_config, timeout).await?;
    Ok(Viewer {
        session,
        handle,
        peer,
        watch_at,
        up_at,
    })
}

/// Which mountpoint stream (index, kind) each offered mid carries. Janus offers the
/// mountpoint's own mids; a server that names them otherwise offers them in the mountpoint's
/// order, so an unknown mid takes the next unclaimed stream of its kind.
pub fn match_offer(
    streams: &[MountStream],
    offered: &[MediaLine],
) -> std::collections::HashMap<String, (usize, Kind)> {
    let mut out = std::collections::HashMap::new();
    let mut used = vec![false; streams.len()];
    let kind_of = |k: str0m::media::MediaKind| match k {
        str0m::media::MediaKind::Audio => Kind::Audio,
        str0m::media::MediaKind::Video => Kind::Video,
    };
    // Mids the mountpoint names first, so they are not taken by position.
    for line in offered {
        if let Some(i) = streams.iter().position(|s| s.mid == line.mid) {
            used[i] = true;
            out.insert(line.mid.clone(), (i, streams[i].kind));
        }
    }
    for line in offered {
        if out.contains_key(&line.mid) {
            continue;
        }
        let kind = kind_of(line.kind);
        if let Some(i) = (0..streams.len()).find(|i| !used[*i] && streams[*i].kind == kind) {
            used[i] = true;
            out.insert(line.mid.clone(), (i, kind));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_mids_map_to_mountpoint_streams() {
        use str0m::media::MediaKind;
        let stream = |mid: &str, kind| MountStream {
            mid: mid.into(),
            kind,
            port: 5000,
            pt: 100,
        };
        let streams = [
            stream("a", Kind::Audio),
            stream("v1", Kind::Video),
            stream("v2", Kind::Video),
        ];
        let line = |mid: &str, kind| MediaLine {
            mid: mid.into(),
            kind,
        };
        // Janus: the mountpoint's mids.
        let m = match_offer(
            &streams,
            &[line("a", MediaKind::Audio), line("v2", MediaKind::Video)],
        );
        assert_eq!((m["a"], m["v2"]), ((0, Kind::Audio), (2, Kind::Video)));
        // Other names: by order within each kind; extra m-lines are left out.
        let m = match_offer(
            &streams,
            &[
                line("0", MediaKind::Audio),
                line("1", MediaKind::Video),
                line("2", MediaKind::Video),
                line("3", MediaKind::Video),
                line("4", MediaKind::Audio),
            ],
        );
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m["0"], m["1"], m["2"]),
            ((0, Kind::Audio), (1, Kind::Video), (2, Kind::Video))
        );
        // Mixed: a named mid is not given away by position.
        let m = match_offer(
            &streams,
            &[line("x", MediaKind::Video), line("v1", MediaKind::Video)],
        );
        assert_eq!((m["x"], m["v1"]), ((2, Kind::Video), (1, Kind::Video)));
        assert!(match_offer(&streams, &[]).is_empty());
    }

    #[test]
    fn create_body_asks_for_opus_and_vp8_on_picked_ports() {
        let b = create_body("s3cret", Some("adm"), true, VideoCodec::Vp8);
        assert_eq!(b["type"], "rtp");
        assert_eq!(b["secret"], "s3cret");
        assert_eq!(b["admin_key"], "adm");
        assert_eq!(b["media"][0]["port"], 0);
        assert_eq!(b["media"][0]["codec"], "opus");
        assert_eq!(b["media"][1]["codec"], "vp8");
        assert_eq!(b["media"][1]["bufferkf"], true);
        assert!(
            create_body("s", None, false, VideoCodec::Vp8)
                .get("admin_key")
                .is_none()
        );
        assert!(b["media"][1].get("fmtp").is_none());
        let h = create_body("s", None, false, VideoCodec::H264);
        assert_eq!(h["media"][1]["codec"], "h264");
        assert_eq!(h["media"][1]["pt"], H264_PT);
        assert_eq!(h["media"][1]["fmtp"], H264_FMTP);
        assert_eq!(h["media"][0]["codec"], "opus");
    }

    #[test]
    fn reads_the_created_reply() {
        // As Janus 1.1.2 answers a multistream `create`.
        let data = json!({"streaming": "created", "create": "portunus-bench", "permanent": false,
            "stream": {"id": 4242, "type": "live", "description": "portunus-bench",
                "is_private": false, "ports": [
                    {"type": "audio", "mid": "a", "port": 20123},
                    {"type": "video", "mid": "v", "port": 20456}]}});
        let (id, s) = parse_created(&data, VideoCodec::Vp8).expect("parsed");
        assert_eq!(id, 4242);
        assert_eq!(
            s,
            vec![
                MountStream {
                    mid: "a".into(),
                    kind: Kind::Audio,
                    port: 20123,
                    pt: OPUS_PT
                },
                MountStream {
                    mid: "v".into(),
                    kind: Kind::Video,
                    port: 20456,
                    pt: VP8_PT
                },
            ]
        );
    }

    fn parse_created_vp8(data: &Value) -> Result<(u64, Vec<MountStream>), FlowError> {
        parse_created(data, VideoCodec::Vp8)
    }

    #[test]
    fn bad_created_replies_are_errors() {
        assert!(parse_created_vp8(&json!({})).is_err());
        assert!(parse_created_vp8(&json!({"stream": {"id": "x"}})).is_err());
        assert!(parse_created_vp8(&json!({"stream": {"id": 1}})).is_err());
        assert!(parse_created_vp8(&json!({"stream": {"id": 1, "ports": []}})).is_err());
        let no_port = json!({"stream": {"id": 1, "ports": [{"type": "audio", "mid": "a"}]}});
        assert!(parse_created(&no_port, VideoCodec::Vp8).is_err());
        let big =
            json!({"stream": {"id": 1, "ports": [{"type": "audio", "mid": "a", "port": 70000}]}});
        assert!(parse_created(&big, VideoCodec::Vp8).is_err());
        let no_mid = json!({"stream": {"id": 1, "ports": [{"type": "video", "port": 5}]}});
        assert!(parse_created(&no_mid, VideoCodec::Vp8).is_err());
    }

    #[test]
    fn reads_info_of_the_legacy_sample() {
        // Mountpoint 1 of the Debian config, `info` with its secret.
        let data = json!({"streaming": "info", "info": {"id": 1, "type": "live", "media": [
            {"mindex": 0, "type": "audio", "mid": "a", "label": "audio", "pt": 111,
             "codec": "opus", "rtpmap": "opus/48000/2", "port": 5002},
            {"mindex": 1, "type": "video", "mid": "v", "label": "video", "pt": 100,
             "codec": "vp8", "rtpmap": "VP8/90000", "port": 5004}]}});
        let s = parse_info(&data, VideoCodec::Vp8).expect("parsed");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].mid.as_str(), s[0].port, s[0].pt), ("a", 5002, 111));
        assert_eq!(
            (s[1].mid.as_str(), s[1].kind, s[1].port, s[1].pt),
            ("v", Kind::Video, 5004, 100)
        );
    }

    #[test]
    fn info_without_secret_or_with_other_codecs_is_an_error() {
        let no_ports = json!({"info": {"id": 1, "media": [
            {"type": "audio", "mid": "a", "codec": "opus"}]}});
        let e = parse_info(&no_ports, VideoCodec::Vp8).expect_err("no ports");
        assert!(e.contains("secret"), "{e}");
        let h264 = json!({"info": {"id": 1, "media": [
            {"type": "video", "mid": "v", "codec": "h264", "port": 5004}]}});
        let e = parse_info(&h264, VideoCodec::Vp8).expect_err("h264");
        assert!(e.contains("--video-codec h264"), "{e}");
        let s = parse_info(&h264, VideoCodec::H264).expect("H.264 mountpoint");
        assert_eq!((s[0].port, s[0].pt), (5004, H264_PT));
        let vp9 = json!({"info": {"id": 1, "media": [
            {"type": "video", "mid": "v", "codec": "vp9", "port": 5004}]}});
        assert!(parse_info(&vp9, VideoCodec::H264).is_err());
        let file = json!({"info": {"id": 2, "type": "live", "filename": "x.alaw"}});
        assert!(parse_info(&file, VideoCodec::Vp8).is_err());
        let data = json!({"info": {"media": [{"type": "data", "mid": "d", "port": 5}]}});
        assert!(parse_info(&data, VideoCodec::Vp8).is_err());
        // An out-of-range pt falls back to the codec's usual one.
        let odd = json!({"info": {"media": [
            {"type": "video", "mid": "v1", "codec": "vp8", "port": 5104, "pt": 300}]}});
        assert_eq!(
            parse_info(&odd, VideoCodec::Vp8).expect("parsed")[0].pt,
            VP8_PT
        );
    }
}
