use std::time::Duration;

use portunus_plugin_host::{MessageReply, PluginConfig};
use serde_json::json;

use crate::common::load;

#[tokio::test]
async fn timers_fire_on_the_plugins_queue_and_cancel() {
    let (host, _rec) = load(&["test_plugin_trap"], PluginConfig::default());
    let p = host.plugin("portunus.test.trap").unwrap();
    let send = |body| p.handle_message(1, "t".into(), body, None);
    send(json!({"request": "timer", "id": 7, "delay": 300}))
        .await
        .unwrap();
    send(json!({"request": "timer", "id": 8, "delay": 100}))
        .await
        .unwrap();
    send(json!({"request": "cancel", "id": 8})).await.unwrap();
    send(json!({"request": "timer", "id": 9, "delay": 1}))
        .await
        .unwrap();
    let mut fired = json!(null);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let MessageReply::Sync(v) = send(json!({"request": "timers"})).await.unwrap() {
            fired = v["fired"].clone();
            if fired.as_array().is_some_and(|a| a.len() >= 2) {
                break;
            }
        }
    }
    // 9 was due first; 8 was cancelled.
    assert_eq!(fired, json!([9, 7]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let MessageReply::Sync(v) = send(json!({"request": "timers"})).await.unwrap() else {
        panic!()
    };
    assert_eq!(v["fired"], json!([9, 7]));
}
