//! The Janus API over real HTTP and WebSocket connections to an in-process portunus.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn err_code(v: &Value) -> u64 {
    v["error"]["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

fn err_reason(v: &Value) -> &str {
    v["error"]["reason"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------- root verbs

#[tokio::test]
async fn info_ping_create_shapes() {
    let server = start(test_config()).await;
    let http = Http::new(&server);

    let info = http
        .post("", json!({"janus": "info", "transaction": "i1"}))
        .await;
    assert_eq!(info["janus"], "server_info");
    assert_eq!(info["transaction"], "i1");
    assert_eq!(info["name"], "portunus");
    assert!(info["version"].is_u64());
    assert!(info["version_string"].is_string());
    assert_eq!(info["session-timeout"], 60);
    assert_eq!(info["api_secret"], false);
    assert_eq!(info["auth_token"], false);
    let echotest = &info["plugins"][ECHOTEST];
    assert!(echotest["version_string"].is_string(), "{info}");
    assert!(echotest["version"].is_u64());
    assert!(echotest["name"].is_string());
    assert!(info["transports"]["janus.transport.http"].is_object());
    assert!(info["transports"]["janus.transport.websockets"].is_object());

    let get_info = http.get("/info").await;
    assert_eq!(get_info.status, 200);
    assert_eq!(get_info.json()["janus"], "server_info");
    assert_eq!(http.raw("POST", "/info", Some("{}"), &[]).await.status, 400);

    let pong = http
        .post("", json!({"janus": "ping", "transaction": "p"}))
        .await;
    assert_eq!(pong, json!({"janus": "pong", "transaction": "p"}));

    let created = http
        .post("", json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(created["janus"], "success");
    assert_eq!(created["transaction"], "c");
    assert!(
        created.get("session_id").is_none(),
        "create reply has no session_id: {created}"
    );
    let id = created["data"]["id"].as_u64().expect("id");
    assert!(id > 0 && id < (1 << 53));

    // Client-chosen id, and its conflict.
    let mine = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "id": 4242}),
        )
        .await;
    assert_eq!(mine["data"]["id"], 4242);
    let again = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "id": 4242}),
        )
        .await;
    assert_eq!(err_code(&again), 468);
    assert_eq!(err_reason(&again), "Session ID already in use");
    let bad = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "id": "x"}),
        )
        .await;
    assert_eq!(err_code(&bad), 467);
    assert_eq!(
        err_reason(&bad),
        "Invalid element type (id should be a positive integer)"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn envelope_and_lookup_errors() {
    let server = start(test_config()).await;
    let http = Http::new(&server);

    let r = http.raw("POST", "", Some("{\"janus\": "), &[]).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(err_code(&v), 454);
    assert!(err_reason(&v).starts_with("JSON error: on line 1"), "{v}");

    let v = http.raw("POST", "", Some("[1,2]"), &[]).await.json();
    assert_eq!(err_code(&v), 455);
    assert_eq!(err_reason(&v), "JSON error: not an object");

    let v = http.post("", json!({"janus": "create"})).await;
    assert_eq!(err_code(&v), 456);
    assert_eq!(err_reason(&v), "Missing mandatory element (transaction)");
    assert!(v.get("transaction").is_none());

    let v = http.post("", json!({"janus": 3, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 467);
    assert_eq!(
        err_reason(&v),
        "Invalid element type (janus should be a string)"
    );

    let v = http
        .post("", json!({"janus": "attach", "transaction": "t"}))
        .await;
    assert_eq!(err_code(&v), 457);
    assert_eq!(err_reason(&v), "Unhandled request 'attach' at this path");

    let v = http
        .post(
            "",
            json!({"janus": "keepalive", "session_id": 12345, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 458);
    assert_eq!(err_reason(&v), "No such session 12345");
    assert_eq!(v["session_id"], 12345);
    assert_eq!(v["transaction"], "t");

    let s = http.create().await;
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "nonsense", "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 453);
    assert_eq!(err_reason(&v), "Unknown request 'nonsense'");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "info", "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 453);
    let v = http
        .post(
            &format!("/{s}/999"),
            json!({"janus": "message", "body": {}, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 459);
    assert_eq!(err_reason(&v), format!("No such handle 999 in session {s}"));
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "message", "body": {}, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 457);
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 456);
    assert_eq!(err_reason(&v), "Missing mandatory element (plugin)");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": "janus.plugin.nope", "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 460);
    assert_eq!(err_reason(&v), "No such plugin 'janus.plugin.nope'");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": 5, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 467);

    // Ids in the body must agree with the path.
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "keepalive", "session_id": 1, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 457);
    assert_eq!(err_reason(&v), "Conflicting session ID (payload and path)");
    let h = http.attach(s, ECHOTEST).await;
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "hangup", "handle_id": 1, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_reason(&v), "Conflicting handle ID (payload and path)");
    // An attach at handle level is at the wrong path.
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "attach", "plugin": ECHOTEST, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 457);

    // Empty body.
    let v = http.raw("POST", "", Some(""), &[]).await.json();
    assert_eq!(err_code(&v), 454);
    server.shutdown().await;
}

#[tokio::test]
async fn message_and_trickle_errors() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, ECHOTEST).await;
    let p = format!("/{s}/{h}");
    let post = |v: Value| {
        let http = &http;
        let p = p.clone();
        async move { http.post(&p, v).await }
    };

    let v = post(json!({"janus": "message", "transaction": "t"})).await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (456, "Missing mandatory element (body)")
    );
    let v = post(json!({"janus": "message", "body": 3, "transaction": "t"})).await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (467, "Invalid element type (body should be an object)")
    );
    let v = post(json!({"janus": "message", "body": {}, "jsep": 1, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 455);
    let v =
        post(json!({"janus": "message", "body": {}, "jsep": {"sdp": "v=0"}, "transaction": "t"}))
            .await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (456, "JSEP error: missing mandatory element (type)")
    );
    let v = post(json!({"janus": "message", "body": {}, "jsep": {"type": "pranswer", "sdp": "v=0"}, "transaction": "t"})).await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (464, "JSEP error: unknown message type 'pranswer'")
    );
    let v = post(json!({"janus": "message", "body": {}, "jsep": {"type": "offer", "sdp": "hello"}, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 465);
    let v = post(json!({"janus": "message", "body": {}, "jsep": {"type": "offer", "sdp": "v=0\r\nnonsense"}, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 465, "{v}");
    let (_rtc, _pending, offer) = client_offer();
    let v = post(json!({"janus": "message", "body": {}, "jsep": {"type": "answer", "sdp": offer}, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 469, "{v}");

    let v = post(json!({"janus": "trickle", "transaction": "t"})).await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (456, "Missing mandatory element (candidate|candidates)")
    );
    let v = post(json!({"janus": "trickle", "candidate": {"completed": true}, "candidates": [], "transaction": "t"})).await;
    assert_eq!(
        (err_code(&v), err_reason(&v)),
        (454, "Can't have both candidate and candidates")
    );
    let v = post(
        json!({"janus": "trickle", "candidate": {"candidate": "candidate:1"}, "transaction": "t"}),
    )
    .await;
    assert_eq!(err_code(&v), 456);
    let v = post(json!({"janus": "trickle", "candidate": {"sdpMid": 0, "candidate": "x"}, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 467);
    let v = post(json!({"janus": "trickle", "candidates": {}, "transaction": "t"})).await;
    assert_eq!(err_code(&v), 467);
    server.shutdown().await;
}

// ---------------------------------------------------------------- session verbs over HTTP

#[tokio::test]
async fn session_and_handle_verbs_over_http() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let s = http.create().await;

    let ka = http
        .post(
            &format!("/{s}"),
            json!({"janus": "keepalive", "transaction": "k"}),
        )
        .await;
    assert_eq!(
        ka,
        json!({"janus": "ack", "session_id": s, "transaction": "k"})
    );

    let h = http.attach(s, ECHOTEST).await;
    assert!(h > 0 && h < (1 << 53));
    let p = format!("/{s}/{h}");
    // Keepalive is accepted at handle level too.
    let ka = http
        .post(&p, json!({"janus": "keepalive", "transaction": "k"}))
        .await;
    assert_eq!(ka["janus"], "ack");

    // Trickles before any SDP are queued and acked: single, array, completed.
    let cand = json!({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    for body in [
        json!({"janus": "trickle", "candidate": cand, "transaction": "tr"}),
        json!({"janus": "trickle", "candidates": [cand, {"bad": 1}], "transaction": "tr"}),
        json!({"janus": "trickle", "candidate": {"completed": true}, "transaction": "tr"}),
    ] {
        let v = http.post(&p, body).await;
        assert_eq!(
            v,
            json!({"janus": "ack", "session_id": s, "transaction": "tr"})
        );
    }

    // EchoTest is asynchronous: ack (with its hint), then an event with the same transaction.
    let v = http
        .post(&p, json!({"janus": "message", "body": {"audio": true, "video": true}, "transaction": "m1"}))
        .await;
    assert_eq!(v["janus"], "ack", "{v}");
    assert_eq!(v["session_id"], s);
    assert_eq!(v["transaction"], "m1");
    let e = http.wait_event(s, |e| e["transaction"] == "m1").await;
    assert_eq!(e["janus"], "event");
    assert_eq!(e["session_id"], s);
    assert_eq!(e["sender"], h);
    assert_eq!(e["plugindata"]["plugin"], ECHOTEST);
    assert_eq!(e["plugindata"]["data"]["echotest"], "event");
    assert_eq!(e["plugindata"]["data"]["result"], "ok");

    let v = http
        .post(&p, json!({"janus": "hangup", "transaction": "h"}))
        .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "h"})
    );

    let v = http
        .post(&p, json!({"janus": "detach", "transaction": "d"}))
        .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "d"})
    );
    let e = http.wait_event(s, |e| e["janus"] == "detached").await;
    assert_eq!(
        e,
        json!({"janus": "detached", "session_id": s, "sender": h})
    );
    let v = http
        .post(&p, json!({"janus": "hangup", "transaction": "h"}))
        .await;
    assert_eq!(err_code(&v), 459);

    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "destroy", "transaction": "x"}),
        )
        .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "x"})
    );
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "keepalive", "transaction": "k"}),
        )
        .await;
    assert_eq!(err_code(&v), 458);
    assert_eq!(http.get(&format!("/{s}")).await.status, 404);
    assert_eq!(server.core().session_count(), 0);
    assert_eq!(server.core().handle_count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn echotest_negotiation_with_a_real_offer() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, ECHOTEST).await;
    let (mut rtc, pending, offer) = client_offer();
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "message", "body": {"audio": true, "video": true},
                   "jsep": {"type": "offer", "sdp": offer}, "transaction": "o"}),
        )
        .await;
    assert_eq!(v["janus"], "ack", "{v}");
    let e = http.wait_event(s, |e| e["transaction"] == "o").await;
    assert_eq!(e["plugindata"]["data"]["result"], "ok", "{e}");
    assert_eq!(e["jsep"]["type"], "answer");
    let sdp = e["jsep"]["sdp"].as_str().expect("answer sdp");
    assert!(
        sdp.contains("a=candidate:"),
        "answer carries the server's candidates: {sdp}"
    );
    let answer = str0m::change::SdpAnswer::from_sdp_string(sdp).expect("parsable answer");
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .expect("str0m accepts the answer");

    // hangup is answered with success whether or not the PeerConnection still exists.
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "hangup", "transaction": "h"}),
        )
        .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "h"})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn full_trickle_sends_the_server_candidates_as_events() {
    let mut config = test_config();
    config.general.full_trickle = true;
    let server = start(config).await;
    let http = Http::new(&server);
    let info = http
        .post("", json!({"janus": "info", "transaction": "i"}))
        .await;
    assert_eq!(info["full-trickle"], true, "{info}");
    let s = http.create().await;
    let h = http.attach(s, ECHOTEST).await;
    let (_rtc, _pending, offer) = client_offer();
    http.post(
        &format!("/{s}/{h}"),
        json!({"janus": "message", "body": {"audio": true},
               "jsep": {"type": "offer", "sdp": offer}, "transaction": "o"}),
    )
    .await;
    // The answer event and the trickles may come in one long-poll batch: keep them all.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !events
        .iter()
        .any(|e: &Value| e["janus"] == "trickle" && e["candidate"]["completed"] == true)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no completed trickle: {events:?}"
        );
        let r = http.get(&format!("/{s}?maxev=10")).await;
        events.extend(r.json().as_array().cloned().unwrap_or_default());
    }
    let answer = events
        .iter()
        .find(|e| e["transaction"] == "o")
        .expect("answer event");
    let sdp = answer["jsep"]["sdp"].as_str().expect("answer sdp");
    let trickles: Vec<&Value> = events.iter().filter(|e| e["janus"] == "trickle").collect();
    assert!(
        trickles.len() >= 2,
        "a candidate and completed: {trickles:?}"
    );
    let t = trickles[0];
    assert_eq!(t["sender"], h, "{t}");
    let line = t["candidate"]["candidate"]
        .as_str()
        .expect("candidate line");
    assert!(
        sdp.contains(&format!("a={line}")),
        "{line} is one of the SDP's candidates"
    );
    assert_eq!(t["candidate"]["sdpMLineIndex"], 0);
    let done = trickles.last().expect("completed");
    assert_eq!(done["session_id"], s);
    server.shutdown().await;
}

