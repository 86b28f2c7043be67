//! Test plugin `portunus.test.oom`: allocates until its memory limit is hit on
//! `{"request": "oom"}`; otherwise answers `{"ok": true}` synchronously.

use portunus_plugin_sdk::prelude::*;

#[derive(Default)]
struct Oom {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Oom {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "portunus.test.oom".into(),
            name: "oom test plugin".into(),
            author: "portunus".into(),
            description: "Exhausts its memory on request".into(),
            version: 1,
            version_string: "0.0.1".into(),
        }
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        if msg.body.get("request").and_then(Value::as_str) == Some("oom") {
            loop {
                // Touch every page so the memory is really used.
                self.hoard.push(vec![1u8; 1 << 20]);
            }
        }
        Ok(Reply::Sync(
            json!({ "ok": true, "held_mib": self.hoard.len() }),
        ))
    }
}

export_plugin!(Oom);
