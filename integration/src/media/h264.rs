//! H.264 for the load tool: the Annex B byte stream ffmpeg's `-f h264` writes (NAL units
//! behind `00 00 01` / `00 00 00 01` start codes), grouped into access units (frames), the
//! RFC 6184 packetizer a sender uses (packetization-mode 1: single NAL unit packets, FU-A
//! for NAL units larger than a packet, STAP-A for the parameter sets before an IDR), and the
//! receiver-side check whether a packet starts a keyframe.

use super::MediaError;

/// NAL unit types (H.264 table 7-1) and RTP payload types (RFC 6184 table 1) used here.
pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;
pub const STAP_A: u8 = 24;
pub const FU_A: u8 = 28;

/// Largest NAL unit accepted (a 4K IDR is far below): bounds what bad input can make us hold.
const MAX_NAL: usize = 16 << 20;

fn bad(what: impl Into<String>) -> MediaError {
    MediaError::format("H.264 Annex B", what)
}

/// The type of a NAL unit (low 5 bits of its header byte).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// The NAL units of an Annex B byte stream, without their start codes (trailing zero bytes
/// of a NAL unit belong to the next start code, as H.264 B.2 says). The stream must begin
/// with a start code (leading zero bytes allowed); a NAL unit must have a header with the
/// forbidden bit clear.
pub fn split_annexb(bytes: &[u8]) -> Result<Vec<&[u8]>, MediaError> {
    let mut starts = Vec::new();
    let mut i = 0;
    // Start code positions: (start of the 00 00 01, first byte after it).
    while i + 3 <= bytes.len() {
        if bytes[i] == 0 && bytes[i + 1] == 0 && bytes[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else if bytes[i + 2] > 1 {
            // No start code can begin at i, i+1 or i+2.
            i += 3;
        } else {
            i += 1;
        }
    }
    let Some(&(first, _)) = starts.first() else {
        return Err(bad(if bytes.is_empty() {
            "empty".to_string()
        } else {
            "no start code".to_string()
        }));
    };
    if bytes[..first].iter().any(|b| *b != 0) {
        return Err(bad(format!("{first} bytes before the first start code")));
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &(_, from)) in starts.iter().enumerate() {
        let mut to = starts.get(k + 1).map_or(bytes.len(), |s| s.0);
        while to > from && bytes[to - 1] == 0 {
            to -= 1;
        }
        let nal = &bytes[from..to];
        if nal.is_empty() {
            // Two start codes in a row, or trailing zeros: nothing to keep.
            continue;
        }
        if nal[0] & 0x80 != 0 {
            return Err(bad(format!("NAL unit {k}: forbidden_zero_bit set")));
        }
        if is_vcl(nal[0] & 0x1f) && nal.len() < 2 {
            return Err(bad(format!(
                "NAL unit {k}: slice without a header (truncated)"
            )));
        }
        if nal.len() > MAX_NAL {
            return Err(bad(format!("NAL unit {k}: {} bytes", nal.len())));
        }
        nals.push(nal);
    }
    if nals.is_empty() {
        return Err(bad("no NAL units"));
    }
    Ok(nals)
}

/// One access unit: the NAL units of one frame, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    /// An IDR picture (what a decoder can start from).
    pub fn is_keyframe(&self) -> bool {
        self.nals.iter().any(|n| nal_type(n) == Some(NAL_IDR))
    }

    pub fn len_bytes(&self) -> usize {
        self.nals.iter().map(Vec::len).sum()
    }
}

fn is_vcl(t: u8) -> bool {
    (1..=5).contains(&t)
}

/// Whether a slice NAL unit starts a new picture: `first_mb_in_slice` (the first ue(v) of
/// the slice header) is 0, which is a single `1` bit.
fn first_slice(nal: &[u8]) -> bool {
    nal.get(1).is_some_and(|b| b & 0x80 != 0)
}

