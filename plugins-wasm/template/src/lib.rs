//! `portunus.plugin.template`: the smallest useful portunus plugin. Copy this crate to
//! start your own (see docs/PLUGINS.md).
//!
//! It answers `{"request": "ping"}` synchronously, `{"request": "echo", ...}` asynchronously
//! (ack now, event later, like most Janus plugins), and mirrors whatever media the client
//! offers back to it with native routes.

use std::collections::HashMap;

use portunus_plugin_sdk::prelude::*;

/// The key of this plugin's events: `{"template": "event", ...}`.
const KEY: &str = "template";

// Error codes: pick a range of your own; Janus plugins use 4xx per plugin.
const ERROR_INVALID_JSON: i32 = 490;
const ERROR_MISSING_ELEMENT: i32 = 491;
const ERROR_INVALID_ELEMENT: i32 = 492;
const ERROR_UNKNOWN_REQUEST: i32 = 493;

const REQUEST: &[Param] = &[Param::required("request", ParamKind::String)];

/// Per-handle state. Everything lives in the plugin instance: the gateway calls one method
/// at a time, so no locks are needed.
#[derive(Default)]
struct HandleState {
    routes: Vec<RouteId>,
    offered: Vec<String>,
}

#[derive(Default)]
struct Template {
    greeting: String,
    handles: HashMap<HandleId, HandleState>,
}

impl Plugin for Template {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "portunus.plugin.template".into(),
            name: "portunus template plugin".into(),
            author: "portunus".into(),
            description: "A minimal plugin to copy: ping, echo and media mirroring.".into(),
            version: 1,
            version_string: "0.0.1".into(),
        }
    }

    /// `config` is this plugin's `[plugins.settings."portunus.plugin.template"]` table.
    fn init(&mut self, config: Value) -> Result<(), String> {
        self.greeting = match config.get("greeting") {
            None => "hello".into(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("greeting must be a string".into()),
        };
        host::info(&format!(
            "template plugin ready, greeting {:?}",
            self.greeting
        ));
        Ok(())
    }

    fn create_session(
        &mut self,
        handle: HandleId,
        _opaque_id: Option<String>,
    ) -> Result<(), String> {
        self.handles.insert(handle, HandleState::default());
        Ok(())
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        let result = (|| {
            let body = janus::object(&msg.body, ERROR_INVALID_JSON)?;
            janus::validate(body, REQUEST, ERROR_MISSING_ELEMENT, ERROR_INVALID_ELEMENT)?;
            Ok::<_, JanusError>(
                body.get("request")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        })();
        let request = match result {
            Ok(r) => r,
            // A synchronous error: `success` with an error event as plugindata.
            Err(e) => return Ok(Reply::Sync(janus::error_event_value(KEY, &e))),
        };
        match request.as_str() {
            // Synchronous: the result is the `success` reply.
            "ping" => Ok(Reply::Sync(janus::event(
                KEY,
                json!({ "pong": self.greeting }),
            ))),
            // Asynchronous: `ack` now, the event (with the same transaction) follows.
            "echo" => {
                let jsep = msg
                    .jsep
                    .as_ref()
                    .filter(|j| j.kind == JsepType::Offer)
                    .map(|offer| {
                        if let Some(h) = self.handles.get_mut(&msg.handle) {
                            h.offered = offer.media.iter().map(|m| m.mid.clone()).collect();
                        }
                        JsepOut::Answer(AnswerSpec::mirror(offer))
                    });
                let data = janus::event(KEY, json!({ "echo": msg.body }));
                if let Err(e) =
                    host::push_event(msg.handle, Some(&msg.transaction), &data, jsep.as_ref())
                {
                    let err = JanusError::new(ERROR_INVALID_ELEMENT, e);
                    let _ = host::push_event(
                        msg.handle,
                        Some(&msg.transaction),
                        &janus::error_event_value(KEY, &err),
                        None,
                    );
                }
                Ok(Reply::Ack(None))
            }
            other => Ok(Reply::Sync(janus::error_event_value(
                KEY,
                &JanusError::new(ERROR_UNKNOWN_REQUEST, format!("Unknown request '{other}'")),
            ))),
        }
    }

    /// The PeerConnection is up: send each m-line's media back to the client.
    fn setup_media(&mut self, handle: HandleId) {
        let Some(h) = self.handles.get_mut(&handle) else {
            return;
        };
        for mid in &h.offered {
            let me = MediaRef::new(handle, mid.clone());
            let route = Route {
                source: me.clone(),
                target: me,
                layer: LayerChoice::all(),
                paused: false,
                auto_layer: false,
            };
            match host::route_add(&route) {
                Ok(id) => h.routes.push(id),
                Err(e) => host::warn(&format!("no route for {mid}: {e}")),
            }
        }
    }

    fn hangup_media(&mut self, handle: HandleId) {
        if let Some(h) = self.handles.get_mut(&handle) {
            for id in h.routes.drain(..) {
                host::route_remove(id);
            }
        }
    }

    fn destroy_session(&mut self, handle: HandleId) {
        self.handles.remove(&handle);
    }

    fn query_session(&mut self, handle: HandleId) -> Value {
        match self.handles.get(&handle) {
            Some(h) => json!({ "routes": h.routes.len(), "offered": h.offered }),
            None => json!({}),
        }
    }
}

export_plugin!(Template);
