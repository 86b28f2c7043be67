//! A small VideoRoom client (`janus.plugin.videoroom`, Janus 1.x multistream API) on a
//! [`JanusClient`] and the str0m [`Peer`]: what videoroomtest/mvideoroomtest do, as typed
//! steps returning the plugin's JSON. Every wait is bounded by the handle's timeout.
//!
//! - [`RoomHandle`]: one attached handle; synchronous requests, asynchronous requests
//!   (ack, then the event with the same transaction), waiting for events.
//! - [`Publisher`]: join as publisher, publish an offer (optionally simulcast), send media.
//! - [`Subscriber`]: join as subscriber, answer the plugin's offer with `start`, renegotiate
//!   on `update`/`updated`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::janus::{JanusClient, JanusError, JanusEvent, Jsep, MessageReply};
use crate::peer::{Direction, MediaSource, Peer, PeerConfig, PeerError};

/// Janus package name of the VideoRoom plugin.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

#[derive(Debug, thiserror::Error)]
pub enum VideoRoomError {
    #[error(transparent)]
    Janus(#[from] JanusError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The plugin answered with `error_code` (inside `success` or an `event`).
    #[error("videoroom error {code}: {error} ({data})")]
    Plugin {
        code: u64,
        error: String,
        data: Value,
    },
    #[error("{0}")]
    Unexpected(String),
}

impl VideoRoomError {
    /// The VideoRoom error code, if the plugin refused.
    pub fn code(&self) -> Option<u64> {
        match self {
            VideoRoomError::Plugin { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = VideoRoomError> = std::result::Result<T, E>;

/// The plugin's `error_code` in a reply or event, if any.
pub fn error_code(data: &Value) -> Option<u64> {
    data.get("error_code").and_then(Value::as_u64)
}

/// `Err(Plugin)` if `data` carries an `error_code`.
pub fn check(data: Value) -> Result<Value> {
    match error_code(&data) {
        Some(code) => Err(VideoRoomError::Plugin {
            code,
            error: data
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            data,
        }),
        None => Ok(data),
    }
}

/// A plugin event (or synchronous reply) with its JSEP.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub data: Value,
    pub jsep: Option<Jsep>,
}

/// `base` (an object) with the keys of `extra` (an object, or null) added or replaced.
pub fn merge(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// One VideoRoom handle.
#[derive(Clone)]
pub struct RoomHandle {
    pub client: Arc<JanusClient>,
    pub session: u64,
    pub handle: u64,
    /// Bound of every wait.
    pub timeout: Duration,
}

impl RoomHandle {
    /// Attaches a new VideoRoom handle to `session`.
    pub async fn attach(
        client: Arc<JanusClient>,
        session: u64,
        timeout: Duration,
    ) -> Result<RoomHandle> {
        let handle = client.attach(session, VIDEOROOM).await?;
        Ok(RoomHandle {
            client,
            session,
            handle,
            timeout,
        })
    }

    /// A synchronous request (`create`, `exists`, `kick`, `rtp_forward`, ...): the reply's
    /// `plugindata.data`, `error_code` included if the plugin refused.
    pub async fn request(&self, body: Value) -> Result<Value> {
        Ok(self.send(body, None).await?.data)
    }

    /// [`request`](Self::request), with an `error_code` turned into `Err`.
    pub async fn request_ok(&self, body: Value) -> Result<Value> {
        check(self.request(body).await?)
    }

    /// Any request: a synchronous reply as is, or for an `ack` the plugin event carrying the
    /// request's transaction (bounded by the timeout). `error_code` included if any.
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
                        VideoRoomError::Unexpected(format!(
                            "no event for transaction {transaction}: {e}"
                        ))
                    })?;
                plugin_reply(ev)
            }
        }
    }

    /// [`send`](Self::send), with an `error_code` turned into `Err`.
    pub async fn send_ok(&self, body: Value, jsep: Option<&Jsep>) -> Result<Reply> {
        let r = self.send(body, jsep).await?;
        Ok(Reply {
            data: check(r.data)?,
            jsep: r.jsep,
        })
    }

