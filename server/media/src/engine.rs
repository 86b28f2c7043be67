//! The public face of the media core. All methods are synchronous and short (they hand a
//! command to the owning shard and wait for its reply), so they may be called from the
//! plugin threads and from async code alike.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use str0m::media::Mid;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::demux::Demux;
use crate::error::MediaError;
use crate::peer::PeerConfig;
use crate::shard::{Cmd, Shard, ShardMsg, Shared};
use crate::types::*;
use crate::udp;

/// Media settings (the `[media]` section of config.toml).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP port every PeerConnection shares (0 = any free port).
    pub udp_port: u16,
    /// Worker threads (shards); 0 = one per core.
    pub workers: usize,
    /// Local addresses to gather host candidates on; empty = every IPv4 interface, loopback included.
    pub interfaces: Vec<IpAddr>,
    /// NAT 1:1: the public address announced (as a server-reflexive candidate) for each host candidate.
    pub nat_1_1: Option<IpAddr>,
    /// Seconds without packets on an m-line before `media receiving:false` (Janus no_media_timer).
    pub no_media_timer: u64,
    /// Lost packets per second that trigger `slowlink`; 0 = never (Janus slowlink_threshold).
    pub slowlink_threshold: u32,
    /// Negotiate the AV1 dependency descriptor (AV1 SVC layer selection). Off by default:
    /// with it negotiated, Chromium's VP8 simulcast publishers stop giving us the temporal
    /// layers the router reads (temporal switching with VP8 fails in the browser test), and
    /// the router reads the descriptor for AV1 only.
    pub av1_dependency_descriptor: bool,
    /// Send routed RTP to send-only PeerConnections (VideoRoom subscribers, Streaming
    /// viewers) on the native path, sealed and sent without str0m's per-packet work
    /// (`crate::egress`); off = every packet goes through str0m.
    pub native_egress: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            udp_port: 10000,
            workers: 0,
            interfaces: Vec::new(),
            nat_1_1: None,
            no_media_timer: 1,
            slowlink_threshold: 0,
            av1_dependency_descriptor: false,
            native_egress: true,
        }
    }
}

/// Handle to the running media core. Cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    local_addrs: Vec<SocketAddr>,
    routes: Mutex<HashMap<RouteId, Route>>,
    next_route: AtomicU64,
    /// Forwarder id → its source handle (whose shard runs it).
    forwarders: Mutex<HashMap<ForwarderId, HandleId>>,
    next_forwarder: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for s in &self.shared.shards {
            let _ = s.send(ShardMsg::Stop);
        }
    }
}

