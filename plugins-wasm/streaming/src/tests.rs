//! Request-level tests on a recording fake of the gateway.

use portunus_plugin_sdk::prelude::*;
use portunus_plugin_sdk::testing::{FakeHost as Fake, Pushed};

use crate::Streaming;
use crate::error::*;

type St = Streaming<Fake>;

/// Janus's sample configuration, as config.toml has it.
fn demo_config() -> Value {
    json!({
        "mountpoints": [
            {"type": "rtp", "id": 1, "name": "rtp-sample",
             "description": "Opus/VP8 live stream coming from external source",
             "metadata": "You can use this metadata section to put any info you want!",
             "audio": true, "video": true, "audioport": 5002, "audiopt": 111,
             "audiocodec": "opus", "videoport": 5004, "videopt": 100, "videocodec": "vp8",
             "secret": "adminpwd"},
            {"type": "rtp", "id": 123, "name": "multistream-test",
             "description": "Multistream test (1 audio, 2 video)",
             "media": [
                {"type": "audio", "mid": "a", "label": "Audio stream", "port": 5102, "pt": 111, "codec": "opus"},
                {"type": "video", "mid": "v1", "label": "Video stream #1", "port": 5104, "pt": 100, "codec": "vp8"},
                {"type": "video", "mid": "v2", "label": "Video stream #2", "port": 5106, "pt": 100, "codec": "vp8"}
             ],
             "secret": "adminpwd"},
            {"type": "rtp", "id": 7, "description": "hidden", "is_private": true, "pin": "1234",
             "audio": true, "audioport": 0, "audiopt": 0, "audiortpmap": "PCMU/8000"}
        ]
    })
}

fn demo() -> St {
    let mut s = Streaming::new(Fake::default());
    s.init(demo_config()).unwrap();
    for h in 1..=9 {
        s.create_session(h).unwrap();
    }
    s
}

fn send(s: &mut St, h: HandleId, body: Value, jsep: Option<JsepIn>) -> Reply {
    s.handle_message(&Message {
        handle: h,
        transaction: format!("tx{h}"),
        body,
        jsep,
    })
    .unwrap()
}

fn sync(s: &mut St, h: HandleId, body: Value) -> Value {
    match send(s, h, body, None) {
        Reply::Sync(r) => r,
        other => panic!("expected a sync reply, got {other:?}"),
    }
}

/// An asynchronous request: acked; the events it pushed to `h`.
fn call(s: &mut St, h: HandleId, body: Value, jsep: Option<JsepIn>) -> Vec<Pushed> {
    let before = s.host.pushed.len();
    assert_eq!(send(s, h, body, jsep), Reply::Ack(None));
    s.host.pushed[before..]
        .iter()
        .filter(|p| p.handle == h)
        .cloned()
        .collect()
}

/// The error code of a reply or event.
fn code(v: &Value) -> Option<i64> {
    v.get("error_code").and_then(Value::as_i64)
}

/// An asynchronous request expected to fail: its error event's code.
fn async_error(s: &mut St, h: HandleId, body: Value) -> i64 {
    let evs = call(s, h, body, None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        evs[0].transaction.as_deref(),
        Some(format!("tx{h}").as_str())
    );
    code(&evs[0].data).unwrap_or_else(|| panic!("not an error: {:?}", evs[0].data))
}

fn answer() -> JsepIn {
    JsepIn {
        kind: JsepType::Answer,
        sdp: "v=0\r\n".into(),
        media: Vec::new(),
        data_channels: false,
        update: false,
        e2ee: false,
    }
}

fn status(p: &Pushed) -> Option<&str> {
    p.data["result"]["status"].as_str()
}

/// Watches `id` on `h`, answers, brings the PC up.
fn watch_and_start(s: &mut St, h: HandleId, id: Value) {
    let evs = call(s, h, json!({"request": "watch", "id": id}), None);
    assert_eq!(status(&evs[0]), Some("preparing"), "{evs:?}");
    let evs = call(s, h, json!({"request": "start"}), Some(answer()));
    assert_eq!(status(&evs[0]), Some("starting"));
    s.setup_media(h);
}

/// Routes currently installed with `h` as target: (source handle, source mid, target mid).
fn live_routes(s: &St, h: HandleId) -> Vec<(u64, String, String)> {
    s.host
        .routes
        .iter()
        .filter(|(id, r)| r.target.handle == h && !s.host.removed_routes.contains(id))
        .map(|(_, r)| (r.source.handle, r.source.mid.clone(), r.target.mid.clone()))
        .collect()
}

fn keyframes(s: &St) -> Vec<(u64, String)> {
    s.host
        .keyframes
        .iter()
        .map(|k| (k.handle, k.mid.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn config_mountpoints_open_inputs() {
    let s = demo();
    assert_eq!(s.host.inputs.len(), 3);
    let (_, sample) = &s.host.inputs[0];
    assert_eq!(sample.host, None);
    let a = &sample.streams[0];
    assert_eq!(
        (
            a.mid.as_str(),
            a.kind,
            a.codec.as_str(),
            a.clock_rate,
            a.channels,
            a.pt,
            a.port
        ),
        (
            "a",
            MediaKind::Audio,
            "opus",
            48000,
            Some(2),
            Some(111),
            5002
        )
    );
    let v = &sample.streams[1];
    assert_eq!(
        (v.mid.as_str(), v.codec.as_str(), v.clock_rate, v.pt, v.port),
        ("v", "vp8", 90000, Some(100), 5004)
    );
    let multi = &s.host.inputs[1].1;
    let mids: Vec<&str> = multi.streams.iter().map(|s| s.mid.as_str()).collect();
    assert_eq!(mids, ["a", "v1", "v2"]);
    // The deprecated rtpmap names the codec.
    assert_eq!(s.host.inputs[2].1.streams[0].codec, "pcmu");
    assert_eq!(s.host.inputs[2].1.streams[0].clock_rate, 8000);
}

#[test]
fn config_mountpoint_that_cannot_open_is_left_out() {
    let mut s = Streaming::new(Fake {
        fail_input: true,
        ..Fake::default()
    });
    s.init(demo_config()).unwrap();
    assert!(s.mountpoints.is_empty());
    // ... but stays in the file.
    assert_eq!(s.saved.len(), 3);
}

#[test]
fn config_with_an_id_twice_leaves_the_second_out() {
    let mut config = demo_config();
    let mut twin = config["mountpoints"][2].clone();
    twin["description"] = json!("twin");
    config["mountpoints"].as_array_mut().unwrap().push(twin);
    let mut s = Streaming::new(Fake::default());
    s.init(config).unwrap();
    assert_eq!(s.mountpoints.len(), 3);
    assert_eq!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(7)].description,
        "hidden"
    );
    assert_eq!(s.saved.len(), 4, "the file is not rewritten");
}

#[test]
fn create_permanent_replaces_a_saved_table_with_its_id() {
    let mut s = demo();
    // Destroyed for now only: the table stays in the file.
    sync(
        &mut s,
        1,
        json!({"request": "destroy", "id": 1, "secret": "adminpwd"}),
    );
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 1, "description": "again",
               "permanent": true, "audio": true, "audioport": 0, "audiopt": 111,
               "audiocodec": "opus"}),
    );
    assert_eq!(r["permanent"], true, "{r}");
    let saved = s.host.saved.last().unwrap().clone();
    let tables = saved["mountpoints"].as_array().unwrap();
    let ones: Vec<&Value> = tables.iter().filter(|t| t["id"] == 1).collect();
    assert_eq!(ones.len(), 1, "{tables:?}");
    assert_eq!(ones[0]["description"], "again");
    // The next start has the new mountpoint 1 and all the others.
    let mut next = Streaming::new(Fake::default());
    next.init(saved).unwrap();
    assert_eq!(next.mountpoints.len(), 3);
    assert_eq!(
        next.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)].description,
        "again"
    );
}

