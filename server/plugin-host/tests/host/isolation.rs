use std::time::{Duration, Instant};

use portunus_media::types::DataMessage;
use portunus_plugin_host::{MessageReply, PluginConfig, PluginError};
use serde_json::json;

use crate::common::{Call, load};

fn crashed_reason(r: Result<MessageReply, PluginError>) -> String {
    match r {
        Err(PluginError::Crashed { plugin: _, reason }) => reason,
        other => panic!("expected a crash, got {other:?}"),
    }
}

#[tokio::test]
async fn trap_is_reported_and_plugin_restarts_with_live_handles() {
    let (host, rec) = load(&["test_plugin_trap"], PluginConfig::default());
    let p = host.plugin("portunus.test.trap").unwrap();
    p.create_session(1, None).await.unwrap();
    p.create_session(2, Some("o".into())).await.unwrap();
    let r = p
        .handle_message(1, "a".into(), json!({"n": 1}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true, "messages": 1})));

    let reason = crashed_reason(
        p.handle_message(1, "b".into(), json!({"request": "trap"}), None)
            .await,
    );
    assert!(reason.contains("trapped"), "{reason}");
    assert_eq!(
        rec.failures(),
        vec![Call::PluginFailed {
            plugin: "portunus.test.trap".into(),
            handles: vec![1, 2],
            reason
        }]
    );
    // What the core held for the old state (plain-RTP inputs) was released.
    assert_eq!(rec.resets(), ["portunus.test.trap"]);

    // Fresh state (the counter restarted), same queue, still answering.
    let r = p
        .handle_message(2, "c".into(), json!({}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true, "messages": 1})));

    // A crash in a fire-and-forget call is reported too; destroyed handles are not.
    p.destroy_session(1);
    p.incoming_data(
        2,
        DataMessage {
            label: "l".into(),
            data: b"trap".to_vec(),
            binary: false,
        },
    );
    p.query_session(2).await.unwrap();
    let failures = rec.failures();
    assert_eq!(failures.len(), 2);
    assert!(matches!(&failures[1], Call::PluginFailed { handles, .. } if *handles == vec![2]));
}

#[tokio::test]
async fn plugin_errors_are_refusals_not_crashes() {
    let (host, rec) = load(&["test_plugin_trap"], PluginConfig::default());
    let p = host.plugin("portunus.test.trap").unwrap();
    let r = p
        .handle_message(1, "a".into(), json!({"request": "refuse"}), None)
        .await;
    assert_eq!(r, Err(PluginError::Refused("refused on request".into())));
    assert!(rec.failures().is_empty());
}

#[tokio::test]
async fn infinite_loop_is_interrupted_while_other_plugins_keep_answering() {
    let config = PluginConfig {
        call_timeout_ms: 1500,
        ..PluginConfig::default()
    };
    let (host, rec) = load(&["test_plugin_spin", "test_plugin_trap"], config);
    let spin = host.plugin("portunus.test.spin").unwrap();
    let other = host.plugin("portunus.test.trap").unwrap();
    spin.create_session(5, None).await.unwrap();

    let started = Instant::now();
    let stuck = tokio::spawn({
        let spin = spin.clone();
        async move {
            spin.handle_message(5, "s".into(), json!({"request": "spin"}), None)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The spinning plugin is stuck in its loop; another plugin answers meanwhile.
    let r = other
        .handle_message(1, "o".into(), json!({}), None)
        .await
        .unwrap();
    assert!(matches!(r, MessageReply::Sync(_)));
    let echo = host.plugin("janus.plugin.echotest").unwrap();
    echo.create_session(9, None).await.unwrap();
    assert!(
        !stuck.is_finished(),
        "the other calls must not wait for the stuck plugin"
    );

    let reason = crashed_reason(stuck.await.unwrap());
    assert!(reason.contains("time limit of 1500 ms"), "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert!(
        matches!(&rec.failures()[..], [Call::PluginFailed { handles, .. }] if *handles == vec![5])
    );

    // Usable again.
    let r = spin
        .handle_message(5, "t".into(), json!({}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true})));
}

#[tokio::test]
async fn memory_exhaustion_is_contained() {
    let config = PluginConfig {
        memory_limit_mib: 32,
        ..PluginConfig::default()
    };
    let (host, rec) = load(&["test_plugin_oom"], config);
    let p = host.plugin("portunus.test.oom").unwrap();
    p.create_session(3, None).await.unwrap();
    let reason = crashed_reason(
        p.handle_message(3, "m".into(), json!({"request": "oom"}), None)
            .await,
    );
    assert!(reason.contains("out of memory (limit 32 MiB)"), "{reason}");
    assert!(
        matches!(&rec.failures()[..], [Call::PluginFailed { handles, .. }] if *handles == vec![3])
    );
    let r = p
        .handle_message(3, "n".into(), json!({}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true, "held_mib": 0})));
}

#[tokio::test]
async fn bad_plugin_output_is_refused_with_a_clear_error() {
    let (host, rec) = load(&["test_plugin_trap"], PluginConfig::default());
    let p = host.plugin("portunus.test.trap").unwrap();
    let r = p
        .handle_message(1, "a".into(), json!({"request": "bad_event"}), None)
        .await
        .unwrap();
    let MessageReply::Sync(v) = r else {
        panic!("{r:?}")
    };
    assert!(
        v["not_json"]
            .as_str()
            .unwrap()
            .starts_with("event data is not valid JSON"),
        "{v}"
    );
    assert_eq!(v["not_object"], json!("event data must be a JSON object"));
    assert!(rec.take().is_empty(), "no event may reach the core");

    match p.query_session(666).await {
        Err(PluginError::Refused(text)) => {
            assert!(text.contains("non-object from query-session"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.query_session(1).await.unwrap(), json!({"messages": 1}));
}
