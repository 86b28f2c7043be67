//! Media-core features the VideoRoom needs, each against a real str0m client on loopback:
//! server offers that keep, add and deactivate m-lines with chosen codecs; SSRC-signalled
//! simulcast; AV1 SVC layers chosen by the dependency descriptor.

use std::net::UdpSocket;
use std::time::Duration;

use portunus_media::*;
use str0m::Event;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction as StrDir, MediaKind as StrKind, Mid};
use tokio::sync::mpsc::UnboundedReceiver;

mod common;
use common::*;

fn line(mid: Option<&str>, kind: MediaKind, direction: Direction, codecs: &[&str]) -> MediaOffer {
    MediaOffer {
        mid: mid.map(str::to_string),
        kind,
        direction,
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        stream_id: None,
    }
}

fn spec(media: Vec<MediaOffer>) -> OfferSpec {
    OfferSpec {
        media,
        data_channels: false,
        ice_restart: false,
    }
}

/// The client accepts a server offer; the engine takes its answer.
fn client_accepts(
    engine: &MediaEngine,
    client: &mut Client,
    handle: HandleId,
    offer: &str,
) -> SdpSummary {
    let answer = client
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(offer).expect("offer parses"))
        .expect("client accepts the offer");
    engine
        .remote_answer(handle, &answer.to_sdp_string())
        .expect("engine takes the answer")
}

#[test]
fn server_offer_keeps_adds_deactivates_and_restricts_codecs() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let handle: HandleId = 31;
    let mut client = Client::new();

    let first = engine
        .offer(
            handle,
            &spec(vec![
                line(None, MediaKind::Audio, Direction::SendOnly, &[]),
                line(None, MediaKind::Video, Direction::SendOnly, &["VP9", "vp8"]),
            ]),
        )
        .unwrap();
    let offered = sdp::summarize(&first.sdp, false);
    let offered_mids: Vec<&str> = offered.media.iter().map(|m| m.mid.as_str()).collect();
    assert_eq!(offered_mids, first.mids, "{}", first.sdp);
    let (audio, video) = (first.mids[0].clone(), first.mids[1].clone());
    assert!(
        offered.media[0].codecs.contains(&"opus".to_string()),
        "{}",
        first.sdp
    );
    // Only the asked codecs, in the asked order (and their RTX, which the summary hides).
    assert_eq!(offered.media[1].codecs, ["vp9", "vp8"], "{}", first.sdp);
    assert!(first.sdp.contains("apt="), "RTX kept: {}", first.sdp);
    assert!(first.sdp.contains("a=msid:janus "), "{}", first.sdp);
    let answered = client_accepts(&engine, &mut client, handle, &first.sdp);
    assert!(
        answered.media[1]
            .codecs
            .iter()
            .all(|c| c == "vp9" || c == "vp8"),
        "{answered:?}"
    );
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });

    // Bad specs are refused before anything changes.
    let bad = [
        spec(vec![line(
            Some("zz"),
            MediaKind::Video,
            Direction::SendOnly,
            &[],
        )]),
        spec(vec![line(
            Some(&audio),
            MediaKind::Video,
            Direction::SendOnly,
            &[],
        )]),
        spec(vec![
            line(Some(&video), MediaKind::Video, Direction::SendOnly, &[]),
            line(Some(&video), MediaKind::Video, Direction::SendOnly, &[]),
        ]),
        spec(vec![line(
            None,
            MediaKind::Video,
            Direction::SendOnly,
            &["nope"],
        )]),
        spec(vec![line(
            None,
            MediaKind::Audio,
            Direction::SendOnly,
            &["vp8"],
        )]),
    ];
    for b in &bad {
        assert!(
            matches!(engine.offer(handle, b), Err(MediaError::WrongState(_))),
            "{b:?}"
        );
    }

    // Renegotiation: keep the video line (now sendrecv), add an H.264 line, leave audio out.
    let second = engine
        .offer(
            handle,
            &spec(vec![
                line(Some(&video), MediaKind::Video, Direction::SendRecv, &[]),
                line(None, MediaKind::Video, Direction::SendOnly, &["h264"]),
            ]),
        )
        .unwrap();
    assert_eq!(second.mids[0], video);
    let added = second.mids[1].clone();
    assert!(added != audio && added != video, "{second:?}");
    let offered = sdp::summarize(&second.sdp, true);
    let offered_mids: Vec<&str> = offered.media.iter().map(|m| m.mid.as_str()).collect();
    assert_eq!(offered_mids, [&audio, &video, &added], "{}", second.sdp);
    assert_eq!(
        offered.media[0].direction,
        Direction::Inactive,
        "{}",
        second.sdp
    );
    assert_eq!(
        offered.media[1].direction,
        Direction::SendRecv,
        "{}",
        second.sdp
    );
    assert_eq!(
        offered.media[2].direction,
        Direction::SendOnly,
        "{}",
        second.sdp
    );
    assert_eq!(offered.media[2].codecs, ["h264"], "{}", second.sdp);
    let answered = client_accepts(&engine, &mut client, handle, &second.sdp);
    assert_eq!(answered.media.len(), 3);
    assert_eq!(answered.media[2].codecs, ["h264"], "{answered:?}");
    assert_eq!(
        answered.media[0].direction,
        Direction::Inactive,
        "{answered:?}"
    );

    // The PeerConnection lived through it.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        client.step();
    }
    while let Ok(e) = ev.try_recv() {
        seen.push(e);
    }
    assert!(
        !seen.iter().any(|e| matches!(e, MediaEvent::Hangup { .. })),
        "{seen:?}"
    );
    engine.destroy(handle);
}

