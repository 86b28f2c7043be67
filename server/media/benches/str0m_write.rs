//! str0m's share of a forwarded packet: `write_rtp` on a direct-API send stream, then
//! `poll_output` until the datagram comes out (RTP header, extensions, SRTP seal with the
//! profile str0m negotiates, the NACK cache), for one connected peer in RTP mode, as the
//! shard does it. The two peers are wired in memory; no sockets.
//! Run: cargo bench -p portunus-media --bench str0m_write.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portunus_media::batch::SendBatch;
use portunus_media::router::keyframe::{VideoCodec, describe};
use portunus_media::router::{CodecInfo, ForwardPacket, RouterShard, source_key};
use portunus_media::{LayerChoice, MediaRef, Route};
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Input, Output, Rtc, RtcConfig};

/// Hands every pending datagram of `from` to `to`; returns `from`'s next timeout.
fn pump(from: &mut Rtc, to: &mut Rtc, now: Instant) -> Instant {
    loop {
        match from.poll_output().expect("poll_output") {
            Output::Transmit(t) => {
                let contents = (&t.contents[..]).try_into().expect("datagram");
                to.handle_input(Input::Receive(
                    now,
                    Receive {
                        proto: Protocol::Udp,
                        source: t.source,
                        destination: t.destination,
                        contents,
                    },
                ))
                .expect("handle_input");
            }
            Output::Timeout(t) => return t,
            Output::Event(_) => {}
        }
    }
}

/// Two peers in RTP mode, ICE and DTLS done; `l` has a video send stream on mid "v".
fn connect() -> (Rtc, Rtc, Instant) {
    let mut now = Instant::now();
    let mut l = RtcConfig::new().set_rtp_mode(true).build(now);
    let mut r = RtcConfig::new().set_rtp_mode(true).build(now);
    let a = Candidate::host("10.0.0.1:1000".parse().expect("addr"), "udp").expect("cand");
    let b = Candidate::host("10.0.0.2:2000".parse().expect("addr"), "udp").expect("cand");
    l.add_local_candidate(a.clone());
    l.add_remote_candidate(b.clone());
    r.add_local_candidate(b);
    r.add_remote_candidate(a);
    let fl = l.direct_api().local_dtls_fingerprint().clone();
    let fr = r.direct_api().local_dtls_fingerprint().clone();
    l.direct_api().set_remote_fingerprint(fr);
    r.direct_api().set_remote_fingerprint(fl);
    let cl = l.direct_api().local_ice_credentials();
    let cr = r.direct_api().local_ice_credentials();
    l.direct_api().set_remote_ice_credentials(cr);
    r.direct_api().set_remote_ice_credentials(cl);
    l.direct_api().set_ice_controlling(true);
    r.direct_api().set_ice_controlling(false);
    l.direct_api().start_dtls(true).expect("dtls");
    r.direct_api().start_dtls(false).expect("dtls");
    let mid = Mid::from("v");
    l.direct_api().declare_media(mid, MediaKind::Video);
    l.direct_api()
        .declare_stream_tx(0x1234.into(), None, mid, None);
    r.direct_api().declare_media(mid, MediaKind::Video);
    for _ in 0..10_000 {
        if l.is_connected() && r.is_connected() {
            break;
        }
        let tl = pump(&mut l, &mut r, now);
        let tr = pump(&mut r, &mut l, now);
        now = now.max(tl.min(tr).min(now + Duration::from_millis(10)));
        now += Duration::from_micros(100);
        l.handle_input(Input::Timeout(now)).expect("timeout");
        r.handle_input(Input::Timeout(now)).expect("timeout");
    }
    assert!(
        l.is_connected() && r.is_connected(),
        "peers did not connect"
    );
    (l, r, now)
}

fn bench(c: &mut Criterion) {
    str0m::crypto::from_feature_flags().install_process_default();
    let (mut l, mut r, mut now) = connect();
    let mid = Mid::from("v");
    let pt = l
        .codec_config()
        .find(|p| p.spec().codec == Codec::Vp8)
        .map(|p| p.pt())
        .expect("VP8 payload type");
    // The stream really sends: one packet comes out as one SRTP datagram.
    {
        let mut api = l.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("send stream");
        tx.write_rtp(RtpWrite::new(
            pt,
            SeqNo::from(0),
            0,
            now,
            vec![0x10u8; 1200],
        ));
        let mut out = 0;
        for _ in 0..100 {
            match l.poll_output() {
                Ok(Output::Transmit(t)) => out = out.max(t.contents.len()),
                Ok(Output::Timeout(t)) if t <= now => {
                    let _ = l.handle_input(Input::Timeout(now));
                }
                Ok(Output::Timeout(_)) if out == 0 => {
                    now += Duration::from_millis(1);
                    let _ = l.handle_input(Input::Timeout(now));
                }
                Ok(Output::Timeout(_)) | Err(_) => break,
                Ok(Output::Event(_)) => {}
            }
        }
        assert!(
            out > 1200,
            "no SRTP datagram for a written packet ({out} bytes)"
        );
    }
    let mut g = c.benchmark_group("str0m");
    for size in [100usize, 1200] {
        let payload: Arc<[u8]> = Arc::from(vec![0x10u8; size]);
        let mut seq = u64::from(size == 1200) * 1_000_000;
        let first = seq;
        let mut media_out = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("write_rtp_poll_output", size), |b| {
            b.iter(|| {
                seq += 1;
                // Time moves as packets do (30 µs per packet) so timers stay realistic.
                now += Duration::from_micros(30);
                let mut api = l.direct_api();
                let tx = api.stream_tx_by_mid(mid, None).expect("send stream");
                tx.write_rtp(
                    RtpWrite::new(
                        pt,
                        SeqNo::from(seq),
                        (seq as u32) * 90,
                        now,
                        payload.clone(),
                    )
                    .marker(true)
                    .nackable(true),
                );
                let mut bytes = 0;
                loop {
                    match l.poll_output() {
                        Ok(Output::Transmit(t)) => {
                            bytes += t.contents.len();
                            media_out += u64::from(t.contents.len() > size);
                            // STUN (first byte 0 or 1): let the other side answer, so ICE
                            // consent holds over the virtual minutes a run lasts.
                            if t.contents.first().is_some_and(|b| *b < 2) {
                                let contents = (&t.contents[..]).try_into().expect("datagram");
                                let _ = r.handle_input(Input::Receive(
                                    now,
                                    Receive {
                                        proto: Protocol::Udp,
                                        source: t.source,
                                        destination: t.destination,
                                        contents,
                                    },
                                ));
                                pump(&mut r, &mut l, now);
                            }
                        }
                        Ok(Output::Timeout(t)) => {
                            if t <= now {
                                let _ = l.handle_input(Input::Timeout(now));
                                continue;
                            }
                            break;
                        }
                        Ok(Output::Event(_)) => {}
                        Err(_) => break,
                    }
                }
                black_box(bytes)
            })
        });
        // Every written packet came out as a datagram (none stuck in a queue).
        let written = seq - first;
        assert!(
            media_out * 100 >= written * 99,
            "{media_out} datagrams for {written} packets"
        );
    }
    g.finish();
}

