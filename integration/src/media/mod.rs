//! Real encoded media for the load tool: VP8 or H.264 video and Opus audio made by ffmpeg at
//! run time (cached under `target/`, nothing binary is committed), read back from their
//! containers and packetized for RTP at real rate.
//!
//! - [`ffmpeg`]: makes (once) and caches the clips.
//! - [`ivf`], [`ogg`]: the container parsers (IVF for VP8, Ogg for Opus).
//! - [`vp8`]: RFC 7741 packetizer (payload descriptor with a 15-bit picture id) and the
//!   receiver-side descriptor reader; [`opus`]: frame durations from the TOC byte.
//! - [`h264`]: the Annex B parser (H.264 as ffmpeg's `-f h264` writes it), the RFC 6184
//!   packetizer (single NAL unit, FU-A, STAP-A) and the receiver-side keyframe check.
//! - [`clip`]: a clip in memory and a looping cursor over it that honours keyframe
//!   requests by restarting at the closest keyframe.

pub mod clip;
pub mod ffmpeg;
pub mod h264;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub mod vp8;

/// The video codec a clip is encoded with and its RTP packetization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    #[default]
    Vp8,
    /// Constrained baseline, packetization-mode 1.
    H264,
}

impl VideoCodec {
    /// The name in Janus requests (`videocodec`, `codec`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "vp8",
            VideoCodec::H264 => "h264",
        }
    }

    /// Whether an RTP payload of this codec starts a keyframe.
    pub fn is_keyframe_start(self, payload: &[u8]) -> bool {
        match self {
            VideoCodec::Vp8 => vp8::descriptor(payload).is_some_and(|d| d.keyframe),
            VideoCodec::H264 => h264::is_keyframe_start(payload),
        }
    }
}

impl std::str::FromStr for VideoCodec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vp8" => Ok(VideoCodec::Vp8),
            "h264" => Ok(VideoCodec::H264),
            other => Err(format!("video codec {other:?}: vp8 or h264")),
        }
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Failures reading or making media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The input is not what its container or codec says (truncated, bad magic, bad CRC).
    #[error("{container}: {what}")]
    Format {
        container: &'static str,
        what: String,
    },
    #[error("ffmpeg not found ({0}); install it (Debian package `ffmpeg`) to make the bench media")]
    FfmpegMissing(String),
    #[error("ffmpeg has no {0} encoder; install Debian's `ffmpeg` (it has libvpx and libx264)")]
    EncoderMissing(String),
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg { status: String, stderr: String },
}

impl MediaError {
    fn format(container: &'static str, what: impl Into<String>) -> Self {
        MediaError::Format {
            container,
            what: what.into(),
        }
    }
}
