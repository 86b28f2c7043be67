//! Plain-RTP inputs against real sockets on 127.0.0.1: a UDP sender pushes synthetic RTP
//! (VP8 keyframes, Opus-like audio) into an input, and a real str0m peer routed from it
//! receives one continuous stream through sender restarts and bad datagrams.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use portunus_media::*;
use str0m::Event;
use str0m::change::SdpOffer;
use str0m::media::Mid;
use tokio::sync::mpsc::UnboundedReceiver;

mod common;
use common::*;

const LOCALHOST: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
const AUDIO_PT: u8 = 111;
const VIDEO_PT: u8 = 96;

/// An outside RTP sender (what ffmpeg or GStreamer would be).
struct Sender {
    rtp: UdpSocket,
    /// Bound on the RTP port + 1: where PLIs go before any RTCP came from the sender.
    rtcp_pair: UdpSocket,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Sender {
    /// Binds an RTP socket whose port + 1 is free too (a few tries).
    fn new(ssrc: u32, seq: u16) -> Sender {
        for _ in 0..50 {
            let rtp = UdpSocket::bind((LOCALHOST, 0)).unwrap();
            let port = rtp.local_addr().unwrap().port();
            if port == u16::MAX {
                continue;
            }
            if let Ok(rtcp_pair) = UdpSocket::bind((LOCALHOST, port + 1)) {
                rtcp_pair.set_nonblocking(true).unwrap();
                return Sender {
                    rtp,
                    rtcp_pair,
                    ssrc,
                    seq,
                    ts: 1000,
                };
            }
        }
        panic!("no free RTP/RTCP port pair");
    }

    fn packet(&self, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0x80, if marker { 0x80 | pt } else { pt }];
        d.extend_from_slice(&self.seq.to_be_bytes());
        d.extend_from_slice(&self.ts.to_be_bytes());
        d.extend_from_slice(&self.ssrc.to_be_bytes());
        d.extend_from_slice(payload);
        d
    }

    /// Sends one packet and moves the numbering on.
    fn send(&mut self, to: SocketAddr, pt: u8, payload: &[u8], ts_step: u32) {
        let d = self.packet(pt, true, payload);
        self.rtp.send_to(&d, to).unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(ts_step);
    }
}

fn vp8(keyframe: bool, i: u8) -> Vec<u8> {
    // Payload descriptor (S=1, partition 0), then the VP8 header: P=0 is a keyframe.
    let mut p = if keyframe {
        vec![0x10, 0x00, 0x9d, 0x01, 0x2a]
    } else {
        vec![0x10, 0x01, 0x00, 0x00, 0x00]
    };
    p.extend(std::iter::repeat_n(i, 60));
    p
}

fn opus(i: u8) -> Vec<u8> {
    let mut p = vec![0xfc];
    p.extend(std::iter::repeat_n(i, 40));
    p
}

fn stream(mid: &str, kind: MediaKind, port: u16, rtcp_port: Option<u16>) -> RtpInputStream {
    let audio = kind == MediaKind::Audio;
    RtpInputStream {
        mid: mid.into(),
        kind,
        codec: if audio { "opus" } else { "vp8" }.into(),
        clock_rate: if audio { 48_000 } else { 90_000 },
        channels: audio.then_some(2),
        pt: Some(if audio { AUDIO_PT } else { VIDEO_PT }),
        fmtp: None,
        port,
        rtcp_port,
    }
}

fn localhost_input(streams: Vec<RtpInputStream>) -> RtpInput {
    RtpInput {
        ip: IpAddr::V4(LOCALHOST),
        streams,
    }
}