/// A configured mountpoint without an id gets a random one, as in Janus.
fn config_without_id() -> Value {
    json!({"mountpoints": [
        {"type": "rtp", "name": "anon", "description": "no id", "secret": "s",
         "audio": true, "audioport": 0, "audiopt": 111, "audiocodec": "opus"},
        {"type": "rtp", "id": 5, "audio": true, "audioport": 0, "audiopt": 0,
         "audiocodec": "pcmu"}
    ]})
}

#[test]
fn permanent_edit_of_a_configured_mountpoint_without_id() {
    let mut s = Streaming::new(Fake::default());
    s.init(config_without_id()).unwrap();
    s.create_session(1).unwrap();
    let id = s
        .mountpoints
        .values()
        .find(|m| m.name == "anon")
        .unwrap()
        .id
        .to_json();
    let r = sync(
        &mut s,
        1,
        json!({"request": "edit", "id": id, "secret": "s", "new_description": "d2",
               "permanent": true}),
    );
    assert_eq!(r["permanent"], true, "{r}");
    let saved = s.host.saved.last().unwrap().clone();
    let tables = saved["mountpoints"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "replaced, not added: {tables:?}");
    let edited = tables.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(edited["description"], "d2");
    let mut next = Streaming::new(Fake::default());
    next.init(saved).unwrap();
    assert_eq!(next.mountpoints.len(), 2);
}