// ---------------------------------------------------------------- long poll

#[tokio::test]
async fn long_poll_shapes() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let s = http.create().await;

    // Nothing queued: keepalive after the (test-shortened) wait, object for maxev=1.
    let r = http.get(&format!("/{s}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"janus": "keepalive"}));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = http.get(&format!("/{s}?maxev=5")).await;
    assert_eq!(r.json(), json!([{"janus": "keepalive"}]));

    // Two queued events: maxev=1 takes one object, maxev=5 the rest as an array.
    let h = http.attach(s, ECHOTEST).await;
    for t in ["a", "b"] {
        let v = http
            .post(
                &format!("/{s}/{h}"),
                json!({"janus": "message", "body": {"audio": true}, "transaction": t}),
            )
            .await;
        assert_eq!(v["janus"], "ack");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = http.get(&format!("/{s}?maxev=1")).await.json();
    assert_eq!(first["transaction"], "a", "{first}");
    let rest = http.get(&format!("/{s}?maxev=5")).await.json();
    let rest = rest.as_array().expect("array for maxev>1");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["transaction"], "b");

    // Unknown sessions and paths.
    assert_eq!(http.get("/1234").await.status, 404);
    assert_eq!(http.get("/abc").await.status, 404);
    assert_eq!(http.get("").await.status, 404);
    assert_eq!(http.get("/1/2/3").await.status, 404);
    let r = http.get(&format!("/{s}/{h}")).await;
    assert_eq!(r.status, 302);
    assert!(
        r.header("location")
            .is_some_and(|l| l.ends_with(&format!("/janus/{s}")))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn cors_headers() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let r = http
        .raw(
            "OPTIONS",
            "",
            None,
            &[
                ("origin", "http://example.test"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );
    let r = http.get("/98765").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = http
        .raw(
            "POST",
            "",
            Some(r#"{"janus":"ping","transaction":"x"}"#),
            &[("origin", "http://a.test")],
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn demo_pages_are_served() {
    let server = start(test_config()).await;
    let http = Http::new(&server);
    let client = reqwest::Client::new();
    for page in ["/", "/echotest.html", "/portunus.js", "/echotest.js"] {
        let r = client
            .get(format!("{}{page}", http.root))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "{page}");
        assert!(!r.text().await.expect("body").is_empty());
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------- WebSocket

#[tokio::test]
async fn websocket_subprotocols() {
    let server = start(test_config()).await;
    let mut ws = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("connect");
    assert_eq!(ws.protocol.as_deref(), Some("janus-protocol"));
    assert_eq!(ws.allow_origin.as_deref(), Some("*"));
    let v = ws.request(json!({"janus": "ping"})).await;
    assert_eq!(v["janus"], "pong");

    // Portunus also accepts clients that ask for no subprotocol.
    let mut plain = Ws::connect(&server, None)
        .await
        .expect("connect without subprotocol");
    assert_eq!(plain.protocol, None);
    let v = plain.request(json!({"janus": "info"})).await;
    assert_eq!(v["janus"], "server_info");

    assert!(Ws::connect(&server, Some("something-else")).await.is_err());
    ws.close().await;
    plain.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_frames_and_errors() {
    let server = start(test_config()).await;
    let mut ws = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("connect");
    // Several objects in one frame are processed in order.
    ws.send_text(r#"{"janus":"ping","transaction":"a"}{"janus":"ping","transaction":"b"} {"janus":"create","transaction":"c"}"#)
        .await;
    assert_eq!(ws.recv().await["transaction"], "a");
    assert_eq!(ws.recv().await["transaction"], "b");
    let created = ws.recv().await;
    assert_eq!(created["transaction"], "c");
    let s = created["data"]["id"].as_u64().expect("session");

    ws.send_text("{\"janus\": nope}").await;
    let v = ws.recv().await;
    assert_eq!(v["janus"], "error");
    assert_eq!(err_code(&v), 454);
    assert!(
        err_reason(&v).starts_with("Invalid Janus API request - <string>(1,"),
        "{v}"
    );
    assert!(v.get("transaction").is_none());

    ws.send_text("[1]").await;
    assert_eq!(err_code(&ws.recv().await), 455);

    // Session verbs need the ids in the body over WebSocket.
    let v = ws
        .request(json!({"janus": "attach", "plugin": ECHOTEST}))
        .await;
    assert_eq!(err_code(&v), 457);
    let v = ws
        .request(json!({"janus": "attach", "plugin": ECHOTEST, "session_id": s}))
        .await;
    let h = v["data"]["id"].as_u64().expect("handle");
    let v = ws
        .request(
            json!({"janus": "message", "body": {"video": true}, "session_id": s, "handle_id": h}),
        )
        .await;
    assert_eq!(v["janus"], "ack");
    assert_eq!(v["hint"], "I'm taking my time!");
    let e = ws.wait_for(|m| m["janus"] == "event").await;
    assert_eq!(e["plugindata"]["data"]["result"], "ok");

    // detach: success first, then (plugin events, then) detached.
    let v = ws
        .request(json!({"janus": "detach", "session_id": s, "handle_id": h}))
        .await;
    assert_eq!(v["janus"], "success");
    let e = ws.wait_for(|m| m["janus"] == "detached").await;
    assert_eq!(e["sender"], h);

    // destroy's reply carries session_id and transaction (janus.js waits for both).
    let v = ws
        .request(json!({"janus": "destroy", "session_id": s}))
        .await;
    assert_eq!(v["janus"], "success");
    assert_eq!(v["session_id"], s);
    ws.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn closing_a_websocket_destroys_its_sessions() {
    let server = start(test_config()).await;
    let mut ws = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("connect");
    let v = ws.request(json!({"janus": "create"})).await;
    let s = v["data"]["id"].as_u64().expect("session");
    ws.request(json!({"janus": "attach", "plugin": ECHOTEST, "session_id": s}))
        .await;
    assert_eq!(server.core().handle_count(), 1);
    ws.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.core().session_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session not destroyed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.core().handle_count(), 0);
    server.shutdown().await;
}

// ---------------------------------------------------------------- timeouts and claim

#[tokio::test]
async fn idle_sessions_time_out() {
    let mut config = test_config();
    config.general.session_timeout = 1;
    config.http.longpoll_keepalive = 10;
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    http.attach(s, ECHOTEST).await;
    let mut ws = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("connect");
    let v = ws.request(json!({"janus": "create"})).await;
    let ws_session = v["data"]["id"].as_u64().expect("session");

    // The pending long poll gets the timeout event (the poll itself refreshed the session
    // once; the watchdog fires within its 2 s period after the second of idleness).
    let timeout_event = tokio::time::timeout(Duration::from_secs(8), http.get(&format!("/{s}")))
        .await
        .expect("long poll answered");
    assert_eq!(
        timeout_event.json(),
        json!({"janus": "timeout", "session_id": s})
    );
    let e = ws
        .recv_within(Duration::from_secs(8))
        .await
        .expect("timeout over WebSocket");
    assert_eq!(e, json!({"janus": "timeout", "session_id": ws_session}));
    assert_eq!(http.get(&format!("/{s}")).await.status, 404);
    assert_eq!(server.core().session_count(), 0);
    assert_eq!(server.core().handle_count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn claim_moves_events_to_the_claiming_connection() {
    let mut config = test_config();
    config.general.reclaim_session_timeout = 30;
    let server = start(config).await;
    let mut a = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("a");
    let s = a.request(json!({"janus": "create"})).await["data"]["id"]
        .as_u64()
        .expect("s");
    let h = a
        .request(json!({"janus": "attach", "plugin": ECHOTEST, "session_id": s}))
        .await["data"]["id"]
        .as_u64()
        .expect("h");

    let mut b = Ws::connect(&server, Some("janus-protocol"))
        .await
        .expect("b");
    let v = b.request(json!({"janus": "claim", "session_id": s})).await;
    assert_eq!(v["janus"], "success");
    assert_eq!(v["session_id"], s);
    // Claiming again from the same connection just succeeds.
    assert_eq!(
        b.request(json!({"janus": "claim", "session_id": s})).await["janus"],
        "success"
    );

    // Events of a request sent on A now arrive on B only.
    let v = a
        .request(json!({"janus": "message", "body": {"audio": true}, "session_id": s, "handle_id": h, "transaction": "m"}))
        .await;
    assert_eq!(v["janus"], "ack");
    let e = b.wait_for(|m| m["janus"] == "event").await;
    assert_eq!(e["sender"], h);
    assert!(a.recv_within(Duration::from_millis(500)).await.is_none());

    // With reclaim_session_timeout, losing the owner keeps the session for a new claim.
    b.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.core().session_count(), 1);
    let http = Http::new(&server);
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "claim", "transaction": "c"}),
        )
        .await;
    assert_eq!(v["janus"], "success");
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "message", "body": {"audio": false}, "transaction": "m2"}),
        )
        .await;
    assert_eq!(v["janus"], "ack");
    let e = http.wait_event(s, |e| e["transaction"] == "m2").await;
    assert_eq!(e["plugindata"]["data"]["result"], "ok");
    a.close().await;
    server.shutdown().await;
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn api_secret() {
    let mut config = test_config();
    config.general.api_secret = Some("s3cret".into());
    let server = start(config).await;
    let http = Http::new(&server);
    // info and ping need no secret.
    assert_eq!(
        http.post("", json!({"janus": "info", "transaction": "i"}))
            .await["api_secret"],
        true
    );
    assert_eq!(
        http.post("", json!({"janus": "ping", "transaction": "p"}))
            .await["janus"],
        "pong"
    );
    let v = http
        .post("", json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(err_code(&v), 403);
    assert_eq!(
        err_reason(&v),
        "Unauthorized request (wrong or missing secret/token)"
    );
    let v = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "apisecret": "wrong"}),
        )
        .await;
    assert_eq!(err_code(&v), 403);
    let v = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "apisecret": "s3cret"}),
        )
        .await;
    let s = v["data"]["id"].as_u64().expect("session");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "keepalive", "transaction": "k"}),
        )
        .await;
    assert_eq!(err_code(&v), 403);
    assert_eq!(v["session_id"], s);
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "keepalive", "transaction": "k", "apisecret": "s3cret"}),
        )
        .await;
    assert_eq!(v["janus"], "ack");
    assert_eq!(http.get(&format!("/{s}")).await.status, 403);
    assert_eq!(
        http.get(&format!("/{s}?apisecret=s3cret")).await.status,
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn stored_tokens() {
    let mut config = test_config();
    config.general.token_auth = true;
    let server = start(config).await;
    server.core().auth.add_token("good", &[ECHOTEST]);
    server
        .core()
        .auth
        .add_token("other", &["janus.plugin.videoroom"]);
    let http = Http::new(&server);
    assert_eq!(
        http.post("", json!({"janus": "info", "transaction": "i"}))
            .await["auth_token"],
        true
    );
    let v = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "token": "bad"}),
        )
        .await;
    assert_eq!(err_code(&v), 403);
    let s = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "token": "other"}),
        )
        .await["data"]["id"]
        .as_u64()
        .expect("session");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": ECHOTEST, "transaction": "a", "token": "other"}),
        )
        .await;
    assert_eq!(err_code(&v), 405);
    assert_eq!(
        err_reason(&v),
        format!("Provided token can't access plugin '{ECHOTEST}'")
    );
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": ECHOTEST, "transaction": "a", "token": "good"}),
        )
        .await;
    assert_eq!(v["janus"], "success", "{v}");
    assert_eq!(http.get(&format!("/{s}?token=good")).await.status, 200);
    assert_eq!(http.get(&format!("/{s}?token=nope")).await.status, 403);
    server.shutdown().await;
}

