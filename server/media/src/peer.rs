//! One PeerConnection: a str0m `Rtc` in RTP mode plus what the core tracks about it.
//!
//! The peer never does I/O itself: it is driven by its shard, which hands it input and a
//! [`PeerIo`] to put its output in. Every mutation of the `Rtc` is followed by a full
//! drain of `poll_output` (str0m's contract), done by [`Peer::drain`], except routed RTP
//! writes, which str0m holds until the next timeout anyway (see [`Peer::write_rtp`]).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::crypto::dtls::SrtpProfile;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{KeyframeRequestKind, MediaKind as StrKind, Mid, Rid, Rids};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use crate::audio_level::TalkDetector;
use crate::demux::{Demux, PacketClass, classify};
use crate::egress::{self, NativeEgress};
use crate::error::MediaError;
use crate::forwarder::Forwarders;
use crate::router::av1_dd::{DD_URI, DdBytes, DdSerializer, DdState, sdp_names_av1};
use crate::router::keyframe::{PayloadDesc, VideoCodec, describe};
use crate::router::layer::substream_index;
use crate::router::rewrite::RtpOut;
use crate::router::{CodecInfo, ForwardPacket, RouterShard, source_key};
use crate::sdp;
use crate::srtp;
use crate::types::*;

/// How often the peer checks its media timers and repeats REMB.
const HOUSEKEEPING: Duration = Duration::from_millis(500);
/// ICE that stays disconnected this long is a failure (Janus "ICE failed").
const ICE_FAIL_AFTER: Duration = Duration::from_secs(5);
/// Resend (NACK) cache of each send stream: what a subscriber can still ask for again.
/// Janus keeps 500 ms (max_nack_queue); a second covers RTTs up to about 500 ms with a
/// retry. str0m's default (1024 packets, 3 s) would hold ~1.2 MB per video target.
const RTX_CACHE_VIDEO: (usize, Duration) = (512, Duration::from_secs(1));
const RTX_CACHE_AUDIO: (usize, Duration) = (64, Duration::from_secs(1));
/// Resends are dropped when they exceed this share of what is sent (str0m's default).
const RTX_RATIO_CAP: Option<f32> = Some(0.15);
/// A bitrate cap is re-sent this often (browsers forget REMB after a while).
const REMB_INTERVAL: Duration = Duration::from_secs(5);

/// Per-peer settings taken from the engine config.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub host_addrs: Vec<SocketAddr>,
    pub nat_1_1: Option<std::net::IpAddr>,
    pub no_media: Duration,
    pub slowlink_threshold: u32,
    /// Offer and accept the AV1 dependency descriptor (see `MediaConfig`).
    pub av1_dependency_descriptor: bool,
    /// Send routed RTP to send-only peers on the native path (see `crate::egress`).
    pub native_egress: bool,
}

/// Where a draining peer puts what it produces.
pub struct PeerIo<'a> {
    pub send: &'a mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    pub demux: &'a Demux,
    pub events: &'a UnboundedSender<MediaEvent>,
    pub router: &'a RouterShard,
    /// Packets to route, and keyframe requests received from the remote (its mid).
    pub forward: &'a mut Vec<Arc<ForwardPacket>>,
    pub keyframe_requests: &'a mut Vec<(HandleId, Mid)>,
    /// Plain-RTP forwarders of this shard (their sources' packets are routed too).
    pub forwarders: &'a Forwarders,
}

#[derive(Debug)]
struct MidState {
    mid: Mid,
    kind: MediaKind,
    receiving: bool,
    last_rx: Option<Instant>,
    rids: Vec<String>,
    /// SSRC-signalled simulcast (`a=ssrc-group:SIM`) of the client: main SSRCs, lowest first.
    sim_ssrcs: Vec<u32>,
    /// Talk detection on this (audio) m-line, when a plugin asked for it.
    talk: Option<TalkDetector>,
    /// The send stream whose resend cache has been sized.
    rtx_sized: Option<Ssrc>,
    /// AV1: the last dependency descriptor structure, per simulcast layer (index capped).
    av1_dd: [DdState; AV1_DD_LAYERS],
}

/// Simulcast layers whose AV1 dependency descriptor structures are kept apart.
const AV1_DD_LAYERS: usize = 4;

/// Header extension id offered for the AV1 dependency descriptor (str0m's standard map
/// leaves it free; a remote's own id replaces it in negotiation).
const AV1_DD_EXT_ID: u8 = 12;

fn av1_dd_extension(gate: Arc<AtomicBool>) -> Extension {
    Extension::with_serializer(DD_URI, DdSerializer::gated(gate))
}

/// Why a peer has ended; the shard turns it into a `Hangup` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEnd {
    IceFailed,
    DtlsAlert,
    /// A bug in the stack while driving this peer (caught, so the shard lives on).
    Internal,
}

impl PeerEnd {
    pub fn reason(&self) -> &'static str {
        match self {
            PeerEnd::IceFailed => "ICE failed",
            PeerEnd::DtlsAlert => "DTLS alert",
            PeerEnd::Internal => "Internal error",
        }
    }
}

/// What a PeerConnection is for, as far as it is known when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Created for a server offer whose m-lines all send (a VideoRoom or Streaming
    /// subscriber). Such a peer does not negotiate the transport-wide sequence number:
    /// nothing uses the client's transport-cc feedback (the router's auto-layer reads REMB,
    /// and str0m's own send-side BWE stays off), and without it the client sends no feedback
    /// every few tens of milliseconds, and no packet carries the extension. The client falls
    /// back to REMB, which is what auto-layer reads. The extensions are fixed when the
    /// `Rtc` is made: should such a handle later also receive (a renegotiation adding a
    /// recvonly m-line), its client's send rate follows loss and our REMB only.
    SendOnly,
    /// Anything else: the standard extensions, transport-cc included (a publisher's
    /// browser adapts its send rate to our transport-cc feedback).
    Any,
}

