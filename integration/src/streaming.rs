//! A small Streaming client (`janus.plugin.streaming`, Janus 1.x API) on a [`JanusClient`]
//! and the str0m [`Peer`]: what streamingtest does, as typed steps returning the plugin's
//! JSON. Every wait is bounded by the handle's timeout.
//!
//! - [`StreamingHandle`]: one attached handle ([`PluginHandle`]): synchronous requests,
//!   asynchronous requests (ack, then the event with the same transaction), waiting for events.
//! - [`Viewer`]: `watch`, answer the plugin's offer with `start`, wait for the
//!   PeerConnection; its peer counts what arrives.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::janus::plugin::{JanusPlugin, PluginError, PluginHandle, merge};
pub use crate::janus::plugin::{Reply, check};
use crate::janus::{JanusClient, Jsep};
use crate::peer::{Peer, PeerConfig};

/// Janus package name of the Streaming plugin.
pub const STREAMING: &str = "janus.plugin.streaming";

/// The Streaming plugin, for [`PluginHandle`].
#[derive(Debug, Clone, Copy)]
pub struct Streaming;

impl JanusPlugin for Streaming {
    const PACKAGE: &'static str = STREAMING;
}

/// One Streaming handle.
pub type StreamingHandle = PluginHandle<Streaming>;

/// The gateway failed, the plugin refused (`error_code`), or the peer failed.
pub type StreamingError = PluginError;

pub type Result<T, E = StreamingError> = std::result::Result<T, E>;

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
        let watch = merge(json!({"request": "watch"}), &body);
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
