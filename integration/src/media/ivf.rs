//! IVF, the container ffmpeg and libvpx write VP8 into: a 32-byte file header
//! (`DKIF`, version, header size, FourCC, width, height, time base, frame count), then per
//! frame a 12-byte header (size u32 LE, timestamp u64 LE) and the frame.

use super::MediaError;

const FILE_HEADER: usize = 32;
const FRAME_HEADER: usize = 12;
/// Largest frame accepted (a 4K keyframe is far below): bounds allocation on bad input.
const MAX_FRAME: usize = 16 << 20;

/// What the file header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    pub fourcc: [u8; 4],
    pub width: u16,
    pub height: u16,
    /// Time base numerator and denominator: one timestamp unit is `num / den` seconds.
    pub timebase_num: u32,
    pub timebase_den: u32,
    /// Frame count as written (ffmpeg writes it; streamed writers may leave 0).
    pub frames: u32,
}

impl IvfHeader {
    /// Frames per second when each timestamp unit is one frame (as ffmpeg writes for
    /// constant-rate input), if the time base is sane.
    pub fn fps(&self) -> Option<u32> {
        (self.timebase_num > 0 && self.timebase_den >= self.timebase_num)
            .then(|| self.timebase_den / self.timebase_num)
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    pub timestamp: u64,
    pub data: Vec<u8>,
}

/// Parses a whole IVF file.
pub fn parse(bytes: &[u8]) -> Result<(IvfHeader, Vec<IvfFrame>), MediaError> {
    let bad = |what: String| MediaError::format("IVF", what);
    if bytes.len() < FILE_HEADER {
        return Err(bad(format!(
            "{} bytes, shorter than the file header",
            bytes.len()
        )));
    }
    if &bytes[0..4] != b"DKIF" {
        return Err(bad("no DKIF signature".into()));
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let header_len = usize::from(u16_at(6));
    if header_len < FILE_HEADER || header_len > bytes.len() {
        return Err(bad(format!("header length {header_len}")));
    }
    let header = IvfHeader {
        fourcc: [bytes[8], bytes[9], bytes[10], bytes[11]],
        width: u16_at(12),
        height: u16_at(14),
        timebase_den: u32_at(16),
        timebase_num: u32_at(20),
        frames: u32_at(24),
    };
    let mut frames = Vec::with_capacity(header.frames.min(100_000) as usize);
    let mut at = header_len;
    while at < bytes.len() {
        let Some(h) = bytes.get(at..at + FRAME_HEADER) else {
            return Err(bad(format!("truncated frame header at byte {at}")));
        };
        let size = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&h[4..12]);
        if size > MAX_FRAME {
            return Err(bad(format!("frame of {size} bytes at byte {at}")));
        }
        let start = at + FRAME_HEADER;
        let Some(data) = bytes.get(start..start + size) else {
            return Err(bad(format!(
                "frame at byte {at} says {size} bytes, {} left",
                bytes.len() - start
            )));
        };
        frames.push(IvfFrame {
            timestamp: u64::from_le_bytes(ts),
            data: data.to_vec(),
        });
        at = start + size;
    }
    Ok((header, frames))
}

/// Writes an IVF file (for tests and tools that make clips without ffmpeg).
pub fn write(header: &IvfHeader, frames: &[IvfFrame]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(FILE_HEADER + frames.iter().map(|f| f.data.len() + 12).sum::<usize>());
    out.extend_from_slice(b"DKIF");
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(FILE_HEADER as u16).to_le_bytes());
    out.extend_from_slice(&header.fourcc);
    out.extend_from_slice(&header.width.to_le_bytes());
    out.extend_from_slice(&header.height.to_le_bytes());
    out.extend_from_slice(&header.timebase_den.to_le_bytes());
    out.extend_from_slice(&header.timebase_num.to_le_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&f.timestamp.to_le_bytes());
        out.extend_from_slice(&f.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> IvfHeader {
        IvfHeader {
            fourcc: *b"VP80",
            width: 320,
            height: 180,
            timebase_num: 1,
            timebase_den: 30,
            frames: 0,
        }
    }

    #[test]
    fn round_trip() {
        let frames = vec![
            IvfFrame {
                timestamp: 0,
                data: vec![0x10, 1, 2, 3],
            },
            IvfFrame {
                timestamp: 1,
                data: vec![],
            },
            IvfFrame {
                timestamp: 2,
                data: vec![0x11; 3000],
            },
        ];
        let bytes = write(&header(), &frames);
        let (h, got) = parse(&bytes).expect("valid IVF");
        assert_eq!(h.fourcc, *b"VP80");
        assert_eq!((h.width, h.height, h.frames), (320, 180, 3));
        assert_eq!(h.fps(), Some(30));
        assert_eq!(got, frames);
    }

    #[test]
    fn rejects_bad_input() {
        let frames = vec![IvfFrame {
            timestamp: 0,
            data: vec![7; 100],
        }];
        let bytes = write(&header(), &frames);
        assert!(parse(&bytes[..20]).is_err(), "short header");
        assert!(parse(&bytes[..bytes.len() - 1]).is_err(), "truncated frame");
        assert!(parse(&bytes[..40]).is_err(), "truncated frame header");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(parse(&bad).is_err(), "signature");
        let mut huge = bytes.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).is_err(), "absurd frame size");
        let mut hl = bytes;
        hl[6..8].copy_from_slice(&4000u16.to_le_bytes());
        assert!(parse(&hl).is_err(), "header length beyond the file");
        // A header alone is a valid, empty clip.
        let empty = write(&header(), &[]);
        assert_eq!(parse(&empty).expect("empty").1.len(), 0);
    }
}
