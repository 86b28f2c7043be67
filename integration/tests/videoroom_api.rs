//! End to end: the VideoRoom's requests without media checks: every class of bad request
//! answered with the error code Janus 1.1.2 uses, and pins, secrets, admin key, `allowed`
//! tokens, `require_pvtid`, `edit`, `kick` and `destroy`.

mod common;

use common::WAIT;
use common::videoroom::{ADMIN_KEY, Env, settings};
use portunus_integration::videoroom::{
    PublishOptions, Publisher, RoomHandle, Subscriber, error_code, streams_of,
};
use serde_json::{Value, json};

const ROOM: u64 = 1234;
const SECRET: &str = "adminpwd";
const NO_ROOM: u64 = 987_654_321;

fn demo_room() -> Value {
    json!([{"room": ROOM, "description": "Demo Room", "secret": SECRET, "publishers": 6}])
}

/// Sends `body` on `h` and checks the reply's (or event's) `error_code`.
async fn expect_code(h: &RoomHandle, body: Value, code: Option<u64>) -> Value {
    let r = h
        .send(body.clone(), None)
        .await
        .unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(
        error_code(&r.data),
        code,
        "{body} answered {} (want error_code {code:?})",
        r.data
    );
    if code.is_some() {
        assert_eq!(r.data["videoroom"], "event", "{}", r.data);
        assert!(
            r.data["error"].as_str().is_some_and(|e| !e.is_empty()),
            "an error text: {}",
            r.data
        );
    }
    r.data
}

/// Publisher options without a media source (signalling only).
fn quiet(display: &str, join_extra: Value) -> PublishOptions {
    PublishOptions {
        display: Some(display.into()),
        join_extra,
        media: None,
        ..PublishOptions::default()
    }
}

