//! Request-level tests on a recording fake of the gateway.

use portunus_plugin_sdk::prelude::*;

use crate::VideoRoom;
use portunus_plugin_sdk::testing::{FakeHost as Fake, Pushed};

pub type Vr = VideoRoom<Fake>;

// ---------------------------------------------------------------------------------------
// Helpers

fn mr(handle: HandleId, mid: &str) -> (HandleId, String) {
    (handle, mid.to_owned())
}

fn mref(m: &MediaRef) -> (HandleId, String) {
    (m.handle, m.mid.clone())
}

use crate::error::*;

fn demo_config() -> Value {
    json!({
        "string_ids": false,
        "lock_rtp_forward": true,
        "rooms": [
            {"room": 1234, "description": "Demo Room", "secret": "adminpwd", "publishers": 6,
             "bitrate": 128000, "fir_freq": 10},
            {"room": 5678, "description": "VP9-SVC Demo Room", "secret": "adminpwd",
             "publishers": 6, "bitrate": 512000, "fir_freq": 10, "videocodec": "vp9",
             "video_svc": true},
            {"room": 42, "description": "Talkers", "audiolevel_event": true,
             "audio_active_packets": 50, "audio_level_average": 40, "pin": "1111",
             "publishers": 1, "require_pvtid": true, "notify_joining": true}
        ]
    })
}

fn demo() -> Vr {
    let mut v = VideoRoom::new(Fake::default());
    v.init(demo_config()).unwrap();
    for h in 1..=9 {
        v.create_session(h, None).unwrap();
    }
    v
}

fn send(v: &mut Vr, h: HandleId, body: Value, jsep: Option<JsepIn>) -> Reply {
    v.handle_message(&Message {
        handle: h,
        transaction: format!("tx{h}"),
        body,
        jsep,
    })
    .unwrap()
}

/// A synchronous request's reply.
fn sync(v: &mut Vr, h: HandleId, body: Value) -> Value {
    match send(v, h, body, None) {
        Reply::Sync(r) => r,
        other => panic!("expected a sync reply, got {other:?}"),
    }
}

/// An asynchronous request: acked; returns the events it pushed to `h`.
fn call(v: &mut Vr, h: HandleId, body: Value, jsep: Option<JsepIn>) -> Vec<Pushed> {
    let before = v.host.pushed.len();
    assert_eq!(send(v, h, body, jsep), Reply::Ack(None));
    v.host.pushed[before..]
        .iter()
        .filter(|p| p.handle == h)
        .cloned()
        .collect()
}

fn events_to(v: &Vr, h: HandleId) -> Vec<Value> {
    v.host
        .pushed
        .iter()
        .filter(|p| p.handle == h)
        .map(|p| p.data.clone())
        .collect()
}

fn clear(v: &mut Vr) {
    v.host.pushed.clear();
}

fn line(index: u32, mid: &str, kind: MediaKind, codecs: &[&str]) -> MediaLine {
    MediaLine {
        index,
        mid: mid.into(),
        kind,
        direction: Direction::Sendonly,
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        rids: Vec::new(),
        simulcast_layers: 0,
        audio_level: kind == MediaKind::Audio,
    }
}

fn offer(media: Vec<MediaLine>, data: bool) -> JsepIn {
    let mut sdp = String::from("v=0\r\n");
    for m in &media {
        sdp.push_str(&format!(
            "m={} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{}\r\n",
            m.kind.as_str(),
            m.mid
        ));
    }
    if data {
        sdp.push_str(&format!(
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:{}\r\n",
            media.len()
        ));
    }
    JsepIn {
        kind: JsepType::Offer,
        sdp,
        media,
        data_channels: data,
        update: false,
        e2ee: false,
    }
}

fn av_offer() -> JsepIn {
    offer(
        vec![
            line(0, "0", MediaKind::Audio, &["opus", "pcmu"]),
            line(1, "1", MediaKind::Video, &["vp8", "vp9", "h264"]),
        ],
        false,
    )
}

fn answer(data_mid: Option<&str>) -> JsepIn {
    let sdp = match data_mid {
        Some(m) => format!("v=0\r\nm=application 9 x\r\na=mid:{m}\r\n"),
        None => "v=0\r\n".into(),
    };
    JsepIn {
        kind: JsepType::Answer,
        sdp,
        media: Vec::new(),
        data_channels: data_mid.is_some(),
        update: false,
        e2ee: false,
    }
}

/// Joins `h` as a publisher of `room`; returns its id.
fn join_pub(v: &mut Vr, h: HandleId, room: u64, display: &str) -> u64 {
    let ev = call(
        v,
        h,
        json!({"request": "join", "ptype": "publisher", "room": room, "display": display}),
        None,
    );
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["videoroom"], "joined", "{:?}", ev[0].data);
    ev[0].data["id"].as_u64().unwrap()
}

/// Joins and publishes `jsep` with the PeerConnection up; returns the publisher id.
fn publish(v: &mut Vr, h: HandleId, room: u64, display: &str, jsep: JsepIn) -> u64 {
    let id = join_pub(v, h, room, display);
    let ev = call(
        v,
        h,
        json!({"request": "configure", "audio": true, "video": true}),
        Some(jsep),
    );
    assert_eq!(ev[0].data["configured"], "ok", "{:?}", ev[0].data);
    v.setup_media(h);
    id
}

/// Subscribes `h` to `streams` and answers; returns the attached event.
fn subscribe(v: &mut Vr, h: HandleId, room: u64, streams: Value) -> Value {
    let ev = call(
        v,
        h,
        json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
        None,
    );
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(ev[0].jsep, Some(JsepOut::PreparedOffer)));
    let attached = ev[0].data.clone();
    let ev = call(
        v,
        h,
        json!({"request": "start", "room": room}),
        Some(answer(None)),
    );
    assert_eq!(ev[0].data["started"], "ok");
    v.setup_media(h);
    attached
}