#[tokio::test]
async fn signed_tokens() {
    let mut config = test_config();
    config.general.token_auth = true;
    config.general.token_auth_secret = Some("janus".into());
    let server = start(config).await;
    let http = Http::new(&server);
    let sign = |text: &str| {
        format!(
            "{text}:{}",
            portunus::api::auth::sign("janus", text).expect("sign")
        )
    };
    let far = 4_000_000_000u64;
    let echo = sign(&format!("{far},janus,{ECHOTEST}"));
    let other = sign(&format!("{far},janus,janus.plugin.videoroom"));
    let expired = sign(&format!("1000,janus,{ECHOTEST}"));
    let v = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "token": expired}),
        )
        .await;
    assert_eq!(err_code(&v), 403);
    let s = http
        .post(
            "",
            json!({"janus": "create", "transaction": "c", "token": other}),
        )
        .await["data"]["id"]
        .as_u64()
        .expect("session");
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": ECHOTEST, "transaction": "a", "token": other}),
        )
        .await;
    assert_eq!(err_code(&v), 405);
    let v = http
        .post(
            &format!("/{s}"),
            json!({"janus": "attach", "plugin": ECHOTEST, "transaction": "a", "token": echo}),
        )
        .await;
    assert_eq!(v["janus"], "success", "{v}");
    server.shutdown().await;
}