/// The target side of a forwarded packet, whole: one incoming VP8 packet is described and
/// wrapped once, then for each of 8 subscribers routed (layer filter, renumbering, VP8
/// patch), written to its peer and polled out (SRTP), and queued; the batch leaves with
/// sendmmsg + GSO to loopback receivers. Per forwarded datagram.
fn fanout(c: &mut Criterion) {
    const TARGETS: usize = 8;
    let mid = Mid::from("v");
    let mut peers: Vec<(Rtc, Rtc)> = Vec::new();
    let mut now = Instant::now();
    for _ in 0..TARGETS {
        let (l, r, t) = connect();
        now = now.max(t);
        peers.push((l, r));
    }
    let pt = peers[0]
        .0
        .codec_config()
        .find(|p| p.spec().codec == Codec::Vp8)
        .map(|p| p.pt())
        .expect("VP8 payload type");
    let mut router = RouterShard::default();
    for i in 0..TARGETS {
        router.add_target(
            i as u64,
            Route {
                source: MediaRef {
                    handle: 1000,
                    mid: "v".into(),
                },
                target: MediaRef {
                    handle: i as u64,
                    mid: "v".into(),
                },
                layer: LayerChoice::default(),
                paused: false,
                auto_layer: false,
            },
        );
    }
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sink.set_nonblocking(true).expect("nonblocking");
    let rxs: Vec<UdpSocket> = (0..TARGETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let dests: Vec<_> = rxs.iter().map(|s| s.local_addr().expect("addr")).collect();
    let fd = sink.as_raw_fd();
    let mut payload = vec![0x90u8, 0xe0, 0x80, 0x01, 1, 0x00, 0x00];
    payload.resize(1100, 0xab);
    let mut g = c.benchmark_group("forward_path");
    for gso in [false, true] {
        let mut batch = SendBatch::new(gso);
        let mut seq = 0u64;
        g.throughput(Throughput::Elements((TARGETS * 4) as u64));
        let name = if gso { "mmsg_gso" } else { "mmsg" };
        g.bench_function(BenchmarkId::new(name, "4pkt_x8"), |b| {
            b.iter(|| {
                // A burst of 4 packets of one frame (one loop iteration's work).
                for _ in 0..4 {
                    seq += 1;
                    now += Duration::from_micros(30);
                    let mid_ = Mid::from("v");
                    let desc = describe(VideoCodec::Vp8, &payload);
                    let p = Arc::new(ForwardPacket {
                        source: 1000,
                        source_mid: mid_,
                        layer: None,
                        key: source_key(1000, &mid_, None),
                        seq,
                        timestamp: (seq as u32) * 90,
                        marker: true,
                        codec: CodecInfo {
                            codec: Codec::Vp8,
                            clock_rate: 90_000,
                            channels: None,
                            h264: None,
                        },
                        desc,
                        payload: Arc::from(&payload[..]),
                        ext: ExtensionValues::default(),
                        arrival: now,
                    });
                    for (i, (l, _)) in peers.iter_mut().enumerate() {
                        let Some(d) = router.deliver(i as u64, &p, 7) else {
                            continue;
                        };
                        let Some(out) = d.out else { continue };
                        let mut w = RtpWrite::new(
                            pt,
                            SeqNo::from(out.seq),
                            out.timestamp,
                            now,
                            p.payload.clone(),
                        )
                        .marker(out.marker)
                        .nackable(true);
                        if let Some(patch) = out.vp8 {
                            w = w.vp8_patch(patch);
                        }
                        l.direct_api()
                            .stream_tx_by_mid(mid, None)
                            .expect("send stream")
                            .write_rtp(w);
                        loop {
                            match l.poll_output() {
                                Ok(Output::Transmit(t)) => batch.push(0, dests[i], &t.contents),
                                Ok(Output::Timeout(t)) if t <= now => {
                                    let _ = l.handle_input(Input::Timeout(now));
                                }
                                Ok(Output::Event(_)) => {}
                                _ => break,
                            }
                        }
                    }
                }
                batch.flush(|_| Some(fd));
            })
        });
        assert!(batch.stats.datagrams >= batch.stats.syscalls);
    }
    g.finish();
}

criterion_group!(benches, bench, fanout);
criterion_main!(benches);
