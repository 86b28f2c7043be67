//! A small Streaming client (`janus.plugin.streaming`, Janus 1.x API) on a [`JanusClient`]
//! and the str0m [`Peer`]: what streamingtest does, as typed steps returning the plugin's
//! JSON. Every wait is bounded by the handle's timeout.
//!
//! - [`StreamingHandle`]: one attached handle; synchronous requests, asynchronous requests
//!   (ack, then the event with the same transaction), waiting for events.
//! - [`Viewer`]: `watch`, answer the plugin's offer with `start`, wait for the
//!   PeerConnection; its peer counts what arrives.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::janus::{JanusClient, JanusError, JanusEvent, Jsep, MessageReply};
use crate::peer::{Peer, PeerConfig, PeerError};

/// Janus package name of the Streaming plugin.
pub const STREAMING: &str = "janus.plugin.streaming";

#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    #[error(transparent)]
    Janus(#[from] JanusError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The plugin answered with `error_code` (inside `success` or an `event`).
    #[error("streaming error {code}: {data}")]
    Plugin { code: u64, data: Value },
    #[error("{0}")]
    Unexpected(String),
}

impl StreamingError {
    /// The Streaming error code, if the plugin refused.
    pub fn code(&self) -> Option<u64> {
        match self {
            StreamingError::Plugin { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = StreamingError> = std::result::Result<T, E>;

/// `Err(Plugin)` if `data` carries an `error_code`.
pub fn check(data: Value) -> Result<Value> {
    match data.get("error_code").and_then(Value::as_u64) {
        Some(code) => Err(StreamingError::Plugin { code, data }),
        None => Ok(data),
    }
}

/// A plugin event (or synchronous reply) with its JSEP.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub data: Value,
    pub jsep: Option<Jsep>,
}

/// One Streaming handle.
#[derive(Clone)]
pub struct StreamingHandle {
    pub client: Arc<JanusClient>,
    pub session: u64,
    pub handle: u64,
    /// Bound of every wait.
    pub timeout: Duration,
}

impl StreamingHandle {
    pub async fn attach(
        client: Arc<JanusClient>,
        session: u64,
        timeout: Duration,
    ) -> Result<StreamingHandle> {
        let handle = client.attach(session, STREAMING).await?;
        Ok(StreamingHandle {
            client,
            session,
            handle,
            timeout,
        })
    }

    /// Any request: a synchronous reply as is, or for an `ack` the plugin event carrying the
    /// request's transaction. `error_code` included if any.
    pub async fn send(&self, body: Value, jsep: Option<&Jsep>) -> Result<Reply> {
        match self
            .client
            .message(self.session, self.handle, body, jsep)
            .await?
        {
            MessageReply::Sync(data) => Ok(Reply { data, jsep: None }),
            MessageReply::Ack { transaction } => {
                let ev = self
                    .client
                    .wait_event(self.timeout, |e| {
                        matches!(e, JanusEvent::Plugin { transaction: Some(t), .. } if *t == transaction)
                    })
                    .await
                    .map_err(|e| {
                        StreamingError::Unexpected(format!(
                            "no event for transaction {transaction}: {e}"
                        ))
                    })?;
                plugin_reply(ev)
            }
        }
    }

    /// [`send`](Self::send) without JSEP, with an `error_code` turned into `Err`.
    pub async fn request_ok(&self, body: Value) -> Result<Value> {
        check(self.send(body, None).await?.data)
    }

    /// Waits for the first Streaming event on this handle matching `pred` (other events stay
    /// queued for later waits).
    pub async fn wait(&self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Result<Reply> {
        let handle = self.handle;
        let ev = self
            .client
            .wait_event(self.timeout, |e| match e {
                JanusEvent::Plugin { sender, data, .. } if *sender == handle => pred(data),
                _ => false,
            })
            .await
            .map_err(|e| StreamingError::Unexpected(format!("waiting for {what}: {e}")))?;
        plugin_reply(ev)
    }

    /// Waits for a core event on this handle (`webrtcup`, `hangup`, ...).
    pub async fn wait_core(
        &self,
        what: &str,
        mut pred: impl FnMut(&JanusEvent) -> bool,
    ) -> Result<JanusEvent> {
        let handle = self.handle;
        self.client
            .wait_event(self.timeout, |e| {
                !matches!(e, JanusEvent::Plugin { .. }) && e.sender() == handle && pred(e)
            })
            .await
            .map_err(|e| StreamingError::Unexpected(format!("waiting for {what}: {e}")))
    }

    /// Trickles `candidates` and then `completed`.
    pub async fn trickle(&self, candidates: &[Value]) -> Result<()> {
        for c in candidates {
            self.client
                .trickle(self.session, self.handle, c.clone())
                .await?;
        }
        self.client
            .trickle_completed(self.session, self.handle)
            .await?;
        Ok(())
    }
}

/// The data and JSEP of a Streaming plugin event.
fn plugin_reply(ev: JanusEvent) -> Result<Reply> {
    match ev {
        JanusEvent::Plugin {
            plugin, data, jsep, ..
        } if plugin == STREAMING => Ok(Reply { data, jsep }),
        other => Err(StreamingError::Unexpected(format!(
            "not a Streaming event: {other:?}"
        ))),
    }
}

/// `result.status` of a Streaming event.
pub fn status(data: &Value) -> Option<&str> {
    data.pointer("/result/status").and_then(Value::as_str)
}

/// A viewer: a handle watching a mountpoint and its PeerConnection.
pub struct Viewer {
    pub handle: StreamingHandle,
    pub peer: Peer,
    /// The `preparing` event.
    pub preparing: Value,
}

impl Viewer {
    /// `watch` with `body` (`{"id": ..., ...}`), answers the offer with `start`, waits for
    /// `webrtcup`, the `started` event and the local peer's connection.
    pub async fn watch(
        client: Arc<JanusClient>,
        session: u64,
        body: Value,
        timeout: Duration,
    ) -> Result<Viewer> {
        let handle = StreamingHandle::attach(client, session, timeout).await?;
        let mut watch = json!({"request": "watch"});
        if let (Some(w), Some(b)) = (watch.as_object_mut(), body.as_object()) {
            w.extend(b.clone());
        }
        let reply = handle.send(watch, None).await?;
        let data = check(reply.data)?;
        if status(&data) != Some("preparing") {
            return Err(StreamingError::Unexpected(format!(
                "watch answered with {data}"
            )));
        }
        let offer = reply.jsep.ok_or_else(|| {
            StreamingError::Unexpected(format!("preparing without an offer: {data}"))
        })?;
        let peer = Peer::start(PeerConfig {
            data_channel: None,
            ..PeerConfig::default()
        })
        .await?;
        let answer = peer.accept_offer(&offer.sdp).await?;
        let jsep = Jsep {
            kind: "answer".into(),
            sdp: answer.sdp,
            trickle: None,
        };
        let started = handle
            .send(json!({"request": "start"}), Some(&jsep))
            .await?;
        let started = check(started.data)?;
        handle.trickle(&answer.candidates).await?;
        match status(&started) {
            Some("starting") => {
                handle
                    .wait("started", |d| status(d) == Some("started"))
                    .await?;
            }
            Some("started") => {}
            _ => {
                return Err(StreamingError::Unexpected(format!(
                    "start answered with {started}"
                )));
            }
        }
        peer.wait_until(timeout, "viewer connected", |s| s.connected)
            .await?;
        Ok(Viewer {
            handle,
            peer,
            preparing: data,
        })
    }
}