#[test]
fn permanent_destroy_of_a_configured_mountpoint_without_id() {
    let mut s = Streaming::new(Fake::default());
    s.init(config_without_id()).unwrap();
    s.create_session(1).unwrap();
    let id = s
        .mountpoints
        .values()
        .find(|m| m.name == "anon")
        .unwrap()
        .id
        .to_json();
    let r = sync(
        &mut s,
        1,
        json!({"request": "destroy", "id": id, "secret": "s", "permanent": true}),
    );
    assert_eq!(r["streaming"], "destroyed", "{r}");
    let saved = s.host.saved.last().unwrap().clone();
    let ids: Vec<&Value> = saved["mountpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!(5)], "gone from the file");
}

#[test]
fn bad_config_is_refused() {
    let mut s = Streaming::new(Fake::default());
    assert!(s.init(json!({"mountpoints": 1})).is_err());
    assert!(s.init(json!({"string_ids": "yes"})).is_err());
    let e = s
        .init(json!({"mountpoints": [{"type": "rtp", "id": 1, "audio": true}]}))
        .unwrap_err();
    assert!(e.contains("audioport"), "{e}");
    let e = s
        .init(json!({"mountpoints": [{"type": "rtp", "id": 1, "media": [
            {"type": "audio", "mid": "a", "port": 5002, "codec": "speex"}]}]}))
        .unwrap_err();
    assert!(e.contains("speex"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Malformed requests

#[test]
fn malformed_requests() {
    let mut s = demo();
    assert_eq!(code(&sync(&mut s, 1, Value::Null)), Some(NO_MESSAGE as i64));
    assert_eq!(
        code(&sync(&mut s, 1, json!([1]))),
        Some(INVALID_JSON as i64)
    );
    let r = sync(&mut s, 1, json!({}));
    assert_eq!(code(&r), Some(MISSING_ELEMENT as i64));
    assert_eq!(r["error"], "Missing mandatory element (request)");
    assert_eq!(
        code(&sync(&mut s, 1, json!({"request": 5}))),
        Some(INVALID_ELEMENT as i64)
    );
    let r = sync(&mut s, 1, json!({"request": "fly"}));
    assert_eq!(
        r,
        json!({"streaming": "event", "error_code": 452, "error": "Unknown request 'fly'"})
    );
    // Not a handle of ours.
    assert!(
        s.handle_message(&Message {
            handle: 99,
            transaction: "t".into(),
            body: json!({"request": "list"}),
            jsep: None
        })
        .is_err()
    );
    // Requests are case-insensitive, as Janus's strcasecmp.
    assert_eq!(
        sync(&mut s, 1, json!({"request": "LIST"}))["streaming"],
        "list"
    );
}

// ---------------------------------------------------------------------------------------
// list / info

#[test]
fn list_shows_public_mountpoints_with_media() {
    let mut s = demo();
    let r = sync(&mut s, 1, json!({"request": "list"}));
    assert_eq!(r["streaming"], "list");
    let list = r["list"].as_array().unwrap();
    let ids: Vec<i64> = list.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 123], "the private one is hidden");
    let sample = &list[0];
    assert_eq!(sample["type"], "live");
    assert_eq!(sample["enabled"], true);
    assert_eq!(
        sample["description"],
        "Opus/VP8 live stream coming from external source"
    );
    assert_eq!(
        sample["media"][0],
        json!({"mid": "a", "type": "audio", "label": "audio", "age_ms": 0})
    );
    assert_eq!(sample["media"][1]["label"], "video");
    assert_eq!(list[1]["media"][2]["label"], "Video stream #2");
}

#[test]
fn list_with_admin_key_shows_private_ones() {
    let mut cfg = demo_config();
    cfg["admin_key"] = json!("letmein");
    let mut s = Streaming::new(Fake::default());
    s.init(cfg).unwrap();
    s.create_session(1).unwrap();
    let r = sync(
        &mut s,
        1,
        json!({"request": "list", "admin_key": "letmein"}),
    );
    assert_eq!(r["list"].as_array().unwrap().len(), 3);
    let r = sync(&mut s, 1, json!({"request": "list", "admin_key": "nope"}));
    assert_eq!(code(&r), Some(UNAUTHORIZED as i64));
    let r = sync(&mut s, 1, json!({"request": "list"}));
    assert_eq!(r["list"].as_array().unwrap().len(), 2);
}

#[test]
fn info_hides_secrets_without_the_secret() {
    let mut s = demo();
    let r = sync(&mut s, 1, json!({"request": "info", "id": 1}));
    let info = &r["info"];
    assert_eq!(r["streaming"], "info");
    assert_eq!(info["id"], 1);
    assert_eq!(
        info["metadata"],
        "You can use this metadata section to put any info you want!"
    );
    assert!(info.get("name").is_none() && info.get("secret").is_none());
    assert!(info["media"][0].get("port").is_none());
    assert_eq!(info["media"][0]["codec"], "opus");
    assert_eq!(info["media"][0]["rtpmap"], "opus/48000/2");
    assert_eq!(info["media"][0]["pt"], 111);
    assert_eq!(info["media"][1]["mindex"], 1);
    let r = sync(
        &mut s,
        1,
        json!({"request": "info", "id": 1, "secret": "adminpwd"}),
    );
    let info = &r["info"];
    assert_eq!(info["name"], "rtp-sample");
    assert_eq!(info["secret"], "adminpwd");
    assert_eq!(info["viewers"], 0);
    assert_eq!(info["media"][1]["port"], 5004);
}

#[test]
fn info_errors() {
    let mut s = demo();
    let r = sync(&mut s, 1, json!({"request": "info"}));
    assert_eq!(
        (code(&r), r["error"].as_str()),
        (Some(453), Some("Missing mandatory element (id)"))
    );
    let r = sync(&mut s, 1, json!({"request": "info", "id": "1"}));
    assert_eq!(
        (code(&r), r["error"].as_str()),
        (
            Some(454),
            Some("Invalid element type (id should be a positive integer)")
        )
    );
    let r = sync(&mut s, 1, json!({"request": "info", "id": 99}));
    assert_eq!(
        (code(&r), r["error"].as_str()),
        (Some(455), Some("No such mountpoint/stream 99"))
    );
}

#[test]
fn age_ms_follows_input_media_events() {
    let mut s = demo();
    let source = s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)].source;
    s.host.now = 5000;
    let age = |s: &mut St| {
        sync(s, 1, json!({"request": "info", "id": 1}))["info"]["media"][1]["age_ms"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        age(&mut s),
        5000,
        "no media yet: since the mountpoint opened"
    );
    s.on_media_event(MediaEvent::InputMedia(InputMedia {
        source: MediaRef::new(source, "v"),
        receiving: true,
    }));
    s.host.now = 9000;
    assert_eq!(age(&mut s), 0);
    // "Stopped" comes the core's no-media time (1 s at the least) after the last packet:
    // the age counts from then, not from the event.
    s.on_media_event(MediaEvent::InputMedia(InputMedia {
        source: MediaRef::new(source, "v"),
        receiving: false,
    }));
    s.host.now = 9700;
    assert_eq!(age(&mut s), 1700);
    let list = sync(&mut s, 1, json!({"request": "list"}));
    assert_eq!(list["list"][0]["media"][1]["age_ms"], 1700);
    assert_eq!(list["list"][0]["media"][0]["age_ms"], 9700);
    // Media that ran for less than that: not older than its start.
    s.on_media_event(MediaEvent::InputMedia(InputMedia {
        source: MediaRef::new(source, "v"),
        receiving: true,
    }));
    s.host.now = 10_000;
    s.on_media_event(MediaEvent::InputMedia(InputMedia {
        source: MediaRef::new(source, "v"),
        receiving: false,
    }));
    assert_eq!(age(&mut s), 300);
}

// ---------------------------------------------------------------------------------------
// create

#[test]
fn create_legacy_rtp() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 50, "description": "bench",
               "audio": true, "audioport": 0, "audiopt": 111, "audiocodec": "opus",
               "video": true, "videoport": 0, "videortcpport": 0, "videopt": 96,
               "videortpmap": "VP8/90000", "videofmtp": "max-fr=30"}),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    assert_eq!(r["created"], "mp-50");
    assert_eq!(r["permanent"], false);
    assert_eq!(r["warning"], "deprecated_api");
    assert_eq!(
        r["stream"],
        json!({"id": 50, "type": "live", "description": "bench", "is_private": false,
               "audio_port": 40000, "video_port": 40001, "video_rtcp_port": 0})
    );
    let (_, input) = s.host.inputs.last().unwrap();
    assert_eq!(input.streams[1].codec, "vp8");
    assert_eq!(input.streams[1].fmtp.as_deref(), Some("max-fr=30"));
    assert_eq!(input.streams[1].rtcp_port, Some(0));
    assert!(s.host.saved.is_empty());
    // It is listed now.
    let list = sync(&mut s, 1, json!({"request": "list"}));
    assert!(
        list["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == 50)
    );
}

#[test]
fn create_media_array() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "name": "multi", "media": [
            {"type": "audio", "mid": "a", "port": 6000, "pt": 111, "codec": "opus", "msid": "s t"},
            {"type": "video", "mid": "v", "port": 0, "rtcpport": 6003, "pt": 96, "codec": "h264",
             "fmtp": "profile-level-id=42e01f;packetization-mode=1"}
        ]}),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    assert!(r.get("warning").is_none());
    let id = r["stream"]["id"].as_u64().unwrap();
    assert!(id > 0 && id < (1 << 53), "a generated id");
    assert_eq!(
        r["stream"]["ports"],
        json!([{"type": "audio", "mid": "a", "msid": "s t", "port": 6000},
               {"type": "video", "mid": "v", "port": 40001, "rtcp_port": 6003}])
    );
    assert_eq!(r["stream"]["description"], "multi");
    let info = sync(&mut s, 1, json!({"request": "info", "id": id}));
    assert_eq!(info["info"]["media"][0]["msid"], "s t");
    assert_eq!(
        info["info"]["media"][1]["fmtp"],
        "profile-level-id=42e01f;packetization-mode=1"
    );
}

