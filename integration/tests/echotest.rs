//! End to end: portunus in-process, the str0m test peer, the Janus API over WebSocket and
//! over HTTP long-poll, and the EchoTest plugin echoing RTP and data back.

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, config, endpoint, start};
use portunus_integration::echo::{DATA_PREFIX, ECHOTEST, EchoCall, EchoOptions, verify_echo};
use portunus_integration::{JanusClient, JanusEvent};

const PACKETS: usize = 50;

/// The whole EchoTest life cycle on one transport.
async fn echo_call(kind: &str) {
    let server = start(config(60)).await;
    let client = JanusClient::connect(&endpoint(&server, kind))
        .await
        .expect("connect");
    // janus.js over HTTP often trickles before its offer is processed: cover both orders.
    let opts = EchoOptions {
        trickle_before_offer: kind == "http",
        timeout: WAIT,
        ..EchoOptions::default()
    };
    let call = EchoCall::establish(&client, &opts)
        .await
        .unwrap_or_else(|e| panic!("{kind}: call setup: {e}"));
    let setup = call.setup_time().expect("webrtcup seen");
    let state = call.peer.state();
    println!(
        "{kind}: create -> webrtcup {:.1} ms, SRTP profile {}",
        setup.as_secs_f64() * 1000.0,
        state
            .srtp_profile
            .map_or("unknown".to_string(), |p| p.to_string())
    );
    assert!(state.connected, "{kind}: peer connected");

    // RTP: every payload comes back unchanged on the m-line it was sent on.
    let sent = call.send_media(PACKETS).await.expect("send RTP");
    assert_eq!(sent.len(), 2, "{kind}: audio and video m-lines");
    let need = PACKETS * 9 / 10;
    let state = call
        .peer
        .wait_until(WAIT, "echoed RTP", |s| {
            sent.iter()
                .all(|(mid, _)| s.packets_on(mid) as usize >= need)
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}; state {:?}", call.peer.state().received));
    let counts = verify_echo(&state, &sent, 0.9).unwrap_or_else(|e| panic!("{kind}: {e}"));
    println!("{kind}: echoed packets per mid {counts:?} of {PACKETS} sent");
    // The gateway saw media arrive on both m-lines: `media` events with receiving:true.
    for media in ["audio", "video"] {
        client
            .wait_event(
                WAIT,
                |e| matches!(e, JanusEvent::Media { kind, receiving: true, .. } if kind == media),
            )
            .await
            .unwrap_or_else(|e| panic!("{kind}: media event for {media}: {e}"));
    }

    // Data channel: text gets the EchoTest prefix, binary comes back unchanged.
    call.peer
        .wait_until(WAIT, "data channel open", |s| s.channel_open.is_some())
        .await
        .expect("data channel opens");
    let text = format!("hello portunus over {kind}");
    call.peer.send_text(&text).await.expect("send text");
    let expected = format!("{DATA_PREFIX}{text}");
    call.peer
        .wait_until(WAIT, "text echo", |s| {
            s.data_received
                .iter()
                .any(|m| !m.binary && m.text() == expected)
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}; got {:?}", call.peer.state().data_received));
    let blob = [0u8, 1, 2, 254, 255];
    call.peer.send_binary(&blob).await.expect("send binary");
    call.peer
        .wait_until(WAIT, "binary echo", |s| {
            s.data_received.iter().any(|m| m.binary && m.data == blob)
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}; got {:?}", call.peer.state().data_received));

    // Hangup: a `hangup` event for the handle, and the PeerConnection really goes.
    client
        .hangup(call.session, call.handle)
        .await
        .expect("hangup");
    let handle = call.handle;
    let ev = client
        .wait_event(
            WAIT,
            |e| matches!(e, JanusEvent::Hangup { sender, .. } if *sender == handle),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind}: hangup event: {e}"));
    assert!(
        matches!(&ev, JanusEvent::Hangup { reason, .. } if reason == "Janus API"),
        "{kind}: a hangup request is reported with reason \"Janus API\", got {ev:?}"
    );
    client
        .wait_event(WAIT, |e| {
            matches!(e, JanusEvent::Plugin { sender, data, .. }
                if *sender == handle && data["result"] == "done")
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: EchoTest result:done after hangup: {e}"));
    call.peer
        .wait_until(WAIT, "PeerConnection closed after hangup", |s| {
            s.closed || s.ice_state == "Disconnected"
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));

    // Destroy: success, then the session is gone (458).
    client.destroy(call.session).await.expect("destroy");
    let err = client
        .keepalive(call.session)
        .await
        .expect_err("session is gone");
    assert_eq!(err.code(), Some(458), "{kind}: {err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_over_websocket() {
    echo_call("ws").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_over_http_long_poll() {
    echo_call("http").await;
}

/// An idle session times out: `timeout` event, the session and its handle are gone, and so
/// is the PeerConnection.
async fn session_timeout(kind: &str) {
    // The watchdog runs every 2 s (as in Janus): expect the timeout within ~2-4 s.
    let server = start(config(2)).await;
    let client = JanusClient::connect(&endpoint(&server, kind))
        .await
        .expect("connect");
    let opts = EchoOptions {
        timeout: WAIT,
        ..EchoOptions::default()
    };
    let call = EchoCall::establish(&client, &opts)
        .await
        .unwrap_or_else(|e| panic!("{kind}: call setup: {e}"));
    let idle_from = Instant::now();
    let session = call.session;
    client
        .wait_event(
            Duration::from_secs(15),
            |e| matches!(e, JanusEvent::Timeout { session_id } if *session_id == session),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind}: timeout event: {e}"));
    let after = idle_from.elapsed();
    println!("{kind}: session timed out after {after:?} idle");
    assert!(
        after >= Duration::from_millis(1500),
        "{kind}: timed out too early ({after:?})"
    );
    let err = client.keepalive(session).await.expect_err("session reaped");
    assert_eq!(err.code(), Some(458), "{kind}: {err}");
    let err = client
        .hangup(session, call.handle)
        .await
        .expect_err("handle reaped with its session");
    assert_eq!(err.code(), Some(458), "{kind}: {err}");
    call.peer
        .wait_until(WAIT, "PeerConnection closed by the reaper", |s| {
            s.closed || s.ice_state == "Disconnected"
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_reaps_over_websocket() {
    session_timeout("ws").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_reaps_over_http_long_poll() {
    session_timeout("http").await;
}

/// Attach/detach without media: `detached` event, and the EchoTest's `done` before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_and_detach_echotest() {
    let server = start(config(60)).await;
    for kind in ["ws", "http"] {
        let client = JanusClient::connect(&endpoint(&server, kind))
            .await
            .expect("connect");
        let info = client.info().await.expect("info");
        assert!(
            info["plugins"].get(ECHOTEST).is_some(),
            "{kind}: info lists the echotest: {info}"
        );
        let session = client.create().await.expect("create");
        let handle = client.attach(session, ECHOTEST).await.expect("attach");
        client.detach(session, handle).await.expect("detach");
        client
            .wait_event(
                WAIT,
                |e| matches!(e, JanusEvent::Detached { sender, .. } if *sender == handle),
            )
            .await
            .unwrap_or_else(|e| panic!("{kind}: detached event: {e}"));
        client.destroy(session).await.expect("destroy");
    }
    server.shutdown().await;
}

/// Other ways of getting the client's candidates across: a `candidates` array, or none
/// trickled at all (everything in the offer SDP, `trickle: false`). Media must flow each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_by_array_or_in_sdp() {
    let server = start(config(60)).await;
    for (kind, array, in_sdp) in [("ws", true, false), ("http", false, true)] {
        let client = JanusClient::connect(&endpoint(&server, kind))
            .await
            .expect("connect");
        let mut opts = EchoOptions {
            trickle_array: array,
            timeout: WAIT,
            ..EchoOptions::default()
        };
        opts.peer.trickle = !in_sdp;
        let call = EchoCall::establish(&client, &opts)
            .await
            .unwrap_or_else(|e| panic!("{kind} array={array} in_sdp={in_sdp}: {e}"));
        let sent = call.send_media(20).await.expect("send RTP");
        let state = call
            .peer
            .wait_until(WAIT, "echoed RTP", |s| {
                sent.iter().all(|(mid, _)| s.packets_on(mid) >= 15)
            })
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        verify_echo(&state, &sent, 0.75).unwrap_or_else(|e| panic!("{kind}: {e}"));
        client.destroy(call.session).await.expect("destroy");
    }
    server.shutdown().await;
}
