//! The test client: a real str0m peer (its own UDP socket on 127.0.0.1) against a started
//! engine, and helpers shared by the loopback test files.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use portunus_media::*;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc::UnboundedReceiver;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    pub addr: SocketAddr,
    pub events: Vec<Event>,
    /// STUN binding requests sent: transaction id and the server ufrag they name.
    pub stun_requests: Vec<([u8; 12], String)>,
    /// Transaction ids of STUN binding success responses received.
    pub stun_answered: Vec<[u8; 12]>,
    /// SRTP (not SRTCP) datagrams received so far.
    pub rtp_in: usize,
    /// Drop the incoming SRTP datagram with this count (a loss on the way to the client).
    pub drop_rtp_at: Option<usize>,
    /// Sequence numbers (from the plain RTP header) of the datagrams dropped.
    pub dropped_seqs: Vec<u16>,
}

/// A STUN message's type and transaction id, if `data` is one.
pub fn stun_header(data: &[u8]) -> Option<(u16, [u8; 12])> {
    if demux::classify(data) != demux::PacketClass::Stun || data.len() < 20 {
        return None;
    }
    let typ = u16::from_be_bytes([data[0], data[1]]);
    Some((typ, data[8..20].try_into().ok()?))
}

pub const STUN_BINDING_REQUEST: u16 = 0x0001;
pub const STUN_BINDING_SUCCESS: u16 = 0x0101;

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client::with_config(RtcConfig::new())
    }

    /// A client whose `Rtc` starts from `config` (RTP mode and the host candidate added).
    pub fn with_config(config: RtcConfig) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = config.set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Client {
            rtc,
            socket,
            addr,
            events: Vec::new(),
            stun_requests: Vec::new(),
            stun_answered: Vec::new(),
            rtp_in: 0,
            drop_rtp_at: None,
            dropped_seqs: Vec::new(),
        }
    }

    /// Drains str0m output, then reads the socket once (or times out briefly).
    pub fn step(&mut self) {
        let deadline = loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    if let Some((STUN_BINDING_REQUEST, id)) = stun_header(&t.contents)
                        && let Some(ufrag) = demux::stun_local_ufrag(&t.contents)
                    {
                        self.stun_requests.push((id, ufrag.to_string()));
                    }
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(e) => self.events.push(e),
            }
        };
        let mut buf = [0u8; 2048];
        match self.socket.recv_from(&mut buf) {
            Ok((n, src)) => {
                if let Some((STUN_BINDING_SUCCESS, id)) = stun_header(&buf[..n]) {
                    self.stun_answered.push(id);
                }
                // SRTP, not SRTCP (RTCP packet types 192..=223 in the second byte).
                if n >= 12
                    && demux::classify(&buf[..n]) == demux::PacketClass::Rtp
                    && !(192..=223).contains(&buf[1])
                {
                    self.rtp_in += 1;
                    if self.drop_rtp_at == Some(self.rtp_in) {
                        self.dropped_seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
                        return;
                    }
                }
                if let Ok(r) = Receive::new(Protocol::Udp, src, self.addr, &buf[..n]) {
                    self.rtc
                        .handle_input(Input::Receive(Instant::now(), r))
                        .unwrap();
                }
            }
            Err(_) => {
                let now = Instant::now();
                if now >= deadline {
                    self.rtc.handle_input(Input::Timeout(now)).unwrap();
                }
            }
        }
    }

    /// Steps until `f` finds what it wants among the new client events or engine events.
    pub fn wait<T>(
        &mut self,
        engine_events: &mut UnboundedReceiver<MediaEvent>,
        seen: &mut Vec<MediaEvent>,
        mut f: impl FnMut(&[Event], &[MediaEvent]) -> Option<T>,
    ) -> T {
        self.wait_state(engine_events, seen, |c, s| f(&c.events, s))
    }

    /// Like [`Client::wait`], with the whole client state to look at.
    pub fn wait_state<T>(
        &mut self,
        engine_events: &mut UnboundedReceiver<MediaEvent>,
        seen: &mut Vec<MediaEvent>,
        mut f: impl FnMut(&Client, &[MediaEvent]) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            self.step();
            while let Ok(e) = engine_events.try_recv() {
                seen.push(e);
            }
            if let Some(t) = f(self, seen) {
                return t;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "timed out; engine events: {seen:?}"
            );
        }
    }

    pub fn pt_for(&self, codec: Codec) -> str0m::media::Pt {
        self.rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt()
    }

    pub fn send_rtp(&mut self, mid: Mid, pt: str0m::media::Pt, seq: u64, payload: Vec<u8>) {
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("client send stream");
        tx.write_rtp(RtpWrite::new(
            pt,
            SeqNo::from(seq),
            (seq as u32) * 960,
            Instant::now(),
            payload,
        ));
    }

    pub fn channel(&self) -> Option<ChannelId> {
        self.events.iter().find_map(|e| match e {
            Event::ChannelOpen(id, _) => Some(*id),
            _ => None,
        })
    }
}