    /// Waits for the first VideoRoom event on this handle matching `pred` (other events stay
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
            .map_err(|e| VideoRoomError::Unexpected(format!("waiting for {what}: {e}")))?;
        plugin_reply(ev)
    }

    /// Waits up to `within` for an event on this handle matching `pred`; `None` if there is
    /// none (to check that something does NOT happen).
    pub async fn wait_for(
        &self,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Reply> {
        let handle = self.handle;
        let ev = self
            .client
            .wait_event(within, |e| match e {
                JanusEvent::Plugin { sender, data, .. } if *sender == handle => pred(data),
                _ => false,
            })
            .await
            .ok()?;
        plugin_reply(ev).ok()
    }

    /// Waits for a core event on this handle (`webrtcup`, `hangup`, `media`, ...).
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
            .map_err(|e| VideoRoomError::Unexpected(format!("waiting for {what}: {e}")))
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

    /// Detaches the handle.
    pub async fn detach(&self) -> Result<()> {
        self.client.detach(self.session, self.handle).await?;
        Ok(())
    }
}

/// The data and JSEP of a VideoRoom plugin event.
fn plugin_reply(ev: JanusEvent) -> Result<Reply> {
    match ev {
        JanusEvent::Plugin {
            plugin, data, jsep, ..
        } if plugin == VIDEOROOM => Ok(Reply { data, jsep }),
        other => Err(VideoRoomError::Unexpected(format!(
            "not a VideoRoom event: {other:?}"
        ))),
    }
}

/// How a publisher joins and publishes.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub display: Option<String>,
    /// Keys added to the `join` body (`pin`, `token`, `id`, ...).
    pub join_extra: Value,
    /// Keys added to the `configure`/`publish` body that carries the offer.
    pub publish_extra: Value,
    /// `publish` instead of `configure` (both publish the first time).
    pub use_publish: bool,
    /// The peer: janus.js publishers offer `sendonly`; set `simulcast` for layers.
    pub peer: PeerConfig,
    /// Synthetic media to start once connected, if any.
    pub media: Option<MediaSource>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            display: None,
            join_extra: Value::Null,
            publish_extra: Value::Null,
            use_publish: false,
            peer: PeerConfig {
                direction: Direction::SendOnly,
                ..PeerConfig::default()
            },
            media: Some(MediaSource::default()),
        }
    }
}

impl PublishOptions {
    /// Default options with three simulcast layers (RIDs `h`, `m`, `l`, as janus.js).
    pub fn simulcast() -> Self {
        let mut o = PublishOptions::default();
        o.peer.simulcast = ["h", "m", "l"].iter().map(|r| r.to_string()).collect();
        o
    }
}

/// A publishing participant: its handle, PeerConnection and ids.
pub struct Publisher {
    pub handle: RoomHandle,
    pub peer: Option<Peer>,
    pub room: u64,
    pub id: u64,
    pub private_id: u64,
    /// The `joined` event.
    pub joined: Value,
    /// The `configured` event answering the offer (with `streams`).
    pub configured: Value,
}

impl Publisher {
    /// `join` as publisher on a new handle (no media yet).
    pub async fn join(
        client: Arc<JanusClient>,
        session: u64,
        room: u64,
        opts: &PublishOptions,
        timeout: Duration,
    ) -> Result<Publisher> {
        let handle = RoomHandle::attach(client, session, timeout).await?;
        let mut body = json!({"request": "join", "ptype": "publisher", "room": room});
        if let Some(d) = &opts.display {
            body["display"] = json!(d);
        }
        let body = merge(body, &opts.join_extra);
        let joined = handle.send_ok(body, None).await?.data;
        if joined["videoroom"] != "joined" {
            return Err(VideoRoomError::Unexpected(format!(
                "join answered with {joined}"
            )));
        }
        let id = joined["id"]
            .as_u64()
            .ok_or_else(|| VideoRoomError::Unexpected(format!("joined without id: {joined}")))?;
        let private_id = joined["private_id"].as_u64().unwrap_or(0);
        Ok(Publisher {
            handle,
            peer: None,
            room,
            id,
            private_id,
            joined,
            configured: Value::Null,
        })
    }