fn error_of(data: &Value) -> (i64, String) {
    (
        data["error_code"].as_i64().unwrap_or(0),
        data["error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn async_error(v: &mut Vr, h: HandleId, body: Value, jsep: Option<JsepIn>) -> (i64, String) {
    let ev = call(v, h, body, jsep);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["videoroom"], "event");
    error_of(&ev[0].data)
}

// ---------------------------------------------------------------------------------------
// Configuration and generic errors

#[test]
fn config_rooms_load_and_bad_config_is_refused() {
    let v = demo();
    assert_eq!(v.rooms.len(), 3);
    let mut bad = VideoRoom::new(Fake::default());
    assert!(
        bad.init(json!({"rooms": [{"description": "no id"}]}))
            .is_err()
    );
    assert!(
        bad.init(json!({"rooms": [{"room": 1, "publishers": "x"}]}))
            .is_err()
    );
    assert!(
        bad.init(json!({"rooms": [{"room": 1}, {"room": 1}]}))
            .is_err()
    );
    assert!(bad.init(json!({"rooms": [{"room": "abc"}]})).is_err());
    assert!(bad.init(Value::Null).is_ok());
}

#[test]
fn generic_errors_421_422_423_429_430() {
    let mut v = demo();
    let r = sync(&mut v, 1, Value::Null);
    assert_eq!(error_of(&r).0, i64::from(NO_MESSAGE));
    let r = sync(&mut v, 1, json!([1]));
    assert_eq!(
        error_of(&r),
        (i64::from(INVALID_JSON), "JSON error: not an object".into())
    );
    let r = sync(&mut v, 1, json!({"request": "dance"}));
    assert_eq!(
        error_of(&r),
        (i64::from(INVALID_REQUEST), "Unknown request 'dance'".into())
    );
    let r = sync(&mut v, 1, json!({}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (request)".into()
        )
    );
    let r = sync(&mut v, 1, json!({"request": 5}));
    assert_eq!(error_of(&r).0, i64::from(INVALID_ELEMENT));
    let r = sync(&mut v, 1, json!({"request": "exists", "room": "1234"}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(INVALID_ELEMENT),
            "Invalid element type (room should be a positive integer)".into()
        )
    );
    assert!(
        v.handle_message(&Message {
            handle: 99,
            transaction: "x".into(),
            body: json!({}),
            jsep: None
        })
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Synchronous requests

#[test]
fn create_exists_list_destroy() {
    let mut v = demo();
    let r = sync(
        &mut v,
        1,
        json!({"request": "create", "room": 7, "description": "x", "publishers": 1}),
    );
    assert_eq!(
        r,
        json!({"videoroom": "created", "room": 7, "permanent": false})
    );
    assert!(v.host.saved.is_empty(), "not permanent: nothing written");
    let r = sync(&mut v, 1, json!({"request": "create", "room": 7}));
    assert_eq!(
        error_of(&r),
        (i64::from(ROOM_EXISTS), "Room 7 already exists".into())
    );
    let r = sync(&mut v, 1, json!({"request": "exists", "room": 7}));
    assert_eq!(
        r,
        json!({"videoroom": "success", "room": 7, "exists": true})
    );
    let r = sync(&mut v, 1, json!({"request": "create"}));
    let generated = r["room"].as_u64().unwrap();
    assert!(generated > 0);
    let r = sync(&mut v, 1, json!({"request": "list"}));
    let list = r["list"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let demo_room = list.iter().find(|r| r["room"] == 1234).unwrap();
    assert_eq!(demo_room["description"], "Demo Room");
    assert_eq!(demo_room["max_publishers"], 6);
    assert_eq!(demo_room["bitrate"], 128000);
    assert_eq!(demo_room["videocodec"], "vp8");
    assert_eq!(demo_room["pin_required"], false);
    assert_eq!(demo_room["num_participants"], 0);
    let r = sync(&mut v, 1, json!({"request": "destroy", "room": 7}));
    assert_eq!(
        r,
        json!({"videoroom": "destroyed", "room": 7, "permanent": false})
    );
    let r = sync(&mut v, 1, json!({"request": "exists", "room": 7}));
    assert_eq!(r["exists"], false);
    let r = sync(&mut v, 1, json!({"request": "destroy", "room": 7}));
    assert_eq!(
        error_of(&r),
        (i64::from(NO_SUCH_ROOM), "No such room (7)".into())
    );
}

#[test]
fn create_needs_admin_key_when_configured_and_refuses_record() {
    let mut v = VideoRoom::new(Fake::default());
    v.init(json!({"admin_key": "k"})).unwrap();
    v.create_session(1, None).unwrap();
    let r = sync(&mut v, 1, json!({"request": "create"}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (admin_key)".into()
        )
    );
    let r = sync(&mut v, 1, json!({"request": "create", "admin_key": "no"}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(UNAUTHORIZED),
            "Unauthorized (wrong admin_key)".into()
        )
    );
    let r = sync(
        &mut v,
        1,
        json!({"request": "create", "admin_key": "k", "room": 3}),
    );
    assert_eq!(r["videoroom"], "created");
    let r = sync(
        &mut v,
        1,
        json!({"request": "create", "admin_key": "k", "record": true}),
    );
    assert_eq!(error_of(&r).0, i64::from(UNKNOWN_ERROR));
    let r = sync(
        &mut v,
        1,
        json!({"request": "create", "admin_key": "k", "bitrate": "fast"}),
    );
    assert_eq!(error_of(&r).0, i64::from(INVALID_ELEMENT));
}

#[test]
fn permanent_create_edit_destroy_save_the_whole_section() {
    let mut v = demo();
    sync(
        &mut v,
        1,
        json!({"request": "create", "room": 8, "permanent": true, "description": "kept"}),
    );
    let saved = v.host.saved.last().unwrap().clone();
    let rooms = saved["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 4, "config rooms and the new one: {saved}");
    assert!(
        rooms
            .iter()
            .any(|r| r["room"] == 8 && r["description"] == "kept")
    );
    assert_eq!(saved["string_ids"], false);
    assert_eq!(saved["lock_rtp_forward"], true);
    let r = sync(
        &mut v,
        1,
        json!({"request": "edit", "room": 1234, "secret": "adminpwd", "new_description": "Edited"}),
    );
    assert_eq!(
        r,
        json!({"videoroom": "edited", "room": 1234, "permanent": false})
    );
    assert_eq!(
        v.host.saved.len(),
        1,
        "edit without permanent writes nothing"
    );
    sync(
        &mut v,
        1,
        json!({"request": "edit", "room": 1234, "secret": "adminpwd", "new_bitrate": 256000, "permanent": true}),
    );
    let saved = v.host.saved.last().unwrap();
    let r1234 = saved["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == 1234)
        .unwrap();
    assert_eq!(r1234["description"], "Edited");
    assert_eq!(r1234["bitrate"], 256000);
    assert!(
        r1234.get("opus_fec").is_none(),
        "defaults are not written: {r1234}"
    );
    sync(
        &mut v,
        1,
        json!({"request": "destroy", "room": 8, "permanent": true}),
    );
    let saved = v.host.saved.last().unwrap();
    assert_eq!(saved["rooms"].as_array().unwrap().len(), 3);
    // The written section loads again.
    let mut again = VideoRoom::new(Fake::default());
    again.init(saved.clone()).unwrap();
    assert_eq!(again.rooms.len(), 3);
    // A failing write is reported.
    v.host.fail_save = true;
    let r = sync(
        &mut v,
        1,
        json!({"request": "create", "room": 9, "permanent": true}),
    );
    assert_eq!(error_of(&r).0, i64::from(UNKNOWN_ERROR));
}

#[test]
fn edit_and_secret_errors() {
    let mut v = demo();
    let r = sync(&mut v, 1, json!({"request": "edit", "room": 1234}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (secret)".into()
        )
    );
    let r = sync(
        &mut v,
        1,
        json!({"request": "edit", "room": 1234, "secret": "x"}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(UNAUTHORIZED),
            "Unauthorized (wrong secret)".into()
        )
    );
    let r = sync(
        &mut v,
        1,
        json!({"request": "edit", "room": 1, "secret": "x"}),
    );
    assert_eq!(error_of(&r).0, i64::from(NO_SUCH_ROOM));
    let r = sync(
        &mut v,
        1,
        json!({"request": "edit", "room": 1234, "secret": "adminpwd", "new_publishers": 1}),
    );
    assert_eq!(r["videoroom"], "edited");
    assert_eq!(
        v.rooms[&portunus_plugin_sdk::ids::Id::Num(1234)]
            .cfg
            .publishers,
        1
    );
}

#[test]
fn destroy_tells_every_participant() {
    let mut v = demo();
    publish(&mut v, 1, 1234, "alice", av_offer());
    let id = join_pub(&mut v, 2, 1234, "bob");
    let _ = id;
    let a = v.sessions[&1].publisher().unwrap().id.to_json();
    subscribe(&mut v, 3, 1234, json!([{"feed": a}]));
    clear(&mut v);
    let r = sync(
        &mut v,
        1,
        json!({"request": "destroy", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(r["videoroom"], "destroyed");
    for h in [1, 2] {
        assert!(
            events_to(&v, h).contains(&json!({"videoroom": "destroyed", "room": 1234})),
            "handle {h}"
        );
        assert!(v.host.closed.contains(&h));
    }
    assert!(
        events_to(&v, 3).is_empty(),
        "subscribers hear nothing (Janus)"
    );
    assert!(!v.host.removed_routes.is_empty());
    assert!(v.sessions[&1].publisher().is_none());
}

#[test]
fn listparticipants_and_allowed() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let b = join_pub(&mut v, 2, 1234, "bob");
    let r = sync(
        &mut v,
        9,
        json!({"request": "listparticipants", "room": 1234}),
    );
    assert_eq!(r["videoroom"], "participants");
    let list = r["participants"].as_array().unwrap();
    let alice = list.iter().find(|p| p["id"] == a).unwrap();
    assert_eq!(alice["publisher"], true);
    assert_eq!(alice["display"], "alice");
    assert_eq!(alice["talking"], false);
    let bob = list.iter().find(|p| p["id"] == b).unwrap();
    assert_eq!(bob["publisher"], false);

    let r = sync(
        &mut v,
        9,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "enable"}),
    );
    assert_eq!(
        r,
        json!({"videoroom": "success", "room": 1234, "allowed": []})
    );
    let r = sync(
        &mut v,
        9,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "add", "allowed": ["tok"]}),
    );
    assert_eq!(r["allowed"], json!(["tok"]));
    let r = sync(
        &mut v,
        9,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "add"}),
    );
    assert_eq!(error_of(&r).0, i64::from(MISSING_ELEMENT));
    let r = sync(
        &mut v,
        9,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "bless"}),
    );
    assert_eq!(error_of(&r).0, i64::from(INVALID_ELEMENT));
    let e = async_error(
        &mut v,
        3,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(UNAUTHORIZED),
            "Unauthorized (not in the allowed list)".into()
        )
    );
    let ev = call(
        &mut v,
        3,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "token": "tok"}),
        None,
    );
    assert_eq!(ev[0].data["videoroom"], "joined");
}