/// Table-driven: each bad request gets Janus's VideoRoom error code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_janus_error_codes() {
    let env = Env::start("ws", settings(demo_room())).await;
    let h = env.handle().await;
    let admin = |mut b: Value| {
        b["admin_key"] = json!(ADMIN_KEY);
        b
    };
    let cases: Vec<(&str, Value, Option<u64>)> = vec![
        ("no request", json!({}), Some(429)),
        ("request not a string", json!({"request": 5}), Some(430)),
        ("unknown request", json!({"request": "dance"}), Some(423)),
        (
            "configure before join",
            json!({"request": "configure"}),
            Some(424),
        ),
        ("start before join", json!({"request": "start"}), Some(424)),
        (
            "join without ptype",
            json!({"request": "join", "room": ROOM}),
            Some(429),
        ),
        (
            "join with a bad ptype",
            json!({"request": "join", "room": ROOM, "ptype": "nobody"}),
            Some(430),
        ),
        (
            "join without room",
            json!({"request": "join", "ptype": "publisher"}),
            Some(429),
        ),
        (
            "join with a string room",
            json!({"request": "join", "ptype": "publisher", "room": "lobby"}),
            Some(430),
        ),
        (
            "join a missing room",
            json!({"request": "join", "ptype": "publisher", "room": NO_ROOM}),
            Some(426),
        ),
        (
            "subscribe to a missing feed",
            json!({"request": "join", "ptype": "subscriber", "room": ROOM,
                   "streams": [{"feed": 12345}]}),
            Some(428),
        ),
        (
            "create an existing room",
            admin(json!({"request": "create", "room": ROOM})),
            Some(427),
        ),
        (
            "create with a bad setting type",
            admin(json!({"request": "create", "publishers": "many"})),
            Some(430),
        ),
        (
            "destroy a missing room",
            json!({"request": "destroy", "room": NO_ROOM, "secret": SECRET}),
            Some(426),
        ),
        (
            "destroy without the secret",
            json!({"request": "destroy", "room": ROOM}),
            Some(429),
        ),
        (
            "destroy with a wrong secret",
            json!({"request": "destroy", "room": ROOM, "secret": "guess"}),
            Some(433),
        ),
        (
            "edit with a wrong secret",
            json!({"request": "edit", "room": ROOM, "secret": "guess", "new_description": "x"}),
            Some(433),
        ),
        (
            "kick with a wrong secret",
            json!({"request": "kick", "room": ROOM, "secret": "guess", "id": 42}),
            Some(433),
        ),
        (
            "kick a missing participant",
            json!({"request": "kick", "room": ROOM, "secret": SECRET, "id": 42}),
            Some(428),
        ),
        (
            "listparticipants without room",
            json!({"request": "listparticipants"}),
            Some(429),
        ),
        (
            "listparticipants of a missing room",
            json!({"request": "listparticipants", "room": NO_ROOM}),
            Some(426),
        ),
        (
            "allowed with a bad action",
            json!({"request": "allowed", "room": ROOM, "secret": SECRET, "action": "juggle",
                   "allowed": []}),
            Some(430),
        ),
        (
            "rtp_forward without host",
            json!({"request": "rtp_forward", "room": ROOM, "secret": SECRET,
                   "publisher_id": 42}),
            Some(429),
        ),
        (
            "rtp_forward of a missing publisher",
            json!({"request": "rtp_forward", "room": ROOM, "secret": SECRET,
                   "publisher_id": 42, "host": "127.0.0.1",
                   "streams": [{"mid": "0", "port": 9}]}),
            Some(428),
        ),
        (
            "moderate without mid",
            json!({"request": "moderate", "room": ROOM, "secret": SECRET, "id": 42,
                   "mute": true}),
            Some(429),
        ),
    ];
    let mut failures = Vec::new();
    for (what, body, code) in cases {
        let r = h.send(body.clone(), None).await;
        match r {
            Ok(r) if error_code(&r.data) == code => {}
            Ok(r) => failures.push(format!("{what}: {body} → {} (want {code:?})", r.data)),
            Err(e) => failures.push(format!("{what}: {body} → {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );
    // A request that does not exist is no error on `exists`.
    let r = expect_code(&h, json!({"request": "exists", "room": NO_ROOM}), None).await;
    assert_eq!(r["exists"], false, "{r}");

    // A joined publisher handle.
    let alice = Publisher::join(
        env.client.clone(),
        env.session,
        ROOM,
        &quiet("alice", Value::Null),
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("join: {e}"));
    expect_code(
        &alice.handle,
        json!({"request": "join", "ptype": "publisher", "room": ROOM}),
        Some(425),
    )
    .await;
    expect_code(&alice.handle, json!({"request": "unpublish"}), Some(435)).await;
    // Another handle claiming alice's id.
    let other = env.handle().await;
    expect_code(
        &other,
        json!({"request": "join", "ptype": "publisher", "room": ROOM, "id": alice.id}),
        Some(436),
    )
    .await;
    env.stop().await;
}

/// Publishing twice (434) and more publishers than the room allows (432).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_twice_and_publishers_full() {
    let env = Env::start("ws", settings(json!([]))).await;
    let room = env.create_room(json!({"publishers": 1})).await;
    let opts = PublishOptions {
        use_publish: true,
        ..quiet("alice", Value::Null)
    };
    let alice = Publisher::join_and_publish(env.client.clone(), env.session, room, &opts, WAIT)
        .await
        .unwrap_or_else(|e| panic!("publish: {e}"));
    // `publish` again while publishing (Janus checks this before any JSEP).
    let r = alice
        .handle
        .send(
            json!({"request": "publish", "audio": true, "video": true}),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("second publish: {e}"));
    assert_eq!(error_code(&r.data), Some(434), "{}", r.data);

    // bob may join, but not publish: the room holds one publisher.
    let mut bob = Publisher::join(env.client.clone(), env.session, room, &opts, WAIT)
        .await
        .unwrap_or_else(|e| panic!("bob joins: {e}"));
    let err = bob.publish(&opts).await.expect_err("room is full");
    assert_eq!(err.code(), Some(432), "{err}");
    env.stop().await;
}

/// Room pin and secret, the plugin's admin key, `allowed` tokens, `require_pvtid`, `edit`,
/// `kick` and `destroy` with their notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_secrets_and_permissions() {
    let env = Env::start("ws", settings(json!([]))).await;
    let h = env.handle().await;
    let room_body = json!({"request": "create", "room": 4321, "description": "Private",
        "pin": "1234", "secret": "s3cret", "is_private": true, "require_pvtid": true,
        "allowed": ["tokA"], "publishers": 4});
    // admin_key: missing → 429, wrong → 433, right → created.
    expect_code(&h, room_body.clone(), Some(429)).await;
    let mut wrong = room_body.clone();
    wrong["admin_key"] = json!("guess");
    expect_code(&h, wrong, Some(433)).await;
    let mut right = room_body.clone();
    right["admin_key"] = json!(ADMIN_KEY);
    let r = expect_code(&h, right, None).await;
    assert_eq!(r["videoroom"], "created", "{r}");
    assert_eq!(r["room"], 4321, "{r}");
    let room = 4321u64;

    // A private room is listed only with the admin key.
    let listed = |v: &Value| {
        v["list"]
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["room"] == room))
    };
    let r = expect_code(&h, json!({"request": "list"}), None).await;
    assert!(!listed(&r), "private room hidden: {r}");
    let r = expect_code(&h, json!({"request": "list", "admin_key": ADMIN_KEY}), None).await;
    assert!(listed(&r), "private room listed for the admin: {r}");
    let entry = r["list"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["room"] == room))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["pin_required"], true, "{entry}");
    assert_eq!(entry["require_pvtid"], true, "{entry}");

    // Pin and token on join.
    let join = |extra: Value| {
        let mut b = json!({"request": "join", "ptype": "publisher", "room": room});
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    for (extra, code) in [
        (json!({"token": "tokA"}), 429),
        (json!({"pin": "0000", "token": "tokA"}), 433),
        (json!({"pin": 1234, "token": "tokA"}), 430),
        (json!({"pin": "1234"}), 433),
        (json!({"pin": "1234", "token": "tokZ"}), 433),
    ] {
        let h = env.handle().await;
        expect_code(&h, join(extra), Some(code)).await;
        let _ = h.detach().await;
    }
    let alice_opts = PublishOptions {
        display: Some("alice".into()),
        join_extra: json!({"pin": "1234", "token": "tokA"}),
        media: None,
        ..PublishOptions::default()
    };
    let alice =
        Publisher::join_and_publish(env.client.clone(), env.session, room, &alice_opts, WAIT)
            .await
            .unwrap_or_else(|e| panic!("alice joins with pin and token: {e}"));

    // `allowed`: wrong secret, add, remove, disable.
    let allowed = |secret: &str, action: &str, tokens: Value| {
        json!({"request": "allowed", "room": room, "secret": secret, "action": action,
               "allowed": tokens})
    };
    expect_code(&h, allowed("guess", "add", json!(["tokB"])), Some(433)).await;
    let r = expect_code(&h, allowed("s3cret", "add", json!(["tokB"])), None).await;
    let list: Vec<&str> = r["allowed"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(list.contains(&"tokA") && list.contains(&"tokB"), "{r}");
    let bob = Publisher::join(
        env.client.clone(),
        env.session,
        room,
        &quiet("bob", json!({"pin": "1234", "token": "tokB"})),
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("bob joins with an added token: {e}"));
    expect_code(&h, allowed("s3cret", "remove", json!(["tokB"])), None).await;
    let carol = env.handle().await;
    expect_code(
        &carol,
        join(json!({"pin": "1234", "token": "tokB"})),
        Some(433),
    )
    .await;
    expect_code(&h, allowed("s3cret", "disable", json!([])), None).await;
    let r = expect_code(
        &carol,
        join(json!({"pin": "1234", "display": "carol"})),
        None,
    )
    .await;
    assert_eq!(r["videoroom"], "joined", "tokens no longer checked: {r}");

    // require_pvtid: a subscriber must name a participant's private_id.
    let streams = json!([{"feed": alice.id}]);
    let sub_h = env.handle().await;
    expect_code(
        &sub_h,
        json!({"request": "join", "ptype": "subscriber", "room": room, "pin": "1234",
               "streams": streams}),
        Some(433),
    )
    .await;
    expect_code(
        &sub_h,
        json!({"request": "join", "ptype": "subscriber", "room": room, "pin": "1234",
               "private_id": 7, "streams": streams}),
        Some(433),
    )
    .await;
    let sub = Subscriber::join(
        env.client.clone(),
        env.session,
        room,
        streams.clone(),
        json!({"pin": "1234", "private_id": bob.private_id}),
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("subscriber with bob's private_id: {e}"));
    assert!(!sub.streams.is_empty(), "{:?}", sub.streams);

    // edit: wrong secret, then a new pin replaces the old one.
    expect_code(
        &h,
        json!({"request": "edit", "room": room, "secret": "guess", "new_pin": "9999"}),
        Some(433),
    )
    .await;
    let r = expect_code(
        &h,
        json!({"request": "edit", "room": room, "secret": "s3cret", "new_pin": "9999"}),
        None,
    )
    .await;
    assert_eq!(r["videoroom"], "edited", "{r}");
    let dave = env.handle().await;
    expect_code(&dave, join(json!({"pin": "1234"})), Some(433)).await;
    expect_code(&dave, join(json!({"pin": "9999", "display": "dave"})), None).await;

    // kick: the kicked handle is told, the others get `kicked`.
    expect_code(
        &h,
        json!({"request": "kick", "room": room, "secret": "guess", "id": bob.id}),
        Some(433),
    )
    .await;
    let r = expect_code(
        &h,
        json!({"request": "kick", "room": room, "secret": "s3cret", "id": bob.id}),
        None,
    )
    .await;
    assert_eq!(r["videoroom"], "success", "{r}");
    bob.handle
        .wait("bob told he was kicked", |d| {
            d["leaving"] == "ok" && d["reason"] == "kicked"
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    alice
        .handle
        .wait("alice told bob was kicked", |d| d["kicked"] == bob.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = expect_code(
        &h,
        json!({"request": "listparticipants", "room": room}),
        None,
    )
    .await;
    assert!(
        r["participants"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["id"] != bob.id)),
        "bob gone: {r}"
    );

    // destroy: wrong secret, then everyone is told and the room is gone.
    expect_code(
        &h,
        json!({"request": "destroy", "room": room, "secret": "guess"}),
        Some(433),
    )
    .await;
    let r = expect_code(
        &h,
        json!({"request": "destroy", "room": room, "secret": "s3cret"}),
        None,
    )
    .await;
    assert_eq!(r["videoroom"], "destroyed", "{r}");
    alice
        .handle
        .wait("alice told the room was destroyed", |d| {
            d["videoroom"] == "destroyed" && d["room"] == room
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = expect_code(&h, json!({"request": "exists", "room": room}), None).await;
    assert_eq!(r["exists"], false, "{r}");
    env.stop().await;
}

/// Config-file rooms exist at start; runtime rooms appear in `list` and `exists`, and a
/// publisher's `configured` streams describe what it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_runtime_rooms() {
    let env = Env::start("http", settings(demo_room())).await;
    let h = env.handle().await;
    let r = expect_code(&h, json!({"request": "exists", "room": ROOM}), None).await;
    assert_eq!(r["exists"], true, "{r}");
    let room = env.create_room(json!({"description": "Runtime"})).await;
    assert_ne!(room, ROOM);
    let r = expect_code(&h, json!({"request": "list"}), None).await;
    let rooms: Vec<u64> = r["list"]
        .as_array()
        .map(|l| l.iter().filter_map(|r| r["room"].as_u64()).collect())
        .unwrap_or_default();
    assert!(rooms.contains(&ROOM) && rooms.contains(&room), "{r}");
    let alice = Publisher::join_and_publish(
        env.client.clone(),
        env.session,
        room,
        &quiet("alice", Value::Null),
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("publish over HTTP: {e}"));
    let streams = streams_of(&alice.configured);
    assert!(
        streams
            .iter()
            .any(|s| s["type"] == "audio" && s["codec"] == "opus")
            && streams
                .iter()
                .any(|s| s["type"] == "video" && s["codec"] == "vp8"),
        "{}",
        alice.configured
    );
    assert_eq!(
        alice.configured["audio_codec"], "opus",
        "{}",
        alice.configured
    );
    assert_eq!(
        alice.configured["video_codec"], "vp8",
        "{}",
        alice.configured
    );
    let r = expect_code(
        &h,
        json!({"request": "listparticipants", "room": room}),
        None,
    )
    .await;
    let me = r["participants"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == alice.id))
        .cloned()
        .unwrap_or_default();
    assert_eq!(me["publisher"], true, "{r}");
    assert_eq!(me["display"], "alice", "{r}");
    env.stop().await;
}
