//! Clips in memory and cursors that play them at real rate in a loop, as a sender would.

use std::path::Path;
use std::sync::Arc;

use super::{MediaError, ivf, ogg, opus, vp8};

/// A VP8 clip: its frames and where the keyframes are.
#[derive(Debug, Clone)]
pub struct VideoClip {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    frames: Vec<Vec<u8>>,
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
            frames,
            keyframes,
        })
    }

    pub fn load(path: &Path) -> Result<Self, MediaError> {
        Self::from_ivf(&read(path)?)
    }

    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    pub fn keyframes(&self) -> &[usize] {
        &self.keyframes
    }

    /// Mean bitrate in bit/s.
    pub fn bitrate(&self) -> u64 {
        let bytes: usize = self.frames.iter().map(Vec::len).sum();
        (bytes as u64 * 8 * u64::from(self.fps)) / (self.frames.len().max(1) as u64)
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

/// Plays a [`VideoClip`] in a loop: one frame per call, packetized, with a picture id that
/// goes on counting across loops and jumps. A keyframe request makes the next frame the
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
        let next = clip.keyframe_before(frame % clip.frames.len().max(1));
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
        let frame = &self.clip.frames[index];
        let packets = vp8::packetize(frame, self.picture_id, max_payload);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        self.next = (index + 1) % self.clip.frames.len();
        VideoFrame {
            packets,
            keyframe: vp8::is_keyframe(frame),
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
