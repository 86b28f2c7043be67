//! The host functions and exports added for the VideoRoom: media events into the plugin,
//! talk detection, RTP forwarders, save-config and prepared offers out of it.

use std::sync::atomic::Ordering;

use portunus_media::types::{
    Direction, JsepOut, MediaEvent, MediaKind, MediaOffer, MediaRef, OfferSpec, TalkDetection,
};
use portunus_plugin_host::{MessageReply, PluginConfig, PluginHandle, RtpForwardRequest};
use serde_json::{Value, json};

use crate::common::{Call, Recorder, load};

const TRAP: &str = "portunus.test.trap";

async fn send(p: &PluginHandle, body: Value) -> Value {
    match p.handle_message(1, "t".into(), body, None).await {
        Ok(MessageReply::Sync(v)) => v,
        other => panic!("expected a sync reply, got {other:?}"),
    }
}

fn trap(config: PluginConfig) -> (portunus_plugin_host::PluginHost, std::sync::Arc<Recorder>) {
    load(&["test_plugin_trap"], config)
}

#[tokio::test]
async fn media_events_reach_the_plugin_in_order() {
    let (host, _rec) = trap(PluginConfig::default());
    let p = host.plugin(TRAP).unwrap();
    p.media_event(MediaEvent::LayerChanged {
        route: 3,
        target: MediaRef {
            handle: 1,
            mid: "1".into(),
        },
        substream: Some(2),
        temporal: None,
    });
    // Client-visible events are not a plugin's: dropped, not delivered.
    p.media_event(MediaEvent::WebrtcUp { handle: 1 });
    p.media_event(MediaEvent::TalkChanged {
        source: MediaRef {
            handle: 1,
            mid: "0".into(),
        },
        talking: true,
        level_dbov_avg: -20.5,
    });
    let v = send(&p, json!({"request": "media_events"})).await;
    assert_eq!(
        v["events"],
        json!([
            {"layer_changed": {"route": 3, "handle": 1, "mid": "1", "substream": 2, "temporal": null}},
            {"talk_changed": {"handle": 1, "mid": "0", "talking": true, "level": -20.5}},
        ])
    );
}

#[tokio::test]
async fn talk_detect_and_rtp_forwards_reach_the_gateway() {
    let (host, rec) = trap(PluginConfig::default());
    let p = host.plugin(TRAP).unwrap();
    let v = send(
        &p,
        json!({"request": "talk_detect", "handle": 1, "mid": "0"}),
    )
    .await;
    assert_eq!(v, json!({"ok": true}));
    send(
        &p,
        json!({"request": "talk_detect", "handle": 1, "mid": "0", "off": true}),
    )
    .await;
    let v = send(
        &p,
        json!({"request": "rtp_forward", "handle": 1, "mid": "1", "host": "127.0.0.1",
               "port": 5004, "pt": 96, "substream": 0}),
    )
    .await;
    assert_eq!(v, json!({"ok": 7}));
    send(&p, json!({"request": "rtp_forward_remove", "id": 7})).await;
    // A gateway error comes back to the plugin as the call's error.
    let v = send(
        &p,
        json!({"request": "rtp_forward", "handle": 1, "mid": "1", "host": "unresolvable", "port": 5004}),
    )
    .await;
    assert!(
        v["error"].as_str().unwrap().contains("cannot resolve"),
        "{v}"
    );

    let source = |mid: &str| MediaRef {
        handle: 1,
        mid: mid.into(),
    };
    assert_eq!(
        rec.take(),
        vec![
            Call::TalkDetect(source("0"), Some(TalkDetection::default())),
            Call::TalkDetect(source("0"), None),
            Call::RtpForwardAdd(RtpForwardRequest {
                source: source("1"),
                host: "127.0.0.1".into(),
                port: 5004,
                ssrc: None,
                pt: Some(96),
                substream: Some(0),
                rtcp_port: None,
            }),
            Call::RtpForwardRemove(7),
        ]
    );
}

