//! What the native send path reads and rewrites in compound RTCP: NACKs from the receiver
//! (RFC 4585 generic NACK) and the sender info of our sender reports (RFC 3550 §6.4.1).

const PT_SR: u8 = 200;
const PT_RTPFB: u8 = 205;
const FMT_NACK: u8 = 1;
/// SR: header (4) + SSRC (4) + NTP (8) + RTP time (4) + packets (4) + octets (4).
const SR_INFO_END: usize = 28;

/// The packets of a compound RTCP datagram: `(pt, fmt, whole packet)`. Stops at the first
/// malformed one.
fn packets(mut data: &[u8]) -> impl Iterator<Item = (u8, u8, std::ops::Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if data.len() < 4 || data[0] >> 6 != 2 {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4;
        if len > data.len() {
            return None;
        }
        // With the P bit, the last octet counts padding at the end of this packet.
        let padding = if data[0] & 0x20 != 0 {
            usize::from(data[len - 1])
        } else {
            0
        };
        if padding > len - 4 {
            return None;
        }
        let item = (data[1], data[0] & 0x1f, at..at + len - padding);
        data = &data[len..];
        at += len;
        Some(item)
    })
}

/// The sequence numbers a compound RTCP packet NACKs, per media SSRC.
pub fn nacks(rtcp: &[u8]) -> Vec<(u32, u16)> {
    let mut out = Vec::new();
    for (pt, fmt, r) in packets(rtcp) {
        if pt != PT_RTPFB || fmt != FMT_NACK || r.len() < 12 {
            continue;
        }
        let p = &rtcp[r];
        let media = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        for fci in p[12..].chunks_exact(4) {
            let pid = u16::from_be_bytes([fci[0], fci[1]]);
            let blp = u16::from_be_bytes([fci[2], fci[3]]);
            out.push((media, pid));
            for bit in 0..16u16 {
                if blp & (1 << bit) != 0 {
                    out.push((media, pid.wrapping_add(bit + 1)));
                }
            }
        }
    }
    out
}

/// What a sender report must say about one of our send streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    pub rtp_time: u32,
    pub packets: u32,
    pub octets: u32,
}

/// Rewrites, in place, the RTP time and counts of each SR whose SSRC `info` knows (its NTP
/// time stays). Returns whether anything changed.
pub fn patch_sender_reports(
    rtcp: &mut [u8],
    mut info: impl FnMut(u32) -> Option<SenderInfo>,
) -> bool {
    let srs: Vec<std::ops::Range<usize>> = packets(rtcp)
        .filter(|(pt, _, r)| *pt == PT_SR && r.len() >= SR_INFO_END)
        .map(|(_, _, r)| r)
        .collect();
    let mut changed = false;
    for r in srs {
        let p = &mut rtcp[r];
        let ssrc = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        if let Some(i) = info(ssrc) {
            p[16..20].copy_from_slice(&i.rtp_time.to_be_bytes());
            p[20..24].copy_from_slice(&i.packets.to_be_bytes());
            p[24..28].copy_from_slice(&i.octets.to_be_bytes());
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sr(ssrc: u32, ntp: u64) -> Vec<u8> {
        let mut p = vec![0x80, PT_SR, 0, 6];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&ntp.to_be_bytes());
        p.extend_from_slice(&[0u8; 12]);
        p
    }

    fn nack(media: u32, fci: &[(u16, u16)]) -> Vec<u8> {
        let words = 2 + fci.len() as u16;
        let mut p = vec![0x80 | FMT_NACK, PT_RTPFB];
        p.extend_from_slice(&words.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&media.to_be_bytes());
        for (pid, blp) in fci {
            p.extend_from_slice(&pid.to_be_bytes());
            p.extend_from_slice(&blp.to_be_bytes());
        }
        p
    }

    #[test]
    fn nacks_are_read_from_compound_packets() {
        let mut c = sr(9, 1);
        c.extend(nack(5, &[(100, 0b101), (65535, 0b1)]));
        c.extend(nack(6, &[(7, 0)]));
        assert_eq!(
            nacks(&c),
            [(5, 100), (5, 101), (5, 103), (5, 65535), (5, 0), (6, 7)]
        );
    }

    #[test]
    fn malformed_rtcp_yields_what_came_before_it() {
        let mut c = nack(5, &[(1, 0)]);
        c.extend([0x80, PT_RTPFB, 0, 40, 0, 0]); // claims more than there is
        c.extend(nack(6, &[(2, 0)]));
        assert_eq!(nacks(&c), [(5, 1)]);
        assert!(nacks(&[]).is_empty());
        assert!(nacks(&[0x40, 1, 2]).is_empty());
        let mut short = nack(5, &[]);
        short.truncate(8);
        short[3] = 1;
        assert!(nacks(&short).is_empty());
    }

    #[test]
    fn padding_is_not_read_as_nack_entries() {
        let mut p = nack(5, &[(9, 0)]);
        p.extend([0, 0, 0, 4]); // padding: 4 octets, the last one says so
        p[0] |= 0x20;
        p[3] += 1;
        assert_eq!(nacks(&p), [(5, 9)]);
        let mut bad = nack(5, &[(9, 0)]);
        bad[0] |= 0x20;
        let n = bad.len();
        bad[n - 1] = 200; // more padding than the packet holds
        assert!(nacks(&bad).is_empty());
    }

    #[test]
    fn only_known_sender_reports_are_rewritten() {
        let mut c = sr(1, 0x1111);
        c.extend(nack(5, &[(1, 0)]));
        c.extend(sr(2, 0x2222));
        let before = c.clone();
        let changed = patch_sender_reports(&mut c, |ssrc| {
            (ssrc == 2).then_some(SenderInfo {
                rtp_time: 0xAABBCCDD,
                packets: 3,
                octets: 4,
            })
        });
        assert!(changed);
        // Everything before the last SR's RTP time is untouched, its NTP time included.
        assert_eq!(&c[..before.len() - 12], &before[..before.len() - 12]);
        let last = &c[c.len() - 28..];
        assert_eq!(&last[16..20], &[0xAA, 0xBB, 0xCC, 0xDD]);
        assert_eq!(&last[20..24], &3u32.to_be_bytes());
        assert_eq!(&last[24..28], &4u32.to_be_bytes());
        assert!(!patch_sender_reports(&mut c, |_| None));
    }
}