pub fn start(workers: usize) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    start_with_slowlink(workers, 0)
}

pub fn start_with_slowlink(
    workers: usize,
    slowlink_threshold: u32,
) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    start_with(MediaConfig {
        workers,
        slowlink_threshold,
        ..Default::default()
    })
}

/// An engine on 127.0.0.1 and any free port, with these other settings.
pub fn start_with(cfg: MediaConfig) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    let cfg = MediaConfig {
        udp_port: 0,
        interfaces: vec!["127.0.0.1".parse().unwrap()],
        ..cfg
    };
    MediaEngine::start(cfg).unwrap()
}

/// An engine that negotiates the AV1 dependency descriptor (off by default).
pub fn start_av1_dd(workers: usize) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    start_with(MediaConfig {
        workers,
        av1_dependency_descriptor: true,
        ..Default::default()
    })
}

pub fn echo_routes(engine: &MediaEngine, handle: HandleId, mids: &[Mid]) {
    for mid in mids {
        let m = MediaRef {
            handle,
            mid: mid.to_string(),
        };
        engine
            .route_add(Route {
                source: m.clone(),
                target: m,
                layer: LayerChoice::default(),
                paused: false,
                auto_layer: false,
            })
            .unwrap();
    }
}

/// Sends RTP on `mid` until the same payloads come back; returns how many came back.
pub fn assert_echo(
    client: &mut Client,
    ev: &mut UnboundedReceiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    mid: Mid,
    codec: Codec,
    first_seq: u64,
) {
    let pt = client.pt_for(codec);
    let payloads: Vec<Vec<u8>> = (0..20u8)
        .map(|i| {
            let mut p = if codec == Codec::Vp8 {
                vec![0x10, 0x00, 0x9d, 0x01, 0x2a]
            } else {
                vec![0xfc]
            };
            p.extend(std::iter::repeat_n(i, 40 + i as usize));
            p
        })
        .collect();
    let start = client.events.len();
    for (i, p) in payloads.iter().enumerate() {
        client.send_rtp(mid, pt, first_seq + i as u64, p.clone());
        client.step();
    }
    let back = client.wait(ev, seen, |events, _| {
        let got: Vec<(str0m::rtp::Ssrc, Vec<u8>)> = events[start..]
            .iter()
            .filter_map(|e| match e {
                Event::RtpPacket(p) => Some((p.header.ssrc, p.payload.to_vec())),
                _ => None,
            })
            .collect();
        (got.iter().filter(|(_, p)| payloads.contains(p)).count() >= 15).then_some(got)
    });
    // Everything that came back on this m-line is one of the payloads we sent, unchanged.
    for (ssrc, p) in &back {
        let rx_mid = client.rtc.direct_api().stream_rx(ssrc).map(|s| s.mid());
        if rx_mid == Some(mid) {
            assert!(payloads.contains(p), "payload changed on the way back");
        }
    }
}
