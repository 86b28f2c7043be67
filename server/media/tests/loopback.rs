//! A real str0m client peer (its own UDP socket on 127.0.0.1) against a started engine.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use portunus_media::*;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction as StrDir, MediaKind as StrKind, Mid};
use str0m::{Event, IceConnectionState};
use tokio::sync::mpsc::UnboundedReceiver;

mod common;
use common::*;

#[test]
fn client_offer_echo_data_garbage_and_hangup() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let server = engine.local_addrs()[0];
    // Odd and even handles land on different shards.
    let handle: HandleId = 7;
    let mut client = Client::new();

    // A candidate trickled before any SDP is queued, not an error.
    let early = client.rtc.direct_api().local_ice_credentials();
    assert!(!early.ufrag.is_empty());
    engine
        .add_remote_candidate(
            handle,
            TrickleCandidate::Candidate {
                candidate: format!(
                    "a=candidate:1 1 udp 2130706431 {} {} typ host",
                    client.addr.ip(),
                    client.addr.port()
                ),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            },
        )
        .unwrap();

    let mut api = client.rtc.sdp_api();
    let audio = api.add_media(StrKind::Audio, StrDir::SendRecv, None, None, None);
    let video = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
    api.add_channel("chat".into());
    let (offer, pending) = api.apply().unwrap();

    let summary = engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    assert!(!summary.update);
    assert!(summary.data_channels);
    assert_eq!(summary.media.len(), 2);
    assert_eq!(summary.media[0].kind, MediaKind::Audio);
    assert_eq!(summary.media[1].kind, MediaKind::Video);
    assert!(summary.media[0].codecs.contains(&"opus".to_string()));
    assert!(summary.media[1].codecs.contains(&"vp8".to_string()));

    let answer = engine
        .answer(
            handle,
            &AnswerSpec {
                media: vec![],
                data_channels: true,
            },
        )
        .unwrap();
    assert!(answer.contains("a=end-of-candidates"), "{answer}");
    assert!(
        answer.contains(&format!("{} {} typ host", server.ip(), server.port())),
        "{answer}"
    );
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    echo_routes(&engine, handle, &[audio, video]);

    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let profile = engine.srtp_profile(handle).expect("negotiated profile");
    eprintln!("negotiated SRTP profile (client offer): {profile}");
    assert!(profile.contains("GCM"), "{profile}");

    assert_echo(&mut client, &mut ev, &mut seen, audio, Codec::Opus, 1);
    assert_echo(&mut client, &mut ev, &mut seen, video, Codec::Vp8, 1);
    assert!(seen.iter().any(|e| matches!(e, MediaEvent::Media { handle: h, kind: MediaKind::Video, receiving: true, .. } if *h == handle)));

    // Data channel both ways.
    let id = client.wait(&mut ev, &mut seen, |e, _| {
        e.iter().find_map(|e| match e {
            Event::ChannelOpen(id, _) => Some(*id),
            _ => None,
        })
    });
    client
        .rtc
        .channel(id)
        .unwrap()
        .write(false, b"hello")
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.iter()
            .any(|e| {
                matches!(e, MediaEvent::Data { handle: h, message } if *h == handle
                && message.data == b"hello" && !message.binary && message.label == "chat")
            })
            .then_some(())
    });
    engine
        .send_data(
            handle,
            DataMessage {
                label: "chat".into(),
                data: vec![1, 2, 3],
                binary: true,
            },
        )
        .unwrap();
    client.wait(&mut ev, &mut seen, |e, _| {
        e.iter()
            .any(|e| matches!(e, Event::ChannelData(d) if d.data == [1, 2, 3] && d.binary))
            .then_some(())
    });
    assert!(client.channel().is_some());

    // Garbage from elsewhere and from the client's own address.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut stun_unknown = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun_unknown.extend_from_slice(&[9; 12]);
    stun_unknown.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun_unknown.extend_from_slice(b"nope:abc");
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 100],
        vec![0x80; 3],
        vec![0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3],
        vec![0x81, 0xc8, 0, 1],
        vec![22, 0xfe, 0xfd, 0, 0, 0, 0],
        vec![0x00, 0x01, 0x00, 0x50],
        stun_unknown,
    ];
    for g in &garbage {
        junk.send_to(g, server).unwrap();
        client.socket.send_to(g, server).unwrap();
    }
    assert_echo(&mut client, &mut ev, &mut seen, audio, Codec::Opus, 100);

    // A PLI from the target side of the echo route goes upstream to its source (the
    // client's own send stream), and so does a plugin's keyframe request. (The
    // PeerConnection coming up asked for one already: wait out the per-source throttle.)
    std::thread::sleep(Duration::from_millis(600));
    let before = client.events.len();
    client
        .rtc
        .direct_api()
        .stream_rx_by_mid(video, None)
        .expect("client receives video")
        .request_keyframe(str0m::media::KeyframeRequestKind::Pli);
    client.wait(&mut ev, &mut seen, |e, _| {
        e[before..]
            .iter()
            .any(|e| matches!(e, Event::KeyframeRequest(r) if r.mid == video))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(600)); // past the per-source throttle
    let before = client.events.len();
    engine.request_keyframe(&MediaRef {
        handle,
        mid: video.to_string(),
    });
    client.wait(&mut ev, &mut seen, |e, _| {
        e[before..]
            .iter()
            .any(|e| matches!(e, Event::KeyframeRequest(r) if r.mid == video))
            .then_some(())
    });
    // A bitrate cap reaches the client as REMB.
    engine.set_bitrate_cap(handle, 128_000);
    client.wait(&mut ev, &mut seen, |e, _| {
        e.iter()
            .any(|e| {
                matches!(e, Event::EgressBitrateEstimate(str0m::bwe::BweKind::Remb { estimate, .. })
                    if estimate.as_u64().abs_diff(128_000) < 1_000)
            })
            .then_some(())
    });
    // Audio stopped a while ago: no_media_timer (1 s) reports it.
    client.wait(&mut ev, &mut seen, |_, s| {
        s.iter()
            .any(|e| {
                matches!(e, MediaEvent::Media { handle: h, kind: MediaKind::Audio, receiving: false, .. }
                    if *h == handle)
            })
            .then_some(())
    });

    // Renegotiation on the live PeerConnection: the client adds a second video line.
    let mut api = client.rtc.sdp_api();
    let video2 = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let summary = engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    assert!(summary.update);
    assert_eq!(summary.media.len(), 3);
    let answer = engine
        .answer(
            handle,
            &AnswerSpec {
                media: vec![],
                data_channels: true,
            },
        )
        .unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    echo_routes(&engine, handle, &[video2]);
    assert_echo(&mut client, &mut ev, &mut seen, video2, Codec::Vp8, 1);

    engine.hangup(handle, "Janus API");
    client.wait(&mut ev, &mut seen, |_, s| {
        s.iter()
            .any(|e| {
                *e == MediaEvent::Hangup {
                    handle,
                    reason: "Janus API".into(),
                }
            })
            .then_some(())
    });
    // After hangup there is no PeerConnection to send data on.
    assert!(
        engine
            .send_data(
                handle,
                DataMessage {
                    label: "chat".into(),
                    data: vec![1],
                    binary: false
                }
            )
            .is_err()
    );
    engine.destroy(handle);
}