#[test]
fn create_errors() {
    let mut s = demo();
    let cases: Vec<(Value, i32, &str)> = vec![
        (json!({}), 453, "Missing mandatory element (type)"),
        (
            json!({"type": 1}),
            454,
            "Invalid element type (type should be a string)",
        ),
        (
            json!({"type": "rtp", "id": -1}),
            454,
            "Invalid element type (id should be a positive integer)",
        ),
        (
            json!({"type": "rtp", "id": 1, "audio": true}),
            456,
            "A stream with the provided ID already exists",
        ),
        (
            json!({"type": "foo"}),
            454,
            "Unknown stream type 'foo'...\n",
        ),
        (
            json!({"type": "live", "filename": "/x.opus"}),
            456,
            "Can't create 'live' mountpoint, not implemented in portunus (only 'rtp' is)",
        ),
        (
            json!({"type": "ondemand"}),
            456,
            "Can't create 'ondemand' mountpoint, not implemented in portunus (only 'rtp' is)",
        ),
        (
            json!({"type": "rtsp", "url": "rtsp://x"}),
            456,
            "Can't create 'rtsp' mountpoint, not implemented in portunus (only 'rtp' is)",
        ),
        (
            json!({"type": "rtp"}),
            456,
            "Can't add 'rtp' stream, no audio or video have to be streamed...",
        ),
        (
            json!({"type": "rtp", "media": []}),
            456,
            "Can't add 'rtp' stream, no audio or video have to be streamed...",
        ),
        (
            json!({"type": "rtp", "audio": true, "audiopt": 111}),
            453,
            "Missing mandatory element (audioport)",
        ),
        (
            json!({"type": "rtp", "audio": true, "audioport": 5000}),
            453,
            "Missing mandatory element (audiopt)",
        ),
        (
            json!({"type": "rtp", "audio": true, "audioport": 5000, "audiopt": 111}),
            456,
            "Can't add 'rtp' stream, error creating audio source stream",
        ),
        (
            json!({"type": "rtp", "video": true, "videoport": "x", "videopt": 96}),
            454,
            "Invalid element type (videoport should be a positive integer)",
        ),
        (
            json!({"type": "rtp", "video": true, "videoport": 70000, "videopt": 96, "videocodec": "vp8"}),
            454,
            "Invalid element (videoport should be a port number)",
        ),
        (
            json!({"type": "rtp", "video": true, "videoport": 5000, "videopt": 200, "videocodec": "vp8"}),
            454,
            "Invalid element (videopt should be at most 127)",
        ),
        (
            json!({"type": "rtp", "data": true, "dataport": 5000}),
            456,
            "Can't add 'rtp' stream: no datachannels support...",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "data", "mid": "d", "port": 1}]}),
            456,
            "Can't add 'rtp' stream: no datachannels support...",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "text", "mid": "d", "port": 1}]}),
            456,
            "Unsupported media type in media stream",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "port": 1}]}),
            453,
            "Missing mandatory element (mid)",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a"}]}),
            453,
            "Missing mandatory element (port)",
        ),
        (
            json!({"type": "rtp", "media": [1]}),
            454,
            "Invalid element type (media should be an array of objects)",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a", "port": 1}]}),
            456,
            "Can't add 'rtp' stream, error creating data source stream",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a", "port": 1, "codec": "vp8"}]}),
            456,
            "Can't add 'rtp' stream, error creating data source stream (unsupported audio codec 'vp8')",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a", "port": 1, "codec": "opus"}, {"type": "audio", "mid": "a", "port": 2, "codec": "opus"}]}),
            456,
            "Can't add 'rtp' stream, missing or duplicate mid 'a'",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "video", "mid": "v", "port": 1, "codec": "vp8", "simulcast": true}]}),
            456,
            "Can't add 'rtp' stream, error creating data source stream (simulcast mountpoints are not supported)",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a", "port": 1, "codec": "opus", "mcast": "232.1.1.1"}]}),
            456,
            "Can't add 'rtp' stream, error creating data source stream (multicast is not supported)",
        ),
        (
            json!({"type": "rtp", "media": [{"type": "audio", "mid": "a", "port": 1, "codec": "opus", "iface": "eth0"}]}),
            456,
            "Invalid network interface configuration for media stream",
        ),
        (
            json!({"type": "rtp", "srtpsuite": 33, "audio": true}),
            456,
            "Can't add 'rtp' stream, invalid SRTP suite...",
        ),
        (
            json!({"type": "rtp", "srtpsuite": 32, "srtpcrypto": "abc", "audio": true}),
            456,
            "Can't add 'rtp' stream, SRTP mountpoints are not supported",
        ),
        (
            json!({"type": "rtp", "is_private": "no"}),
            454,
            "Invalid element type (is_private should be a boolean)",
        ),
    ];
    for (body, want_code, want_text) in cases {
        let mut b = body.clone();
        b["request"] = json!("create");
        let r = sync(&mut s, 1, b);
        assert_eq!(
            (code(&r), r["error"].as_str()),
            (Some(want_code as i64), Some(want_text)),
            "{body}"
        );
    }
    assert_eq!(s.mountpoints.len(), 3, "nothing was created");
}

#[test]
fn create_fails_when_the_core_cannot_open_the_ports() {
    let mut s = demo();
    s.host.fail_input = true;
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 60, "audio": true, "audioport": 5002,
               "audiopt": 111, "audiocodec": "opus"}),
    );
    assert_eq!(code(&r), Some(CANT_CREATE as i64));
    assert_eq!(
        r["error"],
        "Error creating 'rtp' stream: port 5002 is in use"
    );
    assert!(
        !s.mountpoints
            .contains_key(&portunus_plugin_sdk::ids::Id::Num(60))
    );
}

#[test]
fn create_with_admin_key() {
    let mut cfg = demo_config();
    cfg["admin_key"] = json!("k");
    let mut s = Streaming::new(Fake::default());
    s.init(cfg).unwrap();
    s.create_session(1).unwrap();
    let body = json!({"request": "create", "type": "rtp", "audio": true, "audioport": 0,
                      "audiopt": 0, "audiocodec": "opus"});
    assert_eq!(code(&sync(&mut s, 1, body.clone())), Some(453));
    let mut wrong = body.clone();
    wrong["admin_key"] = json!("x");
    assert_eq!(code(&sync(&mut s, 1, wrong)), Some(457));
    let mut right = body;
    right["admin_key"] = json!("k");
    assert_eq!(sync(&mut s, 1, right)["streaming"], "created");
}

