//! What the router needs to know about a video payload, by codec: where keyframes start
//! (so layer switches happen only where the receiver can start decoding), the temporal and
//! spatial layer of the packet, and the VP8 fields to rewrite. One parser per codec
//! (`vp8.rs`, `vp9.rs`, `h264.rs`); each looks at one payload (no RTP header), never
//! allocates and never panics on short or malformed input.
//!
//! AV1 is described from its dependency descriptor header extension, not its payload
//! (`av1_dd.rs`; the peer parses it per source, keeping the last template structure). str0m
//! 0.25 does not parse that extension: it is registered with an `ExtensionSerializer`
//! whose values live in str0m's per-packet type map, so AV1 packets pay the map and its
//! value on receive and a map copy per target. Descriptors are kept only while the peer's
//! negotiated SDP names AV1 (browsers send them with VP8/VP9 too), and one arriving with
//! another codec is dropped at receive: other codecs' maps stay empty and cost nothing.
//! Keyframe = a structure is attached to the start of a spatial layer 0 frame that
//! references nothing; switches happen only at frames the descriptor marks "switch" for a
//! decode target. Before the first structure, AV1 packets describe as nothing. The
//! descriptor is forwarded unchanged when the target negotiated it: dropped layers are not
//! removed from its active decode targets (as several SFUs do), the receiver simply never
//! sees frames of the dropped layers and decodes the kept ones, whose references are all
//! forwarded. The RTP marker (end of temporal unit) moves to the top forwarded layer like
//! VP9's, end_of_frame playing the part of VP9's E bit.

use str0m::rtp::Vp8Descriptor;

use super::{h264, vp8, vp9};

/// Video codecs whose payloads we understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    /// Described from its dependency descriptor (`av1_dd.rs`), not its payload.
    Av1,
    Other,
}

impl From<str0m::format::Codec> for VideoCodec {
    fn from(c: str0m::format::Codec) -> Self {
        use str0m::format::Codec;
        match c {
            Codec::Vp8 => VideoCodec::Vp8,
            Codec::Vp9 => VideoCodec::Vp9,
            Codec::H264 => VideoCodec::H264,
            Codec::Av1 => VideoCodec::Av1,
            _ => VideoCodec::Other,
        }
    }
}

/// VP8 fields kept for per-target rewriting (picture id and TL0PICIDX continuity).
#[derive(Debug, Clone, Copy)]
pub struct Vp8Fields {
    pub picture_id: Option<u16>,
    pub picture_id_wide: bool,
    pub tl0_pic_idx: Option<u8>,
    /// str0m's view of the same descriptor, from which a byte patch applied while str0m
    /// serializes the packet is built (no payload copy of our own).
    pub patchable: Option<Vp8Descriptor>,
}

/// One packet's payload, as the layer filters and rewriters see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PayloadDesc {
    /// The packet starts a keyframe.
    pub keyframe: bool,
    /// First packet of a picture: temporal and spatial switches happen only here.
    pub begins_picture: bool,
    /// Temporal layer (VP8 TID, VP9 TID).
    pub temporal: Option<u8>,
    /// From this frame the decoder can follow its temporal layer having received only the
    /// lower ones (VP8 Y, VP9 U).
    pub temporal_switch: bool,
    /// AV1: from this frame the decoder can follow every temporal layer up to this one
    /// (the frame is a dependency descriptor switch point for that decode target).
    pub temporal_switch_up: Option<u8>,
    /// VP9 / AV1 spatial layer.
    pub spatial: Option<u8>,
    /// VP9 / AV1: the frame does not predict from earlier pictures of its spatial layer.
    pub spatial_switch: bool,
    /// VP9: spatial layers announced by a scalability structure (keyframes carry one).
    pub spatial_layers: Option<u8>,
    /// VP9: last packet of a layer frame (the marker moves here when upper layers drop).
    pub end_frame: bool,
    pub vp8: Option<Vp8Fields>,
}

