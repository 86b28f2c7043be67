//! The measured RTP payload and the shape of the media a bench peer sends.
//!
//! Every payload starts like the codec's own (Opus TOC byte, VP8 payload descriptor or an
//! H.264 NAL unit header), so
//! nothing on the path mistakes it for garbage, followed by a marker, the stream kind, the
//! sender's sequence number and its send time, then padding to the packet size.

use std::time::Duration;

use crate::media::VideoCodec;

/// Follows the codec prefix; tells a bench payload from anything else.
const MAGIC: &[u8; 4] = b"PBN1";
/// Opus TOC: config 31 (CELT FB 20 ms), mono, one frame.
const OPUS_PREFIX: &[u8] = &[0xf8];
/// VP8 descriptor with S=1 (first packet of a frame), then a key-frame header (320x240).
const VP8_FIRST: &[u8] = &[
    0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
];
/// VP8 descriptor of a continuation packet (S=0).
const VP8_NEXT: &[u8] = &[0x00];
/// H.264 single NAL unit packets (RFC 6184): an IDR slice starting the picture
/// (first_mb_in_slice = 0), then non-IDR slices of the same picture (first_mb_in_slice > 0,
/// since the magic's first byte has its top bit clear).
const H264_FIRST: &[u8] = &[0x65, 0x88];
const H264_NEXT: &[u8] = &[0x41];
/// Header after the prefix: magic, kind, seq (u64), send time (u64 µs).
const HEADER: usize = 4 + 1 + 8 + 8;

/// Which stream a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Audio => 0,
            Kind::Video => 1,
        }
    }
}

/// What a received bench payload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub kind: Kind,
    pub seq: u64,
    pub sent_us: u64,
}

/// Builds a payload of `size` bytes (at least the prefix and header), VP8-shaped for video.
pub fn encode(kind: Kind, first_of_frame: bool, seq: u64, sent_us: u64, size: usize) -> Vec<u8> {
    encode_as(VideoCodec::Vp8, kind, first_of_frame, seq, sent_us, size)
}

/// [`encode`] with video shaped as `codec`'s RTP payload.
pub fn encode_as(
    codec: VideoCodec,
    kind: Kind,
    first_of_frame: bool,
    seq: u64,
    sent_us: u64,
    size: usize,
) -> Vec<u8> {
    let prefix = match (kind, codec, first_of_frame) {
        (Kind::Audio, _, _) => OPUS_PREFIX,
        (Kind::Video, VideoCodec::Vp8, true) => VP8_FIRST,
        (Kind::Video, VideoCodec::Vp8, false) => VP8_NEXT,
        (Kind::Video, VideoCodec::H264, true) => H264_FIRST,
        (Kind::Video, VideoCodec::H264, false) => H264_NEXT,
    };
    let mut p = Vec::with_capacity(size.max(prefix.len() + HEADER));
    p.extend_from_slice(prefix);
    p.extend_from_slice(MAGIC);
    p.push(kind.byte());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&sent_us.to_be_bytes());
    if p.len() < size {
        p.resize(size, 0);
    }
    p
}

/// Reads a bench payload; `None` for anything else (padding, another sender's media).
pub fn decode(payload: &[u8]) -> Option<Stamp> {
    let prefix = [OPUS_PREFIX, VP8_FIRST, VP8_NEXT, H264_FIRST, H264_NEXT]
        .into_iter()
        .find(|p| payload.starts_with(p) && payload[p.len()..].starts_with(MAGIC))?;
    let h = payload.get(prefix.len() + MAGIC.len()..prefix.len() + HEADER)?;
    let kind = match h[0] {
        0 => Kind::Audio,
        1 => Kind::Video,
        _ => return None,
    };
    let seq = u64::from_be_bytes(h[1..9].try_into().ok()?);
    let sent_us = u64::from_be_bytes(h[9..17].try_into().ok()?);
    Some(Stamp { kind, seq, sent_us })
}

/// Media rates of one bench peer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MediaProfile {
    /// Audio packet size (Opus at ~32 kbit/s in 20 ms frames is ~80-100 bytes).
    pub audio_bytes: usize,
    pub audio_ptime_ms: u32,
    /// Video bitrate in bits per second.
    pub video_bps: u64,
    pub video_fps: u32,
    /// Largest video payload (browsers stay ~1200 bytes to fit any path MTU).
    pub video_mtu: usize,
    /// What the video payloads look like (and the codec the peers negotiate).
    pub video_codec: VideoCodec,
}

