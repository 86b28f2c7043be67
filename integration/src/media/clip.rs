//! Clips in memory and cursors that play them at real rate in a loop, as a sender would.

use std::path::Path;
use std::sync::Arc;

use super::ffmpeg::VideoSpec;
use super::h264::{self, AccessUnit};
use super::{MediaError, VideoCodec, ivf, ogg, opus, vp8};

/// The encoded frames of a clip.
#[derive(Debug, Clone)]
enum Frames {
    Vp8(Vec<Vec<u8>>),
    /// Access units; every IDR one starts with SPS and PPS.
    H264(Vec<AccessUnit>),
}

/// A VP8 or H.264 clip: its frames and where the keyframes are.
#[derive(Debug, Clone)]
pub struct VideoClip {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    frames: Frames,
    /// Indices of the keyframes, ascending; the first frame is one.
    keyframes: Vec<usize>,
}

impl VideoClip {
    /// Reads an IVF file holding VP8 (`VP80`) with a whole frame rate.
    pub fn from_ivf(bytes: &[u8]) -> Result<Self, MediaError> {
        let bad = |what: String| MediaError::format("VP8 clip", what);
        let (h, frames) = ivf::parse(bytes)?;
        if &h.fourcc != b"VP80" {
            return Err(bad(format!(
                "FourCC {:?}, not VP80",
                String::from_utf8_lossy(&h.fourcc)
            )));
        }
        let fps = h
            .fps()
            .filter(|f| (1..=240).contains(f))
            .ok_or_else(|| bad(format!("time base {}/{}", h.timebase_num, h.timebase_den)))?;
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|f| f.data).collect();
        let keyframes: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| vp8::is_keyframe(f))
            .map(|(i, _)| i)
            .collect();
        if keyframes.first() != Some(&0) {
            return Err(bad("the first frame is not a keyframe".into()));
        }
        Ok(VideoClip {
            width: h.width,
            height: h.height,
            fps,
            frames: Frames::Vp8(frames),
            keyframes,
        })
    }

    /// Reads an H.264 Annex B stream (no timing in it: `fps` and the size come from the
    /// spec it was made with). The first frame must be an IDR with its parameter sets.
    pub fn from_h264(bytes: &[u8], width: u16, height: u16, fps: u32) -> Result<Self, MediaError> {
        let bad = |what: String| MediaError::format("H.264 clip", what);
        if !(1..=240).contains(&fps) {
            return Err(bad(format!("{fps} fps")));
        }
        let nals = h264::split_annexb(bytes)?;
        let units = h264::with_parameter_sets(h264::access_units(&nals))?;
        let keyframes: Vec<usize> = units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_keyframe())
            .map(|(i, _)| i)
            .collect();
        if keyframes.first() != Some(&0) {
            return Err(bad("the first frame is not an IDR".into()));
        }
        Ok(VideoClip {
            width,
            height,
            fps,
            frames: Frames::H264(units),
            keyframes,
        })
    }

    /// Reads the VP8 (IVF) clip at `path`.
    pub fn load(path: &Path) -> Result<Self, MediaError> {
        Self::from_ivf(&read(path)?)
    }

    /// Reads the clip at `path` made by ffmpeg for `spec` (its codec says the format).
    pub fn load_spec(path: &Path, spec: &VideoSpec) -> Result<Self, MediaError> {
        let bytes = read(path)?;
        match spec.codec {
            VideoCodec::Vp8 => Self::from_ivf(&bytes),
            VideoCodec::H264 => {
                let dim =
                    |v: u32| u16::try_from(v).map_err(|_| MediaError::format("H.264 clip", "size"));
                Self::from_h264(&bytes, dim(spec.width)?, dim(spec.height)?, spec.fps)
            }
        }
    }

    pub fn codec(&self) -> VideoCodec {
        match self.frames {
            Frames::Vp8(_) => VideoCodec::Vp8,
            Frames::H264(_) => VideoCodec::H264,
        }
    }

    pub fn frames(&self) -> usize {
        match &self.frames {
            Frames::Vp8(f) => f.len(),
            Frames::H264(f) => f.len(),
        }
    }

    fn frame_bytes(&self) -> usize {
        match &self.frames {
            Frames::Vp8(f) => f.iter().map(Vec::len).sum(),
            Frames::H264(f) => f.iter().map(AccessUnit::len_bytes).sum(),
        }
    }

    pub fn keyframes(&self) -> &[usize] {
        &self.keyframes
    }

    /// Mean bitrate in bit/s.
    pub fn bitrate(&self) -> u64 {
        (self.frame_bytes() as u64 * 8 * u64::from(self.fps)) / (self.frames().max(1) as u64)
    }

    /// The keyframe at or before frame `i`.
    fn keyframe_before(&self, i: usize) -> usize {
        let at = self.keyframes.partition_point(|k| *k <= i);
        self.keyframes[at.saturating_sub(1)]
    }
}