#[test]
fn kick_and_moderate() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    join_pub(&mut v, 2, 1234, "bob");
    subscribe(&mut v, 3, 1234, json!([{"feed": a}]));
    let audio_route = v
        .host
        .routes
        .iter()
        .find(|(_, r)| r.source.mid == "0")
        .unwrap()
        .0;
    clear(&mut v);
    let r = sync(
        &mut v,
        9,
        json!({"request": "moderate", "room": 1234, "secret": "adminpwd", "id": a, "mid": "0", "mute": true}),
    );
    assert_eq!(r, json!({"videoroom": "success"}));
    let muted =
        json!({"videoroom": "event", "room": 1234, "id": a, "mid": "0", "moderation": "muted"});
    assert!(events_to(&v, 1).contains(&muted));
    assert!(events_to(&v, 2).contains(&muted));
    assert!(
        v.host
            .updates
            .iter()
            .any(|(id, _, paused)| *id == audio_route && *paused)
    );
    let r = sync(
        &mut v,
        9,
        json!({"request": "moderate", "room": 1234, "secret": "adminpwd", "id": a, "mid": "9", "mute": true}),
    );
    assert_eq!(error_of(&r).0, i64::from(NO_SUCH_FEED));
    let r = sync(
        &mut v,
        9,
        json!({"request": "kick", "room": 1234, "secret": "adminpwd", "id": 1}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(NO_SUCH_FEED),
            "No such user 1 in room 1234".into()
        )
    );
    clear(&mut v);
    let r = sync(
        &mut v,
        9,
        json!({"request": "kick", "room": 1234, "secret": "adminpwd", "id": a}),
    );
    assert_eq!(r, json!({"videoroom": "success"}));
    assert!(events_to(&v, 1).contains(
        &json!({"videoroom": "event", "room": 1234, "leaving": "ok", "reason": "kicked"})
    ));
    assert!(events_to(&v, 2).contains(&json!({"videoroom": "event", "room": 1234, "kicked": a})));
    assert!(v.host.closed.contains(&1));
    assert!(v.host.removed_routes.contains(&audio_route));
    assert!(
        v.rooms[&portunus_plugin_sdk::ids::Id::Num(1234)]
            .participants
            .len()
            == 1
    );
}

// ---------------------------------------------------------------------------------------
// Publishers

#[test]
fn publisher_join_and_its_errors() {
    let mut v = demo();
    let ev = call(
        &mut v,
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "display": "alice", "id": 77}),
        None,
    );
    let j = &ev[0].data;
    assert_eq!(j["videoroom"], "joined");
    assert_eq!(j["room"], 1234);
    assert_eq!(j["description"], "Demo Room");
    assert_eq!(j["id"], 77);
    assert!(j["private_id"].as_u64().unwrap() > 0);
    assert_eq!(j["publishers"], json!([]));
    assert_eq!(ev[0].transaction.as_deref(), Some("tx1"));
    let e = async_error(
        &mut v,
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(ALREADY_JOINED),
            "Already in as a publisher on this handle".into()
        )
    );
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 77}),
        None,
    );
    assert_eq!(
        e,
        (i64::from(ID_EXISTS), "User ID 77 already exists".into())
    );
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 99}),
        None,
    );
    assert_eq!(e, (i64::from(NO_SUCH_ROOM), "No such room (99)".into()));
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 42}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (pin)".into()
        )
    );
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "0"}),
        None,
    );
    assert_eq!(
        e,
        (i64::from(UNAUTHORIZED), "Unauthorized (wrong pin)".into())
    );
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "boss", "room": 1234}),
        None,
    );
    assert_eq!(e.0, i64::from(INVALID_ELEMENT));
    let e = async_error(&mut v, 2, json!({"request": "join", "room": 1234}), None);
    assert_eq!(e.0, i64::from(MISSING_ELEMENT));
    let e = async_error(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "display": 5}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_ELEMENT),
            "Invalid element type (display should be a string)".into()
        )
    );
    let e = async_error(&mut v, 2, json!({"request": "configure"}), None);
    assert_eq!(
        e,
        (
            i64::from(JOIN_FIRST),
            "Invalid request on unconfigured participant".into()
        )
    );
    // notify_joining: attendees in joined, joining to the others.
    call(
        &mut v,
        3,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111", "display": "a"}),
        None,
    );
    let ev = call(
        &mut v,
        4,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111", "display": "b"}),
        None,
    );
    assert_eq!(ev[0].data["attendees"].as_array().unwrap().len(), 1);
    assert!(ev[0].data.get("audio_active_packets").is_none());
    let joining = events_to(&v, 3)
        .into_iter()
        .find(|e| e.get("joining").is_some())
        .unwrap();
    assert_eq!(joining["joining"]["display"], "b");
}

#[test]
fn configure_with_offer_answers_with_room_codecs() {
    let mut v = demo();
    join_pub(&mut v, 1, 1234, "alice");
    let mut o = offer(
        vec![
            line(0, "a", MediaKind::Audio, &["pcmu", "opus"]),
            line(1, "v", MediaKind::Video, &["h264", "vp8"]),
            line(2, "x", MediaKind::Video, &["h264"]),
        ],
        true,
    );
    o.media[1].simulcast_layers = 3;
    let ev = call(
        &mut v,
        1,
        json!({"request": "configure", "audio": true, "video": true}),
        Some(o),
    );
    let e = &ev[0];
    let Some(JsepOut::Answer(spec)) = &e.jsep else {
        panic!("no answer: {e:?}")
    };
    assert_eq!(spec.media[0].codec.as_deref(), Some("opus"));
    assert_eq!(spec.media[0].direction, Direction::Recvonly);
    assert!(spec.media[0].accept);
    assert_eq!(spec.media[1].codec.as_deref(), Some("vp8"));
    assert!(!spec.media[2].accept, "h264 is not a codec of the room");
    assert!(spec.data_channels);
    assert_eq!(e.data["configured"], "ok");
    assert_eq!(e.data["audio_codec"], "opus");
    assert_eq!(e.data["video_codec"], "vp8");
    let streams = e.data["streams"].as_array().unwrap();
    assert_eq!(
        streams[0],
        json!({"type": "audio", "mindex": 0, "mid": "a", "codec": "opus", "fec": true, "talking": false})
    );
    assert_eq!(
        streams[1],
        json!({"type": "video", "mindex": 1, "mid": "v", "codec": "vp8", "simulcast": true})
    );
    assert_eq!(streams[2]["disabled"], true);
    assert!(streams[2].get("codec").is_none());
    assert_eq!(streams[3], json!({"type": "data", "mindex": 3, "mid": "3"}));
    // A forced codec must be the room's.
    let e = async_error(
        &mut v,
        1,
        json!({"request": "configure", "videocodec": "h264"}),
        Some(av_offer()),
    );
    assert_eq!(e.0, i64::from(INVALID_ELEMENT));
    // Answers are not for publishers.
    let e = async_error(
        &mut v,
        1,
        json!({"request": "configure"}),
        Some(answer(None)),
    );
    assert_eq!(e.0, i64::from(INVALID_SDP_TYPE));
    // No recording yet.
    let e = async_error(
        &mut v,
        1,
        json!({"request": "configure", "record": true}),
        None,
    );
    assert_eq!(e.0, i64::from(UNKNOWN_ERROR));
    // Without an offer: just configured.
    let ev = call(
        &mut v,
        1,
        json!({"request": "configure", "bitrate": 64000}),
        None,
    );
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "configured": "ok"})
    );
}

