//! The task that owns one `Rtc` and its socket. str0m contract: after every mutation
//! (`handle_input`, SDP change, write) drain `poll_output()` until it returns `Timeout`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::media::VideoCodec;

use super::sdp::{first_mid, offered_media, rid_to_ssrc_simulcast, strip_candidates};
use super::seq::extend_seq;
use super::source::{FrameKind, FrameOut, SILENCE, SourceState};
use super::state::{DataMessage, Dropped, MediaLine};
use super::{
    Command, DropRule, Offer, PeerConfig, PeerError, Renegotiation, Shared, SimulcastMode, srtp,
    trickle_candidate,
};

/// RTP clock steps per packet: one 20 ms frame (48 kHz audio, 90 kHz video).
const AUDIO_STEP: u32 = 960;
const VIDEO_STEP: u32 = 1800;

pub(super) struct Driver {
    rtc: Rtc,
    socket: UdpSocket,
    local_addr: SocketAddr,
    local_candidate: Candidate,
    shared: Arc<Shared>,
    config: PeerConfig,
    pending: Option<SdpPendingOffer>,
    channel: Option<ChannelId>,
    labels: HashMap<ChannelId, String>,
    /// Per outgoing mid (and simulcast RID): payload type, next sequence number, next RTP
    /// time, clock step.
    tx: HashMap<(Mid, Option<Rid>), TxStream>,
    kinds: HashMap<Mid, MediaKind>,
    /// The video m-line offered with simulcast layers ([`PeerConfig::simulcast`]).
    simulcast_mid: Option<Mid>,
    /// Synthetic media being sent by the driver itself ([`super::Peer::start_media`]).
    source: Option<SourceState>,
    drop_rule: Option<DropRule>,
    /// Highest extended sequence number seen on the wire, per SSRC.
    wire_highest: HashMap<u32, u64>,
}

/// SSRC, sequence number and payload type of an RTP (not RTCP) datagram, from its clear
/// header (SRTP leaves it readable). RFC 7983 demux, RFC 5761 RTP/RTCP split.
fn rtp_header(buf: &[u8]) -> Option<(u32, u16, u8)> {
    if buf.len() < 12 || !(128..=191).contains(&buf[0]) {
        return None;
    }
    let pt = buf[1] & 0x7f;
    if (64..=95).contains(&pt) {
        return None;
    }
    let seq = u16::from_be_bytes([buf[2], buf[3]]);
    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    Some((ssrc, seq, pt))
}

struct TxStream {
    pt: Pt,
    seq: u64,
    time: u32,
    step: u32,
}

enum Wake {
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Command(Option<Command>),
    Timeout,
}

impl Driver {
    pub(super) fn new(
        config: PeerConfig,
        socket: UdpSocket,
        local_addr: SocketAddr,
        shared: Arc<Shared>,
    ) -> Result<Self, PeerError> {
        let mut codecs = RtcConfig::new().clear_codecs().enable_opus(true, false);
        match config.video_codec {
            VideoCodec::Vp8 => codecs = codecs.enable_vp8(true),
            // One H.264 format, the one browsers prefer: constrained baseline (42e01f),
            // packetization-mode 1, RTX as str0m pairs it.
            VideoCodec::H264 => {
                codecs
                    .codec_config()
                    .add_h264(108.into(), Some(109.into()), true, 0x42e01f);
            }
        }
        let mut rtc = codecs
            .set_rtp_mode(true)
            .set_crypto_provider(srtp::observing_provider())
            .build(Instant::now());
        let candidate = Candidate::host(local_addr, "udp")
            .map_err(|e| PeerError::State(format!("host candidate {local_addr}: {e}")))?;
        rtc.add_local_candidate(candidate.clone());
        Ok(Driver {
            rtc,
            socket,
            local_addr,
            local_candidate: candidate,
            shared,
            config,
            pending: None,
            channel: None,
            labels: HashMap::new(),
            tx: HashMap::new(),
            kinds: HashMap::new(),
            simulcast_mid: None,
            source: None,
            drop_rule: None,
            wire_highest: HashMap::new(),
        })
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        if let Err(e) = self.run_inner(&mut rx).await {
            tracing::debug!(addr = %self.local_addr, "peer stopped: {e}");
            self.shared.update(|s| {
                s.failure = Some(e.to_string());
                s.closed = true;
            });
        }
    }