#[tokio::test]
async fn save_config_passes_objects_and_refuses_the_rest() {
    let (host, rec) = trap(PluginConfig::default());
    let p = host.plugin(TRAP).unwrap();
    let config = json!({"rooms": [{"room": 1234, "description": "Demo"}], "n": 1});
    let v = send(&p, json!({"request": "save_config", "config": config})).await;
    assert_eq!(v, json!({"ok": true}));
    assert_eq!(
        rec.take(),
        vec![Call::SaveConfig {
            plugin: TRAP.into(),
            config: config.clone()
        }]
    );
    // Not JSON, not an object: refused by the host, the gateway never sees them.
    let v = send(&p, json!({"request": "save_config", "text": "{not json"})).await;
    assert!(
        v["error"].as_str().unwrap().contains("not valid JSON"),
        "{v}"
    );
    for bad in [json!([1]), json!("x"), json!(null), json!(3)] {
        let v = send(&p, json!({"request": "save_config", "config": bad})).await;
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{v}"
        );
    }
    assert_eq!(rec.take(), vec![]);
    // The gateway's own failure (no file, unwritable) reaches the plugin.
    rec.fail_save.store(true, Ordering::Relaxed);
    let v = send(&p, json!({"request": "save_config", "config": {}})).await;
    assert!(v["error"].as_str().unwrap().contains("cannot write"), "{v}");
}

#[tokio::test]
async fn a_restarted_plugin_is_initialised_with_the_settings_it_saved() {
    let mut config = PluginConfig::default();
    config
        .settings
        .insert(TRAP.into(), json!({"rooms": [{"room": 1}]}));
    let (host, rec) = trap(config);
    let p = host.plugin(TRAP).unwrap();
    let v = send(&p, json!({"request": "config"})).await;
    assert_eq!(v["config"], json!({"rooms": [{"room": 1}]}));
    let saved = json!({"rooms": [{"room": 1}, {"room": 2, "pin": "x"}]});
    send(&p, json!({"request": "save_config", "config": saved})).await;
    // A failed save changes nothing.
    rec.fail_save.store(true, Ordering::Relaxed);
    send(
        &p,
        json!({"request": "save_config", "config": {"lost": true}}),
    )
    .await;
    assert!(
        p.handle_message(1, "x".into(), json!({"request": "trap"}), None)
            .await
            .is_err()
    );
    let v = send(&p, json!({"request": "config"})).await;
    assert_eq!(v["config"], saved);
}

#[tokio::test]
async fn offers_return_the_mids_of_their_mlines() {
    let (host, rec) = trap(PluginConfig::default());
    let p = host.plugin(TRAP).unwrap();
    let v = send(
        &p,
        json!({"request": "create_offer", "audio": 1, "video": 2}),
    )
    .await;
    assert_eq!(v, json!({"ok": ["0", "1", "2"]}));
    let v = send(&p, json!({"request": "push_prepared_offer"})).await;
    assert_eq!(v, json!({"ok": []}));
    let v = send(&p, json!({"request": "push_offer", "audio": 1})).await;
    assert_eq!(v, json!({"ok": ["0"]}));
    let line = |kind| MediaOffer {
        mid: None,
        kind,
        direction: Direction::SendOnly,
        codecs: vec![],
        stream_id: None,
    };
    let calls = rec.take();
    assert_eq!(
        calls[0],
        Call::CreateOffer(
            1,
            OfferSpec {
                media: vec![
                    line(MediaKind::Audio),
                    line(MediaKind::Video),
                    line(MediaKind::Video)
                ],
                data_channels: false,
                ice_restart: false,
            }
        )
    );
    assert!(
        matches!(&calls[1], Call::PushEvent { jsep: Some(JsepOut::PreparedOffer), data, .. }
            if data == &json!({"offer": "prepared"})),
        "{calls:?}"
    );
    assert!(
        matches!(&calls[2], Call::PushEvent { jsep: Some(JsepOut::Offer(o)), .. } if o.media.len() == 1),
        "{calls:?}"
    );
}