/// Groups NAL units into access units (H.264 7.4.1.2.3): a new one starts at an AUD, SEI or
/// parameter set after the current unit's slices, or at a slice with `first_mb_in_slice`
/// 0 after them. AUDs and SEIs are dropped (a WebRTC sender sends neither); a unit without
/// a slice (parameter sets at the end) is dropped too.
pub fn access_units(nals: &[&[u8]]) -> Vec<AccessUnit> {
    let mut out = Vec::new();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut has_vcl = false;
    for nal in nals {
        let Some(t) = nal_type(nal) else { continue };
        let starts_new = if is_vcl(t) {
            first_slice(nal)
        } else {
            matches!(t, NAL_SEI..=NAL_AUD | 14..=18)
        };
        if has_vcl && starts_new {
            out.push(AccessUnit {
                nals: std::mem::take(&mut cur),
            });
            has_vcl = false;
        }
        if matches!(t, NAL_SEI | NAL_AUD) {
            continue;
        }
        has_vcl |= is_vcl(t);
        cur.push(nal.to_vec());
    }
    if has_vcl {
        out.push(AccessUnit { nals: cur });
    }
    out
}

/// Makes every IDR access unit begin with an SPS and a PPS (the latest seen), so a receiver
/// can start at any of them: a clip played in a loop, or jumping to a keyframe on request,
/// must not depend on parameter sets sent once at the start. Fails if an IDR comes before
/// any parameter set.
pub fn with_parameter_sets(units: Vec<AccessUnit>) -> Result<Vec<AccessUnit>, MediaError> {
    let (mut sps, mut pps): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut out = Vec::with_capacity(units.len());
    for (i, mut au) in units.into_iter().enumerate() {
        for n in &au.nals {
            match nal_type(n) {
                Some(NAL_SPS) => sps = Some(n.clone()),
                Some(NAL_PPS) => pps = Some(n.clone()),
                _ => {}
            }
        }
        if au.is_keyframe() {
            let (Some(s), Some(p)) = (&sps, &pps) else {
                return Err(bad(format!("IDR frame {i} before any SPS/PPS")));
            };
            au.nals
                .retain(|n| !matches!(nal_type(n), Some(NAL_SPS | NAL_PPS)));
            au.nals.splice(0..0, [s.clone(), p.clone()]);
        }
        out.push(au);
    }
    Ok(out)
}

/// Packetizes one access unit for RTP (RFC 6184, packetization-mode 1) into payloads of at
/// most `max_payload` bytes (at least 3): leading SPS/PPS aggregated into one STAP-A when
/// they fit (as browsers send them), a NAL unit that fits as a single NAL unit packet, a
/// larger one as FU-A fragments of near-equal size.
pub fn packetize(au: &AccessUnit, max_payload: usize) -> Vec<Vec<u8>> {
    let max = max_payload.max(3);
    let mut out = Vec::new();
    let mut rest: &[Vec<u8>] = &au.nals;
    let params = rest
        .iter()
        .take_while(|n| matches!(nal_type(n), Some(NAL_SPS | NAL_PPS)))
        .count();
    if params >= 2 {
        let sets = &rest[..params];
        let size = 1 + sets.iter().map(|n| 2 + n.len()).sum::<usize>();
        if size <= max && sets.iter().all(|n| n.len() <= usize::from(u16::MAX)) {
            out.push(stap_a(sets));
            rest = &rest[params..];
        }
    }
    for nal in rest {
        if nal.is_empty() {
            continue;
        }
        if nal.len() <= max {
            out.push(nal.clone());
        } else {
            fu_a(nal, max, &mut out);
        }
    }
    out
}

/// One STAP-A holding `nals` (F = any F, NRI = the highest NRI, RFC 6184 5.7.1).
fn stap_a(nals: &[Vec<u8>]) -> Vec<u8> {
    let f = nals.iter().fold(0, |a, n| a | (n[0] & 0x80));
    let nri = nals.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
    let mut p = vec![f | nri | STAP_A];
    for n in nals {
        p.extend_from_slice(&(n.len() as u16).to_be_bytes());
        p.extend_from_slice(n);
    }
    p
}