#[test]
fn joinandconfigure_answers_in_joined() {
    let mut v = demo();
    let ev = call(
        &mut v,
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "display": "x"}),
        Some(av_offer()),
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data["videoroom"], "joined");
    assert_eq!(ev[0].data["video_codec"], "vp8");
    assert_eq!(ev[0].data["streams"].as_array().unwrap().len(), 2);
    assert!(matches!(ev[0].jsep, Some(JsepOut::Answer(_))));
}

#[test]
fn publishing_is_announced_capped_and_keyframed() {
    let mut v = demo();
    let b = join_pub(&mut v, 2, 1234, "bob");
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let announced = events_to(&v, 2)
        .into_iter()
        .find(|e| e["videoroom"] == "event" && e.get("publishers").is_some())
        .expect("bob hears of alice");
    assert_eq!(announced["videoroom"], "event");
    let p = &announced["publishers"][0];
    assert_eq!(p["id"], a);
    assert_eq!(p["display"], "alice");
    assert_eq!(p["audio_codec"], "opus");
    assert_eq!(p["video_codec"], "vp8");
    assert_eq!(p["streams"].as_array().unwrap().len(), 2);
    assert!(
        v.host.caps.contains(&(1, 128000)),
        "room bitrate as REMB cap"
    );
    assert!(v.host.timers.contains(&(1, 10_000)), "fir_freq timer");
    v.on_timer(1);
    assert!(v.host.keyframes.iter().any(|k| mref(k) == mr(1, "1")));
    // A later joiner sees alice in `joined`.
    let ev = call(
        &mut v,
        3,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(ev[0].data["publishers"][0]["id"], a);
    let _ = b;
    // configure bitrate and display.
    clear(&mut v);
    call(
        &mut v,
        1,
        json!({"request": "configure", "bitrate": 300000, "display": "Alice"}),
        None,
    );
    assert_eq!(v.host.caps.last(), Some(&(1, 300000)));
    // "No limit" in the demo's bitrate menu lifts the cap.
    call(
        &mut v,
        1,
        json!({"request": "configure", "bitrate": 0}),
        None,
    );
    assert_eq!(v.host.caps.last(), Some(&(1, 0)));
    assert!(events_to(&v, 2).contains(&json!({"videoroom": "event", "id": a, "display": "Alice"})));
    // No talk detection outside audiolevel_event rooms.
    assert!(v.host.talk.is_empty());
}

#[test]
fn max_publishers_432_and_already_published_434() {
    let mut v = demo();
    call(
        &mut v,
        1,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111"}),
        None,
    );
    call(&mut v, 1, json!({"request": "configure"}), Some(av_offer()));
    call(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111"}),
        None,
    );
    let e = async_error(&mut v, 2, json!({"request": "publish"}), Some(av_offer()));
    assert_eq!(
        e,
        (
            i64::from(PUBLISHERS_FULL),
            "Maximum number of publishers (1) already reached".into()
        )
    );
    let e = async_error(&mut v, 1, json!({"request": "publish"}), Some(av_offer()));
    assert_eq!(
        e,
        (
            i64::from(ALREADY_PUBLISHED),
            "Can't publish, already published".into()
        )
    );
}

#[test]
fn unpublish_and_leave() {
    let mut v = demo();
    join_pub(&mut v, 2, 1234, "bob");
    let e = async_error(&mut v, 2, json!({"request": "unpublish"}), None);
    assert_eq!(
        e,
        (
            i64::from(NOT_PUBLISHED),
            "Can't unpublish, not published".into()
        )
    );
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    clear(&mut v);
    let ev = call(&mut v, 1, json!({"request": "unpublish"}), None);
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "unpublished": "ok"})
    );
    assert!(v.host.closed.contains(&1));
    assert!(
        events_to(&v, 2).contains(&json!({"videoroom": "event", "room": 1234, "unpublished": a}))
    );
    v.hangup_media(1); // the core's hangup after close-pc: nothing more
    assert_eq!(events_to(&v, 2).len(), 1);
    // publish again, then leave
    call(&mut v, 1, json!({"request": "configure"}), Some(av_offer()));
    v.setup_media(1);
    clear(&mut v);
    let ev = call(&mut v, 1, json!({"request": "leave"}), None);
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "leaving": "ok"})
    );
    let bob = events_to(&v, 2);
    assert_eq!(
        bob[0],
        json!({"videoroom": "event", "room": 1234, "unpublished": a})
    );
    assert_eq!(
        bob[1],
        json!({"videoroom": "event", "room": 1234, "leaving": a})
    );
    // detach of a publisher tells the same
    let c = publish(&mut v, 3, 1234, "carol", av_offer());
    clear(&mut v);
    v.destroy_session(3);
    assert!(events_to(&v, 2).contains(&json!({"videoroom": "event", "room": 1234, "leaving": c})));
}

