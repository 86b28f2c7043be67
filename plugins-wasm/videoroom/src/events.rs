//! The JSON of the VideoRoom's events and replies, in one place so their shapes match
//! Janus 1.1.2 everywhere (shared/janus-api/videoroom.md).

use serde_json::{Map, Value, json};

use crate::publisher::{Forwarder, PubStream, Publisher, StreamKind};
use crate::subscriber::{SubStream, Subscriber};
use portunus_plugin_sdk::ids::Id;

pub const KEY: &str = "videoroom";

/// `{"videoroom": <what>, "room": R, ...fields}`.
pub fn room_event(what: &str, room: &Id, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert(KEY.into(), json!(what));
    m.insert("room".into(), room.to_json());
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

/// `{"videoroom": "event", "room": R, ...fields}`.
pub fn event(room: &Id, fields: Value) -> Value {
    room_event("event", room, fields)
}

/// `{"videoroom": <what>, ...fields}` without a room.
pub fn plain(what: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert(KEY.into(), json!(what));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

/// One published stream, as in `joined` / `publishers` / `configured`.
pub fn pub_stream(s: &PubStream) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(s.kind.as_str()));
    m.insert("mindex".into(), json!(s.mindex));
    m.insert("mid".into(), json!(s.mid));
    if s.disabled {
        m.insert("disabled".into(), json!(true));
    } else if let Some(c) = &s.codec {
        m.insert("codec".into(), json!(c));
    }
    if let Some(d) = &s.description {
        m.insert("description".into(), json!(d));
    }
    if s.muted {
        m.insert("moderated".into(), json!(true));
    }
    if s.simulcast {
        m.insert("simulcast".into(), json!(true));
    }
    if s.svc {
        m.insert("svc".into(), json!(true));
    }
    if s.kind == StreamKind::Audio && s.codec.as_deref() == Some("opus") && s.fec {
        m.insert("fec".into(), json!(true));
    }
    if s.kind == StreamKind::Audio && s.audio_level {
        m.insert("talking".into(), json!(s.talking));
    }
    Value::Object(m)
}

/// The codec of the first stream of `kind`, for the legacy `audio_codec` / `video_codec`
/// keys that videoroomtest reads.
pub fn first_codec(streams: &[PubStream], kind: StreamKind) -> Option<&str> {
    streams
        .iter()
        .find(|s| s.kind == kind && !s.disabled)
        .and_then(|s| s.codec.as_deref())
}

/// What a publisher sends: its first audio and video codec, its streams.
fn insert_media(m: &mut Map<String, Value>, p: &Publisher) {
    if let Some(c) = first_codec(&p.streams, StreamKind::Audio) {
        m.insert("audio_codec".into(), json!(c));
    }
    if let Some(c) = first_codec(&p.streams, StreamKind::Video) {
        m.insert("video_codec".into(), json!(c));
    }
    m.insert(
        "streams".into(),
        Value::Array(p.streams.iter().map(pub_stream).collect()),
    );
}

/// A publisher as listed in `joined.publishers` and the `publishers` event.
pub fn publisher_entry(p: &Publisher) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), p.id.to_json());
    if let Some(d) = &p.display {
        m.insert("display".into(), json!(d));
    }
    insert_media(&mut m, p);
    if p.streams
        .iter()
        .any(|s| s.kind == StreamKind::Audio && s.audio_level)
    {
        m.insert("talking".into(), json!(p.talking));
    }
    Value::Object(m)
}

/// A `configured` event for a publisher that sent an offer.
pub fn configured_with_streams(room: &Id, p: &Publisher) -> Value {
    let mut m = Map::new();
    m.insert(KEY.into(), json!("event"));
    m.insert("room".into(), room.to_json());
    m.insert("configured".into(), json!("ok"));
    insert_media(&mut m, p);
    Value::Object(m)
}

/// One subscriber m-line in `attached` / `updated` / `switched`.
pub fn sub_stream(ss: &SubStream, sub: &Subscriber) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(ss.kind.as_str()));
    // Janus shows the data m-line active even with no source left.
    m.insert(
        "active".into(),
        json!(ss.kind == StreamKind::Data || ss.active()),
    );
    m.insert("mindex".into(), json!(ss.mindex));
    if let Some(mid) = &ss.mid {
        m.insert("mid".into(), json!(mid));
    }
    m.insert(
        "ready".into(),
        json!(sub.started && ss.active() && !sub.offer_pending),
    );
    m.insert("send".into(), json!(ss.send));
    if ss.kind == StreamKind::Data {
        if ss.active() {
            m.insert("sources".into(), json!(ss.data_sources.len()));
            m.insert(
                "source_ids".into(),
                Value::Array(ss.data_sources.iter().map(|(id, _)| id.to_json()).collect()),
            );
        }
        return Value::Object(m);
    }
    let Some(feed) = &ss.feed else {
        return Value::Object(m);
    };
    m.insert("feed_id".into(), feed.id.to_json());
    if let Some(d) = &feed.display {
        m.insert("feed_display".into(), json!(d));
    }
    m.insert("feed_mid".into(), json!(feed.mid));
    if let Some(d) = &feed.description {
        m.insert("feed_description".into(), json!(d));
    }
    if let Some(c) = &feed.codec {
        m.insert("codec".into(), json!(c));
    }
    if let Some(x) = &ss.crossrefid {
        m.insert("crossrefid".into(), json!(x));
    }
    if feed.simulcast {
        let mut s = Map::new();
        s.insert(
            "substream".into(),
            json!(ss.current.0.map_or(-1, i64::from)),
        );
        s.insert(
            "substream-target".into(),
            json!(ss.targets.substream.unwrap_or(2)),
        );
        s.insert(
            "temporal-layer".into(),
            json!(ss.current.1.map_or(-1, i64::from)),
        );
        s.insert(
            "temporal-layer-target".into(),
            json!(ss.targets.temporal.unwrap_or(2)),
        );
        if let Some(f) = ss.targets.fallback {
            s.insert("fallback".into(), json!(f));
        }
        m.insert("simulcast".into(), Value::Object(s));
    }
    if feed.svc {
        m.insert(
            "svc".into(),
            json!({
                "spatial-layer": ss.current.0.map_or(-1, i64::from),
                "target-spatial-layer": ss.targets.substream.unwrap_or(2),
                "temporal-layer": ss.current.1.map_or(-1, i64::from),
                "target-temporal-layer": ss.targets.temporal.unwrap_or(2),
            }),
        );
    }
    Value::Object(m)
}

/// Every m-line of a subscriber, in order.
pub fn sub_streams(sub: &Subscriber) -> Value {
    Value::Array(sub.streams.iter().map(|s| sub_stream(s, sub)).collect())
}

/// One forwarder in `rtp_forward` / `listforwarders`.
pub fn forwarder(f: &Forwarder) -> Value {
    let mut m = Map::new();
    m.insert("stream_id".into(), json!(f.id));
    m.insert("type".into(), json!(f.kind.as_str()));
    m.insert("mid".into(), json!(f.mid));
    m.insert("host".into(), json!(f.host));
    m.insert("port".into(), json!(f.port));
    if let Some(p) = f.rtcp_port {
        m.insert("remote_rtcp_port".into(), json!(p));
    }
    if let Some(s) = f.ssrc {
        m.insert("ssrc".into(), json!(s));
    }
    if let Some(p) = f.pt {
        m.insert("pt".into(), json!(p));
    }
    if let Some(s) = f.substream {
        m.insert("substream".into(), json!(s));
    }
    Value::Object(m)
}