/// Adds SSRC-signalled simulcast to the m-line `mid` of a client offer, as Chromium writes
/// it without RIDs: `a=ssrc-group:SIM` (lowest first) plus an FID group per layer.
fn add_sim_group(offer: &str, mid: &str, layers: &[(u32, u32)]) -> String {
    let mut out = String::new();
    let mut in_mid = false;
    let mut pending = false;
    let flush = |out: &mut String| {
        let main: Vec<String> = layers.iter().map(|(m, _)| m.to_string()).collect();
        out.push_str(&format!("a=ssrc-group:SIM {}\r\n", main.join(" ")));
        for (m, r) in layers {
            out.push_str(&format!(
                "a=ssrc-group:FID {m} {r}\r\na=ssrc:{m} cname:sim\r\na=ssrc:{r} cname:sim\r\n"
            ));
        }
    };
    for l in offer.lines() {
        let l = l.trim_end_matches('\r');
        if l.starts_with("m=") {
            if pending {
                flush(&mut out);
                pending = false;
            }
            in_mid = false;
        }
        if l == format!("a=mid:{mid}") {
            in_mid = true;
            pending = true;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    if pending && in_mid {
        flush(&mut out);
    }
    out
}

/// The layer byte of payloads the client received on `mid` since event `from`.
fn received_layers(client: &mut Client, mid: Mid, from: usize) -> Vec<u8> {
    let packets: Vec<(str0m::rtp::Ssrc, Vec<u8>)> = client.events[from..]
        .iter()
        .filter_map(|e| match e {
            Event::RtpPacket(p) => Some((p.header.ssrc, p.payload.to_vec())),
            _ => None,
        })
        .collect();
    packets
        .into_iter()
        .filter(|(ssrc, _)| client.rtc.direct_api().stream_rx(ssrc).map(|s| s.mid()) == Some(mid))
        .filter_map(|(_, p)| p.get(5).copied())
        .collect()
}

#[test]
fn ssrc_simulcast_layers_are_selected_by_sim_group_order() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let handle: HandleId = 41;
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
    let view = api.add_media(StrKind::Video, StrDir::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let offer = offer.to_sdp_string();
    // Three layers declared by hand (the client's own send stream stays unused).
    let layers = [
        (0x1111_0001, 0x1111_0002),
        (0x2222_0001, 0x2222_0002),
        (0x3333_0001, 0x3333_0002),
    ];
    let munged = add_sim_group(&offer, &video.to_string(), &layers);
    let summary = engine.remote_offer(handle, &munged).unwrap();
    let v = summary
        .media
        .iter()
        .find(|m| m.mid == video.to_string())
        .unwrap();
    assert_eq!(v.simulcast_layers, 3, "{munged}");
    assert!(v.rids.is_empty());
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    // str0m's pacer sends one stream per (mid, rid), so the client's layers get RIDs of
    // their own; the server knows them by SSRC (the SIM group), which wins.
    for (i, (m, r)) in layers.iter().enumerate() {
        let rid = ["a", "b", "c"][i];
        client.rtc.direct_api().declare_stream_tx(
            (*m).into(),
            Some((*r).into()),
            video,
            Some(rid.into()),
        );
    }
    let route = engine
        .route_add(Route {
            source: MediaRef {
                handle,
                mid: video.to_string(),
            },
            target: MediaRef {
                handle,
                mid: view.to_string(),
            },
            layer: LayerChoice {
                substream: Some(1),
                temporal: None,
            },
            paused: false,
            auto_layer: false,
        })
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let pt = client.pt_for(Codec::Vp8);
    let mut seq = 1u64;
    let send_round = |client: &mut Client, seq: &mut u64| {
        for (layer, (ssrc, _)) in layers.iter().enumerate() {
            // VP8 keyframes; byte 5 names the layer.
            let payload = vec![0x10, 0x00, 0x9d, 0x01, 0x2a, layer as u8, 0, 0, 0, 0];
            let mut api = client.rtc.direct_api();
            let tx = api.stream_tx(&(*ssrc).into()).expect("declared stream");
            tx.write_rtp(str0m::rtp::RtpWrite::new(
                pt,
                str0m::rtp::SeqNo::from(*seq),
                (*seq as u32) * 3000,
                std::time::Instant::now(),
                payload,
            ));
        }
        *seq += 1;
        client.step();
    };
    let from = client.events.len();
    let got = loop {
        send_round(&mut client, &mut seq);
        let got = received_layers(&mut client, view, from);
        if got.iter().filter(|l| **l == 1).count() >= 10 {
            break got;
        }
        assert!(
            seq < 500,
            "layer 1 not forwarded: {got:?}; engine events {seen:?}"
        );
    };
    // Until layer 1 shows up the router forwards what there is; then only layer 1.
    let first1 = got.iter().position(|l| *l == 1).unwrap();
    assert!(got[first1..].iter().all(|l| *l == 1), "{got:?}");

    engine
        .route_update(
            route,
            LayerChoice {
                substream: Some(0),
                temporal: None,
            },
            false,
        )
        .unwrap();
    let from = client.events.len();
    let got = loop {
        send_round(&mut client, &mut seq);
        let got = received_layers(&mut client, view, from);
        if got.iter().filter(|l| **l == 0).count() >= 10 {
            break got;
        }
        assert!(seq < 1000, "no switch to layer 0: {got:?}");
    };
    // After the switch only layer 0 arrives (a layer-1 packet may precede it).
    let first0 = got.iter().position(|l| *l == 0).unwrap();
    assert!(got[first0..].iter().all(|l| *l == 0), "{got:?}");
    // Each change of the forwarded layer was reported once, ending with layer 0.
    while let Ok(e) = ev.try_recv() {
        seen.push(e);
    }
    let changes: Vec<Option<u8>> = seen
        .iter()
        .filter_map(|e| match e {
            MediaEvent::LayerChanged {
                route: r,
                target,
                substream,
                ..
            } if *r == route && target.handle == handle && target.mid == view.to_string() => {
                Some(*substream)
            }
            _ => None,
        })
        .collect();
    assert_eq!(changes.last(), Some(&Some(0)), "{seen:?}");
    assert!(changes.contains(&Some(1)), "{changes:?}");
    assert!(
        changes.windows(2).all(|w| w[0] != w[1]),
        "repeated layer events: {changes:?}"
    );
    engine.destroy(handle);
}

/// Sends `n` Opus packets on `mid` carrying the audio level `level` (-dBov).
fn send_audio_levels(client: &mut Client, mid: Mid, seq: &mut u64, n: usize, level: i8) {
    let pt = client.pt_for(Codec::Opus);
    for _ in 0..n {
        let ext = str0m::rtp::ExtensionValues {
            audio_level: Some(-level),
            voice_activity: Some(true),
            ..Default::default()
        };
        let mut api = client.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("client send stream");
        tx.write_rtp(
            str0m::rtp::RtpWrite::new(
                pt,
                str0m::rtp::SeqNo::from(*seq),
                (*seq as u32) * 960,
                std::time::Instant::now(),
                vec![0xfc, 1, 2, 3],
            )
            .ext_vals(ext),
        );
        *seq += 1;
        client.step();
    }
}

fn talk_events(seen: &[MediaEvent]) -> Vec<(bool, f32)> {
    seen.iter()
        .filter_map(|e| match e {
            MediaEvent::TalkChanged {
                talking,
                level_dbov_avg,
                ..
            } => Some((*talking, *level_dbov_avg)),
            _ => None,
        })
        .collect()
}

#[test]
fn talk_detection_reports_changes_from_audio_levels() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let handle: HandleId = 51;
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let audio = api.add_media(StrKind::Audio, StrDir::SendOnly, None, None, None);
    let video = api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let summary = engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    assert!(summary.media[0].audio_level, "{}", offer.to_sdp_string());
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let source = MediaRef {
        handle,
        mid: audio.to_string(),
    };
    let config = TalkDetection {
        active_packets: 10,
        level_average: 25,
    };
    // Bad requests.
    let video_ref = MediaRef {
        handle,
        mid: video.to_string(),
    };
    assert!(matches!(
        engine.talk_detect(&video_ref, Some(config)),
        Err(MediaError::WrongState(_))
    ));
    let nowhere = MediaRef {
        handle,
        mid: "nope".into(),
    };
    assert!(matches!(
        engine.talk_detect(&nowhere, Some(config)),
        Err(MediaError::WrongState(_))
    ));
    let stranger = MediaRef {
        handle: 999,
        mid: audio.to_string(),
    };
    assert_eq!(
        engine.talk_detect(&stranger, Some(config)),
        Err(MediaError::NoPeer(999))
    );
    for bad in [
        TalkDetection {
            active_packets: 0,
            level_average: 25,
        },
        TalkDetection {
            active_packets: 10,
            level_average: 128,
        },
    ] {
        assert!(matches!(
            engine.talk_detect(&source, Some(bad)),
            Err(MediaError::WrongState(_))
        ));
    }

    engine.talk_detect(&source, Some(config)).unwrap();
    let mut seq = 1;
    send_audio_levels(&mut client, audio, &mut seq, 30, 10);
    let loud = client.wait(&mut ev, &mut seen, |_, s| {
        let t = talk_events(s);
        (!t.is_empty()).then_some(t)
    });
    assert_eq!(loud, [(true, -10.0)]);
    // Silence: one "stopped talking".
    send_audio_levels(&mut client, audio, &mut seq, 30, 90);
    let quiet = client.wait(&mut ev, &mut seen, |_, s| {
        let t = talk_events(s);
        (t.len() >= 2).then_some(t)
    });
    assert_eq!(quiet, [(true, -10.0), (false, -90.0)]);
    let source_in_event = seen.iter().find_map(|e| match e {
        MediaEvent::TalkChanged { source, .. } => Some(source.clone()),
        _ => None,
    });
    assert_eq!(source_in_event, Some(source.clone()));

    // Stopped: loud packets report nothing more.
    engine.talk_detect(&source, None).unwrap();
    send_audio_levels(&mut client, audio, &mut seq, 30, 5);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        client.step();
    }
    while let Ok(e) = ev.try_recv() {
        seen.push(e);
    }
    assert_eq!(talk_events(&seen).len(), 2, "{seen:?}");
    engine.destroy(handle);
}