/// str0m's standard header extensions minus transport-cc (see [`PeerRole::SendOnly`]).
fn extensions_without_twcc() -> ExtensionMap {
    let standard = ExtensionMap::standard();
    let mut exts = ExtensionMap::empty();
    for (id, ext) in standard.iter() {
        if *ext != Extension::TransportSequenceNumber {
            exts.set(id, ext.clone());
        }
    }
    exts
}

pub struct Peer {
    pub handle: HandleId,
    rtc: Rtc,
    /// Client offer waiting for the plugin's answer.
    pending_remote_offer: Option<String>,
    /// Our offer waiting for the client's answer.
    pending_local_offer: Option<SdpPendingOffer>,
    /// A remote description has been applied (candidates can go in).
    pub has_remote: bool,
    pub first_mid: Option<String>,
    ufrag: String,
    addrs: HashSet<SocketAddr>,
    mids: Vec<MidState>,
    channels: Vec<(ChannelId, String)>,
    data_offered: bool,
    connected: bool,
    ice_down_since: Option<Instant>,
    remb: Option<(u32, Instant)>,
    next_housekeeping: Instant,
    /// When str0m wants `Input::Timeout`.
    rtc_deadline: Instant,
    /// Earliest deadline the shard has queued for us (see `shard::deadlines`).
    pub scheduled: Option<Instant>,
    /// Routed packets were written and wait for the shard's next timer pass to go out.
    pub due: bool,
    /// Open while the negotiated SDP names AV1: only then are received dependency
    /// descriptors kept (see `router::av1_dd::DdSerializer`).
    av1_dd_gate: Arc<AtomicBool>,
    /// `map_pt` answers per (mid, source codec), looked up for every routed packet; cleared
    /// whenever a description is applied (payload types can change only then).
    pt_cache: Vec<(Mid, CodecInfo, Option<str0m::media::Pt>)>,
    /// The send stream's SSRC per mid, for the same reason and with the same lifetime: str0m
    /// finds a stream by mid with a scan of all its streams, by SSRC with a hash lookup.
    tx_ssrc_cache: Vec<(Mid, Ssrc)>,
    /// May this peer's routed RTP take the native send path (`crate::egress`)?
    native_allowed: bool,
    /// The native send path, once DTLS has given its keys (GCM profiles only).
    egress: Option<NativeEgress>,
    /// (local, remote) of the last datagram other than STUN str0m sent: the selected pair,
    /// which the native path sends on (none: ICE lost it, packets go through str0m).
    media_path: Option<(SocketAddr, SocketAddr)>,
    pub srtp_profile: Option<SrtpProfile>,
    pub ended: Option<PeerEnd>,
    /// The latest estimate of what we can send this peer (bits/s), for the router's
    /// auto-layer routes; the shard takes it.
    pub estimate: Option<u64>,
    slowlink_threshold: u32,
    /// Packet counters of the last stats report per (mid, rid, ingress), for slowlink.
    packet_counts: HashMap<(Mid, Option<Rid>, bool), u64>,
    no_media: Duration,
}

fn kind_of(k: StrKind) -> MediaKind {
    match k {
        StrKind::Audio => MediaKind::Audio,
        StrKind::Video => MediaKind::Video,
    }
}

/// The kind of media a codec is for; `None` for auxiliary ones (RTX, RED, ...).
fn kind_of_codec(c: Codec) -> Option<MediaKind> {
    if c.is_audio() {
        Some(MediaKind::Audio)
    } else if c.is_video() {
        Some(MediaKind::Video)
    } else {
        None
    }
}

fn str_kind(k: MediaKind) -> StrKind {
    match k {
        MediaKind::Audio => StrKind::Audio,
        MediaKind::Video => StrKind::Video,
    }
}

fn str_dir(d: Direction) -> str0m::media::Direction {
    match d {
        Direction::SendRecv => str0m::media::Direction::SendRecv,
        Direction::SendOnly => str0m::media::Direction::SendOnly,
        Direction::RecvOnly => str0m::media::Direction::RecvOnly,
        Direction::Inactive => str0m::media::Direction::Inactive,
    }
}

fn codec_info(p: &PayloadParams) -> CodecInfo {
    let spec = p.spec();
    let h264 = (spec.codec == Codec::H264).then(|| {
        (
            spec.format.packetization_mode.unwrap_or(0),
            spec.format.profile_level_id.unwrap_or(0),
        )
    });
    CodecInfo {
        codec: spec.codec,
        clock_rate: spec.clock_rate.get(),
        channels: spec.channels,
        h264,
    }
}

fn video_codec(c: Codec) -> VideoCodec {
    match c {
        Codec::Vp8 => VideoCodec::Vp8,
        Codec::Vp9 => VideoCodec::Vp9,
        Codec::H264 => VideoCodec::H264,
        Codec::Av1 => VideoCodec::Av1,
        _ => VideoCodec::Other,
    }
}

impl Peer {
    pub fn new(
        handle: HandleId,
        cfg: &PeerConfig,
        demux: &Demux,
        now: Instant,
        role: PeerRole,
    ) -> Peer {
        let mut config = RtcConfig::new();
        if role == PeerRole::SendOnly {
            config = config.set_extension_map(extensions_without_twcc());
        }
        // AV1 SVC: the dependency descriptor is read from publishers and forwarded to
        // subscribers (see `router::av1_dd`).
        let av1_dd_gate = Arc::new(AtomicBool::new(false));
        if cfg.av1_dependency_descriptor {
            config = config.set_extension(AV1_DD_EXT_ID, av1_dd_extension(av1_dd_gate.clone()));
        }
        let mut rtc = config
            .set_rtp_mode(true)
            .set_crypto_provider(srtp::crypto_provider())
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        for addr in &cfg.host_addrs {
            match Candidate::host(*addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => warn!("host candidate {addr}: {e}"),
            }
            if let Some(public) = cfg.nat_1_1 {
                let public = SocketAddr::new(public, addr.port());
                match Candidate::server_reflexive(public, *addr, "udp") {
                    Ok(c) => {
                        rtc.add_local_candidate(c);
                    }
                    Err(e) => warn!("nat_1_1 candidate {public}: {e}"),
                }
            }
        }
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        demux.add_ufrag(&ufrag, handle);
        Peer {
            handle,
            rtc,
            pending_remote_offer: None,
            pending_local_offer: None,
            has_remote: false,
            first_mid: None,
            ufrag,
            addrs: HashSet::new(),
            mids: Vec::new(),
            channels: Vec::new(),
            data_offered: false,
            connected: false,
            ice_down_since: None,
            remb: None,
            next_housekeeping: now + HOUSEKEEPING,
            rtc_deadline: now,
            scheduled: None,
            due: false,
            av1_dd_gate,
            pt_cache: Vec::new(),
            tx_ssrc_cache: Vec::new(),
            native_allowed: cfg.native_egress && role == PeerRole::SendOnly,
            egress: None,
            media_path: None,
            srtp_profile: None,
            ended: None,
            estimate: None,
            slowlink_threshold: cfg.slowlink_threshold,
            packet_counts: HashMap::new(),
            no_media: cfg.no_media,
        }
    }