#[test]
fn permanent_create_edit_destroy_save_the_configuration() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 70, "name": "kept", "permanent": true,
               "secret": "s", "audio": true, "audioport": 7000, "audiopt": 111,
               "audiocodec": "opus"}),
    );
    assert_eq!(r["permanent"], true);
    let saved = s.host.saved.last().unwrap().clone();
    let tables = saved["mountpoints"].as_array().unwrap();
    assert_eq!(tables.len(), 4, "the three configured ones and the new one");
    let t = &tables[3];
    assert_eq!(
        (t["id"].clone(), t["name"].clone()),
        (json!(70), json!("kept"))
    );
    // Saved as Janus saves: the media form, with the bound ports and no request keys.
    assert_eq!(
        t["media"],
        json!([{"type": "audio", "mid": "a", "label": "audio", "port": 7000, "pt": 111,
                "codec": "opus"}])
    );
    assert_eq!(t["secret"], "s");
    assert!(t.get("request").is_none() && t.get("permanent").is_none());
    assert!(t.get("audioport").is_none());
    // The saved table makes the same mountpoint at the next start.
    let mut next = Streaming::new(Fake::default());
    next.init(json!({"mountpoints": [t.clone()]})).unwrap();
    let mp = &next.mountpoints[&portunus_plugin_sdk::ids::Id::Num(70)];
    assert_eq!((mp.name.as_str(), mp.streams[0].port), ("kept", 7000));
    assert_eq!(next.host.inputs[0].1.streams[0].codec, "opus");
    // edit, permanently
    let r = sync(
        &mut s,
        1,
        json!({"request": "edit", "id": 70, "secret": "s", "new_description": "d2",
               "permanent": true}),
    );
    assert_eq!(
        r,
        json!({"streaming": "edited", "id": 70, "permanent": true})
    );
    let tables = s.host.saved.last().unwrap()["mountpoints"].clone();
    assert_eq!(tables.as_array().unwrap().len(), 4);
    assert_eq!(tables[3]["description"], "d2");
    // A non-permanent destroy keeps the file as it is.
    let n = s.host.saved.len();
    sync(
        &mut s,
        1,
        json!({"request": "destroy", "id": 1, "secret": "adminpwd"}),
    );
    assert_eq!(s.host.saved.len(), n);
    sync(
        &mut s,
        1,
        json!({"request": "destroy", "id": 70, "secret": "s", "permanent": true}),
    );
    let tables = s.host.saved.last().unwrap()["mountpoints"].clone();
    let ids: Vec<i64> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 123, 7]);
    // A failed save answers permanent: false.
    s.host.fail_save = true;
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "permanent": true, "audio": true,
               "audioport": 0, "audiopt": 0, "audiocodec": "opus"}),
    );
    assert_eq!(
        (r["streaming"].as_str(), r["permanent"].as_bool()),
        (Some("created"), Some(false))
    );
}

// ---------------------------------------------------------------------------------------
// edit / enable / disable / kick_all / recording / destroy

#[test]
fn edit_changes_settings() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let r = sync(
        &mut s,
        1,
        json!({"request": "edit", "id": 1, "secret": "adminpwd", "new_description": "new",
               "new_metadata": "md2", "new_secret": "s2", "new_pin": "42",
               "new_is_private": true, "edited_event": true}),
    );
    assert_eq!(
        r,
        json!({"streaming": "edited", "id": 1, "permanent": false})
    );
    let info = sync(
        &mut s,
        1,
        json!({"request": "info", "id": 1, "secret": "s2"}),
    )["info"]
        .clone();
    assert_eq!(
        (
            &info["description"],
            &info["metadata"],
            &info["pin"],
            &info["is_private"]
        ),
        (&json!("new"), &json!("md2"), &json!("42"), &json!(true))
    );
    // What Janus 1.1.2's code pushes to viewers (its docs say "streaming": "edited").
    let ev = s.host.pushed.last().unwrap();
    assert_eq!(
        (ev.handle, &ev.data),
        (2, &json!({"event": "edited", "id": 1, "metadata": "md2"}))
    );
    // "" removes the pin.
    sync(
        &mut s,
        1,
        json!({"request": "edit", "id": 1, "secret": "s2", "new_pin": ""}),
    );
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)]
            .pin
            .is_none()
    );
}

#[test]
fn secret_errors() {
    let mut s = demo();
    for req in ["edit", "destroy", "enable", "disable", "kick_all"] {
        let r = sync(&mut s, 1, json!({"request": req, "id": 1}));
        assert_eq!(
            (code(&r), r["error"].as_str()),
            (Some(453), Some("Missing mandatory element (secret)")),
            "{req}"
        );
        let r = sync(&mut s, 1, json!({"request": req, "id": 1, "secret": "x"}));
        assert_eq!(
            (code(&r), r["error"].as_str()),
            (Some(457), Some("Unauthorized (wrong secret)")),
            "{req}"
        );
        let r = sync(&mut s, 1, json!({"request": req, "id": 1, "secret": 5}));
        assert_eq!(code(&r), Some(454), "{req}");
    }
    let r = sync(&mut s, 1, json!({"request": "edit", "id": 99}));
    assert_eq!(r["error"], "No such mountpoint (99)");
    for req in ["destroy", "enable", "disable", "kick_all"] {
        let r = sync(&mut s, 1, json!({"request": req, "id": 99}));
        assert_eq!(r["error"], "No such mountpoint/stream 99", "{req}");
    }
}

#[test]
fn disable_pauses_viewers_and_enable_resumes() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let routes: Vec<RouteId> = s.host.routes.iter().map(|(id, _)| *id).collect();
    assert_eq!(routes.len(), 2);
    let r = sync(
        &mut s,
        1,
        json!({"request": "disable", "id": 1, "secret": "adminpwd"}),
    );
    assert_eq!(r, json!({"streaming": "ok"}));
    assert_eq!(
        sync(&mut s, 1, json!({"request": "list"}))["list"][0]["enabled"],
        false
    );
    assert!(routes.iter().all(|r| s.host.pauses().contains(&(*r, true))));
    s.host.updates.clear();
    sync(
        &mut s,
        1,
        json!({"request": "enable", "id": 1, "secret": "adminpwd"}),
    );
    assert!(
        routes
            .iter()
            .all(|r| s.host.pauses().contains(&(*r, false)))
    );
    let r = sync(
        &mut s,
        1,
        json!({"request": "disable", "id": 1, "secret": "adminpwd", "stop_recording": 1}),
    );
    assert_eq!(code(&r), Some(454));
}

#[test]
fn a_disabled_mountpoint_can_be_watched_and_sends_once_enabled() {
    // As Janus 1.1.2: watch and switch do not refuse a disabled mountpoint.
    let mut s = demo();
    sync(
        &mut s,
        1,
        json!({"request": "disable", "id": 1, "secret": "adminpwd"}),
    );
    watch_and_start(&mut s, 2, json!(1));
    let routes: Vec<RouteId> = s.host.routes.iter().map(|(id, _)| *id).collect();
    assert_eq!(routes.len(), 2);
    assert!(s.host.routes.iter().all(|(_, r)| r.paused), "nothing sent");
    sync(
        &mut s,
        1,
        json!({"request": "enable", "id": 1, "secret": "adminpwd"}),
    );
    assert!(
        routes
            .iter()
            .all(|r| s.host.pauses().contains(&(*r, false)))
    );
    // Switching to a disabled mountpoint with the same media: accepted, paused.
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 2, "audio": true, "video": true,
               "audioport": 0, "audiopt": 111, "audiocodec": "opus", "videoport": 0,
               "videopt": 100, "videocodec": "vp8"}),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    sync(&mut s, 1, json!({"request": "disable", "id": 2}));
    let evs = call(&mut s, 2, json!({"request": "switch", "id": 2}), None);
    assert_eq!(evs[0].data["result"]["switched"], "ok", "{evs:?}");
    let new: Vec<&Route> = s
        .host
        .routes
        .iter()
        .filter(|(id, _)| !routes.contains(id))
        .map(|(_, r)| r)
        .collect();
    assert_eq!(new.len(), 2);
    assert!(new.iter().all(|r| r.paused));
}

