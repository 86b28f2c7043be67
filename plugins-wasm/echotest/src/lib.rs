//! `janus.plugin.echotest`: Janus's EchoTest on portunus.
//!
//! Media goes back to the client by native routes (handle, mid) → (handle, mid) that this
//! plugin installs; it never sees a packet. Data-channel messages come through
//! `incoming-data` and go back with `send-data`. The request API, events and error codes are
//! Janus 1.1.2's (see shared/janus-api/echotest.md).

mod session;

use std::collections::HashMap;

use portunus_plugin_sdk::prelude::*;

use session::Session;

/// The plugin's key in its events (`{"echotest": "event", ...}`).
const KEY: &str = "echotest";

/// Janus's error codes (janus_echotest.c).
const ERROR_NO_MESSAGE: i32 = 411;
const ERROR_INVALID_JSON: i32 = 412;
const ERROR_INVALID_ELEMENT: i32 = 413;
const ERROR_INVALID_SDP: i32 = 414;

/// Every request element Janus's EchoTest knows, with its type. Missing and invalid
/// elements both answer 413, as in Janus.
const PARAMS: &[Param] = &[
    Param::optional("audio", ParamKind::Bool),
    Param::optional("video", ParamKind::Bool),
    Param::optional("bitrate", ParamKind::PositiveInteger),
    Param::optional("record", ParamKind::Bool),
    Param::optional("filename", ParamKind::String),
    Param::optional("substream", ParamKind::PositiveInteger),
    Param::optional("temporal", ParamKind::PositiveInteger),
    Param::optional("fallback", ParamKind::PositiveInteger),
    Param::optional("audiocodec", ParamKind::String),
    Param::optional("videocodec", ParamKind::String),
    Param::optional("videoprofile", ParamKind::String),
    Param::optional("opusred", ParamKind::Bool),
    Param::optional("min_delay", ParamKind::Integer),
    Param::optional("max_delay", ParamKind::Integer),
];

/// Elements that make a request meaningful on their own (without a JSEP).
const ACTIONS: &[&str] = &[
    "audio",
    "video",
    "bitrate",
    "substream",
    "temporal",
    "record",
];

#[derive(Default)]
struct EchoTest {
    sessions: HashMap<HandleId, Session>,
}

impl Plugin for EchoTest {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "janus.plugin.echotest".into(),
            name: "JANUS EchoTest plugin".into(),
            author: "portunus (after Meetecho s.r.l.)".into(),
            description: "This is a trivial EchoTest plugin for Janus, just used to showcase the plugin interface.".into(),
            version: 7,
            version_string: "0.0.7".into(),
        }
    }

    fn create_session(
        &mut self,
        handle: HandleId,
        opaque_id: Option<String>,
    ) -> Result<(), String> {
        if self.sessions.contains_key(&handle) {
            return Err(format!("handle {handle} already has a session"));
        }
        self.sessions
            .insert(handle, Session::new(handle, opaque_id));
        Ok(())
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        let Some(session) = self.sessions.get_mut(&msg.handle) else {
            return Err("No session associated with this handle".into());
        };
        // Janus's EchoTest is always asynchronous: ack now, the result follows as an event.
        let data = match handle_request(session, &msg) {
            Ok(Some(jsep)) => {
                // The answer is built by the core; when it cannot be (bad offer), the client
                // gets the error event instead of the result.
                let ok = janus::result_event(KEY, "ok");
                match host::push_event(msg.handle, Some(&msg.transaction), &ok, Some(&jsep)) {
                    Ok(_) => {
                        session.negotiated();
                        None
                    }
                    Err(e) => Some(janus::error_event_value(
                        KEY,
                        &JanusError::new(ERROR_INVALID_SDP, format!("Error parsing offer: {e}")),
                    )),
                }
            }
            Ok(None) => Some(janus::result_event(KEY, "ok")),
            Err(e) => Some(janus::error_event_value(KEY, &e)),
        };
        if let Some(data) = data
            && let Err(e) = host::push_event(msg.handle, Some(&msg.transaction), &data, None)
        {
            host::warn(&format!("cannot send event to handle {}: {e}", msg.handle));
        }
        Ok(Reply::ack_with_hint("I'm taking my time!"))
    }

    fn setup_media(&mut self, handle: HandleId) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.media_up();
        }
    }

    fn hangup_media(&mut self, handle: HandleId) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.hangup();
            let done = janus::result_event(KEY, "done");
            if let Err(e) = host::push_event(handle, None, &done, None) {
                host::debug(&format!("no \"done\" event for handle {handle}: {e}"));
            }
        }
    }

    fn incoming_data(&mut self, handle: HandleId, message: DataMessage) {
        if !self.sessions.contains_key(&handle) {
            return;
        }
        let reply = if message.binary {
            message
        } else {
            let text = String::from_utf8_lossy(&message.data);
            DataMessage {
                data: format!("Janus EchoTest here! You wrote: {text}").into_bytes(),
                label: message.label,
                binary: false,
            }
        };
        if let Err(e) = host::send_data(handle, &reply) {
            host::debug(&format!("cannot echo data on handle {handle}: {e}"));
        }
    }

    fn destroy_session(&mut self, handle: HandleId) {
        self.sessions.remove(&handle);
    }

    fn query_session(&mut self, handle: HandleId) -> Value {
        match self.sessions.get(&handle) {
            Some(s) => s.query(),
            None => json!({ "error": "No session associated with this handle" }),
        }
    }

    fn on_media_event(&mut self, event: MediaEvent) {
        if let MediaEvent::LayerChanged(change) = event
            && let Some(s) = self.sessions.get_mut(&change.target.handle)
        {
            s.layer_changed(&change);
        }
    }

    fn handle_admin_message(&mut self, body: Value) -> Value {
        // Janus's EchoTest returns the request unchanged.
        body
    }
}