/// FU-A fragments of `nal` (its header byte is carried in the FU indicator and header).
fn fu_a(nal: &[u8], max: usize, out: &mut Vec<Vec<u8>>) {
    let (header, data) = (nal[0], &nal[1..]);
    let room = max - 2;
    let count = data.len().div_ceil(room).max(1);
    let (base, extra) = (data.len() / count, data.len() % count);
    let mut at = 0;
    for i in 0..count {
        let len = base + usize::from(i < extra);
        let mut p = Vec::with_capacity(2 + len);
        p.push((header & 0xe0) | FU_A);
        let s = if i == 0 { 0x80 } else { 0 };
        let e = if i + 1 == count { 0x40 } else { 0 };
        p.push(s | e | (header & 0x1f));
        p.extend_from_slice(&data[at..at + len]);
        at += len;
        out.push(p);
    }
}

/// Whether an RTP payload starts a keyframe: an IDR slice or an SPS as a single NAL unit,
/// the first FU-A fragment of an IDR, or a STAP-A holding an SPS or an IDR (as Janus counts
/// them). Truncated or unknown payloads are not.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    match nal_type(payload) {
        Some(NAL_IDR | NAL_SPS) => true,
        Some(FU_A) => payload
            .get(1)
            .is_some_and(|h| h & 0x80 != 0 && h & 0x1f == NAL_IDR),
        Some(STAP_A) => stap_a_types(payload).any(|t| t == NAL_IDR || t == NAL_SPS),
        _ => false,
    }
}

/// The NAL unit types inside a STAP-A, stopping at the first truncated one.
fn stap_a_types(payload: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut at = 1;
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_be_bytes([
            *payload.get(at)?,
            *payload.get(at + 1)?,
        ]));
        let t = nal_type(payload.get(at + 2..at + 2 + len)?)?;
        at += 2 + len;
        Some(t)
    })
}

