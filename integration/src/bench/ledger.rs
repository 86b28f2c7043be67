//! What each publisher sent and when, looked up by the content of a received packet: the
//! tool is one process, so a subscriber finds the send instant of a forwarded packet without
//! any mark in the payload (servers may rewrite the VP8 descriptor, never the VP8 data).
//!
//! Keys are (publisher, fingerprint of the payload after any VP8 descriptor). A clip played
//! in a loop sends the same payloads again each loop; the entry then holds the latest send,
//! which is the one a subscriber receives (the loop is seconds long, delivery milliseconds),
//! and memory stays bounded by the clip.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::payload::Kind;
use crate::media::vp8;

const SHARDS: usize = 16;

/// One packet sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Microseconds since the run's epoch.
    pub at_us: u64,
    pub kind: Kind,
    /// Simulcast layer (0 = lowest; 0 without simulcast).
    pub layer: u8,
}

/// Sent packets of every publisher, sharded to keep the publishers' and subscribers' driver
/// tasks from queueing on one lock.
#[derive(Debug)]
pub struct Ledger {
    shards: Vec<Mutex<HashMap<(u16, u64), Sent>>>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Ledger {
    pub fn record(&self, publisher: u16, payload: &[u8], sent: Sent) {
        let f = fingerprint(sent.kind, payload);
        self.shards[(f as usize) % SHARDS]
            .lock()
            .insert((publisher, f), sent);
    }

    pub fn lookup(&self, publisher: u16, kind: Kind, payload: &[u8]) -> Option<Sent> {
        let f = fingerprint(kind, payload);
        self.shards[(f as usize) % SHARDS]
            .lock()
            .get(&(publisher, f))
            .copied()
    }

    /// Entries held (distinct payloads).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A 64-bit fingerprint of the codec data: the length and up to 48 bytes from each end of
/// the payload after the VP8 descriptor (compressed data: as good as random), FNV-1a. Cheap
/// next to the SRTP work on the same packet. An H.264 payload reads as a 1-byte descriptor
/// (its F bit, where VP8 has X, is 0): sender and receiver skip the same byte, and the
/// servers leave H.264 payloads alone.
pub fn fingerprint(kind: Kind, payload: &[u8]) -> u64 {
    let data = match kind {
        Kind::Video => vp8::descriptor(payload).map_or(payload, |d| &payload[d.len..]),
        Kind::Audio => payload,
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for b in (data.len() as u32).to_le_bytes() {
        eat(b);
    }
    let head = &data[..data.len().min(48)];
    let tail = &data[data.len().saturating_sub(48).max(head.len())..];
    head.iter().chain(tail).for_each(|b| eat(*b));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_packet_whose_descriptor_was_rewritten() {
        let ledger = Ledger::default();
        let frame: Vec<u8> = (0..3000u32).map(|i| (i * 31 % 251) as u8).collect();
        let packets = vp8::packetize(&frame, 100, 1200);
        for (i, p) in packets.iter().enumerate() {
            ledger.record(
                3,
                p,
                Sent {
                    at_us: 1000 + i as u64,
                    kind: Kind::Video,
                    layer: 2,
                },
            );
        }
        // A server switching layers rewrites the picture id: same VP8 data, new descriptor.
        let rewritten = vp8::packetize(&frame, 7, 1200);
        for (i, p) in rewritten.iter().enumerate() {
            let s = ledger.lookup(3, Kind::Video, p).expect("found");
            assert_eq!((s.at_us, s.layer), (1000 + i as u64, 2));
        }
        // Another publisher's key space.
        assert_eq!(ledger.lookup(4, Kind::Video, &packets[0]), None);
        // The latest send wins (a looping clip).
        ledger.record(
            3,
            &packets[0],
            Sent {
                at_us: 9000,
                kind: Kind::Video,
                layer: 2,
            },
        );
        assert_eq!(
            ledger
                .lookup(3, Kind::Video, &rewritten[0])
                .map(|s| s.at_us),
            Some(9000)
        );
        assert_eq!(ledger.len(), packets.len());
    }

    #[test]
    fn fingerprints_differ_and_handle_short_payloads() {
        assert_ne!(
            fingerprint(Kind::Audio, &[1, 2, 3]),
            fingerprint(Kind::Audio, &[1, 2, 4])
        );
        assert_ne!(
            fingerprint(Kind::Audio, &[0; 100]),
            fingerprint(Kind::Audio, &[0; 101])
        );
        // Differences in the middle of a long payload are not seen (by design: cost).
        let a = vec![5u8; 1000];
        let mut b = a.clone();
        b[500] = 6;
        assert_eq!(fingerprint(Kind::Audio, &a), fingerprint(Kind::Audio, &b));
        let _ = fingerprint(Kind::Video, &[]);
        let _ = fingerprint(Kind::Video, &[0x80]);
    }
}
