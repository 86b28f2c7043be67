//! A refused or failed hot reload leaves the plugin as it was (the inputs it holds, its
//! state), or restarts it fresh when its inputs had to be closed: never a running plugin
//! without the inputs it thinks it has. The trap test plugin opens `inputs` in `init`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use portunus_plugin_host::{Gateway, MessageReply, PluginConfig, PluginHost};
use serde_json::{Value, json};

use crate::common::{Call, Recorder, load, plugin_file};

const TRAP: &str = "portunus.test.trap";

fn trap_with(settings: Value) -> (PluginHost, Arc<Recorder>) {
    let mut config = PluginConfig::default();
    config.settings.insert(TRAP.into(), settings);
    load(&["test_plugin_trap"], config)
}

async fn ask(host: &PluginHost, body: Value) -> Value {
    match host
        .plugin(TRAP)
        .unwrap()
        .handle_message(1, "t".into(), body, None)
        .await
        .unwrap()
    {
        MessageReply::Sync(v) => v,
        other => panic!("not a sync reply: {other:?}"),
    }
}

/// The settings the next `init` (of a reload or a restart) gets.
async fn set_settings(host: &PluginHost, settings: Value) {
    let r = ask(host, json!({"request": "save_config", "config": settings})).await;
    assert_eq!(r, json!({"ok": true}));
}

/// The input ids the running instance believes it has.
async fn plugin_inputs(host: &PluginHost) -> Vec<u64> {
    serde_json::from_value(ask(host, json!({"request": "inputs"})).await["inputs"].clone()).unwrap()
}

async fn reload(host: &PluginHost) -> Result<(), String> {
    host.reload(TRAP, &plugin_file("test_plugin_trap"))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn failed_reload_with_snapshot_closes_what_the_new_instance_opened() {
    let (host, rec) = trap_with(json!({"inputs": 1}));
    host.plugin(TRAP)
        .unwrap()
        .create_session(1, None)
        .await
        .unwrap();
    let before = rec.inputs_of(TRAP);
    assert_eq!(before.len(), 1);
    assert_eq!(plugin_inputs(&host).await, before);

    // The new init opens an input, then fails.
    set_settings(&host, json!({"inputs": 1, "fail_init": true})).await;
    let e = reload(&host).await.unwrap_err();
    assert!(e.contains("init fails on request"), "{e}");
    assert_eq!(rec.inputs_of(TRAP), before);
    // The new init opened one (and the host closed it).
    assert_eq!(
        rec.take()
            .iter()
            .filter(|c| matches!(c, Call::RtpInputRemove(_)))
            .count(),
        1
    );

    // The new init opens one, restore fails.
    set_settings(&host, json!({"inputs": 1, "fail_restore": true})).await;
    let e = reload(&host).await.unwrap_err();
    assert!(e.contains("restore fails on request"), "{e}");
    assert_eq!(rec.inputs_of(TRAP), before);

    // The old version ran on untouched: same state, same inputs, nothing reset.
    assert!(rec.resets().is_empty());
    assert!(rec.failures().is_empty());
    assert_eq!(plugin_inputs(&host).await, before);
    let r = ask(&host, json!({})).await;
    assert_eq!(r["messages"], 5, "{r}");

    // A good reload keeps the old inputs: restore closes what its init opened.
    set_settings(&host, json!({"inputs": 1})).await;
    reload(&host).await.unwrap();
    assert_eq!(rec.inputs_of(TRAP), before);
    assert_eq!(plugin_inputs(&host).await, before);
    assert!(rec.resets().is_empty());
}

#[tokio::test]
async fn a_wrong_package_is_refused_before_anything_is_reset() {
    let (host, rec) = trap_with(json!({"inputs": 2, "no_snapshot": true}));
    let before = rec.inputs_of(TRAP);
    assert_eq!(before.len(), 2);
    let e = host
        .reload(TRAP, &plugin_file("test_plugin_spin"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not portunus.test.trap"), "{e}");
    assert!(rec.resets().is_empty());
    assert_eq!(rec.inputs_of(TRAP), before);
    assert_eq!(plugin_inputs(&host).await, before);
}

#[tokio::test]
async fn failed_reload_without_snapshot_restarts_the_old_version_fresh() {
    let (host, rec) = trap_with(json!({"inputs": 1, "no_snapshot": true}));
    host.plugin(TRAP)
        .unwrap()
        .create_session(1, None)
        .await
        .unwrap();
    ask(&host, json!({})).await;
    let before = rec.inputs_of(TRAP);
    rec.take();

    // The old inputs are closed for the new init, whose input cannot open.
    rec.fail_inputs.store(1, Ordering::Relaxed);
    let e = reload(&host).await.unwrap_err();
    assert!(e.contains("port 40000 in use"), "{e}");
    assert!(e.contains("plain-RTP input(s) were closed"), "{e}");
    assert!(e.contains("restarted with fresh state"), "{e}");
    // Reset for the new init, and again for the old version's fresh start.
    assert_eq!(rec.resets(), [TRAP, TRAP]);
    assert!(
        matches!(&rec.failures()[..], [Call::PluginFailed { handles, .. }] if *handles == vec![1])
    );
    // The old version runs fresh, with the input its init reopened, and knows it.
    let now = rec.inputs_of(TRAP);
    assert_eq!(now.len(), 1);
    assert_ne!(now, before);
    assert_eq!(plugin_inputs(&host).await, now);
    let r = ask(&host, json!({})).await;
    assert_eq!(r["messages"], 2, "state is fresh: {r}");
}

#[tokio::test]
async fn failed_reload_without_snapshot_keeps_a_version_without_inputs() {
    let (host, rec) = trap_with(json!({"no_snapshot": true}));
    host.plugin(TRAP)
        .unwrap()
        .create_session(1, None)
        .await
        .unwrap();
    set_settings(&host, json!({"no_snapshot": true, "fail_init": true})).await;
    let e = reload(&host).await.unwrap_err();
    assert!(e.contains("init fails on request"), "{e}");
    assert!(!e.contains("fresh state"), "{e}");
    // It held nothing the reset could close: it runs on with its state.
    assert!(rec.failures().is_empty());
    let r = ask(&host, json!({})).await;
    assert_eq!(r["messages"], 2, "{r}");
}