/// A client publishing one video m-line (sendonly), connected.
fn video_publisher(
    engine: &MediaEngine,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    handle: HandleId,
) -> (Client, Mid) {
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    client.wait(ev, seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    (client, video)
}

/// A subscriber: a server offer with one send-only VP8 m-line, accepted by a new client, and
/// the route from the publisher's `video` to it (not added).
fn video_subscriber(
    engine: &MediaEngine,
    sub: HandleId,
    publisher: HandleId,
    video: Mid,
) -> (Client, Route) {
    let mut client = Client::new();
    let offer = engine
        .offer(
            sub,
            &spec(vec![line(
                None,
                MediaKind::Video,
                Direction::SendOnly,
                &["vp8"],
            )]),
        )
        .unwrap();
    client_accepts(engine, &mut client, sub, &offer.sdp);
    let route = Route {
        source: MediaRef {
            handle: publisher,
            mid: video.to_string(),
        },
        target: MediaRef {
            handle: sub,
            mid: offer.mids[0].clone(),
        },
        layer: LayerChoice::default(),
        paused: false,
        auto_layer: false,
    };
    (client, route)
}

fn vp8_payload(i: u64) -> Vec<u8> {
    let mut p = vec![0x10, 0x00, 0x9d, 0x01, 0x2a];
    p.extend(std::iter::repeat_n(i as u8, 30 + (i % 7) as usize));
    p
}

/// Plain RTP datagrams read from `sock` until none come for a while: (seq, ts, pt, ssrc, payload).
fn read_rtp(sock: &UdpSocket, quiet: Duration) -> Vec<(u16, u32, u8, u32, Vec<u8>)> {
    sock.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let d = &buf[..n];
        assert!(n >= 12 && d[0] >> 6 == 2, "not RTP: {d:?}");
        out.push((
            u16::from_be_bytes([d[2], d[3]]),
            u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            d[1] & 0x7f,
            u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
            d[12..].to_vec(),
        ));
    }
    out
}

