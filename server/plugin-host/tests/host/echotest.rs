use portunus_media::types::{
    DataMessage, Direction, JsepIn, JsepOut, JsepType, LayerChoice, MediaEvent, MediaKind,
    MediaLine, MediaRef, SdpSummary,
};
use portunus_plugin_host::{MessageReply, PluginConfig, PluginHandle};
use serde_json::{Value, json};

use crate::common::{Call, Recorder, load};

const H: u64 = 4242;
const ECHOTEST: &str = "janus.plugin.echotest";

fn offer() -> JsepIn {
    let line = |index: u32, mid: &str, kind, codecs: &[&str]| MediaLine {
        index,
        mid: mid.into(),
        kind,
        direction: Direction::SendRecv,
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        rids: Vec::new(),
        simulcast_layers: 0,
        audio_level: false,
    };
    JsepIn {
        kind: JsepType::Offer,
        sdp: "v=0\r\n".into(),
        summary: SdpSummary {
            media: vec![
                line(0, "0", MediaKind::Audio, &["opus"]),
                line(1, "1", MediaKind::Video, &["vp8", "h264"]),
            ],
            data_channels: true,
            update: false,
        },
        e2ee: false,
    }
}

async fn echotest() -> (PluginHandle, std::sync::Arc<Recorder>) {
    let (host, rec) = load(&[], PluginConfig::default());
    let p = host.plugin(ECHOTEST).expect("echotest is a stock plugin");
    p.create_session(H, Some("echotest-abc".into()))
        .await
        .unwrap();
    (p, rec)
}

/// Sends a message; checks Janus's ack and returns the one event that answers it.
async fn request(
    p: &PluginHandle,
    rec: &Recorder,
    body: Value,
    jsep: Option<JsepIn>,
) -> (Value, Option<JsepOut>) {
    let reply = p
        .handle_message(H, "tx-1".into(), body, jsep)
        .await
        .unwrap();
    assert_eq!(reply, MessageReply::Ack(Some("I'm taking my time!".into())));
    let events: Vec<_> = rec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::PushEvent {
                plugin,
                handle,
                transaction,
                data,
                jsep,
            } => {
                assert_eq!(plugin, ECHOTEST);
                assert_eq!(handle, H);
                assert_eq!(transaction.as_deref(), Some("tx-1"));
                Some((data, jsep))
            }
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1, "one event per request: {events:?}");
    events.into_iter().next().unwrap()
}

fn assert_error(event: &Value, code: i64, text: &str) {
    assert_eq!(
        event,
        &json!({"echotest": "event", "error_code": code, "error": text})
    );
}

/// Waits until every queued fire-and-forget call has run.
async fn flush(p: &PluginHandle) -> Value {
    p.query_session(H).await.unwrap()
}

#[tokio::test]
async fn message_without_jsep_acks_then_ok_event() {
    let (p, rec) = echotest().await;
    let (event, jsep) = request(&p, &rec, json!({"audio": true, "video": true}), None).await;
    assert_eq!(event, json!({"echotest": "event", "result": "ok"}));
    assert_eq!(jsep, None);
}

#[tokio::test]
async fn offer_is_answered_with_mirrored_mlines_and_routes_echo_media() {
    let (p, rec) = echotest().await;
    let (event, jsep) = request(
        &p,
        &rec,
        json!({"audio": true, "video": true, "videocodec": "h264"}),
        Some(offer()),
    )
    .await;
    assert_eq!(event, json!({"echotest": "event", "result": "ok"}));
    let Some(JsepOut::Answer(answer)) = jsep else {
        panic!("expected an answer, got {jsep:?}")
    };
    assert!(answer.data_channels);
    assert_eq!(answer.media.len(), 2);
    assert_eq!(answer.media[0].mid, "0");
    assert!(answer.media[0].accept);
    assert_eq!(answer.media[0].direction, Direction::SendRecv);
    assert_eq!(answer.media[0].codec, None);
    assert_eq!(answer.media[1].mid, "1");
    assert_eq!(answer.media[1].codec.as_deref(), Some("h264"));

    p.setup_media(H);
    flush(&p).await;
    let routes: Vec<_> = rec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::RouteAdd { route, .. } => Some(route),
            _ => None,
        })
        .collect();
    assert_eq!(routes.len(), 2);
    for (route, mid) in routes.iter().zip(["0", "1"]) {
        assert_eq!(
            route.source,
            MediaRef {
                handle: H,
                mid: mid.into()
            }
        );
        assert_eq!(route.target, route.source);
        assert!(!route.paused);
    }
}

