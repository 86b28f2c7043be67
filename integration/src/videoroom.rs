//! A small VideoRoom client (`janus.plugin.videoroom`, Janus 1.x multistream API) on a
//! [`JanusClient`] and the str0m [`Peer`]: what videoroomtest/mvideoroomtest do, as typed
//! steps returning the plugin's JSON. Every wait is bounded by the handle's timeout.
//!
//! - [`RoomHandle`]: one attached handle ([`PluginHandle`]): synchronous requests,
//!   asynchronous requests (ack, then the event with the same transaction), waiting for events.
//! - [`Publisher`]: join as publisher, publish an offer (optionally simulcast), send media.
//! - [`Subscriber`]: join as subscriber, answer the plugin's offer with `start`, renegotiate
//!   on `update`/`updated`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::janus::plugin::{JanusPlugin, PluginError, PluginHandle};
pub use crate::janus::plugin::{Reply, check, error_code, merge};
use crate::janus::{JanusClient, JanusEvent, Jsep};
use crate::peer::{Direction, MediaSource, Peer, PeerConfig};

/// Janus package name of the VideoRoom plugin.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// The VideoRoom plugin, for [`PluginHandle`].
#[derive(Debug, Clone, Copy)]
pub struct VideoRoom;

impl JanusPlugin for VideoRoom {
    const PACKAGE: &'static str = VIDEOROOM;
}

/// One VideoRoom handle.
pub type RoomHandle = PluginHandle<VideoRoom>;

/// The gateway failed, the plugin refused (`error_code`), or the peer failed.
pub type VideoRoomError = PluginError;

pub type Result<T, E = VideoRoomError> = std::result::Result<T, E>;

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
