//! One datagram on an input's RTP port: is it RTP we take, and the header fields the
//! router needs. Pure: no sockets, no clock.

use rtp_rs::RtpReader;

/// Largest datagram taken as RTP (a bigger one was truncated by the read, or is not ours).
pub const MAX_DATAGRAM: usize = 2048;
/// The header fields the router needs, and where the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpFields {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub pt: u8,
    /// The payload's range in the datagram (CSRCs, extension and padding left out).
    pub payload: (usize, usize),
}

/// Why a datagram is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    Oversized(usize),
    /// RTCP sent to the RTP port (packet types 192..=223 where RTP has its payload type).
    Rtcp,
    /// Not RTP: too short, version not 2, header or padding beyond the datagram.
    Malformed(String),
    WrongPt(u8),
    /// A packet of nothing: header and padding only.
    Empty,
}

impl std::fmt::Display for Drop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drop::Oversized(n) => write!(f, "{n} bytes is more than {MAX_DATAGRAM}"),
            Drop::Rtcp => write!(f, "RTCP on the RTP port"),
            Drop::Malformed(why) => write!(f, "not RTP: {why}"),
            Drop::WrongPt(pt) => write!(f, "payload type {pt} is not the stream's"),
            Drop::Empty => write!(f, "no payload"),
        }
    }
}

/// Checks one datagram; `pt` = the only payload type taken (`None` = any).
pub fn parse(data: &[u8], pt: Option<u8>) -> Result<RtpFields, Drop> {
    if data.len() > MAX_DATAGRAM {
        return Err(Drop::Oversized(data.len()));
    }
    // RFC 5761: RTCP packet types overlap RTP's marker bit + payload types 64..=95.
    if data.len() >= 2 && data[0] >> 6 == 2 && (192..=223).contains(&data[1]) {
        return Err(Drop::Rtcp);
    }
    let r = RtpReader::new(data).map_err(|e| Drop::Malformed(format!("{e:?}")))?;
    let got = r.payload_type();
    if pt.is_some_and(|want| want != got) {
        return Err(Drop::WrongPt(got));
    }
    let start = r.payload_offset();
    let end = start + r.payload().len();
    if start == end {
        return Err(Drop::Empty);
    }
    Ok(RtpFields {
        ssrc: r.ssrc(),
        seq: u16::from(r.sequence_number()),
        timestamp: r.timestamp(),
        marker: r.mark(),
        pt: got,
        payload: (start, end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0x80, pt, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 42];
        d[2..4].copy_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn takes_rtp_and_finds_the_payload() {
        let d = rtp(0x80 | 96, 7, &[1, 2, 3]);
        let f = parse(&d, Some(96)).unwrap();
        assert_eq!(
            f,
            RtpFields {
                ssrc: 42,
                seq: 7,
                timestamp: 0x1000,
                marker: true,
                pt: 96,
                payload: (12, 15),
            }
        );
        // CSRC, extension and padding are skipped.
        let mut d = vec![0xb1, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42];
        d.extend_from_slice(&[0, 0, 0, 9]); // one CSRC
        d.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-word extension
        d.extend_from_slice(&[5, 6, 0, 2]); // payload 5 6, 2 bytes of padding
        let f = parse(&d, None).unwrap();
        assert_eq!(&d[f.payload.0..f.payload.1], &[5, 6]);
    }

    #[test]
    fn drops_what_is_not_the_streams_rtp() {
        assert!(matches!(parse(&[], None), Err(Drop::Malformed(_))));
        assert!(matches!(
            parse(&[0x80, 96, 0], None),
            Err(Drop::Malformed(_))
        ));
        let mut v1 = rtp(96, 1, &[1]);
        v1[0] = 0x40;
        assert!(matches!(parse(&v1, None), Err(Drop::Malformed(_))));
        // An extension longer than the datagram, padding longer than the payload.
        let mut ext = rtp(96, 1, &[0xbe, 0xde, 0, 9]);
        ext[0] |= 0x10;
        assert!(matches!(parse(&ext, None), Err(Drop::Malformed(_))));
        let mut pad = rtp(96, 1, &[1, 9]);
        pad[0] |= 0x20;
        assert!(matches!(parse(&pad, None), Err(Drop::Malformed(_))));
        let mut zero_pad = rtp(96, 1, &[1, 0]);
        zero_pad[0] |= 0x20;
        assert!(matches!(parse(&zero_pad, None), Err(Drop::Malformed(_))));
        // A receiver report.
        assert_eq!(parse(&[0x80, 201, 0, 1, 0, 0, 0, 1], None), Err(Drop::Rtcp));
        assert_eq!(parse(&rtp(97, 1, &[1]), Some(96)), Err(Drop::WrongPt(97)));
        assert_eq!(parse(&rtp(96, 1, &[]), None), Err(Drop::Empty));
        let big = rtp(96, 1, &[0; MAX_DATAGRAM]);
        assert!(matches!(parse(&big, None), Err(Drop::Oversized(_))));
    }
}
