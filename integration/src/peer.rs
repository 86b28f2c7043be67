//! A client PeerConnection on str0m with its own UDP socket on loopback, driven by its own
//! tokio task. The handle ([`Peer`]) talks to the task over a channel and watches a shared
//! [`PeerState`]; many peers can live in one process (the load tool runs hundreds).

mod driver;
mod sdp;
pub mod seq;
pub mod source;
mod srtp;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use str0m::RtcError;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

pub use sdp::offered_media;
pub use source::{MediaSource, PayloadTag, SILENCE};
pub use srtp::SrtpProfileName;
pub use state::{DataMessage, Dropped, MediaLine, MidReceived, PeerState, SsrcStats};
pub use str0m::media::Direction;

/// What the offer contains and how the peer behaves.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Address to bind the UDP socket to (port 0 = ephemeral). Loopback by default.
    pub bind: SocketAddr,
    pub audio: bool,
    pub video: bool,
    /// Data channel label, if any (janus.js uses `JanusDataChannel`).
    pub data_channel: Option<String>,
    /// Leave candidates out of the offer SDP, so they must be trickled (as browsers do).
    pub trickle: bool,
    /// How many received payloads to keep per mid (counts are always kept).
    pub keep_payloads: usize,
    /// Called for every RTP packet received, on the driver task (the load tool measures
    /// there, without keeping payloads).
    pub rtp_tap: Option<RtpTap>,
    /// Simulcast send layers (RIDs, highest first as browsers offer them) of the video
    /// m-line of the first offer; empty for none. Send on a layer with
    /// [`Peer::send_frame_on`].
    pub simulcast: Vec<String>,
    /// Called for every keyframe request (PLI/FIR) received, on the driver task.
    pub keyframe_tap: Option<KeyframeTap>,
    /// How the simulcast layers are signalled (RIDs by default, as browsers do now).
    pub simulcast_mode: SimulcastMode,
    /// Direction of the m-lines we offer (janus.js publishers offer `sendonly`).
    pub direction: Direction,
    /// The one video codec offered and accepted (H.264: constrained baseline,
    /// packetization-mode 1). The synthetic [`MediaSource`] sends VP8-like payloads only.
    pub video_codec: crate::media::VideoCodec,
}

/// How a simulcast offer describes its layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SimulcastMode {
    /// `a=rid` + `a=simulcast:send`, RID header extension on the packets.
    #[default]
    Rid,
    /// `a=ssrc-group:SIM` (lowest layer first), no RIDs: Chromium's older way, which Janus
    /// also supports.
    SsrcGroup,
}

/// Drops incoming RTP before str0m sees it (as if the network lost it): after letting
/// `skip` matching packets through, the next `count` are dropped. Each drop is recorded in
/// [`PeerState::dropped`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropRule {
    /// Only packets of this SSRC (any RTP packet if `None`).
    pub ssrc: Option<u32>,
    pub skip: u32,
    pub count: u32,
}

/// What an [`RtpTap`] calls: mid, payload, arrival time.
pub type RtpTapFn = dyn Fn(&str, &[u8], std::time::Instant) + Send + Sync;

/// A callback seeing each received RTP packet.
#[derive(Clone)]
pub struct RtpTap(pub Arc<RtpTapFn>);

impl std::fmt::Debug for RtpTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtpTap")
    }
}

/// What a [`KeyframeTap`] calls: mid and RID (simulcast layer) the request is for.
pub type KeyframeTapFn = dyn Fn(&str, Option<&str>) + Send + Sync;

/// A callback seeing each keyframe request (PLI or FIR) from the remote side.
#[derive(Clone)]
pub struct KeyframeTap(pub Arc<KeyframeTapFn>);

impl std::fmt::Debug for KeyframeTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyframeTap")
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            audio: true,
            video: true,
            data_channel: Some("JanusDataChannel".into()),
            trickle: true,
            keep_payloads: 256,
            rtp_tap: None,
            simulcast: Vec::new(),
            keyframe_tap: None,
            simulcast_mode: SimulcastMode::Rid,
            direction: Direction::SendRecv,
            video_codec: crate::media::VideoCodec::Vp8,
        }
    }
}

/// Failures of the test peer.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("str0m: {0}")]
    Rtc(#[from] RtcError),
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("{0}")]
    State(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("peer driver stopped")]
    Stopped,
}