#[test]
fn talk_detection_in_audiolevel_rooms() {
    let mut v = demo();
    let a = {
        call(
            &mut v,
            1,
            json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111"}),
            None,
        );
        call(&mut v, 1, json!({"request": "configure"}), Some(av_offer()));
        v.setup_media(1);
        v.sessions[&1].publisher().unwrap().id.to_json()
    };
    call(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111"}),
        None,
    );
    let (src, cfg) = v.host.talk.last().unwrap().clone();
    assert_eq!(mref(&src), mr(1, "0"));
    let cfg = cfg.unwrap();
    assert_eq!((cfg.active_packets, cfg.level_average), (50, 40));
    // A publisher's own settings at join win, and `joined` reports them.
    let ev = call(
        &mut v,
        3,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111", "audio_active_packets": 20}),
        None,
    );
    assert_eq!(ev[0].data["audio_active_packets"], 20);
    clear(&mut v);
    v.on_media_event(MediaEvent::TalkChanged(TalkChange {
        source: MediaRef::new(1, "0"),
        talking: true,
        level_dbov_avg: -20.5,
    }));
    let talking = json!({"videoroom": "talking", "room": 42, "id": a, "mindex": 0, "mid": "0", "audio-level-dBov-avg": 20.5});
    assert!(events_to(&v, 1).contains(&talking));
    assert!(events_to(&v, 2).contains(&talking));
    let r = sync(
        &mut v,
        9,
        json!({"request": "listparticipants", "room": 42}),
    );
    let me = r["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == a)
        .unwrap()
        .clone();
    assert_eq!(me["talking"], true);
    v.on_media_event(MediaEvent::TalkChanged(TalkChange {
        source: MediaRef::new(1, "0"),
        talking: false,
        level_dbov_avg: -60.0,
    }));
    assert_eq!(
        events_to(&v, 2).last().unwrap()["videoroom"],
        "stopped-talking"
    );
}

// ---------------------------------------------------------------------------------------
// Subscribers

#[test]
fn subscriber_join_offers_and_start_routes() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let ev = call(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": a}], "use_msid": true}),
        None,
    );
    let (_, spec) = v.host.offers.last().unwrap().clone();
    assert_eq!(spec.media.len(), 2);
    assert_eq!(spec.media[0].kind, MediaKind::Audio);
    assert_eq!(spec.media[0].direction, Direction::Sendonly);
    assert_eq!(spec.media[0].codecs, vec!["opus".to_string()]);
    assert_eq!(spec.media[1].codecs, vec!["vp8".to_string()]);
    assert_eq!(spec.media[0].stream_id, Some(format!("janus{a}")));
    assert!(!spec.data_channels);
    let att = &ev[0].data;
    assert_eq!(att["videoroom"], "attached");
    assert_eq!(att["room"], 1234);
    let s = att["streams"].as_array().unwrap();
    assert_eq!(
        s[0],
        json!({"type": "audio", "active": true, "mindex": 0, "mid": "s1", "ready": false, "send": true,
               "feed_id": a, "feed_display": "alice", "feed_mid": "0", "codec": "opus"})
    );
    assert_eq!(s[1]["mid"], "s2");
    assert_eq!(s[1]["feed_mid"], "1");
    assert!(matches!(ev[0].jsep, Some(JsepOut::PreparedOffer)));
    assert!(v.host.routes.is_empty(), "no routes before the answer");
    let e = async_error(&mut v, 5, json!({"request": "start"}), Some(av_offer()));
    assert_eq!(e.0, i64::from(INVALID_SDP_TYPE));
    let ev = call(
        &mut v,
        5,
        json!({"request": "start", "room": 1234}),
        Some(answer(None)),
    );
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "started": "ok"})
    );
    assert_eq!(v.host.routes.len(), 2);
    let (_, r) = &v.host.routes[1];
    assert_eq!(mref(&r.source), mr(1, "1"));
    assert_eq!(mref(&r.target), mr(5, "s2"));
    assert!(!r.paused);
    assert!(!r.auto_layer);
    v.host.keyframes.clear();
    v.setup_media(5);
    assert_eq!(v.host.routes.len(), 2, "setup_media adds no duplicates");
    assert_eq!(
        v.host.keyframes.iter().map(mref).collect::<Vec<_>>(),
        vec![mr(1, "1")],
        "a subscriber whose PeerConnection is up asks its video feed for a keyframe"
    );
    // pause and resume
    let ev = call(&mut v, 5, json!({"request": "pause"}), None);
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "paused": "ok"})
    );
    assert!(v.host.updates.iter().rev().take(2).all(|(_, _, p)| *p));
    call(&mut v, 5, json!({"request": "start"}), None);
    assert!(v.host.updates.iter().rev().take(2).all(|(_, _, p)| !*p));
    // leave
    let ev = call(&mut v, 5, json!({"request": "leave"}), None);
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "left": "ok"})
    );
    assert_eq!(v.host.removed_routes.len(), 2);
    assert!(v.host.closed.contains(&5));
}

#[test]
fn subscriber_errors() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": 1}]}),
        None,
    );
    assert_eq!(e, (i64::from(NO_SUCH_FEED), "No such feed (1)".into()));
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": a, "mid": "7"}]}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(NO_SUCH_FEED),
            format!("No such mid '7' in feed ({a})")
        )
    );
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234}),
        None,
    );
    assert_eq!(e.0, i64::from(MISSING_ELEMENT));
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [3]}),
        None,
    );
    assert_eq!(e.0, i64::from(INVALID_ELEMENT));
    // require_pvtid
    call(
        &mut v,
        2,
        json!({"request": "join", "ptype": "publisher", "room": 42, "pin": "1111"}),
        None,
    );
    call(&mut v, 2, json!({"request": "configure"}), Some(av_offer()));
    let b = v.sessions[&2].publisher().unwrap().id.to_json();
    // Negotiated but its PeerConnection is not up yet: not a feed yet (Janus).
    let e = async_error(
        &mut v,
        6,
        json!({"request": "join", "ptype": "subscriber", "room": 42, "pin": "1111", "streams": [{"feed": b}]}),
        None,
    );
    assert_eq!(e.0, i64::from(NO_SUCH_FEED));
    v.setup_media(2);
    let pvt = v.sessions[&2].publisher().unwrap().private_id;
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 42, "pin": "1111", "streams": [{"feed": b}]}),
        None,
    );
    assert_eq!(e.0, i64::from(UNAUTHORIZED));
    let ev = call(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 42, "pin": "1111", "private_id": pvt, "streams": [{"feed": b}]}),
        None,
    );
    assert_eq!(ev[0].data["videoroom"], "attached");
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 42}),
        None,
    );
    assert_eq!(e.0, i64::from(ALREADY_JOINED));
    let e = async_error(
        &mut v,
        5,
        json!({"request": "configure", "mid": "nope"}),
        None,
    );
    assert_eq!(e.0, i64::from(NO_SUCH_FEED));
}

#[test]
fn legacy_feed_join_as_screensharingtest() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let ev = call(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "feed": a, "audio": false}),
        None,
    );
    let d = &ev[0].data;
    assert_eq!(d["videoroom"], "attached");
    assert_eq!(d["id"], a);
    assert_eq!(d["display"], "alice");
    assert_eq!(d["warning"], "deprecated_api");
    assert_eq!(
        d["streams"].as_array().unwrap().len(),
        1,
        "audio:false leaves video only"
    );
    assert_eq!(d["streams"][0]["type"], "video");
}

#[test]
fn simulcast_layers_configure_and_events() {
    let mut v = demo();
    let mut o = av_offer();
    o.media[1].simulcast_layers = 3;
    let a = publish(&mut v, 1, 1234, "alice", o);
    let att = subscribe(
        &mut v,
        5,
        1234,
        json!([{"feed": a, "mid": "1", "substream": 1}]),
    );
    let mid = att["streams"][0]["mid"].as_str().unwrap().to_owned();
    assert_eq!(att["streams"][0]["simulcast"]["substream-target"], 1);
    let (rid, r) = v.host.routes[0].clone();
    assert_eq!(r.layer.substream, Some(1));
    assert_eq!(r.layer.temporal, Some(2), "Janus's default temporal target");
    clear(&mut v);
    let ev = call(
        &mut v,
        5,
        json!({"request": "configure", "substream": 0, "temporal": 1}),
        None,
    );
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "configured": "ok"})
    );
    let (id, layer, paused) = *v.host.updates.last().unwrap();
    assert_eq!(
        (id, layer.substream, layer.temporal, paused),
        (rid, Some(0), Some(1), false)
    );
    v.on_media_event(MediaEvent::LayerChanged(LayerChange {
        route: rid,
        target: MediaRef::new(5, mid.clone()),
        substream: Some(0),
        temporal: Some(1),
    }));
    let ev = events_to(&v, 5);
    assert!(ev.contains(&json!({"videoroom": "event", "room": 1234, "mid": mid, "substream": 0})));
    assert!(ev.contains(&json!({"videoroom": "event", "room": 1234, "mid": mid, "temporal": 1})));
    // The layer already forwarded is confirmed at once (mvideoroomtest form with mid).
    clear(&mut v);
    call(
        &mut v,
        5,
        json!({"request": "configure", "mid": mid, "substream": 0}),
        None,
    );
    assert!(
        events_to(&v, 5)
            .contains(&json!({"videoroom": "event", "room": 1234, "mid": mid, "substream": 0}))
    );
}

