//! Makes the bench clips with ffmpeg (Debian package `ffmpeg`) once and caches them: VP8 in
//! IVF or H.264 (libx264, constrained baseline) as an Annex B stream from the `testsrc2` pattern (moving, so every frame differs) and Opus in Ogg from pink
//! noise (so no two audio packets are equal: the latency measurement looks packets up by
//! content). File names carry every parameter, so a cached file is reused only when it was
//! made the same way; files are written under a temporary name and renamed, so concurrent
//! runs never read a half-written clip.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{MediaError, VideoCodec};

/// A video clip to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VideoSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Target bitrate, kbit/s.
    pub kbps: u32,
    /// Length; the sender loops it.
    pub seconds: u32,
    /// Frames between keyframes (the sender also jumps to a keyframe when asked for one).
    pub gop: u32,
    pub codec: VideoCodec,
}

impl Default for VideoSpec {
    fn default() -> Self {
        VideoSpec {
            width: 1280,
            height: 720,
            fps: 30,
            kbps: 1500,
            seconds: 10,
            gop: 150,
            codec: VideoCodec::Vp8,
        }
    }
}

impl VideoSpec {
    fn file_name(&self) -> String {
        let (codec, ext) = match self.codec {
            VideoCodec::Vp8 => ("vp8", "ivf"),
            VideoCodec::H264 => ("h264cb", "h264"),
        };
        format!(
            "{codec}-{}x{}-{}fps-{}k-{}s-g{}.{ext}",
            self.width, self.height, self.fps, self.kbps, self.seconds, self.gop
        )
    }

    /// The ffmpeg arguments writing this clip to `out`.
    pub fn args(&self, out: &Path) -> Vec<String> {
        let source = format!(
            "testsrc2=size={}x{}:rate={}:duration={}",
            self.width, self.height, self.fps, self.seconds
        );
        let kbps = format!("{}k", self.kbps);
        let gop = self.gop.max(1).to_string();
        let encoder: &[&str] = match self.codec {
            VideoCodec::Vp8 => &[
                "-c:v",
                "libvpx",
                "-b:v",
                &kbps,
                "-minrate",
                &kbps,
                "-maxrate",
                &kbps,
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                // As a WebRTC sender encodes: no alt-ref, no look-ahead.
                "-auto-alt-ref",
                "0",
                "-lag-in-frames",
                "0",
                "-error-resilient",
                "1",
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-pix_fmt",
                "yuv420p",
                "-f",
                "ivf",
            ],
            // What browsers send for packetization-mode 1: constrained baseline (x264's
            // `baseline` sets constraint_set1), no B-frames, IDRs only at the interval, SPS
            // and PPS repeated before each IDR.
            VideoCodec::H264 => &[
                "-c:v",
                "libx264",
                "-profile:v",
                "baseline",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-b:v",
                &kbps,
                "-maxrate",
                &kbps,
                "-bufsize",
                &kbps,
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
                "-bf",
                "0",
                "-x264-params",
                "repeat-headers=1",
                "-pix_fmt",
                "yuv420p",
                "-f",
                "h264",
            ],
        };
        lavfi_args(&source, encoder, out)
    }
}

/// An Opus clip to make (48 kHz mono, 20 ms frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AudioSpec {
    pub kbps: u32,
    pub seconds: u32,
}

impl Default for AudioSpec {
    fn default() -> Self {
        AudioSpec {
            kbps: 32,
            seconds: 10,
        }
    }
}

impl AudioSpec {
    fn file_name(&self) -> String {
        format!("opus-48k-mono-20ms-{}k-{}s.opus", self.kbps, self.seconds)
    }

    /// The ffmpeg arguments writing this clip to `out`.
    pub fn args(&self, out: &Path) -> Vec<String> {
        let source = format!(
            "anoisesrc=color=pink:sample_rate=48000:amplitude=0.25:duration={}",
            self.seconds
        );
        let kbps = format!("{}k", self.kbps);
        let encoder = [
            "-ac",
            "1",
            "-c:a",
            "libopus",
            "-b:a",
            &kbps,
            "-frame_duration",
            "20",
            "-application",
            "audio",
            "-f",
            "ogg",
        ];
        lavfi_args(&source, &encoder, out)
    }
}

