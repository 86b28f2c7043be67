//! VP8 over RTP (RFC 7741): the packetizer a sender uses, and the payload-descriptor reader a
//! receiver uses to find where the VP8 data starts and whether a packet begins a keyframe.
//!
//! The packetizer writes what browsers write: `X=1`, `I=1` with a 15-bit picture id (`M=1`),
//! `S=1` on the first packet of a frame, partition index 0; the frame is split into packets
//! of near-equal size no larger than the limit.

/// Bytes of the descriptor the packetizer writes: X/N/S/PID, I/L/T/K, 2-byte picture id.
pub const DESCRIPTOR_LEN: usize = 4;

/// Splits one encoded frame into RTP payloads of at most `max_payload` bytes (at least
/// [`DESCRIPTOR_LEN`] + 1), each with a descriptor carrying `picture_id` (15 bits).
pub fn packetize(frame: &[u8], picture_id: u16, max_payload: usize) -> Vec<Vec<u8>> {
    let room = max_payload.max(DESCRIPTOR_LEN + 1) - DESCRIPTOR_LEN;
    let count = frame.len().div_ceil(room).max(1);
    let base = frame.len() / count;
    let extra = frame.len() % count;
    let pid = picture_id & 0x7fff;
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    for i in 0..count {
        let len = base + usize::from(i < extra);
        let mut p = Vec::with_capacity(DESCRIPTOR_LEN + len);
        // X=1, S on the first packet, PID=0.
        p.push(if i == 0 { 0x90 } else { 0x80 });
        // I=1: a picture id follows.
        p.push(0x80);
        // M=1: 15-bit picture id.
        p.push(0x80 | (pid >> 8) as u8);
        p.push(pid as u8);
        p.extend_from_slice(&frame[at..at + len]);
        at += len;
        out.push(p);
    }
    out
}

/// Whether an encoded VP8 frame is a keyframe (RFC 6386 9.1: bit 0 of the frame tag is 0).
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

/// What a payload descriptor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Bytes of the descriptor: the VP8 data starts here.
    pub len: usize,
    /// `S=1` and partition 0: the packet starts a frame.
    pub frame_start: bool,
    pub picture_id: Option<u16>,
    /// The packet starts a keyframe (frame start, and the frame tag says key).
    pub keyframe: bool,
}

/// Reads the payload descriptor of an RTP payload; `None` if it is truncated.
pub fn descriptor(payload: &[u8]) -> Option<Descriptor> {
    let b0 = *payload.first()?;
    let mut len = 1;
    let mut picture_id = None;
    if b0 & 0x80 != 0 {
        let x = *payload.get(1)?;
        len = 2;
        if x & 0x80 != 0 {
            let p = *payload.get(len)?;
            if p & 0x80 != 0 {
                let lo = *payload.get(len + 1)?;
                picture_id = Some((u16::from(p & 0x7f) << 8) | u16::from(lo));
                len += 2;
            } else {
                picture_id = Some(u16::from(p));
                len += 1;
            }
        }
        // L: TL0PICIDX; T or K: TID/Y/KEYIDX byte.
        if x & 0x40 != 0 {
            len += 1;
        }
        if x & 0x30 != 0 {
            len += 1;
        }
    }
    if payload.len() < len {
        return None;
    }
    let frame_start = b0 & 0x10 != 0 && b0 & 0x0f == 0;
    let keyframe = frame_start && payload.get(len).is_some_and(|b| b & 0x01 == 0);
    Some(Descriptor {
        len,
        frame_start,
        picture_id,
        keyframe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packetizes_evenly_with_descriptors() {
        let frame: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
        let packets = packetize(&frame, 0x1234, 1200);
        assert_eq!(packets.len(), 3);
        assert!(packets.iter().all(|p| p.len() <= 1200));
        let sizes: Vec<usize> = packets.iter().map(|p| p.len() - DESCRIPTOR_LEN).collect();
        assert_eq!(sizes, vec![834, 833, 833]);
        let mut joined = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let d = descriptor(p).expect("descriptor");
            assert_eq!(d.len, DESCRIPTOR_LEN);
            assert_eq!(d.frame_start, i == 0);
            assert_eq!(d.picture_id, Some(0x1234));
            joined.extend_from_slice(&p[d.len..]);
        }
        assert_eq!(joined, frame);
        // Picture ids wrap at 15 bits.
        let d = descriptor(&packetize(&[1], 0x8001, 1200)[0]).expect("descriptor");
        assert_eq!(d.picture_id, Some(1));
        // An empty frame still makes one packet (a descriptor alone).
        assert_eq!(packetize(&[], 0, 1200), vec![vec![0x90, 0x80, 0x80, 0]]);
        // A tiny limit still makes progress.
        assert_eq!(packetize(&[1, 2, 3], 0, 1).len(), 3);
    }

    #[test]
    fn keyframes() {
        let key = [0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a];
        let delta = [0x51, 0x2a, 0x00];
        assert!(is_keyframe(&key));
        assert!(!is_keyframe(&delta));
        assert!(!is_keyframe(&[]));
        let p = packetize(&key, 5, 3 + DESCRIPTOR_LEN);
        assert!(descriptor(&p[0]).is_some_and(|d| d.keyframe));
        // The second packet starts with key-looking bytes but is not a frame start.
        assert!(descriptor(&p[1]).is_some_and(|d| !d.keyframe));
        assert!(descriptor(&packetize(&delta, 5, 1200)[0]).is_some_and(|d| !d.keyframe));
    }

    #[test]
    fn reads_other_descriptor_shapes() {
        // Minimal: no X, S=1.
        assert_eq!(
            descriptor(&[0x10, 0x50]),
            Some(Descriptor {
                len: 1,
                frame_start: true,
                picture_id: None,
                keyframe: true
            })
        );
        // X with I (7-bit picture id), L and T.
        let d = descriptor(&[0x90, 0xe0, 0x05, 0x07, 0x40, 0x51]).expect("descriptor");
        assert_eq!((d.len, d.picture_id, d.keyframe), (5, Some(5), false));
        // Partition 1 is not a frame start.
        assert!(descriptor(&[0x11, 0x50]).is_some_and(|d| !d.frame_start));
        // Truncated.
        assert_eq!(descriptor(&[]), None);
        assert_eq!(descriptor(&[0x80]), None);
        assert_eq!(descriptor(&[0x80, 0x80, 0x80]), None);
        assert_eq!(descriptor(&[0x80, 0x40]), None);
    }
}