/// Reassembles the NAL units carried by a sequence of RTP payloads (single NAL unit, STAP-A,
/// FU-A); the inverse of [`packetize`], for tests and checks. Errors on malformed payloads.
pub fn depacketize(payloads: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, MediaError> {
    let rtp = |what: String| MediaError::format("H.264 RTP", what);
    let mut nals = Vec::new();
    let mut fu: Option<Vec<u8>> = None;
    for (i, p) in payloads.iter().enumerate() {
        let t = nal_type(p).ok_or_else(|| rtp(format!("payload {i} empty")))?;
        match t {
            1..=23 => nals.push(p.clone()),
            STAP_A => {
                let mut at = 1;
                while at < p.len() {
                    let len = p
                        .get(at..at + 2)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                        .ok_or_else(|| rtp(format!("payload {i}: STAP-A size truncated")))?;
                    let n = p
                        .get(at + 2..at + 2 + len)
                        .filter(|n| !n.is_empty())
                        .ok_or_else(|| rtp(format!("payload {i}: STAP-A unit truncated")))?;
                    nals.push(n.to_vec());
                    at += 2 + len;
                }
            }
            FU_A => {
                let h = *p
                    .get(1)
                    .ok_or_else(|| rtp(format!("payload {i}: FU header missing")))?;
                if h & 0x80 != 0 {
                    fu = Some(vec![(p[0] & 0xe0) | (h & 0x1f)]);
                }
                let buf = fu
                    .as_mut()
                    .ok_or_else(|| rtp(format!("payload {i}: FU-A without its start")))?;
                buf.extend_from_slice(&p[2..]);
                if h & 0x40 != 0
                    && let Some(n) = fu.take()
                {
                    nals.push(n);
                }
            }
            other => return Err(rtp(format!("payload {i}: type {other} not supported"))),
        }
    }
    if fu.is_some() {
        return Err(rtp("FU-A without its end".into()));
    }
    Ok(nals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(t: u8, nri: u8, len: usize, fill: u8) -> Vec<u8> {
        let mut n = vec![(nri << 5) | t];
        // Slices: first_mb_in_slice = 0 (a `1` bit) unless `fill` says otherwise.
        n.push(fill);
        n.resize(len, fill ^ 0x5a);
        n
    }

    fn annexb(nals: &[Vec<u8>]) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, n) in nals.iter().enumerate() {
            // Both start code lengths, as encoders mix them.
            b.extend_from_slice(if i % 2 == 0 {
                &[0, 0, 0, 1]
            } else {
                &[0, 0, 1]
            });
            b.extend_from_slice(n);
        }
        b
    }

    #[test]
    fn splits_an_annexb_stream() {
        let sps = nal(NAL_SPS, 3, 10, 0x42);
        let pps = nal(NAL_PPS, 3, 4, 0xce);
        let idr = nal(NAL_IDR, 3, 3000, 0x88);
        let stream = annexb(&[sps.clone(), pps.clone(), idr.clone()]);
        let nals = split_annexb(&stream).expect("valid");
        assert_eq!(nals, vec![&sps[..], &pps[..], &idr[..]]);
        // Leading zeros, trailing zeros and empty units are tolerated.
        let mut padded = vec![0, 0];
        padded.extend(&stream);
        padded.extend([0, 0, 0, 1, 0, 0, 1, 0, 0]);
        assert_eq!(split_annexb(&padded).expect("valid").len(), 3);
    }

    #[test]
    fn garbage_and_truncated_streams_are_errors() {
        assert!(split_annexb(&[]).is_err());
        assert!(split_annexb(b"not h264 at all").is_err());
        assert!(split_annexb(&[0, 0]).is_err(), "truncated start code");
        assert!(split_annexb(&[0, 0, 1]).is_err(), "start code alone");
        assert!(split_annexb(&[7, 0, 0, 1, 0x67]).is_err(), "junk first");
        assert!(split_annexb(&[0, 0, 1, 0xe7, 1]).is_err(), "forbidden bit");
        assert!(
            split_annexb(&[0, 0, 1, 0x67, 1, 0, 0, 1, 0x65]).is_err(),
            "cut slice"
        );
        // Random bytes never panic.
        let mut x: u32 = 12345;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    // Many zeros and ones, so start codes appear.
                    ((x >> 16) % 4) as u8
                })
                .collect();
            if let Ok(nals) = split_annexb(&junk) {
                let units = access_units(&nals);
                let _ = with_parameter_sets(units.clone());
                for au in &units {
                    let packets = packetize(au, 200);
                    let _ = depacketize(&packets);
                    packets.iter().for_each(|p| {
                        is_keyframe_start(p);
                    });
                }
            }
            is_keyframe_start(&junk);
            let _ = depacketize(&[junk]);
        }
    }

    #[test]
    fn groups_access_units_by_first_slice() {
        let sps = nal(NAL_SPS, 3, 10, 0x42);
        let pps = nal(NAL_PPS, 3, 4, 0xce);
        let sei = nal(NAL_SEI, 0, 20, 0x05);
        let idr_a = nal(NAL_IDR, 3, 100, 0x88); // first_mb = 0
        let idr_b = nal(NAL_IDR, 3, 100, 0x20); // a second slice of the same picture
        let p1 = nal(NAL_SLICE, 2, 50, 0x9a);
        let p2 = nal(NAL_SLICE, 2, 50, 0x9b);
        let aud = nal(NAL_AUD, 0, 2, 0xf0);
        let nals = [&sps, &pps, &sei, &idr_a, &idr_b, &p1, &aud, &p2, &sps];
        let nals: Vec<&[u8]> = nals.iter().map(|n| n.as_slice()).collect();
        let units = access_units(&nals);
        assert_eq!(units.len(), 3, "{units:?}");
        assert_eq!(units[0].nals, vec![sps.clone(), pps.clone(), idr_a, idr_b]);
        assert!(units[0].is_keyframe());
        assert_eq!(units[1].nals, vec![p1]);
        assert_eq!(units[2].nals, vec![p2], "AUD dropped, trailing SPS dropped");
        assert!(!units[1].is_keyframe());
    }

    #[test]
    fn every_idr_gets_parameter_sets() {
        let sps = nal(NAL_SPS, 3, 10, 0x42);
        let pps = nal(NAL_PPS, 3, 4, 0xce);
        let idr = nal(NAL_IDR, 3, 100, 0x88);
        let p = nal(NAL_SLICE, 2, 50, 0x9a);
        let units = vec![
            AccessUnit {
                nals: vec![sps.clone(), pps.clone(), idr.clone()],
            },
            AccessUnit {
                nals: vec![p.clone()],
            },
            AccessUnit {
                nals: vec![idr.clone()],
            },
        ];
        let units = with_parameter_sets(units).expect("has SPS/PPS");
        assert_eq!(units[2].nals, vec![sps.clone(), pps.clone(), idr.clone()]);
        assert_eq!(units[1].nals, vec![p]);
        let orphan = vec![AccessUnit { nals: vec![idr] }];
        assert!(with_parameter_sets(orphan).is_err());
    }

    #[test]
    fn packetizes_rfc6184_and_reassembles() {
        let sps = nal(NAL_SPS, 3, 10, 0x42);
        let pps = nal(NAL_PPS, 3, 4, 0xce);
        let idr = nal(NAL_IDR, 3, 2500, 0x88);
        let small = nal(NAL_IDR, 3, 300, 0x20);
        let au = AccessUnit {
            nals: vec![sps.clone(), pps.clone(), idr.clone(), small.clone()],
        };
        let packets = packetize(&au, 1200);
        assert!(packets.iter().all(|p| p.len() <= 1200));
        // STAP-A(SPS, PPS), 3 FU-A, one single NAL unit.
        assert_eq!(packets.len(), 5);
        assert_eq!(packets[0][0], 0x60 | STAP_A);
        assert_eq!(&packets[0][1..3], &[0, 10]);
        assert_eq!(packets[1][..2], [0x60 | FU_A, 0x80 | NAL_IDR]);
        assert_eq!(packets[2][1], NAL_IDR, "middle fragment: no S, no E");
        assert_eq!(packets[3][1], 0x40 | NAL_IDR);
        assert_eq!(packets[4], small);
        let sizes: Vec<usize> = packets[1..4].iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1);
        assert_eq!(depacketize(&packets).expect("valid"), au.nals);
        // Keyframe starts: the STAP-A (SPS) and the first IDR fragment only.
        let starts: Vec<bool> = packets.iter().map(|p| is_keyframe_start(p)).collect();
        assert_eq!(starts, vec![true, true, false, false, true]);
        // A delta frame starts no keyframe.
        let delta = AccessUnit {
            nals: vec![nal(NAL_SLICE, 2, 3000, 0x9a)],
        };
        assert!(
            packetize(&delta, 1200)
                .iter()
                .all(|p| !is_keyframe_start(p))
        );
        // Parameter sets too large for one packet go alone.
        let big = AccessUnit {
            nals: vec![nal(NAL_SPS, 3, 150, 1), nal(NAL_PPS, 3, 150, 2)],
        };
        assert_eq!(packetize(&big, 200).len(), 2);
    }

    #[test]
    fn malformed_rtp_payloads_are_errors() {
        assert!(depacketize(&[vec![]]).is_err());
        assert!(
            depacketize(&[vec![STAP_A, 0, 5, 0x67]]).is_err(),
            "STAP-A short"
        );
        assert!(depacketize(&[vec![STAP_A, 0]]).is_err());
        assert!(depacketize(&[vec![FU_A]]).is_err(), "no FU header");
        assert!(depacketize(&[vec![FU_A, NAL_IDR, 1]]).is_err(), "no start");
        assert!(
            depacketize(&[vec![FU_A, 0x80 | NAL_IDR, 1]]).is_err(),
            "no end"
        );
        assert!(depacketize(&[vec![30, 1]]).is_err(), "unknown type");
        assert!(!is_keyframe_start(&[]));
        assert!(!is_keyframe_start(&[FU_A]));
        assert!(!is_keyframe_start(&[STAP_A, 0, 9, 0x67]));
        assert!(is_keyframe_start(&[STAP_A, 0, 1, 0x67]));
    }
}