// ---------------------------------------------------------------- config

#[tokio::test]
async fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[transports.http]\nport = \"eighty\"\n").expect("write");
    let err = portunus::Config::load(&path)
        .expect_err("bad type")
        .to_string();
    assert!(err.contains("transports.http.port"), "{err}");
    std::fs::write(&path, "[general]\nsesion_timeout = 3\n").expect("write");
    let err = portunus::Config::load(&path)
        .expect_err("unknown key")
        .to_string();
    assert!(err.contains("general.sesion_timeout"), "{err}");
    std::fs::write(&path, "[general\n").expect("write");
    assert!(portunus::Config::load(&path).is_err());
}

// ---------------------------------------------------------------- plugin replies and failures

/// The faulty test plugin `portunus.test.trap` (built by the plugin host's build script).
fn trap_plugin_dir() -> tempfile::TempDir {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins-wasm/wasm32-wasip2/release/test_plugin_trap.wasm");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&built, dir.path().join("test_plugin_trap.wasm"))
        .unwrap_or_else(|e| panic!("{} (built with the plugin host): {e}", built.display()));
    dir
}

#[tokio::test]
async fn plugin_sync_replies_errors_and_crashes() {
    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    let p = format!("/{s}/{h}");

    // Synchronous plugin reply: success + sender + plugindata.
    let v = http
        .post(
            &p,
            json!({"janus": "message", "body": {}, "transaction": "m"}),
        )
        .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "m", "sender": h,
               "plugindata": {"plugin": "portunus.test.trap", "data": {"ok": true, "messages": 1}}})
    );
    // A plugin refusing a message: 462 with its text.
    let v = http
        .post(
            &p,
            json!({"janus": "message", "body": {"request": "refuse"}, "transaction": "r"}),
        )
        .await;
    assert_eq!(err_code(&v), 462);
    assert!(err_reason(&v).contains("refused on request"), "{v}");

    // A crash: the request fails with 462, the server and other plugins carry on.
    let v = http
        .post(
            &p,
            json!({"janus": "message", "body": {"request": "trap"}, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 462, "{v}");
    // Its live handles are told with an error event from the core.
    let e = http
        .wait_event(s, |e| {
            e["sender"] == h && e["plugindata"]["data"]["error_code"] == 462
        })
        .await;
    assert_eq!(e["plugindata"]["plugin"], "portunus.test.trap");
    // The restarted plugin starts from fresh state.
    let v = http
        .post(
            &p,
            json!({"janus": "message", "body": {}, "transaction": "m2"}),
        )
        .await;
    assert_eq!(v["janus"], "success", "{v}");
    let echo = http.attach(s, ECHOTEST).await;
    let v = http
        .post(
            &format!("/{s}/{echo}"),
            json!({"janus": "message", "body": {"audio": true}, "transaction": "e"}),
        )
        .await;
    assert_eq!(v["janus"], "ack");
    let e = http.wait_event(s, |e| e["transaction"] == "e").await;
    assert_eq!(e["plugindata"]["data"]["result"], "ok");
    server.shutdown().await;
}

// ---------------------------------------------------------------- host calls of the VideoRoom

/// A message to the trap plugin answered synchronously: its `plugindata.data`.
async fn trap_call(http: &Http, s: u64, h: u64, body: Value) -> Value {
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "message", "body": body, "transaction": tx()}),
        )
        .await;
    assert_eq!(v["janus"], "success", "{v}");
    v["plugindata"]["data"].clone()
}

