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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsepOut {
    Answer(AnswerSpec),
    Offer(OfferSpec),
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}
