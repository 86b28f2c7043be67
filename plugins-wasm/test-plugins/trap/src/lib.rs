//! Test plugin `portunus.test.trap`: traps (panics, which aborts in Wasm) on any message
//! whose body is `{"request": "trap"}`; otherwise answers `{"ok": true}` synchronously.
//! It counts messages so tests can see that a crash resets its state, and can produce
//! bad output (invalid event data, a non-object query result) on request.
//!
//! It also calls the host functions its messages name, with the arguments they carry, and
//! answers with what came back (`{"ok": ...}` or `{"error": "..."}`); it records the media
//! events it gets (`{"request": "media_events"}`) and the config its `init` got
//! (`{"request": "config"}`).
//!
//! Its settings drive hot-reload tests: `inputs: n` makes `init` open n plain-RTP inputs (on
//! `port`, default any), `fail_init` / `fail_restore` make those fail, `no_snapshot` makes
//! `snapshot` return none.

use portunus_plugin_sdk::prelude::*;

#[derive(Default)]
struct Trap {
    messages: u64,
    timers_fired: Vec<u64>,
    config: Value,
    media_events: Vec<Value>,
    /// Source ids of the inputs it opened (or took over by restore).
    inputs: Vec<HandleId>,
}

/// One audio stream on a loopback port (0 = a free one).
fn open_input(port: u16) -> Result<HandleId, String> {
    let input = RtpInput {
        host: Some("127.0.0.1".into()),
        streams: vec![RtpInputStream {
            mid: "a".into(),
            kind: MediaKind::Audio,
            codec: "opus".into(),
            clock_rate: 48000,
            channels: Some(2),
            pt: None,
            fmtp: None,
            port,
            rtcp_port: None,
        }],
    };
    host::rtp_input_add(&input).map(|i| i.source)
}

/// A host call's outcome as the reply to the message that asked for it.
fn outcome<T: Into<Value>>(r: Result<T, String>) -> Result<Reply, String> {
    Ok(Reply::Sync(match r {
        Ok(v) => json!({ "ok": v.into() }),
        Err(e) => json!({ "error": e }),
    }))
}

fn media_ref(body: &Value) -> MediaRef {
    MediaRef::new(
        body.get("handle").and_then(Value::as_u64).unwrap_or(0),
        body.get("mid").and_then(Value::as_str).unwrap_or(""),
    )
}

fn opt_u8(body: &Value, key: &str) -> Option<u8> {
    body.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u8::try_from(n).ok())
}

/// `{"audio": n, "video": n}` m-lines, sendonly, for a server offer.
fn offer_spec(body: &Value) -> OfferSpec {
    let count = |k: &str| body.get(k).and_then(Value::as_u64).unwrap_or(0);
    let line = |kind| MediaOffer {
        mid: None,
        kind,
        direction: Direction::Sendonly,
        codecs: Vec::new(),
        stream_id: None,
    };
    let mut media = Vec::new();
    media.extend((0..count("audio")).map(|_| line(MediaKind::Audio)));
    media.extend((0..count("video")).map(|_| line(MediaKind::Video)));
    OfferSpec {
        media,
        data_channels: false,
        ice_restart: false,
    }
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

    fn init(&mut self, config: Value) -> Result<(), String> {
        self.config = config;
        for _ in 0..self
            .config
            .get("inputs")
            .and_then(Value::as_u64)
            .unwrap_or(0)
        {
            let port = self.config.get("port").and_then(Value::as_u64).unwrap_or(0);
            self.inputs.push(open_input(port as u16)?);
        }
        if self.flag("fail_init") {
            return Err("init fails on request".into());
        }
        Ok(())
    }

    fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
        self.messages += 1;
        let body = &msg.body;
        match body.get("request").and_then(Value::as_str) {
            Some("config") => Ok(Reply::Sync(json!({ "config": self.config }))),
            Some("media_events") => Ok(Reply::Sync(json!({ "events": self.media_events }))),
            Some("save_config") => {
                // `config` as JSON, or `text` as is (to send what is not JSON at all).
                use portunus_plugin_sdk::bindings::portunus::plugin::host::save_config;
                let text = match body.get("text").and_then(Value::as_str) {
                    Some(t) => t.to_owned(),
                    None => body
                        .get("config")
                        .cloned()
                        .unwrap_or(Value::Null)
                        .to_string(),
                };
                outcome(save_config(&text).map(|()| true))
            }
            Some("talk_detect") => {
                let config =
                    (!body.get("off").is_some_and(|v| v == true)).then(TalkDetection::default);
                outcome(host::talk_detect(&media_ref(body), config).map(|()| true))
            }
            Some("rtp_forward") => {
                let forward = RtpForward {
                    source: media_ref(body),
                    host: body
                        .get("host")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    port: body
                        .get("port")
                        .and_then(Value::as_u64)
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(0),
                    ssrc: None,
                    pt: opt_u8(body, "pt"),
                    substream: opt_u8(body, "substream"),
                    rtcp_port: None,
                };
                outcome(host::rtp_forward_add(&forward))
            }
            Some("rtp_forward_remove") => {
                host::rtp_forward_remove(body.get("id").and_then(Value::as_u64).unwrap_or(0));
                outcome(Ok(true))
            }
            Some("create_offer") => outcome(host::create_offer(msg.handle, &offer_spec(body))),
            Some("push_prepared_offer") => outcome(host::push_event(
                msg.handle,
                Some(&msg.transaction),
                &json!({ "offer": "prepared" }),
                Some(&JsepOut::PreparedOffer),
            )),
            Some("push_offer") => outcome(host::push_event(
                msg.handle,
                Some(&msg.transaction),
                &json!({ "offer": "direct" }),
                Some(&JsepOut::Offer(offer_spec(body))),
            )),
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
            Some("inputs") => Ok(Reply::Sync(json!({ "inputs": self.inputs }))),
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

    fn on_media_event(&mut self, event: MediaEvent) {
        self.media_events.push(match event {
            MediaEvent::LayerChanged(c) => json!({
                "layer_changed": { "route": c.route, "handle": c.target.handle,
                    "mid": c.target.mid, "substream": c.substream, "temporal": c.temporal }
            }),
            MediaEvent::TalkChanged(c) => json!({
                "talk_changed": { "handle": c.source.handle, "mid": c.source.mid,
                    "talking": c.talking, "level": c.level_dbov_avg }
            }),
            MediaEvent::InputMedia(m) => json!({
                "input_media": { "source": m.source.handle, "mid": m.source.mid,
                    "receiving": m.receiving }
            }),
        });
    }

    fn snapshot(&mut self) -> Option<Vec<u8>> {
        if self.flag("no_snapshot") {
            return None;
        }
        let state = json!({ "messages": self.messages, "inputs": self.inputs });
        Some(state.to_string().into_bytes())
    }

    fn restore(&mut self, state: Vec<u8>) -> Result<(), String> {
        if self.flag("fail_restore") {
            return Err("restore fails on request".into());
        }
        let state: Value = serde_json::from_slice(&state).map_err(|e| e.to_string())?;
        self.messages = state["messages"].as_u64().ok_or("bad snapshot")?;
        // The old inputs come back; the ones this `init` opened are closed.
        for id in std::mem::take(&mut self.inputs) {
            host::rtp_input_remove(id);
        }
        self.inputs = serde_json::from_value(state["inputs"].clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Trap {
    fn flag(&self, key: &str) -> bool {
        self.config.get(key).is_some_and(|v| v == true)
    }
}

export_plugin!(Trap);
