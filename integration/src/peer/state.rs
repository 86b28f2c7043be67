use std::collections::BTreeMap;
use std::time::Instant;

use str0m::media::MediaKind;

use super::SrtpProfileName;

/// What arrived on one m-line.
#[derive(Debug, Clone, Default)]
pub struct MidReceived {
    pub packets: u64,
    pub bytes: u64,
    /// The first payloads (up to `PeerConfig::keep_payloads`), to check content.
    pub payloads: Vec<Vec<u8>>,
}

/// A data-channel message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    pub label: String,
    pub binary: bool,
    pub data: Vec<u8>,
}

impl DataMessage {
    /// The message as text (lossy for binary data).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// An m-line of the local offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub mid: String,
    pub kind: MediaKind,
}

/// Snapshot of a peer's observable state.
#[derive(Debug, Clone, Default)]
pub struct PeerState {
    /// Last ICE connection state, as str0m names it (`New`, `Checking`, `Connected`, ...).
    pub ice_state: String,
    /// Every ICE connection state so far, in order (to see an ICE restart complete).
    pub ice_history: Vec<String>,
    /// ICE and DTLS are up (str0m `Event::Connected`).
    pub connected: bool,
    pub connected_at: Option<Instant>,
    /// Audio/video m-lines of the offer, in order.
    pub media: Vec<MediaLine>,
    /// Data channel open (label).
    pub channel_open: Option<String>,
    pub received: BTreeMap<String, MidReceived>,
    pub sent: BTreeMap<String, u64>,
    pub data_received: Vec<DataMessage>,
    /// Negotiated SRTP profile, once DTLS finished.
    pub srtp_profile: Option<SrtpProfileName>,
    /// The remote side closed DTLS/SCTP, or we closed.
    pub closed: bool,
    /// Why the driver stopped, if it stopped on an error.
    pub failure: Option<String>,
}

impl PeerState {
    /// Mid of the first m-line of `kind`.
    pub fn mid_of(&self, kind: MediaKind) -> Option<&str> {
        self.media
            .iter()
            .find(|m| m.kind == kind)
            .map(|m| m.mid.as_str())
    }

    /// Packets received on `mid`.
    pub fn packets_on(&self, mid: &str) -> u64 {
        self.received.get(mid).map_or(0, |r| r.packets)
    }
}
