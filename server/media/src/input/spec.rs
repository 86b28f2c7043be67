//! Checks a plain-RTP input as a plugin described it and turns each stream into what the
//! router needs (codec info, keyframe parser). Pure: no sockets.

use std::collections::HashSet;

use str0m::format::Codec;
use str0m::media::Mid;

use crate::error::MediaError;
use crate::router::CodecInfo;
use crate::router::keyframe::VideoCodec;
use crate::types::{MediaKind, RtpInput, RtpInputStream};

/// One stream, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub mid: Mid,
    pub kind: MediaKind,
    pub codec: CodecInfo,
    /// How to find keyframes in the payload (video only).
    pub video: Option<VideoCodec>,
    pub pt: Option<u8>,
    pub port: u16,
    pub rtcp_port: Option<u16>,
}

/// The codecs an input may carry (the contract's list), by the name plugins use.
fn codec_by_name(name: &str) -> Option<(Codec, MediaKind)> {
    let c = match name.to_ascii_lowercase().as_str() {
        "opus" => (Codec::Opus, MediaKind::Audio),
        "pcmu" => (Codec::PCMU, MediaKind::Audio),
        "pcma" => (Codec::PCMA, MediaKind::Audio),
        "g722" => (Codec::G722, MediaKind::Audio),
        "vp8" => (Codec::Vp8, MediaKind::Video),
        "vp9" => (Codec::Vp9, MediaKind::Video),
        "h264" => (Codec::H264, MediaKind::Video),
        "av1" => (Codec::Av1, MediaKind::Video),
        _ => return None,
    };
    Some(c)
}

/// H.264 (packetization-mode, profile-level-id) from an fmtp line, as str0m keeps them for
/// a PeerConnection's payload types, so the router picks the subscriber's matching one.
fn h264_params(fmtp: Option<&str>) -> (u8, u32) {
    let mut mode = 0;
    let mut profile = 0;
    for kv in fmtp.unwrap_or("").split(';') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "packetization-mode" => mode = v.trim().parse().unwrap_or(0),
            "profile-level-id" => profile = u32::from_str_radix(v.trim(), 16).unwrap_or(0),
            _ => {}
        }
    }
    (mode, profile)
}

fn stream(s: &RtpInputStream) -> Result<StreamSpec, MediaError> {
    let bad = |why: String| MediaError::Input(format!("stream {:?}: {why}", s.mid));
    let (codec, kind) =
        codec_by_name(&s.codec).ok_or_else(|| bad(format!("unknown codec {:?}", s.codec)))?;
    if kind != s.kind {
        return Err(bad(format!(
            "codec {} is {}, the stream is {}",
            s.codec,
            kind.as_str(),
            s.kind.as_str()
        )));
    }
    if s.clock_rate == 0 {
        return Err(bad("clock rate 0".into()));
    }
    if let Some(pt) = s.pt.filter(|pt| *pt > 127) {
        return Err(bad(format!("payload type {pt} is beyond 127")));
    }
    if s.rtcp_port == Some(0) {
        return Err(bad("RTCP port 0 (leave it out for no RTCP)".into()));
    }
    if s.rtcp_port.is_some() && s.rtcp_port == Some(s.port) {
        return Err(bad(format!("RTP and RTCP on the same port {}", s.port)));
    }
    let h264 = (codec == Codec::H264).then(|| h264_params(s.fmtp.as_deref()));
    Ok(StreamSpec {
        mid: Mid::from(s.mid.as_str()),
        kind,
        codec: CodecInfo {
            codec,
            clock_rate: s.clock_rate,
            channels: s.channels,
            h264,
        },
        video: (kind == MediaKind::Video).then(|| VideoCodec::from(codec)),
        pt: s.pt,
        port: s.port,
        rtcp_port: s.rtcp_port,
    })
}

/// Checks the whole input: at least one stream, mids non-empty and unique (a mid is at most
/// 16 bytes, str0m's limit), known codecs of the stream's kind.
pub fn check(input: &RtpInput) -> Result<Vec<StreamSpec>, MediaError> {
    if input.streams.is_empty() {
        return Err(MediaError::Input("no streams".into()));
    }
    let mut mids = HashSet::new();
    let mut out = Vec::with_capacity(input.streams.len());
    for s in &input.streams {
        if s.mid.is_empty() {
            return Err(MediaError::Input("a stream has an empty mid".into()));
        }
        if s.mid.len() > 16 {
            return Err(MediaError::Input(format!(
                "mid {:?} is longer than 16 bytes",
                s.mid
            )));
        }
        if !mids.insert(s.mid.as_str()) {
            return Err(MediaError::Input(format!("mid {:?} used twice", s.mid)));
        }
        out.push(stream(s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(mid: &str, kind: MediaKind, codec: &str) -> RtpInputStream {
        RtpInputStream {
            mid: mid.into(),
            kind,
            codec: codec.into(),
            clock_rate: if kind == MediaKind::Audio {
                48_000
            } else {
                90_000
            },
            channels: None,
            pt: None,
            fmtp: None,
            port: 0,
            rtcp_port: None,
        }
    }

    fn input(streams: Vec<RtpInputStream>) -> RtpInput {
        RtpInput {
            ip: "127.0.0.1".parse().unwrap(),
            streams,
        }
    }

    #[test]
    fn accepts_the_contract_codecs_in_any_case() {
        let mut h = s("v", MediaKind::Video, "H264");
        h.fmtp = Some("profile-level-id=42e01f; packetization-mode=1".into());
        let specs = check(&input(vec![
            s("a", MediaKind::Audio, "opus"),
            s("b", MediaKind::Audio, "PCMU"),
            s("c", MediaKind::Video, "vp8"),
            h,
        ]))
        .unwrap();
        assert_eq!(specs[0].codec.codec, Codec::Opus);
        assert_eq!(specs[0].video, None);
        assert_eq!(specs[2].video, Some(VideoCodec::Vp8));
        assert_eq!(specs[3].codec.h264, Some((1, 0x42e01f)));
    }

    #[test]
    fn refuses_bad_descriptions() {
        let cases: Vec<(Vec<RtpInputStream>, &str)> = vec![
            (vec![], "no streams"),
            (vec![s("", MediaKind::Audio, "opus")], "empty mid"),
            (
                vec![s("0123456789abcdefg", MediaKind::Audio, "opus")],
                "longer",
            ),
            (
                vec![
                    s("a", MediaKind::Audio, "opus"),
                    s("a", MediaKind::Video, "vp8"),
                ],
                "used twice",
            ),
            (vec![s("a", MediaKind::Audio, "speex")], "unknown codec"),
            (
                vec![s("a", MediaKind::Audio, "vp8")],
                "codec vp8 is video, the stream is audio",
            ),
            (
                vec![RtpInputStream {
                    clock_rate: 0,
                    ..s("a", MediaKind::Audio, "opus")
                }],
                "clock rate 0",
            ),
            (
                vec![RtpInputStream {
                    pt: Some(200),
                    ..s("a", MediaKind::Audio, "opus")
                }],
                "beyond 127",
            ),
            (
                vec![RtpInputStream {
                    rtcp_port: Some(0),
                    ..s("a", MediaKind::Audio, "opus")
                }],
                "RTCP port 0",
            ),
            (
                vec![RtpInputStream {
                    port: 5000,
                    rtcp_port: Some(5000),
                    ..s("a", MediaKind::Audio, "opus")
                }],
                "same port",
            ),
        ];
        for (streams, why) in cases {
            let e = check(&input(streams)).unwrap_err().to_string();
            assert!(e.contains(why), "{e} (wanted {why})");
        }
    }
}
