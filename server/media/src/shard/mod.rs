//! A worker shard: one OS thread with its own event loop, owning a set of peers (those
//! whose handle maps to it), its SO_REUSEPORT sockets on the shared port, its deadline
//! queue and its part of the routing table. Shards talk only through channels.

pub mod batch;
mod deadlines;
pub mod msg;

use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use str0m::Candidate;
use str0m::media::Mid;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::{debug, trace, warn};

use crate::demux::{Demux, PacketClass, classify};
use crate::error::MediaError;
use crate::forwarder::{Forwarder, Forwarders};
use crate::input::{InputIo, Inputs};
use crate::peer::{Peer, PeerConfig, PeerIo, PeerRole};
use crate::router::{ForwardPacket, RouterShard};
use crate::sdp;
use crate::types::*;
use batch::SendBatch;
use deadlines::Deadlines;
pub use msg::{Cmd, ShardMsg};

/// Largest datagram we read (DTLS and RTP stay well below; bigger is not ours).
const RECV_BUF: usize = 2048;
/// Datagrams read per wake before looking at timers and commands again.
const RECV_BATCH: usize = 64;
/// Trickled candidates kept per handle while no SDP has been applied.
const MAX_QUEUED_CANDIDATES: usize = 64;

/// What every shard shares.
pub struct Shared {
    pub demux: Demux,
    pub shards: Vec<UnboundedSender<ShardMsg>>,
    pub events: UnboundedSender<MediaEvent>,
    pub peer_config: PeerConfig,
}

impl Shared {
    pub fn shard_of(&self, handle: HandleId) -> usize {
        (handle % self.shards.len() as u64) as usize
    }
}

#[derive(Default)]
struct HandleState {
    peer: Option<Peer>,
    queued: Vec<Candidate>,
}

pub struct Shard {
    index: usize,
    shared: Arc<Shared>,
    sockets: Vec<(SocketAddr, UdpSocket)>,
    handles: HashMap<HandleId, HandleState>,
    router: RouterShard,
    deadlines: Deadlines,
    forward: Vec<Arc<ForwardPacket>>,
    keyframe_requests: Vec<(HandleId, Mid)>,
    forwarders: Forwarders,
    /// Plain-RTP inputs whose source id this shard owns (their sockets are in the wake-up set).
    inputs: Inputs,
    /// Datagrams of this loop iteration, sent together at its end.
    batch: SendBatch,
    /// Per other shard: the routes of the packet being fanned out whose targets it owns.
    remote_routes: Vec<Vec<RouteId>>,
    /// Per other shard: packets for it from this loop iteration, sent at its end.
    outbox: Vec<Vec<(Vec<RouteId>, Arc<ForwardPacket>)>>,
    /// Peers with routed packets written since the last timer pass (see `write_routed`).
    due: Vec<HandleId>,
}

/// Rounds of `drive_due` per timer pass (driving a peer rarely routes anything more).
const DUE_ROUNDS: usize = 4;

/// How often the forwarders' RTCP sockets are read (they are not in the wake-up set).
const RTCP_POLL: Duration = Duration::from_millis(20);

/// Queues a datagram on the socket of `source` (or one of the destination's family).
fn send_on(
    sockets: &[(SocketAddr, UdpSocket)],
    batch: &mut SendBatch,
    source: SocketAddr,
    dest: SocketAddr,
    data: &[u8],
) {
    let sock = sockets.iter().position(|(a, _)| *a == source).or_else(|| {
        sockets
            .iter()
            .position(|(a, _)| a.is_ipv4() == dest.is_ipv4())
    });
    let Some(i) = sock else {
        debug!("no socket for {source} → {dest}");
        return;
    };
    batch.push(i, dest, data);
    if batch.len() >= batch::MAX_PENDING {
        flush_on(sockets, batch);
    }
}

/// Sends the queued datagrams (UDP is lossy: a full socket buffer drops, never blocks).
fn flush_on(sockets: &[(SocketAddr, UdpSocket)], batch: &mut SendBatch) {
    use std::os::fd::AsRawFd;
    batch.flush(|i| sockets.get(i).map(|(_, s)| s.as_raw_fd()));
}

