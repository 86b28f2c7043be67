//! Synthetic media a test peer sends by itself: Opus-like audio frames with an audio level,
//! and VP8-like video (one stream or simulcast layers) with valid RFC 7741 payload
//! descriptors (picture id, TL0PICIDX, TID), keyframes on a timer and on request, at a
//! chosen bitrate per layer.
//!
//! Sans-IO: [`SourceState::frames_due`] says what to send at a given time; the driver writes
//! it. Every payload carries a tag after the codec headers ([`PayloadTag`]) naming the layer
//! and frame, so a receiver can tell which layer it is being forwarded.

use std::time::{Duration, Instant};

/// Magic after the codec headers of every generated payload.
const MAGIC: &[u8; 3] = b"PTS";
/// Opus TOC byte: config 31 (CELT FB 20 ms), mono, one frame.
const OPUS_TOC: u8 = 0xf8;
/// Audio frame duration and RTP step (48 kHz).
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);
const AUDIO_STEP: u32 = 960;
/// Bytes of an audio payload (~32 kbit/s at 50 frames/s).
const AUDIO_BYTES: usize = 80;
/// RFC 6464 level of silence (-127 dBov).
pub const SILENCE: u8 = 127;

/// What to send, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSource {
    /// Send audio on the first audio m-line.
    pub audio: bool,
    /// Send video on the first video m-line.
    pub video: bool,
    /// Video frames per second.
    pub fps: u32,
    /// Bit rate of each video layer in bit/s, lowest layer first. With simulcast the peer
    /// sends one layer per entry (as many as it offered); without, only the last entry.
    pub layer_bitrates: Vec<u32>,
    /// Mark frames with temporal layer ids in the L1T3 pattern (0, 2, 1, 2, ...); otherwise
    /// every frame is TID 0.
    pub temporal_layers: bool,
    /// A keyframe on every layer this often (and whenever one is requested).
    pub keyframe_interval: Duration,
    /// Largest RTP payload of a video packet.
    pub max_payload: usize,
    /// RFC 6464 audio level to start with: 0 = 0 dBov (loudest) .. 127 = silence.
    pub audio_level: u8,
    /// Written into every payload's tag, so a receiver can tell senders apart.
    pub source_id: u16,
}

impl Default for MediaSource {
    fn default() -> Self {
        MediaSource {
            audio: true,
            video: true,
            fps: 20,
            layer_bitrates: vec![100_000, 300_000, 1_000_000],
            temporal_layers: true,
            keyframe_interval: Duration::from_secs(2),
            max_payload: 1100,
            audio_level: SILENCE,
            source_id: 0,
        }
    }
}

/// What a generated payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTag {
    /// [`MediaSource::source_id`] of the sender.
    pub source: u16,
    /// Video layer (0 = lowest); 255 for audio.
    pub layer: u8,
    /// Frame number on that layer.
    pub frame: u32,
}

/// The VP8 payload descriptor fields a receiver cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// Start of a VP8 partition (S bit) with partition index 0: the first packet of a frame.
    pub frame_start: bool,
    pub keyframe: bool,
    pub picture_id: Option<u16>,
    pub tl0picidx: Option<u8>,
    pub tid: Option<u8>,
    /// Length of the descriptor (where the VP8 payload starts).
    pub len: usize,
}

/// Parses an RFC 7741 payload descriptor (and the keyframe bit of the payload header at the
/// start of a frame). `None` if the payload is too short.
pub fn parse_vp8(p: &[u8]) -> Option<Vp8Descriptor> {
    let b0 = *p.first()?;
    let frame_start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut d = Vp8Descriptor {
        frame_start,
        keyframe: false,
        picture_id: None,
        tl0picidx: None,
        tid: None,
        len: 1,
    };
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        d.len = 2;
        if x & 0x80 != 0 {
            let m = *p.get(d.len)?;
            if m & 0x80 != 0 {
                let lo = *p.get(d.len + 1)?;
                d.picture_id = Some(u16::from(m & 0x7f) << 8 | u16::from(lo));
                d.len += 2;
            } else {
                d.picture_id = Some(u16::from(m));
                d.len += 1;
            }
        }
        if x & 0x40 != 0 {
            d.tl0picidx = Some(*p.get(d.len)?);
            d.len += 1;
        }
        if x & 0x30 != 0 {
            let t = *p.get(d.len)?;
            if x & 0x20 != 0 {
                d.tid = Some(t >> 6);
            }
            d.len += 1;
        }
    }
    d.keyframe = frame_start && p.get(d.len).is_some_and(|h| h & 0x01 == 0);
    Some(d)
}