#[test]
fn rtp_forwarder_sends_plain_rtp_and_takes_keyframe_requests() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let handle: HandleId = 61;
    let (mut client, video) = video_publisher(&engine, &mut ev, &mut seen, handle);
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp_port = {
        // A free local port for the forwarder's RTCP socket.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let source = MediaRef {
        handle,
        mid: video.to_string(),
    };
    let fw = |dest: std::net::SocketAddr| RtpForward {
        source: source.clone(),
        dest,
        ssrc: Some(0x1234_5678),
        pt: Some(100),
        substream: None,
        rtcp_port: None,
    };
    let dest = receiver.local_addr().unwrap();

    // Bad requests.
    for bad in [
        fw("127.0.0.1:0".parse().unwrap()),
        fw("0.0.0.0:5004".parse().unwrap()),
        fw("[::1]:5004".parse().unwrap()),
        RtpForward {
            pt: Some(200),
            ..fw(dest)
        },
        RtpForward {
            rtcp_port: Some(0),
            ..fw(dest)
        },
        RtpForward {
            source: MediaRef {
                handle,
                mid: "nope".into(),
            },
            ..fw(dest)
        },
    ] {
        assert!(
            matches!(
                engine.rtp_forward_add(bad.clone()),
                Err(MediaError::Forward(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        engine.rtp_forward_add(RtpForward {
            source: MediaRef {
                handle: 999,
                mid: "0".into()
            },
            ..fw(dest)
        }),
        Err(MediaError::NoPeer(999))
    );

    let before = client.events.len();
    let id = engine
        .rtp_forward_add(RtpForward {
            rtcp_port: Some(rtcp_port),
            ..fw(dest)
        })
        .unwrap();
    // A busy RTCP port is an error, not a panic.
    assert!(matches!(
        engine.rtp_forward_add(RtpForward {
            rtcp_port: Some(rtcp_port),
            ..fw(dest)
        }),
        Err(MediaError::Io(_))
    ));
    // Starting asks the publisher for a keyframe.
    client.wait(&mut ev, &mut seen, |e, _| {
        e[before..]
            .iter()
            .any(|e| matches!(e, Event::KeyframeRequest(r) if r.mid == video))
            .then_some(())
    });

    let pt = client.pt_for(Codec::Vp8);
    let sent: Vec<Vec<u8>> = (1..=40).map(vp8_payload).collect();
    for (i, p) in sent.iter().enumerate() {
        client.send_rtp(video, pt, 1000 + i as u64, p.clone());
        client.step();
    }
    let got = read_rtp(&receiver, Duration::from_millis(300));
    assert!(got.len() >= 35, "forwarded {} of 40", got.len());
    for w in got.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].1.wrapping_sub(w[0].1), 960, "timestamp step");
    }
    for (_, _, pt, ssrc, payload) in &got {
        assert_eq!((*pt, *ssrc), (100, 0x1234_5678));
        assert!(sent.contains(payload), "payload changed");
    }

    // A PLI from the receiver to the RTCP port reaches the publisher (past the throttle).
    std::thread::sleep(Duration::from_millis(600));
    let before = client.events.len();
    let pli = [0x81, 206, 0, 2, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    let rtcp_dest: std::net::SocketAddr = format!("127.0.0.1:{rtcp_port}").parse().unwrap();
    receiver.send_to(&pli, rtcp_dest).unwrap();
    // The shard reads the RTCP socket when it wakes (its timers wake it regularly).
    client.wait(&mut ev, &mut seen, |e, _| {
        e[before..]
            .iter()
            .any(|e| matches!(e, Event::KeyframeRequest(r) if r.mid == video))
            .then_some(())
    });
    let _ = read_rtp(&receiver, Duration::from_millis(50));

    // Removed: nothing more arrives while the publisher keeps sending.
    engine.rtp_forward_remove(id);
    engine.rtp_forward_remove(id); // unknown ids are ignored
    std::thread::sleep(Duration::from_millis(100));
    let _ = read_rtp(&receiver, Duration::from_millis(100));
    for i in 0..20 {
        client.send_rtp(video, pt, 2000 + i, vp8_payload(i));
        client.step();
    }
    assert!(read_rtp(&receiver, Duration::from_millis(300)).is_empty());

    // Forwarders of a destroyed handle go away with it (the RTCP port is free again).
    let id2 = engine.rtp_forward_add(RtpForward {
        rtcp_port: Some(rtcp_port),
        ..fw(dest)
    });
    assert!(id2.is_ok(), "{id2:?}");
    engine.destroy(handle);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        UdpSocket::bind(rtcp_dest).is_ok(),
        "RTCP socket still bound"
    );
}

