//! Writing a routed RTP packet: the fixed header, the negotiated one-byte header
//! extensions (RFC 8285) and the payload, with the VP8 picture id / TL0PICIDX the router
//! chose written into the payload descriptor.

use crate::router::picture_id::PictureIds;

pub const RTP_HEADER: usize = 12;

/// Extension ids negotiated on one m-line (what the native path writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtIds {
    pub abs_send_time: Option<u8>,
    pub audio_level: Option<u8>,
    pub video_orientation: Option<u8>,
    pub video_content_type: Option<u8>,
}

/// One packet's header fields and extension values.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// abs-send-time, 6.18 fixed-point seconds (24 bits).
    pub abs_send_time: u32,
    /// ssrc-audio-level: (level in -dBov, voice activity).
    pub audio_level: Option<(u8, bool)>,
    /// urn:3gpp:video-orientation byte.
    pub video_orientation: Option<u8>,
    pub video_content_type: Option<u8>,
}

/// Writes the header and `payload` into `buf` (cleared first); returns the header length.
pub fn write(
    buf: &mut Vec<u8>,
    h: &Header,
    ids: &ExtIds,
    payload: &[u8],
    vp8: Option<&PictureIds>,
) -> usize {
    buf.clear();
    let mut elements: [(u8, [u8; 3], usize); 4] = [(0, [0; 3], 0); 4];
    let mut n = 0;
    let mut add = |id: Option<u8>, value: [u8; 3], len: usize| {
        if let Some(id) = id.filter(|id| (1..=14).contains(id)) {
            elements[n] = (id, value, len);
            n += 1;
        }
    };
    let abs = h.abs_send_time.to_be_bytes();
    add(ids.abs_send_time, [abs[1], abs[2], abs[3]], 3);
    if let Some((level, voice)) = h.audio_level {
        add(
            ids.audio_level,
            [(u8::from(voice) << 7) | (level & 0x7f), 0, 0],
            1,
        );
    }
    if let Some(o) = h.video_orientation {
        add(ids.video_orientation, [o, 0, 0], 1);
    }
    if let Some(t) = h.video_content_type {
        add(ids.video_content_type, [t, 0, 0], 1);
    }
    let ext_bytes: usize = elements[..n].iter().map(|(_, _, len)| 1 + len).sum();
    let ext_words = ext_bytes.div_ceil(4);
    buf.push(if n > 0 { 0x90 } else { 0x80 });
    buf.push(if h.marker {
        0x80 | (h.pt & 0x7f)
    } else {
        h.pt & 0x7f
    });
    buf.extend_from_slice(&h.seq.to_be_bytes());
    buf.extend_from_slice(&h.timestamp.to_be_bytes());
    buf.extend_from_slice(&h.ssrc.to_be_bytes());
    if n > 0 {
        buf.extend_from_slice(&[0xBE, 0xDE]);
        buf.extend_from_slice(&(ext_words as u16).to_be_bytes());
        for (id, value, len) in &elements[..n] {
            buf.push((id << 4) | (*len as u8 - 1));
            buf.extend_from_slice(&value[..*len]);
        }
        buf.resize(RTP_HEADER + 4 + ext_words * 4, 0);
    }
    let header_len = buf.len();
    buf.extend_from_slice(payload);
    if let Some(ids) = vp8 {
        patch_vp8(&mut buf[header_len..], ids);
    }
    header_len
}

/// Writes picture id and TL0PICIDX into a VP8 payload descriptor (RFC 7741 §4.2), keeping
/// the field widths the sender chose. A descriptor without the field is left alone.
fn patch_vp8(p: &mut [u8], ids: &PictureIds) {
    if p.len() < 2 || p[0] & 0x80 == 0 {
        return;
    }
    let (i, l) = (p[1] & 0x80 != 0, p[1] & 0x40 != 0);
    let mut at = 2;
    if i {
        let Some(&first) = p.get(at) else { return };
        let wide = first & 0x80 != 0;
        if let Some(pid) = ids.picture_id {
            if wide {
                if at + 1 >= p.len() {
                    return;
                }
                p[at] = 0x80 | ((pid >> 8) as u8 & 0x7f);
                p[at + 1] = pid as u8;
            } else {
                p[at] = pid as u8 & 0x7f;
            }
        }
        at += if wide { 2 } else { 1 };
    }
    if l && let (Some(tl0), Some(b)) = (ids.tl0_pic_idx, p.get_mut(at)) {
        *b = tl0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            pt: 96,
            marker: true,
            seq: 0x1234,
            timestamp: 0xAABBCCDD,
            ssrc: 0x01020304,
            abs_send_time: 0x00ABCDEF,
            audio_level: None,
            video_orientation: None,
            video_content_type: None,
        }
    }

    #[test]
    fn header_without_extensions() {
        let mut buf = Vec::new();
        let n = write(&mut buf, &header(), &ExtIds::default(), &[9, 9], None);
        assert_eq!(n, 12);
        assert_eq!(
            buf,
            [
                0x80, 0xE0, 0x12, 0x34, 0xAA, 0xBB, 0xCC, 0xDD, 1, 2, 3, 4, 9, 9
            ]
        );
    }

    #[test]
    fn one_byte_extensions_padded_to_words() {
        let mut buf = Vec::new();
        let ids = ExtIds {
            abs_send_time: Some(3),
            audio_level: Some(1),
            video_orientation: None,
            video_content_type: Some(15), // not a one-byte id: skipped
        };
        let h = Header {
            audio_level: Some((30, true)),
            video_content_type: Some(1),
            ..header()
        };
        let n = write(&mut buf, &h, &ids, &[7], None);
        // abs-send-time (1 + 3) + audio level (1 + 1) = 6 bytes -> 2 words.
        assert_eq!(n, 12 + 4 + 8);
        assert_eq!(buf[0], 0x90);
        assert_eq!(&buf[12..16], &[0xBE, 0xDE, 0, 2]);
        assert_eq!(&buf[16..20], &[0x32, 0xAB, 0xCD, 0xEF]);
        assert_eq!(&buf[20..24], &[0x10, 0x80 | 30, 0, 0]);
        assert_eq!(buf[24], 7);
    }

    #[test]
    fn vp8_picture_id_and_tl0_are_written_in_the_senders_widths() {
        let ids = PictureIds {
            picture_id: Some(0x1ABC),
            wide: true,
            tl0_pic_idx: Some(0x42),
        };
        // X, I+L+T, 15-bit picture id, TL0PICIDX, TID byte, then VP8 data.
        let mut p = [0x90, 0xE0, 0x80, 0x01, 0x07, 0x20, 0xFF];
        patch_vp8(&mut p, &ids);
        assert_eq!(p, [0x90, 0xE0, 0x9A, 0xBC, 0x42, 0x20, 0xFF]);
        // 7-bit picture id, no TL0PICIDX.
        let mut p = [0x90, 0x80, 0x05, 0xFF];
        patch_vp8(&mut p, &ids);
        assert_eq!(p, [0x90, 0x80, 0x3C, 0xFF]);
        // No X: nothing to patch; truncated descriptors are left alone.
        let mut p = [0x10, 0x80, 0x05];
        patch_vp8(&mut p, &ids);
        assert_eq!(p, [0x10, 0x80, 0x05]);
        let mut p = [0x90, 0xC0, 0x80];
        patch_vp8(&mut p, &ids);
        assert_eq!(p, [0x90, 0xC0, 0x80]);
    }
}