fn call_error(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

#[tokio::test]
async fn rtp_forwards_and_talk_detection_are_checked_by_the_core() {
    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    let echo = http.attach(s, ECHOTEST).await;
    let forward = |handle: u64, host: &str, port: u16| json!({"request": "rtp_forward", "handle": handle, "mid": "0", "host": host, "port": port});

    // Another plugin's handle, or none at all.
    let v = trap_call(&http, s, h, forward(echo, "127.0.0.1", 5004)).await;
    assert!(call_error(&v).contains("does not belong"), "{v}");
    let v = trap_call(&http, s, h, forward(987_654, "127.0.0.1", 5004)).await;
    assert!(call_error(&v).contains("no such handle"), "{v}");
    // Bad destinations: empty, not resolvable, port 0.
    let v = trap_call(&http, s, h, forward(h, "", 5004)).await;
    assert!(call_error(&v).contains("empty host"), "{v}");
    let v = trap_call(&http, s, h, forward(h, "no-such-host.invalid", 5004)).await;
    assert!(call_error(&v).contains("cannot resolve"), "{v}");
    let v = trap_call(&http, s, h, forward(h, "127.0.0.1", 0)).await;
    assert!(call_error(&v).contains("port 0"), "{v}");
    // Own handle, good address, but no such m-line (no PeerConnection): the media core says so.
    let v = trap_call(&http, s, h, forward(h, "127.0.0.1", 5004)).await;
    assert!(v["error"].is_string(), "{v}");
    // Removing a forwarder nobody has is harmless.
    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "rtp_forward_remove", "id": 424242}),
    )
    .await;
    assert_eq!(v, json!({"ok": true}));

    let talk = |handle: u64| json!({"request": "talk_detect", "handle": handle, "mid": "0"});
    let v = trap_call(&http, s, h, talk(echo)).await;
    assert!(call_error(&v).contains("does not belong"), "{v}");
    let v = trap_call(&http, s, h, talk(987_654)).await;
    assert!(call_error(&v).contains("no such handle"), "{v}");
    server.shutdown().await;
}