    /// When the shard must call [`Peer::on_timeout`] next.
    pub fn deadline(&self) -> Instant {
        self.rtc_deadline.min(self.next_housekeeping)
    }

    /// Removes the peer's entries from the shared demux tables.
    pub fn unregister(&mut self, demux: &Demux) {
        demux.remove_ufrag(&self.ufrag, self.handle);
        for a in self.addrs.drain() {
            demux.remove_addr(a, self.handle);
        }
    }

    pub fn on_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
        io: &mut PeerIo,
    ) {
        let r = match Receive::new(Protocol::Udp, source, destination, data) {
            Ok(r) => r,
            Err(e) => {
                debug!(
                    handle = self.handle,
                    "dropping unparsable datagram from {source}: {e}"
                );
                return;
            }
        };
        if let (Some(eg), Some(path)) = (self.egress.as_mut(), self.media_path)
            && egress::is_rtcp(data)
        {
            eg.on_rtcp(now, data, path, io.send);
        }
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, r)) {
            debug!(handle = self.handle, "input from {source} rejected: {e}");
        }
        self.drain(now, io);
    }

    pub fn on_timeout(&mut self, now: Instant, io: &mut PeerIo) {
        self.due = false;
        if now >= self.next_housekeeping {
            self.housekeeping(now, io);
        }
        if now >= self.rtc_deadline
            && let Err(e) = self.rtc.handle_input(Input::Timeout(now))
        {
            debug!(handle = self.handle, "timeout input: {e}");
        }
        self.drain(now, io);
    }

    // ---- SDP ----------------------------------------------------------------------

    /// Stores a client offer until the plugin answers it.
    pub fn set_remote_offer(&mut self, sdp: String, first_mid: Option<String>) {
        self.pending_remote_offer = Some(sdp);
        self.first_mid = first_mid;
    }

    pub fn answer(
        &mut self,
        now: Instant,
        spec: &AnswerSpec,
        io: &mut PeerIo,
    ) -> Result<String, MediaError> {
        self.clear_send_caches();
        let offer = self
            .pending_remote_offer
            .take()
            .ok_or(MediaError::NoPendingOffer)?;
        let shaped = sdp::shape_offer(&offer, spec);
        let parsed = sdp::parse_offer(&shaped)?;
        // A client offer replaces any offer of ours that it crossed (glare: the client wins).
        self.pending_local_offer = None;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| MediaError::InvalidSdp(e.to_string()));
        // New ICE credentials in a client offer restart ICE and str0m picks new local ones:
        // the client's checks now name the new ufrag.
        self.refresh_ufrag(io.demux);
        self.drain(now, io);
        let answer = answer?;
        self.has_remote = true;
        self.learn_mids(&offer, true);
        let answer = answer.to_sdp_string();
        self.av1_dd_gate
            .store(sdp_names_av1(&answer), Ordering::Relaxed);
        Ok(sdp::add_end_of_candidates(&answer))
    }

    /// A server offer as the spec says: `mid: Some` keeps that m-line (its direction set),
    /// `None` adds one; existing m-lines the spec does not list become inactive; each
    /// listed m-line offers only its `codecs` (in that order) when some are given.
    pub fn offer(
        &mut self,
        now: Instant,
        spec: &OfferSpec,
        io: &mut PeerIo,
    ) -> Result<LocalOffer, MediaError> {
        self.clear_send_caches();
        // Check the whole spec before touching the Rtc: str0m applies direction changes to
        // the session at once, so a half-applied bad spec would leak into the next offer.
        let mut kept: Vec<Mid> = Vec::new();
        for m in &spec.media {
            let Some(mid) = &m.mid else { continue };
            let mid = Mid::from(mid.as_str());
            let Some(media) = self.rtc.media(mid) else {
                return Err(MediaError::WrongState(format!("no m-line {mid} to keep")));
            };
            if kind_of(media.kind()) != m.kind {
                return Err(MediaError::WrongState(format!(
                    "m-line {mid} is {}, not {}",
                    kind_of(media.kind()).as_str(),
                    m.kind.as_str()
                )));
            }
            if kept.contains(&mid) {
                return Err(MediaError::WrongState(format!("m-line {mid} listed twice")));
            }
            kept.push(mid);
        }
        for m in &spec.media {
            if !m.codecs.is_empty() && !self.can_offer(m, m.mid.as_deref().map(Mid::from)) {
                return Err(MediaError::WrongState(format!(
                    "cannot offer any of the codecs {:?} for {}",
                    m.codecs,
                    m.kind.as_str()
                )));
            }
        }
        let unlisted: Vec<Mid> = self
            .mids
            .iter()
            .map(|m| m.mid)
            .filter(|m| !kept.contains(m))
            .collect();
        let mut api = self.rtc.sdp_api();
        let mut mids = Vec::with_capacity(spec.media.len());
        for m in &spec.media {
            let mid = match &m.mid {
                Some(mid) => {
                    let mid = Mid::from(mid.as_str());
                    api.set_direction(mid, str_dir(m.direction));
                    mid
                }
                None => api.add_media(
                    str_kind(m.kind),
                    str_dir(m.direction),
                    Some(m.stream_id.clone().unwrap_or_else(|| "janus".into())),
                    None,
                    None,
                ),
            };
            mids.push(mid.to_string());
        }
        for mid in unlisted {
            api.set_direction(mid, str0m::media::Direction::Inactive);
        }
        if spec.data_channels && self.channels.is_empty() && !self.data_offered {
            // str0m opens the SCTP m-line with the first channel; later ones reuse it.
            api.add_channel("JanusDataChannel".to_string());
            self.data_offered = true;
        }
        if spec.ice_restart {
            // str0m switches to the new credentials when the answer is applied; until then
            // the client's checks still name the old ufrag (see `remote_answer`).
            api.ice_restart(true);
        }
        let applied = api.apply();
        self.drain(now, io);
        let Some((offer, pending)) = applied else {
            return Err(MediaError::WrongState(
                "nothing to offer: no change to negotiate".into(),
            ));
        };
        let offer = offer.to_sdp_string();
        let wanted: Vec<(String, Vec<String>)> = spec
            .media
            .iter()
            .zip(&mids)
            .filter(|(m, _)| !m.codecs.is_empty())
            .map(|(m, mid)| (mid.clone(), m.codecs.clone()))
            .collect();
        // On error the pending offer is dropped: str0m changes nothing before the answer.
        let offer = sdp::restrict_codecs(&offer, &wanted)?;
        self.pending_local_offer = Some(pending);
        self.learn_mids(&offer, false);
        if spec.data_channels
            && let Some(mid) = sdp::application_mid(&offer)
        {
            mids.push(mid);
        }
        Ok(LocalOffer {
            sdp: sdp::add_end_of_candidates(&offer),
            mids,
        })
    }

    /// Whether an m-line (new, or `kept`) can offer one of `m.codecs`: a new one offers
    /// every configured codec of its kind, a kept one what was negotiated for it.
    fn can_offer(&self, m: &MediaOffer, kept: Option<Mid>) -> bool {
        let negotiated = kept
            .and_then(|mid| self.rtc.media(mid))
            .map(|media| media.remote_pts());
        self.rtc
            .codec_config()
            .params()
            .iter()
            .filter(|p| kind_of_codec(p.spec().codec) == Some(m.kind))
            .filter(|p| negotiated.is_none_or(|pts| pts.is_empty() || pts.contains(&p.pt())))
            .any(|p| {
                let name = p.spec().codec.to_string();
                m.codecs.iter().any(|c| c.eq_ignore_ascii_case(&name))
            })
    }

    pub fn remote_answer(
        &mut self,
        now: Instant,
        answer: &str,
        io: &mut PeerIo,
    ) -> Result<(), MediaError> {
        self.clear_send_caches();
        let pending = self
            .pending_local_offer
            .take()
            .ok_or(MediaError::UnexpectedAnswer)?;
        sdp::check_starts_with_version(answer)?;
        let parsed = SdpAnswer::from_sdp_string(answer)
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let r = self
            .rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| MediaError::InvalidSdp(e.to_string()));
        // Our ICE restart, if the offer had one, takes effect now.
        self.refresh_ufrag(io.demux);
        self.drain(now, io);
        r?;
        self.has_remote = true;
        self.learn_mids(answer, true);
        self.av1_dd_gate
            .store(sdp_names_av1(answer), Ordering::Relaxed);
        Ok(())
    }

    /// Points the demux at the ufrag str0m uses now, if an ICE restart changed it.
    fn refresh_ufrag(&mut self, demux: &Demux) {
        let ufrag = self.rtc.direct_api().local_ice_credentials().ufrag;
        if ufrag != self.ufrag {
            demux.remove_ufrag(&self.ufrag, self.handle);
            demux.add_ufrag(&ufrag, self.handle);
            self.ufrag = ufrag;
        }
    }

    pub fn has_pending_local_offer(&self) -> bool {
        self.pending_local_offer.is_some()
    }

    pub fn add_remote_candidate(&mut self, now: Instant, c: Candidate, io: &mut PeerIo) {
        self.rtc.add_remote_candidate(c);
        self.drain(now, io);
    }

    /// Learns the kinds and simulcast RIDs of the m-lines an SDP named, and from a client
    /// (`remote`) SDP its SSRC-signalled simulcast groups.
    fn learn_mids(&mut self, sdp_text: &str, remote: bool) {
        let summary = sdp::summarize(sdp_text, false);
        let sims = if remote {
            sdp::simulcast_ssrcs(sdp_text)
        } else {
            Vec::new()
        };
        for m in summary.media {
            let mid = Mid::from(m.mid.as_str());
            self.learn_mid(mid);
            if remote && let Some(state) = self.mids.iter_mut().find(|s| s.mid == mid) {
                state.sim_ssrcs = sims
                    .iter()
                    .find(|(s, _)| *s == m.mid)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
            }
        }
    }

    fn learn_mid(&mut self, mid: Mid) {
        let Some(media) = self.rtc.media(mid) else {
            return;
        };
        let kind = kind_of(media.kind());
        let rids = match media.rids_rx() {
            Rids::Specific(v) => v.iter().map(|r| r.to_string()).collect(),
            _ => Vec::new(),
        };
        if let Some(s) = self.mids.iter_mut().find(|s| s.mid == mid) {
            s.kind = kind;
            s.rids = rids;
        } else {
            self.mids.push(MidState {
                mid,
                kind,
                receiving: false,
                last_rx: None,
                rids,
                sim_ssrcs: Vec::new(),
                talk: None,
                rtx_sized: None,
                av1_dd: Default::default(),
            });
        }
        self.size_rtx_cache(mid);
    }

    /// Sizes the resend cache of the m-line's send stream, once per stream (resizing
    /// empties it).
    fn size_rtx_cache(&mut self, mid: Mid) {
        let Some(state) = self.mids.iter_mut().find(|s| s.mid == mid) else {
            return;
        };
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        if state.rtx_sized == Some(tx.ssrc()) {
            return;
        }
        let (packets, age) = match state.kind {
            MediaKind::Video => RTX_CACHE_VIDEO,
            MediaKind::Audio => RTX_CACHE_AUDIO,
        };
        tx.set_rtx_cache(packets, age, RTX_RATIO_CAP);
        state.rtx_sized = Some(tx.ssrc());
    }

    // ---- control ------------------------------------------------------------------

    pub fn send_data(
        &mut self,
        now: Instant,
        msg: &DataMessage,
        io: &mut PeerIo,
    ) -> Result<(), MediaError> {
        let id = self
            .channels
            .iter()
            .find(|(_, l)| *l == msg.label)
            .or_else(|| self.channels.first())
            .map(|(id, _)| *id)
            .ok_or_else(|| MediaError::Data("no data channel is open".into()))?;
        let r = match self.rtc.channel(id) {
            Some(mut ch) => ch.write(msg.binary, &msg.data),
            None => {
                return Err(MediaError::Data("data channel is not open".into()));
            }
        };
        self.drain(now, io);
        match r {
            Ok(true) => Ok(()),
            Ok(false) => Err(MediaError::Data("data channel buffer is full".into())),
            Err(e) => Err(MediaError::Data(e.to_string())),
        }
    }

    /// Sends PLI on the receive stream(s) of `mid` (one layer or all).
    pub fn request_keyframe(&mut self, now: Instant, mid: Mid, layer: Option<u8>, io: &mut PeerIo) {
        for ssrc in self.rx_ssrcs(mid, layer) {
            if let Some(rx) = self.rtc.direct_api().stream_rx(&ssrc) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
            }
        }
        self.drain(now, io);
    }

    /// The receive streams of `mid`: every simulcast layer (RIDs or SIM SSRCs) or only
    /// `layer`, or the one stream of a plain m-line.
    fn rx_ssrcs(&mut self, mid: Mid, layer: Option<u8>) -> Vec<Ssrc> {
        let Some(state) = self.mids.iter().find(|m| m.mid == mid) else {
            return Vec::new();
        };
        let wanted = |i: Option<u8>| layer.is_none() || i == layer;
        if !state.sim_ssrcs.is_empty() {
            return state
                .sim_ssrcs
                .iter()
                .enumerate()
                .filter(|(i, _)| wanted(u8::try_from(*i).ok()))
                .map(|(_, s)| Ssrc::from(*s))
                .collect();
        }
        let rids = state.rids.clone();
        let mut api = self.rtc.direct_api();
        if rids.is_empty() {
            return api
                .stream_rx_by_mid(mid, None)
                .map(|rx| rx.ssrc())
                .into_iter()
                .collect();
        }
        rids.iter()
            .filter(|r| wanted(substream_index(&rids, r)))
            .filter_map(|r| {
                api.stream_rx_by_mid(mid, Some(r.as_str().into()))
                    .map(|rx| rx.ssrc())
            })
            .collect()
    }

    /// Starts (`Some`) or stops talk detection on an audio m-line of this peer. The same
    /// settings again keep the current state (a renegotiation re-asks).
    pub fn set_talk_detection(
        &mut self,
        mid: Mid,
        config: Option<TalkDetection>,
    ) -> Result<(), MediaError> {
        let Some(state) = self.mids.iter_mut().find(|m| m.mid == mid) else {
            return Err(MediaError::WrongState(format!("no m-line {mid}")));
        };
        if state.kind != MediaKind::Audio {
            return Err(MediaError::WrongState(format!("m-line {mid} is not audio")));
        }
        match config {
            None => state.talk = None,
            Some(c) if state.talk.as_ref().is_some_and(|t| t.config() == c) => {}
            Some(c) => state.talk = Some(TalkDetector::new(c)),
        }
        Ok(())
    }

    /// ICE and DTLS are up (`WebrtcUp` was reported).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether `mid` is a video m-line of this PeerConnection.
    pub fn is_video(&self, mid: Mid) -> bool {
        self.mids
            .iter()
            .any(|m| m.mid == mid && m.kind == MediaKind::Video)
    }

    /// Whether the PeerConnection has an m-line `mid`.
    pub fn has_mid(&self, mid: Mid) -> bool {
        self.mids.iter().any(|m| m.mid == mid)
    }

    /// The payload type a codec has on this peer (the one its packets carry).
    pub fn source_pt(&self, codec: &CodecInfo) -> Option<u8> {
        self.rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| codec_info(p) == *codec)
            .map(|p| *p.pt())
    }

    /// Caps what the client sends with REMB; 0 removes the cap.
    pub fn set_bitrate_cap(&mut self, now: Instant, bitrate: u32, io: &mut PeerIo) {
        if bitrate == 0 {
            self.remb = None;
            return;
        }
        self.remb = Some((bitrate, now));
        self.send_remb(bitrate);
        self.drain(now, io);
    }

    fn send_remb(&mut self, bitrate: u32) {
        let video: Vec<Mid> = self
            .mids
            .iter()
            .filter(|m| m.kind == MediaKind::Video)
            .map(|m| m.mid)
            .collect();
        let rate = str0m::bwe::Bitrate::bps(u64::from(bitrate));
        for mid in video {
            for ssrc in self.rx_ssrcs(mid, None) {
                if let Some(rx) = self.rtc.direct_api().stream_rx(&ssrc) {
                    rx.request_remb(rate);
                }
            }
        }
    }

    /// Writes a routed packet on the send stream of `mid`: on the native path when it is up
    /// (queued with `send` at once), else into str0m. True when str0m holds the packet and
    /// the peer must be driven for it to leave.
    pub fn write_rtp(
        &mut self,
        now: Instant,
        mid: Mid,
        p: &ForwardPacket,
        out: &RtpOut,
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) -> bool {
        let cached = self
            .pt_cache
            .iter()
            .find(|(m, c, _)| *m == mid && *c == p.codec)
            .map(|(_, _, pt)| *pt);
        let pt = match cached {
            Some(pt) => pt,
            None => {
                let pt = self.map_pt(mid, &p.codec);
                self.pt_cache.push((mid, p.codec, pt));
                pt
            }
        };
        let Some(pt) = pt else {
            debug!(handle = self.handle, %mid, "no payload type for {:?}; dropping", p.codec.codec);
            return false;
        };
        // With AV1 negotiated, packets may carry the dependency descriptor, which only
        // str0m's path writes: then the whole PeerConnection stays there (one sender per
        // stream, or the sender reports would count only part of it).
        let av1 = self.av1_dd_gate.load(Ordering::Relaxed);
        if av1
            && let Some(eg) = self.egress.as_mut()
            && eg.has_streams()
        {
            eg.clear_streams();
        }
        let native = !av1 && self.native_egress_active();
        // The native stream's SSRC needs no lookup in str0m until a description is applied.
        if native && self.egress.as_ref().is_some_and(|e| e.is_verified(mid)) {
            self.write_native(now, mid, *pt, p, out, send);
            return false;
        }
        let Some(ssrc) = self.tx_ssrc(mid) else {
            debug!(handle = self.handle, %mid, "no send stream; dropping routed packet");
            return false;
        };
        if native {
            self.ensure_native_stream(mid, *ssrc);
            self.write_native(now, mid, *pt, p, out, send);
            return false;
        }
        let ext = ExtensionValues {
            audio_level: p.ext.audio_level,
            voice_activity: p.ext.voice_activity,
            video_orientation: p.ext.video_orientation,
            video_content_type: p.ext.video_content_type,
            // Only AV1 packets carry a value (the dependency descriptor, written back
            // unchanged); for every other packet this is an empty map, cloned for free.
            user_values: p.ext.user_values.clone(),
            ..Default::default()
        };
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx(&ssrc) else {
            return false;
        };
        let mut write = RtpWrite::new(
            pt,
            SeqNo::from(out.seq),
            out.timestamp,
            p.arrival,
            p.payload.clone(),
        )
        .marker(out.marker)
        .ext_vals(ext)
        .nackable(true);
        if let Some(patch) = out.vp8 {
            // VP8 picture id / TL0PICIDX continuity, patched while str0m copies the payload.
            write = write.vp8_patch(patch);
        }
        tx.write_rtp(write);
        // str0m releases a written packet only at the next `Input::Timeout` (it stamps the
        // send queue there), so draining now would walk the whole Rtc for nothing. The
        // shard's timer pass drives this peer once per loop iteration instead, sending
        // every packet written to it in that iteration together.
        self.rtc_deadline = now;
        true
    }

    /// The SSRC of `mid`'s send stream (cached: str0m finds a stream by mid with a scan of
    /// all its streams, by SSRC with a hash lookup).
    fn tx_ssrc(&mut self, mid: Mid) -> Option<Ssrc> {
        let mut api = self.rtc.direct_api();
        if let Some(&(_, ssrc)) = self.tx_ssrc_cache.iter().find(|(m, _)| *m == mid)
            && api.stream_tx(&ssrc).is_some_and(|tx| tx.mid() == mid)
        {
            return Some(ssrc);
        }
        // First packet on this mid, or its stream changed: find it by mid once.
        self.tx_ssrc_cache.retain(|(m, _)| *m != mid);
        let ssrc = api.stream_tx_by_mid(mid, None)?.ssrc();
        self.tx_ssrc_cache.push((mid, ssrc));
        Some(ssrc)
    }

    /// Makes `mid`'s native stream the one of str0m's send stream `ssrc` (after a
    /// description was applied, or for the first packet): kept when its SSRC is unchanged,
    /// set up anew with the m-line's extension ids otherwise.
    fn ensure_native_stream(&mut self, mid: Mid, ssrc: u32) {
        let Some(eg) = self.egress.as_mut() else {
            return;
        };
        if eg.verify(mid, ssrc) {
            return;
        }
        let Some(m) = self.rtc.media(mid) else {
            return;
        };
        let map = m.remote_extmap();
        let ids = egress::ExtIds {
            abs_send_time: map.id_of(Extension::AbsoluteSendTime),
            audio_level: map.id_of(Extension::AudioLevel),
            video_orientation: map.id_of(Extension::VideoOrientation),
            video_content_type: map.id_of(Extension::VideoContentType),
        };
        eg.add_stream(mid, ssrc, ids, m.kind() == StrKind::Video);
    }

    /// Sends a routed packet on `mid`'s native stream (set up by `ensure_native_stream`).
    fn write_native(
        &mut self,
        now: Instant,
        mid: Mid,
        pt: u8,
        p: &ForwardPacket,
        out: &RtpOut,
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        let (Some(eg), Some(path)) = (self.egress.as_mut(), self.media_path) else {
            return;
        };
        let o = egress::Outgoing {
            pt,
            marker: out.marker,
            seq: out.seq,
            timestamp: out.timestamp,
            clock_rate: p.codec.clock_rate,
            payload: &p.payload,
            // The same condition as str0m's patch: only where the router could build one.
            picture: out.vp8.and(out.picture),
            audio_level: p
                .ext
                .audio_level
                .zip(p.ext.voice_activity)
                .map(|(level, voice)| (level.unsigned_abs(), voice)),
            video_orientation: p.ext.video_orientation.map(|o| o as u8),
            video_content_type: p.ext.video_content_type,
            arrival: p.arrival,
        };
        if let Err(e) = eg.send(now, mid, &o, path, send) {
            warn!(handle = self.handle, %mid, "native send: {e}");
        }
    }

    /// Starts the native send path when this peer may use it and DTLS gave GCM keys.
    fn start_native_egress(&mut self, k: &srtp::Keying) {
        if !self.native_allowed {
            return;
        }
        let aead = match k.profile {
            SrtpProfile::AEAD_AES_128_GCM => egress::Aead::Aes128Gcm,
            SrtpProfile::AEAD_AES_256_GCM => egress::Aead::Aes256Gcm,
            _ => {
                debug!(
                    handle = self.handle,
                    "SRTP profile without AEAD: routed RTP stays on str0m"
                );
                return;
            }
        };
        match egress::Keys::from_keying_material(aead, &k.material, k.dtls_client)
            .and_then(|keys| NativeEgress::new(&keys))
        {
            Ok(e) => {
                // Once per send-only PeerConnection, like the API's per-handle lines.
                info!(
                    handle = self.handle,
                    "routed RTP on the native send path ({})",
                    srtp::profile_name(k.profile)
                );
                self.egress = Some(e);
            }
            Err(e) => warn!(handle = self.handle, "native send path not started: {e}"),
        }
    }

    /// Forgets what `write_rtp` caches per mid: a description applied can change payload
    /// types and send streams.
    fn clear_send_caches(&mut self) {
        self.pt_cache.clear();
        self.tx_ssrc_cache.clear();
        if let Some(eg) = self.egress.as_mut() {
            eg.unverify();
        }
    }

    /// The target's payload type for a codec: same codec and (for H.264) the same
    /// packetization mode and profile, falling back to the same codec.
    fn map_pt(&self, mid: Mid, codec: &CodecInfo) -> Option<str0m::media::Pt> {
        let media = self.rtc.media(mid)?;
        let params = self.rtc.codec_config().params();
        let candidates = media
            .remote_pts()
            .iter()
            .filter_map(|pt| params.iter().find(|p| p.pt() == *pt))
            .filter(|p| {
                let c = codec_info(p);
                c.codec == codec.codec && c.clock_rate == codec.clock_rate
            });
        let mut fallback = None;
        for p in candidates {
            if codec_info(p) == *codec {
                return Some(p.pt());
            }
            fallback.get_or_insert(p.pt());
        }
        fallback
    }

    /// Hangs up from our side: DTLS close_notify goes out, the Rtc stops.
    pub fn close(&mut self, now: Instant, io: &mut PeerIo) {
        if let Err(e) = self.rtc.close() {
            debug!(handle = self.handle, "close: {e}");
        }
        self.drain(now, io);
        self.rtc.disconnect();
        // Our own close is not the peer's DTLS alert: the caller reports its own reason.
        self.ended = None;
    }

    // ---- driving ------------------------------------------------------------------

    fn housekeeping(&mut self, now: Instant, io: &mut PeerIo) {
        self.next_housekeeping = now + HOUSEKEEPING;
        for m in self.mids.iter_mut() {
            if m.receiving
                && m.last_rx
                    .is_some_and(|t| now.saturating_duration_since(t) >= self.no_media)
            {
                m.receiving = false;
                let _ = io.events.send(MediaEvent::Media {
                    handle: self.handle,
                    mid: m.mid.to_string(),
                    kind: m.kind,
                    receiving: false,
                });
            }
        }
        if self
            .ice_down_since
            .is_some_and(|t| now.saturating_duration_since(t) >= ICE_FAIL_AFTER)
            && self.ended.is_none()
        {
            self.ended = Some(PeerEnd::IceFailed);
        }
        if let Some((bitrate, at)) = self.remb
            && now.saturating_duration_since(at) >= REMB_INTERVAL
        {
            self.remb = Some((bitrate, now));
            self.send_remb(bitrate);
        }
    }

    /// Drains `poll_output` until the next timeout, handling every output.
    pub fn drain(&mut self, now: Instant, io: &mut PeerIo) {
        loop {
            let out = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    warn!(handle = self.handle, "rtc error: {e}");
                    if self.ended.is_none() {
                        self.ended = Some(PeerEnd::DtlsAlert);
                    }
                    self.rtc_deadline = now + Duration::from_secs(1);
                    break;
                }
            };
            match out {
                Output::Timeout(t) => {
                    self.rtc_deadline = t;
                    break;
                }
                Output::Transmit(t) => {
                    let stun = classify(&t.contents) == PacketClass::Stun;
                    if stun && self.addrs.insert(t.destination) {
                        // A STUN answer or check from us: the peer really talks to this
                        // address, so its DTLS/SRTP will come from there.
                        io.demux.add_addr(t.destination, self.handle);
                    }
                    if !stun {
                        // str0m sends everything but STUN on the selected pair.
                        self.media_path = Some((t.source, t.destination));
                        if let Some(eg) = self.egress.as_ref()
                            && egress::is_rtcp(&t.contents)
                            && let Some(rewritten) = eg.rewrite_outgoing(now, &t.contents)
                        {
                            (io.send)(t.source, t.destination, &rewritten);
                            continue;
                        }
                    }
                    (io.send)(t.source, t.destination, &t.contents);
                }
                Output::Event(e) => self.on_event(now, e, io),
            }
        }
        if let Some(k) = srtp::take_keying() {
            debug!(
                handle = self.handle,
                "SRTP profile {}",
                srtp::profile_name(k.profile)
            );
            self.srtp_profile = Some(k.profile);
            self.start_native_egress(&k);
        }
        if !self.rtc.is_alive() && self.ended.is_none() {
            self.ended = Some(PeerEnd::DtlsAlert);
        }
    }

    fn on_event(&mut self, now: Instant, e: Event, io: &mut PeerIo) {
        match e {
            Event::Connected if !self.connected => {
                self.connected = true;
                // Routes installed before the PeerConnection was up have sent nothing it
                // could decode yet: their sources are asked for a keyframe (throttled).
                for m in self.mids.iter().filter(|m| m.kind == MediaKind::Video) {
                    io.keyframe_requests.push((self.handle, m.mid));
                }
                let _ = io.events.send(MediaEvent::WebrtcUp {
                    handle: self.handle,
                });
            }
            Event::IceConnectionStateChange(s) => {
                debug!(handle = self.handle, "ICE {s:?}");
                match s {
                    IceConnectionState::Disconnected => {
                        self.ice_down_since.get_or_insert(now);
                        // The selected pair is gone: routed packets go through str0m until
                        // it sends on a pair again (which re-arms the native path).
                        self.media_path = None;
                    }
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        self.ice_down_since = None;
                    }
                    _ => {}
                }
            }
            Event::MediaAdded(m) => self.learn_mid(m.mid),
            Event::MediaChanged(m) => self.learn_mid(m.mid),
            Event::RtpPacket(p) => self.on_rtp(now, p, io),
            Event::KeyframeRequest(r) => io.keyframe_requests.push((self.handle, r.mid)),
            Event::ChannelOpen(id, label) => {
                debug!(handle = self.handle, "data channel {label:?} open");
                self.channels.push((id, label));
            }
            Event::ChannelData(d) => {
                let label = self
                    .channels
                    .iter()
                    .find(|(id, _)| *id == d.id)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default();
                let _ = io.events.send(MediaEvent::Data {
                    handle: self.handle,
                    message: DataMessage {
                        label,
                        data: d.data,
                        binary: d.binary,
                    },
                });
            }
            Event::ChannelClose(id) => self.channels.retain(|(c, _)| *c != id),
            // The client's REMB (and TWCC, were BWE on): what this peer can receive.
            Event::EgressBitrateEstimate(
                BweKind::Remb { estimate, .. } | BweKind::Twcc { estimate, .. },
            ) => self.estimate = Some(estimate.as_u64()),
            Event::MediaIngressStats(s) => self.on_stats(s.mid, s.rid, s.packets, s.loss, true, io),
            Event::MediaEgressStats(s) => self.on_stats(s.mid, s.rid, s.packets, s.loss, false, io),
            Event::Closed if self.ended.is_none() => {
                self.ended = Some(PeerEnd::DtlsAlert);
            }
            _ => {}
        }
    }

    /// Janus `slowlink`: lost packets in the last stats interval above the threshold.
    fn on_stats(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        packets: u64,
        loss: Option<f32>,
        ingress: bool,
        io: &mut PeerIo,
    ) {
        if self.slowlink_threshold == 0 {
            return;
        }
        let Some(kind) = self.mids.iter().find(|m| m.mid == mid).map(|m| m.kind) else {
            return;
        };
        // What the native path sent is not in str0m's count.
        let packets = match self.egress.as_ref().and_then(|e| e.packets(mid)) {
            Some(native) if !ingress => native,
            _ => packets,
        };
        let prev = self
            .packet_counts
            .insert((mid, rid, ingress), packets)
            .unwrap_or(0);
        let delta = packets.saturating_sub(prev);
        let lost = (f64::from(loss.unwrap_or(0.0)) * delta as f64).round() as u32;
        if lost >= self.slowlink_threshold {
            let _ = io.events.send(MediaEvent::SlowLink {
                handle: self.handle,
                mid: mid.to_string(),
                kind,
                // Janus: `uplink` is loss on what Janus sends (reported by the peer), not on ingress.
                uplink: !ingress,
                lost,
            });
        }
    }

    fn on_rtp(&mut self, now: Instant, p: RtpPacket, io: &mut PeerIo) {
        let Some((mid, rid)) = self
            .rtc
            .direct_api()
            .stream_rx(&p.header.ssrc)
            .map(|s| (s.mid(), s.rid()))
        else {
            debug!(
                handle = self.handle,
                "RTP for unknown SSRC {}", p.header.ssrc
            );
            return;
        };
        if !self.mids.iter().any(|m| m.mid == mid) {
            self.learn_mid(mid);
        }
        let Some(state) = self.mids.iter_mut().find(|m| m.mid == mid) else {
            return;
        };
        state.last_rx = Some(now);
        if !state.receiving {
            state.receiving = true;
            let _ = io.events.send(MediaEvent::Media {
                handle: self.handle,
                mid: mid.to_string(),
                kind: state.kind,
                receiving: true,
            });
        }
        if let Some(talk) = state.talk.as_mut()
            && let Some(level) = p.header.ext_vals.audio_level
            && let Some(change) = talk.on_level(level.unsigned_abs())
        {
            let _ = io.events.send(MediaEvent::TalkChanged {
                source: MediaRef {
                    handle: self.handle,
                    mid: mid.to_string(),
                },
                talking: change.talking,
                level_dbov_avg: change.level_dbov_avg,
            });
        }
        if !io.router.has_routes(self.handle, &mid) && !io.forwarders.has(self.handle, &mid) {
            return;
        }
        let Some(params) = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|c| c.pt() == p.header.payload_type)
        else {
            debug!(
                handle = self.handle,
                "RTP with unknown payload type {}", p.header.payload_type
            );
            return;
        };
        let codec = codec_info(params);
        let layer = match &rid {
            Some(r) if !state.rids.is_empty() => substream_index(&state.rids, r),
            Some(_) => Some(0),
            None if !state.sim_ssrcs.is_empty() => {
                // SSRC-signalled simulcast: the layer is the SSRC's place in the SIM group.
                let ssrc = *p.header.ssrc;
                let Some(i) = state.sim_ssrcs.iter().position(|s| *s == ssrc) else {
                    debug!(handle = self.handle, %mid, "RTP from SSRC {ssrc} outside the SIM group");
                    return;
                };
                u8::try_from(i).ok()
            }
            None => None,
        };
        let mut ext = p.header.ext_vals;
        let desc = match video_codec(codec.codec) {
            _ if state.kind != MediaKind::Video => PayloadDesc::default(),
            VideoCodec::Av1 => match ext.user_values.get::<DdBytes>() {
                Some(dd) => {
                    let i = usize::from(layer.unwrap_or(0)).min(AV1_DD_LAYERS - 1);
                    state.av1_dd[i].describe(dd.as_slice())
                }
                None => PayloadDesc::default(),
            },
            c => {
                // A publisher may send the descriptor with other codecs too: drop it here
                // so the targets' sends copy no map.
                if ext.user_values.get::<DdBytes>().is_some() {
                    ext.user_values = Default::default();
                }
                describe(c, &p.payload)
            }
        };
        io.forward.push(Arc::new(ForwardPacket {
            source: self.handle,
            source_mid: mid,
            layer,
            key: source_key(self.handle, &mid, layer),
            seq: *p.seq_no,
            timestamp: p.header.timestamp,
            marker: p.header.marker,
            codec,
            desc,
            payload: p.payload,
            ext,
            arrival: p.timestamp,
        }));
    }

    /// Routed RTP takes the native send path (see `crate::egress`).
    pub fn native_egress_active(&self) -> bool {
        self.egress.is_some() && self.media_path.is_some()
    }

    pub fn srtp_profile_name(&self) -> Option<&'static str> {
        self.srtp_profile.map(srtp::profile_name)
    }
}