#[test]
fn svc_room_spatial_and_temporal_layers() {
    let mut v = demo();
    let o = offer(
        vec![
            line(0, "0", MediaKind::Audio, &["opus"]),
            line(1, "1", MediaKind::Video, &["vp8", "vp9"]),
        ],
        false,
    );
    let a = publish(&mut v, 1, 5678, "alice", o);
    let p = v.sessions[&1].publisher().unwrap();
    assert_eq!(p.streams[1].codec.as_deref(), Some("vp9"));
    assert!(p.streams[1].svc);
    let att = subscribe(&mut v, 5, 5678, json!([{"feed": a}]));
    let mid = att["streams"][1]["mid"].as_str().unwrap().to_owned();
    assert_eq!(att["streams"][1]["svc"]["target-spatial-layer"], 2);
    let rid = v
        .host
        .routes
        .iter()
        .find(|(_, r)| r.source.mid == "1")
        .unwrap()
        .0;
    call(
        &mut v,
        5,
        json!({"request": "configure", "spatial_layer": 1, "temporal_layer": 0}),
        None,
    );
    let (_, layer, _) = *v
        .host
        .updates
        .iter()
        .rev()
        .find(|(id, _, _)| *id == rid)
        .unwrap();
    assert_eq!((layer.substream, layer.temporal), (Some(1), Some(0)));
    clear(&mut v);
    v.on_media_event(MediaEvent::LayerChanged(LayerChange {
        route: rid,
        target: MediaRef::new(5, mid.clone()),
        substream: Some(1),
        temporal: None,
    }));
    assert_eq!(
        events_to(&v, 5),
        vec![json!({"videoroom": "event", "room": 5678, "mid": mid, "spatial_layer": 1})]
    );
}

#[test]
fn publisher_gone_updates_subscribers_and_postpones_during_an_offer() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let b = publish(&mut v, 2, 1234, "bob", av_offer());
    subscribe(&mut v, 5, 1234, json!([{"feed": a}, {"feed": b}]));
    assert_eq!(v.host.routes.len(), 4);
    clear(&mut v);
    call(&mut v, 1, json!({"request": "leave"}), None);
    let upd = events_to(&v, 5);
    assert_eq!(upd.len(), 1, "{upd:?}");
    assert_eq!(upd[0]["videoroom"], "updated");
    let s = upd[0]["streams"].as_array().unwrap();
    assert_eq!(
        s[0],
        json!({"type": "audio", "active": false, "mindex": 0, "mid": "s1", "ready": false, "send": true})
    );
    assert_eq!(s[2]["active"], true);
    let (_, spec) = v.host.offers.last().unwrap();
    assert_eq!(spec.media[0].direction, Direction::Inactive);
    assert_eq!(
        spec.media[0].mid.as_deref(),
        Some("s1"),
        "slots keep their mid"
    );
    assert_eq!(v.host.removed_routes.len(), 2);
    // While that offer is unanswered bob leaves: postponed until `start`.
    clear(&mut v);
    let offers = v.host.offers.len();
    call(&mut v, 2, json!({"request": "unpublish"}), None);
    assert!(events_to(&v, 5).is_empty());
    assert_eq!(v.host.offers.len(), offers);
    let ev = call(&mut v, 5, json!({"request": "start"}), Some(answer(None)));
    assert_eq!(ev[0].data["started"], "ok");
    assert_eq!(ev[1].data["videoroom"], "updated");
    assert!(
        ev[1].data["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["active"] == false)
    );
}

#[test]
fn update_subscribe_unsubscribe() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let b = publish(&mut v, 2, 1234, "bob", av_offer());
    subscribe(&mut v, 5, 1234, json!([{"feed": a}]));
    let ev = call(
        &mut v,
        5,
        json!({"request": "update", "subscribe": [{"feed": b, "mid": "1"}], "unsubscribe": [{"feed": a, "mid": "0"}]}),
        None,
    );
    let d = &ev[0].data;
    assert_eq!(d["videoroom"], "updated");
    let s = d["streams"].as_array().unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0]["active"], false);
    assert_eq!(s[2]["feed_id"], b);
    assert!(matches!(ev[0].jsep, Some(JsepOut::PreparedOffer)));
    // A second update while that offer is pending: `updating`, one offer later.
    let ev = call(
        &mut v,
        5,
        json!({"request": "unsubscribe", "streams": [{"feed": b}]}),
        None,
    );
    assert_eq!(ev[0].data, json!({"videoroom": "updating", "room": 1234}));
    let ev = call(&mut v, 5, json!({"request": "start"}), Some(answer(None)));
    assert_eq!(ev[1].data["videoroom"], "updated");
    call(&mut v, 5, json!({"request": "start"}), Some(answer(None)));
    // Nothing to change: updated without streams or jsep.
    let ev = call(
        &mut v,
        5,
        json!({"request": "unsubscribe", "streams": [{"feed": b}]}),
        None,
    );
    assert_eq!(ev[0].data, json!({"videoroom": "updated", "room": 1234}));
    assert!(ev[0].jsep.is_none());
    // An inactive slot is reused by a new subscription of the same kind.
    let ev = call(
        &mut v,
        5,
        json!({"request": "subscribe", "streams": [{"feed": b, "mid": "0"}]}),
        None,
    );
    let s = ev[0].data["streams"].as_array().unwrap();
    assert_eq!(s[0]["feed_id"], b);
    assert_eq!(s[0]["mid"], "s1");
    let e = async_error(&mut v, 5, json!({"request": "update"}), None);
    assert_eq!(e.0, i64::from(MISSING_ELEMENT));
}

#[test]
fn switch_moves_a_slot_to_another_feed() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let b = publish(&mut v, 2, 1234, "bob", av_offer());
    let att = subscribe(&mut v, 5, 1234, json!([{"feed": a, "mid": "1"}]));
    let sub_mid = att["streams"][0]["mid"].as_str().unwrap().to_owned();
    let old = v.host.routes[0].0;
    let ev = call(
        &mut v,
        5,
        json!({"request": "switch", "streams": [{"feed": b, "mid": "1", "sub_mid": sub_mid}]}),
        None,
    );
    let d = &ev[0].data;
    assert_eq!(d["switched"], "ok");
    assert_eq!(d["changes"], 1);
    assert_eq!(d["streams"][0]["feed_id"], b);
    assert!(v.host.removed_routes.contains(&old));
    let (_, r) = v.host.routes.last().unwrap();
    assert_eq!(mref(&r.source), mr(2, "1"));
    assert_eq!(r.target.mid, sub_mid);
    assert!(v.host.keyframes.iter().any(|k| mref(k) == mr(2, "1")));
    let e = async_error(
        &mut v,
        5,
        json!({"request": "switch", "streams": [{"feed": 3, "mid": "1", "sub_mid": sub_mid}]}),
        None,
    );
    assert_eq!(e.0, i64::from(NO_SUCH_FEED));
    let e = async_error(&mut v, 5, json!({"request": "switch"}), None);
    assert_eq!(e.0, i64::from(MISSING_ELEMENT));
}

#[test]
fn data_channels_relay_publisher_data() {
    let mut v = demo();
    let a = publish(
        &mut v,
        1,
        1234,
        "alice",
        offer(vec![line(0, "0", MediaKind::Audio, &["opus"])], true),
    );
    let ev = call(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": a}]}),
        None,
    );
    let (_, spec) = v.host.offers.last().unwrap();
    assert!(spec.data_channels);
    let s = ev[0].data["streams"].as_array().unwrap();
    assert_eq!(s[1]["type"], "data");
    assert_eq!(s[1]["sources"], 1);
    assert_eq!(s[1]["source_ids"], json!([a]));
    let msg = DataMessage {
        label: "JanusDataChannel".into(),
        data: b"hi".to_vec(),
        binary: false,
    };
    v.incoming_data(1, msg.clone());
    assert!(v.host.sent_data.is_empty(), "not before start");
    call(
        &mut v,
        5,
        json!({"request": "start"}),
        Some(answer(Some("d"))),
    );
    v.incoming_data(1, msg.clone());
    assert_eq!(v.host.sent_data.len(), 1);
    assert_eq!(
        (v.host.sent_data[0].0, &v.host.sent_data[0].1.data),
        (5, &msg.data)
    );
}

// ---------------------------------------------------------------------------------------
// RTP forwarders

