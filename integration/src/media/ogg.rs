//! Ogg (RFC 3533) pages and the packets they carry, and the Ogg Opus mapping (RFC 7845):
//! the first packet is `OpusHead`, the second `OpusTags`, every later one an Opus packet.

use super::MediaError;

const PAGE_HEADER: usize = 27;
/// Largest packet accepted: bounds allocation on bad input (Opus packets are < 1300 bytes).
const MAX_PACKET: usize = 1 << 20;

/// One page's header fields that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageHeader {
    continued: bool,
    serial: u32,
}

/// Splits an Ogg stream into the packets of its first logical stream, checking every page's
/// CRC. A packet still open at the end of the stream is an error (truncated file).
pub fn packets(bytes: &[u8]) -> Result<Vec<Vec<u8>>, MediaError> {
    let bad = |what: String| MediaError::format("Ogg", what);
    let mut out = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    let mut serial = None;
    let mut at = 0;
    while at < bytes.len() {
        let Some(h) = bytes.get(at..at + PAGE_HEADER) else {
            return Err(bad(format!("truncated page header at byte {at}")));
        };
        if &h[0..4] != b"OggS" || h[4] != 0 {
            return Err(bad(format!(
                "no OggS capture pattern (version 0) at byte {at}"
            )));
        }
        let page = PageHeader {
            continued: h[5] & 0x01 != 0,
            serial: u32::from_le_bytes([h[14], h[15], h[16], h[17]]),
        };
        let stored_crc = u32::from_le_bytes([h[22], h[23], h[24], h[25]]);
        let segments = usize::from(h[26]);
        let Some(lacing) = bytes.get(at + PAGE_HEADER..at + PAGE_HEADER + segments) else {
            return Err(bad(format!("truncated segment table at byte {at}")));
        };
        let body_len: usize = lacing.iter().map(|l| usize::from(*l)).sum();
        let body_start = at + PAGE_HEADER + segments;
        let Some(body) = bytes.get(body_start..body_start + body_len) else {
            return Err(bad(format!("truncated page body at byte {at}")));
        };
        let mut crc_input = bytes[at..body_start + body_len].to_vec();
        crc_input[22..26].fill(0);
        if crc32(&crc_input) != stored_crc {
            return Err(bad(format!("CRC mismatch in the page at byte {at}")));
        }
        at = body_start + body_len;
        // Other logical streams (chained or multiplexed) are skipped.
        if *serial.get_or_insert(page.serial) != page.serial {
            continue;
        }
        if page.continued != partial.is_some() {
            return Err(bad(format!(
                "page at byte {} {} a continued packet",
                body_start - segments - PAGE_HEADER,
                if page.continued {
                    "claims"
                } else {
                    "does not finish"
                }
            )));
        }
        let mut offset = 0;
        for l in lacing {
            let l = usize::from(*l);
            let p = partial.get_or_insert_with(Vec::new);
            p.extend_from_slice(&body[offset..offset + l]);
            offset += l;
            if p.len() > MAX_PACKET {
                return Err(bad(format!("packet over {MAX_PACKET} bytes")));
            }
            // A lacing value below 255 ends the packet.
            if l < 255
                && let Some(done) = partial.take()
            {
                out.push(done);
            }
        }
    }
    if partial.is_some() {
        return Err(bad("stream ends inside a packet".into()));
    }
    Ok(out)
}

/// What `OpusHead` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    pub channels: u8,
    pub pre_skip: u16,
    pub input_sample_rate: u32,
}

/// The Opus packets of an Ogg Opus file, after checking its `OpusHead` and `OpusTags`.
pub fn opus_packets(bytes: &[u8]) -> Result<(OpusHead, Vec<Vec<u8>>), MediaError> {
    let bad = |what: &str| MediaError::format("Ogg Opus", what);
    let mut all = packets(bytes)?.into_iter();
    let head = all.next().ok_or_else(|| bad("no packets"))?;
    if head.len() < 19 || &head[0..8] != b"OpusHead" {
        return Err(bad("first packet is not OpusHead"));
    }
    let head = OpusHead {
        channels: head[9],
        pre_skip: u16::from_le_bytes([head[10], head[11]]),
        input_sample_rate: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
    };
    let tags = all.next().ok_or_else(|| bad("no OpusTags"))?;
    if !tags.starts_with(b"OpusTags") {
        return Err(bad("second packet is not OpusTags"));
    }
    Ok((head, all.collect()))
}