enum Wake {
    Msg(Option<ShardMsg>),
    Packet(std::io::Result<(usize, SocketAddr, usize)>),
    /// A datagram on a plain-RTP input socket: (slot, sender and length).
    Input((usize, std::io::Result<(SocketAddr, usize)>)),
    Timer,
}

impl Shard {
    pub fn new(index: usize, shared: Arc<Shared>, sockets: Vec<(SocketAddr, UdpSocket)>) -> Shard {
        Shard {
            index,
            sockets,
            handles: HashMap::default(),
            router: RouterShard::default(),
            deadlines: Deadlines::default(),
            forward: Vec::new(),
            keyframe_requests: Vec::new(),
            forwarders: Forwarders::default(),
            inputs: Inputs::default(),
            batch: SendBatch::default(),
            remote_routes: vec![Vec::new(); shared.shards.len()],
            outbox: (0..shared.shards.len()).map(|_| Vec::new()).collect(),
            due: Vec::new(),
            shared,
        }
    }

    pub async fn run(mut self, mut rx: UnboundedReceiver<ShardMsg>) {
        let mut buf = vec![0u8; RECV_BUF];
        // One byte more than an input takes, so an oversized datagram shows as such.
        let mut input_buf = vec![0u8; crate::input::MAX_DATAGRAM + 1];
        loop {
            // Peers still due (see `drive_due`) must not wait for a timer.
            let due_now = (!self.due.is_empty()).then(Instant::now);
            let next = [
                due_now,
                self.deadlines.next(),
                self.router.next_deferred_keyframe(),
                self.inputs.next_timer(),
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = {
                let sockets = &self.sockets;
                let buf = &mut buf;
                let recv = std::future::poll_fn(|cx| {
                    for (i, (_, s)) in sockets.iter().enumerate() {
                        let mut rb = tokio::io::ReadBuf::new(buf);
                        if let Poll::Ready(r) = s.poll_recv_from(cx, &mut rb) {
                            return Poll::Ready(r.map(|src| (rb.filled().len(), src, i)));
                        }
                    }
                    Poll::Pending
                });
                let inputs = &self.inputs;
                let input_buf = &mut input_buf;
                let input_recv = std::future::poll_fn(|cx| inputs.poll_recv(cx, input_buf));
                let sleep = async {
                    match next {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    m = rx.recv() => Wake::Msg(m),
                    r = recv => Wake::Packet(r),
                    r = input_recv => Wake::Input(r),
                    _ = sleep => Wake::Timer,
                }
            };
            match wake {
                Wake::Msg(None) => break,
                Wake::Msg(Some(m)) => {
                    if !self.on_msg(m) {
                        break;
                    }
                    // Drain what else is queued without going back to the reactor.
                    let mut stop = false;
                    for _ in 0..RECV_BATCH {
                        match rx.try_recv() {
                            Ok(m) => {
                                if !self.on_msg(m) {
                                    stop = true;
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    if stop {
                        break;
                    }
                }
                Wake::Packet(Ok((n, src, i))) => {
                    let local = self.sockets[i].0;
                    self.on_socket(Instant::now(), local, src, &buf[..n]);
                    self.drain_sockets(&mut buf);
                    // Busy peer sockets must not starve the inputs (polled after them).
                    self.drain_inputs(&mut input_buf);
                }
                Wake::Packet(Err(e)) => debug!(shard = self.index, "recv: {e}"),
                Wake::Input((slot, Ok((src, n)))) => {
                    self.on_input(Instant::now(), slot, src, &input_buf[..n]);
                    self.drain_inputs(&mut input_buf);
                }
                Wake::Input((_, Err(e))) => debug!(shard = self.index, "input recv: {e}"),
                Wake::Timer => {}
            }
            // Other shards start on their packets while this one sends its own.
            self.flush_outbox();
            self.run_timers(Instant::now());
            self.flush_outbox();
            flush_on(&self.sockets, &mut self.batch);
        }
        debug!(shard = self.index, "shard stopped");
    }

    /// Sends each other shard the packets this iteration routed to it, in one message.
    fn flush_outbox(&mut self) {
        for (owner, out) in self.outbox.iter_mut().enumerate() {
            if !out.is_empty() {
                let _ = self.shared.shards[owner].send(ShardMsg::Forward(std::mem::take(out)));
            }
        }
    }

    /// Reads what is already waiting on the sockets, a bounded number at a time.
    fn drain_sockets(&mut self, buf: &mut [u8]) {
        for _ in 0..RECV_BATCH {
            let mut got = false;
            for i in 0..self.sockets.len() {
                let r = self.sockets[i].1.try_recv_from(buf);
                if let Ok((n, src)) = r {
                    got = true;
                    let local = self.sockets[i].0;
                    self.on_socket(Instant::now(), local, src, &buf[..n]);
                }
            }
            if !got {
                break;
            }
        }
    }

    /// Reads what waits on the input sockets (bounded per socket) and routes it.
    fn drain_inputs(&mut self, buf: &mut [u8]) {
        let now = Instant::now();
        self.with_inputs(now, |inputs, io| inputs.drain(now, buf, io));
    }

    fn on_input(&mut self, now: Instant, slot: usize, source: SocketAddr, data: &[u8]) {
        self.with_inputs(now, |inputs, io| {
            inputs.on_datagram(now, slot, source, data, io)
        });
    }

    /// Runs `f` on the inputs with their I/O context, then routes what it produced and asks
    /// for keyframes for the routes of streams that just (re)started.
    fn with_inputs(&mut self, now: Instant, f: impl FnOnce(&mut Inputs, &mut InputIo)) {
        let mut started = Vec::new();
        let mut io = InputIo {
            forward: &mut self.forward,
            events: &self.shared.events,
            started: &mut started,
            no_media: self.shared.peer_config.no_media,
        };
        f(&mut self.inputs, &mut io);
        for (source, mid) in started {
            if self.router.has_routes(source, &mid) {
                self.keyframe_upstream(now, source, mid, None, true);
            }
        }
        self.process_work(now);
    }

    // ---- datagrams ----------------------------------------------------------------

    fn on_socket(&mut self, now: Instant, local: SocketAddr, source: SocketAddr, data: &[u8]) {
        if classify(data) == PacketClass::Unknown {
            debug!(
                shard = self.index,
                "dropping non-WebRTC datagram ({} bytes) from {source}",
                data.len()
            );
            return;
        }
        let Some(handle) = self.shared.demux.lookup(source, data) else {
            debug!(
                shard = self.index,
                "dropping datagram from unknown {source}"
            );
            return;
        };
        let owner = self.shared.shard_of(handle);
        if owner == self.index {
            self.on_datagram(now, handle, source, local, data);
        } else {
            let msg = ShardMsg::Datagram {
                handle,
                source,
                destination: local,
                data: data.to_vec(),
            };
            let _ = self.shared.shards[owner].send(msg);
        }
    }

    fn on_datagram(
        &mut self,
        now: Instant,
        handle: HandleId,
        source: SocketAddr,
        dest: SocketAddr,
        data: &[u8],
    ) {
        let done = self.with_peer(handle, |p, io| p.on_datagram(now, source, dest, data, io));
        if done.is_none() {
            trace!(handle, "datagram for a peer that is gone");
        }
        self.process_work(now);
    }

    // ---- peers ----------------------------------------------------------------------

    /// Runs `f` on the handle's peer with an I/O context, then reschedules it or ends it.
    fn with_peer<R>(
        &mut self,
        handle: HandleId,
        f: impl FnOnce(&mut Peer, &mut PeerIo) -> R,
    ) -> Option<R> {
        let Shard {
            handles,
            sockets,
            shared,
            router,
            forward,
            keyframe_requests,
            deadlines,
            forwarders,
            batch,
            ..
        } = self;
        let peer = handles.get_mut(&handle)?.peer.as_mut()?;
        let mut send =
            |s: SocketAddr, d: SocketAddr, data: &[u8]| send_on(sockets, batch, s, d, data);
        let mut io = PeerIo {
            send: &mut send,
            demux: &shared.demux,
            events: &shared.events,
            router,
            forward,
            keyframe_requests,
            forwarders,
        };
        // A panic inside the WebRTC stack ends this peer only, not the whole shard.
        let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(peer, &mut io))) {
            Ok(r) => Some(r),
            Err(_) => {
                warn!(handle, "panic while driving the peer; closing it");
                peer.ended = Some(crate::peer::PeerEnd::Internal);
                None
            }
        };
        if let Some(bps) = peer.estimate.take() {
            router.set_estimate(handle, bps);
        }
        if peer.ended.is_none() {
            let d = peer.deadline();
            deadlines.schedule(handle, d, &mut peer.scheduled);
        }
        let ended = peer.ended.clone();
        if let Some(end) = ended {
            self.end_peer(handle, Some(end.reason()));
        }
        r
    }

    /// Removes the handle's peer; `reason` = emit a `Hangup` event.
    fn end_peer(&mut self, handle: HandleId, reason: Option<&str>) {
        let Some(state) = self.handles.get_mut(&handle) else {
            return;
        };
        let Some(mut peer) = state.peer.take() else {
            return;
        };
        peer.unregister(&self.shared.demux);
        state.queued.clear();
        self.router.reset_target(handle);
        if let Some(reason) = reason {
            debug!(handle, "hangup: {reason}");
            let _ = self.shared.events.send(MediaEvent::Hangup {
                handle,
                reason: reason.to_string(),
            });
        }
    }

    fn run_timers(&mut self, now: Instant) {
        let no_media = self.shared.peer_config.no_media;
        self.inputs.on_timer(now, &self.shared.events, no_media);
        for (source, mid, layer) in self.router.due_keyframes(now) {
            self.keyframe_upstream(now, source, mid, layer, true);
        }
        while let Some((t, handle)) = self.deadlines.pop_due(now) {
            let Some(peer) = self.handles.get_mut(&handle).and_then(|s| s.peer.as_mut()) else {
                continue;
            };
            if peer.scheduled != Some(t) {
                continue; // superseded by an earlier entry
            }
            peer.scheduled = None;
            if peer.deadline() <= now {
                self.with_peer(handle, |p, io| p.on_timeout(now, io));
            } else {
                let d = peer.deadline();
                self.deadlines.schedule(handle, d, &mut peer.scheduled);
            }
        }
        self.process_work(now);
        self.drive_due(now);
    }

    /// Drives, once each, the peers that got routed packets since the last pass (last in
    /// the timer pass, after everything that routes). Driving can route again; a few rounds
    /// settle it, and what is left is picked up by the next iteration, which then does not
    /// sleep (see `run`).
    fn drive_due(&mut self, now: Instant) {
        for _ in 0..DUE_ROUNDS {
            if self.due.is_empty() {
                return;
            }
            let mut due = std::mem::take(&mut self.due);
            for handle in due.drain(..) {
                let driven = self
                    .handles
                    .get(&handle)
                    .and_then(|s| s.peer.as_ref())
                    .is_some_and(|p| p.due);
                if driven {
                    self.with_peer(handle, |p, io| p.on_timeout(now, io));
                }
            }
            if self.due.is_empty() {
                self.due = due; // keep the allocation
            }
            self.process_work(now);
        }
    }

    // ---- routing --------------------------------------------------------------------

    /// Moves the packets and keyframe requests the peers produced along the routes.
    fn process_work(&mut self, now: Instant) {
        while !self.forward.is_empty() || !self.keyframe_requests.is_empty() {
            let packets = std::mem::take(&mut self.forward);
            for p in &packets {
                let n = self.router.fanout(p.source, &p.source_mid).len();
                for i in 0..n {
                    let Some(&(route, target)) = self.router.fanout(p.source, &p.source_mid).get(i)
                    else {
                        break;
                    };
                    let owner = self.shared.shard_of(target);
                    if owner == self.index {
                        self.deliver(now, route, p);
                    } else if let Some(routes) = self.remote_routes.get_mut(owner) {
                        routes.push(route);
                    }
                }
                for owner in 0..self.remote_routes.len() {
                    if self.remote_routes[owner].is_empty() {
                        continue;
                    }
                    let routes = std::mem::take(&mut self.remote_routes[owner]);
                    self.outbox[owner].push((routes, p.clone()));
                }
                if self.forwarders.has(p.source, &p.source_mid) {
                    self.forward_plain(now, p);
                }
            }
            // Keep the allocation for the next round.
            if self.forward.is_empty() {
                let mut packets = packets;
                packets.clear();
                self.forward = packets;
            }
            let requests = std::mem::take(&mut self.keyframe_requests);
            for (target, mid) in requests {
                for (source, smid, layer) in self.router.sources_of(target, &mid) {
                    self.keyframe_upstream(now, source, smid, layer, true);
                }
            }
        }
        self.poll_forwarders_rtcp(now);
    }

    /// Sends one source packet to its plain-RTP forwarders.
    fn forward_plain(&mut self, now: Instant, p: &ForwardPacket) {
        let Some(pt) = self
            .handles
            .get(&p.source)
            .and_then(|s| s.peer.as_ref())
            .and_then(|peer| peer.source_pt(&p.codec))
        else {
            return;
        };
        let n = self.forwarders.of(p.source, &p.source_mid).len();
        for i in 0..n {
            let Some(&id) = self.forwarders.of(p.source, &p.source_mid).get(i) else {
                break;
            };
            let Some(f) = self.forwarders.get_mut(id) else {
                continue;
            };
            let step = f.on_packet(p, pt);
            if step.send {
                let any = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0);
                send_on(&self.sockets, &mut self.batch, any, f.dest, f.datagram());
            }
            if let Some(layer) = step.keyframe_request {
                self.keyframe_upstream(now, p.source, p.source_mid, Some(layer), true);
            }
        }
    }

    /// Reads the forwarders' RTCP sockets now and then; PLI/FIR become keyframe requests.
    fn poll_forwarders_rtcp(&mut self, now: Instant) {
        if self.forwarders.is_empty()
            || self
                .forwarders
                .rtcp_polled
                .is_some_and(|t| now.saturating_duration_since(t) < RTCP_POLL)
        {
            return;
        }
        self.forwarders.rtcp_polled = Some(now);
        let mut buf = [0u8; 1500];
        let wanted: Vec<(HandleId, Mid, Option<u8>)> = self
            .forwarders
            .iter_mut()
            .filter(|f| f.rtcp.is_some())
            .filter_map(|f| f.poll_rtcp(&mut buf).then(|| (f.source, f.mid, f.layer())))
            .collect();
        for (source, mid, layer) in wanted {
            self.keyframe_upstream(now, source, mid, layer, true);
        }
    }

    fn add_forwarder(
        &mut self,
        now: Instant,
        id: ForwarderId,
        fw: RtpForward,
    ) -> Result<(), MediaError> {
        let mid = Mid::from(fw.source.mid.as_str());
        let handle = fw.source.handle;
        let peer = self
            .handles
            .get(&handle)
            .and_then(|s| s.peer.as_ref())
            .ok_or(MediaError::NoPeer(handle))?;
        if !peer.has_mid(mid) {
            return Err(MediaError::Forward(format!(
                "no m-line {mid} on handle {handle}"
            )));
        }
        let local = self
            .sockets
            .iter()
            .map(|(a, _)| *a)
            .find(|a| a.is_ipv4() == fw.dest.is_ipv4())
            .ok_or_else(|| MediaError::Forward(format!("no local address to reach {}", fw.dest)))?;
        let rtcp = match fw.rtcp_port {
            None => None,
            Some(port) => {
                let s = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), port))
                    .and_then(|s| s.set_nonblocking(true).map(|_| s))
                    .map_err(|e| MediaError::Io(format!("RTCP port {port}: {e}")))?;
                Some(s)
            }
        };
        let ssrc = fw.ssrc.unwrap_or_else(rand::random);
        let mut f = Forwarder::new(id, &fw, ssrc, rand::random());
        f.rtcp = rtcp;
        self.forwarders.add(f);
        debug!(id, "rtp forwarder {handle}/{mid} → {}", fw.dest);
        // The receiver can only start decoding from a keyframe.
        self.keyframe_upstream(now, handle, mid, None, false);
        Ok(())
    }