    /// Joins and publishes: the whole janus.js publisher flow, until `webrtcup`, the peer
    /// connected and (if asked) the media source running.
    pub async fn join_and_publish(
        client: Arc<JanusClient>,
        session: u64,
        room: u64,
        opts: &PublishOptions,
        timeout: Duration,
    ) -> Result<Publisher> {
        let mut p = Publisher::join(client, session, room, opts, timeout).await?;
        p.publish(opts).await?;
        Ok(p)
    }

    /// Offers (`configure` or `publish` + JSEP offer), trickles, applies the answer, waits
    /// for `webrtcup` and the local peer's connection, starts the media source.
    pub async fn publish(&mut self, opts: &PublishOptions) -> Result<Value> {
        let peer = Peer::start(opts.peer.clone()).await?;
        let offer = peer.create_offer().await?;
        let request = if opts.use_publish {
            "publish"
        } else {
            "configure"
        };
        let body = merge(
            json!({"request": request, "audio": true, "video": true}),
            &opts.publish_extra,
        );
        let reply = self
            .handle
            .send_ok(body, Some(&Jsep::offer(offer.sdp.clone())))
            .await?;
        self.handle.trickle(&offer.candidates).await?;
        let answer = match reply.jsep {
            Some(j) if j.kind == "answer" => j,
            other => {
                return Err(VideoRoomError::Unexpected(format!(
                    "{request} with an offer answered without an answer JSEP: {} {other:?}",
                    reply.data
                )));
            }
        };
        peer.accept_answer(&answer.sdp).await?;
        self.handle
            .wait_core("publisher webrtcup", |e| {
                matches!(e, JanusEvent::WebrtcUp { .. })
            })
            .await?;
        peer.wait_until(self.handle.timeout, "publisher connected", |s| s.connected)
            .await?;
        if let Some(media) = &opts.media {
            peer.start_media(media.clone()).await?;
        }
        self.configured = reply.data.clone();
        self.peer = Some(peer);
        Ok(reply.data)
    }

    /// The publisher's PeerConnection (after [`publish`](Self::publish)).
    pub fn peer(&self) -> Result<&Peer> {
        self.peer
            .as_ref()
            .ok_or_else(|| VideoRoomError::Unexpected("not published".into()))
    }

    /// `configure` without JSEP (bitrate, display, ...): the `configured` event.
    pub async fn configure(&self, body: Value) -> Result<Value> {
        let body = merge(json!({"request": "configure"}), &body);
        Ok(self.handle.send_ok(body, None).await?.data)
    }

    /// The `mid` of our first m-line of `kind` ("audio"/"video") as the plugin listed it.
    pub fn mid_of(&self, kind: &str) -> Option<String> {
        self.configured["streams"]
            .as_array()?
            .iter()
            .find(|s| s["type"] == kind)
            .and_then(|s| s["mid"].as_str())
            .map(str::to_string)
    }
}

/// A subscriber handle and its PeerConnection (answering the plugin's offers).
pub struct Subscriber {
    pub handle: RoomHandle,
    pub peer: Peer,
    /// The `attached` event.
    pub attached: Value,
    /// The last stream summary (`attached` or `updated`).
    pub streams: Vec<Value>,
}