/// Finds the tag of a payload made by [`SourceState`] (audio or video); `None` for anything
/// else.
pub fn parse_tag(p: &[u8]) -> Option<PayloadTag> {
    let body = if p.first() == Some(&OPUS_TOC) {
        &p[1..]
    } else {
        let d = parse_vp8(p)?;
        let mut at = d.len;
        if d.frame_start {
            // Frame tag (3 bytes), plus start code and size (7) on keyframes.
            at += if d.keyframe { 10 } else { 3 };
        }
        p.get(at..)?
    };
    let rest = body.strip_prefix(MAGIC.as_slice())?;
    let source = u16::from_be_bytes(rest.get(0..2)?.try_into().ok()?);
    let layer = *rest.get(2)?;
    let frame = u32::from_be_bytes(rest.get(3..7)?.try_into().ok()?);
    Some(PayloadTag {
        source,
        layer,
        frame,
    })
}

/// One frame to write on one stream: consecutive packets sharing one RTP timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOut {
    pub kind: FrameKind,
    /// Video layer (index into `layer_bitrates`), 0 for audio.
    pub layer: usize,
    pub packets: Vec<Vec<u8>>,
    /// RTP clock units to advance after this frame.
    pub rtp_step: u32,
    pub keyframe: bool,
    /// RFC 6464 level (audio only).
    pub audio_level: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    Video,
}

/// Per video layer: picture id, TL0PICIDX, frame count, keyframe wanted.
#[derive(Debug, Clone)]
struct LayerState {
    bitrate: u32,
    picture_id: u16,
    tl0picidx: u8,
    frame: u32,
    keyframe_due: bool,
}

/// The running generator.
#[derive(Debug, Clone)]
pub struct SourceState {
    config: MediaSource,
    layers: Vec<LayerState>,
    next_video: Instant,
    next_audio: Instant,
    last_keyframe: Instant,
    audio_frame: u32,
    /// Position in the L1T3 pattern.
    video_frame: u64,
    pub audio_level: u8,
}

impl SourceState {
    /// Starts at `now` with `layers` video layers (the last ones of `layer_bitrates`, so a
    /// single stream gets the highest rate).
    pub fn new(config: MediaSource, layers: usize, now: Instant) -> Self {
        let rates = &config.layer_bitrates;
        let skip = rates.len().saturating_sub(layers.max(1));
        let layers = rates
            .iter()
            .skip(skip)
            .enumerate()
            .map(|(i, &bitrate)| LayerState {
                bitrate,
                picture_id: (rand::random::<u16>() & 0x3fff) + i as u16,
                tl0picidx: rand::random(),
                frame: 0,
                keyframe_due: true,
            })
            .collect();
        SourceState {
            audio_level: config.audio_level,
            config,
            layers,
            next_video: now,
            next_audio: now,
            last_keyframe: now,
            audio_frame: 0,
            video_frame: 0,
        }
    }

