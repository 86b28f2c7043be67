//! The native send path for routed RTP: packets a subscriber gets from the router are
//! written, sealed and queued for sending here, without going through the peer's str0m
//! `Rtc` (which costs about as much as the rest of the forwarding path together, see
//! docs/PERFORMANCE.md).
//!
//! str0m still negotiates the PeerConnection, runs ICE, DTLS and RTCP, and owns the send
//! streams whose SSRCs its SDP announced; this path sends on those SSRCs with the router's
//! sequence numbers and timestamps. Two things str0m does for a send stream have to follow
//! what is sent here instead:
//! - its sender reports would count no packets and map no RTP time (the receiver's
//!   audio/video sync reads that mapping): each SR str0m sends for a native stream is
//!   opened, given this path's packet and octet counts and RTP time, and sealed again with
//!   the same SRTCP index before it leaves (the original never reaches the wire);
//! - NACKs would be answered from its resend cache, which stays empty: incoming SRTCP is
//!   also opened here and the NACKed packets are resent from this path's cache, byte for byte
//!   (same sequence number, same sealed bytes: an AEAD nonce is never used for two texts).
//!
//! Only the AEAD (GCM) profiles are handled, and only for send-only PeerConnections (the
//! VideoRoom's subscribers, the Streaming plugin's viewers); anything else stays on str0m.

mod cipher;
mod keys;
mod packet;
mod rtcp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::Mid;
use tracing::debug;

use crate::router::picture_id::PictureIds;
use cipher::{RtcpCipher, RtpSealer};
pub use keys::{Aead, Keys};
pub use packet::ExtIds;
use packet::Header;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("keying material of {0} bytes does not fit the profile")]
    KeyingMaterial(usize),
    #[error("crypto: {0}")]
    Crypto(&'static str),
    #[error("RTCP: {0}")]
    Rtcp(&'static str),
}

/// Packets kept for resending, per stream (a power of two: indexed by sequence number).
/// 256 video packets hold a second up to ~2.5 Mbit/s of 1200-byte packets, and 500 ms
/// (Janus's max_nack_queue) up to ~5 Mbit/s; the rings of all subscribers are written once
/// per packet each, so their size shows in the cache misses of the whole path.
const RESEND_VIDEO: usize = 256;
const RESEND_AUDIO: usize = 64;
/// A packet is resent at most once in this long (several NACKs for one loss), in ms.
const RESEND_GAP_MS: u32 = 10;
/// Older packets are not resent (Janus keeps 500 ms; the str0m path a second), in ms.
const RESEND_AGE_MS: u32 = 1000;
/// Bound on the resends one RTCP datagram can cause.
const RESEND_MAX: usize = 64;
/// Resent bytes may reach this share of the bytes sent (str0m's RTX cap on its path).
const RESEND_SHARE: f64 = 0.15;
/// The resend budget never banks more than this many bytes (a burst of NACKs after quiet).
const RESEND_BANK: f64 = 256.0 * 1024.0;

/// True when a datagram of the RTP/RTCP range is RTCP (RFC 5761 §4: PT 192-223).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

/// What the router decided for one packet, as the native path writes it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub pt: u8,
    pub marker: bool,
    /// Extended (48-bit) sequence number: the SRTP index.
    pub seq: u64,
    pub timestamp: u32,
    pub clock_rate: u32,
    pub payload: &'a Arc<[u8]>,
    pub picture: Option<PictureIds>,
    pub audio_level: Option<(u8, bool)>,
    pub video_orientation: Option<u8>,
    pub video_content_type: Option<u8>,
    /// When the source packet arrived (the wallclock of its RTP timestamp).
    pub arrival: Instant,
}

#[derive(Debug, Clone)]
struct Sent {
    index: u64,
    header: Header,
    payload: Arc<[u8]>,
    picture: Option<PictureIds>,
    /// When it was sent and last resent, in ms since the path's epoch (wrapping; a ring
    /// entry is small: 72 bytes).
    at_ms: u32,
    resent_ms: Option<u32>,
}

#[derive(Debug)]
struct Stream {
    mid: Mid,
    ssrc: u32,
    /// The SSRC was checked against str0m's send stream since the last description applied.
    verified: bool,
    ids: ExtIds,
    packets: u32,
    octets: u32,
    clock_rate: u32,
    /// RTP timestamp and wallclock of the newest packet sent (for sender reports).
    last: Option<(u32, Instant)>,
    /// Highest SRTP index sealed on this stream.
    max_index: Option<u64>,
    resend: Vec<Option<Sent>>,
}

impl Stream {
    /// True when `index` may be sealed: never before (its resend slot does not hold it), and
    /// recent enough for the slot to tell. A source packet that arrives twice gets the same
    /// index from the router; sealing it again (with a new abs-send-time) would use one AEAD
    /// nonce for two texts.
    fn unused(&self, index: u64) -> bool {
        let slots = self.resend.len() as u64;
        match self.max_index {
            None => true,
            Some(max) if index + slots <= max => false,
            Some(_) => {
                let slot = (index % slots) as usize;
                self.resend[slot].as_ref().is_none_or(|s| s.index != index)
            }
        }
    }
}