#[test]
fn kick_all_ends_every_viewer() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    watch_and_start(&mut s, 3, json!(1));
    let r = sync(
        &mut s,
        1,
        json!({"request": "kick_all", "id": 1, "secret": "adminpwd"}),
    );
    assert_eq!(r, json!({"streaming": "kicked_all"}));
    for h in [2, 3] {
        let ev = s.host.pushed.iter().rev().find(|p| p.handle == h).unwrap();
        assert_eq!(
            ev.data,
            json!({"streaming": "event", "result": {"status": "kicked_all"}})
        );
        assert!(s.host.closed.contains(&h));
        assert!(live_routes(&s, h).is_empty());
        assert!(s.sessions[&h].mountpoint.is_none());
    }
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)]
            .viewers
            .is_empty()
    );
}

#[test]
fn recording_is_refused() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "recording", "id": 1, "secret": "adminpwd", "action": "start"}),
    );
    assert_eq!(
        (code(&r), r["error"].as_str()),
        (Some(459), Some("Recording is not implemented in portunus"))
    );
    let r = sync(
        &mut s,
        1,
        json!({"request": "recording", "id": 1, "action": "go"}),
    );
    assert_eq!(
        (code(&r), r["error"].as_str()),
        (Some(454), Some("Invalid action (should be start|stop)"))
    );
    let r = sync(&mut s, 1, json!({"request": "recording", "id": 1}));
    assert_eq!(code(&r), Some(453));
    let r = sync(
        &mut s,
        1,
        json!({"request": "recording", "id": 1, "action": "stop", "secret": "x"}),
    );
    assert_eq!(code(&r), Some(457));
}

#[test]
fn destroy_ends_viewers_and_closes_the_input() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let source = s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)].source;
    let r = sync(
        &mut s,
        1,
        json!({"request": "destroy", "id": 1, "secret": "adminpwd"}),
    );
    assert_eq!(r, json!({"streaming": "destroyed", "destroyed": 1}));
    let ev = s.host.pushed.iter().rev().find(|p| p.handle == 2).unwrap();
    assert_eq!(
        ev.data,
        json!({"streaming": "event", "result": {"status": "stopped"}})
    );
    assert_eq!(s.host.closed, [2]);
    assert!(live_routes(&s, 2).is_empty());
    assert_eq!(s.host.removed_inputs, [source]);
    let r = sync(&mut s, 1, json!({"request": "info", "id": 1}));
    assert_eq!(code(&r), Some(455));
    // The viewer can watch something else now.
    let evs = call(&mut s, 2, json!({"request": "watch", "id": 123}), None);
    assert_eq!(status(&evs[0]), Some("preparing"));
}

// ---------------------------------------------------------------------------------------
// Viewers

#[test]
fn watch_offers_every_stream() {
    let mut s = demo();
    let evs = call(&mut s, 2, json!({"request": "watch", "id": 1}), None);
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"status": "preparing"}})
    );
    assert_eq!(evs[0].transaction.as_deref(), Some("tx2"));
    let Some(JsepOut::Offer(spec)) = &evs[0].jsep else {
        panic!("no offer: {:?}", evs[0].jsep);
    };
    assert!(!spec.data_channels && !spec.ice_restart);
    let lines: Vec<(MediaKind, Direction, Vec<String>)> = spec
        .media
        .iter()
        .map(|m| (m.kind, m.direction, m.codecs.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                MediaKind::Audio,
                Direction::Sendonly,
                vec!["opus".to_string()]
            ),
            (
                MediaKind::Video,
                Direction::Sendonly,
                vec!["vp8".to_string()]
            )
        ]
    );
    let info = sync(
        &mut s,
        1,
        json!({"request": "info", "id": 1, "secret": "adminpwd"}),
    );
    assert_eq!(info["info"]["viewers"], 1);
}

#[test]
fn watch_selects_streams() {
    let mut s = demo();
    let offer_kinds = |evs: &[Pushed]| match &evs[0].jsep {
        Some(JsepOut::Offer(spec)) => spec.media.iter().map(|m| m.kind).collect::<Vec<_>>(),
        other => panic!("no offer: {other:?}"),
    };
    let evs = call(
        &mut s,
        2,
        json!({"request": "watch", "id": 1, "offer_video": false}),
        None,
    );
    assert_eq!(offer_kinds(&evs), [MediaKind::Audio]);
    let evs = call(
        &mut s,
        3,
        json!({"request": "watch", "id": 123, "media": ["v2", "A"]}),
        None,
    );
    assert_eq!(offer_kinds(&evs), [MediaKind::Audio, MediaKind::Video]);
    assert_eq!(s.sessions[&3].streams[1].index, 2, "v2 is the third stream");
    let r = async_error(
        &mut s,
        4,
        json!({"request": "watch", "id": 1, "offer_audio": false, "offer_video": false}),
    );
    assert_eq!(r, 452);
    let r = async_error(
        &mut s,
        4,
        json!({"request": "watch", "id": 1, "media": ["x"]}),
    );
    assert_eq!(r, 452);
    assert!(s.sessions[&4].mountpoint.is_none());
}

#[test]
fn watch_errors() {
    let mut s = demo();
    assert_eq!(async_error(&mut s, 2, json!({"request": "watch"})), 453);
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "watch", "id": "1"})),
        454
    );
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "watch", "id": 99})),
        455
    );
    assert_eq!(
        async_error(
            &mut s,
            2,
            json!({"request": "watch", "id": 1, "media": [1]})
        ),
        454
    );
    assert_eq!(
        async_error(
            &mut s,
            2,
            json!({"request": "watch", "id": 1, "restart": "y"})
        ),
        454
    );
    // Mountpoint 7 has a pin.
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "watch", "id": 7})),
        453
    );
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "watch", "id": 7, "pin": "0"})),
        457
    );
    let evs = call(
        &mut s,
        2,
        json!({"request": "watch", "id": 7, "pin": "1234"}),
        None,
    );
    assert_eq!(status(&evs[0]), Some("preparing"));
    // Already watching (its PC is not up: no renegotiation either).
    let evs = call(&mut s, 2, json!({"request": "watch", "id": 1}), None);
    assert_eq!(code(&evs[0].data), Some(460));
    assert_eq!(evs[0].data["error"], "Already watching mountpoint 7");
    let evs = call(
        &mut s,
        2,
        json!({"request": "watch", "id": 7, "pin": "1234"}),
        None,
    );
    assert_eq!(code(&evs[0].data), Some(460));
}

