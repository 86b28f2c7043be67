use super::*;

const ADDR_L: &str = "127.0.0.1:1000";
const ADDR_R: &str = "127.0.0.1:2000";

/// The selected pair the peer would pass in.
fn path() -> (SocketAddr, SocketAddr) {
    (ADDR_L.parse().unwrap(), ADDR_R.parse().unwrap())
}

/// Our side (DTLS server) and what the remote (DTLS client) would hold.
fn pair() -> (NativeEgress, Keys) {
    let material: Vec<u8> = (0..88u8).map(|i| i.wrapping_mul(37)).collect();
    let ours = Keys::from_keying_material(Aead::Aes256Gcm, &material, false).unwrap();
    let theirs = Keys::from_keying_material(Aead::Aes256Gcm, &material, true).unwrap();
    let mut e = NativeEgress::new(&ours).unwrap();
    e.add_stream(
        Mid::from("1"),
        0xCAFE,
        ExtIds {
            abs_send_time: Some(2),
            ..Default::default()
        },
        true,
    );
    (e, theirs)
}

fn outgoing(payload: &Arc<[u8]>, seq: u64, arrival: Instant) -> Outgoing<'_> {
    Outgoing {
        pt: 96,
        marker: false,
        seq,
        timestamp: 90_000,
        clock_rate: 90_000,
        payload,
        picture: None,
        audio_level: None,
        video_orientation: None,
        video_content_type: None,
        arrival,
    }
}

fn sent_by(
    e: &mut NativeEgress,
    f: impl FnOnce(&mut NativeEgress, &mut dyn FnMut(SocketAddr, SocketAddr, &[u8])),
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut send = |l: SocketAddr, r: SocketAddr, d: &[u8]| {
        assert_eq!(
            (l.to_string(), r.to_string()),
            (ADDR_L.into(), ADDR_R.into())
        );
        out.push(d.to_vec());
    };
    f(e, &mut send);
    out
}

fn nack(media: u32, pid: u16, blp: u16) -> Vec<u8> {
    let mut p = vec![0x81, 205, 0, 3];
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    p.extend_from_slice(&pid.to_be_bytes());
    p.extend_from_slice(&blp.to_be_bytes());
    p
}

#[test]
fn sent_packets_open_with_the_remotes_keys() {
    let (mut e, theirs) = pair();
    let payload: Arc<[u8]> = Arc::from(&b"hello vp8"[..]);
    let now = Instant::now();
    let sent = sent_by(&mut e, |e, send| {
        e.send(
            now,
            Mid::from("1"),
            &outgoing(&payload, 0x1_0005, now),
            path(),
            send,
        )
        .unwrap();
        // Unknown mid: nothing.
        e.send(
            now,
            Mid::from("9"),
            &outgoing(&payload, 1, now),
            path(),
            send,
        )
        .unwrap();
    });
    assert_eq!(sent.len(), 1);
    let p = &sent[0];
    assert_eq!(p[0], 0x90, "V=2 with an extension block");
    assert_eq!(&p[2..4], &5u16.to_be_bytes());
    assert_eq!(&p[8..12], &0xCAFEu32.to_be_bytes());
    let header_len = 12 + 4 + 4;
    let opener = RtpSealer::new(&theirs.remote).unwrap();
    assert_eq!(
        opener.open(p, header_len, 0xCAFE, 0x1_0005).as_deref(),
        Some(&b"hello vp8"[..]),
        "sealed with the ROC of the extended sequence number"
    );
    assert!(opener.open(p, header_len, 0xCAFE, 5).is_none());
    assert_eq!(e.packets(Mid::from("1")), Some(1));
}