#[test]
fn server_offer_answered_by_client_connects() {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let handle: HandleId = 42;
    let offer = engine
        .offer(
            handle,
            &OfferSpec {
                media: vec![
                    MediaOffer {
                        mid: None,
                        kind: MediaKind::Audio,
                        direction: Direction::SendRecv,
                        codecs: vec![],
                        stream_id: None,
                    },
                    MediaOffer {
                        mid: None,
                        kind: MediaKind::Video,
                        direction: Direction::SendRecv,
                        codecs: vec![],
                        stream_id: None,
                    },
                ],
                data_channels: true,
                ice_restart: false,
            },
        )
        .unwrap();
    // The mids: audio, video, then the data channel's (named by the SDP's m=application).
    assert_eq!(offer.mids.len(), 3, "{:?}", offer.mids);
    let data_mid = offer.mids[2].clone();
    let offer = offer.sdp;
    assert!(offer.contains("a=end-of-candidates"), "{offer}");
    let app = &offer[offer.find("m=application").expect("data m-line")..];
    assert!(app.contains(&format!("a=mid:{data_mid}")), "{offer}");

    let mut client = Client::new();
    let answer = client
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap();
    let summary = engine
        .remote_answer(handle, &answer.to_sdp_string())
        .unwrap();
    assert_eq!(summary.media.len(), 2);
    // A second answer has no offer to go with.
    assert_eq!(
        engine.remote_answer(handle, &answer.to_sdp_string()),
        Err(MediaError::UnexpectedAnswer)
    );
    let mids: Vec<Mid> = summary
        .media
        .iter()
        .map(|m| Mid::from(m.mid.as_str()))
        .collect();
    echo_routes(&engine, handle, &mids);
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    let profile = engine.srtp_profile(handle).expect("negotiated profile");
    eprintln!("negotiated SRTP profile (server offer): {profile}");
    assert!(profile.contains("GCM"), "{profile}");
    assert_echo(&mut client, &mut ev, &mut seen, mids[1], Codec::Vp8, 1);

    // The client closing its side is a DTLS alert for Janus.
    client.rtc.close().unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.iter()
            .any(|e| {
                *e == MediaEvent::Hangup {
                    handle,
                    reason: "DTLS alert".into(),
                }
            })
            .then_some(())
    });
}

