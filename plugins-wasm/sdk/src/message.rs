use serde_json::Value;

use crate::{HandleId, JsepIn};

/// A `message` request from a client.
#[derive(Debug, Clone)]
pub struct Message {
    pub handle: HandleId,
    /// The request's transaction; events answering it must carry the same one.
    pub transaction: String,
    /// The request's `body`. `Value::Null` when the client sent none (or not JSON).
    pub body: Value,
    /// The JSEP that came with the request, already parsed by the core.
    pub jsep: Option<JsepIn>,
}

/// How a plugin answers a `message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A synchronous `success`; this object becomes `plugindata.data`.
    Sync(Value),
    /// An `ack` (with an optional hint); the result follows as an event.
    Ack(Option<String>),
}

impl Reply {
    /// `ack` with a hint, e.g. Janus's `"I'm taking my time!"`.
    pub fn ack_with_hint(hint: impl Into<String>) -> Reply {
        Reply::Ack(Some(hint.into()))
    }
}