    /// How many video layers are being sent.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// A keyframe on `layer` (all layers if `None`) with the next frame.
    pub fn request_keyframe(&mut self, layer: Option<usize>) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            if layer.is_none_or(|want| want == i) {
                l.keyframe_due = true;
            }
        }
    }

    /// When something is due next.
    pub fn next_due(&self) -> Instant {
        match (
            self.config.audio,
            self.config.video && !self.layers.is_empty(),
        ) {
            (true, true) => self.next_audio.min(self.next_video),
            (true, false) => self.next_audio,
            (false, true) => self.next_video,
            (false, false) => self.next_audio + Duration::from_secs(3600),
        }
    }

    fn video_interval(&self) -> Duration {
        Duration::from_secs(1) / self.config.fps.max(1)
    }

    /// Every frame due at `now`. A late caller gets one frame per stream, not a burst.
    pub fn frames_due(&mut self, now: Instant) -> Vec<FrameOut> {
        let mut out = Vec::new();
        if self.config.audio && now >= self.next_audio {
            out.push(self.audio_frame());
            self.next_audio = next_tick(self.next_audio, AUDIO_FRAME, now);
        }
        if self.config.video && !self.layers.is_empty() && now >= self.next_video {
            if now.duration_since(self.last_keyframe) >= self.config.keyframe_interval {
                self.last_keyframe = now;
                self.request_keyframe(None);
            }
            let tid = if self.config.temporal_layers {
                [0u8, 2, 1, 2][(self.video_frame % 4) as usize]
            } else {
                0
            };
            self.video_frame += 1;
            let interval = self.video_interval();
            let step = (90_000 / self.config.fps.max(1)).max(1);
            for i in 0..self.layers.len() {
                out.push(self.video_frame_on(i, tid, interval, step));
            }
            self.next_video = next_tick(self.next_video, interval, now);
        }
        out
    }

    fn audio_frame(&mut self) -> FrameOut {
        let mut p = Vec::with_capacity(AUDIO_BYTES);
        p.push(OPUS_TOC);
        p.extend_from_slice(MAGIC);
        p.extend_from_slice(&self.config.source_id.to_be_bytes());
        p.push(255);
        p.extend_from_slice(&self.audio_frame.to_be_bytes());
        p.resize(AUDIO_BYTES, 0);
        self.audio_frame = self.audio_frame.wrapping_add(1);
        FrameOut {
            kind: FrameKind::Audio,
            layer: 0,
            packets: vec![p],
            rtp_step: AUDIO_STEP,
            keyframe: false,
            audio_level: Some(self.audio_level.min(SILENCE)),
        }
    }

    fn video_frame_on(&mut self, i: usize, tid: u8, interval: Duration, step: u32) -> FrameOut {
        let max = self.config.max_payload.max(64);
        let source_id = self.config.source_id;
        let l = &mut self.layers[i];
        let key = std::mem::take(&mut l.keyframe_due);
        // A keyframe restarts the temporal pattern's base: TID 0.
        let tid = if key { 0 } else { tid };
        if tid == 0 {
            l.tl0picidx = l.tl0picidx.wrapping_add(1);
        }
        let bytes = (u64::from(l.bitrate) * interval.as_micros() as u64 / 8_000_000) as usize;
        let descriptor = |start: bool, pid: u16, tl0: u8| {
            // X=1, S, PID=0 | I L T K=0 | M=1 picture id (15 bits) | TL0PICIDX | TID Y=1 KEYIDX=0
            [
                0x80 | if start { 0x10 } else { 0 },
                0xe0,
                0x80 | (pid >> 8) as u8,
                pid as u8,
                tl0,
                tid << 6 | 0x20,
            ]
        };
        let mut tag = Vec::with_capacity(10);
        tag.extend_from_slice(MAGIC);
        tag.extend_from_slice(&source_id.to_be_bytes());
        tag.push(i as u8);
        tag.extend_from_slice(&l.frame.to_be_bytes());
        let mut packets = Vec::new();
        let mut left = bytes.max(1);
        while left > 0 || packets.is_empty() {
            let start = packets.is_empty();
            let mut p = Vec::with_capacity(max);
            p.extend_from_slice(&descriptor(start, l.picture_id, l.tl0picidx));
            if start {
                // Frame tag: P bit 0 on keyframes, version 0, show_frame; then on a keyframe
                // the start code and 320x240 (as in RFC 6386 9.1).
                p.extend_from_slice(&[if key { 0x10 } else { 0x11 }, 0x02, 0x00]);
                if key {
                    p.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
                }
            }
            p.extend_from_slice(&tag);
            let room = max.saturating_sub(p.len());
            let fill = room.min(left.saturating_sub(p.len()));
            p.resize(p.len() + fill, 0);
            left = left.saturating_sub(p.len());
            packets.push(p);
        }
        l.picture_id = (l.picture_id + 1) & 0x7fff;
        l.frame = l.frame.wrapping_add(1);
        FrameOut {
            kind: FrameKind::Video,
            layer: i,
            packets,
            rtp_step: step,
            keyframe: key,
            audio_level: None,
        }
    }
}