/// Offer, media up: route ids of audio (first) and video (second).
async fn with_media(p: &PluginHandle, rec: &Recorder) -> (u64, u64) {
    request(p, rec, json!({"audio": true, "video": true}), Some(offer())).await;
    p.setup_media(H);
    flush(p).await;
    let ids: Vec<u64> = rec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::RouteAdd { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    (ids[0], ids[1])
}

#[tokio::test]
async fn audio_and_video_toggles_pause_routes_and_video_resume_asks_keyframe() {
    let (p, rec) = echotest().await;
    let (audio, video) = with_media(&p, &rec).await;

    let reply = p
        .handle_message(H, "tx-1".into(), json!({"video": false}), None)
        .await
        .unwrap();
    assert!(matches!(reply, MessageReply::Ack(_)));
    let calls = rec.take();
    assert!(
        calls.contains(&Call::RouteUpdate {
            id: video,
            layer: LayerChoice::default(),
            paused: true
        }),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| matches!(c, Call::Keyframe(_))));

    p.handle_message(H, "tx-1".into(), json!({"video": true}), None)
        .await
        .unwrap();
    let calls = rec.take();
    assert!(calls.contains(&Call::RouteUpdate {
        id: video,
        layer: LayerChoice::default(),
        paused: false
    }));
    assert!(
        calls.contains(&Call::Keyframe(MediaRef {
            handle: H,
            mid: "1".into()
        })),
        "{calls:?}"
    );

    p.handle_message(H, "tx-1".into(), json!({"audio": false}), None)
        .await
        .unwrap();
    let calls = rec.take();
    assert!(calls.contains(&Call::RouteUpdate {
        id: audio,
        layer: LayerChoice::default(),
        paused: true
    }));
    let q = flush(&p).await;
    assert_eq!(q["audio_active"], json!(false));
    assert_eq!(q["video_active"], json!(true));
}

#[tokio::test]
async fn bitrate_caps_and_zero_removes_cap() {
    let (p, rec) = echotest().await;
    let (event, _) = request(&p, &rec, json!({"bitrate": 256000}), None).await;
    assert_eq!(event["result"], "ok");
    p.handle_message(H, "tx-1".into(), json!({"bitrate": 0}), None)
        .await
        .unwrap();
    let calls = rec.take();
    assert!(calls.contains(&Call::Bitrate(H, 0)));
    assert_eq!(flush(&p).await["bitrate"], json!(0));
}

#[tokio::test]
async fn bitrate_is_recorded_in_the_first_request() {
    let (p, rec) = echotest().await;
    p.handle_message(H, "tx-1".into(), json!({"bitrate": 128000}), None)
        .await
        .unwrap();
    assert!(rec.take().contains(&Call::Bitrate(H, 128000)));
}

#[tokio::test]
async fn substream_and_temporal_update_the_video_route() {
    let (p, rec) = echotest().await;
    let (_, video) = with_media(&p, &rec).await;
    p.handle_message(
        H,
        "tx-1".into(),
        json!({"substream": 1, "temporal": 0}),
        None,
    )
    .await
    .unwrap();
    let calls = rec.take();
    let layer = LayerChoice {
        substream: Some(1),
        temporal: Some(0),
    };
    assert!(
        calls.contains(&Call::RouteUpdate {
            id: video,
            layer,
            paused: false
        }),
        "{calls:?}"
    );

    let (event, _) = request(&p, &rec, json!({"substream": 3}), None).await;
    assert_error(&event, 413, "Invalid value (substream should be 0, 1 or 2)");
    let (event, _) = request(&p, &rec, json!({"temporal": 7}), None).await;
    assert_error(&event, 413, "Invalid value (temporal should be 0, 1 or 2)");
}