impl MediaEngine {
    /// Binds the UDP sockets, starts the shards, and returns the engine with the stream of
    /// its events.
    pub fn start(
        config: MediaConfig,
    ) -> Result<(MediaEngine, mpsc::UnboundedReceiver<MediaEvent>), MediaError> {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let ips = udp::interface_ips(&config.interfaces);
        let (port, sockets) = udp::bind_all(&ips, config.udp_port, workers)?;
        let local_addrs: Vec<SocketAddr> =
            ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        info!("media: {workers} shard(s) on UDP {local_addrs:?}");

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut txs = Vec::with_capacity(workers);
        let mut rxs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::unbounded_channel();
            txs.push(tx);
            rxs.push(rx);
        }
        let shared = Arc::new(Shared {
            demux: Demux::default(),
            shards: txs,
            events: events_tx,
            peer_config: PeerConfig {
                host_addrs: local_addrs.clone(),
                nat_1_1: config.nat_1_1,
                no_media: Duration::from_secs(config.no_media_timer.max(1)),
                slowlink_threshold: config.slowlink_threshold,
                av1_dependency_descriptor: config.av1_dependency_descriptor,
                native_egress: config.native_egress,
            },
        });
        for (index, (rx, socks)) in rxs.into_iter().zip(sockets).enumerate() {
            let shared = shared.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MediaError::Io(format!("shard runtime: {e}")))?;
            let socks = {
                let _guard = rt.enter();
                socks
                    .into_iter()
                    .map(|(addr, s)| tokio::net::UdpSocket::from_std(s).map(|s| (addr, s)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| MediaError::Io(format!("shard socket: {e}")))?
            };
            std::thread::Builder::new()
                .name(format!("media-{index}"))
                .spawn(move || rt.block_on(Shard::new(index, shared, socks).run(rx)))
                .map_err(|e| MediaError::Io(format!("shard thread: {e}")))?;
        }
        let engine = MediaEngine {
            inner: Arc::new(Inner {
                shared,
                local_addrs,
                routes: Mutex::new(HashMap::new()),
                next_route: AtomicU64::new(1),
                forwarders: Mutex::new(HashMap::new()),
                next_forwarder: AtomicU64::new(1),
            }),
        };
        Ok((engine, events_rx))
    }

    /// The addresses the shared UDP port is bound on (host candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner.local_addrs.clone()
    }

    fn send(&self, handle: HandleId, cmd: Cmd) {
        let shard = self.inner.shared.shard_of(handle);
        if self.inner.shared.shards[shard]
            .send(ShardMsg::Cmd(cmd))
            .is_err()
        {
            warn!(handle, "media shard {shard} is gone");
        }
    }

    /// Sends a command to the handle's shard and waits for its reply.
    fn call<T>(
        &self,
        handle: HandleId,
        make: impl FnOnce(std::sync::mpsc::SyncSender<T>) -> Cmd,
    ) -> Result<T, MediaError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(handle, make(tx));
        rx.recv().map_err(|_| MediaError::Stopped)
    }

    /// A client offer for `handle` (creating its PeerConnection when it has none). Keeps it
    /// pending until `answer`. Invalid SDP → `InvalidSdp`.
    pub fn remote_offer(&self, handle: HandleId, sdp: &str) -> Result<SdpSummary, MediaError> {
        sdp_first_check(sdp)?;
        let sdp = sdp.to_string();
        self.call(handle, |reply| Cmd::RemoteOffer { handle, sdp, reply })?
    }

    /// Answers the pending client offer as the plugin asked; returns the answer SDP, which
    /// carries the server's candidates and `a=end-of-candidates`.
    pub fn answer(&self, handle: HandleId, spec: &AnswerSpec) -> Result<String, MediaError> {
        let spec = spec.clone();
        self.call(handle, |reply| Cmd::Answer {
            handle,
            spec,
            reply,
        })?
    }

    /// Makes a server offer for `handle` (creating its PeerConnection when it has none).
    pub fn offer(&self, handle: HandleId, spec: &OfferSpec) -> Result<LocalOffer, MediaError> {
        let spec = spec.clone();
        self.call(handle, |reply| Cmd::Offer {
            handle,
            spec,
            reply,
        })?
    }

    /// The client's answer to our offer. No pending offer → `UnexpectedAnswer`.
    pub fn remote_answer(&self, handle: HandleId, sdp: &str) -> Result<SdpSummary, MediaError> {
        let sdp = sdp.to_string();
        self.call(handle, |reply| Cmd::RemoteAnswer { handle, sdp, reply })?
    }

    /// A trickled client candidate. Candidates that arrive before any SDP are queued.
    pub fn add_remote_candidate(
        &self,
        handle: HandleId,
        candidate: TrickleCandidate,
    ) -> Result<(), MediaError> {
        self.call(handle, |reply| Cmd::Candidate {
            handle,
            candidate,
            reply,
        })?
    }

    /// Closes the handle's PeerConnection, if any; a `Hangup` event with `reason` follows.
    pub fn hangup(&self, handle: HandleId, reason: &str) {
        self.send(
            handle,
            Cmd::Hangup {
                handle,
                reason: reason.to_string(),
            },
        );
    }

    /// Forgets the handle: PeerConnection, queued candidates and every route touching it.
    /// No event follows.
    pub fn destroy(&self, handle: HandleId) {
        self.send(handle, Cmd::Destroy { handle });
        self.inner
            .routes
            .lock()
            .retain(|_, r| r.source.handle != handle && r.target.handle != handle);
        // The shard drops the handle's forwarders with its PeerConnection (ForgetHandle).
        self.inner.forwarders.lock().retain(|_, h| *h != handle);
        for s in &self.inner.shared.shards {
            let _ = s.send(ShardMsg::Cmd(Cmd::ForgetHandle { handle }));
        }
    }

    pub fn send_data(&self, handle: HandleId, message: DataMessage) -> Result<(), MediaError> {
        self.call(handle, |reply| Cmd::SendData {
            handle,
            message,
            reply,
        })?
    }

    /// Asks the sender of `source` for a keyframe (PLI). Requests to one source are
    /// coalesced to one per 500 ms, whoever asks (plugins, subscribers, new routes): one
    /// within that time is sent when it ends, never dropped. A plugin asking for every
    /// subscriber that comes up would otherwise send a crowd's worth of PLIs at once.
    pub fn request_keyframe(&self, source: &MediaRef) {
        let shard = self.inner.shared.shard_of(source.handle);
        let _ = self.inner.shared.shards[shard].send(ShardMsg::KeyframeRequest {
            source: source.handle,
            mid: Mid::from(source.mid.as_str()),
            layer: None,
            throttle: true,
        });
    }

    /// Caps what the client sends on this handle with REMB; 0 removes the cap.
    pub fn set_bitrate_cap(&self, handle: HandleId, bitrate: u32) {
        self.send(handle, Cmd::BitrateCap { handle, bitrate });
    }

    pub fn route_add(&self, route: Route) -> Result<RouteId, MediaError> {
        if route.source.mid.is_empty() || route.target.mid.is_empty() {
            return Err(MediaError::WrongState(
                "route needs a source and a target mid".into(),
            ));
        }
        let id = self.inner.next_route.fetch_add(1, Ordering::Relaxed);
        self.inner.routes.lock().insert(id, route.clone());
        // Target first, so the first forwarded packet finds its route there.
        self.send(
            route.target.handle,
            Cmd::AddTarget {
                id,
                route: route.clone(),
            },
        );
        self.send(
            route.source.handle,
            Cmd::AddFanout {
                id,
                source: route.source.handle,
                mid: Mid::from(route.source.mid.as_str()),
                target: route.target.handle,
            },
        );
        debug!(id, "route {:?} → {:?}", route.source, route.target);
        Ok(id)
    }

    pub fn route_update(
        &self,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), MediaError> {
        let target = {
            let mut routes = self.inner.routes.lock();
            let r = routes.get_mut(&id).ok_or(MediaError::NoRoute(id))?;
            r.layer = layer;
            r.paused = paused;
            r.target.handle
        };
        self.send(target, Cmd::UpdateRoute { id, layer, paused });
        Ok(())
    }

    pub fn route_remove(&self, id: RouteId) {
        let Some(route) = self.inner.routes.lock().remove(&id) else {
            return;
        };
        self.send(route.source.handle, Cmd::RemoveRoute { id });
        if self.inner.shared.shard_of(route.source.handle)
            != self.inner.shared.shard_of(route.target.handle)
        {
            self.send(route.target.handle, Cmd::RemoveRoute { id });
        }
    }

    /// Starts (`Some`) or stops (`None`) talk detection on an audio source; changes come as
    /// `MediaEvent::TalkChanged`.
    pub fn talk_detect(
        &self,
        source: &MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), MediaError> {
        if let Some(c) = config {
            if c.active_packets == 0 {
                return Err(MediaError::WrongState(
                    "talk detection needs at least 1 packet per window".into(),
                ));
            }
            if c.level_average > 127 {
                return Err(MediaError::WrongState(format!(
                    "talk detection level {} is beyond 127 (-dBov)",
                    c.level_average
                )));
            }
        }
        let handle = source.handle;
        let mid = Mid::from(source.mid.as_str());
        self.call(handle, |reply| Cmd::TalkDetect {
            handle,
            mid,
            config,
            reply,
        })?
    }

    /// Starts a plain-RTP forwarder of `forward.source` to `forward.dest`.
    /// The packets go out of the media sockets (the shared port), unencrypted, with the
    /// SSRC and payload type asked for and continuous numbering; the source is asked for a
    /// keyframe. Bad destination, payload type, RTCP port or source → error.
    pub fn rtp_forward_add(&self, forward: RtpForward) -> Result<ForwarderId, MediaError> {
        let dest = forward.dest;
        if dest.port() == 0 || dest.ip().is_unspecified() {
            return Err(MediaError::Forward(format!("bad destination {dest}")));
        }
        if !self
            .inner
            .local_addrs
            .iter()
            .any(|a| a.is_ipv4() == dest.is_ipv4())
        {
            return Err(MediaError::Forward(format!(
                "no local address of the family of {dest}"
            )));
        }
        if forward.pt.is_some_and(|pt| pt > 127) {
            return Err(MediaError::Forward(format!(
                "payload type {} is beyond 127",
                forward.pt.unwrap_or_default()
            )));
        }
        if forward.rtcp_port == Some(0) {
            return Err(MediaError::Forward("RTCP port 0".into()));
        }
        if forward.source.mid.is_empty() {
            return Err(MediaError::Forward("no source mid".into()));
        }
        let handle = forward.source.handle;
        let id = self.inner.next_forwarder.fetch_add(1, Ordering::Relaxed);
        self.call(handle, |reply| Cmd::AddForwarder { id, forward, reply })??;
        self.inner.forwarders.lock().insert(id, handle);
        Ok(id)
    }

    /// Stops a forwarder; unknown ids are ignored.
    pub fn rtp_forward_remove(&self, id: ForwarderId) {
        if let Some(handle) = self.inner.forwarders.lock().remove(&id) {
            self.send(handle, Cmd::RemoveForwarder { id });
        }
    }

    /// Opens a plain-RTP input named `source`: binds one UDP port per stream (and the
    /// RTCP ports asked for) on `input.ip`, on the shard that owns `source`. From then on
    /// `source` works as a route source (`MediaRef { handle: source, mid }`) like a
    /// PeerConnection; `MediaEvent::InputMedia` tells when media starts and stops.
    ///
    /// The caller allocates `source` from the client handles' id space (so it never names
    /// a handle) and keeps it unique. Returns the RTP port of each stream, in order.
    /// Bad stream descriptions, an id in use and ports that cannot be bound → error, and
    /// nothing stays open.
    pub fn rtp_input_add(&self, source: HandleId, input: RtpInput) -> Result<Vec<u16>, MediaError> {
        let streams = crate::input::check(&input)?;
        self.call(source, |reply| Cmd::AddInput {
            source,
            input,
            streams,
            reply,
        })?
    }

    /// Closes an input: its sockets are closed when this returns (the ports can be bound
    /// again), and every route from it is removed. Unknown ids are ignored.
    pub fn rtp_input_remove(&self, source: HandleId) {
        if !self
            .call(source, |reply| Cmd::RemoveInput { source, reply })
            .unwrap_or(false)
        {
            return;
        }
        self.inner
            .routes
            .lock()
            .retain(|_, r| r.source.handle != source);
        for s in &self.inner.shared.shards {
            let _ = s.send(ShardMsg::Cmd(Cmd::ForgetHandle { handle: source }));
        }
    }

    /// Packet counters of each stream of an input; `None` for no such input.
    pub fn rtp_input_stats(&self, source: HandleId) -> Option<Vec<crate::input::StreamStats>> {
        self.call(source, |reply| Cmd::InputStats { source, reply })
            .ok()
            .flatten()
    }

    /// The SRTP protection profile DTLS negotiated for the handle's PeerConnection, e.g.
    /// "SRTP_AEAD_AES_128_GCM"; `None` before DTLS is up.
    pub fn srtp_profile(&self, handle: HandleId) -> Option<String> {
        self.call(handle, |reply| Cmd::SrtpProfile { handle, reply })
            .ok()
            .flatten()
            .map(str::to_string)
    }

    /// Whether routed RTP reaches the handle's PeerConnection on the native send path
    /// (`[media] native_egress`, a send-only PeerConnection with an AES-GCM profile, up).
    pub fn native_egress(&self, handle: HandleId) -> bool {
        self.call(handle, |reply| Cmd::NativeEgress { handle, reply })
            .unwrap_or(false)
    }
}

fn sdp_first_check(sdp: &str) -> Result<(), MediaError> {
    crate::sdp::check_starts_with_version(sdp)
}