/// A routed packet lost on its way to the subscriber is resent from the send stream's
/// cache when the subscriber's str0m NACKs it (as RTX, which str0m negotiates for VP8).
#[test]
fn nack_from_a_subscriber_is_answered_with_the_lost_packet() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let handle: HandleId = 71;
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    echo_routes(&engine, handle, &[video]);
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let pt = client.pt_for(Codec::Vp8);
    // Some packets first so the client's receive stream is established, then a loss.
    for i in 1..=10 {
        client.send_rtp(video, pt, i, vp8_payload(i));
        client.step();
    }
    client.drop_rtp_at = Some(client.rtp_in + 5);
    for i in 11..=40 {
        client.send_rtp(video, pt, i, vp8_payload(i));
        client.step();
    }
    let lost = client.wait_state(&mut ev, &mut seen, |c, _| c.dropped_seqs.first().copied());
    // The client NACKs the gap; the resend brings the same sequence number back.
    let got = client.wait(&mut ev, &mut seen, |events, _| {
        events.iter().find_map(|e| match e {
            Event::RtpPacket(p) if (*p.seq_no as u16) == lost => Some(p.payload.to_vec()),
            _ => None,
        })
    });
    assert!(
        (1..=40).any(|i| vp8_payload(i) == got),
        "resent payload differs"
    );
}

/// Steps the publisher for `d`; true when it got a keyframe request for `video` meanwhile.
fn publisher_asked(
    publisher: &mut Client,
    video: Mid,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    d: Duration,
) -> bool {
    let before = publisher.events.len();
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        publisher.step();
        while let Ok(e) = ev.try_recv() {
            seen.push(e);
        }
        if publisher.events[before..]
            .iter()
            .any(|e| matches!(e, Event::KeyframeRequest(r) if r.mid == video))
        {
            return true;
        }
    }
    false
}

#[test]
fn a_new_route_target_gets_a_keyframe_requested_from_its_source() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let publisher: HandleId = 81;
    let (mut pubc, video) = video_publisher(&engine, &mut ev, &mut seen, publisher);
    // Let the keyframe throttle of anything during setup run out.
    assert!(!publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_millis(600)
    ));

    // A route to a subscriber whose PeerConnection is not up yet: nothing to ask for yet.
    let sub: HandleId = 82;
    let (mut subc, route) = video_subscriber(&engine, sub, publisher, video);
    let id = engine.route_add(route.clone()).unwrap();
    assert!(!publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_millis(300)
    ));
    // The subscriber's PeerConnection comes up: the publisher is asked.
    subc.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle: sub })
            .then_some(())
    });
    assert!(publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_secs(2)
    ));

    // A route added to a subscriber already up asks at once (past the throttle)...
    engine.route_remove(id);
    assert!(!publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_millis(600)
    ));
    let id = engine.route_add(route.clone()).unwrap();
    assert!(publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_secs(2)
    ));
    // ... but not again within the throttle, however many routes come: once it ends.
    engine.route_remove(id);
    let id = engine.route_add(route.clone()).unwrap();
    assert!(!publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_millis(300)
    ));
    assert!(publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_secs(2)
    ));

    // A paused route asks nothing; resuming it asks (the throttle has run out by then).
    engine.route_remove(id);
    let id = engine
        .route_add(Route {
            paused: true,
            ..route.clone()
        })
        .unwrap();
    assert!(!publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_millis(600)
    ));
    engine
        .route_update(id, LayerChoice::default(), false)
        .unwrap();
    assert!(publisher_asked(
        &mut pubc,
        video,
        &mut ev,
        &mut seen,
        Duration::from_secs(2)
    ));
    engine.destroy(sub);
    engine.destroy(publisher);
}

