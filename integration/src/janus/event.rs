use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSEP object as carried in `message` requests and plugin events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jsep {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
    /// `false` tells the gateway no trickle candidates will follow.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trickle: Option<bool>,
}

impl Jsep {
    pub fn offer(sdp: String) -> Self {
        Jsep {
            kind: "offer".into(),
            sdp,
            trickle: None,
        }
    }
}

/// An asynchronous message from the gateway (anything that is not the reply to a request).
#[derive(Debug, Clone, PartialEq)]
pub enum JanusEvent {
    /// `janus:"event"`: a plugin event, with the request's transaction if it answers one.
    Plugin {
        session_id: u64,
        sender: u64,
        transaction: Option<String>,
        plugin: String,
        data: Value,
        jsep: Option<Jsep>,
    },
    /// ICE and DTLS are up for the handle.
    WebrtcUp { session_id: u64, sender: u64 },
    /// Media started or stopped flowing on an m-line.
    Media {
        session_id: u64,
        sender: u64,
        mid: Option<String>,
        kind: String,
        receiving: bool,
    },
    /// The handle's PeerConnection went away.
    Hangup {
        session_id: u64,
        sender: u64,
        reason: String,
    },
    /// The handle was destroyed.
    Detached { session_id: u64, sender: u64 },
    /// The session expired.
    Timeout { session_id: u64 },
    /// Anything else (`slowlink`, server `trickle`, unknown kinds), raw.
    Other(Value),
}

impl JanusEvent {
    /// Parses one gateway message. Never fails: unknown shapes become [`JanusEvent::Other`].
    pub fn from_value(v: Value) -> Self {
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let session_id = u("session_id");
        let sender = u("sender");
        match v.get("janus").and_then(Value::as_str) {
            Some("event") => {
                let jsep = v
                    .get("jsep")
                    .and_then(|j| serde_json::from_value::<Jsep>(j.clone()).ok());
                JanusEvent::Plugin {
                    session_id,
                    sender,
                    transaction: v
                        .get("transaction")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    plugin: v
                        .pointer("/plugindata/plugin")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    data: v
                        .pointer("/plugindata/data")
                        .cloned()
                        .unwrap_or(Value::Null),
                    jsep,
                }
            }
            Some("webrtcup") => JanusEvent::WebrtcUp { session_id, sender },
            Some("media") => JanusEvent::Media {
                session_id,
                sender,
                mid: v.get("mid").and_then(Value::as_str).map(str::to_string),
                kind: v
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                receiving: v.get("receiving").and_then(Value::as_bool).unwrap_or(false),
            },
            Some("hangup") => JanusEvent::Hangup {
                session_id,
                sender,
                reason: v
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            },
            Some("detached") => JanusEvent::Detached { session_id, sender },
            Some("timeout") => JanusEvent::Timeout { session_id },
            _ => JanusEvent::Other(v),
        }
    }

    /// The session the event belongs to (0 if it carried none).
    pub fn session_id(&self) -> u64 {
        match self {
            JanusEvent::Plugin { session_id, .. }
            | JanusEvent::WebrtcUp { session_id, .. }
            | JanusEvent::Media { session_id, .. }
            | JanusEvent::Hangup { session_id, .. }
            | JanusEvent::Detached { session_id, .. }
            | JanusEvent::Timeout { session_id } => *session_id,
            JanusEvent::Other(v) => v.get("session_id").and_then(Value::as_u64).unwrap_or(0),
        }
    }

    /// The handle the event is about (0 for session-level events).
    pub fn sender(&self) -> u64 {
        match self {
            JanusEvent::Plugin { sender, .. }
            | JanusEvent::WebrtcUp { sender, .. }
            | JanusEvent::Media { sender, .. }
            | JanusEvent::Hangup { sender, .. }
            | JanusEvent::Detached { sender, .. } => *sender,
            JanusEvent::Timeout { .. } => 0,
            JanusEvent::Other(v) => v.get("sender").and_then(Value::as_u64).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_plugin_event_with_jsep() {
        let ev = JanusEvent::from_value(json!({
            "janus": "event", "session_id": 1, "sender": 2, "transaction": "t",
            "plugindata": {"plugin": "janus.plugin.echotest", "data": {"echotest": "event", "result": "ok"}},
            "jsep": {"type": "answer", "sdp": "v=0\r\n"}
        }));
        let JanusEvent::Plugin {
            transaction,
            plugin,
            data,
            jsep,
            ..
        } = ev
        else {
            panic!("not a plugin event");
        };
        assert_eq!(transaction.as_deref(), Some("t"));
        assert_eq!(plugin, "janus.plugin.echotest");
        assert_eq!(data["result"], "ok");
        assert_eq!(jsep.map(|j| j.kind).as_deref(), Some("answer"));
    }

    #[test]
    fn parses_core_events() {
        let ev = JanusEvent::from_value(
            json!({"janus": "hangup", "session_id": 5, "sender": 6, "reason": "Janus API"}),
        );
        assert_eq!(
            ev,
            JanusEvent::Hangup {
                session_id: 5,
                sender: 6,
                reason: "Janus API".into()
            }
        );
        let ev = JanusEvent::from_value(json!({"janus": "timeout", "session_id": 5}));
        assert_eq!(ev.session_id(), 5);
        assert_eq!(ev.sender(), 0);
        let ev = JanusEvent::from_value(
            json!({"janus": "media", "session_id": 5, "sender": 6, "mid": "0", "type": "audio", "receiving": true}),
        );
        assert!(
            matches!(ev, JanusEvent::Media { receiving: true, ref kind, .. } if kind == "audio")
        );
        let ev = JanusEvent::from_value(json!({"janus": "slowlink", "sender": 6}));
        assert!(matches!(ev, JanusEvent::Other(_)));
        assert_eq!(ev.sender(), 6);
    }
}