    async fn run_inner(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Result<(), PeerError> {
        let mut buf = vec![0u8; 2048];
        loop {
            self.send_due_media();
            let mut timeout = self.drain().await?;
            if let Some(src) = &self.source {
                timeout = timeout.min(src.next_due());
            }
            let wake = tokio::select! {
                r = self.socket.recv_from(&mut buf) => Wake::Datagram(r),
                c = rx.recv() => Wake::Command(c),
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => Wake::Timeout,
            };
            match wake {
                Wake::Datagram(r) => {
                    let (n, source) = r?;
                    if self.inspect_datagram(&buf[..n]) {
                        continue;
                    }
                    let Ok(receive) =
                        Receive::new(Protocol::Udp, source, self.local_addr, &buf[..n])
                    else {
                        continue; // not STUN/DTLS/RTP: ignore, as a browser would
                    };
                    let r = self
                        .rtc
                        .handle_input(Input::Receive(Instant::now(), receive));
                    self.observe_srtp();
                    if let Err(e) = r {
                        tracing::debug!("peer input rejected: {e}");
                    }
                }
                Wake::Command(None) => return Ok(()),
                Wake::Command(Some(Command::Close(done))) => {
                    self.rtc.close()?;
                    // Flush close_notify etc.; errors no longer matter.
                    let _ = self.drain().await;
                    self.shared.update(|s| s.closed = true);
                    let _ = done.send(());
                    return Ok(());
                }
                Wake::Command(Some(cmd)) => self.command(cmd),
                Wake::Timeout => {
                    let r = self.rtc.handle_input(Input::Timeout(Instant::now()));
                    self.observe_srtp();
                    r?;
                }
            }
        }
    }

    /// Drains `poll_output` until `Timeout`; sends datagrams and records events.
    async fn drain(&mut self) -> Result<Instant, PeerError> {
        loop {
            let out = self.rtc.poll_output();
            // Before any await: the task may move to another thread at the next one.
            self.observe_srtp();
            match out? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    if let Err(e) = self.socket.send_to(&t.contents, t.destination).await {
                        // Loopback send errors are transient (e.g. ECONNREFUSED from ICMP).
                        tracing::debug!("peer send to {}: {e}", t.destination);
                    }
                }
                Output::Event(e) => self.on_event(e),
            }
        }
    }

    fn observe_srtp(&mut self) {
        if let Some(p) = srtp::take_observed() {
            self.shared.update(|s| s.srtp_profile = Some(p));
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.shared.update(|s| {
                s.connected = true;
                s.connected_at = Some(Instant::now());
            }),
            Event::IceConnectionStateChange(st) => self.shared.update(|s| {
                s.ice_state = format!("{st:?}");
                s.ice_history.push(s.ice_state.clone());
            }),
            Event::ChannelOpen(id, label) => {
                self.labels.insert(id, label.clone());
                if self.channel.is_none() {
                    self.channel = Some(id);
                }
                self.shared.update(|s| s.channel_open = Some(label));
            }
            Event::ChannelData(d) => {
                let label = self.labels.get(&d.id).cloned().unwrap_or_default();
                self.shared.update(|s| {
                    s.data_received.push(DataMessage {
                        label,
                        binary: d.binary,
                        data: d.data,
                    })
                });
            }
            Event::ChannelClose(id) if self.channel == Some(id) => {
                self.channel = None;
                self.shared.update(|s| s.channel_open = None);
            }
            Event::RtpPacket(p) => {
                let mid = self
                    .rtc
                    .direct_api()
                    .stream_rx(&p.header.ssrc)
                    .map(|s| s.mid().to_string())
                    .unwrap_or_default();
                if let Some(tap) = &self.config.rtp_tap {
                    (tap.0)(&mid, &p.payload, Instant::now());
                }
                let keep = self.config.keep_payloads;
                let video = self.kinds.get(&Mid::from(mid.as_str())) == Some(&MediaKind::Video);
                let level = p
                    .header
                    .ext_vals
                    .audio_level
                    .map(|l| l.unsigned_abs().min(127));
                let now = Instant::now();
                self.shared.update(|s| {
                    let ssrc = s.ssrcs.entry(*p.header.ssrc).or_default();
                    if ssrc.mid.is_empty() {
                        ssrc.mid = mid.clone();
                    }
                    ssrc.pt = *p.header.payload_type;
                    ssrc.record(*p.seq_no, &p.payload, video, level, now);
                    let r = s.received.entry(mid).or_default();
                    r.packets += 1;
                    r.bytes += p.payload.len() as u64;
                    if r.payloads.len() < keep {
                        r.payloads.push(p.payload.to_vec());
                    }
                });
            }
            Event::KeyframeRequest(r) => {
                if let Some(tap) = &self.config.keyframe_tap {
                    (tap.0)(&r.mid.to_string(), r.rid.as_deref());
                }
                let layer = r.rid.and_then(|rid| self.layer_of_rid(rid));
                if let Some(src) = &mut self.source {
                    src.request_keyframe(layer);
                }
                let key = match r.rid {
                    Some(rid) => format!("{}/{}", r.mid, &*rid),
                    None => r.mid.to_string(),
                };
                self.shared
                    .update(|s| *s.keyframe_requests.entry(key).or_default() += 1);
            }
            Event::Closed => self.shared.update(|s| s.closed = true),
            _ => {}
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::CreateOffer(reply) => {
                let _ = reply.send(self.create_offer());
            }
            Command::Renegotiate(change, reply) => {
                let _ = reply.send(self.renegotiate(&change));
            }
            Command::AcceptAnswer(sdp, reply) => {
                let _ = reply.send(self.accept_answer(&sdp));
            }
            Command::AcceptOffer(sdp, reply) => {
                let _ = reply.send(self.accept_offer(&sdp));
            }
            Command::StartMedia(config, reply) => {
                let layers = match self.simulcast_mid {
                    Some(_) => self.config.simulcast.len(),
                    None => 1,
                };
                self.source = Some(SourceState::new(config, layers, Instant::now()));
                let _ = reply.send(Ok(()));
            }
            Command::StopMedia(reply) => {
                self.source = None;
                let _ = reply.send(Ok(()));
            }
            Command::SetAudioLevel(level, reply) => {
                let r = match &mut self.source {
                    Some(src) => {
                        src.audio_level = level.min(SILENCE);
                        Ok(())
                    }
                    None => Err(PeerError::State("no media source running".into())),
                };
                let _ = reply.send(r);
            }
            Command::DropRtp(rule, reply) => {
                self.drop_rule = (rule.count > 0).then_some(rule);
                let _ = reply.send(Ok(()));
            }
            Command::RequestRemb(mid, bps, reply) => {
                let _ = reply.send(self.request_remb(&mid, bps));
            }
            Command::AddRemoteCandidate(c, reply) => {
                let r = Candidate::from_sdp_string(&c)
                    .map(|c| self.rtc.add_remote_candidate(c))
                    .map_err(|e| PeerError::Sdp(format!("candidate {c:?}: {e}")));
                let _ = reply.send(r);
            }
            Command::SendRtp {
                mid,
                payload,
                marker,
                done,
            } => {
                let _ = done.send(self.send_rtp(&mid, payload, marker));
            }
            Command::SendFrame {
                mid,
                rid,
                packets,
                rtp_step,
                done,
            } => {
                let _ = done.send(self.send_frame(&mid, rid.as_deref(), packets, rtp_step));
            }
            Command::SendData(data, binary, reply) => {
                let r = match self.channel.and_then(|id| self.rtc.channel(id)) {
                    None => Err(PeerError::State("data channel not open".into())),
                    Some(mut ch) => match ch.write(binary, &data) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(PeerError::State("data channel buffer full".into())),
                        Err(e) => Err(e.into()),
                    },
                };
                let _ = reply.send(r);
            }
            // Handled by the loop, which must stop afterwards.
            Command::Close(_) => {}
        }
    }

    /// Queues a REMB for the stream received on `mid`; str0m sends it with its next
    /// feedback (the driver loop drains right after this command).
    fn request_remb(&mut self, mid: &str, bps: u64) -> Result<(), PeerError> {
        let mut api = self.rtc.direct_api();
        let stream = api
            .stream_rx_by_mid(Mid::from(mid), None)
            .ok_or_else(|| PeerError::State(format!("no stream received on mid {mid}")))?;
        stream.request_remb(Bitrate::bps(bps));
        Ok(())
    }

    fn create_offer(&mut self) -> Result<Offer, PeerError> {
        let mut kinds = Vec::new();
        if self.config.audio {
            kinds.push(MediaKind::Audio);
        }
        if self.config.video {
            kinds.push(MediaKind::Video);
        }
        let channel = self.config.data_channel.clone();
        let simulcast = !self.config.simulcast.is_empty();
        self.offer(&kinds, channel, false, simulcast)
    }

    fn renegotiate(&mut self, change: &Renegotiation) -> Result<Offer, PeerError> {
        let kinds: Vec<MediaKind> = std::iter::repeat_n(MediaKind::Audio, change.add_audio)
            .chain(std::iter::repeat_n(MediaKind::Video, change.add_video))
            .collect();
        self.offer(&kinds, None, change.ice_restart, false)
    }

    /// Makes an offer adding `kinds` (in [`PeerConfig::direction`]) and `channel`, optionally
    /// restarting ICE;
    /// with `simulcast`, the first video m-line sends the configured layers.
    fn offer(
        &mut self,
        kinds: &[MediaKind],
        channel: Option<String>,
        ice_restart: bool,
        simulcast: bool,
    ) -> Result<Offer, PeerError> {
        let mut layers = simulcast.then(|| {
            let mut s = Simulcast::new();
            for rid in &self.config.simulcast {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let direction = self.config.direction;
        let mut api = self.rtc.sdp_api();
        let mut simulcast_mid = None;
        let media: Vec<(Mid, MediaKind)> = kinds
            .iter()
            .map(|kind| {
                let sim = match kind {
                    MediaKind::Video => layers.take(),
                    MediaKind::Audio => None,
                };
                let with_layers = sim.is_some();
                let mid = api.add_media(*kind, direction, None, None, sim);
                if with_layers {
                    simulcast_mid = Some(mid);
                }
                (mid, *kind)
            })
            .collect();
        let new_channel = channel.map(|label| api.add_channel(label));
        if ice_restart {
            // Keep the socket's host candidate; only the credentials change.
            api.ice_restart(true);
        }
        let Some((offer, pending)) = api.apply() else {
            return Err(PeerError::State("nothing to offer".into()));
        };
        self.pending = Some(pending);
        if new_channel.is_some() {
            self.channel = new_channel;
        }
        if simulcast_mid.is_some() {
            self.simulcast_mid = simulcast_mid;
        }
        for (mid, kind) in &media {
            self.kinds.insert(*mid, *kind);
        }
        self.shared.update(|s| {
            s.media.extend(media.iter().map(|(mid, kind)| MediaLine {
                mid: mid.to_string(),
                kind: *kind,
            }))
        });
        let mut sdp = offer.to_sdp_string();
        if let (Some(mid), SimulcastMode::SsrcGroup) =
            (self.simulcast_mid, self.config.simulcast_mode)
        {
            sdp = rid_to_ssrc_simulcast(&sdp, &mid.to_string()).0;
        }
        self.outgoing(sdp, "offer")
    }

    /// Our offer or answer (`what`) as it goes out: with trickle, its candidate is sent apart
    /// (on the first m-line) and stripped from the SDP.
    fn outgoing(&self, sdp: String, what: &str) -> Result<Offer, PeerError> {
        let first_mid = first_mid(&sdp)
            .ok_or_else(|| PeerError::Sdp(format!("{what} has no a=mid")))?
            .to_string();
        let candidates = vec![trickle_candidate(
            &self.local_candidate.to_sdp_string(),
            &first_mid,
        )];
        let sdp = if self.config.trickle {
            strip_candidates(&sdp)
        } else {
            sdp
        };
        Ok(Offer { sdp, candidates })
    }

    fn accept_answer(&mut self, sdp: &str) -> Result<(), PeerError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| PeerError::Sdp(e.to_string()))?;
        let pending = self
            .pending
            .take()
            .ok_or_else(|| PeerError::State("answer without a pending offer".into()))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        let mids: Vec<(Mid, MediaKind)> = self.kinds.iter().map(|(m, k)| (*m, *k)).collect();
        for (mid, kind) in mids {
            let (codec, step) = match kind {
                MediaKind::Audio => (Codec::Opus, AUDIO_STEP),
                MediaKind::Video => (
                    match self.config.video_codec {
                        VideoCodec::Vp8 => Codec::Vp8,
                        VideoCodec::H264 => Codec::H264,
                    },
                    VIDEO_STEP,
                ),
            };
            let rids: Vec<Option<Rid>> = if self.simulcast_mid == Some(mid) {
                self.config
                    .simulcast
                    .iter()
                    .map(|r| Some(r.as_str().into()))
                    .collect()
            } else {
                vec![None]
            };
            let Some(pt) = self.negotiated_pt(mid, codec) else {
                continue;
            };
            for rid in rids {
                // A renegotiation keeps the running streams' sequence and time lines.
                self.tx.entry((mid, rid)).or_insert_with(|| TxStream {
                    // Random starts, as real senders do; below 2^15 so no ROC is involved.
                    pt,
                    seq: u64::from(rand::random::<u16>() >> 1),
                    time: rand::random(),
                    step,
                });
            }
        }
        Ok(())
    }

    /// Answers a remote offer; records its audio/video m-lines.
    fn accept_offer(&mut self, sdp: &str) -> Result<Offer, PeerError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| PeerError::Sdp(e.to_string()))?;
        // Any offer of ours still pending is superseded (str0m invalidates it too).
        self.pending = None;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        let known: Vec<String> = self
            .shared
            .state
            .lock()
            .media
            .iter()
            .map(|m| m.mid.clone())
            .collect();
        let added: Vec<MediaLine> = offered_media(sdp)
            .into_iter()
            .filter(|m| !known.contains(&m.mid))
            .collect();
        for m in &added {
            self.kinds.insert(m.mid.as_str().into(), m.kind);
        }
        self.shared.update(|s| s.media.extend(added));
        let sdp = answer.to_sdp_string();
        self.outgoing(sdp, "answer")
    }

    /// The payload type the answer accepted for `codec` on `mid`.
    fn negotiated_pt(&self, mid: Mid, codec: Codec) -> Option<Pt> {
        let cfg = self.rtc.codec_config();
        let is_codec = |pt: Pt| {
            cfg.find(|p| p.pt() == pt && p.spec().codec == codec)
                .is_some()
        };
        let media = self.rtc.media(mid)?;
        media
            .remote_pts()
            .iter()
            .copied()
            .find(|pt| is_codec(*pt))
            .or_else(|| cfg.find(|p| p.spec().codec == codec).map(|p| p.pt()))
    }

    fn send_rtp(&mut self, mid: &str, payload: Vec<u8>, marker: bool) -> Result<(), PeerError> {
        let mid: Mid = mid.into();
        let Some(tx) = self.tx.get_mut(&(mid, None)) else {
            return Err(PeerError::State(format!(
                "mid {mid} not negotiated for sending"
            )));
        };
        let write =
            RtpWrite::new(tx.pt, tx.seq.into(), tx.time, Instant::now(), payload).marker(marker);
        tx.seq += 1;
        tx.time = tx.time.wrapping_add(tx.step);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return Err(PeerError::State(format!("no send stream for mid {mid}")));
        };
        stream.write_rtp(write);
        self.shared
            .update(|s| *s.sent.entry(mid.to_string()).or_default() += 1);
        Ok(())
    }
}