/// Validates and applies one request; returns the answer to send when an offer came.
fn handle_request(session: &mut Session, msg: &Message) -> Result<Option<JsepOut>, JanusError> {
    if msg.body.is_null() {
        return Err(JanusError::new(ERROR_NO_MESSAGE, "No message??"));
    }
    let body = janus::object(&msg.body, ERROR_INVALID_JSON)?;
    janus::validate(body, PARAMS, ERROR_INVALID_ELEMENT, ERROR_INVALID_ELEMENT)?;
    let layer = |name: &str| -> Result<Option<u8>, JanusError> {
        match body.get(name).and_then(Value::as_u64) {
            None => Ok(None),
            Some(v @ 0..=2) => Ok(Some(v as u8)),
            Some(_) => Err(JanusError::new(
                ERROR_INVALID_ELEMENT,
                format!("Invalid value ({name} should be 0, 1 or 2)"),
            )),
        }
    };
    let substream = layer("substream")?;
    let temporal = layer("temporal")?;
    let offer = match &msg.jsep {
        Some(j) if j.kind == JsepType::Offer => Some(j),
        Some(_) => {
            return Err(JanusError::new(
                ERROR_INVALID_SDP,
                "Error parsing offer: the EchoTest only accepts offers",
            ));
        }
        None => None,
    };
    if offer.is_none() && !ACTIONS.iter().any(|k| body.contains_key(*k)) {
        return Err(JanusError::new(
            ERROR_INVALID_ELEMENT,
            "Message error: no supported attributes found",
        ));
    }

    if let Some(audio) = body.get("audio").and_then(Value::as_bool) {
        session.set_audio(audio);
    }
    if let Some(video) = body.get("video").and_then(Value::as_bool) {
        session.set_video(video);
    }
    if let Some(bitrate) = body.get("bitrate").and_then(Value::as_u64) {
        session.set_bitrate(u32::try_from(bitrate).unwrap_or(u32::MAX));
    }
    if substream.is_some() || temporal.is_some() {
        session.set_layer(substream, temporal);
    }
    if let Some(record) = body.get("record").and_then(Value::as_bool) {
        let filename = body.get("filename").and_then(Value::as_str);
        session.set_record(record, filename);
    }

    Ok(offer.map(|offer| {
        let audiocodec = body.get("audiocodec").and_then(Value::as_str);
        let videocodec = body.get("videocodec").and_then(Value::as_str);
        JsepOut::Answer(session.answer(offer, audiocodec, videocodec))
    }))
}

export_plugin!(EchoTest);
