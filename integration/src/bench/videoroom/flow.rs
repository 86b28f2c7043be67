//! The VideoRoom call flow as videoroomtest/mvideoroomtest run it, for the load tool:
//! publisher `join` then `configure` + offer; subscriber `join` with `streams` (one
//! multistream PeerConnection for every publisher) then `start` + answer. Works against
//! Janus 1.1.2 and portunus alike.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::janus::{JanusClient, JanusEvent, Jsep, MessageReply};
use crate::media::VideoCodec;
use crate::peer::{Offer, Peer, PeerConfig};

/// Janus package name of the VideoRoom plugin.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// A failed step, with what the server said.
pub type FlowError = String;

/// A new session with a handle attached to `plugin`: (session, handle).
pub async fn attach(client: &JanusClient, plugin: &str) -> Result<(u64, u64), FlowError> {
    let session = client.create().await.map_err(|e| format!("create: {e}"))?;
    let handle = client
        .attach(session, plugin)
        .await
        .map_err(|e| format!("attach {plugin}: {e}"))?;
    Ok((session, handle))
}

/// A request on `handle` and the plugin event answering it (async requests) or the sync
/// reply; errors carry the plugin's `error_code`/`error`.
pub async fn request(
    client: &JanusClient,
    session: u64,
    handle: u64,
    body: Value,
    jsep: Option<&Jsep>,
    timeout: Duration,
) -> Result<(Value, Option<Jsep>), FlowError> {
    let what = body
        .get("request")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let reply = client
        .message(session, handle, body, jsep)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let (data, jsep) = match reply {
        MessageReply::Sync(data) => (data, None),
        MessageReply::Ack { transaction } => {
            let ev = client
                .wait_event(timeout, |e| {
                    matches!(e, JanusEvent::Plugin { transaction: Some(t), .. } if *t == transaction)
                })
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            match ev {
                JanusEvent::Plugin { data, jsep, .. } => (data, jsep),
                other => return Err(format!("{what}: unexpected {other:?}")),
            }
        }
    };
    if let Some(code) = data.get("error_code") {
        return Err(format!(
            "{what}: error {code}: {}",
            data.get("error").and_then(Value::as_str).unwrap_or("")
        ));
    }
    Ok((data, jsep))
}

/// Trickles the peer's candidates, then `completed`.
pub async fn trickle(
    client: &JanusClient,
    session: u64,
    handle: u64,
    offer: &Offer,
) -> Result<(), FlowError> {
    let mut all = offer.candidates.clone();
    all.push(json!({"completed": true}));
    client
        .trickle_many(session, handle, all)
        .await
        .map_err(|e| format!("trickle: {e}"))
}

/// Waits for `webrtcup` on `handle`, then for the peer to be connected.
pub async fn webrtcup(
    client: &JanusClient,
    handle: u64,
    peer: &Peer,
    timeout: Duration,
) -> Result<Instant, FlowError> {
    client
        .wait_event(
            timeout,
            |e| matches!(e, JanusEvent::WebrtcUp { sender, .. } if *sender == handle),
        )
        .await
        .map_err(|e| format!("webrtcup: {e}"))?;
    let at = Instant::now();
    peer.wait_until(timeout, "peer connected", |s| s.connected)
        .await
        .map_err(|e| format!("peer: {e}"))?;
    Ok(at)
}

/// Answers the server's `offer` from a new peer: `start` (the given body) with the answer
/// while trickling the peer's candidates, then `webrtcup`. Returns the peer and when it came
/// up.
pub async fn answer_offer(
    client: &JanusClient,
    session: u64,
    handle: u64,
    offer: &Jsep,
    start: Value,
    peer_config: PeerConfig,
    timeout: Duration,
) -> Result<(Peer, Instant), FlowError> {
    let peer = Peer::start(peer_config)
        .await
        .map_err(|e| format!("peer: {e}"))?;
    let answer = peer
        .accept_offer(&offer.sdp)
        .await
        .map_err(|e| format!("accept offer: {e}"))?;
    let jsep = Jsep {
        kind: "answer".into(),
        sdp: answer.sdp.clone(),
        trickle: None,
    };
    let (reply, trickled) = tokio::join!(
        request(client, session, handle, start, Some(&jsep), timeout),
        trickle(client, session, handle, &answer)
    );
    trickled?;
    reply?;
    let up_at = webrtcup(client, handle, &peer, timeout).await?;
    Ok((peer, up_at))
}

/// A publisher in the room, media up.
pub struct Publisher {
    pub session: u64,
    pub handle: u64,
    /// Participant id in the room (what subscribers ask for as `feed`).
    pub id: u64,
    pub peer: Peer,
    pub created_at: Instant,
    pub up_at: Instant,
}