#[test]
fn nacked_packets_are_resent_byte_for_byte_once_per_gap() {
    let (mut e, theirs) = pair();
    let to_us = RtcpCipher::new(&theirs.local).unwrap();
    let payload: Arc<[u8]> = Arc::from(&[1u8, 2, 3][..]);
    let t0 = Instant::now();
    // Enough sent that the resend budget (15% of the bytes) covers three resends.
    let first = sent_by(&mut e, |e, send| {
        for seq in 10..60u64 {
            e.send(
                t0,
                Mid::from("1"),
                &outgoing(&payload, seq, t0),
                path(),
                send,
            )
            .unwrap();
        }
    });
    // NACK 12, and 13 and 15 by bitmask; one for another SSRC.
    let mut rtcp = nack(0xCAFE, 12, 0b101);
    rtcp.extend(nack(0xBEEF, 12, 0));
    let srtcp = to_us.seal(&rtcp, 1).unwrap();
    let resent = sent_by(&mut e, |e, send| {
        e.on_rtcp(t0 + Duration::from_millis(30), &srtcp, path(), send)
    });
    assert_eq!(
        resent,
        [first[2].clone(), first[3].clone(), first[5].clone()]
    );
    // Asked again at once: within the gap, nothing.
    let again = to_us.seal(&rtcp, 2).unwrap();
    assert!(
        sent_by(&mut e, |e, send| e.on_rtcp(
            t0 + Duration::from_millis(31),
            &again,
            path(),
            send
        ))
        .is_empty()
    );
    // The same datagram replayed later (past the gap): its NACKs are not answered again.
    assert!(
        sent_by(&mut e, |e, send| e.on_rtcp(
            t0 + Duration::from_millis(80),
            &srtcp,
            path(),
            send
        ))
        .is_empty()
    );
    // Too old, unknown, tampered: nothing.
    let late = to_us.seal(&nack(0xCAFE, 11, 0), 3).unwrap();
    assert!(
        sent_by(&mut e, |e, send| e.on_rtcp(
            t0 + Duration::from_secs(2),
            &late,
            path(),
            send
        ))
        .is_empty()
    );
    let unknown = to_us.seal(&nack(0xCAFE, 500, 0), 4).unwrap();
    assert!(sent_by(&mut e, |e, send| e.on_rtcp(t0, &unknown, path(), send)).is_empty());
    let mut bad = to_us.seal(&nack(0xCAFE, 14, 0), 5).unwrap();
    bad[10] ^= 0xff;
    assert!(sent_by(&mut e, |e, send| e.on_rtcp(t0, &bad, path(), send)).is_empty());
    assert!(
        sent_by(&mut e, |e, send| e.on_rtcp(
            t0,
            &[0x80, 201, 0],
            path(),
            send
        ))
        .is_empty()
    );
}

#[test]
fn sender_reports_get_the_native_counts_and_rtp_time() {
    let (mut e, theirs) = pair();
    let from_us = RtcpCipher::new(&theirs.remote).unwrap();
    let own = RtcpCipher::new(&e_keys_local()).unwrap();
    let payload: Arc<[u8]> = Arc::from(&[0u8; 100][..]);
    let arrival = Instant::now();
    sent_by(&mut e, |e, send| {
        for seq in 0..3u64 {
            e.send(
                arrival,
                Mid::from("1"),
                &outgoing(&payload, seq, arrival),
                path(),
                send,
            )
            .unwrap();
        }
    });
    // What str0m would send: an SR for our SSRC with zero counts, then an SDES.
    let ntp = 0xE000_0000_8000_0000u64;
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend_from_slice(&0xCAFEu32.to_be_bytes());
    sr.extend_from_slice(&ntp.to_be_bytes());
    sr.extend_from_slice(&[0u8; 12]);
    sr.extend_from_slice(&[0x81, 202, 0, 1, 0, 0, 0xCA, 0xFE]);
    let sealed = own.seal(&sr, 42).unwrap();
    let rewritten = e
        .rewrite_outgoing(arrival + Duration::from_millis(500), &sealed)
        .expect("the SR is ours");
    let (plain, index) = from_us.open(&rewritten).unwrap();
    assert_eq!(index, 42, "the SRTCP index str0m chose is kept");
    assert_eq!(&plain[..16], &sr[..16]);
    assert_eq!(&plain[28..], &sr[28..]);
    let rtp_time = u32::from_be_bytes(plain[16..20].try_into().unwrap());
    let packets = u32::from_be_bytes(plain[20..24].try_into().unwrap());
    let octets = u32::from_be_bytes(plain[24..28].try_into().unwrap());
    assert_eq!((packets, octets), (3, 300));
    // The newest packet's 90000, 0.5 s later at 90 kHz.
    assert_eq!(rtp_time, 90_000 + 45_000);
    // A datagram without our SRs, or one we cannot open, is left to str0m as it is.
    let mut rr = vec![0x80, 201, 0, 1];
    rr.extend_from_slice(&1u32.to_be_bytes());
    let now = Instant::now();
    assert!(
        e.rewrite_outgoing(now, &own.seal(&rr, 43).unwrap())
            .is_none()
    );
    assert!(e.rewrite_outgoing(now, &sealed[..10]).is_none());
}