impl Subscriber {
    /// `join` as subscriber with `streams` (`[{feed, mid?}, ...]`) plus `extra` body keys,
    /// answers the offer with `start`, waits for `started`, `webrtcup` and the local peer's
    /// connection.
    pub async fn join(
        client: Arc<JanusClient>,
        session: u64,
        room: u64,
        streams: Value,
        extra: Value,
        timeout: Duration,
    ) -> Result<Subscriber> {
        let handle = RoomHandle::attach(client, session, timeout).await?;
        let body = merge(
            json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
            &extra,
        );
        let reply = handle.send_ok(body, None).await?;
        if reply.data["videoroom"] != "attached" {
            return Err(VideoRoomError::Unexpected(format!(
                "subscriber join answered with {}",
                reply.data
            )));
        }
        let offer = reply.jsep.clone().ok_or_else(|| {
            VideoRoomError::Unexpected(format!("attached without an offer: {}", reply.data))
        })?;
        let peer = Peer::start(PeerConfig {
            data_channel: None,
            ..PeerConfig::default()
        })
        .await?;
        let sub = Subscriber {
            handle,
            peer,
            streams: streams_of(&reply.data),
            attached: reply.data,
        };
        sub.answer(&offer).await?;
        sub.handle
            .wait_core("subscriber webrtcup", |e| {
                matches!(e, JanusEvent::WebrtcUp { .. })
            })
            .await?;
        sub.peer
            .wait_until(timeout, "subscriber connected", |s| s.connected)
            .await?;
        Ok(sub)
    }

    /// Answers a plugin offer: `start` + JSEP answer, trickle; returns the `started` event.
    pub async fn answer(&self, offer: &Jsep) -> Result<Value> {
        if offer.kind != "offer" {
            return Err(VideoRoomError::Unexpected(format!(
                "expected an offer JSEP, got {}",
                offer.kind
            )));
        }
        let answer = self.peer.accept_offer(&offer.sdp).await?;
        let jsep = Jsep {
            kind: "answer".into(),
            sdp: answer.sdp,
            trickle: None,
        };
        let reply = self
            .handle
            .send_ok(json!({"request": "start"}), Some(&jsep))
            .await?;
        self.handle.trickle(&answer.candidates).await?;
        if reply.data["started"] != "ok" {
            return Err(VideoRoomError::Unexpected(format!(
                "start answered with {}",
                reply.data
            )));
        }
        Ok(reply.data)
    }

    /// A request that may renegotiate (`update`, `subscribe`, `unsubscribe`, `switch`,
    /// `configure {restart}`): if the reply carries an offer, answers it with `start`.
    pub async fn renegotiate(&mut self, body: Value) -> Result<Value> {
        let reply = self.handle.send_ok(body, None).await?;
        if reply.data.get("streams").is_some() {
            self.streams = streams_of(&reply.data);
        }
        if let Some(offer) = &reply.jsep {
            self.answer(offer).await?;
        }
        Ok(reply.data)
    }

    /// `configure` (substream, temporal, send, ...): the `configured` event.
    pub async fn configure(&self, body: Value) -> Result<Value> {
        let body = merge(json!({"request": "configure"}), &body);
        Ok(self.handle.send_ok(body, None).await?.data)
    }

    /// The subscriber `mid` of the first active stream of `kind` from `feed`.
    pub fn mid_of(&self, feed: u64, kind: &str) -> Option<String> {
        self.streams
            .iter()
            .find(|s| s["feed_id"] == feed && s["type"] == kind && s["active"] != false)
            .and_then(|s| s["mid"].as_str())
            .map(str::to_string)
    }
}

/// The `streams` array of an event, or empty.
pub fn streams_of(data: &Value) -> Vec<Value> {
    data.get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Polls `f` every 50 ms until it returns `Some` or `within` elapses.
pub async fn poll_until<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_become_errors() {
        let ok = json!({"videoroom": "created", "room": 5});
        assert_eq!(check(ok.clone()).ok(), Some(ok));
        let e = check(json!({"videoroom": "event", "error_code": 426, "error": "No such room"}))
            .expect_err("an error");
        assert_eq!(e.code(), Some(426));
        assert!(e.to_string().contains("No such room"));
    }

    #[test]
    fn merges_extra_keys() {
        let b = merge(
            json!({"request": "join", "room": 1}),
            &json!({"pin": "x", "room": 2}),
        );
        assert_eq!(b, json!({"request": "join", "room": 2, "pin": "x"}));
        assert_eq!(merge(json!({"a": 1}), &Value::Null), json!({"a": 1}));
    }
}
