//! Janus API client: WebSocket (`janus-protocol`) or HTTP (POST + long-poll GET).
//!
//! Both transports feed the same model: a request gets its reply matched by `transaction`;
//! everything else (plugin events, `webrtcup`, `media`, `hangup`, `timeout`, ...) is queued as a
//! [`JanusEvent`] and read with [`JanusClient::next_event`] / [`JanusClient::wait_event`].

mod error;
mod event;
mod http;
pub mod plugin;
mod queue;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

pub use error::JanusError;
pub use event::{JanusEvent, Jsep};

/// Where the gateway listens, and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://host:port` (any path); the client asks for subprotocol `janus-protocol`.
    WebSocket(String),
    /// Base URL of the REST API, e.g. `http://127.0.0.1:8088/janus`.
    Http(String),
}

impl Endpoint {
    /// Short name for logs and test output.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::WebSocket(_) => "ws",
            Endpoint::Http(_) => "http",
        }
    }
}

/// Result of a plugin `message`.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageReply {
    /// The plugin answered synchronously: `plugindata.data` (which may itself hold a plugin-level
    /// `error_code`, as Janus reports those as `success`).
    Sync(Value),
    /// The plugin acked; its result comes later as an event with this transaction.
    Ack { transaction: String },
}

/// Credentials added to every request when set (Janus `apisecret` / `token`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub api_secret: Option<String>,
    pub token: Option<String>,
}

enum Transport {
    Ws(ws::WsTransport),
    Http(http::HttpTransport),
}

/// A connection to a Janus-API gateway. Methods take `&self`, so one client can be shared by
/// several tasks (e.g. many handles of one session in the load tool).
pub struct JanusClient {
    transport: Transport,
    credentials: Credentials,
    request_timeout: Duration,
    events: Arc<queue::EventQueue>,
}

impl JanusClient {
    /// Connects (WebSocket handshake, or nothing yet for HTTP).
    pub async fn connect(endpoint: &Endpoint) -> Result<Self, JanusError> {
        Self::connect_with(endpoint, Credentials::default()).await
    }

    /// Connects and adds `credentials` to every request.
    pub async fn connect_with(
        endpoint: &Endpoint,
        credentials: Credentials,
    ) -> Result<Self, JanusError> {
        let events = Arc::new(queue::EventQueue::default());
        let transport = match endpoint {
            Endpoint::WebSocket(url) => {
                Transport::Ws(ws::WsTransport::connect(url, events.clone()).await?)
            }
            Endpoint::Http(base) => {
                Transport::Http(http::HttpTransport::new(base, events.clone())?)
            }
        };
        Ok(JanusClient {
            transport,
            credentials,
            request_timeout: Duration::from_secs(15),
            events,
        })
    }

    /// How long a request waits for its reply (default 15 s).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Sends one request and returns the raw reply, whatever its `janus` kind (`success`,
    /// `error`, `ack`, `server_info`, `pong`). A `transaction` is added if `body` has none; the
    /// session/handle go in the body (WebSocket) or the URL path (HTTP), as janus.js does.
    pub async fn request(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        mut body: Value,
    ) -> Result<Value, JanusError> {
        let Some(obj) = body.as_object_mut() else {
            return Err(JanusError::Protocol(
                "request body must be a JSON object".into(),
            ));
        };
        if !obj.contains_key("transaction") {
            obj.insert("transaction".into(), Value::String(new_transaction()));
        }
        if let Some(secret) = &self.credentials.api_secret {
            obj.entry("apisecret").or_insert_with(|| json!(secret));
        }
        if let Some(token) = &self.credentials.token {
            obj.entry("token").or_insert_with(|| json!(token));
        }
        let fut = async {
            match &self.transport {
                Transport::Ws(t) => t.request(session, handle, body).await,
                Transport::Http(t) => t.request(session, handle, body).await,
            }
        };
        tokio::time::timeout(self.request_timeout, fut)
            .await
            .map_err(|_| JanusError::Timeout("reply to request"))?
    }

    /// Like [`request`](Self::request) but turns `janus:"error"` into [`JanusError::Api`] and
    /// checks the reply kind.
    async fn call(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        body: Value,
        expect: &[&str],
    ) -> Result<Value, JanusError> {
        let reply = self.request(session, handle, body).await?;
        let kind = reply.get("janus").and_then(Value::as_str).unwrap_or("");
        if kind == "error" {
            return Err(JanusError::from_error_reply(&reply));
        }
        if !expect.contains(&kind) {
            return Err(JanusError::Protocol(format!(
                "expected {expect:?}, got reply {reply}"
            )));
        }
        Ok(reply)
    }

    /// `info`: the `server_info` object.
    pub async fn info(&self) -> Result<Value, JanusError> {
        self.call(None, None, json!({"janus": "info"}), &["server_info"])
            .await
    }

    /// `ping` → `pong`.
    pub async fn ping(&self) -> Result<(), JanusError> {
        self.call(None, None, json!({"janus": "ping"}), &["pong"])
            .await
            .map(drop)
    }