/// The local keys `pair` gives our side.
fn e_keys_local() -> keys::SessionKeys {
    let material: Vec<u8> = (0..88u8).map(|i| i.wrapping_mul(37)).collect();
    Keys::from_keying_material(Aead::Aes256Gcm, &material, false)
        .unwrap()
        .local
}

#[test]
fn rtcp_is_told_from_rtp() {
    assert!(is_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 1]));
    assert!(is_rtcp(&[0x81, 205, 0, 3, 0, 0, 0, 1]));
    assert!(!is_rtcp(&[0x80, 96, 0, 6, 0, 0, 0, 1]));
    assert!(!is_rtcp(&[0x80, 0xE0, 0, 6, 0, 0, 0, 1]), "marker + PT 96");
    assert!(!is_rtcp(&[0x80, 200]));
}

#[test]
fn abs_send_time_is_6_18_fixed_point() {
    assert_eq!(abs_send_time(Duration::from_secs(1)), 1 << 18);
    assert_eq!(abs_send_time(Duration::from_millis(500)), 1 << 17);
    assert_eq!(abs_send_time(Duration::from_secs(64)), 0, "wraps at 64 s");
}

#[test]
fn an_index_is_never_sealed_twice() {
    let (mut e, _) = pair();
    let a: Arc<[u8]> = Arc::from(&b"first"[..]);
    let b: Arc<[u8]> = Arc::from(&b"other"[..]);
    let t0 = Instant::now();
    let mid = Mid::from("1");
    let sent = sent_by(&mut e, |e, send| {
        e.send(t0, mid, &outgoing(&a, 100, t0), path(), send)
            .unwrap();
        // The same source packet again (or another with its number): not sealed again.
        let later = t0 + Duration::from_millis(5);
        e.send(later, mid, &outgoing(&b, 100, t0), path(), send)
            .unwrap();
        // Out of order but never sent: fine, once.
        e.send(t0, mid, &outgoing(&a, 99, t0), path(), send)
            .unwrap();
        e.send(t0, mid, &outgoing(&a, 99, t0), path(), send)
            .unwrap();
        // Far ahead, then one too old for the resend ring to tell: dropped.
        e.send(t0, mid, &outgoing(&a, 2000, t0), path(), send)
            .unwrap();
        e.send(t0, mid, &outgoing(&a, 101, t0), path(), send)
            .unwrap();
    });
    let seqs: Vec<u16> = sent
        .iter()
        .map(|p| u16::from_be_bytes([p[2], p[3]]))
        .collect();
    assert_eq!(seqs, [100, 99, 2000]);
}

#[test]
fn resends_stop_at_the_budget() {
    let (mut e, theirs) = pair();
    let to_us = RtcpCipher::new(&theirs.local).unwrap();
    let payload: Arc<[u8]> = Arc::from(&[5u8; 1000][..]);
    let t0 = Instant::now();
    sent_by(&mut e, |e, send| {
        for seq in 0..20u64 {
            e.send(
                t0,
                Mid::from("1"),
                &outgoing(&payload, seq, t0),
                path(),
                send,
            )
            .unwrap();
        }
    });
    // 20 packets sent bank 15% of their bytes: three resends, not sixteen.
    let nack_all = to_us.seal(&nack(0xCAFE, 0, 0xffff), 1).unwrap();
    let resent = sent_by(&mut e, |e, send| e.on_rtcp(t0, &nack_all, path(), send));
    assert_eq!(resent.len(), 3);
}
