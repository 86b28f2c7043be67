//! Messages between the engine and the shards, and between shards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use str0m::media::Mid;

use crate::error::MediaError;
use crate::router::ForwardPacket;
use crate::types::*;

pub type Reply<T> = SyncSender<T>;

pub enum ShardMsg {
    Cmd(Cmd),
    /// A datagram another shard's socket received for one of our peers.
    Datagram {
        handle: HandleId,
        source: SocketAddr,
        destination: SocketAddr,
        data: Vec<u8>,
    },
    /// Routed packets for targets we own, each with its routes: what one loop iteration of
    /// the sending shard produced for us, in one message (each message can wake the shard,
    /// and a burst handled together sends each target's packets in one pass).
    Forward(Vec<(Vec<RouteId>, Arc<ForwardPacket>)>),
    /// Ask one of our sources for a keyframe.
    KeyframeRequest {
        source: HandleId,
        mid: Mid,
        layer: Option<u8>,
        throttle: bool,
    },
    Stop,
}

pub enum Cmd {
    RemoteOffer {
        handle: HandleId,
        sdp: String,
        reply: Reply<Result<SdpSummary, MediaError>>,
    },
    Answer {
        handle: HandleId,
        spec: AnswerSpec,
        reply: Reply<Result<String, MediaError>>,
    },
    Offer {
        handle: HandleId,
        spec: OfferSpec,
        reply: Reply<Result<LocalOffer, MediaError>>,
    },
    RemoteAnswer {
        handle: HandleId,
        sdp: String,
        reply: Reply<Result<SdpSummary, MediaError>>,
    },
    Candidate {
        handle: HandleId,
        candidate: TrickleCandidate,
        reply: Reply<Result<(), MediaError>>,
    },
    Hangup {
        handle: HandleId,
        reason: String,
    },
    Destroy {
        handle: HandleId,
    },
    /// Drop routing state touching the handle (sent to every shard).
    ForgetHandle {
        handle: HandleId,
    },
    SendData {
        handle: HandleId,
        message: DataMessage,
        reply: Reply<Result<(), MediaError>>,
    },
    BitrateCap {
        handle: HandleId,
        bitrate: u32,
    },
    AddFanout {
        id: RouteId,
        source: HandleId,
        mid: Mid,
        target: HandleId,
    },
    AddTarget {
        id: RouteId,
        route: Route,
    },
    UpdateRoute {
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    },
    RemoveRoute {
        id: RouteId,
    },
    TalkDetect {
        handle: HandleId,
        mid: Mid,
        config: Option<TalkDetection>,
        reply: Reply<Result<(), MediaError>>,
    },
    AddForwarder {
        id: ForwarderId,
        forward: RtpForward,
        reply: Reply<Result<(), MediaError>>,
    },
    RemoveForwarder {
        id: ForwarderId,
    },
    /// Bind a plain-RTP input's sockets on the shard owning `source`; replies with the RTP
    /// ports.
    AddInput {
        source: HandleId,
        input: RtpInput,
        streams: Vec<crate::input::StreamSpec>,
        reply: Reply<Result<Vec<u16>, MediaError>>,
    },
    /// Close an input's sockets; replies whether it existed.
    RemoveInput {
        source: HandleId,
        reply: Reply<bool>,
    },
    InputStats {
        source: HandleId,
        reply: Reply<Option<Vec<crate::input::StreamStats>>>,
    },
    SrtpProfile {
        handle: HandleId,
        reply: Reply<Option<&'static str>>,
    },
    NativeEgress {
        handle: HandleId,
        reply: Reply<bool>,
    },
}
