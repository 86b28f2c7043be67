//! The task that owns one `Rtc` and its socket. str0m contract: after every mutation
//! (`handle_input`, SDP change, write) drain `poll_output()` until it returns `Timeout`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::state::{DataMessage, MediaLine};
use super::{
    Command, Offer, PeerConfig, PeerError, Renegotiation, Shared, srtp, trickle_candidate,
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
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
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
            let timeout = self.drain().await?;
            let wake = tokio::select! {
                r = self.socket.recv_from(&mut buf) => Wake::Datagram(r),
                c = rx.recv() => Wake::Command(c),
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => Wake::Timeout,
            };
            match wake {
                Wake::Datagram(r) => {
                    let (n, source) = r?;
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
                self.shared.update(|s| {
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
                    (tap.0)(&r.mid.to_string(), r.rid.as_ref().map(|rid| &**rid));
                }
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

    /// Makes an offer adding `kinds` (sendrecv) and `channel`, optionally restarting ICE;
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
                let mid = api.add_media(*kind, Direction::SendRecv, None, None, sim);
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
        let sdp = offer.to_sdp_string();
        let first_mid = first_mid(&sdp)
            .ok_or_else(|| PeerError::Sdp("offer has no a=mid".into()))?
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
                MediaKind::Video => (Codec::Vp8, VIDEO_STEP),
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
        let first_mid = first_mid(&sdp)
            .ok_or_else(|| PeerError::Sdp("answer has no a=mid".into()))?
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
        let mid: Mid = mid.into();
        let rid: Option<Rid> = rid.map(Rid::from);
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
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, rid) else {
            return Err(PeerError::State(format!(
                "no send stream for mid {mid} rid {rid:?}"
            )));
        };
        for (i, payload) in packets.into_iter().enumerate() {
            let seq = first_seq + i as u64;
            stream.write_rtp(
                RtpWrite::new(pt, seq.into(), time, now, payload).marker(i + 1 == count),
            );
        }
        self.shared
            .update(|s| *s.sent.entry(mid.to_string()).or_default() += count as u64);
        Ok(())
    }
}

/// The first `a=mid:` of an SDP (the BUNDLE tag Janus trickles against).
fn first_mid(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
}

/// The audio/video m-lines of an SDP with their mids, in order.
fn offered_media(sdp: &str) -> Vec<MediaLine> {
    let mut out = Vec::new();
    let mut kind = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            kind = if m.starts_with("audio ") {
                Some(MediaKind::Audio)
            } else if m.starts_with("video ") {
                Some(MediaKind::Video)
            } else {
                None
            };
        } else if let (Some(k), Some(mid)) = (kind, line.strip_prefix("a=mid:")) {
            out.push(MediaLine {
                mid: mid.to_string(),
                kind: k,
            });
            kind = None;
        }
    }
    out
}

/// Removes candidate lines so the remote must learn them by trickle, as with a browser offer.
fn strip_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_candidates_and_finds_mid() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\nm=video 9 x 96\r\na=mid:1\r\n";
        let s = strip_candidates(sdp);
        assert!(!s.contains("candidate"));
        assert!(s.contains("a=mid:1\r\n"));
        assert_eq!(first_mid(sdp), Some("0"));
    }

    #[test]
    fn lists_offered_media_lines() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\nm=video 9 x 96\r\na=mid:v1\r\n";
        let media = offered_media(sdp);
        assert_eq!(
            media,
            vec![
                MediaLine {
                    mid: "a0".into(),
                    kind: MediaKind::Audio
                },
                MediaLine {
                    mid: "v1".into(),
                    kind: MediaKind::Video
                },
            ]
        );
    }
}
