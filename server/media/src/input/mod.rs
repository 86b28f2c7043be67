//! Plain-RTP inputs (the media of Janus Streaming "rtp" mountpoints): UDP ports where an
//! outside sender pushes RTP, whose packets become route sources exactly like a
//! PeerConnection's m-lines.
//!
//! An input is named by a `HandleId` from the client handles' id space (the API allocates
//! it), so routes, keyframe throttling and `ForgetHandle` treat it as any other source. It
//! lives on the shard that owns that id: its sockets are in that shard's wake-up set, so
//! RTP is read as it arrives. Each valid packet becomes one `ForwardPacket` (codec info,
//! payload description, arrival time) pushed to the shard's forward list.
//!
//! Keyframe requests go out as RTCP PLI from the stream's RTCP socket, to the address the
//! sender's RTCP came from, or else to the RTP source address with port + 1 (the RTP/RTCP
//! port pair convention); without an RTCP port nothing is sent.

mod epoch;
mod packet;
mod spec;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use str0m::media::Mid;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, trace};

use crate::error::MediaError;
use crate::router::keyframe::{PayloadDesc, describe};
use crate::router::{ForwardPacket, source_key};
use crate::types::{HandleId, MediaEvent, MediaRef, RtpInput};
use epoch::SeqTracker;
pub use packet::MAX_DATAGRAM;
use packet::parse;
pub use spec::{StreamSpec, check};

/// Datagrams read from one input socket per drain, so a flood cannot hold the shard.
const DRAIN_BATCH: usize = 32;

/// What taking a datagram may produce, lent by the shard.
pub struct InputIo<'a> {
    /// Packets for the routes.
    pub forward: &'a mut Vec<Arc<ForwardPacket>>,
    pub events: &'a UnboundedSender<MediaEvent>,
    /// Video streams (with an RTCP port) whose media just started or resumed: a viewer
    /// already routed from them should not wait for the sender's next keyframe.
    pub started: &'a mut Vec<(HandleId, Mid)>,
    /// The core's no-media time (Janus `no_media_timer`).
    pub no_media: Duration,
}

/// One stream's receive state.
#[derive(Debug)]
struct Stream {
    spec: StreamSpec,
    seq: SeqTracker,
    /// Where the RTP comes from now (for PLI when no RTCP came yet).
    sender_rtp: Option<SocketAddr>,
    /// Where the sender's RTCP comes from.
    sender_rtcp: Option<SocketAddr>,
    /// Our SSRC in the PLIs we send.
    own_ssrc: u32,
    last_rx: Option<Instant>,
    receiving: bool,
    /// Packets and payload bytes taken.
    packets: u64,
    bytes: u64,
}

/// A socket in the wake-up set: which stream it belongs to, and whether it is the RTCP one.
#[derive(Debug)]
struct Slot {
    source: HandleId,
    stream: usize,
    rtcp: bool,
    socket: UdpSocket,
}

/// Counters of one stream (for Janus Streaming `info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub mid: String,
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds since the last packet; `None` before the first.
    pub last_ms_ago: Option<u64>,
}

/// The inputs of one shard.
#[derive(Debug, Default)]
pub struct Inputs {
    streams: HashMap<HandleId, Vec<Stream>>,
    slots: Vec<Slot>,
    /// When to look for streams that stopped (the earliest `last_rx + no_media`).
    check_at: Option<Instant>,
}

fn bind(addr: SocketAddr, what: &str) -> Result<(UdpSocket, u16), MediaError> {
    let fail = |e: std::io::Error| MediaError::Input(format!("{what} {addr}: {e}"));
    let std = StdUdpSocket::bind(addr).map_err(fail)?;
    std.set_nonblocking(true).map_err(fail)?;
    let port = std.local_addr().map_err(fail)?.port();
    // Inside the shard's runtime: the socket joins its reactor.
    let socket = UdpSocket::from_std(std).map_err(fail)?;
    Ok((socket, port))
}

impl Inputs {
    pub fn has(&self, source: HandleId) -> bool {
        self.streams.contains_key(&source)
    }

