//! Opus packet durations from the TOC byte (RFC 6716 section 3.1): what the RTP timestamp
//! advances by (48 kHz clock) for one packet, one packet per RTP packet (RFC 7587).

/// Samples at 48 kHz of one frame of TOC configuration `config` (0..=31).
fn frame_samples(config: u8) -> u32 {
    match config {
        // SILK: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    }
}

/// Samples at 48 kHz in an Opus packet, or `None` for a malformed one (empty, code 3
/// without its count byte, or over the 120 ms RFC 6716 allows).
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame_samples(toc >> 3) * frames;
    (samples > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(packet_samples(&[0xf8, 0]), Some(960)); // CELT FB 20 ms, one frame
        assert_eq!(packet_samples(&[0x78]), Some(960)); // SILK WB 20 ms
        assert_eq!(packet_samples(&[0x79]), Some(1920)); // two 20 ms frames
        assert_eq!(packet_samples(&[0xe0]), Some(120)); // CELT 2.5 ms
        assert_eq!(packet_samples(&[0x1b, 0x02]), Some(5760)); // two 60 ms SILK frames (code 3)
        assert_eq!(packet_samples(&[0x1b, 0x03]), None); // 180 ms: over the limit
        assert_eq!(packet_samples(&[0xfb, 0x00]), None); // code 3, zero frames
        assert_eq!(packet_samples(&[0xfb]), None); // code 3 without count
        assert_eq!(packet_samples(&[]), None);
    }
}