impl Default for MediaProfile {
    fn default() -> Self {
        MediaProfile {
            audio_bytes: 100,
            audio_ptime_ms: 20,
            video_bps: 1_500_000,
            video_fps: 30,
            video_mtu: 1200,
            video_codec: VideoCodec::Vp8,
        }
    }
}

impl MediaProfile {
    /// Interval between audio packets.
    pub fn audio_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.audio_ptime_ms.max(1)))
    }

    /// Interval between video frames.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs(1) / self.video_fps.max(1)
    }

    /// RTP clock units per video frame (90 kHz).
    pub fn video_rtp_step(&self) -> u32 {
        90_000 / self.video_fps.max(1)
    }

    /// RTP clock units per audio packet (48 kHz).
    pub fn audio_rtp_step(&self) -> u32 {
        48 * self.audio_ptime_ms
    }

    /// Payload sizes of one video frame: the frame's bytes split evenly into packets of at
    /// most `video_mtu` (every packet big enough for the header).
    pub fn video_frame_sizes(&self) -> Vec<usize> {
        let frame = (self.video_bps / 8 / u64::from(self.video_fps.max(1))) as usize;
        let mtu = self.video_mtu.max(VP8_FIRST.len() + HEADER);
        let packets = frame.div_ceil(mtu).max(1);
        let base = frame / packets;
        let extra = frame % packets;
        (0..packets)
            .map(|i| (base + usize::from(i < extra)).max(VP8_FIRST.len() + HEADER))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        for (kind, first) in [
            (Kind::Audio, true),
            (Kind::Video, true),
            (Kind::Video, false),
        ] {
            let p = encode(kind, first, 12_345, 987_654_321, 100);
            assert_eq!(p.len(), 100);
            assert_eq!(
                decode(&p),
                Some(Stamp {
                    kind,
                    seq: 12_345,
                    sent_us: 987_654_321
                })
            );
        }
        // Too small a size still carries the whole header.
        let p = encode(Kind::Audio, true, 1, 2, 0);
        assert_eq!(decode(&p).map(|s| s.seq), Some(1));
        assert_eq!(
            &encode(Kind::Video, true, 0, 0, 50)[..3],
            &[0x10, 0x10, 0x02]
        );
        // H.264-shaped: an IDR single NAL unit starts the frame, non-IDR slices follow.
        for first in [true, false] {
            let p = encode_as(VideoCodec::H264, Kind::Video, first, 9, 10, 120);
            assert_eq!(p.len(), 120);
            assert_eq!(decode(&p).map(|s| (s.kind, s.seq)), Some((Kind::Video, 9)));
            assert_eq!(crate::media::h264::is_keyframe_start(&p), first);
            assert_eq!(
                crate::media::h264::nal_type(&p),
                Some(if first { 5 } else { 1 })
            );
        }
    }

    #[test]
    fn foreign_or_truncated_payloads_are_ignored() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(b"portunus-Audio-1-0-1"), None);
        let p = encode(Kind::Audio, true, 7, 8, 100);
        assert_eq!(decode(&p[..10]), None);
        let mut bad_kind = p.clone();
        bad_kind[5] = 9;
        assert_eq!(decode(&bad_kind), None);
    }

    #[test]
    fn default_profile_rates() {
        let m = MediaProfile::default();
        let sizes = m.video_frame_sizes();
        let frame: usize = sizes.iter().sum();
        assert_eq!(frame, 6250); // 1.5 Mbit/s at 30 fps
        assert_eq!(sizes.len(), 6);
        assert!(sizes.iter().all(|s| *s <= 1200));
        assert_eq!(m.video_rtp_step(), 3000);
        assert_eq!(m.audio_rtp_step(), 960);
        assert_eq!(m.frame_interval(), Duration::from_nanos(33_333_333));
        // A tiny bitrate still sends one packet holding the header.
        let low = MediaProfile {
            video_bps: 800,
            ..m
        };
        assert_eq!(low.video_frame_sizes(), vec![VP8_FIRST.len() + HEADER]);
    }
}