#[test]
fn start_routes_the_mountpoint_to_the_viewer() {
    let mut s = demo();
    call(&mut s, 2, json!({"request": "watch", "id": 1}), None);
    assert!(s.host.routes.is_empty(), "no routes before the answer");
    let evs = call(&mut s, 2, json!({"request": "start"}), Some(answer()));
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"status": "starting"}})
    );
    assert_eq!(evs[0].transaction.as_deref(), Some("tx2"));
    let source = s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)].source;
    assert_eq!(
        live_routes(&s, 2),
        [
            (source, "a".to_string(), "0".to_string()),
            (source, "v".to_string(), "1".to_string())
        ]
    );
    assert!(s.host.routes.iter().all(|(_, r)| !r.paused));
    s.setup_media(2);
    let ev = s.host.pushed.last().unwrap();
    assert_eq!((ev.handle, ev.transaction.as_deref()), (2, None));
    assert_eq!(
        ev.data,
        json!({"streaming": "event", "result": {"status": "started"}})
    );
    assert_eq!(keyframes(&s), [(source, "v".to_string())]);
    // start once up answers "started" at once.
    let evs = call(&mut s, 2, json!({"request": "start"}), None);
    assert_eq!(status(&evs[0]), Some("started"));
    assert_eq!(s.host.routes.len(), 2, "no duplicate routes");
    let q = s.query_session(2);
    assert_eq!(
        (q["mountpoint_id"].clone(), q["media_up"].clone()),
        (json!(1), json!(true))
    );
}

#[test]
fn start_pause_without_mountpoint() {
    let mut s = demo();
    let evs = call(&mut s, 2, json!({"request": "start"}), None);
    assert_eq!(evs[0].data["error"], "Can't start: no mountpoint set");
    assert_eq!(code(&evs[0].data), Some(455));
    assert_eq!(async_error(&mut s, 2, json!({"request": "pause"})), 455);
    let evs = call(
        &mut s,
        2,
        json!({"request": "configure", "audio": false}),
        None,
    );
    assert_eq!(evs[0].data["error"], "Can't configure: not on a mountpoint");
    let evs = call(&mut s, 2, json!({"request": "switch", "id": 1}), None);
    assert_eq!(evs[0].data["error"], "Can't switch: not on a mountpoint");
    // stop without a PeerConnection: nothing, as Janus.
    assert!(call(&mut s, 2, json!({"request": "stop"}), None).is_empty());
}

#[test]
fn pause_and_resume() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let evs = call(&mut s, 2, json!({"request": "pause"}), None);
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"status": "pausing"}})
    );
    assert_eq!(s.host.pauses(), [(1 + 3, true), (2 + 3, true)]);
    s.host.updates.clear();
    let evs = call(&mut s, 2, json!({"request": "start"}), None);
    assert_eq!(status(&evs[0]), Some("started"));
    assert_eq!(s.host.pauses(), [(4, false), (5, false)]);
    // ... and asks the source for a keyframe again (one at setup, one now).
    assert_eq!(keyframes(&s).len(), 2);
}

#[test]
fn configure_turns_streams_off_and_on() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let evs = call(
        &mut s,
        2,
        json!({"request": "configure", "video": false}),
        None,
    );
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"event": "configured"}})
    );
    // Routes 4 (audio) and 5 (video).
    assert_eq!(s.host.pauses(), [(4, false), (5, true)]);
    s.host.updates.clear();
    call(
        &mut s,
        2,
        json!({"request": "configure", "mid": "0", "send": false}),
        None,
    );
    assert_eq!(s.host.pauses(), [(4, true), (5, true)]);
    s.host.updates.clear();
    call(
        &mut s,
        2,
        json!({"request": "configure", "send": true}),
        None,
    );
    assert_eq!(s.host.pauses(), [(4, false), (5, false)]);
    s.host.updates.clear();
    // The mountpoint's mid ("v") names a stream too, as it does with Janus.
    call(
        &mut s,
        2,
        json!({"request": "configure", "mid": "v", "send": false}),
        None,
    );
    assert_eq!(s.host.pauses(), [(4, false), (5, true)]);
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "configure", "send": "yes"})),
        454
    );
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "configure", "mid": 1})),
        454
    );
}

#[test]
fn switch_moves_the_routes() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 2, "audio": true, "audioport": 0,
               "audiopt": 111, "audiocodec": "opus", "video": true, "videoport": 0,
               "videopt": 100, "videocodec": "vp8"}),
    );
    assert_eq!(r["streaming"], "created");
    watch_and_start(&mut s, 2, json!(1));
    let (src1, src2) = (
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)].source,
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(2)].source,
    );
    s.host.keyframes.clear();
    let evs = call(&mut s, 2, json!({"request": "switch", "id": 2}), None);
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"switched": "ok", "id": 2}})
    );
    assert_eq!(
        live_routes(&s, 2),
        [
            (src2, "a".to_string(), "0".to_string()),
            (src2, "v".to_string(), "1".to_string())
        ]
    );
    assert_eq!(keyframes(&s), [(src2, "v".to_string())]);
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)]
            .viewers
            .is_empty()
    );
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(2)]
            .viewers
            .contains(&2)
    );
    let _ = src1;
    // Different media: 458; unknown: 455; missing id: 453.
    let evs = call(&mut s, 2, json!({"request": "switch", "id": 7}), None);
    assert_eq!(code(&evs[0].data), Some(458));
    assert_eq!(
        async_error(&mut s, 2, json!({"request": "switch", "id": 99})),
        455
    );
    assert_eq!(async_error(&mut s, 2, json!({"request": "switch"})), 453);
}

#[test]
fn stop_closes_the_peerconnection() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let evs = call(&mut s, 2, json!({"request": "stop"}), None);
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"status": "stopping"}})
    );
    assert_eq!(s.host.closed, [2]);
    // A second stop while stopping: nothing.
    assert!(call(&mut s, 2, json!({"request": "stop"}), None).is_empty());
    s.hangup_media(2);
    assert!(live_routes(&s, 2).is_empty());
    assert!(s.sessions[&2].mountpoint.is_none());
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)]
            .viewers
            .is_empty()
    );
    // It can watch again.
    watch_and_start(&mut s, 2, json!(123));
    assert_eq!(live_routes(&s, 2).len(), 3);
}

#[test]
fn renegotiation_and_ice_restart() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let evs = call(
        &mut s,
        2,
        json!({"request": "watch", "id": 1, "restart": true}),
        None,
    );
    assert_eq!(status(&evs[0]), Some("updating"));
    let Some(JsepOut::Offer(spec)) = &evs[0].jsep else {
        panic!("no offer");
    };
    assert!(spec.ice_restart);
    let mids: Vec<Option<String>> = spec.media.iter().map(|m| m.mid.clone()).collect();
    assert_eq!(
        mids,
        [Some("0".into()), Some("1".into())],
        "the same m-lines"
    );
    // Waiting for the answer: a second one is refused.
    let evs = call(
        &mut s,
        2,
        json!({"request": "watch", "id": 1, "restart": true}),
        None,
    );
    assert_eq!(evs[0].data["error"], "Already renegotiating mountpoint 1");
    call(&mut s, 2, json!({"request": "start"}), Some(answer()));
    assert_eq!(s.host.routes.len(), 2, "the routes stay");
}