fn free_port() -> u16 {
    UdpSocket::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A subscriber: a str0m peer that accepted a server offer of one audio and one video
/// m-line (sendonly from the server), connected.
fn subscriber(
    engine: &MediaEngine,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    handle: HandleId,
) -> (Client, Vec<String>) {
    let mut client = Client::new();
    let line = |kind, codec: &str| MediaOffer {
        mid: None,
        kind,
        direction: Direction::SendOnly,
        codecs: vec![codec.into()],
        stream_id: None,
    };
    let offer = engine
        .offer(
            handle,
            &OfferSpec {
                media: vec![
                    line(MediaKind::Audio, "opus"),
                    line(MediaKind::Video, "vp8"),
                ],
                data_channels: false,
                ice_restart: false,
            },
        )
        .unwrap();
    let answer = client
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer.sdp).unwrap())
        .unwrap();
    engine
        .remote_answer(handle, &answer.to_sdp_string())
        .unwrap();
    client.wait(ev, seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    (client, offer.mids)
}

fn route(source: HandleId, smid: &str, target: HandleId, tmid: &str) -> Route {
    Route {
        source: MediaRef {
            handle: source,
            mid: smid.into(),
        },
        target: MediaRef {
            handle: target,
            mid: tmid.into(),
        },
        layer: LayerChoice::default(),
        paused: false,
        auto_layer: false,
    }
}

/// (extended seq, timestamp, payload) of the RTP the client got on `mid`, from event `from`.
fn received(client: &mut Client, mid: &str, from: usize) -> Vec<(u64, u32, Vec<u8>)> {
    let mid = Mid::from(mid);
    let packets: Vec<_> = client.events[from..]
        .iter()
        .filter_map(|e| match e {
            Event::RtpPacket(p) => Some((
                p.header.ssrc,
                *p.seq_no,
                p.header.timestamp,
                p.payload.to_vec(),
            )),
            _ => None,
        })
        .collect();
    packets
        .into_iter()
        .filter(|(ssrc, ..)| client.rtc.direct_api().stream_rx(ssrc).map(|s| s.mid()) == Some(mid))
        .map(|(_, seq, ts, p)| (seq, ts, p))
        .collect()
}

/// Steps the client until it got at least `n` packets on `mid` since event `from`.
fn wait_received(
    client: &mut Client,
    mid: &str,
    from: usize,
    n: usize,
) -> Vec<(u64, u32, Vec<u8>)> {
    let start = Instant::now();
    loop {
        let got = received(client, mid, from);
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "got {} of {n} packets on {mid}",
            got.len()
        );
        client.step();
    }
}

