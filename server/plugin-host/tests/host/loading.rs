use portunus_plugin_host::{MessageReply, PluginConfig, PluginError, PluginHost};
use serde_json::json;

use crate::common::{Call, load, plugin_dir, plugin_file, temp_dir};
use std::sync::Arc;

#[tokio::test]
async fn stock_echotest_is_embedded_and_reported() {
    let (host, _) = load(&[], PluginConfig::default());
    let infos = host.infos();
    let echo = infos
        .iter()
        .find(|i| i.package == "janus.plugin.echotest")
        .expect("echotest loaded");
    assert_eq!(echo.name, "JANUS EchoTest plugin");
    assert_eq!(echo.version, 7);
    assert_eq!(echo.version_string, "0.0.7");
    assert_eq!(echo.source, "stock:portunus_echotest.wasm");
    // Every stock plugin comes from the binary; the test plugins and the template are not
    // stock.
    assert!(
        infos.iter().all(|i| i.source.starts_with("stock:")),
        "{infos:?}"
    );
    assert!(
        !infos
            .iter()
            .any(|i| i.package == "portunus.test.trap" || i.package.contains("template")),
        "{infos:?}"
    );
    assert!(host.load_errors().is_empty());
    assert_eq!(host.plugin("janus.plugin.echotest").unwrap().info(), echo);
    assert!(host.plugin("janus.plugin.nope").is_none());
}

#[tokio::test]
async fn configured_dir_adds_and_replaces_plugins_and_disable_skips() {
    let dir = plugin_dir(&["test_plugin_trap", "portunus_template"]);
    std::fs::copy(
        plugin_file("portunus_echotest"),
        dir.join("my_echotest.wasm"),
    )
    .unwrap();
    let config = PluginConfig {
        dir: Some(dir.clone()),
        disable: vec!["portunus.test.trap".into()],
        ..PluginConfig::default()
    };
    let host = PluginHost::load(&config, Arc::new(crate::common::Recorder::default())).unwrap();
    // The other stock plugins (not replaced) are left out.
    let packages: Vec<_> = host
        .infos()
        .into_iter()
        .filter(|i| !i.source.starts_with("stock:"))
        .map(|i| (i.package, i.source))
        .collect();
    assert!(host.plugin("portunus.test.trap").is_none());
    assert_eq!(
        packages,
        vec![
            (
                "janus.plugin.echotest".to_string(),
                dir.join("my_echotest.wasm").display().to_string()
            ),
            (
                "portunus.plugin.template".to_string(),
                dir.join("portunus_template.wasm").display().to_string()
            ),
        ]
    );
    assert!(host.load_errors().is_empty());
}

#[tokio::test]
async fn settings_reach_init() {
    let mut config = PluginConfig::default();
    config.settings.insert(
        "portunus.plugin.template".into(),
        json!({"greeting": "ahoy"}),
    );
    let (host, _) = load(&["portunus_template"], config);
    let p = host.plugin("portunus.plugin.template").unwrap();
    let r = p
        .handle_message(1, "t".into(), json!({"request": "ping"}), None)
        .await
        .unwrap();
    assert_eq!(
        r,
        MessageReply::Sync(json!({"template": "event", "pong": "ahoy"}))
    );
}