/// The unsolicited events the plugin pushed (no transaction).
fn unsolicited(rec: &Recorder) -> Vec<Value> {
    rec.take()
        .into_iter()
        .filter_map(|c| match c {
            Call::PushEvent {
                transaction: None,
                data,
                ..
            } => Some(data),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn layer_changes_are_told_to_the_client_as_janus_does() {
    let (p, rec) = echotest().await;
    let (audio, video) = with_media(&p, &rec).await;
    let changed = |route, mid: &str, substream, temporal| MediaEvent::LayerChanged {
        route,
        target: MediaRef {
            handle: H,
            mid: mid.into(),
        },
        substream,
        temporal,
    };
    p.media_event(changed(video, "1", Some(2), Some(1)));
    flush(&p).await;
    assert_eq!(
        unsolicited(&rec),
        vec![
            json!({"echotest": "event", "videocodec": "vp8", "substream": 2}),
            json!({"echotest": "event", "videocodec": "vp8", "temporal": 1}),
        ]
    );
    // Only what changed is told.
    p.media_event(changed(video, "1", Some(0), Some(1)));
    let q = flush(&p).await;
    assert_eq!(
        unsolicited(&rec),
        vec![json!({"echotest": "event", "videocodec": "vp8", "substream": 0})]
    );
    assert_eq!(q["simulcast"]["substream"], 0, "{q}");
    assert_eq!(q["simulcast"]["temporal-layer"], 1, "{q}");
    // Not one of its video routes, or another handle: nothing.
    p.media_event(changed(audio, "0", Some(1), None));
    p.media_event(changed(video + 100, "1", Some(1), None));
    flush(&p).await;
    assert_eq!(unsolicited(&rec), Vec::<Value>::new());

    // Asking for the layer already forwarded is answered at once, before the result.
    p.handle_message(H, "tx-1".into(), json!({"substream": 0}), None)
        .await
        .unwrap();
    let events: Vec<Value> = rec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::PushEvent { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            json!({"echotest": "event", "videocodec": "vp8", "substream": 0}),
            json!({"echotest": "event", "result": "ok"}),
        ]
    );
}

#[tokio::test]
async fn bad_requests_get_janus_error_codes() {
    let (p, rec) = echotest().await;
    let cases = [
        (
            json!({}),
            413,
            "Message error: no supported attributes found",
        ),
        (
            json!({"data": "x"}),
            413,
            "Message error: no supported attributes found",
        ),
        (
            json!({"audio": "yes"}),
            413,
            "Invalid element type (audio should be a boolean)",
        ),
        (
            json!({"video": 1}),
            413,
            "Invalid element type (video should be a boolean)",
        ),
        (
            json!({"bitrate": -5}),
            413,
            "Invalid element type (bitrate should be a positive integer)",
        ),
        (
            json!({"bitrate": "fast"}),
            413,
            "Invalid element type (bitrate should be a positive integer)",
        ),
        (
            json!({"filename": 3, "record": true}),
            413,
            "Invalid element type (filename should be a string)",
        ),
        (json!([1, 2]), 412, "JSON error: not an object"),
        (json!("text"), 412, "JSON error: not an object"),
        (Value::Null, 411, "No message??"),
    ];
    for (body, code, text) in cases {
        let (event, jsep) = request(&p, &rec, body.clone(), None).await;
        assert_error(&event, code, text);
        assert_eq!(jsep, None, "{body}");
    }
    // An answer where an offer is expected.
    let mut answer = offer();
    answer.kind = JsepType::Answer;
    let (event, _) = request(&p, &rec, json!({"audio": true}), Some(answer)).await;
    assert_eq!(event["error_code"], json!(414));
}

#[tokio::test]
async fn offer_the_core_cannot_answer_gives_414() {
    let (p, rec) = echotest().await;
    rec.fail_jsep
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (event, jsep) = request(&p, &rec, json!({"audio": true}), Some(offer())).await;
    assert_error(&event, 414, "Error parsing offer: cannot build the answer");
    assert_eq!(jsep, None);
}

#[tokio::test]
async fn data_channel_text_and_binary_are_echoed() {
    let (p, rec) = echotest().await;
    p.incoming_data(
        H,
        DataMessage {
            label: "JanusDataChannel".into(),
            data: b"hello".to_vec(),
            binary: false,
        },
    );
    p.incoming_data(
        H,
        DataMessage {
            label: "bin".into(),
            data: vec![0, 1, 255],
            binary: true,
        },
    );
    flush(&p).await;
    let sent: Vec<_> = rec
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendData(h, m) => Some((h, m)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                H,
                DataMessage {
                    label: "JanusDataChannel".into(),
                    data: b"Janus EchoTest here! You wrote: hello".to_vec(),
                    binary: false
                }
            ),
            (
                H,
                DataMessage {
                    label: "bin".into(),
                    data: vec![0, 1, 255],
                    binary: true
                }
            ),
        ]
    );
}

