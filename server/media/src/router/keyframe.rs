//! Keyframe detection from RTP payloads, so a simulcast layer switch happens only where
//! the receiver can start decoding. Each function looks at one packet's payload (no RTP
//! header) and never panics on short or malformed input.

/// Video codecs whose keyframes we can detect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    Other,
}

/// True when the packet starts (or, for H.264, carries the start of) a keyframe.
pub fn is_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::Vp8 => vp8_is_keyframe(payload),
        VideoCodec::Vp9 => vp9_is_keyframe(payload),
        VideoCodec::H264 => h264_is_keyframe(payload),
        VideoCodec::Other => false,
    }
}

/// RFC 7741: payload descriptor, then the VP8 payload header whose P bit is 0 on keyframes.
pub fn vp8_is_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let extended = b0 & 0x80 != 0;
    let start = b0 & 0x10 != 0;
    let partition = b0 & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut i = 1;
    if extended {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M flag).
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/Y/KEYIDX
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

/// VP9 (draft-ietf-payload-vp9): not inter-predicted (P=0) at the beginning of a frame (B=1).
pub fn vp9_is_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let inter_predicted = b0 & 0x40 != 0;
    let begins_frame = b0 & 0x08 != 0;
    !inter_predicted && begins_frame
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

fn h264_key_nal(t: u8) -> bool {
    t == H264_IDR || t == H264_SPS
}

/// RFC 6184: an IDR slice or SPS, alone, inside a STAP-A, or as the first FU-A fragment.
pub fn h264_is_keyframe(p: &[u8]) -> bool {
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
    use super::*;

    #[test]
    fn vp8_keyframe_and_delta() {
        // S=1, PID=0, no extension; VP8 header P bit 0 → keyframe.
        assert!(vp8_is_keyframe(&[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // P bit set → interframe.
        assert!(!vp8_is_keyframe(&[0x10, 0x01]));
        // Not the start of a partition.
        assert!(!vp8_is_keyframe(&[0x00, 0x00]));
        // Extended: I with 15-bit picture id, L, T present.
        assert!(vp8_is_keyframe(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x00]));
        assert!(!vp8_is_keyframe(&[
            0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x01
        ]));
        // 7-bit picture id only.
        assert!(vp8_is_keyframe(&[0x90, 0x80, 0x12, 0x00]));
    }

    #[test]
    fn vp8_truncated_is_not_keyframe() {
        assert!(!vp8_is_keyframe(&[]));
        assert!(!vp8_is_keyframe(&[0x90]));
        assert!(!vp8_is_keyframe(&[0x90, 0x80]));
        assert!(!vp8_is_keyframe(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40]));
    }

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

    #[test]
    fn vp9_flags() {
        assert!(vp9_is_keyframe(&[0x08]));
        assert!(!vp9_is_keyframe(&[0x48]));
        assert!(!vp9_is_keyframe(&[0x00]));
        assert!(!is_keyframe(VideoCodec::Other, &[0x08]));
    }
}