#[tokio::test]
async fn layer_and_talk_events_go_to_the_plugin_owning_the_handle() {
    use portunus_media::{MediaEvent, MediaRef};

    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    let echo = http.attach(s, ECHOTEST).await;
    let at = |handle: u64, mid: &str| MediaRef {
        handle,
        mid: mid.into(),
    };
    let core = server.core();
    core.on_media_event(MediaEvent::LayerChanged {
        route: 1,
        target: at(echo, "1"),
        substream: Some(0),
        temporal: None,
    });
    core.on_media_event(MediaEvent::LayerChanged {
        route: 2,
        target: at(h, "1"),
        substream: Some(1),
        temporal: Some(2),
    });
    core.on_media_event(MediaEvent::TalkChanged {
        source: at(h, "0"),
        talking: false,
        level_dbov_avg: -60.0,
    });
    // For a handle that does not exist: dropped.
    core.on_media_event(MediaEvent::TalkChanged {
        source: at(987_654, "0"),
        talking: true,
        level_dbov_avg: -10.0,
    });
    let v = trap_call(&http, s, h, json!({"request": "media_events"})).await;
    assert_eq!(
        v["events"],
        json!([
            {"layer_changed": {"route": 2, "handle": h, "mid": "1", "substream": 1, "temporal": 2}},
            {"talk_changed": {"handle": h, "mid": "0", "talking": false, "level": -60.0}},
        ])
    );
    // They are not client events: nothing but keepalives reach the session.
    let r = http.get(&format!("/{s}?maxev=10")).await;
    assert_eq!(r.json(), json!([{"janus": "keepalive"}]), "{}", r.body);
    server.shutdown().await;
}

#[tokio::test]
async fn prepared_offers_carry_the_mids_create_offer_returned() {
    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;

    let v = trap_call(&http, s, h, json!({"request": "push_prepared_offer"})).await;
    assert!(call_error(&v).contains("no offer prepared"), "{v}");

    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "create_offer", "audio": 1, "video": 1}),
    )
    .await;
    let mids: Vec<String> = serde_json::from_value(v["ok"].clone()).expect("mids");
    assert_eq!(mids.len(), 2, "{v}");
    let v = trap_call(&http, s, h, json!({"request": "push_prepared_offer"})).await;
    assert_eq!(v, json!({"ok": []}));
    let e = http
        .wait_event(s, |e| e["plugindata"]["data"]["offer"] == "prepared")
        .await;
    assert_eq!(e["jsep"]["type"], "offer", "{e}");
    let sdp = e["jsep"]["sdp"].as_str().expect("offer sdp");
    for mid in &mids {
        assert!(sdp.contains(&format!("a=mid:{mid}\r\n")), "{mid} in {sdp}");
    }
    // The prepared offer is used up.
    let v = trap_call(&http, s, h, json!({"request": "push_prepared_offer"})).await;
    assert!(call_error(&v).contains("no offer prepared"), "{v}");
    server.shutdown().await;
}