/// Ogg's CRC-32: polynomial 0x04c11db7, MSB first, initial value 0, no final xor.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for b in data {
        crc ^= u32::from(*b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Builds one page holding whole `packets` (for tests and synthetic clips).
pub fn page(serial: u32, sequence: u32, granule: u64, packets: &[&[u8]]) -> Vec<u8> {
    let mut lacing = Vec::new();
    for p in packets {
        lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
        lacing.push((p.len() % 255) as u8);
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(if sequence == 0 { 0x02 } else { 0 });
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    for p in packets {
        out.extend_from_slice(p);
    }
    let crc = crc32(&out);
    out[22..26].copy_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opus_head() -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1); // version
        h.push(1); // channels
        h.extend_from_slice(&312u16.to_le_bytes());
        h.extend_from_slice(&48_000u32.to_le_bytes());
        h.extend_from_slice(&[0, 0, 0]); // gain, mapping family
        h
    }

    #[test]
    fn crc_matches_a_known_value() {
        // The Ogg CRC of "123456789" (CRC-32/MPEG-2 without the init/xor).
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn reads_opus_packets_including_ones_spanning_255_byte_segments() {
        let long = vec![0xaa; 600];
        let mut file = page(7, 0, 0, &[&opus_head()]);
        file.extend(page(7, 1, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        file.extend(page(7, 2, 960, &[&[0xf8, 1, 2], &long, &[0xf8]]));
        let (head, packets) = opus_packets(&file).expect("valid Ogg Opus");
        assert_eq!(head.channels, 1);
        assert_eq!(head.pre_skip, 312);
        assert_eq!(head.input_sample_rate, 48_000);
        assert_eq!(packets, vec![vec![0xf8, 1, 2], long, vec![0xf8]]);
    }

    #[test]
    fn packet_continued_on_the_next_page() {
        // 255 + 45 bytes: the first page ends on a 255 lacing value, the packet goes on.
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut first = page(1, 0, 0, &[&data[..255]]);
        // `page` closes with a 0 lacing value for a 255-byte packet: drop it to leave the
        // packet open.
        assert_eq!(first[26], 2);
        first[26] = 1;
        first.remove(PAGE_HEADER + 1);
        first[22..26].fill(0);
        let crc = crc32(&first);
        first[22..26].copy_from_slice(&crc.to_le_bytes());
        let mut second = page(1, 1, 0, &[&data[255..]]);
        second[5] |= 0x01;
        second[22..26].fill(0);
        let crc = crc32(&second);
        second[22..26].copy_from_slice(&crc.to_le_bytes());
        let mut file = first.clone();
        file.extend(&second);
        assert_eq!(packets(&file).expect("valid"), vec![data]);
        // The first page alone ends inside the packet.
        assert!(packets(&first).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        let good = page(1, 0, 0, &[&opus_head()]);
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        assert!(packets(&bad_crc).is_err(), "CRC");
        assert!(packets(&good[..20]).is_err(), "short header");
        assert!(packets(&good[..good.len() - 2]).is_err(), "short body");
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(packets(&magic).is_err(), "capture pattern");
        let mut cont = good.clone();
        cont[5] |= 1;
        cont[22..26].fill(0);
        let crc = crc32(&cont);
        cont[22..26].copy_from_slice(&crc.to_le_bytes());
        assert!(packets(&cont).is_err(), "continuation with nothing open");
        // Not Opus.
        assert!(opus_packets(&page(1, 0, 0, &[b"Vorbis"])).is_err());
        assert!(opus_packets(&good).is_err(), "no OpusTags");
        assert!(opus_packets(&[]).is_err(), "empty");
    }
}