    /// Binds the input's sockets (all or none); returns the RTP port of each stream.
    pub fn open(
        &mut self,
        source: HandleId,
        input: &RtpInput,
        specs: Vec<StreamSpec>,
    ) -> Result<Vec<u16>, MediaError> {
        if self.has(source) {
            return Err(MediaError::Input(format!("input {source} exists")));
        }
        let mut slots = Vec::new();
        let mut ports = Vec::new();
        let mut streams = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let what = format!("stream {}: RTP port", spec.mid);
            let (socket, port) = bind(SocketAddr::new(input.ip, spec.port), &what)?;
            slots.push(Slot {
                source,
                stream: i,
                rtcp: false,
                socket,
            });
            ports.push(port);
            if let Some(rtcp) = spec.rtcp_port {
                let what = format!("stream {}: RTCP port", spec.mid);
                let (socket, _) = bind(SocketAddr::new(input.ip, rtcp), &what)?;
                slots.push(Slot {
                    source,
                    stream: i,
                    rtcp: true,
                    socket,
                });
            }
            streams.push(Stream {
                seq: SeqTracker::new(spec.codec.clock_rate),
                spec,
                sender_rtp: None,
                sender_rtcp: None,
                own_ssrc: rand::random(),
                last_rx: None,
                receiving: false,
                packets: 0,
                bytes: 0,
            });
        }
        debug!(source, ?ports, "rtp input open on {}", input.ip);
        self.slots.extend(slots);
        self.streams.insert(source, streams);
        Ok(ports)
    }

    /// Closes the input's sockets; false when there was no such input.
    pub fn close(&mut self, source: HandleId) -> bool {
        self.slots.retain(|s| s.source != source);
        self.streams.remove(&source).is_some()
    }

    /// Polls every input socket for one datagram: (slot, its sender, length).
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<(usize, std::io::Result<(SocketAddr, usize)>)> {
        for (i, slot) in self.slots.iter().enumerate() {
            let mut rb = tokio::io::ReadBuf::new(buf);
            if let Poll::Ready(r) = slot.socket.poll_recv_from(cx, &mut rb) {
                return Poll::Ready((i, r.map(|src| (src, rb.filled().len()))));
            }
        }
        Poll::Pending
    }

    /// Reads what waits on the input sockets (bounded) and takes each datagram.
    pub fn drain(&mut self, now: Instant, buf: &mut [u8], io: &mut InputIo) {
        for i in 0..self.slots.len() {
            for _ in 0..DRAIN_BATCH {
                let Ok((n, src)) = self.slots[i].socket.try_recv_from(buf) else {
                    break;
                };
                self.on_datagram(now, i, src, &buf[..n], io);
            }
        }
    }

    /// One datagram read from `slot`.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        slot: usize,
        from: SocketAddr,
        data: &[u8],
        io: &mut InputIo,
    ) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        let (source, index, rtcp) = (s.source, s.stream, s.rtcp);
        let Some(stream) = self.streams.get_mut(&source).and_then(|v| v.get_mut(index)) else {
            return;
        };
        if rtcp {
            // Only the sender's address matters (where PLIs go); reports are not used yet.
            if data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1]) {
                stream.sender_rtcp = Some(from);
            } else {
                debug!(source, mid = %stream.spec.mid, "dropping non-RTCP datagram from {from}");
            }
            return;
        }
        let fields = match parse(data, stream.spec.pt) {
            Ok(f) => f,
            Err(why) => {
                debug!(source, mid = %stream.spec.mid, "dropping datagram from {from}: {why}");
                return;
            }
        };
        let tracked = stream
            .seq
            .track(fields.ssrc, fields.seq, fields.timestamp, now, io.no_media);
        let Some((epoch, seq)) = tracked else {
            trace!(source, mid = %stream.spec.mid, "dropping a late packet of the sender before its restart");
            return;
        };
        stream.sender_rtp = Some(from);
        stream.last_rx = Some(now);
        stream.packets += 1;
        let payload = &data[fields.payload.0..fields.payload.1];
        stream.bytes += payload.len() as u64;
        let mid = stream.spec.mid;
        if !stream.receiving {
            stream.receiving = true;
            let _ = io.events.send(MediaEvent::InputMedia {
                source: MediaRef {
                    handle: source,
                    mid: mid.to_string(),
                },
                receiving: true,
            });
            if stream.spec.video.is_some() && stream.spec.rtcp_port.is_some() {
                io.started.push((source, mid));
            }
            if self.check_at.is_none() {
                self.check_at = Some(now + io.no_media);
            }
        }
        let desc = match stream.spec.video {
            Some(codec) => describe(codec, payload),
            None => PayloadDesc::default(),
        };
        // Each sender restart (epoch) is a new source for the rewriters, so subscribers
        // see one continuous stream.
        let key = source_key(source, &mid, None) ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        trace!(source, %mid, seq, "input rtp");
        io.forward.push(Arc::new(ForwardPacket {
            source,
            source_mid: mid,
            layer: None,
            key,
            seq,
            timestamp: fields.timestamp,
            marker: fields.marker,
            codec: stream.spec.codec,
            desc,
            payload: Arc::from(payload),
            ext: Default::default(),
            arrival: now,
        }));
    }

    /// When `on_timer` has something to look at.
    pub fn next_timer(&self) -> Option<Instant> {
        self.check_at
    }

    /// Streams without packets for `no_media` are reported as not receiving.
    pub fn on_timer(
        &mut self,
        now: Instant,
        events: &UnboundedSender<MediaEvent>,
        no_media: Duration,
    ) {
        if self.check_at.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<Instant> = None;
        for (source, streams) in &mut self.streams {
            for s in streams.iter_mut().filter(|s| s.receiving) {
                let Some(last) = s.last_rx else { continue };
                let due = last + no_media;
                if due <= now {
                    s.receiving = false;
                    let _ = events.send(MediaEvent::InputMedia {
                        source: MediaRef {
                            handle: *source,
                            mid: s.spec.mid.to_string(),
                        },
                        receiving: false,
                    });
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        self.check_at = next;
    }

    /// Sends a PLI for (source, mid) when the stream has an RTCP port and a sender is known.
    /// The caller throttles.
    pub fn request_keyframe(&self, source: HandleId, mid: Mid) {
        let Some(streams) = self.streams.get(&source) else {
            return;
        };
        let Some((index, stream)) = streams.iter().enumerate().find(|(_, s)| s.spec.mid == mid)
        else {
            return;
        };
        if stream.spec.rtcp_port.is_none() {
            return;
        }
        let Some(media_ssrc) = stream.seq.ssrc() else {
            trace!(source, %mid, "no sender yet; no PLI");
            return;
        };
        let Some(dest) = stream.sender_rtcp.or_else(|| {
            stream
                .sender_rtp
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        }) else {
            return;
        };
        let Some(slot) = self
            .slots
            .iter()
            .find(|s| s.source == source && s.stream == index && s.rtcp)
        else {
            return;
        };
        let pli = pli(stream.own_ssrc, media_ssrc);
        // A raw send: the socket's reactor readiness is for reading only.
        let sent = socket2::SockRef::from(&slot.socket).send_to(&pli, &dest.into());
        match sent {
            Ok(_) => debug!(source, %mid, "PLI to {dest}"),
            Err(e) => debug!(source, %mid, "PLI to {dest}: {e}"),
        }
    }

    /// Per-stream counters of an input, in stream order.
    pub fn stats(&self, source: HandleId, now: Instant) -> Option<Vec<StreamStats>> {
        let streams = self.streams.get(&source)?;
        Some(
            streams
                .iter()
                .map(|s| StreamStats {
                    mid: s.spec.mid.to_string(),
                    packets: s.packets,
                    bytes: s.bytes,
                    last_ms_ago: s
                        .last_rx
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                })
                .collect(),
        )
    }
}

/// RTCP PLI (RFC 4585 payload-specific feedback, FMT 1).
fn pli(sender_ssrc: u32, media_ssrc: u32) -> [u8; 12] {
    let mut p = [0x81, 206, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    p[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    p[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pli_is_what_forwarders_recognise() {
        let p = pli(1, 2);
        assert!(crate::forwarder::rtcp_wants_keyframe(&p));
        assert_eq!(&p[8..], &[0, 0, 0, 2]);
    }
}