/// A PeerConnection made for sending only (a subscriber) leaves out the transport-wide
/// sequence number, so its client sends REMB (what auto-layer reads) instead of transport-cc
/// feedback; one that also receives keeps it (a publisher's browser adapts to our feedback).
#[test]
fn send_only_offers_leave_out_transport_cc_and_others_keep_it() {
    let (engine, _ev) = start(1);
    let twcc = "transport-wide-cc";
    let subscriber = engine
        .offer(
            41,
            &spec(vec![
                line(None, MediaKind::Audio, Direction::SendOnly, &[]),
                line(None, MediaKind::Video, Direction::SendOnly, &[]),
            ]),
        )
        .unwrap();
    assert!(!subscriber.sdp.contains(twcc), "{}", subscriber.sdp);
    assert!(
        subscriber.sdp.contains("abs-send-time") && subscriber.sdp.contains("goog-remb"),
        "REMB needs both: {}",
        subscriber.sdp
    );
    let both_ways = engine
        .offer(
            42,
            &spec(vec![line(None, MediaKind::Video, Direction::SendRecv, &[])]),
        )
        .unwrap();
    assert!(both_ways.sdp.contains(twcc), "{}", both_ways.sdp);

    // A client's offer with transport-cc gets it in the answer (a publisher).
    let mut client = Client::new();
    let (offer, _pending) = {
        let mut api = client.rtc.sdp_api();
        api.add_media(StrKind::Audio, StrDir::SendOnly, None, None, None);
        api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
        api.apply().expect("client offer")
    };
    let offer = offer.to_sdp_string();
    assert!(offer.contains(twcc), "{offer}");
    engine.remote_offer(43, &offer).unwrap();
    let answer = engine.answer(43, &AnswerSpec::default()).unwrap();
    assert!(answer.contains(twcc), "{answer}");
}