/// What a new offer on an established PeerConnection changes (as a browser does when the
/// user adds a camera or the network changes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renegotiation {
    /// New sendrecv audio m-lines to add.
    pub add_audio: usize,
    /// New sendrecv video m-lines to add (Unified Plan: one per extra stream).
    pub add_video: usize,
    /// New ICE credentials (`a=ice-ufrag`/`a=ice-pwd`); the candidates must be trickled again.
    pub ice_restart: bool,
}

/// A local offer: the SDP to send and the candidates to trickle (Janus trickle objects).
#[derive(Debug, Clone)]
pub struct Offer {
    pub sdp: String,
    pub candidates: Vec<Value>,
}

pub(crate) enum Command {
    CreateOffer(oneshot::Sender<Result<Offer, PeerError>>),
    Renegotiate(Renegotiation, oneshot::Sender<Result<Offer, PeerError>>),
    AcceptAnswer(String, oneshot::Sender<Result<(), PeerError>>),
    AcceptOffer(String, oneshot::Sender<Result<Offer, PeerError>>),
    AddRemoteCandidate(String, oneshot::Sender<Result<(), PeerError>>),
    SendRtp {
        mid: String,
        payload: Vec<u8>,
        marker: bool,
        done: oneshot::Sender<Result<(), PeerError>>,
    },
    SendFrame {
        mid: String,
        rid: Option<String>,
        packets: Vec<Vec<u8>>,
        rtp_step: u32,
        done: oneshot::Sender<Result<(), PeerError>>,
    },
    SendData(Vec<u8>, bool, oneshot::Sender<Result<(), PeerError>>),
    StartMedia(MediaSource, oneshot::Sender<Result<(), PeerError>>),
    StopMedia(oneshot::Sender<Result<(), PeerError>>),
    SetAudioLevel(u8, oneshot::Sender<Result<(), PeerError>>),
    DropRtp(DropRule, oneshot::Sender<Result<(), PeerError>>),
    /// mid, bits per second.
    RequestRemb(String, u64, oneshot::Sender<Result<(), PeerError>>),
    Close(oneshot::Sender<()>),
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<PeerState>,
    /// Bumped after each state change to wake waiters.
    pub(crate) changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn update(&self, f: impl FnOnce(&mut PeerState)) {
        f(&mut self.state.lock());
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Handle to a running test peer. Dropping it stops the driver task.
pub struct Peer {
    cmd: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl Peer {
    /// Binds the socket and starts the driver. Must run inside a tokio runtime.
    pub async fn start(config: PeerConfig) -> Result<Peer, PeerError> {
        let socket = UdpSocket::bind(config.bind).await?;
        let local_addr = socket.local_addr()?;
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(PeerState::default()),
            changed,
        });
        let (cmd, rx) = mpsc::unbounded_channel();
        let driver = driver::Driver::new(config, socket, local_addr, shared.clone())?;
        tokio::spawn(driver.run(rx));
        Ok(Peer {
            cmd,
            shared,
            local_addr,
        })
    }

    /// The peer's UDP address (its only candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, PeerError>>) -> Command,
    ) -> Result<T, PeerError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).map_err(|_| PeerError::Stopped)?;
        rx.await.map_err(|_| PeerError::Stopped)?
    }

    /// Creates the offer (audio opus, video vp8, data channel, per config).
    pub async fn create_offer(&self) -> Result<Offer, PeerError> {
        self.ask(Command::CreateOffer).await
    }

    /// A new offer on the established PeerConnection (media keeps flowing until the answer is
    /// applied). New m-lines are appended to [`PeerState::media`].
    pub async fn renegotiate(&self, change: Renegotiation) -> Result<Offer, PeerError> {
        self.ask(|tx| Command::Renegotiate(change, tx)).await
    }

    /// Applies the remote answer SDP.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), PeerError> {
        self.ask(|tx| Command::AcceptAnswer(sdp.to_string(), tx))
            .await
    }

    /// Answers a remote offer (a server-side offer, as the VideoRoom makes for subscribers):
    /// returns the answer SDP and the candidates to trickle. The offered audio/video m-lines
    /// are appended to [`PeerState::media`].
    pub async fn accept_offer(&self, sdp: &str) -> Result<Offer, PeerError> {
        self.ask(|tx| Command::AcceptOffer(sdp.to_string(), tx))
            .await
    }

    /// Adds a remote candidate (`candidate:...` line, as in a Janus trickle).
    pub async fn add_remote_candidate(&self, candidate: &str) -> Result<(), PeerError> {
        self.ask(|tx| Command::AddRemoteCandidate(candidate.to_string(), tx))
            .await
    }

    /// Sends one RTP packet with `payload` on `mid` (sequence number and timestamp are kept
    /// by the peer: +1 and one 20 ms frame per packet).
    pub async fn send_rtp(
        &self,
        mid: &str,
        payload: Vec<u8>,
        marker: bool,
    ) -> Result<(), PeerError> {
        self.ask(|done| Command::SendRtp {
            mid: mid.to_string(),
            payload,
            marker,
            done,
        })
        .await
    }

    /// Sends one media frame as consecutive RTP packets sharing one RTP timestamp (marker on
    /// the last), then advances the timestamp by `rtp_step` clock units, as a real sender
    /// does for a video frame split into several packets.
    pub async fn send_frame(
        &self,
        mid: &str,
        packets: Vec<Vec<u8>>,
        rtp_step: u32,
    ) -> Result<(), PeerError> {
        self.send_frame_on(mid, None, packets, rtp_step).await
    }

    /// [`send_frame`](Self::send_frame) on one simulcast layer (`rid`, one of
    /// [`PeerConfig::simulcast`]), or on the m-line's only stream with `None`.
    pub async fn send_frame_on(
        &self,
        mid: &str,
        rid: Option<&str>,
        packets: Vec<Vec<u8>>,
        rtp_step: u32,
    ) -> Result<(), PeerError> {
        self.ask(|done| Command::SendFrame {
            mid: mid.to_string(),
            rid: rid.map(str::to_string),
            packets,
            rtp_step,
            done,
        })
        .await
    }

    /// Sends a text message on the data channel.
    pub async fn send_text(&self, text: &str) -> Result<(), PeerError> {
        self.ask(|tx| Command::SendData(text.as_bytes().to_vec(), false, tx))
            .await
    }

    /// Sends a binary message on the data channel.
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), PeerError> {
        self.ask(|tx| Command::SendData(data.to_vec(), true, tx))
            .await
    }

    /// Starts sending synthetic media by itself (audio with an audio level, VP8-like video
    /// on every simulcast layer) until [`stop_media`](Self::stop_media). Call after the
    /// answer was applied. Keyframe requests from the remote side are honoured.
    pub async fn start_media(&self, source: MediaSource) -> Result<(), PeerError> {
        self.ask(|tx| Command::StartMedia(source, tx)).await
    }

    /// Stops the synthetic media.
    pub async fn stop_media(&self) -> Result<(), PeerError> {
        self.ask(Command::StopMedia).await
    }

    /// The RFC 6464 audio level of the synthetic audio from now on: 0 = loudest (0 dBov),
    /// [`SILENCE`] = -127 dBov.
    pub async fn set_audio_level(&self, level: u8) -> Result<(), PeerError> {
        self.ask(|tx| Command::SetAudioLevel(level, tx)).await
    }

    /// Drops incoming RTP as `rule` says (replaces any earlier rule).
    pub async fn drop_rtp(&self, rule: DropRule) -> Result<(), PeerError> {
        self.ask(|tx| Command::DropRtp(rule, tx)).await
    }

    /// Sends one REMB (receiver estimated maximum bitrate, bits per second) for the video
    /// received on `mid`, as a browser reports what it can take. Call once media arrived on
    /// `mid` (the receive stream must exist).
    pub async fn request_remb(&self, mid: &str, bps: u64) -> Result<(), PeerError> {
        self.ask(|tx| Command::RequestRemb(mid.to_string(), bps, tx))
            .await
    }

    /// A snapshot of the state.
    pub fn state(&self) -> PeerState {
        self.shared.state.lock().clone()
    }

    /// Waits until `pred` holds for the state; returns that state.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&PeerState) -> bool,
    ) -> Result<PeerState, PeerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.shared.changed.subscribe();
        loop {
            {
                let st = self.shared.state.lock();
                if pred(&st) {
                    return Ok(st.clone());
                }
                if let Some(f) = &st.failure {
                    return Err(PeerError::State(format!(
                        "peer failed while waiting for {what}: {f}"
                    )));
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(PeerError::Stopped),
                Err(_) => return Err(PeerError::Timeout(what.to_string())),
            }
        }
    }

    /// Closes the PeerConnection (DTLS close) and stops the driver.
    pub async fn close(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Close(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }
}

/// A Janus trickle object for one candidate on the first (bundled) m-line.
pub fn trickle_candidate(candidate: &str, first_mid: &str) -> Value {
    json!({"candidate": candidate, "sdpMid": first_mid, "sdpMLineIndex": 0})
}
