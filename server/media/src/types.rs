//! Plain data types shared by the core, the router and the plugin host.
//! They mirror the records of `wit/plugin.wit`; nothing here knows about Wasm.

/// A Janus handle id (53-bit, JavaScript safe). Each handle has at most one PeerConnection.
pub type HandleId = u64;
/// A native route's id.
pub type RouteId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    /// The Janus wire name ("audio" / "video").
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// One m-line of a client SDP, as parsed by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub index: u32,
    pub mid: String,
    pub kind: MediaKind,
    /// The client's direction (its point of view).
    pub direction: Direction,
    /// Codec names, lower case, in the client's order.
    pub codecs: Vec<String>,
    /// Simulcast RIDs the client sends; empty when not simulcast.
    pub rids: Vec<String>,
    /// Simulcast substreams sent: the RIDs, or the SSRCs of an `a=ssrc-group:SIM`; 0 = none.
    pub simulcast_layers: u8,
    /// The client sends the audio-level header extension (RFC 6464) on this m-line.
    pub audio_level: bool,
}

/// What the core learned from a client SDP (offer or answer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdpSummary {
    pub media: Vec<MediaLine>,
    pub data_channels: bool,
    /// True when the SDP renegotiates an existing PeerConnection.
    pub update: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsepType {
    Offer,
    Answer,
}

impl JsepType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsepType::Offer => "offer",
            JsepType::Answer => "answer",
        }
    }
}

/// A client JSEP handed to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsepIn {
    pub kind: JsepType,
    pub sdp: String,
    pub summary: SdpSummary,
    pub e2ee: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaAnswer {
    pub mid: String,
    pub accept: bool,
    pub direction: Direction,
    pub codec: Option<String>,
}

/// A plugin's answer to the pending client offer; the core writes the SDP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnswerSpec {
    /// Per m-line choices; unlisted m-lines are accepted with the mirrored direction.
    pub media: Vec<MediaAnswer>,
    pub data_channels: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOffer {
    pub mid: Option<String>,
    pub kind: MediaKind,
    pub direction: Direction,
    pub codecs: Vec<String>,
    pub stream_id: Option<String>,
}

/// A plugin-made offer; the core writes the SDP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferSpec {
    pub media: Vec<MediaOffer>,
    pub data_channels: bool,
    pub ice_restart: bool,
}

/// A server offer as the core wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOffer {
    pub sdp: String,
    /// The mid of each m-line of the `OfferSpec`, in its order (kept or new), then the mid of
    /// the data-channel m-line when the spec asked for data channels.
    pub mids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsepOut {
    Answer(AnswerSpec),
    Offer(OfferSpec),
    /// The offer made just before with `create-offer` for this handle.
    PreparedOffer,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaRef {
    pub handle: HandleId,
    pub mid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerChoice {
    /// Simulcast substream / SVC spatial layer (0 = lowest); None = highest present.
    pub substream: Option<u8>,
    /// Temporal layer (0 = lowest); None = all.
    pub temporal: Option<u8>,
}

/// A native RTP route from one handle's m-line to another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub source: MediaRef,
    pub target: MediaRef,
    pub layer: LayerChoice,
    pub paused: bool,
    /// Drop to a lower layer by itself when the target's bandwidth estimate is below what the
    /// current layer needs; come back up when it recovers.
    pub auto_layer: bool,
}

/// A plain-RTP forwarder's id.
pub type ForwarderId = u64;

/// Janus talk detection settings (audio_active_packets, audio_level_average).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkDetection {
    /// Packets per averaging window.
    pub active_packets: u32,
    /// Threshold in -dBov (0 = loudest, 127 = silence): talking when the average is below it.
    pub level_average: u8,
}

impl Default for TalkDetection {
    fn default() -> Self {
        TalkDetection {
            active_packets: 100,
            level_average: 25,
        }
    }
}

/// A plain-RTP copy of one source m-line (Janus rtp_forward), sent from the media sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpForward {
    pub source: MediaRef,
    /// Already resolved by the caller.
    pub dest: std::net::SocketAddr,
    /// SSRC to write; `None` = one chosen by the core.
    pub ssrc: Option<u32>,
    /// Payload type to write; `None` = the source's.
    pub pt: Option<u8>,
    /// Simulcast: only this substream; `None` = the highest present.
    pub substream: Option<u8>,
    /// Local UDP port on which RTCP PLI/FIR from the receiver are taken as keyframe requests.
    pub rtcp_port: Option<u16>,
}

/// One stream of a plain-RTP input: where its RTP arrives and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInputStream {
    /// The mid the stream has as a route source; unique within the input.
    pub mid: String,
    pub kind: MediaKind,
    /// "opus", "pcmu", "pcma", "g722", "vp8", "vp9", "h264" or "av1" (any case).
    pub codec: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// Only RTP with this payload type is taken; `None` = any.
    pub pt: Option<u8>,
    /// The codec's fmtp (H.264: profile-level-id and packetization-mode pick the
    /// subscriber's payload type).
    pub fmtp: Option<String>,
    /// 0 = any free port.
    pub port: u16,
    /// RTCP: receiver reports are read there, keyframe requests (PLI) sent from it.
    pub rtcp_port: Option<u16>,
}

/// A plain-RTP input (a Janus Streaming "rtp" mountpoint's media): UDP ports bound on `ip`,
/// whose packets are a route source like a PeerConnection's m-lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInput {
    /// Local address to bind (0.0.0.0 = every interface).
    pub ip: std::net::IpAddr,
    pub streams: Vec<RtpInputStream>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    pub label: String,
    pub data: Vec<u8>,
    pub binary: bool,
}

/// A trickled ICE candidate from a client (Janus `trickle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrickleCandidate {
    Candidate {
        /// The `candidate:...` line (with or without the `a=` prefix).
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u32>,
    },
    /// `{"completed": true}`: the client has no more candidates.
    Completed,
}

/// What the media core tells the API core, in order per handle.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// ICE and DTLS are up (Janus `webrtcup`).
    WebrtcUp { handle: HandleId },
    /// First packet on an m-line, or none for a while (Janus `media`).
    Media {
        handle: HandleId,
        mid: String,
        kind: MediaKind,
        receiving: bool,
    },
    /// Heavy loss (Janus `slowlink`).
    SlowLink {
        handle: HandleId,
        mid: String,
        kind: MediaKind,
        /// Janus's meaning: true = the client reports losing what we send it; false = we are
        /// losing what the client sends us.
        uplink: bool,
        lost: u32,
    },
    /// A data-channel message from the client.
    Data {
        handle: HandleId,
        message: DataMessage,
    },
    /// A PeerConnection that existed is gone, for this reason (Janus `hangup`).
    Hangup { handle: HandleId, reason: String },
    /// The layer a route forwards changed (keyframe switch, fallback, auto-layer). Sent to
    /// the plugin owning `target.handle`.
    LayerChanged {
        route: RouteId,
        target: MediaRef,
        substream: Option<u8>,
        temporal: Option<u8>,
    },
    /// Talk detection on a watched audio source changed state. Sent to the plugin owning
    /// `source.handle`.
    TalkChanged {
        source: MediaRef,
        talking: bool,
        level_dbov_avg: f32,
    },
    /// Media started (first packet) or stopped (none for the no-media time) on a stream of
    /// a plain-RTP input. Sent to the plugin owning the input `source.handle`.
    InputMedia { source: MediaRef, receiving: bool },
}
