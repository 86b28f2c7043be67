//! End to end: a second offer on the same handle of a live EchoTest call (what the devicetest
//! demo does when the user switches devices), over WebSocket and HTTP long-poll. The answer
//! must come with the request's transaction, the PeerConnection must survive (no `hangup`, no
//! second `webrtcup`), and RTP on every m-line, old and new, must come back unchanged.

mod common;

use common::{WAIT, config, endpoint, start};
use portunus_integration::echo::{
    DATA_PREFIX, EchoCall, EchoOptions, echoed_count, verify_echo, verify_echo_round,
};
use portunus_integration::{JanusClient, JanusEvent, Renegotiation};

const PACKETS: usize = 40;

/// Sends a round of RTP on every m-line and waits until 90% of it came back on the m-line it
/// was sent on. Returns what was sent.
async fn echo_round(
    call: &EchoCall,
    what: &str,
    earlier: &[(String, Vec<Vec<u8>>)],
) -> Vec<(String, Vec<Vec<u8>>)> {
    let sent = call
        .send_media(PACKETS)
        .await
        .unwrap_or_else(|e| panic!("{what}: send RTP: {e}"));
    let need = PACKETS * 9 / 10;
    let state = call
        .peer
        .wait_until(WAIT, "echoed RTP", |s| {
            sent.iter().all(|(mid, p)| echoed_count(s, mid, p) >= need)
        })
        .await
        .unwrap_or_else(|e| {
            let counts: Vec<_> = sent
                .iter()
                .map(|(mid, p)| (mid.clone(), echoed_count(&call.peer.state(), mid, p)))
                .collect();
            panic!("{what}: {e}; echoed per mid {counts:?} of {PACKETS}")
        });
    let counts = if earlier.is_empty() {
        verify_echo(&state, &sent, 0.9)
    } else {
        verify_echo_round(&state, earlier, &sent, 0.9)
    }
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: echoed per mid {counts:?} of {PACKETS}");
    sent
}

async fn renegotiate(kind: &str, change: Renegotiation) {
    let what = format!("{kind} {change:?}");
    let server = start(config(60)).await;
    let client = JanusClient::connect(&endpoint(&server, kind))
        .await
        .expect("connect");
    let opts = EchoOptions {
        timeout: WAIT,
        ..EchoOptions::default()
    };
    let call = EchoCall::establish(&client, &opts)
        .await
        .unwrap_or_else(|e| panic!("{what}: call setup: {e}"));
    let first = echo_round(&call, &format!("{what} before"), &[]).await;
    let before = call.peer.state();
    let lines_before = before.media.len();
    let ice_before = before.ice_history.len();

    let transaction = call
        .renegotiate(&client, change.clone(), WAIT)
        .await
        .unwrap_or_else(|e| panic!("{what}: renegotiation: {e}"));
    println!("{what}: answer came with transaction {transaction}");
    let state = call.peer.state();
    assert_eq!(
        state.media.len(),
        lines_before + change.add_audio + change.add_video,
        "{what}: m-lines after renegotiation: {:?}",
        state.media
    );

    if change.ice_restart {
        // ICE really restarted (our agent went back to checking) and completed again: the
        // gateway answered the checks made with the new credentials.
        call.peer
            .wait_until(WAIT, "ICE connected again after the restart", |s| {
                let after = &s.ice_history[ice_before..];
                after.iter().any(|st| st == "Checking")
                    && matches!(s.ice_state.as_str(), "Connected" | "Completed")
            })
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{what}: {e}; ICE states {:?}",
                    call.peer.state().ice_history
                )
            });
    }

    // Media flows on every m-line, the new ones included, without waiting for anything.
    let second = echo_round(&call, &format!("{what} after"), &first).await;
    assert_eq!(
        second.len(),
        state.media.len(),
        "{what}: sent on every m-line"
    );
    let handle = call.handle;
    for line in &state.media[lines_before..] {
        let mid = line.mid.clone();
        client
            .wait_event(WAIT, |e| {
                matches!(e, JanusEvent::Media { sender, mid: Some(m), receiving: true, .. }
                    if *sender == handle && *m == mid)
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: media event for new mid {mid}: {e}"));
    }
    // The data channel (SCTP over the same DTLS) survived too.
    let text = format!("after renegotiation over {kind}");
    call.peer.send_text(&text).await.expect("send text");
    let expected = format!("{DATA_PREFIX}{text}");
    call.peer
        .wait_until(WAIT, "text echo", |s| {
            s.data_received
                .iter()
                .any(|m| !m.binary && m.text() == expected)
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));

    // The PeerConnection was never torn down nor set up again.
    let events = client.drain_events();
    let bad: Vec<&JanusEvent> = events
        .iter()
        .filter(|e| matches!(e, JanusEvent::Hangup { .. } | JanusEvent::WebrtcUp { .. }))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: renegotiation must not hang up or redo webrtcup: {bad:?}"
    );
    let state = call.peer.state();
    assert!(
        state.connected && !state.closed,
        "{what}: peer still connected"
    );

    client.destroy(call.session).await.expect("destroy");
    server.shutdown().await;
}

/// A second video m-line (Unified Plan, another camera) next to the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_video_line_over_websocket() {
    renegotiate(
        "ws",
        Renegotiation {
            add_video: 1,
            ..Renegotiation::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_video_line_over_http_long_poll() {
    renegotiate(
        "http",
        Renegotiation {
            add_video: 1,
            ..Renegotiation::default()
        },
    )
    .await;
}

/// New ICE credentials, candidates trickled again (janus.js `iceRestart: true`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_over_websocket() {
    renegotiate(
        "ws",
        Renegotiation {
            ice_restart: true,
            ..Renegotiation::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_over_http_long_poll() {
    renegotiate(
        "http",
        Renegotiation {
            ice_restart: true,
            ..Renegotiation::default()
        },
    )
    .await;
}
