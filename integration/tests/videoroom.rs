//! End to end: the VideoRoom with str0m peers as publishers (simulcast, audio level, data
//! channel) and subscribers (per-SSRC counters, sequence continuity, layer tags), over the
//! Janus API. Every wait is bounded (`WAIT`); media checks use what the receiving peer saw.

mod common;

use std::time::Duration;

use common::WAIT;
use common::videoroom::{Env, settings};
use portunus_integration::peer::{DropRule, MediaSource, SILENCE, SimulcastMode, SsrcStats};
use portunus_integration::videoroom::{
    PublishOptions, Publisher, Subscriber, poll_until, streams_of,
};
use portunus_integration::{JanusEvent, Peer, PeerState};
use serde_json::{Value, json};

/// Janus's sample room, as in the default config.toml.
const ROOM: u64 = 1234;

fn demo_room() -> Value {
    json!([{"room": ROOM, "description": "Demo Room", "secret": "adminpwd", "publishers": 6,
            "bitrate": 128000, "fir_freq": 10}])
}

fn simulcast_opts(display: &str, source: u16) -> PublishOptions {
    let mut o = PublishOptions::simulcast();
    o.display = Some(display.into());
    if let Some(m) = &mut o.media {
        m.source_id = source;
    }
    o
}

/// A single-stream publisher at a modest rate.
fn plain_opts(display: &str, source: u16) -> PublishOptions {
    let mut o = PublishOptions {
        display: Some(display.into()),
        ..PublishOptions::default()
    };
    o.media = Some(MediaSource {
        layer_bitrates: vec![200_000],
        source_id: source,
        ..MediaSource::default()
    });
    o
}

async fn publish(env: &Env, opts: &PublishOptions) -> Publisher {
    Publisher::join_and_publish(env.client.clone(), env.session, ROOM, opts, WAIT)
        .await
        .unwrap_or_else(|e| panic!("publish {:?}: {e}", opts.display))
}

async fn subscribe(env: &Env, streams: Value) -> Subscriber {
    Subscriber::join(
        env.client.clone(),
        env.session,
        ROOM,
        streams.clone(),
        Value::Null,
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("subscribe to {streams}: {e}"))
}

/// The SSRC carrying most media on `mid`, with its stats.
fn main_ssrc(state: &PeerState, mid: &str) -> Option<(u32, SsrcStats)> {
    state
        .ssrcs_on(mid)
        .first()
        .map(|(ssrc, s)| (*ssrc, (*s).clone()))
}

/// Waits until `mid` received at least `n` packets.
async fn wait_packets(peer: &Peer, mid: &str, n: u64, what: &str) -> PeerState {
    peer.wait_until(WAIT, what, |s| s.packets_on(mid) >= n)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}; received {:?}", summary(&peer.state())))
}

/// Waits until the last tagged packet on `mid` came from video layer `layer`.
async fn wait_layer(peer: &Peer, mid: &str, layer: u8) {
    peer.wait_until(WAIT, &format!("layer {layer} on mid {mid}"), |s| {
        main_ssrc(s, mid).is_some_and(|(_, st)| st.last_tag.is_some_and(|t| t.layer == layer))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; {:?}", summary(&peer.state())));
}

/// Payload bit rate received on `ssrc` over `window`.
async fn bitrate(peer: &Peer, ssrc: u32, window: Duration) -> f64 {
    let bytes = |p: &Peer| p.state().ssrcs.get(&ssrc).map_or(0, |s| s.bytes);
    let before = bytes(peer);
    tokio::time::sleep(window).await;
    (bytes(peer) - before) as f64 * 8.0 / window.as_secs_f64()
}

/// Packets received on `mid` during `window`, after `settle` for in-flight packets.
async fn packets_during(peer: &Peer, mid: &str, settle: Duration, window: Duration) -> u64 {
    tokio::time::sleep(settle).await;
    let before = peer.state().packets_on(mid);
    tokio::time::sleep(window).await;
    peer.state().packets_on(mid) - before
}

/// Short per-mid/per-SSRC summary for failure messages.
fn summary(s: &PeerState) -> Vec<String> {
    s.ssrcs
        .iter()
        .map(|(k, v)| {
            format!(
                "ssrc {k} mid {:?} pkts {} wire {} missing {} dup(wire) {} tag {:?}",
                v.mid,
                v.packets,
                v.wire_packets,
                v.seq.missing(),
                v.wire.duplicates,
                v.last_tag
            )
        })
        .collect()
}

fn stream_of<'a>(streams: &'a [Value], kind: &str) -> &'a Value {
    streams
        .iter()
        .find(|s| s["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream in {streams:?}"))
}