/// Describes one payload. Unparseable payloads describe as nothing (forwarded as is, never
/// a keyframe).
pub fn describe(codec: VideoCodec, payload: &[u8]) -> PayloadDesc {
    match codec {
        VideoCodec::Vp8 => match vp8::parse(payload) {
            Some(d) => PayloadDesc {
                keyframe: d.keyframe,
                begins_picture: d.begins_picture(),
                temporal: d.tid,
                temporal_switch: d.layer_sync,
                vp8: Some(Vp8Fields {
                    picture_id: d.picture_id,
                    picture_id_wide: d.picture_id_wide,
                    tl0_pic_idx: d.tl0_pic_idx,
                    patchable: if d.picture_id.is_some() || d.tl0_pic_idx.is_some() {
                        Vp8Descriptor::parse(payload).ok()
                    } else {
                        None
                    },
                }),
                ..Default::default()
            },
            None => PayloadDesc::default(),
        },
        VideoCodec::Vp9 => match vp9::parse(payload) {
            Some(d) => PayloadDesc {
                keyframe: d.keyframe(),
                begins_picture: d.begins_picture(),
                temporal: d.tid,
                temporal_switch: d.switching_up,
                temporal_switch_up: None,
                spatial: d.sid,
                spatial_switch: d.spatial_switch_point(),
                spatial_layers: d.spatial_layers,
                end_frame: d.end_frame,
                vp8: None,
            },
            None => PayloadDesc::default(),
        },
        VideoCodec::H264 => {
            let keyframe = h264::is_keyframe(payload);
            PayloadDesc {
                keyframe,
                begins_picture: keyframe,
                ..Default::default()
            }
        }
        VideoCodec::Av1 | VideoCodec::Other => PayloadDesc::default(),
    }
}

/// True when the packet starts (or, for H.264, carries the start of) a keyframe.
pub fn is_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::Vp8 => vp8_is_keyframe(payload),
        VideoCodec::Vp9 => vp9_is_keyframe(payload),
        VideoCodec::H264 => h264::is_keyframe(payload),
        VideoCodec::Av1 | VideoCodec::Other => false,
    }
}

/// RFC 7741: payload descriptor, then the VP8 payload header whose P bit is 0 on keyframes.
pub fn vp8_is_keyframe(p: &[u8]) -> bool {
    vp8::parse(p).is_some_and(|d| d.keyframe)
}

/// RFC 9628: not inter-predicted (P=0), beginning of the base spatial layer frame.
pub fn vp9_is_keyframe(p: &[u8]) -> bool {
    vp9::parse(p).is_some_and(|d| d.keyframe())
}

/// RFC 6184: an IDR slice or SPS, alone, inside a STAP-A, or as the first FU-A fragment.
pub fn h264_is_keyframe(p: &[u8]) -> bool {
    h264::is_keyframe(p)
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
    fn vp9_flags() {
        assert!(vp9_is_keyframe(&[0x08, 0x00]));
        assert!(!vp9_is_keyframe(&[0x48, 0x00]));
        assert!(!vp9_is_keyframe(&[0x00, 0x00]));
        assert!(!is_keyframe(VideoCodec::Other, &[0x08]));
    }

    #[test]
    fn descriptions_by_codec() {
        let d = describe(VideoCodec::Vp8, &[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x00]);
        assert!(d.keyframe && d.begins_picture);
        assert_eq!(d.temporal, Some(1));
        let v = d.vp8.unwrap();
        assert_eq!((v.picture_id, v.tl0_pic_idx), (Some(0x123), Some(5)));
        assert!(v.patchable.is_some());
        // VP8 without picture id: nothing to patch.
        let d = describe(VideoCodec::Vp8, &[0x10, 0x00, 0x9d]);
        assert!(d.vp8.unwrap().patchable.is_none());
        // VP9 upper spatial layer, end of its frame.
        let d = describe(VideoCodec::Vp9, &[0xbc, 0x05, 0x53, 0xaa]);
        assert_eq!((d.spatial, d.temporal), (Some(1), Some(2)));
        assert!(d.end_frame && d.spatial_switch && !d.keyframe && !d.begins_picture);
        let d = describe(VideoCodec::H264, &[0x65, 0x88]);
        assert!(d.keyframe && d.begins_picture && d.temporal.is_none());
        // Garbage describes as nothing.
        for c in [
            VideoCodec::Vp8,
            VideoCodec::Vp9,
            VideoCodec::H264,
            VideoCodec::Other,
        ] {
            let d = describe(c, &[]);
            assert!(!d.keyframe && d.temporal.is_none() && d.vp8.is_none());
        }
    }
}