/// Joins `room` as a publisher and publishes audio + video (simulcast if the peer config
/// says so).
pub async fn publish(
    client: &JanusClient,
    room: u64,
    display: &str,
    peer_config: PeerConfig,
    timeout: Duration,
) -> Result<Publisher, FlowError> {
    let created_at = Instant::now();
    let (session, handle) = attach(client, VIDEOROOM).await?;
    let join = json!({"request": "join", "ptype": "publisher", "room": room, "display": display});
    let (joined, _) = request(client, session, handle, join, None, timeout).await?;
    let id = joined
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("join: no id in {joined}"))?;
    let peer = Peer::start(peer_config)
        .await
        .map_err(|e| format!("peer: {e}"))?;
    let offer = peer
        .create_offer()
        .await
        .map_err(|e| format!("offer: {e}"))?;
    let configure = json!({"request": "configure", "audio": true, "video": true});
    let jsep = Jsep::offer(offer.sdp.clone());
    // Trickle while the plugin works on the offer, as janus.js does.
    let (reply, trickled) = tokio::join!(
        request(client, session, handle, configure, Some(&jsep), timeout),
        trickle(client, session, handle, &offer)
    );
    trickled?;
    let (_, answer) = reply?;
    let answer = answer.ok_or("configure: no JSEP answer")?;
    peer.accept_answer(&answer.sdp)
        .await
        .map_err(|e| format!("answer: {e}"))?;
    let up_at = webrtcup(client, handle, &peer, timeout).await?;
    Ok(Publisher {
        session,
        handle,
        id,
        peer,
        created_at,
        up_at,
    })
}

/// A subscriber, media up.
pub struct Subscriber {
    pub session: u64,
    pub handle: u64,
    pub peer: Peer,
    /// When the `join` was sent.
    pub joined_at: Instant,
    pub up_at: Instant,
}

/// What a subscriber m-line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubStream {
    pub feed: u64,
    pub video: bool,
}

/// Subscribes to every stream of `feeds` on one PeerConnection. `on_streams` learns which
/// feed each subscriber mid carries before any media can arrive (the peer's RTP tap needs
/// it).
pub async fn subscribe(
    client: &JanusClient,
    room: u64,
    feeds: &[u64],
    peer_config: PeerConfig,
    on_streams: impl FnOnce(HashMap<String, SubStream>),
    timeout: Duration,
) -> Result<Subscriber, FlowError> {
    let (session, handle) = attach(client, VIDEOROOM).await?;
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let join = json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams});
    let joined_at = Instant::now();
    let (attached, offer) = request(client, session, handle, join, None, timeout).await?;
    let offer = offer.ok_or_else(|| format!("join: no JSEP offer in {attached}"))?;
    on_streams(stream_map(&attached));
    let start = json!({"request": "start", "room": room});
    let (peer, up_at) =
        answer_offer(client, session, handle, &offer, start, peer_config, timeout).await?;
    Ok(Subscriber {
        session,
        handle,
        peer,
        joined_at,
        up_at,
    })
}

/// Subscriber mid → (feed, kind) from an `attached`/`updated` event's `streams`.
pub fn stream_map(data: &Value) -> HashMap<String, SubStream> {
    let mut out = HashMap::new();
    for s in data
        .get("streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(mid), Some(feed), Some(kind)) = (
            s.get("mid").and_then(Value::as_str),
            s.get("feed_id").and_then(Value::as_u64),
            s.get("type").and_then(Value::as_str),
        ) else {
            continue;
        };
        if kind == "audio" || kind == "video" {
            out.insert(
                mid.to_string(),
                SubStream {
                    feed,
                    video: kind == "video",
                },
            );
        }
    }
    out
}

/// Creates a room for the run (sync `create`) with `video` as its only video codec; the
/// server picks the id.
pub async fn create_room(
    client: &JanusClient,
    publishers: usize,
    video: VideoCodec,
    admin_key: Option<&str>,
    timeout: Duration,
) -> Result<(u64, u64, u64), FlowError> {
    let (session, handle) = attach(client, VIDEOROOM).await?;
    let mut body = json!({
        "request": "create",
        "description": "portunus-bench",
        "publishers": publishers.max(1),
        // No REMB cap: publishers send the clip's rate whatever the room says.
        "bitrate": 0,
        "fir_freq": 0,
        "record": false,
        "videocodec": video.name(),
    });
    if let Some(k) = admin_key {
        body["admin_key"] = json!(k);
    }
    let (data, _) = request(client, session, handle, body, None, timeout).await?;
    let room = data
        .get("room")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("create: no room in {data}"))?;
    Ok((room, session, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_subscriber_streams() {
        let attached = json!({"videoroom": "attached", "room": 1, "streams": [
            {"type": "audio", "mid": "0", "feed_id": 11, "feed_mid": "0"},
            {"type": "video", "mid": "1", "feed_id": 11, "feed_mid": "1"},
            {"type": "data", "mid": "2", "sources": 1},
            {"type": "video", "mid": "3", "active": false},
            {"type": "video", "mid": 4, "feed_id": 12}
        ]});
        let m = stream_map(&attached);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m["0"],
            SubStream {
                feed: 11,
                video: false
            }
        );
        assert_eq!(
            m["1"],
            SubStream {
                feed: 11,
                video: true
            }
        );
        assert!(stream_map(&json!({})).is_empty());
    }
}
