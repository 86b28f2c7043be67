//! End to end: `claim` moves a session to another WebSocket connection (what janus.js's
//! `reconnect()` does). Events caused by the new connection's requests, and the session's
//! media events, go to it and not to the old one; closing the old connection afterwards does
//! not destroy the session, its handle or its PeerConnection.

mod common;

use std::time::Duration;

use common::{WAIT, config, endpoint, start};
use portunus_integration::echo::{ECHOTEST, EchoCall, EchoOptions, echoed_count};
use portunus_integration::{JanusClient, JanusEvent, MessageReply};
use serde_json::json;

/// How long the old connection is watched for stray events.
const QUIET: Duration = Duration::from_millis(500);

/// Sends RTP on every m-line and waits until 80% of it is echoed.
async fn media_flows(call: &EchoCall, what: &str) {
    let sent = call.send_media(20).await.expect("send RTP");
    call.peer
        .wait_until(WAIT, what, |s| {
            sent.iter().all(|(mid, p)| echoed_count(s, mid, p) >= 16)
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_moves_events_and_survives_the_old_connection() {
    let server = start(config(60)).await;
    let ws = endpoint(&server, "ws");
    let a = JanusClient::connect(&ws).await.expect("connect A");
    let opts = EchoOptions {
        timeout: WAIT,
        ..EchoOptions::default()
    };
    // A live EchoTest call, set up entirely on A.
    let call = EchoCall::establish(&a, &opts)
        .await
        .unwrap_or_else(|e| panic!("call setup on A: {e}"));
    let (session, handle) = (call.session, call.handle);

    let b = JanusClient::connect(&ws).await.expect("connect B");
    b.claim(session).await.expect("claim on B");
    // Claiming again from the owner is a no-op success.
    b.claim(session).await.expect("second claim on B");
    a.drain_events();

    // A request on B: its EchoTest event comes back on B, with B's transaction.
    let reply = b
        .message(session, handle, json!({"bitrate": 256000}), None)
        .await
        .expect("message on B");
    let MessageReply::Ack { transaction } = reply else {
        panic!("EchoTest acks a message, got {reply:?}");
    };
    let ev = b
        .wait_event(
            WAIT,
            |e| matches!(e, JanusEvent::Plugin { sender, .. } if *sender == handle),
        )
        .await
        .expect("EchoTest event on B");
    assert!(
        matches!(&ev, JanusEvent::Plugin { transaction: Some(t), plugin, data, .. }
            if *t == transaction && plugin == ECHOTEST && data["result"] == "ok"),
        "EchoTest result for B's message, got {ev:?}"
    );
    // Media events of the session now go to B as well.
    media_flows(&call, "echo after claim").await;
    b.wait_event(
        WAIT,
        |e| matches!(e, JanusEvent::Media { sender, receiving: true, .. } if *sender == handle),
    )
    .await
    .expect("media event on B");
    let stray = a.wait_event(QUIET, |_| true).await;
    assert!(
        stray.is_err(),
        "A must get nothing after the claim, got {stray:?}"
    );

    // A goes away: the session is B's now, so it survives, and so does the call.
    a.close().await.expect("close A");
    tokio::time::sleep(QUIET).await;
    b.keepalive(session)
        .await
        .expect("session survives A's close");
    media_flows(&call, "echo after A closed").await;
    let reply = b
        .message(session, handle, json!({"bitrate": 0}), None)
        .await
        .expect("message on B after A closed");
    assert!(matches!(reply, MessageReply::Ack { .. }), "{reply:?}");
    b.wait_event(WAIT, |e| {
        matches!(e, JanusEvent::Plugin { sender, data, .. }
            if *sender == handle && data["result"] == "ok")
    })
    .await
    .expect("EchoTest event on B after A closed");
    let events = b.drain_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JanusEvent::Hangup { .. } | JanusEvent::Timeout { .. })),
        "no hangup or timeout for the claimed session: {events:?}"
    );
    assert!(!call.peer.state().closed, "PeerConnection still up");

    // B closing now does destroy it (reclaim_session_timeout is 0): the PeerConnection goes.
    b.close().await.expect("close B");
    call.peer
        .wait_until(WAIT, "PeerConnection closed with the session", |s| {
            s.closed || s.ice_state == "Disconnected"
        })
        .await
        .expect("session destroyed with its last connection");
    server.shutdown().await;
}