/// The video stream's packet count once it reaches `want` (or after a while).
fn video_packets(engine: &MediaEngine, source: HandleId, want: u64) -> u64 {
    let start = Instant::now();
    loop {
        let stats = engine.rtp_input_stats(source).unwrap();
        assert_eq!(stats[1].mid, "v");
        if stats[1].packets >= want || start.elapsed() > Duration::from_secs(2) {
            // A moment more, to see none beyond.
            std::thread::sleep(Duration::from_millis(50));
            return engine.rtp_input_stats(source).unwrap()[1].packets;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_continuous(got: &[(u64, u32, Vec<u8>)]) {
    for w in got.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0 + 1,
            "sequence gap: {:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
    }
}

fn input_media(seen: &[MediaEvent], source: HandleId, mid: &str, receiving: bool) -> bool {
    seen.iter().any(|e| {
        *e == MediaEvent::InputMedia {
            source: MediaRef {
                handle: source,
                mid: mid.into(),
            },
            receiving,
        }
    })
}

/// Reads a PLI (from the input's RTCP port) on `socket`, stepping the client meanwhile.
fn wait_pli(
    client: &mut Client,
    socket: &UdpSocket,
    media_ssrc: u32,
    rtcp_port: u16,
) -> Option<Vec<u8>> {
    socket.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < Duration::from_secs(3) {
        client.step();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let d = buf[..n].to_vec();
            assert_eq!(
                from.port(),
                rtcp_port,
                "PLI comes from the input's RTCP port"
            );
            assert_eq!(&d[..4], &[0x81, 206, 0, 2], "a PLI: {d:?}");
            assert_eq!(
                &d[8..12],
                &media_ssrc.to_be_bytes(),
                "names the sender's SSRC"
            );
            return Some(d);
        }
    }
    None
}

#[test]
fn input_feeds_a_peer_continuously_through_restarts_and_bad_datagrams() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    // On different shards: packets cross between them.
    let (source, target): (HandleId, HandleId) = (1000, 31);
    let rtcp_port = free_port();
    let ports = engine
        .rtp_input_add(
            source,
            localhost_input(vec![
                stream("a", MediaKind::Audio, 0, None),
                stream("v", MediaKind::Video, 0, Some(rtcp_port)),
            ]),
        )
        .unwrap();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| *p != 0));
    let (audio_to, video_to) = (
        SocketAddr::from((LOCALHOST, ports[0])),
        SocketAddr::from((LOCALHOST, ports[1])),
    );
    let (mut client, mids) = subscriber(&engine, &mut ev, &mut seen, target);
    let (tmid_a, tmid_v) = (mids[0].clone(), mids[1].clone());

    // The sender starts before anyone watches: media is reported, nothing is forwarded.
    let mut audio = Sender::new(0xa0d1_0001, 100);
    let mut video = Sender::new(0x0123_4567, 65_500);
    let mut i = 0u8;
    let mut feed = |client: &mut Client, audio: &mut Sender, video: &mut Sender, n: usize| {
        for _ in 0..n {
            i = i.wrapping_add(1);
            audio.send(audio_to, AUDIO_PT, &opus(i), 960);
            video.send(video_to, VIDEO_PT, &vp8(i.is_multiple_of(10), i), 3000);
            client.step();
        }
    };
    feed(&mut client, &mut audio, &mut video, 5);
    client.wait(&mut ev, &mut seen, |_, s| {
        (input_media(s, source, "a", true) && input_media(s, source, "v", true)).then_some(())
    });

    // A viewer starts: the video route asks the sender for a keyframe, from the RTCP port
    // to the RTP source port + 1 (no RTCP came from the sender yet).
    let from = client.events.len();
    engine
        .route_add(route(source, "a", target, &tmid_a))
        .unwrap();
    engine
        .route_add(route(source, "v", target, &tmid_v))
        .unwrap();
    assert!(
        wait_pli(&mut client, &video.rtcp_pair, video.ssrc, rtcp_port).is_some(),
        "no PLI on route start"
    );
    // 70 packets on each stream: the sequence numbers wrap on the way (65 500 + 75).
    feed(&mut client, &mut audio, &mut video, 70);
    let got_v = wait_received(&mut client, &tmid_v, from, 70);
    let got_a = wait_received(&mut client, &tmid_a, from, 70);
    assert_continuous(&got_v);
    assert_continuous(&got_a);
    // Payloads arrive unchanged (VP8 descriptor without picture id: nothing to patch).
    assert!(got_v.iter().all(|(_, _, p)| p.len() == 65));

    // The sender restarts: new SSRC, new numbering, new timestamps. The viewer's stream
    // goes on from where it was.
    let before = got_v.last().cloned().unwrap();
    video = Sender::new(0x7654_3210, 9);
    video.ts = 5;
    audio.ssrc = 0xa0d1_0002;
    audio.seq = 30_000;
    let from = client.events.len();
    feed(&mut client, &mut audio, &mut video, 20);
    let got_v = wait_received(&mut client, &tmid_v, from, 20);
    assert_eq!(got_v[0].0, before.0 + 1, "no jump at the restart");
    assert!(
        got_v[0].1.wrapping_sub(before.1) < 90_000 * 5,
        "timestamp moves forward: {} → {}",
        before.1,
        got_v[0].1
    );
    assert_continuous(&got_v);

    // Datagrams that are not the stream's RTP are dropped; the input goes on afterwards.
    // 5 + 70 + 20 good video packets so far (the shard answers commands before it reads
    // what waits on its sockets, so wait for the count to settle).
    assert_eq!(video_packets(&engine, source, 95), 95);
    let bad: Vec<Vec<u8>> = vec![
        b"not rtp at all, just text".to_vec(),
        vec![0x80, VIDEO_PT, 0, 1, 0], // truncated header
        {
            let mut v1 = video.packet(VIDEO_PT, false, &vp8(false, 1));
            v1[0] = 0x40; // version 1
            v1
        },
        vec![0x80, 201, 0, 1, 0, 0, 0, 1], // RTCP RR on the RTP port
        video.packet(VIDEO_PT + 1, false, &vp8(false, 1)), // another payload type
        video.packet(VIDEO_PT, false, &[7u8; 3000]), // oversized
        {
            let mut pad = video.packet(VIDEO_PT, false, &[1, 2, 200]);
            pad[0] |= 0x20; // padding longer than the payload
            pad
        },
        {
            let mut ext = video.packet(VIDEO_PT, false, &[0xbe, 0xde, 0x00, 0x40]);
            ext[0] |= 0x10; // extension longer than the datagram
            ext
        },
    ];
    for b in &bad {
        video.rtp.send_to(b, video_to).unwrap();
    }
    let from = client.events.len();
    feed(&mut client, &mut audio, &mut video, 20);
    let got_v2 = wait_received(&mut client, &tmid_v, from, 20);
    assert_continuous(&[got_v.clone(), got_v2.clone()].concat());
    assert_eq!(
        video_packets(&engine, source, 115),
        115,
        "only the good packets were taken"
    );

    // The sender's RTCP teaches the input where PLIs go; a plugin's request (past the
    // throttle) goes there.
    let rtcp_sock = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    let rr = [0x80, 201, 0, 1, 0x76, 0x54, 0x32, 0x10];
    rtcp_sock
        .send_to(&rr, SocketAddr::from((LOCALHOST, rtcp_port)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    engine.request_keyframe(&MediaRef {
        handle: source,
        mid: "v".into(),
    });
    assert!(
        wait_pli(&mut client, &rtcp_sock, video.ssrc, rtcp_port).is_some(),
        "no PLI at the sender's RTCP address"
    );

    // The sender stops: media down after the no-media time.
    client.wait(&mut ev, &mut seen, |_, s| {
        (input_media(s, source, "a", false) && input_media(s, source, "v", false)).then_some(())
    });

    // Media resumes: viewers already routed get a keyframe asked for at once.
    feed(&mut client, &mut audio, &mut video, 3);
    assert!(
        wait_pli(&mut client, &rtcp_sock, video.ssrc, rtcp_port).is_some(),
        "no PLI when media resumed"
    );

    // Removing closes the ports (they bind again) and the routes from the input.
    engine.rtp_input_remove(source);
    for port in [ports[0], ports[1], rtcp_port] {
        UdpSocket::bind((LOCALHOST, port)).expect("port free after remove");
    }
    assert_eq!(engine.rtp_input_stats(source), None);
    engine.rtp_input_remove(source); // twice is fine
}

#[test]
fn bad_inputs_are_refused_and_leave_nothing_open() {
    let (engine, _ev) = start(2);
    let source: HandleId = 2000;
    let busy = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let taken = engine.rtp_input_add(
        source,
        localhost_input(vec![
            stream("a", MediaKind::Audio, 0, None),
            stream("v", MediaKind::Video, busy_port, None),
        ]),
    );
    match taken {
        Err(MediaError::Input(e)) => {
            assert!(e.contains("stream v") && e.contains("in use"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Same for an RTCP port in use.
    let rtcp_taken = engine.rtp_input_add(
        source,
        localhost_input(vec![stream("v", MediaKind::Video, 0, Some(busy_port))]),
    );
    assert!(
        matches!(&rtcp_taken, Err(MediaError::Input(e)) if e.contains("RTCP port")),
        "{rtcp_taken:?}"
    );
    // Nothing stayed: the id opens fine now, and only once.
    let ok = localhost_input(vec![stream("a", MediaKind::Audio, 0, None)]);
    engine.rtp_input_add(source, ok.clone()).unwrap();
    assert!(matches!(
        engine.rtp_input_add(source, ok),
        Err(MediaError::Input(_))
    ));
    // Descriptions the contract does not allow.
    let bad = [
        localhost_input(vec![]),
        localhost_input(vec![RtpInputStream {
            codec: "speex".into(),
            ..stream("a", MediaKind::Audio, 0, None)
        }]),
        localhost_input(vec![
            stream("a", MediaKind::Audio, 0, None),
            stream("a", MediaKind::Video, 0, None),
        ]),
    ];
    for b in bad {
        assert!(
            matches!(
                engine.rtp_input_add(3000, b.clone()),
                Err(MediaError::Input(_))
            ),
            "{b:?}"
        );
    }
    // A keyframe request for an input without RTCP is a no-op (and does not crash).
    engine.request_keyframe(&MediaRef {
        handle: source,
        mid: "a".into(),
    });
    engine.rtp_input_remove(source);
    drop(busy);
}

/// A sender restarting with a fixed SSRC (GStreamer `ssrc`, ffmpeg `-ssrc`) and a new
/// start sequence a little behind the old one, and timestamps elsewhere: the viewer's stream
/// goes on (no packets dropped as duplicates, timestamps rebased), and a late packet of
/// the run before the restart is dropped rather than switched back to.
#[test]
fn a_restart_with_a_fixed_ssrc_behind_the_old_numbering_stays_continuous() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let (source, target): (HandleId, HandleId) = (2000, 41);
    let ports = engine
        .rtp_input_add(
            source,
            localhost_input(vec![stream("a", MediaKind::Audio, 0, None)]),
        )
        .unwrap();
    let to = SocketAddr::from((LOCALHOST, ports[0]));
    let (mut client, mids) = subscriber(&engine, &mut ev, &mut seen, target);
    engine
        .route_add(route(source, "a", target, &mids[0]))
        .unwrap();

    let mut audio = Sender::new(0x5eed_0001, 5000);
    audio.ts = 1_000_000;
    let from = client.events.len();
    for i in 0..30u8 {
        audio.send(to, AUDIO_PT, &opus(i), 960);
        client.step();
    }
    let got = wait_received(&mut client, &mids[0], from, 30);
    assert_continuous(&got);
    let before = got.last().cloned().unwrap();

    // Restarted: same SSRC, numbering 600 behind, a fresh timestamp base.
    let old = (audio.seq, audio.ts);
    audio.seq = 4400;
    audio.ts = 3_000_000_000;
    let from = client.events.len();
    for i in 0..10u8 {
        audio.send(to, AUDIO_PT, &opus(100 + i), 960);
        client.step();
    }
    // A late packet of the old run, then the new one goes on.
    let mut stray = Sender::new(0x5eed_0001, old.0);
    stray.ts = old.1;
    stray.send(to, AUDIO_PT, &opus(99), 960);
    for i in 10..20u8 {
        audio.send(to, AUDIO_PT, &opus(100 + i), 960);
        client.step();
    }
    let got = wait_received(&mut client, &mids[0], from, 20);
    assert_eq!(got[0].0, before.0 + 1, "no jump at the restart");
    assert!(
        got[0].1.wrapping_sub(before.1) < 48_000 * 5,
        "timestamp rebased, moving forward: {} → {}",
        before.1,
        got[0].1
    );
    assert_continuous(&got);
    assert!(
        got.iter().all(|(_, _, p)| p[1] != 99),
        "the late packet of the old run was dropped"
    );
    // Counted: 30 + 20, not the stray one.
    let start_wait = Instant::now();
    while engine.rtp_input_stats(source).unwrap()[0].packets < 50
        && start_wait.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(engine.rtp_input_stats(source).unwrap()[0].packets, 50);
    engine.rtp_input_remove(source);
}