/// One simulcast publisher, three subscribers: each gets audio and the highest video layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_publisher_reaches_three_subscribers() {
    let env = Env::start("ws", settings(demo_room())).await;
    let publisher = publish(&env, &simulcast_opts("alice", 1)).await;
    let streams = streams_of(&publisher.configured);
    assert_eq!(stream_of(&streams, "audio")["codec"], "opus", "{streams:?}");
    let video = stream_of(&streams, "video");
    assert_eq!(video["codec"], "vp8", "{streams:?}");
    assert_eq!(
        video["simulcast"], true,
        "a simulcast video stream says so: {video}"
    );

    let mut subs = Vec::new();
    for _ in 0..3 {
        let sub = subscribe(&env, json!([{"feed": publisher.id}])).await;
        let kinds: Vec<&Value> = sub.streams.iter().map(|s| &s["type"]).collect();
        assert!(
            sub.streams
                .iter()
                .filter(|s| s["type"] != "data")
                .all(|s| s["feed_id"] == publisher.id),
            "{:?}",
            sub.streams
        );
        assert!(kinds.contains(&&json!("audio")) && kinds.contains(&&json!("video")));
        subs.push(sub);
    }
    for (i, sub) in subs.iter().enumerate() {
        let amid = sub.mid_of(publisher.id, "audio").expect("audio mid");
        let vmid = sub.mid_of(publisher.id, "video").expect("video mid");
        wait_packets(&sub.peer, &amid, 25, &format!("subscriber {i} audio")).await;
        wait_packets(&sub.peer, &vmid, 25, &format!("subscriber {i} video")).await;
        // Default target: the highest substream.
        wait_layer(&sub.peer, &vmid, 2).await;
        let state = sub.peer.state();
        let (_, audio) = main_ssrc(&state, &amid).expect("audio ssrc");
        assert_eq!(audio.last_tag.map(|t| (t.source, t.layer)), Some((1, 255)));
        let (_, video) = main_ssrc(&state, &vmid).expect("video ssrc");
        assert_eq!(video.last_tag.map(|t| t.source), Some(1));
        assert!(video.keyframes > 0, "subscriber {i} got a keyframe first");
    }
    env.stop().await;
}

