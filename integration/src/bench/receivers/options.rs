//! The options every scenario with many receivers takes, whatever it sends them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::media::ffmpeg::{self, AudioSpec, VideoSpec};

/// How a run with many receivers (VideoRoom subscribers, Streaming viewers) goes: the
/// server, the window, setup, the clips and the packets. Each scenario's options hold it
/// as `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Janus-API WebSocket URL.
    pub server: String,
    /// Measurement window, after every receiver is up.
    pub duration: Duration,
    /// The server's pid: its CPU time and memory are read from /proc.
    pub server_pid: Option<u32>,
    pub setup_timeout: Duration,
    /// Receivers set up at once.
    pub setup_concurrency: usize,
    /// After the window, while late packets still count as received.
    pub drain: Duration,
    /// Local address of the tool's sockets (the peers' only ICE candidate, an RTP source).
    pub bind: IpAddr,
    pub video: VideoSpec,
    pub audio: AudioSpec,
    /// Where the ffmpeg clips are cached.
    pub media_dir: PathBuf,
    /// Largest RTP payload.
    pub max_payload: usize,
}

impl RunOptions {
    pub fn new(server: impl Into<String>, duration: Duration) -> Self {
        RunOptions {
            server: server.into(),
            duration,
            server_pid: None,
            setup_timeout: Duration::from_secs(20),
            setup_concurrency: 16,
            drain: Duration::from_secs(1),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            video: VideoSpec::default(),
            audio: AudioSpec::default(),
            media_dir: ffmpeg::default_dir(),
            max_payload: 1200,
        }
    }

    /// Run length (up to `max_duration`), RTP payload size and the clips' shape. The error
    /// says which one is wrong.
    pub(crate) fn check(&self, max_duration: Duration) -> Result<(), String> {
        let (duration, v, audio) = (self.duration, &self.video, &self.audio);
        if duration.is_zero() || duration > max_duration {
            return Err(format!("duration must be 1..={} s", max_duration.as_secs()));
        }
        if !(200..=1400).contains(&self.max_payload) {
            return Err("max payload must be 200..=1400 bytes".into());
        }
        if v.width < 64
            || v.height < 64
            || v.width > 3840
            || v.height > 2160
            || v.fps == 0
            || v.fps > 60
        {
            return Err(format!("video {}x{} @ {} fps", v.width, v.height, v.fps));
        }
        if v.seconds == 0 || v.seconds > 120 || audio.seconds == 0 || audio.seconds > 120 {
            return Err("clip length must be 1..=120 s".into());
        }
        Ok(())
    }
}
