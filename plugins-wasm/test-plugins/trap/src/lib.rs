//! Test plugin `portunus.test.trap`: traps (panics, which aborts in Wasm) on any message
//! whose body is `{"request": "trap"}`; otherwise answers `{"ok": true}` synchronously.
//! It counts messages so tests can see that a crash resets its state, and can produce
//! bad output (invalid event data, a non-object query result) on request.

use portunus_plugin_sdk::prelude::*;

#[derive(Default)]
struct Trap {
    messages: u64,
    timers_fired: Vec<u64>,
}

impl Plugin for Trap {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "portunus.test.trap".into(),
            name: "trap test plugin".into(),
            author: "portunus".into(),
            description: "Traps on request".into(),
            version: 1,
            version_string: "0.0.1".into(),
        }
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        self.messages += 1;
        match msg.body.get("request").and_then(Value::as_str) {
            Some("trap") => panic!("trap requested"),
            Some("timer") => {
                let id = msg.body.get("id").and_then(Value::as_u64).unwrap_or(1);
                let delay = msg.body.get("delay").and_then(Value::as_u64).unwrap_or(10);
                host::set_timer(id, delay);
                Ok(Reply::Sync(json!({ "ok": true })))
            }
            Some("cancel") => {
                host::cancel_timer(msg.body.get("id").and_then(Value::as_u64).unwrap_or(1));
                Ok(Reply::Sync(json!({ "ok": true })))
            }
            Some("timers") => Ok(Reply::Sync(json!({ "fired": self.timers_fired }))),
            Some("refuse") => Err("refused on request".into()),
            Some("bad_event") => {
                // Event data that is not JSON, and JSON that is not an object.
                use portunus_plugin_sdk::bindings::portunus::plugin::host::push_event;
                let not_json = push_event(msg.handle, None, "not json", None).err();
                let not_object = push_event(msg.handle, None, "[1]", None).err();
                Ok(Reply::Sync(
                    json!({ "not_json": not_json, "not_object": not_object }),
                ))
            }
            _ => Ok(Reply::Sync(
                json!({ "ok": true, "messages": self.messages }),
            )),
        }
    }

    fn incoming_data(&mut self, _handle: HandleId, message: DataMessage) {
        if message.data == b"trap" {
            panic!("trap requested by data");
        }
    }

    fn query_session(&mut self, handle: HandleId) -> Value {
        if handle == 666 {
            // Not an object: the host must refuse it.
            return json!("not an object");
        }
        json!({ "messages": self.messages })
    }

    fn on_timer(&mut self, id: u64) {
        self.timers_fired.push(id);
    }

    fn snapshot(&mut self) -> Option<Vec<u8>> {
        Some(self.messages.to_le_bytes().to_vec())
    }

    fn restore(&mut self, state: Vec<u8>) -> Result<(), String> {
        let bytes: [u8; 8] = state.try_into().map_err(|_| "bad snapshot".to_string())?;
        self.messages = u64::from_le_bytes(bytes);
        Ok(())
    }
}

export_plugin!(Trap);