#[test]
fn bad_input_gives_typed_errors() {
    let (engine, _ev) = start(1);
    let h: HandleId = 5;
    assert!(matches!(
        engine.remote_offer(h, "garbage"),
        Err(MediaError::InvalidSdp(_))
    ));
    assert!(matches!(
        engine.remote_offer(h, ""),
        Err(MediaError::InvalidSdp(_))
    ));
    assert!(matches!(
        engine.remote_offer(h, "v=0\r\nthis is not sdp\r\n"),
        Err(MediaError::InvalidSdp(_))
    ));
    assert_eq!(
        engine.remote_answer(h, "v=0\r\n"),
        Err(MediaError::UnexpectedAnswer)
    );
    assert_eq!(
        engine.answer(h, &AnswerSpec::default()),
        Err(MediaError::NoPendingOffer)
    );
    for bad in [
        "",
        "candidate:",
        "hello",
        "candidate:1 1 udp x 1.2.3.4 1 typ host",
    ] {
        let r = engine.add_remote_candidate(
            h,
            TrickleCandidate::Candidate {
                candidate: bad.into(),
                sdp_mid: None,
                sdp_mline_index: None,
            },
        );
        assert!(matches!(r, Err(MediaError::InvalidCandidate(_))), "{bad:?}");
    }
    assert_eq!(
        engine.add_remote_candidate(h, TrickleCandidate::Completed),
        Ok(())
    );
    assert_eq!(
        engine.send_data(
            h,
            DataMessage {
                label: "x".into(),
                data: vec![],
                binary: false
            }
        ),
        Err(MediaError::NoPeer(h))
    );
    assert_eq!(
        engine.route_update(999, LayerChoice::default(), false),
        Err(MediaError::NoRoute(999))
    );
    // Unknown handles are harmless for fire-and-forget calls.
    engine.hangup(h, "Janus API");
    engine.request_keyframe(&MediaRef {
        handle: h,
        mid: "0".into(),
    });
    engine.set_bitrate_cap(h, 100_000);
    engine.destroy(h);
    assert_eq!(engine.srtp_profile(h), None);
}

#[test]
fn answer_honours_rejection_direction_and_codec() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let handle: HandleId = 9;
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let audio = api.add_media(StrKind::Audio, StrDir::SendRecv, None, None, None);
    let video = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine
        .answer(
            handle,
            &AnswerSpec {
                media: vec![
                    MediaAnswer {
                        mid: audio.to_string(),
                        accept: true,
                        direction: Direction::RecvOnly,
                        codec: Some("opus".into()),
                    },
                    MediaAnswer {
                        mid: video.to_string(),
                        accept: false,
                        direction: Direction::SendRecv,
                        codec: None,
                    },
                ],
                data_channels: false,
            },
        )
        .unwrap();
    let summary = portunus_media::sdp::summarize(&answer, false);
    assert_eq!(summary.media[0].direction, Direction::RecvOnly, "{answer}");
    assert_eq!(summary.media[0].codecs, vec!["opus"], "{answer}");
    assert_eq!(summary.media[1].direction, Direction::Inactive, "{answer}");
    assert!(answer.contains("m=video 0 "), "{answer}");
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    // Answering twice: the offer was consumed.
    assert_eq!(
        engine.answer(handle, &AnswerSpec::default()),
        Err(MediaError::NoPendingOffer)
    );
    engine.destroy(handle);
    // destroy() is silent.
    std::thread::sleep(Duration::from_millis(200));
    while let Ok(e) = ev.try_recv() {
        assert!(!matches!(e, MediaEvent::Hangup { .. }), "{e:?}");
    }
}