#[test]
fn detach_cleans_up() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    s.destroy_session(2);
    assert!(live_routes(&s, 2).is_empty());
    assert!(
        s.mountpoints[&portunus_plugin_sdk::ids::Id::Num(1)]
            .viewers
            .is_empty()
    );
    assert!(!s.sessions.contains_key(&2));
}

// ---------------------------------------------------------------------------------------
// Admin API, string ids, hot reload

#[test]
fn admin_messages_take_the_synchronous_requests() {
    let mut s = demo();
    let r = s.admin_message(&json!({"request": "list"}));
    assert_eq!(r["list"].as_array().unwrap().len(), 2);
    let r = s.admin_message(&json!({"request": "watch", "id": 1}));
    assert_eq!(code(&r), Some(452));
    let r = s.admin_message(&json!("x"));
    assert_eq!(code(&r), Some(451));
}

#[test]
fn string_ids() {
    let mut s = Streaming::new(Fake::default());
    s.init(json!({"string_ids": true, "mountpoints": [
        {"type": "rtp", "id": "cam", "audio": true, "audioport": 0, "audiopt": 111, "audiocodec": "opus"}
    ]}))
    .unwrap();
    s.create_session(1).unwrap();
    let r = sync(&mut s, 1, json!({"request": "info", "id": "cam"}));
    assert_eq!(r["info"]["id"], "cam");
    assert_eq!(r["info"]["name"], "mp-cam");
    let r = sync(&mut s, 1, json!({"request": "info", "id": 1}));
    assert_eq!(r["error"], "Invalid element type (id should be a string)");
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "audio": true,
        "audioport": 0, "audiopt": 111, "audiocodec": "opus"}),
    );
    assert!(r["stream"]["id"].is_string(), "{r}");
    watch_and_start(&mut s, 1, json!("cam"));
}

#[test]
fn snapshot_and_restore_keep_everything() {
    let mut s = demo();
    watch_and_start(&mut s, 2, json!(1));
    let snap = s.snapshot().unwrap();
    let mut t = Streaming::new(Fake::default());
    t.restore(&snap).unwrap();
    assert_eq!(t.mountpoints.len(), 3);
    assert!(
        t.mountpoints
            .contains_key(&portunus_plugin_sdk::ids::Id::Num(123))
    );
    assert_eq!(t.sessions[&2].streams.len(), 2);
    // The restored plugin goes on: pause updates the same routes.
    let evs = call(&mut t, 2, json!({"request": "pause"}), None);
    assert_eq!(status(&evs[0]), Some("pausing"));
    assert_eq!(t.host.pauses(), [(4, true), (5, true)]);
    assert!(t.restore(b"nope").is_err());
}

/// A hot reload runs the new version's `init` before `restore`: the free-port mountpoint it
/// opened again is closed, the snapshot's inputs stay, and nothing else is removed.
#[test]
fn restore_after_init_closes_the_inputs_init_opened_again() {
    let s = demo();
    let old_sources: Vec<HandleId> = s.mountpoints.values().map(|m| m.source).collect();
    let snap = s.snapshot().unwrap();
    let mut t = Streaming::new(Fake {
        next_id: 1000,
        ..Fake::default()
    });
    t.init(demo_config()).unwrap();
    let opened: Vec<HandleId> = t.mountpoints.values().map(|m| m.source).collect();
    assert_eq!(opened.len(), 3);
    t.restore(&snap).unwrap();
    assert_eq!(t.host.removed_inputs, opened);
    let now: Vec<HandleId> = t.mountpoints.values().map(|m| m.source).collect();
    assert_eq!(now, old_sources);
}

// ---------------------------------------------------------------------------------------
// VP9-SVC layers

#[test]
fn svc_layers_follow_watch_and_configure() {
    let mut s = demo();
    let r = sync(
        &mut s,
        1,
        json!({"request": "create", "type": "rtp", "id": 90, "media": [
            {"type": "video", "mid": "v", "port": 0, "pt": 98, "codec": "vp9", "svc": true}]}),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    let info = sync(&mut s, 1, json!({"request": "info", "id": 90}));
    assert_eq!(info["info"]["media"][0]["videosvc"], true);
    assert_eq!(
        async_error(
            &mut s,
            2,
            json!({"request": "watch", "id": 90, "spatial_layer": "x"})
        ),
        454
    );
    call(
        &mut s,
        2,
        json!({"request": "watch", "id": 90, "spatial_layer": 1}),
        None,
    );
    call(&mut s, 2, json!({"request": "start"}), Some(answer()));
    s.setup_media(2);
    let (route, r) = s.host.routes.last().unwrap().clone();
    assert_eq!((r.layer.substream, r.layer.temporal), (Some(1), None));
    // The core reports what it forwards: told as Janus, with the mountpoint's mid.
    s.on_media_event(MediaEvent::LayerChanged(LayerChange {
        route,
        target: r.target.clone(),
        substream: Some(1),
        temporal: Some(2),
    }));
    let ev = s.host.pushed.last().unwrap();
    assert_eq!(
        ev.data,
        json!({"streaming": "event", "result": {"mid": "v", "spatial_layer": 1, "temporal_layer": 2}})
    );
    // configure: a new temporal target updates the route; the current spatial layer is
    // answered at once.
    let evs = call(
        &mut s,
        2,
        json!({"request": "configure", "spatial_layer": 1, "temporal_layer": 0}),
        None,
    );
    assert_eq!(
        evs[0].data,
        json!({"streaming": "event", "result": {"spatial_layer": 1}})
    );
    assert_eq!(evs[1].data["result"]["event"], "configured");
    assert_eq!(s.host.layers().last(), Some(&(route, Some(1), Some(0))));
    s.on_media_event(MediaEvent::LayerChanged(LayerChange {
        route,
        target: r.target.clone(),
        substream: Some(1),
        temporal: Some(0),
    }));
    let ev = s.host.pushed.last().unwrap();
    assert_eq!(
        ev.data,
        json!({"streaming": "event", "result": {"mid": "v", "temporal_layer": 0}})
    );
    assert_eq!(
        async_error(
            &mut s,
            2,
            json!({"request": "configure", "temporal_layer": -1})
        ),
        454
    );
    // Not an SVC mountpoint: the layers are ignored.
    watch_and_start(&mut s, 3, json!(1));
    call(
        &mut s,
        3,
        json!({"request": "configure", "spatial_layer": 0}),
        None,
    );
    assert!(
        s.host
            .layers()
            .iter()
            .filter(|(id, _, _)| *id != route)
            .all(|(_, sp, t)| sp.is_none() && t.is_none())
    );
}