impl Driver {
    fn send_frame(
        &mut self,
        mid: &str,
        rid: Option<&str>,
        packets: Vec<Vec<u8>>,
        rtp_step: u32,
    ) -> Result<(), PeerError> {
        let rid: Option<Rid> = rid.map(Rid::from);
        self.write_frame(
            mid.into(),
            rid,
            packets,
            rtp_step,
            ExtensionValues::default(),
        )
    }

    /// Writes one frame (consecutive packets sharing one timestamp, marker on the last) on
    /// the stream of `mid`/`rid`, then advances its timestamp by `rtp_step`.
    fn write_frame(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        packets: Vec<Vec<u8>>,
        rtp_step: u32,
        exts: ExtensionValues,
    ) -> Result<(), PeerError> {
        let Some(tx) = self.tx.get_mut(&(mid, rid)) else {
            return Err(PeerError::State(format!(
                "mid {mid} rid {rid:?} not negotiated for sending"
            )));
        };
        let now = Instant::now();
        let count = packets.len();
        let time = tx.time;
        let first_seq = tx.seq;
        let pt = tx.pt;
        tx.seq += count as u64;
        tx.time = tx.time.wrapping_add(rtp_step);
        // Video answers NACKs from str0m's send buffer, as browsers do.
        let nackable = self.kinds.get(&mid) == Some(&MediaKind::Video);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, rid) else {
            return Err(PeerError::State(format!(
                "no send stream for mid {mid} rid {rid:?}"
            )));
        };
        for (i, payload) in packets.into_iter().enumerate() {
            let seq = first_seq + i as u64;
            stream.write_rtp(
                RtpWrite::new(pt, seq.into(), time, now, payload)
                    .marker(i + 1 == count)
                    .ext_vals(exts.clone())
                    .nackable(nackable),
            );
        }
        self.shared
            .update(|s| *s.sent.entry(mid.to_string()).or_default() += count as u64);
        Ok(())
    }

    /// Video layer (0 = lowest) of a simulcast RID; [`PeerConfig::simulcast`] lists the RIDs
    /// highest first.
    fn layer_of_rid(&self, rid: Rid) -> Option<usize> {
        let rids = &self.config.simulcast;
        let i = rids.iter().position(|r| Rid::from(r.as_str()) == rid)?;
        rids.len().checked_sub(i + 1)
    }

    /// RID of video layer `layer` (0 = lowest).
    fn rid_of_layer(&self, layer: usize) -> Option<Rid> {
        let rids = &self.config.simulcast;
        let i = rids.len().checked_sub(layer + 1)?;
        rids.get(i).map(|r| Rid::from(r.as_str()))
    }

    /// The first m-line of `kind` we can send on (the simulcast one for video, if any).
    fn send_mid(&self, kind: MediaKind) -> Option<Mid> {
        if kind == MediaKind::Video
            && let Some(m) = self.simulcast_mid
            && self.tx.keys().any(|(t, _)| *t == m)
        {
            return Some(m);
        }
        let state = self.shared.state.lock();
        state
            .media
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| Mid::from(l.mid.as_str()))
            .find(|m| self.tx.contains_key(&(*m, None)))
    }

    /// Writes the media source's frames that are due.
    fn send_due_media(&mut self) {
        let Some(src) = &mut self.source else { return };
        let now = Instant::now();
        if src.next_due() > now {
            return;
        }
        let frames = src.frames_due(now);
        let audio = self.send_mid(MediaKind::Audio);
        let video = self.send_mid(MediaKind::Video);
        let simulcast = video.is_some() && video == self.simulcast_mid;
        for f in frames {
            let FrameOut {
                kind,
                layer,
                packets,
                rtp_step,
                audio_level,
                ..
            } = f;
            let (mid, rid) = match kind {
                FrameKind::Audio => (audio, None),
                FrameKind::Video if simulcast => (video, self.rid_of_layer(layer)),
                FrameKind::Video => (video, None),
            };
            let Some(mid) = mid else { continue };
            let mut exts = ExtensionValues::default();
            if let Some(level) = audio_level {
                let level = level.min(SILENCE);
                exts.audio_level = Some(-(level as i8));
                exts.voice_activity = Some(level < 60);
            }
            if let Err(e) = self.write_frame(mid, rid, packets, rtp_step, exts) {
                tracing::debug!("media source: {e}");
            }
        }
    }

    /// Looks at an incoming datagram before str0m: counts RTP on the wire per SSRC and
    /// applies the drop rule. True if the datagram must be dropped.
    fn inspect_datagram(&mut self, buf: &[u8]) -> bool {
        let Some((ssrc, seq, _pt)) = rtp_header(buf) else {
            return false;
        };
        let mut drop = false;
        if let Some(rule) = &mut self.drop_rule
            && rule.ssrc.is_none_or(|s| s == ssrc)
        {
            if rule.skip > 0 {
                rule.skip -= 1;
            } else {
                rule.count = rule.count.saturating_sub(1);
                drop = true;
            }
            if rule.count == 0 {
                self.drop_rule = None;
            }
        }
        let highest = self.wire_highest.get(&ssrc).copied();
        let ext = extend_seq(highest, seq);
        self.wire_highest
            .insert(ssrc, highest.map_or(ext, |h| h.max(ext)));
        self.shared.update(|s| {
            if drop {
                s.dropped.push(Dropped { ssrc, seq });
            }
            let st = s.ssrcs.entry(ssrc).or_default();
            st.wire_packets += 1;
            st.wire.record(ext);
        });
        drop
    }
}