/// `configure {substream}` moves a subscriber between layers: the forwarded SSRC keeps its
/// identity and sequence numbers (no gap, no duplicate), VP8 picture ids stay continuous,
/// the bit rate follows the layer, and a `substream` event confirms each switch.
async fn layer_switch(mode: SimulcastMode) {
    let env = Env::start("ws", settings(demo_room())).await;
    let mut opts = simulcast_opts("alice", 1);
    opts.peer.simulcast_mode = mode;
    let publisher = publish(&env, &opts).await;
    let video = stream_of(&streams_of(&publisher.configured), "video").clone();
    assert_eq!(video["simulcast"], true, "{mode:?}: {video}");
    let sub = subscribe(&env, json!([{"feed": publisher.id}])).await;
    let vmid = sub.mid_of(publisher.id, "video").expect("video mid");
    wait_packets(&sub.peer, &vmid, 20, "video").await;
    wait_layer(&sub.peer, &vmid, 2).await;
    let (ssrc, _) = main_ssrc(&sub.peer.state(), &vmid).expect("video ssrc");
    let window = Duration::from_millis(1000);
    let high = bitrate(&sub.peer, ssrc, window).await;

    let mut rates = Vec::new();
    for target in [0u64, 2] {
        let r = sub
            .configure(json!({"mid": vmid, "substream": target}))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: configure substream {target}: {e}"));
        assert_eq!(r["configured"], "ok", "{r}");
        wait_layer(&sub.peer, &vmid, target as u8).await;
        sub.handle
            .wait(&format!("substream {target} event"), |d| {
                d["substream"] == target
            })
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        // Let the switch's keyframe pass, then measure.
        tokio::time::sleep(Duration::from_millis(200)).await;
        rates.push(bitrate(&sub.peer, ssrc, window).await);
    }
    let (low, high2) = (rates[0], rates[1]);
    println!("{mode:?}: layer 2 {high:.0} bit/s, layer 0 {low:.0} bit/s, back to 2 {high2:.0}");
    assert!(
        low * 3.0 < high && low * 3.0 < high2,
        "{mode:?}: layer 0 ({low:.0} bit/s) well below layer 2 ({high:.0}, {high2:.0})"
    );

    let state = sub.peer.state();
    let on_mid = state.ssrcs_on(&vmid);
    assert_eq!(
        on_mid.len(),
        1,
        "{mode:?}: one SSRC on the video mid across switches: {:?}",
        summary(&state)
    );
    let st = on_mid[0].1;
    assert!(st.layers[0] > 0 && st.layers[2] > 0, "{:?}", st.layers);
    assert_eq!(
        (
            st.seq.missing(),
            st.seq.lost,
            st.wire.duplicates,
            st.seq.too_old
        ),
        (0, 0, 0, 0),
        "{mode:?}: sequence numbers continuous across switches: {:?}",
        summary(&state)
    );
    assert_eq!(
        st.picture_id_jumps, 0,
        "{mode:?}: VP8 picture ids continuous across switches"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_switch_rid_simulcast() {
    layer_switch(SimulcastMode::Rid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_switch_ssrc_group_simulcast() {
    layer_switch(SimulcastMode::SsrcGroup).await;
}

/// Auto-layer (portunus extension): the subscriber's REMB caps the forwarded layer. A low
/// estimate (below layer 1) makes the router drop to layer 0 by itself; a high one brings
/// it back up, one layer per hold time, to the substream asked for. Each change is a
/// `substream` event and shows in the received layer tags and bit rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remb_drives_auto_layer() {
    // Layers of the synthetic source: 100k, 300k, 1M bit/s.
    const LOW_REMB: u64 = 150_000;
    const HIGH_REMB: u64 = 5_000_000;
    // The climb back takes two hold times (~2 s each) plus the decision period.
    const CLIMB: Duration = Duration::from_secs(15);
    let env = Env::start("ws", settings(json!([]))).await;
    let room = env
        .create_room(json!({"description": "Auto layer", "publishers": 6, "auto_layer": true}))
        .await;
    let publisher = Publisher::join_and_publish(
        env.client.clone(),
        env.session,
        room,
        &simulcast_opts("alice", 1),
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("publish: {e}"));
    let sub = Subscriber::join(
        env.client.clone(),
        env.session,
        room,
        json!([{"feed": publisher.id}]),
        Value::Null,
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("subscribe: {e}"));
    let vmid = sub.mid_of(publisher.id, "video").expect("video mid");
    let r = sub
        .configure(json!({"mid": vmid, "substream": 2}))
        .await
        .unwrap_or_else(|e| panic!("configure substream 2: {e}"));
    assert_eq!(r["configured"], "ok", "{r}");
    wait_packets(&sub.peer, &vmid, 20, "video").await;
    wait_layer(&sub.peer, &vmid, 2).await;
    // The `substream` events of the start (reaching 2) must not answer the waits below.
    for _ in 0..5 {
        let start = sub
            .handle
            .wait_for(Duration::from_millis(300), |d| d.get("substream").is_some())
            .await;
        if start.is_none() {
            break;
        }
    }
    let (ssrc, _) = main_ssrc(&sub.peer.state(), &vmid).expect("video ssrc");
    let window = Duration::from_millis(1000);
    let high = bitrate(&sub.peer, ssrc, window).await;

    sub.peer
        .request_remb(&vmid, LOW_REMB)
        .await
        .unwrap_or_else(|e| panic!("low REMB: {e}"));
    sub.handle
        .wait("substream 0 event after a low REMB", |d| {
            d["substream"] == 0
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; {:?}", summary(&sub.peer.state())));
    wait_layer(&sub.peer, &vmid, 0).await;
    // Let the switch's keyframe pass, then measure.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let low = bitrate(&sub.peer, ssrc, window).await;

    sub.peer
        .request_remb(&vmid, HIGH_REMB)
        .await
        .unwrap_or_else(|e| panic!("high REMB: {e}"));
    // Up one layer at a time: 1, then 2.
    for layer in [1u64, 2] {
        tokio::time::timeout(
            CLIMB,
            sub.handle.wait(&format!("substream {layer} event"), |d| {
                d["substream"] == layer
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("no substream {layer} within {CLIMB:?}"))
        .unwrap_or_else(|e| panic!("{e}; {:?}", summary(&sub.peer.state())));
    }
    wait_layer(&sub.peer, &vmid, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let high2 = bitrate(&sub.peer, ssrc, window).await;
    println!("auto-layer: layer 2 {high:.0} bit/s, capped {low:.0} bit/s, back {high2:.0}");
    assert!(
        low * 3.0 < high && low * 3.0 < high2,
        "capped rate ({low:.0} bit/s) well below layer 2 ({high:.0}, {high2:.0})"
    );
    let state = sub.peer.state();
    let on_mid = state.ssrcs_on(&vmid);
    assert_eq!(
        on_mid.len(),
        1,
        "one SSRC across switches: {:?}",
        summary(&state)
    );
    assert_eq!(
        (on_mid[0].1.seq.missing(), on_mid[0].1.wire.duplicates),
        (0, 0),
        "sequence numbers continuous across automatic switches: {:?}",
        summary(&state)
    );
    env.stop().await;
}

/// `configure {temporal: 0}` forwards only temporal layer 0 (TID 0) frames; back to 2
/// forwards all again; a `temporal` event confirms each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_layer_filter() {
    let env = Env::start("ws", settings(demo_room())).await;
    let publisher = publish(&env, &simulcast_opts("alice", 1)).await;
    let sub = subscribe(&env, json!([{"feed": publisher.id}])).await;
    let vmid = sub.mid_of(publisher.id, "video").expect("video mid");
    wait_packets(&sub.peer, &vmid, 20, "video").await;
    let tids = |p: &Peer| main_ssrc(&p.state(), &vmid).map_or([0; 4], |(_, s)| s.tids);
    for (temporal, want_upper) in [(0u64, false), (2, true)] {
        sub.configure(json!({"mid": vmid, "temporal": temporal}))
            .await
            .unwrap_or_else(|e| panic!("configure temporal {temporal}: {e}"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = tids(&sub.peer);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let after = tids(&sub.peer);
        let delta: Vec<u64> = (0..3).map(|i| after[i] - before[i]).collect();
        assert!(
            delta[0] > 0,
            "temporal {temporal}: TID 0 keeps flowing {delta:?}"
        );
        assert_eq!(
            delta[1] + delta[2] > 0,
            want_upper,
            "temporal {temporal}: TID 1/2 packets {delta:?}"
        );
        sub.handle
            .wait(&format!("temporal {temporal} event"), |d| {
                d["temporal"] == temporal
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    env.stop().await;
}

/// A publisher unpublishing and leaving: `unpublished`/`leaving` to the others, its
/// subscribers' slots go inactive (`updated`) and no RTP reaches them any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_leaving_notifies_and_stops_media() {
    let env = Env::start("ws", settings(demo_room())).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let bob = publish(&env, &plain_opts("bob", 2)).await;
    assert!(
        bob.joined["publishers"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["id"] == alice.id && p["display"] == "alice")),
        "bob's joined lists alice: {}",
        bob.joined
    );
    alice
        .handle
        .wait("publishers event about bob", |d| {
            d["publishers"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["id"] == bob.id))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sub = subscribe(&env, json!([{"feed": alice.id}])).await;
    let vmid = sub.mid_of(alice.id, "video").expect("video mid");
    let amid = sub.mid_of(alice.id, "audio").expect("audio mid");
    wait_packets(&sub.peer, &vmid, 10, "alice's video").await;

    let r = alice
        .handle
        .send_ok(json!({"request": "unpublish"}), None)
        .await
        .unwrap_or_else(|e| panic!("unpublish: {e}"));
    assert_eq!(r.data["unpublished"], "ok", "{}", r.data);
    bob.handle
        .wait("unpublished: alice", |d| d["unpublished"] == alice.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sub.handle
        .wait("updated with alice's streams inactive", |d| {
            d["videoroom"] == "updated"
                && streams_of(d)
                    .iter()
                    .filter(|s| s["mid"] == vmid.as_str() || s["mid"] == amid.as_str())
                    .all(|s| s["active"] == false)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for mid in [&amid, &vmid] {
        let n = packets_during(
            &sub.peer,
            mid,
            Duration::from_millis(300),
            Duration::from_millis(1000),
        )
        .await;
        assert_eq!(n, 0, "no RTP on mid {mid} after unpublish");
    }

    let r = alice
        .handle
        .send_ok(json!({"request": "leave"}), None)
        .await
        .unwrap_or_else(|e| panic!("leave: {e}"));
    assert_eq!(r.data["leaving"], "ok", "{}", r.data);
    bob.handle
        .wait("leaving: alice", |d| d["leaving"] == alice.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.stop().await;
}

/// Multistream: one subscriber PeerConnection with streams of two publishers, changed with
/// `update` (renegotiation answered with `start`), `switch` (no renegotiation), `pause` and
/// `start`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multistream_update_switch_pause() {
    let env = Env::start("ws", settings(demo_room())).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let bob = publish(&env, &plain_opts("bob", 2)).await;
    let mut sub = subscribe(&env, json!([{"feed": alice.id}])).await;
    let a_audio = sub.mid_of(alice.id, "audio").expect("alice audio");
    let a_video = sub.mid_of(alice.id, "video").expect("alice video");
    wait_packets(&sub.peer, &a_video, 10, "alice's video").await;

    let bob_video = bob.mid_of("video").expect("bob's video mid");
    let alice_audio = alice.mid_of("audio").expect("alice's audio mid");
    let r = sub
        .renegotiate(json!({"request": "update",
            "subscribe": [{"feed": bob.id, "mid": bob_video}],
            "unsubscribe": [{"feed": alice.id, "mid": alice_audio}]}))
        .await
        .unwrap_or_else(|e| panic!("update: {e}"));
    assert_eq!(r["videoroom"], "updated", "{r}");
    let b_video = sub
        .mid_of(bob.id, "video")
        .expect("bob's video on the subscription");
    let state = wait_packets(&sub.peer, &b_video, 10, "bob's video after update").await;
    let (_, st) = main_ssrc(&state, &b_video).expect("bob's ssrc");
    assert_eq!(
        st.last_tag.map(|t| t.source),
        Some(2),
        "bob's media on {b_video}"
    );
    let n = packets_during(
        &sub.peer,
        &a_audio,
        Duration::from_millis(300),
        Duration::from_millis(800),
    )
    .await;
    assert_eq!(n, 0, "alice's audio unsubscribed");
    assert!(sub.peer.state().packets_on(&a_video) > 0);

    // switch: alice's video slot now carries bob's video, without renegotiation.
    let r = sub
        .handle
        .send_ok(
            json!({"request": "switch",
                "streams": [{"feed": bob.id, "mid": bob_video, "sub_mid": a_video}]}),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("switch: {e}"));
    assert_eq!(r.data["switched"], "ok", "{}", r.data);
    assert!(r.jsep.is_none(), "switch does not renegotiate");
    sub.peer
        .wait_until(WAIT, "bob's video on the switched slot", |s| {
            main_ssrc(s, &a_video).is_some_and(|(_, st)| st.last_tag.is_some_and(|t| t.source == 2))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; {:?}", summary(&sub.peer.state())));

    // pause: nothing flows; start (no JSEP) resumes.
    let r = sub
        .handle
        .send_ok(json!({"request": "pause"}), None)
        .await
        .unwrap_or_else(|e| panic!("pause: {e}"));
    assert_eq!(r.data["paused"], "ok", "{}", r.data);
    let n = packets_during(
        &sub.peer,
        &b_video,
        Duration::from_millis(300),
        Duration::from_millis(800),
    )
    .await;
    assert_eq!(n, 0, "paused");
    let r = sub
        .handle
        .send_ok(json!({"request": "start"}), None)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    assert_eq!(r.data["started"], "ok", "{}", r.data);
    let n = packets_during(
        &sub.peer,
        &b_video,
        Duration::from_millis(100),
        Duration::from_millis(800),
    )
    .await;
    assert!(n > 0, "media resumes after start");
    env.stop().await;
}

/// Data channel messages of a publisher reach its subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_channel_relay() {
    let env = Env::start("ws", settings(demo_room())).await;
    let mut opts = plain_opts("alice", 1);
    opts.publish_extra = json!({"data": true});
    let alice = publish(&env, &opts).await;
    assert!(
        streams_of(&alice.configured)
            .iter()
            .any(|s| s["type"] == "data"),
        "data stream published: {}",
        alice.configured
    );
    let sub = subscribe(&env, json!([{"feed": alice.id}])).await;
    assert!(
        sub.streams
            .iter()
            .any(|s| s["type"] == "data" && s["mid"].as_str().is_some_and(|m| !m.is_empty())),
        "data stream offered, with its mid (as Janus's attached): {:?}",
        sub.streams
    );
    let peer = alice.peer().expect("published");
    peer.wait_until(WAIT, "publisher data channel open", |s| {
        s.channel_open.is_some()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let text = "hello room";
    // The subscriber's channel opens when the first message is relayed: resend until seen.
    let got = poll_until(WAIT, || {
        let s = sub.peer.state();
        s.data_received
            .iter()
            .find(|m| !m.binary && m.text() == text)
            .cloned()
    });
    let sender = async {
        for _ in 0..40 {
            let _ = peer.send_text(text).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let got = tokio::select! {
        g = got => g,
        _ = sender => None,
    };
    assert!(
        got.is_some(),
        "subscriber received {text:?}: {:?}",
        sub.peer.state().data_received
    );
    env.stop().await;
}

/// `rtp_forward` sends the publisher's RTP, plain, to a local UDP port with the SSRC and
/// payload type asked for; `listforwarders` lists it; `stop_rtp_forward` stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_forward_to_local_udp() {
    let env = Env::start("ws", settings(demo_room())).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let audio_sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let video_sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = |s: &tokio::net::UdpSocket| s.local_addr().map(|a| a.port()).unwrap_or(0);
    let (amid, vmid) = (
        alice.mid_of("audio").expect("audio mid"),
        alice.mid_of("video").expect("video mid"),
    );
    let admin = env.handle().await;
    let r = admin
        .request_ok(
            json!({"request": "rtp_forward", "room": ROOM, "secret": "adminpwd",
            "publisher_id": alice.id, "host": "127.0.0.1",
            "streams": [
                {"mid": amid, "port": port(&audio_sock), "ssrc": 1111, "pt": 111},
                {"mid": vmid, "port": port(&video_sock), "ssrc": 2222, "pt": 100}]}),
        )
        .await
        .unwrap_or_else(|e| panic!("rtp_forward: {e}"));
    assert_eq!(r["videoroom"], "rtp_forward", "{r}");
    assert_eq!(r["publisher_id"], alice.id, "{r}");
    let forwarders = r["forwarders"].as_array().cloned().unwrap_or_default();
    assert_eq!(forwarders.len(), 2, "{r}");
    let video_fwd = forwarders
        .iter()
        .find(|f| f["port"] == port(&video_sock))
        .unwrap_or_else(|| panic!("video forwarder in {r}"));
    let video_stream_id = video_fwd["stream_id"].as_u64().expect("stream_id");

    for (sock, ssrc, pt) in [(&audio_sock, 1111u32, 111u8), (&video_sock, 2222, 100)] {
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        while seen < 10 {
            let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("forwarded RTP for ssrc {ssrc}"))
                .expect("recv");
            assert!(n >= 12 && buf[0] >> 6 == 2, "an RTP packet");
            assert_eq!(buf[1] & 0x7f, pt, "payload type");
            assert_eq!(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]), ssrc);
            seen += 1;
        }
    }

    let list = admin
        .request_ok(json!({"request": "listforwarders", "room": ROOM, "secret": "adminpwd"}))
        .await
        .unwrap_or_else(|e| panic!("listforwarders: {e}"));
    let listed = list["publishers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["publisher_id"] == alice.id))
        .unwrap_or_else(|| panic!("alice in {list}"));
    assert_eq!(
        listed["forwarders"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );

    let r = admin
        .request_ok(
            json!({"request": "stop_rtp_forward", "room": ROOM, "secret": "adminpwd",
            "publisher_id": alice.id, "stream_id": video_stream_id}),
        )
        .await
        .unwrap_or_else(|e| panic!("stop_rtp_forward: {e}"));
    assert_eq!(r["videoroom"], "stop_rtp_forward", "{r}");
    assert_eq!(r["stream_id"], video_stream_id, "{r}");
    // Drain what was in flight, then nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = [0u8; 2048];
    while video_sock.try_recv_from(&mut buf).is_ok() {}
    let late =
        tokio::time::timeout(Duration::from_millis(800), video_sock.recv_from(&mut buf)).await;
    assert!(late.is_err(), "no video forwarded after stop_rtp_forward");
    // The audio forwarder still runs.
    tokio::time::timeout(WAIT, audio_sock.recv_from(&mut buf))
        .await
        .expect("audio still forwarded")
        .expect("recv");
    env.stop().await;
}

/// Talk detection from the audio-level extension: loud audio → `talking`, silence →
/// `stopped-talking`, to the other participants (room with `audiolevel_event`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_detection_events() {
    let room = json!([{"room": ROOM, "description": "Talk", "publishers": 6,
        "audiolevel_event": true, "audio_active_packets": 10, "audio_level_average": 40}]);
    let env = Env::start("ws", settings(room)).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let bob = publish(&env, &plain_opts("bob", 2)).await;
    let peer = alice.peer().expect("published");
    peer.set_audio_level(10).await.expect("loud");
    let ev = bob
        .handle
        .wait("talking", |d| {
            d["videoroom"] == "talking" && d["id"] == alice.id
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.data["room"], ROOM, "{}", ev.data);
    let level = ev.data["audio-level-dBov-avg"].as_f64().unwrap_or(f64::NAN);
    assert!(level < 40.0, "average level reported: {}", ev.data);
    let admin = env.handle().await;
    let list = admin
        .request_ok(json!({"request": "listparticipants", "room": ROOM}))
        .await
        .unwrap_or_else(|e| panic!("listparticipants: {e}"));
    let me = list["participants"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == alice.id))
        .unwrap_or_else(|| panic!("alice in {list}"));
    assert_eq!(me["talking"], true, "{list}");

    peer.set_audio_level(SILENCE).await.expect("silent");
    bob.handle
        .wait("stopped-talking", |d| {
            d["videoroom"] == "stopped-talking" && d["id"] == alice.id
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.stop().await;
}

/// A subscriber that lost a video packet NACKs it and gets it retransmitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_retransmits_lost_packet() {
    let env = Env::start("ws", settings(demo_room())).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let sub = subscribe(&env, json!([{"feed": alice.id}])).await;
    let vmid = sub.mid_of(alice.id, "video").expect("video mid");
    wait_packets(&sub.peer, &vmid, 20, "video").await;
    let (ssrc, _) = main_ssrc(&sub.peer.state(), &vmid).expect("video ssrc");
    sub.peer
        .drop_rtp(DropRule {
            ssrc: Some(ssrc),
            skip: 5,
            count: 1,
        })
        .await
        .expect("drop rule");
    let state = sub
        .peer
        .wait_until(WAIT, "a packet dropped", |s| !s.dropped.is_empty())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lost = state.dropped[0].seq;
    sub.peer
        .wait_until(WAIT, &format!("retransmission of seq {lost}"), |s| {
            s.ssrcs.get(&ssrc).is_some_and(|st| {
                st.seq.range().is_some_and(|(_, hi)| {
                    st.seq
                        .contains(portunus_integration::peer::seq::extend_seq(Some(hi), lost))
                })
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; {:?}", summary(&sub.peer.state())));
    env.stop().await;
}

/// The basic flow over HTTP long-poll: publish, subscribe, media, leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe_over_http() {
    let env = Env::start("http", settings(demo_room())).await;
    let alice = publish(&env, &plain_opts("alice", 1)).await;
    let sub = subscribe(&env, json!([{"feed": alice.id}])).await;
    for kind in ["audio", "video"] {
        let mid = sub.mid_of(alice.id, kind).expect("mid");
        wait_packets(&sub.peer, &mid, 10, kind).await;
    }
    let r = sub
        .handle
        .send_ok(json!({"request": "leave"}), None)
        .await
        .unwrap_or_else(|e| panic!("subscriber leave: {e}"));
    assert_eq!(r.data["left"], "ok", "{}", r.data);
    sub.handle
        .wait_core("hangup after leave", |e| {
            matches!(e, JanusEvent::Hangup { .. })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.stop().await;
}