const SAVED_CONFIG: &str = r#"# portunus test configuration
[general]
server_name = "saved" # kept

[plugins]
# the test plugins
dir = "plugins"

# The trap plugin's own section.
[plugins."portunus.test.trap"]
admin_key = "old"

[[plugins."portunus.test.trap".rooms]]
room = 1234
description = "Demo"

[[plugins."portunus.test.trap".rooms]]
room = 5678
is_private = true
"#;

/// A config loaded from `SAVED_CONFIG` in `dir`, on test ports.
fn load_saved(path: &std::path::Path) -> portunus::Config {
    let mut config = portunus::Config::load(path).expect("config loads");
    let t = test_config();
    config.http = t.http;
    config.websocket = t.websocket;
    config.media = t.media;
    config
}

#[tokio::test]
async fn save_config_round_trips_through_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    std::fs::copy(
        trap_plugin_dir().path().join("test_plugin_trap.wasm"),
        plugins.join("test_plugin_trap.wasm"),
    )
    .expect("copy plugin");
    let path = dir.path().join("portunus.toml");
    std::fs::write(&path, SAVED_CONFIG).expect("write");

    let server = start(load_saved(&path)).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    // init got the whole section, arrays of tables included.
    let v = trap_call(&http, s, h, json!({"request": "config"})).await;
    assert_eq!(
        v["config"],
        json!({"admin_key": "old", "rooms": [
            {"room": 1234, "description": "Demo"},
            {"room": 5678, "is_private": true},
        ]})
    );

    let saved = json!({
        "admin_key": "new",
        "rooms": [
            {"room": 1234, "description": "Demo", "bitrate": 128000, "pin": null},
            {"room": 42, "description": "Permanent", "videocodec": "vp8,h264",
             "allowed": ["a", "b"], "audio_level_average": 25.5},
        ],
        "gone": null,
    });
    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "save_config", "config": saved}),
    )
    .await;
    assert_eq!(v, json!({"ok": true}));
    // Non-objects are refused, and the file keeps the last good save.
    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "save_config", "config": [1, 2]}),
    )
    .await;
    assert!(call_error(&v).contains("JSON object"), "{v}");

    let text = std::fs::read_to_string(&path).expect("read back");
    assert!(
        text.starts_with("# portunus test configuration\n[general]\nserver_name = \"saved\" # kept\n\n[plugins]\n# the test plugins\ndir = \"plugins\"\n\n# The trap plugin's own section.\n[plugins.\"portunus.test.trap\"]\n"),
        "{text}"
    );
    assert!(
        !text.contains("gone") && !text.contains("pin"),
        "nulls dropped: {text}"
    );
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    server.shutdown().await;

    // The next start's init gets exactly what was saved (nulls aside).
    let expected = json!({
        "admin_key": "new",
        "rooms": [
            {"room": 1234, "description": "Demo", "bitrate": 128000},
            {"room": 42, "description": "Permanent", "videocodec": "vp8,h264",
             "allowed": ["a", "b"], "audio_level_average": 25.5},
        ],
    });
    let config = load_saved(&path);
    assert_eq!(config.general.server_name, "saved");
    assert_eq!(config.plugins.settings["portunus.test.trap"], expected);
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    let v = trap_call(&http, s, h, json!({"request": "config"})).await;
    assert_eq!(v["config"], expected);

    // The file is gone: a clear error, not a new file.
    std::fs::remove_file(&path).expect("remove");
    let v = trap_call(&http, s, h, json!({"request": "save_config", "config": {}})).await;
    assert!(call_error(&v).contains("cannot read"), "{v}");
    assert!(!path.exists());
    server.shutdown().await;
}

#[tokio::test]
async fn save_config_without_a_file_is_an_error() {
    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, "portunus.test.trap").await;
    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "save_config", "config": {"a": 1}}),
    )
    .await;
    assert!(
        call_error(&v).contains("started without a configuration file"),
        "{v}"
    );
    let v = trap_call(
        &http,
        s,
        h,
        json!({"request": "save_config", "text": "nope"}),
    )
    .await;
    assert!(call_error(&v).contains("not valid JSON"), "{v}");
    server.shutdown().await;
}

// ---------------------------------------------------------------- plain-RTP inputs

const TRAP: &str = "portunus.test.trap";

fn input_stream(mid: &str, codec: &str, port: u16) -> portunus_plugin_host::RtpInputStreamRequest {
    portunus_plugin_host::RtpInputStreamRequest {
        mid: mid.into(),
        kind: portunus_media::MediaKind::Video,
        codec: codec.into(),
        clock_rate: 90_000,
        channels: None,
        pt: Some(96),
        fmtp: None,
        port,
        rtcp_port: None,
    }
}

fn input_request(
    host: Option<&str>,
    streams: Vec<portunus_plugin_host::RtpInputStreamRequest>,
) -> portunus_plugin_host::RtpInputRequest {
    portunus_plugin_host::RtpInputRequest {
        host: host.map(str::to_string),
        streams,
    }
}