#[test]
fn silent_client_ends_with_ice_failed() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let handle: HandleId = 11;
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    api.add_media(StrKind::Audio, StrDir::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    // The client vanishes without a word: consent checks fail, then ICE is declared failed.
    drop(client);
    let start = Instant::now();
    let reason = loop {
        match ev.try_recv() {
            Ok(MediaEvent::Hangup { handle: h, reason }) if h == handle => break reason,
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        assert!(start.elapsed() < Duration::from_secs(90), "no hangup");
    };
    eprintln!("ICE failure detected after {:?}", start.elapsed());
    assert_eq!(reason, "ICE failed");
}

/// The session's `a=ice-ufrag` in an SDP.
fn sdp_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .unwrap_or_else(|| panic!("no a=ice-ufrag in {sdp}"))
        .to_string()
}

fn av_offer(ice_restart: bool) -> OfferSpec {
    let line = |kind| MediaOffer {
        mid: None,
        kind,
        direction: Direction::SendRecv,
        codecs: vec![],
        stream_id: None,
    };
    OfferSpec {
        media: vec![line(MediaKind::Audio), line(MediaKind::Video)],
        data_channels: false,
        ice_restart,
    }
}

/// The server restarts ICE on a live PeerConnection (its own offer, the client's answer):
/// the old credentials carry media until the answer is applied, the new ones after it, and
/// nothing hangs up. `client_offered_first` picks who made the first offer (and so the roles).
fn server_ice_restart(handle: HandleId, client_offered_first: bool) {
    let (engine, mut ev) = start(2);
    let mut seen = Vec::new();
    let mut client = Client::new();

    let (old_ufrag, mids) = if client_offered_first {
        let mut api = client.rtc.sdp_api();
        let audio = api.add_media(StrKind::Audio, StrDir::SendRecv, None, None, None);
        let video = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
        let answer = engine.answer(handle, &AnswerSpec::default()).unwrap();
        client
            .rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        (sdp_ufrag(&answer), vec![audio, video])
    } else {
        let offer = engine.offer(handle, &av_offer(false)).unwrap().sdp;
        let answer = client
            .rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap();
        let summary = engine
            .remote_answer(handle, &answer.to_sdp_string())
            .unwrap();
        let mids = summary
            .media
            .iter()
            .map(|m| Mid::from(m.mid.as_str()))
            .collect();
        (sdp_ufrag(&offer), mids)
    };
    let (audio, video) = (mids[0], mids[1]);
    echo_routes(&engine, handle, &mids);
    client.wait(&mut ev, &mut seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    assert_echo(&mut client, &mut ev, &mut seen, audio, Codec::Opus, 1);
    assert_echo(&mut client, &mut ev, &mut seen, video, Codec::Vp8, 1);
    let old_client_ufrag = client.rtc.direct_api().local_ice_credentials().ufrag;
    assert!(
        client
            .stun_requests
            .iter()
            .any(|(id, u)| *u == old_ufrag && client.stun_answered.contains(id)),
        "no STUN check with the first ufrag {old_ufrag} was answered"
    );

    // The restart offer: the same m-lines (kept, nothing added), new credentials.
    let keep = |mid: Mid, kind| MediaOffer {
        mid: Some(mid.to_string()),
        kind,
        direction: Direction::SendRecv,
        codecs: vec![],
        stream_id: None,
    };
    let spec = OfferSpec {
        media: vec![keep(audio, MediaKind::Audio), keep(video, MediaKind::Video)],
        data_channels: false,
        ice_restart: true,
    };
    let offer = engine.offer(handle, &spec).unwrap().sdp;
    let new_ufrag = sdp_ufrag(&offer);
    assert_ne!(new_ufrag, old_ufrag, "{offer}");
    let offered = sdp::summarize(&offer, true);
    assert_eq!(
        offered
            .media
            .iter()
            .map(|m| m.mid.as_str())
            .collect::<Vec<_>>(),
        [audio.to_string(), video.to_string()],
        "{offer}"
    );
    assert!(offer.contains("a=end-of-candidates"), "{offer}");

    // Until the answer is applied the old credentials stay in force: media still flows and
    // the client's consent checks (old ufrag) are still answered.
    let answered_before = client.stun_answered.len();
    assert_echo(&mut client, &mut ev, &mut seen, audio, Codec::Opus, 100);
    assert_echo(&mut client, &mut ev, &mut seen, video, Codec::Vp8, 100);
    client.wait_state(&mut ev, &mut seen, |c, _| {
        client_answered_with(
            &c.stun_requests,
            &c.stun_answered[answered_before..],
            &old_ufrag,
        )
        .then_some(())
    });

    // The client accepts the restart and answers with new credentials of its own.
    let events_before = client.events.len();
    let requests_before = client.stun_requests.len();
    let answer = client
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap()
        .to_sdp_string();
    let new_client_ufrag = sdp_ufrag(&answer);
    assert_ne!(new_client_ufrag, old_client_ufrag, "{answer}");
    let summary = engine.remote_answer(handle, &answer).unwrap();
    assert_eq!(summary.media.len(), 2);

    // The client's ICE goes through checking and connects again, with checks that name the
    // new server ufrag and are answered.
    client.wait(&mut ev, &mut seen, |events, _| {
        let states: Vec<IceConnectionState> = events[events_before..]
            .iter()
            .filter_map(|e| match e {
                Event::IceConnectionStateChange(s) => Some(*s),
                _ => None,
            })
            .collect();
        let checking = states
            .iter()
            .position(|s| *s == IceConnectionState::Checking)?;
        states[checking..]
            .iter()
            .any(|s| {
                matches!(
                    s,
                    IceConnectionState::Connected | IceConnectionState::Completed
                )
            })
            .then_some(())
    });
    client.wait_state(&mut ev, &mut seen, |c, _| {
        client_answered_with(
            &c.stun_requests[requests_before..],
            &c.stun_answered,
            &new_ufrag,
        )
        .then_some(())
    });
    let new_requests = &client.stun_requests[requests_before..];
    assert!(
        new_requests.iter().all(|(_, u)| *u == new_ufrag),
        "checks after the restart must name the new ufrag {new_ufrag}: {new_requests:?}"
    );

    // Media is echoed unchanged over the restarted transport, and stays up past the time
    // after which a lost ICE connection is declared failed.
    assert_echo(&mut client, &mut ev, &mut seen, audio, Codec::Opus, 200);
    assert_echo(&mut client, &mut ev, &mut seen, video, Codec::Vp8, 200);
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(6) {
        client.step();
    }
    assert_echo(&mut client, &mut ev, &mut seen, video, Codec::Vp8, 300);
    while let Ok(e) = ev.try_recv() {
        seen.push(e);
    }
    assert!(
        !seen.iter().any(|e| matches!(e, MediaEvent::Hangup { .. })),
        "{seen:?}"
    );
    engine.destroy(handle);
}

/// Whether one of `requests` naming `ufrag` got a success response among `answered`.
fn client_answered_with(
    requests: &[([u8; 12], String)],
    answered: &[[u8; 12]],
    ufrag: &str,
) -> bool {
    requests
        .iter()
        .any(|(id, u)| u == ufrag && answered.contains(id))
}

#[test]
fn server_ice_restart_after_server_offer() {
    server_ice_restart(21, false);
}

#[test]
fn server_ice_restart_after_client_offer() {
    server_ice_restart(22, true);
}

/// A client-offered video-only echo call, connected (`webrtcup` seen); returns the video mid.
fn video_echo_call(
    engine: &MediaEngine,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    handle: HandleId,
) -> (Client, Mid) {
    let mut client = Client::new();
    let mut api = client.rtc.sdp_api();
    let video = api.add_media(StrKind::Video, StrDir::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    engine.remote_offer(handle, &offer.to_sdp_string()).unwrap();
    let answer = engine
        .answer(
            handle,
            &AnswerSpec {
                media: vec![],
                data_channels: false,
            },
        )
        .unwrap();
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    echo_routes(engine, handle, &[video]);
    client.wait(ev, seen, |_, s| {
        s.contains(&MediaEvent::WebrtcUp { handle }).then_some(())
    });
    (client, video)
}

/// Sends VP8 RTP on `mid` every ~10 ms for `duration`, never using every 3rd sequence
/// number, so the engine's receiver reports count a third of the packets as lost.
fn send_video_with_gaps(
    client: &mut Client,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    mid: Mid,
    duration: Duration,
) {
    let pt = client.pt_for(Codec::Vp8);
    let start = Instant::now();
    let mut seq = 1u64;
    let mut next_send = start;
    while start.elapsed() < duration {
        if Instant::now() >= next_send {
            if seq.is_multiple_of(3) {
                seq += 1;
            }
            let mut payload = vec![0x10, 0x00, 0x9d, 0x01, 0x2a];
            payload.extend(std::iter::repeat_n(seq as u8, 100));
            client.send_rtp(mid, pt, seq, payload);
            seq += 1;
            next_send += Duration::from_millis(10);
        }
        client.step();
        while let Ok(e) = ev.try_recv() {
            seen.push(e);
        }
    }
}

/// Janus `slowlink` semantics (janus.js docs for `slowLink(uplink, lost, mid)`): `uplink: true`
/// means the peer reported missing packets from Janus (loss on Janus's egress), `uplink: false`
/// means Janus is not receiving all the peer's packets (loss on Janus's ingress). The client
/// here drops every 3rd sequence number of what it sends, so the engine must report
/// `uplink: false` for the video mid. (The echoed stream may also carry the gaps back, so an
/// `uplink: true` event for egress may arrive too; it is not what this test checks.)
#[test]
fn slowlink_reported_for_ingress_loss() {
    let (engine, mut ev) = start_with_slowlink(1, 2);
    let mut seen = Vec::new();
    let handle: HandleId = 11;
    let (mut client, video) = video_echo_call(&engine, &mut ev, &mut seen, handle);
    let video_mid = video.to_string();
    let is_ingress_slowlink = |e: &MediaEvent| {
        matches!(e, MediaEvent::SlowLink { handle: h, mid, kind: MediaKind::Video, uplink: false, lost }
            if *h == handle && *mid == video_mid && *lost >= 2)
    };
    let start = Instant::now();
    while !seen.iter().any(is_ingress_slowlink) {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "no ingress slowlink; engine events: {seen:?}"
        );
        send_video_with_gaps(
            &mut client,
            &mut ev,
            &mut seen,
            video,
            Duration::from_millis(500),
        );
    }
    let slowlinks: Vec<&MediaEvent> = seen
        .iter()
        .filter(|e| matches!(e, MediaEvent::SlowLink { .. }))
        .collect();
    eprintln!("slowlink events: {slowlinks:?}");
    // Audio was never negotiated, so nothing may be reported for it.
    assert!(!seen.iter().any(|e| matches!(
        e,
        MediaEvent::SlowLink {
            kind: MediaKind::Audio,
            ..
        }
    )));
}

/// `slowlink_threshold = 0` (the Janus default) never reports, whatever the loss.
#[test]
fn slowlink_off_by_default() {
    let (engine, mut ev) = start(1);
    let mut seen = Vec::new();
    let handle: HandleId = 12;
    let (mut client, video) = video_echo_call(&engine, &mut ev, &mut seen, handle);
    send_video_with_gaps(
        &mut client,
        &mut ev,
        &mut seen,
        video,
        Duration::from_secs(4),
    );
    // The engine did receive the video (so stats were produced), yet reported no slowlink.
    assert!(
        seen.iter().any(|e| matches!(
            e,
            MediaEvent::Media {
                kind: MediaKind::Video,
                receiving: true,
                ..
            }
        )),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, MediaEvent::SlowLink { .. })),
        "{seen:?}"
    );
}
