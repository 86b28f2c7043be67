//! Plain-RTP forwarders (Janus `rtp_forward`): a copy of one source m-line sent unencrypted
//! to a UDP destination, from the shard that owns the source. The router's pieces do the
//! work: the layer selector picks the simulcast substream, the rewriter keeps sequence
//! numbers and timestamps continuous across layer switches. Pure except for the optional
//! RTCP socket, which the shard polls.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use str0m::media::Mid;

use crate::router::ForwardPacket;
use crate::router::layer::LayerSelector;
use crate::router::rewrite::{Rewriter, RtpIn};
use crate::types::{ForwarderId, HandleId, RtpForward};

const RTP_HEADER: usize = 12;
/// RTCP payload-specific feedback (RFC 4585), with its PLI and FIR formats.
const RTCP_PSFB: u8 = 206;
const FMT_PLI: u8 = 1;
const FMT_FIR: u8 = 4;

/// What a forwarder does with one source packet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Send `Forwarder::datagram()` now.
    pub send: bool,
    /// Ask the source for a keyframe of this simulcast layer (a pending switch).
    pub keyframe_request: Option<u8>,
}

/// One forwarder's state.
#[derive(Debug)]
pub struct Forwarder {
    pub id: ForwarderId,
    pub source: HandleId,
    pub mid: Mid,
    pub dest: SocketAddr,
    ssrc: u32,
    pt: Option<u8>,
    selector: LayerSelector,
    rewriter: Rewriter,
    /// The datagram being built (kept to reuse its allocation).
    buf: Vec<u8>,
    /// Where PLI/FIR from the receiver arrive, when asked for.
    pub rtcp: Option<UdpSocket>,
}

impl Forwarder {
    /// `ssrc` is the one to write (`fw.ssrc` or a random one); `seed` picks the first
    /// sequence number.
    pub fn new(id: ForwarderId, fw: &RtpForward, ssrc: u32, seed: u64) -> Self {
        Forwarder {
            id,
            source: fw.source.handle,
            mid: Mid::from(fw.source.mid.as_str()),
            dest: fw.dest,
            ssrc,
            pt: fw.pt,
            selector: LayerSelector::new(fw.substream),
            rewriter: Rewriter::new(seed),
            buf: Vec::with_capacity(1500),
            rtcp: None,
        }
    }

    /// The simulcast layer forwarded now (for keyframe requests from the receiver).
    pub fn layer(&self) -> Option<u8> {
        self.selector.current()
    }

    /// Takes one source packet; `source_pt` is its payload type on the source m-line.
    pub fn on_packet(&mut self, p: &ForwardPacket, source_pt: u8) -> Step {
        let mut step = Step::default();
        if let Some(layer) = p.layer {
            let d = self.selector.on_packet(layer, p.desc.keyframe, p.arrival);
            step.keyframe_request = d.request_keyframe;
            if !d.forward {
                return step;
            }
        }
        let Some(out) = self.rewriter.rewrite(RtpIn {
            source: p.key,
            seq: p.seq,
            timestamp: p.timestamp,
            clock_rate: p.codec.clock_rate,
            arrival: p.arrival,
        }) else {
            return step;
        };
        let pt = self.pt.unwrap_or(source_pt) & 0x7f;
        self.buf.clear();
        self.buf.reserve(RTP_HEADER + p.payload.len());
        self.buf.push(0x80); // V=2, no padding, no extension, no CSRC
        self.buf.push(if p.marker { 0x80 | pt } else { pt });
        self.buf.extend_from_slice(&(out.seq as u16).to_be_bytes());
        self.buf.extend_from_slice(&out.timestamp.to_be_bytes());
        self.buf.extend_from_slice(&self.ssrc.to_be_bytes());
        self.buf.extend_from_slice(&p.payload);
        step.send = true;
        step
    }

    /// The datagram built by the last `on_packet` that said `send`.
    pub fn datagram(&self) -> &[u8] {
        &self.buf
    }

    /// Reads what the receiver sent on the RTCP socket; true when it asked for a keyframe.
    pub fn poll_rtcp(&mut self, buf: &mut [u8]) -> bool {
        let Some(sock) = &self.rtcp else {
            return false;
        };
        let mut wants = false;
        // Bounded: a flood on this socket must not hold the shard.
        for _ in 0..16 {
            match sock.recv_from(buf) {
                Ok((n, _)) => wants |= rtcp_wants_keyframe(&buf[..n]),
                Err(_) => break,
            }
        }
        wants
    }
}

/// True when a (compound) RTCP packet holds a PLI or FIR. Malformed input is `false`.
pub fn rtcp_wants_keyframe(mut data: &[u8]) -> bool {
    while data.len() >= 4 {
        let version = data[0] >> 6;
        let fmt = data[0] & 0x1f;
        let pt = data[1];
        let words = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let len = (words + 1) * 4;
        if version != 2 || len > data.len() {
            return false;
        }
        if pt == RTCP_PSFB && (fmt == FMT_PLI || fmt == FMT_FIR) {
            return true;
        }
        data = &data[len..];
    }
    false
}

/// The forwarders of one shard, by id and by source m-line.
#[derive(Debug, Default)]
pub struct Forwarders {
    by_id: HashMap<ForwarderId, Forwarder>,
    by_source: HashMap<(HandleId, Mid), Vec<ForwarderId>>,
    /// When the RTCP sockets were last read.
    pub rtcp_polled: Option<Instant>,
}