/// An Opus clip: its packets and their durations.
#[derive(Debug, Clone)]
pub struct AudioClip {
    /// Packet and its duration in 48 kHz samples.
    packets: Vec<(Vec<u8>, u32)>,
}

impl AudioClip {
    /// Reads an Ogg Opus file; every packet must have a valid TOC.
    pub fn from_ogg(bytes: &[u8]) -> Result<Self, MediaError> {
        let (_, packets) = ogg::opus_packets(bytes)?;
        let packets = packets
            .into_iter()
            .enumerate()
            .map(|(i, p)| match opus::packet_samples(&p) {
                Some(s) => Ok((p, s)),
                None => Err(MediaError::format(
                    "Opus clip",
                    format!("packet {i}: bad TOC"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if packets.is_empty() {
            return Err(MediaError::format("Opus clip", "no audio packets"));
        }
        Ok(AudioClip { packets })
    }

    pub fn load(path: &Path) -> Result<Self, MediaError> {
        Self::from_ogg(&read(path)?)
    }

    pub fn packets(&self) -> usize {
        self.packets.len()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, MediaError> {
    std::fs::read(path).map_err(|source| MediaError::Io {
        what: format!("read {}", path.display()),
        source,
    })
}

/// One video frame ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub packets: Vec<Vec<u8>>,
    pub keyframe: bool,
    /// Index of the frame in the clip.
    pub index: usize,
}

/// Plays a [`VideoClip`] in a loop: one frame per call, packetized (VP8: with a picture id
/// that goes on counting across loops and jumps; H.264: RFC 6184). A keyframe request makes the next frame the
/// start of its group of pictures (the last keyframe at or before it), as an encoder asked
/// for a keyframe would send one right away.
#[derive(Debug, Clone)]
pub struct VideoCursor {
    clip: Arc<VideoClip>,
    next: usize,
    picture_id: u16,
    keyframe_wanted: bool,
}

impl VideoCursor {
    /// Starts at the keyframe at or before `frame` (modulo the clip length).
    pub fn new(clip: Arc<VideoClip>, frame: usize) -> Self {
        let next = clip.keyframe_before(frame % clip.frames().max(1));
        VideoCursor {
            clip,
            next,
            picture_id: rand::random::<u16>() & 0x7fff,
            keyframe_wanted: false,
        }
    }

    pub fn request_keyframe(&mut self) {
        self.keyframe_wanted = true;
    }

    /// The next frame as RTP payloads of at most `max_payload` bytes. The RTP timestamp
    /// advances by `90_000 / fps` per call.
    pub fn next_frame(&mut self, max_payload: usize) -> VideoFrame {
        if std::mem::take(&mut self.keyframe_wanted) {
            self.next = self.clip.keyframe_before(self.next);
        }
        let index = self.next;
        let (packets, keyframe) = match &self.clip.frames {
            Frames::Vp8(f) => {
                let frame = &f[index];
                let p = vp8::packetize(frame, self.picture_id, max_payload);
                self.picture_id = (self.picture_id + 1) & 0x7fff;
                (p, vp8::is_keyframe(frame))
            }
            Frames::H264(f) => (
                h264::packetize(&f[index], max_payload),
                f[index].is_keyframe(),
            ),
        };
        self.next = (index + 1) % self.clip.frames();
        VideoFrame {
            packets,
            keyframe,
            index,
        }
    }

    /// RTP clock units per frame (90 kHz).
    pub fn rtp_step(&self) -> u32 {
        90_000 / self.clip.fps
    }

    pub fn fps(&self) -> u32 {
        self.clip.fps
    }
}

/// Plays an [`AudioClip`] in a loop, one Opus packet per RTP packet.
#[derive(Debug, Clone)]
pub struct AudioCursor {
    clip: Arc<AudioClip>,
    next: usize,
}

impl AudioCursor {
    pub fn new(clip: Arc<AudioClip>, packet: usize) -> Self {
        let next = packet % clip.packets.len();
        AudioCursor { clip, next }
    }

    /// The next packet and the RTP timestamp step after it (48 kHz).
    pub fn next_packet(&mut self) -> (Vec<u8>, u32) {
        let (p, samples) = &self.clip.packets[self.next];
        self.next = (self.next + 1) % self.clip.packets.len();
        (p.clone(), *samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake VP8 clip: frame tags only (bit 0 = 0 for keyframes), keyframes every 4.
    fn clip(frames: usize) -> VideoClip {
        let header = ivf::IvfHeader {
            fourcc: *b"VP80",
            width: 64,
            height: 48,
            timebase_num: 1,
            timebase_den: 30,
            frames: 0,
        };
        let frames: Vec<ivf::IvfFrame> = (0..frames)
            .map(|i| ivf::IvfFrame {
                timestamp: i as u64,
                data: {
                    let mut d = vec![if i % 4 == 0 { 0x50 } else { 0x51 }, i as u8];
                    d.resize(if i % 4 == 0 { 3000 } else { 500 }, 0xee);
                    d
                },
            })
            .collect();
        VideoClip::from_ivf(&ivf::write(&header, &frames)).expect("valid clip")
    }

    #[test]
    fn video_cursor_loops_and_counts_picture_ids() {
        let c = Arc::new(clip(10));
        assert_eq!(c.keyframes(), &[0, 4, 8]);
        assert_eq!(c.fps, 30);
        let mut cur = VideoCursor::new(c.clone(), 6); // starts at the keyframe 4
        let first = cur.next_frame(1200);
        assert_eq!(
            (first.index, first.keyframe, first.packets.len()),
            (4, true, 3)
        );
        let pid = vp8::descriptor(&first.packets[0])
            .and_then(|d| d.picture_id)
            .expect("pid");
        let indices: Vec<usize> = (0..7).map(|_| cur.next_frame(1200).index).collect();
        assert_eq!(indices, vec![5, 6, 7, 8, 9, 0, 1]);
        let next = cur.next_frame(1200);
        let pid2 = vp8::descriptor(&next.packets[0])
            .and_then(|d| d.picture_id)
            .expect("pid");
        assert_eq!(pid2, (pid + 8) & 0x7fff);
        assert_eq!(cur.rtp_step(), 3000);
    }

    #[test]
    fn keyframe_request_restarts_the_group_of_pictures() {
        let mut cur = VideoCursor::new(Arc::new(clip(10)), 0);
        for _ in 0..6 {
            cur.next_frame(1200); // 0..=5
        }
        cur.request_keyframe();
        let f = cur.next_frame(1200);
        assert_eq!((f.index, f.keyframe), (4, true));
        // Only once.
        assert_eq!(cur.next_frame(1200).index, 5);
        // Already at a keyframe: no jump.
        let mut cur = VideoCursor::new(Arc::new(clip(10)), 8);
        cur.request_keyframe();
        assert_eq!(cur.next_frame(1200).index, 8);
    }

    #[test]
    fn rejects_clips_it_cannot_play() {
        let header = ivf::IvfHeader {
            fourcc: *b"VP90",
            width: 64,
            height: 48,
            timebase_num: 1,
            timebase_den: 30,
            frames: 0,
        };
        let key = [ivf::IvfFrame {
            timestamp: 0,
            data: vec![0x50],
        }];
        assert!(
            VideoClip::from_ivf(&ivf::write(&header, &key)).is_err(),
            "VP9"
        );
        let vp8 = ivf::IvfHeader {
            fourcc: *b"VP80",
            ..header
        };
        let delta = [ivf::IvfFrame {
            timestamp: 0,
            data: vec![0x51],
        }];
        assert!(
            VideoClip::from_ivf(&ivf::write(&vp8, &delta)).is_err(),
            "no keyframe first"
        );
        assert!(
            VideoClip::from_ivf(&ivf::write(&vp8, &[])).is_err(),
            "empty"
        );
        let no_rate = ivf::IvfHeader {
            timebase_num: 0,
            ..vp8
        };
        assert!(
            VideoClip::from_ivf(&ivf::write(&no_rate, &key)).is_err(),
            "time base"
        );
    }

    /// A fake H.264 stream: SPS/PPS only before the first IDR, IDRs every 3 frames.
    fn h264_stream(frames: usize) -> Vec<u8> {
        let mut b = vec![
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
        ];
        for i in 0..frames {
            let (header, len) = if i % 3 == 0 {
                (0x65, 2500)
            } else {
                (0x41, 400)
            };
            b.extend([0, 0, 1, header, 0x88, i as u8]);
            b.resize(b.len() + len, 0x77);
        }
        b
    }

    #[test]
    fn h264_cursor_sends_parameter_sets_with_every_idr() {
        let c = Arc::new(VideoClip::from_h264(&h264_stream(7), 64, 48, 25).expect("valid"));
        assert_eq!(
            (c.codec(), c.frames(), c.keyframes()),
            (VideoCodec::H264, 7, &[0, 3, 6][..])
        );
        let mut cur = VideoCursor::new(c.clone(), 4);
        let f = cur.next_frame(1200);
        assert_eq!((f.index, f.keyframe), (3, true));
        // STAP-A(SPS, PPS) although the stream had them only once, then 3 FU-A.
        assert_eq!(f.packets.len(), 4);
        assert_eq!(f.packets[0][0] & 0x1f, h264::STAP_A);
        assert!(h264::is_keyframe_start(&f.packets[0]));
        assert!(f.packets.iter().all(|p| p.len() <= 1200));
        let f = cur.next_frame(1200);
        assert_eq!((f.index, f.keyframe, f.packets.len()), (4, false, 1));
        assert_eq!(cur.rtp_step(), 3600);
        // Garbage and streams not starting with an IDR are refused.
        assert!(VideoClip::from_h264(b"garbage", 64, 48, 25).is_err());
        assert!(VideoClip::from_h264(&h264_stream(3)[..20], 64, 48, 25).is_err());
        assert!(VideoClip::from_h264(&h264_stream(3), 64, 48, 0).is_err());
        let delta_first = [0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x41, 0x88, 1];
        assert!(VideoClip::from_h264(&delta_first, 64, 48, 25).is_err());
    }

    #[test]
    fn audio_cursor_loops() {
        let mut file = ogg::page(
            3,
            0,
            0,
            &[b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"],
        );
        file.extend(ogg::page(3, 1, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        file.extend(ogg::page(3, 2, 1920, &[&[0xf8, 1], &[0xf8, 2]]));
        let c = Arc::new(AudioClip::from_ogg(&file).expect("valid"));
        assert_eq!(c.packets(), 2);
        let mut cur = AudioCursor::new(c, 1);
        assert_eq!(cur.next_packet(), (vec![0xf8, 2], 960));
        assert_eq!(cur.next_packet(), (vec![0xf8, 1], 960));
        // A bad TOC is refused.
        let mut bad = ogg::page(
            3,
            0,
            0,
            &[b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"],
        );
        bad.extend(ogg::page(3, 1, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        bad.extend(ogg::page(3, 2, 0, &[&[0xfb]]));
        assert!(AudioClip::from_ogg(&bad).is_err());
    }
}