/// An L2T2 AV1 dependency descriptor (template id offset 5, 4 decode targets S0T0 S0T1
/// S1T0 S1T1), built from the spec's bit layout: with the structure (keyframe picture's S0
/// frame) or naming one of its templates. Templates by index: S0 key, S0T0, S0T1,
/// S1 on keyframes (inter-layer only), S1T0, S1T1.
fn l2t2_dd(template_index: u8, frame: u16, attach: bool) -> Vec<u8> {
    let mut bits: Vec<bool> = Vec::new();
    let mut put = |v: u32, n: u32| {
        for i in (0..n).rev() {
            bits.push(v >> i & 1 == 1);
        }
    };
    put(1, 1); // start of frame
    put(1, 1); // end of frame (one packet per layer frame)
    put((u32::from(template_index) + 5) % 64, 6);
    put(u32::from(frame), 16);
    if attach {
        put(0b10000, 5); // structure present, nothing custom
        put(5, 6); // template id offset
        put(3, 5); // 4 decode targets
        for idc in [0, 1, 2, 0, 1, 3] {
            put(idc, 2); // layers: S0T0 S0T0 S0T1 | S1T0 S1T0 S1T1
        }
        // Decode target indications, 2 bits each (- 0, D 1, S 2, R 3).
        for dtis in ["SSSS", "SSSS", "-D-R", "--SS", "--RR", "---D"] {
            for c in dtis.chars() {
                put(
                    match c {
                        '-' => 0,
                        'D' => 1,
                        'S' => 2,
                        _ => 3,
                    },
                    2,
                );
            }
        }
        let fdiffs: [&[u32]; 6] = [&[], &[4], &[2], &[1], &[4, 1], &[2, 1]];
        for f in fdiffs {
            for d in f {
                put(1, 1);
                put(d - 1, 4);
            }
            put(0, 1);
        }
        put(0, 2); // no chains
        put(0, 1); // no resolutions
    }
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        if *b {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

#[test]
fn av1_svc_layers_are_filtered_by_dependency_descriptor() {
    use portunus_media::router::av1_dd::{DD_URI, DdBytes, DdSerializer};
    use str0m::rtp::Extension;

    let (engine, mut ev) = start_av1_dd(1);
    let mut seen = Vec::new();
    let handle: HandleId = 61;
    // A client that speaks AV1 only and the dependency descriptor, as Chrome does for SVC.
    let config = str0m::RtcConfig::new()
        .clear_codecs()
        .enable_av1(true)
        .set_extension(
            12,
            Extension::with_serializer(DD_URI, DdSerializer::always()),
        );
    let mut client = Client::with_config(config);
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
    let view = api.add_media(StrKind::Video, StrDir::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    assert!(answer.contains("AV1/90000"), "{answer}");
    assert!(answer.contains(DD_URI), "{answer}");
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    let route = engine
        .route_add(Route {
            source: MediaRef {
                handle,
                mid: video.to_string(),
            },
            target: MediaRef {
                handle,
                mid: view.to_string(),
            },
            layer: LayerChoice {
                substream: Some(0),
                temporal: Some(0),
            },
            paused: false,
            auto_layer: false,
        })
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let pt = client.pt_for(Codec::Av1);
    let mut seq = 1u64;
    // One picture = two packets (S0, S1); the payload's first bytes name picture, spatial
    // and temporal layer. Every 8th picture is a keyframe picture carrying the structure;
    // the others alternate T1 and T0.
    let mut picture = 0u16;
    let mut send_picture = |client: &mut Client, seq: &mut u64| {
        let n = picture;
        picture += 1;
        let key = n.is_multiple_of(8);
        let tid = if key { 0 } else { (n % 2) as u8 };
        for sid in 0..2u8 {
            let index = match (key, sid, tid) {
                (true, 0, _) => 0,
                (true, _, _) => 3,
                (false, 0, t) => 1 + t,
                (false, _, t) => 4 + t,
            };
            let dd = l2t2_dd(index, n.wrapping_mul(2) + u16::from(sid), key && sid == 0);
            let mut ext = str0m::rtp::ExtensionValues::default();
            ext.user_values.set(DdBytes::new(&dd).unwrap());
            let payload = vec![(n >> 8) as u8, n as u8, sid, tid, 0xaa, 0xbb, 0xcc, 0xdd];
            let mut api = client.rtc.direct_api();
            let tx = api
                .stream_tx_by_mid(video, None)
                .expect("client send stream");
            tx.write_rtp(
                str0m::rtp::RtpWrite::new(
                    pt,
                    str0m::rtp::SeqNo::from(*seq),
                    u32::from(n) * 3000,
                    std::time::Instant::now(),
                    payload,
                )
                .marker(sid == 1)
                .ext_vals(ext),
            );
            *seq += 1;
        }
        client.step();
    };
    // (picture, sid, tid, marker, descriptor) of what the client got back on `view`.
    let received = |client: &mut Client, from: usize| {
        let got: Vec<_> = client.events[from..]
            .iter()
            .filter_map(|e| match e {
                Event::RtpPacket(p) if p.payload.len() >= 4 => Some((
                    p.header.ssrc,
                    (
                        u16::from_be_bytes([p.payload[0], p.payload[1]]),
                        p.payload[2],
                        p.payload[3],
                        p.header.marker,
                        p.header
                            .ext_vals
                            .user_values
                            .get::<DdBytes>()
                            .map(|d| d.as_slice().to_vec()),
                    ),
                )),
                _ => None,
            })
            .collect();
        got.into_iter()
            .filter(|(ssrc, _)| {
                client.rtc.direct_api().stream_rx(ssrc).map(|s| s.mid()) == Some(view)
            })
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
    };
    let from = client.events.len();
    let got = loop {
        send_picture(&mut client, &mut seq);
        let got = received(&mut client, from);
        if got.len() >= 12 {
            break got;
        }
        assert!(seq < 2000, "too little forwarded: {got:?}; {seen:?}");
    };
    // Only the base spatial and temporal layer, each closing its picture with the marker,
    // the descriptor forwarded as sent.
    for (n, sid, tid, marker, dd) in &got {
        assert_eq!((*sid, *tid), (0, 0), "{got:?}");
        assert!(*marker, "{got:?}");
        let key = n.is_multiple_of(8);
        let index = if key { 0 } else { 1 };
        assert_eq!(
            dd.as_deref(),
            Some(&l2t2_dd(index, n * 2, key)[..]),
            "picture {n}"
        );
    }

    // All layers: the temporal layer climbs at the next T0 picture; S1 at a keyframe.
    engine
        .route_update(
            route,
            LayerChoice {
                substream: Some(1),
                temporal: Some(1),
            },
            false,
        )
        .unwrap();
    let from = client.events.len();
    let got = loop {
        send_picture(&mut client, &mut seq);
        let got = received(&mut client, from);
        if got.iter().filter(|g| g.1 == 1 && g.2 == 1).count() >= 3 {
            break got;
        }
        assert!(seq < 4000, "upper layers not forwarded: {got:?}; {seen:?}");
    };
    // S1 starts at a keyframe picture; after it every layer of every picture arrives, the
    // marker on S1 only.
    let first_s1 = got.iter().position(|g| g.1 == 1).unwrap();
    assert_eq!(got[first_s1].0 % 8, 0, "S1 starts at a keyframe: {got:?}");
    let after = &got[first_s1 - 1..];
    for w in after.chunks(2) {
        if let [a, b] = w {
            assert_eq!((a.0, a.1, b.0, b.1), (a.0, 0, a.0, 1), "{after:?}");
            assert!(!a.3 && b.3, "{after:?}");
        }
    }
    assert!(got.iter().any(|g| g.1 == 0 && g.2 == 1), "{got:?}");
    engine.destroy(handle);
}

/// With VP8 negotiated and not AV1, a descriptor the client sends anyway (browsers do once
/// the extension is negotiated) is not kept: the forwarded packets carry none, so VP8 pays
/// nothing for the AV1 support.
#[test]
fn dependency_descriptor_is_not_kept_for_vp8() {
    use portunus_media::router::av1_dd::{DD_URI, DdBytes, DdSerializer};
    use str0m::rtp::Extension;

    let (engine, mut ev) = start_av1_dd(1);
    let mut seen = Vec::new();
    let handle: HandleId = 62;
    let config = str0m::RtcConfig::new()
        .clear_codecs()
        .enable_vp8(true)
        .set_extension(
            12,
            Extension::with_serializer(DD_URI, DdSerializer::always()),
        );
    let mut client = Client::with_config(config);
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendOnly, None, None, None);
    let view = api.add_media(StrKind::Video, StrDir::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    assert!(answer.contains(DD_URI), "{answer}");
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    engine
        .route_add(Route {
            source: MediaRef {
                handle,
                mid: video.to_string(),
            },
            target: MediaRef {
                handle,
                mid: view.to_string(),
            },
            layer: LayerChoice::default(),
            paused: false,
            auto_layer: false,
        })
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let pt = client.pt_for(Codec::Vp8);
    let from = client.events.len();
    for seq in 1..400u64 {
        let mut ext = str0m::rtp::ExtensionValues::default();
        ext.user_values
            .set(DdBytes::new(&l2t2_dd(0, seq as u16, true)).unwrap());
        let mut api = client.rtc.direct_api();
        let tx = api
            .stream_tx_by_mid(video, None)
            .expect("client send stream");
        tx.write_rtp(
            str0m::rtp::RtpWrite::new(
                pt,
                str0m::rtp::SeqNo::from(seq),
                seq as u32 * 3000,
                std::time::Instant::now(),
                vp8_payload(seq),
            )
            .marker(true)
            .ext_vals(ext),
        );
        client.step();
        let got: Vec<bool> = client.events[from..]
            .iter()
            .filter_map(|e| match e {
                Event::RtpPacket(p) => {
                    Some(p.header.ext_vals.user_values.get::<DdBytes>().is_some())
                }
                _ => None,
            })
            .collect();
        if got.len() >= 10 {
            assert!(got.iter().all(|has| !has), "{got:?}");
            engine.destroy(handle);
            return;
        }
    }
    panic!("VP8 not forwarded; {seen:?}");
}

/// The AV1 dependency descriptor is offered only when the setting asks for it: negotiated,
/// it changes what Chromium's VP8 simulcast publishers send (temporal switching breaks).
#[test]
fn the_dependency_descriptor_is_offered_only_when_enabled() {
    use portunus_media::router::av1_dd::DD_URI;
    let video = || spec(vec![line(None, MediaKind::Video, Direction::SendOnly, &[])]);
    let (engine, _ev) = start(1);
    let plain = engine.offer(71, &video()).unwrap();
    assert!(!plain.sdp.contains(DD_URI), "{}", plain.sdp);
    let (engine, _ev) = start_av1_dd(1);
    let av1 = engine.offer(72, &video()).unwrap();
    assert!(av1.sdp.contains(DD_URI), "{}", av1.sdp);
}

/// Routed RTP to a send-only subscriber takes the native send path (`[media]
/// native_egress`, on by default), and the subscriber's own str0m sees what it would see
/// from str0m's path: every packet opens and carries the payload sent, a packet the client
/// lost is resent when it NACKs it, and the sender reports count the packets and map RTP
/// time to the wallclock (not str0m's zero counts and RTP time 0 for a stream it did not
/// send itself). The same checks pass with the native path off.
#[test]
fn native_send_path_carries_media_resends_and_true_sender_reports() {
    for native in [true, false] {
        let (engine, mut ev) = start_with(MediaConfig {
            workers: 1,
            native_egress: native,
            ..Default::default()
        });
        let mut seen = Vec::new();
        let publisher: HandleId = 91;
        let (mut pubc, video) = video_publisher(&engine, &mut ev, &mut seen, publisher);
        let sub: HandleId = 92;
        let (mut subc, route) = video_subscriber(&engine, sub, publisher, video);
        engine.route_add(route).unwrap();
        subc.wait(&mut ev, &mut seen, |_, s| {
            s.contains(&MediaEvent::WebrtcUp { handle: sub })
                .then_some(())
        });
        assert_eq!(engine.native_egress(sub), native, "native path in use");

        // 2.4 s of packets, one per 20 ms; the subscriber drops its 6th on arrival.
        let pt = pubc.pt_for(Codec::Vp8);
        subc.drop_rtp_at = Some(subc.rtp_in + 6);
        for i in 1..=120u64 {
            pubc.send_rtp(video, pt, i, vp8_payload(i));
            let until = std::time::Instant::now() + Duration::from_millis(20);
            while std::time::Instant::now() < until {
                pubc.step();
                subc.step();
            }
        }
        for _ in 0..50 {
            subc.step();
        }
        assert!(
            subc.events.iter().all(|e| match e {
                Event::RtpPacket(p) => p.header.ext_vals.abs_send_time.is_some(),
                _ => true,
            }),
            "native={native}: every packet carries abs-send-time (the client's REMB needs it)"
        );
        let received: Vec<(u16, u32, Vec<u8>, std::time::Instant)> = subc
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RtpPacket(p) => Some((
                    *p.seq_no as u16,
                    p.header.timestamp,
                    p.payload.to_vec(),
                    p.timestamp,
                )),
                _ => None,
            })
            .collect();
        assert!(
            received.len() >= 110,
            "native={native}: {} packets",
            received.len()
        );
        assert!(
            received
                .iter()
                .all(|(_, _, payload, _)| (1..=120).any(|i| vp8_payload(i) == *payload)),
            "native={native}: a payload differs from what was sent"
        );
        let lost = *subc.dropped_seqs.first().expect("a packet was dropped");
        assert!(
            received.iter().any(|(seq, ..)| *seq == lost),
            "native={native}: lost seq {lost} was not resent"
        );

        // The last sender report: its packet count and its RTP time against the packets'.
        let sr = subc
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::SenderFeedback(f) => Some(*f),
                _ => None,
            })
            .expect("a sender report");
        let info = sr.sender_info;
        let before: Vec<_> = received
            .iter()
            .filter(|(.., at)| *at <= sr.received_at)
            .collect();
        assert!(
            info.sender_packet_count as usize >= before.len().saturating_sub(2)
                && info.sender_packet_count as usize <= received.len() + 1,
            "native={native}: SR counts {} packets, {} had arrived before it",
            info.sender_packet_count,
            before.len()
        );
        let (_, last_ts, ..) = before.last().expect("packets before the SR");
        let drift = (info.rtp_time.numer() as u32).wrapping_sub(*last_ts) as i32;
        // Within 0.1 s at 90 kHz of the newest packet's timestamp (str0m's path would say
        // 0 for a stream it did not send, a random offset away).
        assert!(
            drift.unsigned_abs() < 9_000,
            "native={native}: SR RTP time {} vs last packet {last_ts}",
            info.rtp_time.numer()
        );
        engine.destroy(sub);
        engine.destroy(publisher);
    }
}
