use std::collections::BTreeMap;
use std::time::Instant;

use str0m::media::MediaKind;

use super::SrtpProfileName;
use super::seq::SeqTracker;
use super::source::{PayloadTag, parse_tag, parse_vp8};

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

/// What arrived on one SSRC, per str0m (decrypted, duplicates already filtered) and per
/// the wire (every datagram, before SRTP; duplicates visible).
#[derive(Debug, Clone, Default)]
pub struct SsrcStats {
    /// The m-line str0m maps the SSRC to (empty if unknown or RTX).
    pub mid: String,
    pub pt: u8,
    /// Packets and payload bytes delivered by str0m.
    pub packets: u64,
    pub bytes: u64,
    /// Continuity of the (extended) sequence numbers delivered by str0m.
    pub seq: SeqTracker,
    /// Continuity on the wire: every RTP datagram for this SSRC, before str0m.
    pub wire: SeqTracker,
    pub wire_packets: u64,
    /// Packets per generated layer tag (index 0..=2: video layers; 3: audio).
    pub layers: [u64; 4],
    /// The tag of the last packet that carried one.
    pub last_tag: Option<PayloadTag>,
    /// Tagged packets per sender ([`super::MediaSource::source_id`]).
    pub sources: BTreeMap<u16, u64>,
    /// VP8: packets per temporal layer id (0..=2, 3 = none or higher).
    pub tids: [u64; 4],
    /// VP8: frames whose picture id did not follow the previous frame's by 1 (the first
    /// frame is not counted).
    pub picture_id_jumps: u64,
    pub last_picture_id: Option<u16>,
    pub keyframes: u64,
    /// Audio: the last RFC 6464 level seen (0 = loudest, 127 = silence).
    pub audio_level: Option<u8>,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
}

impl SsrcStats {
    /// Accounts one packet delivered by str0m.
    pub(crate) fn record(
        &mut self,
        seq: u64,
        payload: &[u8],
        video: bool,
        audio_level: Option<u8>,
        at: Instant,
    ) {
        self.packets += 1;
        self.bytes += payload.len() as u64;
        self.seq.record(seq);
        self.first_at.get_or_insert(at);
        self.last_at = Some(at);
        if let Some(tag) = parse_tag(payload) {
            self.layers[usize::from(tag.layer.min(3))] += 1;
            *self.sources.entry(tag.source).or_default() += 1;
            self.last_tag = Some(tag);
        }
        if audio_level.is_some() {
            self.audio_level = audio_level;
        }
        if !video {
            return;
        }
        let Some(d) = parse_vp8(payload) else { return };
        self.tids[usize::from(d.tid.unwrap_or(3).min(3))] += 1;
        if d.frame_start {
            self.keyframes += u64::from(d.keyframe);
            if let Some(pid) = d.picture_id {
                if let Some(last) = self.last_picture_id
                    && pid != (last + 1) & 0x7fff
                {
                    self.picture_id_jumps += 1;
                }
                self.last_picture_id = Some(pid);
            }
        }
    }

    /// The generated layer most packets came from (0..=2), if any video tag was seen.
    pub fn main_layer(&self) -> Option<usize> {
        (0..3)
            .filter(|i| self.layers[*i] > 0)
            .max_by_key(|i| self.layers[*i])
    }
}

/// An RTP packet the peer dropped on purpose before str0m saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub ssrc: u32,
    pub seq: u16,
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
    /// Per received SSRC (media SSRCs as str0m delivers them; RTX SSRCs on the wire only).
    pub ssrcs: BTreeMap<u32, SsrcStats>,
    /// Packets dropped by a drop rule.
    pub dropped: Vec<Dropped>,
    /// Keyframe requests (PLI/FIR) received, per `mid` or `mid/rid`.
    pub keyframe_requests: BTreeMap<String, u64>,
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

    /// The SSRCs str0m delivered media for on `mid`, most packets first.
    pub fn ssrcs_on(&self, mid: &str) -> Vec<(u32, &SsrcStats)> {
        let mut v: Vec<(u32, &SsrcStats)> = self
            .ssrcs
            .iter()
            .filter(|(_, s)| s.mid == mid && s.packets > 0)
            .map(|(k, s)| (*k, s))
            .collect();
        v.sort_by_key(|(_, s)| std::cmp::Reverse(s.packets));
        v
    }

    /// Payload bytes received on `mid` (all SSRCs).
    pub fn bytes_on(&self, mid: &str) -> u64 {
        self.received.get(mid).map_or(0, |r| r.bytes)
    }

    /// Packets received on `mid`.
    pub fn packets_on(&self, mid: &str) -> u64 {
        self.received.get(mid).map_or(0, |r| r.packets)
    }
}