    /// `create`: a new session. Over HTTP this also starts its long poll.
    pub async fn create(&self) -> Result<u64, JanusError> {
        let reply = self
            .call(None, None, json!({"janus": "create"}), &["success"])
            .await?;
        let id = reply
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                JanusError::Protocol(format!("create reply without data.id: {reply}"))
            })?;
        if let Transport::Http(t) = &self.transport {
            t.start_long_poll(id, self.credentials.clone());
        }
        Ok(id)
    }

    /// `attach` to a plugin package (e.g. `janus.plugin.echotest`); returns the handle id.
    pub async fn attach(&self, session: u64, plugin: &str) -> Result<u64, JanusError> {
        let body = json!({"janus": "attach", "plugin": plugin, "opaque_id": format!("portunus-test-{}", new_transaction())});
        let reply = self.call(Some(session), None, body, &["success"]).await?;
        reply
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .ok_or_else(|| JanusError::Protocol(format!("attach reply without data.id: {reply}")))
    }

    /// `message` with a plugin `body` and optional JSEP.
    pub async fn message(
        &self,
        session: u64,
        handle: u64,
        body: Value,
        jsep: Option<&Jsep>,
    ) -> Result<MessageReply, JanusError> {
        let transaction = new_transaction();
        let mut req = json!({"janus": "message", "transaction": transaction, "body": body});
        if let Some(jsep) = jsep {
            req["jsep"] = serde_json::to_value(jsep)
                .map_err(|e| JanusError::Protocol(format!("jsep: {e}")))?;
        }
        let reply = self
            .call(Some(session), Some(handle), req, &["success", "ack"])
            .await?;
        if reply.get("janus").and_then(Value::as_str) == Some("ack") {
            return Ok(MessageReply::Ack { transaction });
        }
        let data = reply
            .pointer("/plugindata/data")
            .cloned()
            .ok_or_else(|| JanusError::Protocol(format!("success without plugindata: {reply}")))?;
        Ok(MessageReply::Sync(data))
    }

    /// `trickle` one candidate (`{"candidate","sdpMid","sdpMLineIndex"}`).
    pub async fn trickle(
        &self,
        session: u64,
        handle: u64,
        candidate: Value,
    ) -> Result<(), JanusError> {
        let req = json!({"janus": "trickle", "candidate": candidate});
        self.call(Some(session), Some(handle), req, &["ack"])
            .await
            .map(drop)
    }

    /// `trickle` several candidates at once (`candidates` array).
    pub async fn trickle_many(
        &self,
        session: u64,
        handle: u64,
        candidates: Vec<Value>,
    ) -> Result<(), JanusError> {
        let req = json!({"janus": "trickle", "candidates": candidates});
        self.call(Some(session), Some(handle), req, &["ack"])
            .await
            .map(drop)
    }

    /// `trickle` `{"completed": true}`: no more candidates.
    pub async fn trickle_completed(&self, session: u64, handle: u64) -> Result<(), JanusError> {
        self.trickle(session, handle, json!({"completed": true}))
            .await
    }

    /// `keepalive` for a session.
    pub async fn keepalive(&self, session: u64) -> Result<(), JanusError> {
        self.call(Some(session), None, json!({"janus": "keepalive"}), &["ack"])
            .await
            .map(drop)
    }

    /// `claim` a session onto this connection.
    pub async fn claim(&self, session: u64) -> Result<(), JanusError> {
        self.call(Some(session), None, json!({"janus": "claim"}), &["success"])
            .await
            .map(drop)
    }

    /// `hangup`: closes the handle's PeerConnection (a `hangup` event follows if there was one).
    pub async fn hangup(&self, session: u64, handle: u64) -> Result<(), JanusError> {
        self.call(
            Some(session),
            Some(handle),
            json!({"janus": "hangup"}),
            &["success"],
        )
        .await
        .map(drop)
    }

    /// `detach` a handle (a `detached` event follows).
    pub async fn detach(&self, session: u64, handle: u64) -> Result<(), JanusError> {
        self.call(
            Some(session),
            Some(handle),
            json!({"janus": "detach"}),
            &["success"],
        )
        .await
        .map(drop)
    }

    /// `destroy` a session. Over HTTP its long poll then ends by itself (404).
    pub async fn destroy(&self, session: u64) -> Result<(), JanusError> {
        self.call(
            Some(session),
            None,
            json!({"janus": "destroy"}),
            &["success"],
        )
        .await
        .map(drop)
    }

    /// Sends raw text as-is (malformed-input tests). HTTP returns `(status, body)`; over
    /// WebSocket the gateway's answer cannot be matched and arrives as an event.
    pub async fn send_raw(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        text: String,
    ) -> Result<Option<(u16, String)>, JanusError> {
        match &self.transport {
            Transport::Ws(t) => t.send_raw(text).await.map(|()| None),
            Transport::Http(t) => t.post_raw(session, handle, text).await.map(Some),
        }
    }

    /// Closes the connection: a WebSocket Close frame; over HTTP the long polls stop.
    pub async fn close(self) -> Result<(), JanusError> {
        match &self.transport {
            Transport::Ws(t) => t.close().await,
            // Dropping the transport aborts the pollers.
            Transport::Http(_) => Ok(()),
        }
    }

    /// The next asynchronous event, or [`JanusError::Timeout`].
    pub async fn next_event(&self, timeout: Duration) -> Result<JanusEvent, JanusError> {
        self.wait_event(timeout, |_| true).await
    }

    /// Waits for the first event matching `pred`; events that don't match stay queued (in order)
    /// for later calls, so a test can wait for `webrtcup` without losing `media` events. Many
    /// tasks may wait at once (e.g. one per handle).
    pub async fn wait_event(
        &self,
        timeout: Duration,
        pred: impl FnMut(&JanusEvent) -> bool,
    ) -> Result<JanusEvent, JanusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.events.take(deadline, pred).await
    }

    /// Every event queued now, without waiting.
    pub fn drain_events(&self) -> Vec<JanusEvent> {
        self.events.drain()
    }
}

/// A random transaction id, like janus.js's 12 alphanumeric characters.
pub fn new_transaction() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}