#[test]
fn rtp_forward_list_stop_and_cleanup() {
    let mut v = demo();
    let mut o = av_offer();
    o.media[1].simulcast_layers = 3;
    let a = publish(&mut v, 1, 1234, "alice", o);
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "host": "127.0.0.1",
        "streams": [{"mid": "0", "port": 5002, "pt": 111, "ssrc": 42}, {"mid": "1", "port": 5004, "port_2": 5006, "rtcp_port": 5005}]}),
    );
    assert_eq!(r["videoroom"], "rtp_forward");
    assert_eq!(r["publisher_id"], a);
    let f = r["forwarders"].as_array().unwrap();
    assert_eq!(f.len(), 3);
    assert_eq!(f[0]["type"], "audio");
    assert_eq!(f[0]["port"], 5002);
    assert_eq!(f[0]["pt"], 111);
    assert_eq!(f[0]["ssrc"], 42);
    assert_eq!(f[1]["substream"], 0);
    assert_eq!(f[1]["remote_rtcp_port"], 5005);
    assert_eq!(f[2]["substream"], 1);
    assert_eq!(v.host.forwards.len(), 3);
    assert_eq!(mref(&v.host.forwards[0].1.source), mr(1, "0"));
    assert_eq!(v.host.forwards[2].1.substream, Some(1));
    // Deprecated flat form.
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "host": "127.0.0.1", "audio_port": 6000, "video_port": 6002, "simulcast": true}),
    );
    assert_eq!(r["forwarders"].as_array().unwrap().len(), 2);
    assert_eq!(v.host.forwards[4].1.substream, None);
    let r = sync(
        &mut v,
        9,
        json!({"request": "listforwarders", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(r["videoroom"], "forwarders");
    assert_eq!(r["publishers"][0]["publisher_id"], a);
    assert_eq!(
        r["publishers"][0]["forwarders"].as_array().unwrap().len(),
        5
    );
    let sid = f[0]["stream_id"].as_u64().unwrap();
    let r = sync(
        &mut v,
        9,
        json!({"request": "stop_rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "stream_id": sid}),
    );
    assert_eq!(
        r,
        json!({"videoroom": "stop_rtp_forward", "room": 1234, "publisher_id": a, "stream_id": sid})
    );
    assert_eq!(v.host.removed_forwards, vec![sid]);
    let r = sync(
        &mut v,
        9,
        json!({"request": "stop_rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "stream_id": sid}),
    );
    assert_eq!(error_of(&r).0, i64::from(NO_SUCH_FEED));
    // Errors: SRTP, no secret, unknown publisher, missing port, host failure (all or nothing).
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "host": "127.0.0.1", "srtp_suite": 80, "audio_port": 1}),
    );
    assert_eq!(error_of(&r).0, i64::from(INVALID_ELEMENT));
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "host": "127.0.0.1", "audio_port": 1}),
    );
    assert_eq!(error_of(&r).0, i64::from(MISSING_ELEMENT));
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": 5, "secret": "adminpwd", "host": "127.0.0.1", "audio_port": 1}),
    );
    assert_eq!(error_of(&r).0, i64::from(NO_SUCH_FEED));
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "host": "127.0.0.1", "streams": [{"mid": "0"}]}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (port)".into()
        )
    );
    let before = v.host.removed_forwards.len();
    let r = sync(
        &mut v,
        9,
        json!({"request": "rtp_forward", "room": 1234, "publisher_id": a, "secret": "adminpwd", "host": "127.0.0.1",
        "streams": [{"mid": "0", "port": 7000}, {"mid": "1", "port": 7002, "host": "unresolvable.invalid"}]}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(INVALID_ELEMENT),
            "Could not resolve address (unresolvable.invalid)...".into()
        )
    );
    assert_eq!(
        v.host.removed_forwards.len(),
        before + 1,
        "the started one is undone"
    );
    // Forwarders die with their publisher.
    call(&mut v, 1, json!({"request": "unpublish"}), None);
    assert_eq!(v.host.removed_forwards.len(), before + 1 + 4);
}

#[test]
fn lock_rtp_forward_needs_the_admin_key() {
    let mut v = VideoRoom::new(Fake::default());
    v.init(json!({"admin_key": "k", "lock_rtp_forward": true, "rooms": [{"room": 1}]}))
        .unwrap();
    v.create_session(1, None).unwrap();
    let a = publish(&mut v, 1, 1, "a", av_offer());
    let r = sync(
        &mut v,
        1,
        json!({"request": "rtp_forward", "room": 1, "publisher_id": a, "host": "127.0.0.1", "audio_port": 5000}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (admin_key)".into()
        )
    );
    let r = sync(
        &mut v,
        1,
        json!({"request": "rtp_forward", "room": 1, "publisher_id": a, "admin_key": "k", "host": "127.0.0.1", "audio_port": 5000}),
    );
    assert_eq!(r["videoroom"], "rtp_forward");
}

#[test]
fn string_ids_everywhere() {
    let mut v = VideoRoom::new(Fake::default());
    v.init(json!({"string_ids": true, "rooms": [{"room": "lobby"}]}))
        .unwrap();
    v.create_session(1, None).unwrap();
    let r = sync(&mut v, 1, json!({"request": "exists", "room": 1234}));
    assert_eq!(
        error_of(&r),
        (
            i64::from(INVALID_ELEMENT),
            "Invalid element type (room should be a string)".into()
        )
    );
    let ev = call(
        &mut v,
        1,
        json!({"request": "join", "ptype": "publisher", "room": "lobby", "id": "alice"}),
        None,
    );
    assert_eq!(ev[0].data["id"], "alice");
    assert_eq!(ev[0].data["room"], "lobby");
    let r = sync(&mut v, 1, json!({"request": "create"}));
    assert!(r["room"].is_string());
}

#[test]
fn admin_api_runs_sync_requests() {
    let mut v = demo();
    let r = v.admin_message(&json!({"request": "exists", "room": 1234}));
    assert_eq!(r["exists"], true);
    let r = v.admin_message(&json!({"request": "join"}));
    assert_eq!(error_of(&r).0, i64::from(INVALID_REQUEST));
}

#[test]
fn answer_failure_is_437_and_keeps_the_publisher_unpublished() {
    let mut v = demo();
    join_pub(&mut v, 1, 1234, "alice");
    v.host.fail_answer = true;
    let e = async_error(&mut v, 1, json!({"request": "configure"}), Some(av_offer()));
    assert_eq!(
        e,
        (
            i64::from(INVALID_SDP),
            "Error processing SDP: no pending offer".into()
        )
    );
    let p = v.sessions[&1].publisher().unwrap();
    assert!(!p.negotiated && p.streams.is_empty());
    v.setup_media(1);
    assert!(!v.sessions[&1].publisher().unwrap().publishing);
}

