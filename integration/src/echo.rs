//! The EchoTest call flow (what Debian's echotest demo does), on a [`JanusClient`] and a
//! [`Peer`]: create → attach → message+offer → trickle → answer → `webrtcup`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::media::MediaKind;

use crate::janus::{JanusClient, JanusError, JanusEvent, Jsep, MessageReply};
use crate::peer::{Peer, PeerConfig, PeerError, PeerState, Renegotiation};

/// Janus package name of the EchoTest plugin.
pub const ECHOTEST: &str = "janus.plugin.echotest";
/// Prefix the EchoTest puts before an echoed data-channel text.
pub const DATA_PREFIX: &str = "Janus EchoTest here! You wrote: ";

#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error(transparent)]
    Janus(#[from] JanusError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("{0}")]
    Unexpected(String),
}

/// How to set the call up.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    pub peer: PeerConfig,
    /// Send the trickle candidates before the `message` with the offer (janus.js over HTTP
    /// often does); otherwise right after it.
    pub trickle_before_offer: bool,
    /// Trickle all candidates in one `candidates` array instead of one request each.
    pub trickle_array: bool,
    pub timeout: Duration,
}

impl Default for EchoOptions {
    fn default() -> Self {
        EchoOptions {
            peer: PeerConfig::default(),
            trickle_before_offer: false,
            trickle_array: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An EchoTest call in progress.
pub struct EchoCall {
    pub session: u64,
    pub handle: u64,
    pub peer: Peer,
    /// When `create` was sent.
    pub created_at: Instant,
    /// When the `webrtcup` event arrived.
    pub webrtcup_at: Option<Instant>,
    /// Packets sent per m-line so far: numbers the payloads, so every round's are new.
    rounds_sent: AtomicUsize,
}

impl EchoCall {
    /// Creates a session, attaches the EchoTest, negotiates, and waits for `webrtcup` and for
    /// the local peer to be connected.
    pub async fn establish(client: &JanusClient, opts: &EchoOptions) -> Result<Self, EchoError> {
        let created_at = Instant::now();
        let session = client.create().await?;
        let handle = client.attach(session, ECHOTEST).await?;
        let mut call = EchoCall::negotiate(client, session, handle, created_at, opts).await?;
        call.wait_webrtcup(client, opts.timeout).await?;
        Ok(call)
    }

    /// Offer/answer on an attached handle (no waiting for `webrtcup`).
    pub async fn negotiate(
        client: &JanusClient,
        session: u64,
        handle: u64,
        created_at: Instant,
        opts: &EchoOptions,
    ) -> Result<Self, EchoError> {
        let peer = Peer::start(opts.peer.clone()).await?;
        let offer = peer.create_offer().await?;
        let trickle = opts.peer.trickle;
        if trickle && opts.trickle_before_offer {
            trickle_all(
                client,
                session,
                handle,
                &offer.candidates,
                opts.trickle_array,
            )
            .await?;
        }
        let body = json!({"audio": true, "video": true});
        let mut jsep = Jsep::offer(offer.sdp.clone());
        if !trickle {
            // As janus.js says when every candidate is already in the SDP.
            jsep.trickle = Some(false);
        }
        let reply = client.message(session, handle, body, Some(&jsep)).await?;
        if trickle && !opts.trickle_before_offer {
            trickle_all(
                client,
                session,
                handle,
                &offer.candidates,
                opts.trickle_array,
            )
            .await?;
        }
        let answer = match reply {
            MessageReply::Ack { transaction } => {
                let ev = client
                    .wait_event(opts.timeout, |e| {
                        matches!(e, JanusEvent::Plugin { transaction: Some(t), .. } if *t == transaction)
                    })
                    .await?;
                plugin_result(ev)?
            }
            MessageReply::Sync(data) => {
                return Err(EchoError::Unexpected(format!(
                    "EchoTest answered synchronously (it is always async): {data}"
                )));
            }
        };
        peer.accept_answer(&answer.sdp).await?;
        Ok(EchoCall {
            session,
            handle,
            peer,
            created_at,
            webrtcup_at: None,
            rounds_sent: AtomicUsize::new(0),
        })
    }

    /// Waits for `webrtcup` on this handle and for the local peer to be connected.
    pub async fn wait_webrtcup(
        &mut self,
        client: &JanusClient,
        timeout: Duration,
    ) -> Result<Duration, EchoError> {
        let handle = self.handle;
        client
            .wait_event(
                timeout,
                |e| matches!(e, JanusEvent::WebrtcUp { sender, .. } if *sender == handle),
            )
            .await?;
        let now = Instant::now();
        self.webrtcup_at = Some(now);
        self.peer
            .wait_until(timeout, "peer connected", |s| s.connected)
            .await?;
        Ok(now - self.created_at)
    }

    /// Time from `create` to `webrtcup`.
    pub fn setup_time(&self) -> Option<Duration> {
        self.webrtcup_at.map(|t| t - self.created_at)
    }

    /// Sends a new offer on the same handle (what the devicetest demo does when switching
    /// devices): trickles the candidates again after an ICE restart, waits for the plugin's
    /// answer and applies it. The answer must carry the `message`'s transaction; returns it.
    /// Does not wait for anything else (no second `webrtcup` is expected).
    pub async fn renegotiate(
        &self,
        client: &JanusClient,
        change: Renegotiation,
        timeout: Duration,
    ) -> Result<String, EchoError> {
        let offer = self.peer.renegotiate(change.clone()).await?;
        let body = json!({"audio": true, "video": true});
        let reply = client
            .message(
                self.session,
                self.handle,
                body,
                Some(&Jsep::offer(offer.sdp)),
            )
            .await?;
        let MessageReply::Ack { transaction } = reply else {
            return Err(EchoError::Unexpected(format!(
                "EchoTest answered a renegotiation synchronously: {reply:?}"
            )));
        };
        if change.ice_restart {
            trickle_all(client, self.session, self.handle, &offer.candidates, false).await?;
        }
        let handle = self.handle;
        // The first EchoTest event for this handle: it must be the answer to this message.
        let ev = client
            .wait_event(
                timeout,
                |e| matches!(e, JanusEvent::Plugin { sender, .. } if *sender == handle),
            )
            .await?;
        match &ev {
            JanusEvent::Plugin {
                transaction: Some(t),
                ..
            } if *t == transaction => {}
            other => {
                return Err(EchoError::Unexpected(format!(
                    "answer to the renegotiation (transaction {transaction}) expected, got {other:?}"
                )));
            }
        }
        let answer = plugin_result(ev)?;
        self.peer.accept_answer(&answer.sdp).await?;
        Ok(transaction)
    }

    /// Sends `count` recognisable RTP packets on every audio and video m-line, 20 ms apart.
    /// Returns the payloads sent per mid; they differ from earlier calls' and between m-lines.
    pub async fn send_media(&self, count: usize) -> Result<Vec<(String, Vec<Vec<u8>>)>, EchoError> {
        let state = self.peer.state();
        let lines: Vec<(String, MediaKind)> = state
            .media
            .iter()
            .map(|m| (m.mid.clone(), m.kind))
            .collect();
        let mut sent: Vec<(String, Vec<Vec<u8>>)> =
            lines.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
        let first = self.rounds_sent.fetch_add(count, Ordering::Relaxed);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in first..first + count {
            tick.tick().await;
            for (n, (mid, kind)) in lines.iter().enumerate() {
                let payload = test_payload(*kind, self.handle, mid, i);
                self.peer
                    .send_rtp(mid, payload.clone(), *kind == MediaKind::Video)
                    .await?;
                sent[n].1.push(payload);
            }
        }
        Ok(sent)
    }
}

async fn trickle_all(
    client: &JanusClient,
    session: u64,
    handle: u64,
    candidates: &[Value],
    as_array: bool,
) -> Result<(), JanusError> {
    if as_array {
        let mut all = candidates.to_vec();
        all.push(json!({"completed": true}));
        return client.trickle_many(session, handle, all).await;
    }
    for c in candidates {
        client.trickle(session, handle, c.clone()).await?;
    }
    client.trickle_completed(session, handle).await
}

/// The answer JSEP of an EchoTest `result:"ok"` event.
fn plugin_result(ev: JanusEvent) -> Result<Jsep, EchoError> {
    let JanusEvent::Plugin {
        plugin, data, jsep, ..
    } = ev
    else {
        return Err(EchoError::Unexpected(format!("not a plugin event: {ev:?}")));
    };
    if plugin != ECHOTEST || data.get("result").and_then(Value::as_str) != Some("ok") {
        return Err(EchoError::Unexpected(format!(
            "EchoTest said {plugin}: {data}"
        )));
    }
    match jsep {
        Some(j) if j.kind == "answer" => Ok(j),
        other => Err(EchoError::Unexpected(format!(
            "expected an answer JSEP, got {other:?}"
        ))),
    }
}

/// A payload a test can recognise in the echo: Opus-like TOC byte, or a VP8 payload
/// descriptor plus a key-frame header (so nothing on the path mistakes it for garbage), then
/// text naming the handle, m-line and packet number.
pub fn test_payload(kind: MediaKind, handle: u64, mid: &str, n: usize) -> Vec<u8> {
    let mut p = match kind {
        // TOC: config 31 (CELT FB 20 ms), mono, one frame.
        MediaKind::Audio => vec![0xf8],
        // Descriptor S=1 PID=0; frame tag: key frame, show_frame; start code; 320x240.
        MediaKind::Video => vec![
            0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
        ],
    };
    p.extend_from_slice(format!("portunus-{kind:?}-{handle}-{mid}-{n}").as_bytes());
    p
}

/// Checks the echo: every payload received on a mid is one that was sent on it, unchanged,
/// and at least `min_fraction` of them came back. Returns the counts received per mid.
pub fn verify_echo(
    state: &PeerState,
    sent: &[(String, Vec<Vec<u8>>)],
    min_fraction: f64,
) -> Result<Vec<(String, usize)>, EchoError> {
    verify_echo_round(state, &[], sent, min_fraction)
}

/// [`verify_echo`] for a later round of [`EchoCall::send_media`]: payloads of the `earlier`
/// rounds may still be on record (or arrive late), anything else received must be one of
/// this round's `sent`, and at least `min_fraction` of those came back.
pub fn verify_echo_round(
    state: &PeerState,
    earlier: &[(String, Vec<Vec<u8>>)],
    sent: &[(String, Vec<Vec<u8>>)],
    min_fraction: f64,
) -> Result<Vec<(String, usize)>, EchoError> {
    let mut counts = Vec::new();
    for (mid, payloads) in sent {
        let before: Vec<&Vec<u8>> = earlier
            .iter()
            .filter(|(m, _)| m == mid)
            .flat_map(|(_, p)| p)
            .collect();
        let got = received_payloads(state, mid);
        if let Some(bad) = got
            .iter()
            .find(|p| !payloads.contains(p) && !before.contains(p))
        {
            return Err(EchoError::Unexpected(format!(
                "mid {mid}: received a payload that was never sent on it: {:?}",
                String::from_utf8_lossy(bad)
            )));
        }
        let echoed = echoed_count(state, mid, payloads);
        let need = (payloads.len() as f64 * min_fraction).ceil() as usize;
        if echoed < need {
            return Err(EchoError::Unexpected(format!(
                "mid {mid}: {echoed} of {} packets echoed, need {need}",
                payloads.len()
            )));
        }
        counts.push((mid.clone(), echoed));
    }
    Ok(counts)
}

/// How many of `payloads` came back on `mid`.
pub fn echoed_count(state: &PeerState, mid: &str, payloads: &[Vec<u8>]) -> usize {
    received_payloads(state, mid)
        .iter()
        .filter(|p| payloads.contains(p))
        .count()
}

/// The non-empty payloads kept for `mid` (padding-only packets may come from the far end's
/// pacer).
fn received_payloads<'a>(state: &'a PeerState, mid: &str) -> Vec<&'a Vec<u8>> {
    state
        .received
        .get(mid)
        .map(|r| r.payloads.iter().filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}