    fn deliver(&mut self, now: Instant, route: RouteId, p: &ForwardPacket) {
        let Some(d) = self.router.deliver(route, p, rand::random()) else {
            return;
        };
        if let Some((source, mid, layer)) = d.keyframe_request {
            self.keyframe_upstream(now, source, mid, layer, true);
        }
        if let Some(l) = d.layer_changed {
            // The router reports a change once, so this is once per change too.
            let _ = self.shared.events.send(MediaEvent::LayerChanged {
                route,
                target: MediaRef {
                    handle: d.target,
                    mid: d.mid.to_string(),
                },
                substream: l.substream,
                temporal: l.temporal,
            });
        }
        if let Some(out) = d.out {
            self.write_routed(now, d.target, d.mid, p, &out);
        }
    }

    /// Hands a routed packet to the target's send stream and marks the peer due: the timer
    /// pass at the end of this loop iteration drives it once, whatever number of packets
    /// reached it meanwhile. This is the per-packet-per-target path, so it skips
    /// `with_peer`'s rescheduling (a timer-queue push per packet).
    fn write_routed(
        &mut self,
        now: Instant,
        target: HandleId,
        mid: Mid,
        p: &ForwardPacket,
        out: &crate::router::rewrite::RtpOut,
    ) {
        let Some(peer) = self.handles.get_mut(&target).and_then(|s| s.peer.as_mut()) else {
            return;
        };
        let (sockets, batch) = (&self.sockets, &mut self.batch);
        let mut send = |source: SocketAddr, dest: SocketAddr, data: &[u8]| {
            send_on(sockets, batch, source, dest, data)
        };
        let wrote = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            peer.write_rtp(now, mid, p, out, &mut send)
        }));
        let Ok(held) = wrote else {
            warn!(
                handle = target,
                "panic while writing a routed packet; closing the peer"
            );
            self.end_peer(target, Some(crate::peer::PeerEnd::Internal.reason()));
            return;
        };
        if held && !peer.due {
            peer.due = true;
            self.due.push(target);
        }
    }

    /// A target starting (or resuming) a route mid-stream can decode only from a keyframe:
    /// ask the source for one now instead of leaving it to wait up to a whole GOP. Only when
    /// the target's PeerConnection is up; one coming up later asks then (`Event::Connected`
    /// in the peer). Throttled per source, so a crowd joining at once costs one request.
    fn keyframe_for_route(&mut self, now: Instant, id: RouteId) {
        let Some(route) = self.router.target_route(id) else {
            return;
        };
        if route.paused {
            return;
        }
        let target_mid = Mid::from(route.target.mid.as_str());
        let up = self
            .handles
            .get(&route.target.handle)
            .and_then(|s| s.peer.as_ref())
            .is_some_and(|p| p.is_connected() && p.is_video(target_mid));
        if !up {
            return;
        }
        let source = route.source.handle;
        let mid = Mid::from(route.source.mid.as_str());
        let layer = route.layer.substream;
        self.keyframe_upstream(now, source, mid, layer, true);
    }

    /// Asks a source for a keyframe, on its own shard.
    fn keyframe_upstream(
        &mut self,
        now: Instant,
        source: HandleId,
        mid: Mid,
        layer: Option<u8>,
        throttle: bool,
    ) {
        let owner = self.shared.shard_of(source);
        if owner != self.index {
            let _ = self.shared.shards[owner].send(ShardMsg::KeyframeRequest {
                source,
                mid,
                layer,
                throttle,
            });
            return;
        }
        if throttle && !self.router.keyframe_allowed(source, mid, now) {
            self.router.defer_keyframe(source, mid, layer);
            return;
        }
        if self.inputs.has(source) {
            self.inputs.request_keyframe(source, mid);
            return;
        }
        self.with_peer(source, |p, io| p.request_keyframe(now, mid, layer, io));
    }

    // ---- messages -------------------------------------------------------------------

    /// Handles one message; false = stop the shard.
    fn on_msg(&mut self, m: ShardMsg) -> bool {
        let now = Instant::now();
        match m {
            ShardMsg::Stop => return false,
            ShardMsg::Datagram {
                handle,
                source,
                destination,
                data,
            } => self.on_datagram(now, handle, source, destination, &data),
            ShardMsg::Forward(batch) => {
                for (routes, packet) in batch {
                    for route in routes {
                        self.deliver(now, route, &packet);
                    }
                }
            }
            ShardMsg::KeyframeRequest {
                source,
                mid,
                layer,
                throttle,
            } => self.keyframe_upstream(now, source, mid, layer, throttle),
            ShardMsg::Cmd(c) => self.on_cmd(now, c),
        }
        self.process_work(now);
        true
    }

    fn on_cmd(&mut self, now: Instant, c: Cmd) {
        match c {
            Cmd::RemoteOffer { handle, sdp, reply } => {
                let _ = reply.send(self.remote_offer(now, handle, sdp));
            }
            Cmd::Answer {
                handle,
                spec,
                reply,
            } => {
                let r = self
                    .with_peer(handle, |p, io| p.answer(now, &spec, io))
                    .unwrap_or(Err(MediaError::NoPendingOffer));
                if r.is_ok() {
                    self.apply_queued(now, handle);
                }
                let _ = reply.send(r);
            }
            Cmd::Offer {
                handle,
                spec,
                reply,
            } => {
                // A PeerConnection that only sends (a VideoRoom subscriber) needs no
                // transport-wide feedback from its client; see `PeerRole`.
                let send_only = !spec.media.is_empty()
                    && spec
                        .media
                        .iter()
                        .all(|m| matches!(m.direction, Direction::SendOnly | Direction::Inactive));
                let role = if send_only {
                    PeerRole::SendOnly
                } else {
                    PeerRole::Any
                };
                self.ensure_peer(now, handle, role);
                let r = self
                    .with_peer(handle, |p, io| p.offer(now, &spec, io))
                    .unwrap_or(Err(MediaError::NoPeer(handle)));
                let _ = reply.send(r);
            }
            Cmd::RemoteAnswer { handle, sdp, reply } => {
                let r = self.remote_answer(now, handle, &sdp);
                let _ = reply.send(r);
            }
            Cmd::Candidate {
                handle,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.remote_candidate(now, handle, candidate));
            }
            Cmd::Hangup { handle, reason } => {
                if self.with_peer(handle, |p, io| p.close(now, io)).is_some() {
                    self.end_peer(handle, Some(&reason));
                }
            }
            Cmd::Destroy { handle } => {
                self.with_peer(handle, |p, io| p.close(now, io));
                self.end_peer(handle, None);
                self.handles.remove(&handle);
            }
            Cmd::ForgetHandle { handle } => {
                self.router.forget_handle(handle);
                self.forwarders.remove_source(handle);
            }
            Cmd::SendData {
                handle,
                message,
                reply,
            } => {
                let r = self
                    .with_peer(handle, |p, io| p.send_data(now, &message, io))
                    .unwrap_or(Err(MediaError::NoPeer(handle)));
                let _ = reply.send(r);
            }
            Cmd::BitrateCap { handle, bitrate } => {
                self.with_peer(handle, |p, io| p.set_bitrate_cap(now, bitrate, io));
            }
            Cmd::AddFanout {
                id,
                source,
                mid,
                target,
            } => self.router.add_fanout(id, source, mid, target),
            Cmd::AddTarget { id, route } => {
                self.router.add_target(id, route);
                self.keyframe_for_route(now, id);
            }
            Cmd::UpdateRoute { id, layer, paused } => {
                let resumed = self.router.target_route(id).is_some_and(|r| r.paused) && !paused;
                self.router.update(id, layer, paused);
                if resumed {
                    self.keyframe_for_route(now, id);
                }
            }
            Cmd::RemoveRoute { id } => self.router.remove(id),
            Cmd::TalkDetect {
                handle,
                mid,
                config,
                reply,
            } => {
                let r = match self.handles.get_mut(&handle).and_then(|s| s.peer.as_mut()) {
                    Some(p) => p.set_talk_detection(mid, config),
                    None => Err(MediaError::NoPeer(handle)),
                };
                let _ = reply.send(r);
            }
            Cmd::AddForwarder { id, forward, reply } => {
                let _ = reply.send(self.add_forwarder(now, id, forward));
            }
            Cmd::RemoveForwarder { id } => {
                self.forwarders.remove(id);
            }
            Cmd::AddInput {
                source,
                input,
                streams,
                reply,
            } => {
                let _ = reply.send(self.inputs.open(source, &input, streams));
            }
            Cmd::RemoveInput { source, reply } => {
                let _ = reply.send(self.inputs.close(source));
            }
            Cmd::InputStats { source, reply } => {
                let _ = reply.send(self.inputs.stats(source, now));
            }
            Cmd::SrtpProfile { handle, reply } => {
                let p = self
                    .handles
                    .get(&handle)
                    .and_then(|s| s.peer.as_ref())
                    .and_then(|p| p.srtp_profile_name());
                let _ = reply.send(p);
            }
            Cmd::NativeEgress { handle, reply } => {
                let native = self
                    .handles
                    .get(&handle)
                    .and_then(|s| s.peer.as_ref())
                    .is_some_and(|p| p.native_egress_active());
                let _ = reply.send(native);
            }
        }
    }

    fn ensure_peer(&mut self, now: Instant, handle: HandleId, role: PeerRole) {
        let state = self.handles.entry(handle).or_default();
        if state.peer.is_none() {
            state.peer = Some(Peer::new(
                handle,
                &self.shared.peer_config,
                &self.shared.demux,
                now,
                role,
            ));
        }
    }

    fn remote_offer(
        &mut self,
        now: Instant,
        handle: HandleId,
        text: String,
    ) -> Result<SdpSummary, MediaError> {
        sdp::parse_offer(&text)?;
        let update = self
            .handles
            .get(&handle)
            .and_then(|s| s.peer.as_ref())
            .is_some_and(|p| p.has_remote);
        let summary = sdp::summarize(&text, update);
        self.ensure_peer(now, handle, PeerRole::Any);
        let first_mid = sdp::first_mid(&text);
        if let Some(p) = self.handles.get_mut(&handle).and_then(|s| s.peer.as_mut()) {
            p.set_remote_offer(text, first_mid);
        }
        Ok(summary)
    }

    fn remote_answer(
        &mut self,
        now: Instant,
        handle: HandleId,
        text: &str,
    ) -> Result<SdpSummary, MediaError> {
        let Some(peer) = self.handles.get(&handle).and_then(|s| s.peer.as_ref()) else {
            return Err(MediaError::UnexpectedAnswer);
        };
        if !peer.has_pending_local_offer() {
            return Err(MediaError::UnexpectedAnswer);
        }
        let update = peer.has_remote;
        self.with_peer(handle, |p, io| p.remote_answer(now, text, io))
            .unwrap_or(Err(MediaError::UnexpectedAnswer))?;
        let summary = sdp::summarize(text, update);
        if let Some(p) = self.handles.get_mut(&handle).and_then(|s| s.peer.as_mut()) {
            p.first_mid = sdp::first_mid(text);
        }
        self.apply_queued(now, handle);
        Ok(summary)
    }

    fn remote_candidate(
        &mut self,
        now: Instant,
        handle: HandleId,
        c: TrickleCandidate,
    ) -> Result<(), MediaError> {
        let TrickleCandidate::Candidate {
            candidate,
            sdp_mid,
            sdp_mline_index,
        } = c
        else {
            // str0m keeps checking whatever it has; "completed" needs no action.
            return Ok(());
        };
        let cand = sdp::parse_candidate(&candidate)?;
        let state = self.handles.entry(handle).or_default();
        let first_mid = state.peer.as_ref().and_then(|p| p.first_mid.clone());
        // BUNDLE: only the first m-line's candidates matter (as in Janus).
        let other_mline = match (&sdp_mid, &first_mid) {
            (Some(m), Some(f)) => m != f,
            _ => sdp_mline_index.is_some_and(|i| i != 0),
        };
        if other_mline {
            debug!(
                handle,
                "ignoring candidate for another m-line ({sdp_mid:?}/{sdp_mline_index:?})"
            );
            return Ok(());
        }
        let ready = state.peer.as_ref().is_some_and(|p| p.has_remote);
        if ready {
            self.with_peer(handle, |p, io| p.add_remote_candidate(now, cand, io));
        } else if state.queued.len() < MAX_QUEUED_CANDIDATES {
            state.queued.push(cand);
        } else {
            warn!(handle, "too many early candidates; dropping one");
        }
        Ok(())
    }

    fn apply_queued(&mut self, now: Instant, handle: HandleId) {
        let queued = match self.handles.get_mut(&handle) {
            Some(s) => std::mem::take(&mut s.queued),
            None => return,
        };
        for c in queued {
            self.with_peer(handle, |p, io| p.add_remote_candidate(now, c, io));
        }
    }
}
