//! H.264 (RFC 6184): keyframe detection only (an IDR slice or SPS, alone, in a STAP-A or as
//! the first FU-A fragment). H.264 simulcast needs nothing more; it has no descriptor.

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

fn h264_key_nal(t: u8) -> bool {
    t == H264_IDR || t == H264_SPS
}

/// RFC 6184: an IDR slice or SPS, alone, inside a STAP-A, or as the first FU-A fragment.
pub fn is_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        H264_STAP_A => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                let Some(&nal) = p.get(i + 2) else {
                    return false;
                };
                if size == 0 {
                    return false;
                }
                if h264_key_nal(nal & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        H264_FU_A => p
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && h264_key_nal(fu & 0x1f)),
        t => h264_key_nal(t),
    }
}

#[cfg(test)]
mod tests {
    use super::is_keyframe as h264_is_keyframe;

    #[test]
    fn h264_single_stap_and_fu() {
        assert!(h264_is_keyframe(&[0x65, 0x88])); // IDR
        assert!(h264_is_keyframe(&[0x67, 0x42])); // SPS
        assert!(!h264_is_keyframe(&[0x41, 0x9a])); // non-IDR slice
        // STAP-A with SPS + PPS.
        assert!(h264_is_keyframe(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce
        ]));
        // STAP-A with only a non-IDR slice.
        assert!(!h264_is_keyframe(&[0x78, 0x00, 0x02, 0x41, 0x9a]));
        // FU-A start of IDR, and its continuation.
        assert!(h264_is_keyframe(&[0x7c, 0x85, 0x00]));
        assert!(!h264_is_keyframe(&[0x7c, 0x05, 0x00]));
        assert!(!h264_is_keyframe(&[0x7c, 0x81, 0x00]));
    }

    #[test]
    fn h264_malformed_never_panics() {
        assert!(!h264_is_keyframe(&[]));
        assert!(!h264_is_keyframe(&[0x78]));
        assert!(!h264_is_keyframe(&[0x78, 0xff, 0xff]));
        assert!(!h264_is_keyframe(&[0x78, 0x00, 0x00, 0x00]));
        assert!(!h264_is_keyframe(&[0x7c]));
    }
}