impl Forwarders {
    pub fn has(&self, source: HandleId, mid: &Mid) -> bool {
        self.by_source.contains_key(&(source, *mid))
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn add(&mut self, f: Forwarder) {
        self.by_source
            .entry((f.source, f.mid))
            .or_default()
            .push(f.id);
        self.by_id.insert(f.id, f);
    }

    pub fn remove(&mut self, id: ForwarderId) -> Option<Forwarder> {
        let f = self.by_id.remove(&id)?;
        if let Some(v) = self.by_source.get_mut(&(f.source, f.mid)) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_source.remove(&(f.source, f.mid));
            }
        }
        Some(f)
    }

    /// Drops every forwarder of a source handle.
    pub fn remove_source(&mut self, source: HandleId) {
        let ids: Vec<ForwarderId> = self
            .by_id
            .values()
            .filter(|f| f.source == source)
            .map(|f| f.id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Ids of the forwarders of (source, mid).
    pub fn of(&self, source: HandleId, mid: &Mid) -> &[ForwarderId] {
        self.by_source
            .get(&(source, *mid))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn get_mut(&mut self, id: ForwarderId) -> Option<&mut Forwarder> {
        self.by_id.get_mut(&id)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Forwarder> {
        self.by_id.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::router::keyframe::PayloadDesc;
    use crate::router::{CodecInfo, source_key};

    fn packet(seq: u64, layer: Option<u8>, keyframe: bool, marker: bool) -> ForwardPacket {
        let mid = Mid::from("v");
        ForwardPacket {
            source: 1,
            source_mid: mid,
            layer,
            key: source_key(1, &mid, layer),
            seq,
            timestamp: seq as u32 * 3000,
            marker,
            codec: CodecInfo {
                codec: str0m::format::Codec::Vp8,
                clock_rate: 90_000,
                channels: None,
                h264: None,
            },
            desc: PayloadDesc {
                keyframe,
                ..Default::default()
            },
            payload: Arc::from(&[9u8, 8, 7][..]),
            ext: Default::default(),
            arrival: Instant::now(),
        }
    }

    fn forwarder(pt: Option<u8>, substream: Option<u8>) -> Forwarder {
        let fw = RtpForward {
            source: crate::types::MediaRef {
                handle: 1,
                mid: "v".into(),
            },
            dest: "127.0.0.1:5004".parse().unwrap(),
            ssrc: None,
            pt,
            substream,
            rtcp_port: None,
        };
        Forwarder::new(7, &fw, 0xdead_beef, 100)
    }

    #[test]
    fn writes_rtp_with_own_ssrc_pt_and_continuous_numbers() {
        let mut f = forwarder(Some(100), None);
        assert!(f.on_packet(&packet(5000, None, false, true), 96).send);
        let d = f.datagram().to_vec();
        assert_eq!(d[0], 0x80);
        assert_eq!(d[1], 0x80 | 100);
        assert_eq!(u16::from_be_bytes([d[2], d[3]]), 100);
        assert_eq!(u32::from_be_bytes([d[4], d[5], d[6], d[7]]), 5000 * 3000);
        assert_eq!(u32::from_be_bytes([d[8], d[9], d[10], d[11]]), 0xdead_beef);
        assert_eq!(&d[RTP_HEADER..], &[9, 8, 7]);
        assert!(f.on_packet(&packet(5001, None, false, false), 96).send);
        let d = f.datagram();
        assert_eq!(d[1], 100);
        assert_eq!(u16::from_be_bytes([d[2], d[3]]), 101);
        // Without an override the source's payload type is kept.
        let mut f = forwarder(None, None);
        f.on_packet(&packet(1, None, false, false), 96);
        assert_eq!(f.datagram()[1], 96);
    }

    #[test]
    fn simulcast_forwards_one_substream_from_a_keyframe() {
        let mut f = forwarder(None, Some(0));
        let s = f.on_packet(&packet(1, Some(0), false, false), 96);
        assert!(!s.send);
        assert_eq!(s.keyframe_request, Some(0));
        assert!(f.on_packet(&packet(2, Some(0), true, false), 96).send);
        assert!(!f.on_packet(&packet(3, Some(1), true, false), 96).send);
        assert!(f.on_packet(&packet(4, Some(0), false, false), 96).send);
        assert_eq!(f.layer(), Some(0));
    }

    #[test]
    fn rtcp_keyframe_requests_are_found_in_compound_packets() {
        // RR (empty) + PLI.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        let pli = [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        let fir = [
            0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0,
        ];
        let remb = [0x8f, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(rtcp_wants_keyframe(&[&rr[..], &pli[..]].concat()));
        assert!(rtcp_wants_keyframe(&fir));
        assert!(!rtcp_wants_keyframe(&rr));
        assert!(!rtcp_wants_keyframe(&remb));
        // Garbage: short, wrong version, length beyond the data.
        assert!(!rtcp_wants_keyframe(&[]));
        assert!(!rtcp_wants_keyframe(&[0x81, 206]));
        assert!(!rtcp_wants_keyframe(&[
            0x41, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2
        ]));
        assert!(!rtcp_wants_keyframe(&[0x81, 206, 0, 9, 0, 0, 0, 1]));
    }

    #[test]
    fn table_by_id_and_source() {
        let mut t = Forwarders::default();
        t.add(forwarder(None, None));
        let mut other = forwarder(None, None);
        other.id = 8;
        other.source = 2;
        t.add(other);
        assert!(t.has(1, &Mid::from("v")));
        assert_eq!(t.of(1, &Mid::from("v")), &[7]);
        t.remove_source(1);
        assert!(!t.has(1, &Mid::from("v")));
        assert!(t.remove(7).is_none());
        assert!(t.remove(8).is_some());
        assert!(t.is_empty());
    }
}