/// ffmpeg quietly encoding the lavfi `source` with `encoder` (codec, rate, container
/// arguments) into `out`, overwriting it.
fn lavfi_args(source: &str, encoder: &[&str], out: &Path) -> Vec<String> {
    let input = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        source,
    ];
    let out = out.display().to_string();
    input
        .iter()
        .chain(encoder)
        .map(|s| s.to_string())
        .chain([out])
        .collect()
}

/// Where clips are cached by default: `$CARGO_TARGET_DIR/bench-media`, else the workspace's
/// `target/bench-media`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("bench-media"),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("bench-media"),
    }
}

/// ffmpeg's version line, or why it cannot run.
pub fn version() -> Result<String, MediaError> {
    let out = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .map_err(|e| MediaError::FfmpegMissing(e.to_string()))?;
    if !out.status.success() {
        return Err(MediaError::FfmpegMissing(format!(
            "`ffmpeg -version` exited with {}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("ffmpeg")
        .to_string())
}

/// The cached video clip for `spec` under `dir`, made first if missing. Blocking.
pub fn ensure_video(dir: &Path, spec: &VideoSpec) -> Result<PathBuf, MediaError> {
    if spec.codec == VideoCodec::H264 {
        require_encoder("libx264")?;
    }
    ensure(dir, &spec.file_name(), |out| spec.args(out))
}

/// Fails unless ffmpeg lists `encoder` (Debian's ffmpeg has libx264; other builds may not).
pub fn require_encoder(encoder: &str) -> Result<(), MediaError> {
    version()?;
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .map_err(|e| MediaError::FfmpegMissing(e.to_string()))?;
    let list = String::from_utf8_lossy(&out.stdout);
    if list
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(encoder))
    {
        Ok(())
    } else {
        Err(MediaError::EncoderMissing(encoder.to_string()))
    }
}

/// The cached Opus clip for `spec` under `dir`, made first if missing. Blocking.
pub fn ensure_audio(dir: &Path, spec: &AudioSpec) -> Result<PathBuf, MediaError> {
    ensure(dir, &spec.file_name(), |out| spec.args(out))
}

fn ensure(
    dir: &Path,
    name: &str,
    args: impl FnOnce(&Path) -> Vec<String>,
) -> Result<PathBuf, MediaError> {
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    // Tests of one process make the same clip at once: one makes it, the others wait and
    // then find it. Other processes are kept apart by the unique temporary name below.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(|source| MediaError::Io {
        what: format!("create {}", dir.display()),
        source,
    })?;
    version()?;
    // The extension stays last: ffmpeg picks nothing from it (-f is given), but keep it
    // recognisable.
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}-{serial}-{name}.tmp", std::process::id()));
    tracing::info!("making {} with ffmpeg", path.display());
    let out = Command::new("ffmpeg")
        .args(args(&tmp))
        .output()
        .map_err(|e| MediaError::FfmpegMissing(e.to_string()))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(MediaError::Ffmpeg {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    std::fs::rename(&tmp, &path).map_err(|source| MediaError::Io {
        what: format!("rename {} to {}", tmp.display(), path.display()),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_every_parameter() {
        let v = VideoSpec::default();
        assert_eq!(v.file_name(), "vp8-1280x720-30fps-1500k-10s-g150.ivf");
        let h = VideoSpec {
            codec: VideoCodec::H264,
            ..v
        };
        assert_eq!(h.file_name(), "h264cb-1280x720-30fps-1500k-10s-g150.h264");
        let hargs = h.args(Path::new("/tmp/x.h264"));
        for (k, val) in [
            ("-c:v", "libx264"),
            ("-profile:v", "baseline"),
            ("-bf", "0"),
            ("-f", "h264"),
        ] {
            assert!(
                hargs.windows(2).any(|w| w[0] == k && w[1] == val),
                "{k} {val}"
            );
        }
        let other = VideoSpec { kbps: 500, ..v };
        assert_ne!(v.file_name(), other.file_name());
        assert_eq!(
            AudioSpec::default().file_name(),
            "opus-48k-mono-20ms-32k-10s.opus"
        );
        let args = v.args(Path::new("/tmp/x.ivf"));
        assert!(
            args.iter()
                .any(|a| a == "testsrc2=size=1280x720:rate=30:duration=10")
        );
        assert!(args.windows(2).any(|w| w[0] == "-c:v" && w[1] == "libvpx"));
        assert_eq!(args.last().map(String::as_str), Some("/tmp/x.ivf"));
        let a = AudioSpec::default().args(Path::new("/tmp/x.opus"));
        assert!(a.windows(2).any(|w| w[0] == "-c:a" && w[1] == "libopus"));
        assert!(
            a.windows(2)
                .any(|w| w[0] == "-frame_duration" && w[1] == "20")
        );
    }
}

#[cfg(test)]
mod ffmpeg_tests {
    use super::*;
    use crate::media::clip::{AudioClip, VideoClip};

    /// Needs ffmpeg (Debian `ffmpeg`): skipped with a note when it is missing.
    #[test]
    fn makes_real_clips_that_parse() {
        if let Err(e) = version() {
            // CI sets PORTUNUS_REQUIRE_FFMPEG: there a missing ffmpeg is a failure, not a skip.
            assert!(
                std::env::var_os("PORTUNUS_REQUIRE_FFMPEG").is_none(),
                "ffmpeg is required here: {e}"
            );
            eprintln!("SKIPPED: {e}");
            return;
        }
        let dir = default_dir();
        let spec = VideoSpec {
            width: 320,
            height: 180,
            fps: 30,
            kbps: 300,
            seconds: 2,
            gop: 30,
            codec: VideoCodec::Vp8,
        };
        let path = ensure_video(&dir, &spec).expect("ffmpeg makes VP8");
        let clip = VideoClip::load(&path).expect("IVF from ffmpeg parses");
        assert_eq!((clip.width, clip.height, clip.fps), (320, 180, 30));
        assert_eq!(clip.frames(), 60);
        assert_eq!(clip.keyframes(), &[0, 30]);
        let rate = clip.bitrate();
        assert!((100_000..900_000).contains(&rate), "bitrate {rate}");
        // Cached: a second call does not make it again.
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        ensure_video(&dir, &spec).expect("cached");
        assert_eq!(
            std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .expect("mtime"),
            modified
        );

        let audio = AudioSpec {
            kbps: 32,
            seconds: 2,
        };
        // H.264 from libx264, as Annex B: same frames and keyframes.
        match require_encoder("libx264") {
            Ok(()) => check_h264(&dir, spec),
            Err(e) => {
                assert!(
                    std::env::var_os("PORTUNUS_REQUIRE_FFMPEG").is_none(),
                    "libx264 is required here: {e}"
                );
                eprintln!("SKIPPED (H.264): {e}");
            }
        }

        let path = ensure_audio(&dir, &audio).expect("ffmpeg makes Opus");
        let clip = AudioClip::load(&path).expect("Ogg Opus from ffmpeg parses");
        // 2 s of 20 ms packets (the encoder may add one for its pre-skip).
        assert!(
            (100..=102).contains(&clip.packets()),
            "{} packets",
            clip.packets()
        );
    }

    fn check_h264(dir: &Path, spec: VideoSpec) {
        let h264 = VideoSpec {
            codec: VideoCodec::H264,
            ..spec
        };
        let path = ensure_video(dir, &h264).expect("ffmpeg makes H.264 (libx264)");
        let clip = VideoClip::load_spec(&path, &h264).expect("Annex B from ffmpeg parses");
        assert_eq!(clip.codec(), VideoCodec::H264);
        assert_eq!(clip.frames(), 60);
        assert_eq!(clip.keyframes(), &[0, 30]);
        let rate = clip.bitrate();
        assert!((100_000..900_000).contains(&rate), "bitrate {rate}");
        let mut cursor = crate::media::clip::VideoCursor::new(std::sync::Arc::new(clip), 0);
        let first = cursor.next_frame(1200);
        assert!(first.keyframe && crate::media::h264::is_keyframe_start(&first.packets[0]));
        let nals = crate::media::h264::depacketize(&first.packets).expect("reassembles");
        let types: Vec<u8> = nals
            .iter()
            .filter_map(|n| crate::media::h264::nal_type(n))
            .collect();
        assert_eq!(&types[..3], &[7, 8, 5], "SPS, PPS, IDR slices");
        // Constrained baseline (profile_idc 66, constraint_set1).
        assert_eq!(nals[0][1], 66);
        assert!(nals[0][2] & 0x40 != 0, "constraint_set1_flag");
    }
}