/// Indices of the client's SRTCP already read, so a replayed NACK is not answered again
/// (RFC 3711 §3.3.2: a window below the highest index).
#[derive(Debug, Default)]
struct ReplayWindow {
    max: Option<u32>,
    /// Bit i = index max - i seen.
    seen: u64,
}

impl ReplayWindow {
    /// Records `index`; false when it was seen before or is too old to tell.
    fn accept(&mut self, index: u32) -> bool {
        let Some(max) = self.max else {
            self.max = Some(index);
            self.seen = 1;
            return true;
        };
        if index > max {
            let shift = index - max;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.max = Some(index);
            return true;
        }
        let age = max - index;
        if age >= 64 || self.seen & (1 << age) != 0 {
            return false;
        }
        self.seen |= 1 << age;
        true
    }
}

/// One PeerConnection's native send state.
pub struct NativeEgress {
    sealer: RtpSealer,
    /// Our SRTCP direction: str0m's sender reports are opened and resealed with it.
    rtcp_out: RtcpCipher,
    /// The remote's SRTCP direction: its NACKs are read with it.
    rtcp_in: RtcpCipher,
    streams: Vec<Stream>,
    buf: Vec<u8>,
    epoch: Instant,
    /// Bytes that may still be resent (see `RESEND_SHARE`).
    resend_budget: f64,
    replay: ReplayWindow,
}