#[tokio::test]
async fn bad_plugins_are_skipped_with_a_clear_error_and_the_rest_runs() {
    let dir = plugin_dir(&["test_plugin_trap"]);
    std::fs::write(dir.join("garbage.wasm"), b"this is not wasm").unwrap();
    // A valid core module, but not a component.
    std::fs::write(dir.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // A second copy of a package already provided by another file.
    std::fs::copy(
        plugin_file("test_plugin_trap"),
        dir.join("zz_trap_again.wasm"),
    )
    .unwrap();
    std::fs::copy(plugin_file("portunus_template"), dir.join("template.wasm")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"ignored: not .wasm").unwrap();
    let mut config = PluginConfig {
        dir: Some(dir.clone()),
        ..PluginConfig::default()
    };
    // The template refuses this setting in init.
    config
        .settings
        .insert("portunus.plugin.template".into(), json!({"greeting": 5}));
    let host = PluginHost::load(&config, Arc::new(crate::common::Recorder::default())).unwrap();

    // The stock plugins, and of the directory's only the good one.
    let mut packages: Vec<_> = host
        .infos()
        .into_iter()
        .filter(|i| !i.source.starts_with("stock:"))
        .map(|i| i.package)
        .collect();
    packages.sort();
    assert_eq!(packages, ["portunus.test.trap"]);
    assert!(host.plugin("janus.plugin.echotest").is_some());

    let errors = host.load_errors();
    assert_eq!(errors.len(), 4, "{errors:?}");
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let find = |needle: &str| {
        text.iter()
            .find(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no error about {needle}: {text:?}"))
    };
    assert!(find("core.wasm").contains("not a valid WebAssembly component"));
    assert!(find("garbage.wasm").contains("not a valid WebAssembly component"));
    assert!(find("zz_trap_again.wasm").contains("already provided by"));
    assert_eq!(
        errors
            .iter()
            .find(|e| matches!(e, PluginError::Init { .. })),
        Some(&PluginError::Init {
            plugin: "portunus.plugin.template".into(),
            reason: "greeting must be a string".into()
        })
    );
}

#[tokio::test]
async fn missing_plugin_dir_fails_the_load() {
    let config = PluginConfig {
        dir: Some(temp_dir("x").join("nope")),
        ..PluginConfig::default()
    };
    match PluginHost::load(&config, Arc::new(crate::common::Recorder::default())) {
        Err(PluginError::Load { path, reason }) => {
            assert!(path.ends_with("nope"));
            assert!(reason.contains("cannot read the plugin directory"));
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a missing plugin dir must fail"),
    }
}

#[tokio::test]
async fn reload_carries_state_over_with_snapshot_and_restore() {
    let (host, rec) = load(&["test_plugin_trap"], PluginConfig::default());
    let p = host.plugin("portunus.test.trap").unwrap();
    p.create_session(1, None).await.unwrap();
    for _ in 0..2 {
        p.handle_message(1, "a".into(), json!({}), None)
            .await
            .unwrap();
    }
    let info = host
        .reload("portunus.test.trap", &plugin_file("test_plugin_trap"))
        .await
        .unwrap();
    assert_eq!(info.package, "portunus.test.trap");
    let r = p
        .handle_message(1, "b".into(), json!({}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true, "messages": 3})));
    assert!(rec.failures().is_empty());
    // The state moved: what the core holds for it (plain-RTP inputs) stays.
    assert!(rec.resets().is_empty());

    // Another package in the file: refused, the old version keeps running.
    let e = host
        .reload("portunus.test.trap", &plugin_file("test_plugin_spin"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not portunus.test.trap"), "{e}");
    let r = p
        .handle_message(1, "c".into(), json!({}), None)
        .await
        .unwrap();
    assert_eq!(r, MessageReply::Sync(json!({"ok": true, "messages": 4})));
}

#[tokio::test]
async fn reload_without_snapshot_hangs_up_live_handles() {
    let (host, rec) = load(&[], PluginConfig::default());
    let p = host.plugin("janus.plugin.echotest").unwrap();
    p.create_session(11, None).await.unwrap();
    host.reload("janus.plugin.echotest", &plugin_file("portunus_echotest"))
        .await
        .unwrap();
    assert!(
        matches!(&rec.failures()[..], [Call::PluginFailed { handles, reason, .. }] if *handles == vec![11] && reason.contains("without its state"))
    );
    // Released before the new version's init ran, so what that init opened is kept.
    assert_eq!(rec.resets(), ["janus.plugin.echotest"]);
    // The handle exists in the new version.
    assert!(p.query_session(11).await.unwrap().get("error").is_none());
    assert_eq!(
        host.infos()[0].source,
        plugin_file("portunus_echotest").display().to_string()
    );
}