#[test]
fn enable_recording_only_off() {
    let mut v = demo();
    let r = sync(
        &mut v,
        1,
        json!({"request": "enable_recording", "room": 1234, "secret": "adminpwd", "record": false}),
    );
    assert_eq!(r, json!({"videoroom": "success", "record": false}));
    let r = sync(
        &mut v,
        1,
        json!({"request": "enable_recording", "room": 1234, "secret": "adminpwd", "record": true}),
    );
    assert_eq!(error_of(&r).0, i64::from(UNKNOWN_ERROR));
    let r = sync(
        &mut v,
        1,
        json!({"request": "enable_recording", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(
        error_of(&r),
        (
            i64::from(MISSING_ELEMENT),
            "Missing mandatory element (record)".into()
        )
    );
    let r = sync(
        &mut v,
        1,
        json!({"request": "publish_remotely", "room": 1234}),
    );
    assert_eq!(error_of(&r).0, i64::from(INVALID_REQUEST));
}

#[test]
fn config_rooms_with_record_load_without_it() {
    let mut v = VideoRoom::new(Fake::default());
    v.init(json!({"rooms": [{"room": 1, "record": true, "rec_dir": "/tmp"}]}))
        .unwrap();
    assert!(!v.rooms[&portunus_plugin_sdk::ids::Id::Num(1)].cfg.record);
}

#[test]
fn janus_texts_for_subscriber_and_publisher_mistakes() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": []}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(MISSING_ELEMENT),
            "At least one between 'streams' and 'feed' must be specified".into()
        )
    );
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": a, "substream": 3}]}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_ELEMENT),
            "Invalid value (substream/spatial_layer should be 0, 1 or 2)".into()
        )
    );
    let e = async_error(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "feed": a, "offer_audio": false, "offer_video": false, "offer_data": false}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_SDP),
            "Can't offer an SDP with no stream".into()
        )
    );
    let att = subscribe(&mut v, 5, 1234, json!([{"feed": a}]));
    let m0 = att["streams"][0]["mid"].as_str().unwrap().to_owned();
    let e = async_error(
        &mut v,
        5,
        json!({"request": "configure", "mid": "zz"}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(NO_SUCH_FEED),
            "No such mid 'zz' in subscription".into()
        )
    );
    let e = async_error(
        &mut v,
        5,
        json!({"request": "configure", "streams": [{"mid": m0}, {"send": false}]}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_ELEMENT),
            "Invalid value (mid can't be null in a streams array)".into()
        )
    );
    let e = async_error(
        &mut v,
        5,
        json!({"request": "configure", "temporal": 7}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_ELEMENT),
            "Invalid value (temporal/temporal_layer should be 0, 1 or 2)".into()
        )
    );
    let e = async_error(&mut v, 5, json!({"request": "switch", "streams": []}), None);
    assert_eq!(e, (i64::from(INVALID_ELEMENT), "Empty switch list".into()));
    let e = async_error(
        &mut v,
        5,
        json!({"request": "update", "subscribe": []}),
        None,
    );
    assert_eq!(
        e,
        (i64::from(INVALID_ELEMENT), "Empty subscription list".into())
    );
    let e = async_error(&mut v, 5, json!({"request": "start"}), Some(av_offer()));
    assert_eq!(
        e,
        (
            i64::from(INVALID_SDP_TYPE),
            "Only publishers send offers".into()
        )
    );
    let e = async_error(
        &mut v,
        1,
        json!({"request": "configure", "audiocodec": "pcmu"}),
        Some(av_offer()),
    );
    assert_eq!(
        e,
        (
            i64::from(INVALID_ELEMENT),
            "Audio codec unavailable in this room".into()
        )
    );
    let e = async_error(
        &mut v,
        1,
        json!({"request": "configure", "streams": [{"mid": "9", "send": false}]}),
        None,
    );
    assert_eq!(
        e,
        (i64::from(NO_SUCH_FEED), "No such mid '9' published".into())
    );
    // A publisher's own `send: false` pauses what its subscribers get.
    let audio_route = v
        .host
        .routes
        .iter()
        .find(|(_, r)| r.source.mid == "0")
        .unwrap()
        .0;
    call(
        &mut v,
        1,
        json!({"request": "configure", "streams": [{"mid": "0", "send": false}]}),
        None,
    );
    assert!(
        v.host
            .updates
            .iter()
            .any(|(id, _, paused)| *id == audio_route && *paused)
    );
}

#[test]
fn kicked_publisher_is_locked_out_and_others_hear_kicked_only() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    join_pub(&mut v, 2, 1234, "bob");
    clear(&mut v);
    sync(
        &mut v,
        9,
        json!({"request": "kick", "room": 1234, "secret": "adminpwd", "id": a}),
    );
    assert_eq!(
        events_to(&v, 2),
        vec![json!({"videoroom": "event", "room": 1234, "kicked": a})]
    );
    let e = async_error(
        &mut v,
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(
        e,
        (
            i64::from(UNAUTHORIZED),
            "Unauthorized, you have been kicked".into()
        )
    );
}

#[test]
fn configure_restart_offers_on_configured_or_waits_for_the_answer() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    subscribe(&mut v, 5, 1234, json!([{"feed": a}]));
    let ev = call(
        &mut v,
        5,
        json!({"request": "configure", "restart": true}),
        None,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].data,
        json!({"videoroom": "event", "room": 1234, "configured": "ok"})
    );
    assert!(matches!(ev[0].jsep, Some(JsepOut::PreparedOffer)));
    assert!(v.host.offers.last().unwrap().1.ice_restart);
    // Unanswered: the next restart waits for `start`, then goes out as `updated`.
    let ev = call(
        &mut v,
        5,
        json!({"request": "configure", "restart": true}),
        None,
    );
    assert!(ev.is_empty(), "{ev:?}");
    let ev = call(&mut v, 5, json!({"request": "start"}), Some(answer(None)));
    assert_eq!(ev[1].data["videoroom"], "updated");
    assert!(v.host.offers.last().unwrap().1.ice_restart);
}

#[test]
fn autoupdate_off_waits_for_the_next_update() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    let b = publish(&mut v, 2, 1234, "bob", av_offer());
    let ev = call(
        &mut v,
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "autoupdate": false,
               "streams": [{"feed": a}, {"feed": b}]}),
        None,
    );
    assert_eq!(ev[0].data["videoroom"], "attached");
    call(&mut v, 5, json!({"request": "start"}), Some(answer(None)));
    clear(&mut v);
    call(&mut v, 1, json!({"request": "unpublish"}), None);
    assert!(events_to(&v, 5).is_empty(), "no autoupdate");
    assert_eq!(
        v.host.removed_routes.len(),
        2,
        "but alice's routes are gone"
    );
    let ev = call(
        &mut v,
        5,
        json!({"request": "unsubscribe", "streams": [{"feed": a}]}),
        None,
    );
    assert_eq!(ev[0].data["videoroom"], "updated");
    assert!(ev[0].data["streams"].is_array());
    assert!(matches!(ev[0].jsep, Some(JsepOut::PreparedOffer)));
}

#[test]
fn hot_reload_keeps_rooms_participants_and_routes() {
    let mut v = demo();
    let a = publish(&mut v, 1, 1234, "alice", av_offer());
    sync(
        &mut v,
        9,
        json!({"request": "create", "room": 77, "description": "runtime"}),
    );
    let att = subscribe(&mut v, 5, 1234, json!([{"feed": a}]));
    let mid = att["streams"][1]["mid"].as_str().unwrap().to_owned();
    let rid = v
        .host
        .routes
        .iter()
        .find(|(_, r)| r.target.mid == mid)
        .unwrap()
        .0;
    let state = v.snapshot().expect("a snapshot");

    // The next version: a fresh instance, init with the config, then restore.
    let mut next = VideoRoom::new(Fake::default());
    next.init(demo_config()).unwrap();
    next.restore(&state).unwrap();
    assert!(
        next.host.timers.contains(&(1, 10_000)),
        "fir_freq timer re-armed"
    );
    let r = sync(&mut next, 5, json!({"request": "exists", "room": 77}));
    assert_eq!(r["exists"], true);
    let r = sync(
        &mut next,
        5,
        json!({"request": "listparticipants", "room": 1234}),
    );
    assert_eq!(r["participants"][0]["id"], a);
    // Layer events still find their subscriber; requests still work on old handles.
    next.on_media_event(MediaEvent::LayerChanged(LayerChange {
        route: rid,
        target: MediaRef::new(5, mid.clone()),
        substream: None,
        temporal: Some(1),
    }));
    let ev = call(&mut next, 5, json!({"request": "pause"}), None);
    assert_eq!(ev[0].data["paused"], "ok");
    assert!(
        next.host
            .updates
            .iter()
            .any(|(id, _, paused)| *id == rid && *paused)
    );
    assert!(next.restore(b"not json").is_err());
    assert!(next.restore(br#"{"version": 99}"#).is_err());
}
