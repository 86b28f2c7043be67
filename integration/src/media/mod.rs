//! Real encoded media for the load tool: VP8 video and Opus audio made by ffmpeg at run time
//! (cached under `target/`, nothing binary is committed), read back from their containers
//! and packetized for RTP at real rate.
//!
//! - [`ffmpeg`]: makes (once) and caches the clips.
//! - [`ivf`], [`ogg`]: the container parsers (IVF for VP8, Ogg for Opus).
//! - [`vp8`]: RFC 7741 packetizer (payload descriptor with a 15-bit picture id) and the
//!   receiver-side descriptor reader; [`opus`]: frame durations from the TOC byte.
//! - [`clip`]: a clip in memory and a looping cursor over it that honours keyframe
//!   requests by restarting at the closest keyframe.

pub mod clip;
pub mod ffmpeg;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub mod vp8;

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
