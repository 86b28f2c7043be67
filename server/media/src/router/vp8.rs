//! VP8 RTP payload descriptor (RFC 7741 section 4.2). Parsed once per incoming packet on
//! the source shard; no allocation, and any byte string (truncated, garbage) gives `None`
//! instead of a panic.
//!
//! ```text
//!  X|R|N|S|R|PID      required
//!  I|L|T|K|RSV        X: extension bits
//!  M|PictureID(7)     I (+ 8 more bits when M)
//!  TL0PICIDX          L
//!  TID(2)|Y|KEYIDX(5) T or K
//! ```

/// The fields of one packet's VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Desc {
    /// N: the frame is not used as a reference (may be dropped).
    pub non_reference: bool,
    /// S: the packet starts a partition.
    pub start_of_partition: bool,
    /// PID: partition index.
    pub partition: u8,
    /// PictureID, 7 or 15 bits.
    pub picture_id: Option<u16>,
    /// True when the PictureID field is 15 bits wide.
    pub picture_id_wide: bool,
    pub tl0_pic_idx: Option<u8>,
    /// Temporal layer (TID), when T is set.
    pub tid: Option<u8>,
    /// Y: layer sync, the frame depends only on the base temporal layer.
    pub layer_sync: bool,
    pub key_idx: Option<u8>,
    /// Offset of the VP8 payload header (after the descriptor).
    pub header_offset: usize,
    /// The packet starts a keyframe (first packet of partition 0, P bit clear).
    pub keyframe: bool,
}

impl Vp8Desc {
    /// First packet of a picture (start of partition 0).
    pub fn begins_picture(&self) -> bool {
        self.start_of_partition && self.partition == 0
    }
}

/// Parses the descriptor; `None` when the payload is too short for what its bits announce
/// or carries no VP8 data after the descriptor.
pub fn parse(p: &[u8]) -> Option<Vp8Desc> {
    let b0 = *p.first()?;
    let mut d = Vp8Desc {
        non_reference: b0 & 0x20 != 0,
        start_of_partition: b0 & 0x10 != 0,
        partition: b0 & 0x07,
        ..Default::default()
    };
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            let m = *p.get(i)?;
            i += 1;
            if m & 0x80 != 0 {
                let lo = *p.get(i)?;
                i += 1;
                d.picture_id = Some((u16::from(m & 0x7f) << 8) | u16::from(lo));
                d.picture_id_wide = true;
            } else {
                d.picture_id = Some(u16::from(m & 0x7f));
            }
        }
        if x & 0x40 != 0 {
            d.tl0_pic_idx = Some(*p.get(i)?);
            i += 1;
        }
        if x & 0x30 != 0 {
            let t = *p.get(i)?;
            i += 1;
            if x & 0x20 != 0 {
                d.tid = Some(t >> 6);
                d.layer_sync = t & 0x20 != 0;
            }
            if x & 0x10 != 0 {
                d.key_idx = Some(t & 0x1f);
            }
        }
    }
    let header = *p.get(i)?;
    d.header_offset = i;
    d.keyframe = d.begins_picture() && header & 0x01 == 0;
    Some(d)
}

/// Wraps a 15-bit (or 7-bit) picture id to the width its descriptor uses.
pub fn wrap_picture_id(id: u16, wide: bool) -> u16 {
    if wide { id & 0x7fff } else { id & 0x7f }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_descriptor_keyframe() {
        let d = parse(&[0x10, 0x00, 0x9d, 0x01, 0x2a]).unwrap();
        assert!(d.keyframe && d.begins_picture());
        assert_eq!(d.picture_id, None);
        assert_eq!(d.header_offset, 1);
        assert!(!parse(&[0x10, 0x01]).unwrap().keyframe);
        // Not partition 0, or not a partition start: never a keyframe.
        assert!(!parse(&[0x11, 0x00]).unwrap().keyframe);
        assert!(!parse(&[0x00, 0x00]).unwrap().keyframe);
    }

    #[test]
    fn every_extension_field() {
        // X, N, S; I L T K; 15-bit pid 0x0123; tl0 5; TID 2, Y, KEYIDX 3; header P=1.
        let d = parse(&[0xb0, 0xf0, 0x81, 0x23, 0x05, 0xa3, 0x01]).unwrap();
        assert_eq!(
            d,
            Vp8Desc {
                non_reference: true,
                start_of_partition: true,
                partition: 0,
                picture_id: Some(0x0123),
                picture_id_wide: true,
                tl0_pic_idx: Some(5),
                tid: Some(2),
                layer_sync: true,
                key_idx: Some(3),
                header_offset: 6,
                keyframe: false,
            }
        );
        // 7-bit picture id, K only (TID byte present, TID not meaningful).
        let d = parse(&[0x90, 0x90, 0x12, 0x1f, 0x00]).unwrap();
        assert_eq!(d.picture_id, Some(0x12));
        assert!(!d.picture_id_wide);
        assert_eq!(d.tid, None);
        assert_eq!(d.key_idx, Some(0x1f));
        assert!(d.keyframe);
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let full = [0xb0, 0xf0, 0x81, 0x23, 0x05, 0xa3, 0x01];
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), None, "prefix of {n} bytes");
        }
        // Every 3-byte pattern of interesting bits parses or refuses without panicking.
        for a in 0..=255u8 {
            for b in [0x00, 0x80, 0xc0, 0xf0, 0xff] {
                let _ = parse(&[a, b, 0xff]);
                let _ = parse(&[a, b]);
            }
        }
    }

    #[test]
    fn picture_id_wraps_to_its_width() {
        assert_eq!(wrap_picture_id(0x8001, true), 1);
        assert_eq!(wrap_picture_id(0x80, false), 0);
    }
}