/// The next tick after `at` by `every`, skipping ticks already past `now`.
fn next_tick(at: Instant, every: Duration, now: Instant) -> Instant {
    let next = at + every;
    if next + every < now {
        now + every
    } else {
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(layers: usize) -> (SourceState, Instant) {
        let now = Instant::now();
        (SourceState::new(MediaSource::default(), layers, now), now)
    }

    #[test]
    fn first_frames_are_keyframes_with_valid_descriptors() {
        let (mut s, now) = source(3);
        let frames = s.frames_due(now);
        assert_eq!(frames.len(), 4, "audio + 3 layers");
        for f in frames.iter().filter(|f| f.kind == FrameKind::Video) {
            assert!(f.keyframe);
            let d = parse_vp8(&f.packets[0]).expect("descriptor");
            assert!(d.frame_start && d.keyframe);
            assert_eq!(d.tid, Some(0));
            assert_eq!(d.len, 6);
            for (n, p) in f.packets.iter().enumerate() {
                let d = parse_vp8(p).expect("descriptor");
                assert_eq!(d.frame_start, n == 0);
                let tag = parse_tag(p).expect("tag");
                assert_eq!(
                    tag,
                    PayloadTag {
                        source: 0,
                        layer: f.layer as u8,
                        frame: 0
                    }
                );
            }
        }
        let audio = &frames[0];
        assert_eq!(audio.audio_level, Some(SILENCE));
        assert_eq!(
            parse_tag(&audio.packets[0]),
            Some(PayloadTag {
                source: 0,
                layer: 255,
                frame: 0
            })
        );
    }

    #[test]
    fn layers_have_their_bitrates_and_temporal_pattern() {
        let (mut s, start) = source(3);
        let mut bytes = [0usize; 3];
        let mut tids = Vec::new();
        let mut pids = Vec::new();
        // One second of frames at 1 ms resolution.
        for ms in 0..1000 {
            for f in s.frames_due(start + Duration::from_millis(ms)) {
                if f.kind == FrameKind::Video {
                    bytes[f.layer] += f.packets.iter().map(Vec::len).sum::<usize>();
                    if f.layer == 2 {
                        let d = parse_vp8(&f.packets[0]).expect("descriptor");
                        tids.push(d.tid.unwrap_or(9));
                        pids.push(d.picture_id.unwrap_or(0));
                    }
                }
            }
        }
        for (i, want) in [100_000, 300_000, 1_000_000].into_iter().enumerate() {
            let got = bytes[i] * 8;
            assert!(
                got.abs_diff(want) < want / 10,
                "layer {i}: {got} bit/s, want {want}"
            );
        }
        assert_eq!(&tids[..5], &[0, 2, 1, 2, 0]);
        assert!(pids.windows(2).all(|w| w[1] == (w[0] + 1) & 0x7fff));
    }

    #[test]
    fn keyframe_on_request_only_on_that_layer() {
        let (mut s, now) = source(3);
        s.frames_due(now);
        s.request_keyframe(Some(1));
        let later = now + Duration::from_millis(50);
        let keys: Vec<usize> = s
            .frames_due(later)
            .into_iter()
            .filter(|f| f.keyframe)
            .map(|f| f.layer)
            .collect();
        assert_eq!(keys, vec![1]);
    }

    #[test]
    fn single_stream_uses_the_highest_rate() {
        let (s, _) = source(1);
        assert_eq!(s.layer_count(), 1);
        assert_eq!(s.layers[0].bitrate, 1_000_000);
    }

    #[test]
    fn parsers_reject_short_or_foreign_payloads() {
        assert!(parse_vp8(&[]).is_none());
        assert!(parse_vp8(&[0x80]).is_none());
        assert!(parse_tag(&[0x10, 0x10, 0x02, 0x00]).is_none());
        assert!(parse_tag(b"hello").is_none());
    }
}