fn port_is_free(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

/// Waits (bounded) until the trap plugin has seen an `input_media` event like `want`.
async fn wait_input_media(http: &Http, s: u64, h: u64, want: Value) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let v = trap_call(http, s, h, json!({"request": "media_events"})).await;
        if v["events"]
            .as_array()
            .is_some_and(|e| e.contains(&json!({ "input_media": want })))
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {want} in {v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rtp_inputs_belong_to_their_plugin_and_end_with_its_state() {
    use portunus_media::{LayerChoice, MediaRef, Route};
    use portunus_plugin_host::Gateway;

    let dir = trap_plugin_dir();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    let server = start(config).await;
    let http = Http::new(&server);
    let s = http.create().await;
    let h = http.attach(s, TRAP).await;
    let echo = http.attach(s, ECHOTEST).await;
    // The calls a plugin makes, made here on its behalf.
    let gw = portunus::api::CoreGateway::new(server.core());

    // Bad requests: a host name, no streams, duplicate or empty mids, unknown codecs, a
    // port in use.
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let bad = [
        (
            input_request(Some("localhost"), vec![input_stream("v", "vp8", 0)]),
            "not an IP address",
        ),
        (input_request(None, vec![]), "no streams"),
        (
            input_request(
                Some("127.0.0.1"),
                vec![input_stream("v", "vp8", 0), input_stream("v", "vp9", 0)],
            ),
            "used twice",
        ),
        (
            input_request(Some("127.0.0.1"), vec![input_stream("", "vp8", 0)]),
            "empty mid",
        ),
        (
            input_request(Some("127.0.0.1"), vec![input_stream("v", "theora", 0)]),
            "unknown codec",
        ),
        (
            input_request(Some("127.0.0.1"), vec![input_stream("v", "vp8", busy_port)]),
            "in use",
        ),
    ];
    for (req, why) in bad {
        let e = gw.rtp_input_add(TRAP, req).unwrap_err();
        assert!(e.contains(why), "{e} (wanted {why})");
    }

    let info = gw
        .rtp_input_add(
            TRAP,
            input_request(Some("[127.0.0.1]"), vec![input_stream("v", "VP8", 0)]),
        )
        .unwrap();
    let (source, port) = (info.source, info.ports[0]);
    assert!(!port_is_free(port));
    // Not a handle: no client can use the id.
    let v = http
        .post(
            &format!("/{s}/{source}"),
            json!({"janus": "message", "body": {}, "transaction": "x"}),
        )
        .await;
    assert_eq!(err_code(&v), 459, "{v}");

    // Routes from the input: for its plugin only, and only to real handles.
    let route = |target: u64| Route {
        source: MediaRef {
            handle: source,
            mid: "v".into(),
        },
        target: MediaRef {
            handle: target,
            mid: "1".into(),
        },
        layer: LayerChoice::default(),
        paused: false,
        auto_layer: false,
    };
    let route_id = gw.route_add(TRAP, route(h)).unwrap();
    let e = gw.route_add(ECHOTEST, route(echo)).unwrap_err();
    assert!(e.contains("does not belong"), "{e}");
    let e = gw.route_add(TRAP, route(source)).unwrap_err();
    assert!(e.contains("no such handle"), "{e}");
    // Another plugin cannot close it.
    gw.rtp_input_remove(ECHOTEST, source);
    assert!(!port_is_free(port));

    // Media on the input reaches its plugin as input-media.
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7];
    rtp.extend_from_slice(&[0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3]);
    sender.send_to(&rtp, ("127.0.0.1", port)).unwrap();
    wait_input_media(
        &http,
        s,
        h,
        json!({"source": source, "mid": "v", "receiving": true}),
    )
    .await;

    // Closed by its plugin: the port is free and the routes from it are gone.
    gw.rtp_input_remove(TRAP, source);
    assert!(port_is_free(port));
    let e = gw
        .route_update(TRAP, route_id, LayerChoice::default(), false)
        .unwrap_err();
    assert!(e.contains("no such route"), "{e}");

    // A crash restarts the plugin with fresh state: its inputs are closed.
    let info = gw
        .rtp_input_add(
            TRAP,
            input_request(None, vec![input_stream("v", "h264", 0)]),
        )
        .unwrap();
    assert!(!port_is_free(info.ports[0]));
    let v = http
        .post(
            &format!("/{s}/{h}"),
            json!({"janus": "message", "body": {"request": "trap"}, "transaction": "t"}),
        )
        .await;
    assert_eq!(err_code(&v), 462, "{v}");
    assert!(port_is_free(info.ports[0]), "input closed with the crash");
    // Removing it again is harmless.
    gw.rtp_input_remove(TRAP, info.source);
    drop(busy);
    server.shutdown().await;
}

/// A refused or failed hot reload leaves the running version's inputs as they were (ports
/// bound, same source ids); a reload without snapshot frees them for the new `init` first.
#[tokio::test]
async fn failed_reloads_keep_the_running_versions_inputs() {
    use portunus_plugin_host::Gateway;

    let dir = trap_plugin_dir();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = test_config();
    config.plugins.dir = Some(dir.path().to_path_buf());
    // init opens one input on a fixed port.
    config
        .plugins
        .settings
        .insert(TRAP.into(), json!({"inputs": 1, "port": port}));
    let server = start(config).await;
    let gw = portunus::api::CoreGateway::new(server.core());
    let host = server.core().plugins().unwrap();
    let before = gw.inputs_of(TRAP);
    assert_eq!(before.len(), 1);
    assert!(!port_is_free(port));

    // Another plugin's file: refused before anything changes.
    let echotest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins-wasm/wasm32-wasip2/release/portunus_echotest.wasm");
    let e = host.reload(TRAP, &echotest).await.unwrap_err();
    assert!(e.to_string().contains("not portunus.test.trap"), "{e}");
    assert_eq!(gw.inputs_of(TRAP), before);
    assert!(!port_is_free(port));

    // With a snapshot the old input stays open, so the new init finds its port in use and
    // fails: the old version runs on with its input.
    let trap = dir.path().join("test_plugin_trap.wasm");
    let e = host.reload(TRAP, &trap).await.unwrap_err();
    assert!(e.to_string().contains("in use"), "{e}");
    assert_eq!(gw.inputs_of(TRAP), before);
    assert!(!port_is_free(port));
    server.shutdown().await;
}