impl std::fmt::Debug for NativeEgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEgress")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl NativeEgress {
    pub fn new(keys: &Keys) -> Result<Self, EgressError> {
        Ok(NativeEgress {
            sealer: RtpSealer::new(&keys.local)?,
            rtcp_out: RtcpCipher::new(&keys.local)?,
            rtcp_in: RtcpCipher::new(&keys.remote)?,
            streams: Vec::new(),
            buf: Vec::with_capacity(1500),
            epoch: Instant::now(),
            resend_budget: 0.0,
            replay: ReplayWindow::default(),
        })
    }

    /// `t` in ms since the path's epoch (wraps after 49 days; compared with wrapping_sub).
    fn millis(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.epoch).as_millis() as u32
    }

    /// Forgets the streams: str0m sends on their SSRCs from now on, and its sender reports
    /// are its own again.
    pub fn clear_streams(&mut self) {
        self.streams.clear();
    }

    /// Whether any stream is native (see `clear_streams`).
    pub fn has_streams(&self) -> bool {
        !self.streams.is_empty()
    }

    /// Whether `mid`'s native stream is known to be str0m's send stream of the m-line
    /// (checked once after each description applied, see `verify`).
    pub fn is_verified(&self, mid: Mid) -> bool {
        self.streams.iter().any(|s| s.mid == mid && s.verified)
    }

    /// A description was applied: each stream's SSRC is checked again before its next packet.
    pub fn unverify(&mut self) {
        for s in &mut self.streams {
            s.verified = false;
        }
    }

    /// Whether `mid`'s native stream has SSRC `ssrc` (then marked checked); else call
    /// `add_stream`.
    pub fn verify(&mut self, mid: Mid, ssrc: u32) -> bool {
        match self
            .streams
            .iter_mut()
            .find(|s| s.mid == mid && s.ssrc == ssrc)
        {
            Some(s) => {
                s.verified = true;
                true
            }
            None => false,
        }
    }

    /// Sets up (or, after its SSRC changed, replaces) the native stream of `mid`.
    pub fn add_stream(&mut self, mid: Mid, ssrc: u32, ids: ExtIds, video: bool) {
        self.streams.retain(|s| s.mid != mid);
        let slots = if video { RESEND_VIDEO } else { RESEND_AUDIO };
        self.streams.push(Stream {
            mid,
            ssrc,
            verified: true,
            ids,
            packets: 0,
            octets: 0,
            clock_rate: 0,
            last: None,
            max_index: None,
            resend: vec![None; slots],
        });
    }

    /// Packets sent natively on `mid` so far.
    pub fn packets(&self, mid: Mid) -> Option<u64> {
        self.streams
            .iter()
            .find(|s| s.mid == mid)
            .map(|s| u64::from(s.packets))
    }

    /// Writes, seals and hands to `send` one routed packet on `mid`'s stream, over `path`
    /// (local, remote: the selected candidate pair, which the peer tracks).
    pub fn send(
        &mut self,
        now: Instant,
        mid: Mid,
        o: &Outgoing,
        path: (SocketAddr, SocketAddr),
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) -> Result<(), EgressError> {
        let (local, remote) = path;
        let abs = abs_send_time(now.saturating_duration_since(self.epoch));
        let now_ms = self.millis(now);
        let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) else {
            return Ok(());
        };
        if !stream.unused(o.seq) {
            debug!(%mid, seq = o.seq, "not sealing an index twice (duplicate source packet)");
            return Ok(());
        }
        let header = Header {
            pt: o.pt,
            marker: o.marker,
            seq: o.seq as u16,
            timestamp: o.timestamp,
            ssrc: stream.ssrc,
            abs_send_time: abs,
            audio_level: o.audio_level,
            video_orientation: o.video_orientation,
            video_content_type: o.video_content_type,
        };
        let header_len = packet::write(
            &mut self.buf,
            &header,
            &stream.ids,
            o.payload,
            o.picture.as_ref(),
        );
        self.sealer
            .seal(&mut self.buf, header_len, stream.ssrc, o.seq)?;
        send(local, remote, &self.buf);
        stream.packets = stream.packets.wrapping_add(1);
        stream.octets = stream.octets.wrapping_add(o.payload.len() as u32);
        stream.clock_rate = o.clock_rate;
        stream.last = Some((o.timestamp, o.arrival));
        stream.max_index = Some(stream.max_index.map_or(o.seq, |m| m.max(o.seq)));
        self.resend_budget =
            (self.resend_budget + RESEND_SHARE * self.buf.len() as f64).min(RESEND_BANK);
        let slot = (o.seq as usize) & (stream.resend.len() - 1);
        stream.resend[slot] = Some(Sent {
            index: o.seq,
            header,
            payload: o.payload.clone(),
            picture: o.picture,
            at_ms: now_ms,
            resent_ms: None,
        });
        Ok(())
    }

    /// Reads an incoming SRTCP datagram for NACKs of native streams and resends what is
    /// still cached. Whatever it holds goes on to str0m as well.
    pub fn on_rtcp(
        &mut self,
        now: Instant,
        srtcp: &[u8],
        path: (SocketAddr, SocketAddr),
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        let (local, remote) = path;
        let plain = match self.rtcp_in.open(srtcp) {
            Ok((plain, index)) if self.replay.accept(index) => plain,
            Ok((_, index)) => {
                debug!(index, "replayed SRTCP: its NACKs are not answered again");
                return;
            }
            Err(e) => {
                debug!("incoming SRTCP not read: {e}");
                return;
            }
        };
        let mut resent = 0;
        let now_ms = self.millis(now);
        for (ssrc, seq) in rtcp::nacks(&plain) {
            if resent >= RESEND_MAX {
                break;
            }
            let Some(stream) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) else {
                continue;
            };
            let slot = usize::from(seq) & (stream.resend.len() - 1);
            let Some(sent) = stream.resend[slot].as_mut() else {
                continue;
            };
            if sent.index as u16 != seq
                || now_ms.wrapping_sub(sent.at_ms) > RESEND_AGE_MS
                || sent
                    .resent_ms
                    .is_some_and(|t| now_ms.wrapping_sub(t) < RESEND_GAP_MS)
            {
                continue;
            }
            let size = (packet::RTP_HEADER + sent.payload.len() + cipher::TAG_LEN) as f64;
            if self.resend_budget < size {
                debug!("resend budget spent: NACKs dropped");
                break;
            }
            self.resend_budget -= size;
            sent.resent_ms = Some(now_ms);
            // The same header (abs-send-time included) and payload as the first time: the
            // same bytes under the same nonce.
            let header_len = packet::write(
                &mut self.buf,
                &sent.header,
                &stream.ids,
                &sent.payload,
                sent.picture.as_ref(),
            );
            if self
                .sealer
                .seal(&mut self.buf, header_len, stream.ssrc, sent.index)
                .is_ok()
            {
                send(local, remote, &self.buf);
                resent += 1;
            }
        }
    }

    /// An SRTCP datagram str0m is about to send: when it holds sender reports of native
    /// streams, the same datagram with their sender info made true (else `None`: send it as
    /// it is). `now` is the time of the drive that made it: str0m stamps a sender report with
    /// that instant, so the RTP time is extrapolated to it, as str0m does for its own.
    pub fn rewrite_outgoing(&self, now: Instant, srtcp: &[u8]) -> Option<Vec<u8>> {
        if !self.streams.iter().any(|s| s.last.is_some()) {
            return None;
        }
        let (mut plain, index) = match self.rtcp_out.open(srtcp) {
            Ok(x) => x,
            Err(e) => {
                debug!("outgoing SRTCP not read: {e}");
                return None;
            }
        };
        let changed = rtcp::patch_sender_reports(&mut plain, |ssrc| {
            let s = self.streams.iter().find(|s| s.ssrc == ssrc)?;
            let (ts, wallclock) = s.last?;
            let since = now.saturating_duration_since(wallclock).as_secs_f64();
            let ticks = (since * f64::from(s.clock_rate)).round() as i64;
            Some(rtcp::SenderInfo {
                rtp_time: ts.wrapping_add(ticks as u32),
                packets: s.packets,
                octets: s.octets,
            })
        });
        if !changed {
            return None;
        }
        self.rtcp_out.seal(&plain, index).ok()
    }
}

/// abs-send-time: 6.18 fixed-point seconds, 24 bits (wraps every 64 s). In u64: this runs
/// per packet and target, and a u128 division costs tens of nanoseconds.
fn abs_send_time(since: Duration) -> u32 {
    let frac = (u64::from(since.subsec_nanos()) << 18) / 1_000_000_000;
    ((since.as_secs() << 18) + frac) as u32 & 0x00ff_ffff
}

#[cfg(test)]
mod tests;