#[tokio::test]
async fn hangup_removes_routes_and_sends_done() {
    let (p, rec) = echotest().await;
    let (audio, video) = with_media(&p, &rec).await;
    p.hangup_media(H);
    flush(&p).await;
    let calls = rec.take();
    assert!(calls.contains(&Call::RouteRemove(audio)));
    assert!(calls.contains(&Call::RouteRemove(video)));
    assert!(calls.iter().any(|c| matches!(c, Call::PushEvent { transaction: None, data, jsep: None, .. } if *data == json!({"echotest": "event", "result": "done"}))), "{calls:?}");
}

#[tokio::test]
async fn query_session_and_admin_message() {
    let (p, rec) = echotest().await;
    with_media(&p, &rec).await;
    request(
        &p,
        &rec,
        json!({"record": true, "filename": "/tmp/x"}),
        None,
    )
    .await;
    let q = p.query_session(H).await.unwrap();
    assert_eq!(q["audio_active"], json!(true));
    assert_eq!(q["video_active"], json!(true));
    assert_eq!(q["audio_codec"], json!("opus"));
    assert_eq!(q["video_codec"], json!("vp8"));
    assert_eq!(q["routes"], json!(["0", "1"]));
    assert_eq!(
        q["recording"]["status"],
        json!("recording is not implemented yet")
    );

    let body = json!({"request": "anything", "x": [1, 2]});
    assert_eq!(p.admin_message(body.clone()).await.unwrap(), body);
}

#[tokio::test]
async fn renegotiation_keeps_routes_and_adds_new_mlines() {
    let (p, rec) = echotest().await;
    let (audio, video) = with_media(&p, &rec).await;
    let mut again = offer();
    again.summary.update = true;
    again.summary.media.push(MediaLine {
        index: 2,
        mid: "2".into(),
        kind: MediaKind::Video,
        direction: Direction::SendRecv,
        codecs: vec!["vp8".into()],
        rids: vec![],
        simulcast_layers: 0,
        audio_level: false,
    });
    let (_, jsep) = request(&p, &rec, json!({}), Some(again)).await;
    assert!(matches!(jsep, Some(JsepOut::Answer(ref a)) if a.media.len() == 3));
    let q = flush(&p).await;
    assert_eq!(q["routes"], json!(["0", "1", "2"]));
    let calls = rec.take();
    assert!(!calls.contains(&Call::RouteRemove(audio)));
    assert!(!calls.contains(&Call::RouteRemove(video)));
}
