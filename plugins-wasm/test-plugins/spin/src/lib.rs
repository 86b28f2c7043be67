//! Test plugin `portunus.test.spin`: loops forever on `{"request": "spin"}`; otherwise
//! answers `{"ok": true}` synchronously.

use portunus_plugin_sdk::prelude::*;

#[derive(Default)]
struct Spin;

impl Plugin for Spin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "portunus.test.spin".into(),
            name: "spin test plugin".into(),
            author: "portunus".into(),
            description: "Loops forever on request".into(),
            version: 1,
            version_string: "0.0.1".into(),
        }
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        if msg.body.get("request").and_then(Value::as_str) == Some("spin") {
            let mut n: u64 = 0;
            loop {
                // black_box keeps the optimiser from proving the loop useless.
                n = core::hint::black_box(n.wrapping_add(1));
            }
        }
        Ok(Reply::Sync(json!({ "ok": true })))
    }
}

export_plugin!(Spin);
