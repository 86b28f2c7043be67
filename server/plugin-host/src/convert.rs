//! Between the WIT records (generated bindings) and the core's plain types
//! (`portunus_media::types`): field for field, nothing else.

use portunus_media::types as core;

use crate::bindings::wit;

pub fn jsep_in(j: &core::JsepIn) -> wit::JsepIn {
    wit::JsepIn {
        kind: match j.kind {
            core::JsepType::Offer => wit::JsepType::Offer,
            core::JsepType::Answer => wit::JsepType::Answer,
        },
        sdp: j.sdp.clone(),
        media: j.summary.media.iter().map(media_line).collect(),
        data_channels: j.summary.data_channels,
        update: j.summary.update,
        e2ee: j.e2ee,
    }
}

fn media_line(m: &core::MediaLine) -> wit::MediaLine {
    wit::MediaLine {
        index: m.index,
        mid: m.mid.clone(),
        kind: media_kind_to_wit(m.kind),
        direction: direction_to_wit(m.direction),
        codecs: m.codecs.clone(),
        rids: m.rids.clone(),
        simulcast_layers: m.simulcast_layers,
        audio_level: m.audio_level,
    }
}

fn media_kind_to_wit(k: core::MediaKind) -> wit::MediaKind {
    match k {
        core::MediaKind::Audio => wit::MediaKind::Audio,
        core::MediaKind::Video => wit::MediaKind::Video,
    }
}

fn media_kind(k: wit::MediaKind) -> core::MediaKind {
    match k {
        wit::MediaKind::Audio => core::MediaKind::Audio,
        wit::MediaKind::Video => core::MediaKind::Video,
    }
}

fn direction_to_wit(d: core::Direction) -> wit::Direction {
    match d {
        core::Direction::SendRecv => wit::Direction::Sendrecv,
        core::Direction::SendOnly => wit::Direction::Sendonly,
        core::Direction::RecvOnly => wit::Direction::Recvonly,
        core::Direction::Inactive => wit::Direction::Inactive,
    }
}

fn direction(d: wit::Direction) -> core::Direction {
    match d {
        wit::Direction::Sendrecv => core::Direction::SendRecv,
        wit::Direction::Sendonly => core::Direction::SendOnly,
        wit::Direction::Recvonly => core::Direction::RecvOnly,
        wit::Direction::Inactive => core::Direction::Inactive,
    }
}

pub fn jsep_out(j: wit::JsepOut) -> core::JsepOut {
    match j {
        wit::JsepOut::Answer(a) => core::JsepOut::Answer(core::AnswerSpec {
            media: a
                .media
                .into_iter()
                .map(|m| core::MediaAnswer {
                    mid: m.mid,
                    accept: m.accept,
                    direction: direction(m.direction),
                    codec: m.codec,
                })
                .collect(),
            data_channels: a.data_channels,
        }),
        wit::JsepOut::Offer(o) => core::JsepOut::Offer(offer_spec(o)),
        wit::JsepOut::PreparedOffer => core::JsepOut::PreparedOffer,
    }
}

pub fn offer_spec(o: wit::OfferSpec) -> core::OfferSpec {
    core::OfferSpec {
        media: o
            .media
            .into_iter()
            .map(|m| core::MediaOffer {
                mid: m.mid,
                kind: media_kind(m.kind),
                direction: direction(m.direction),
                codecs: m.codecs,
                stream_id: m.stream_id,
            })
            .collect(),
        data_channels: o.data_channels,
        ice_restart: o.ice_restart,
    }
}

pub fn media_ref(m: wit::MediaRef) -> core::MediaRef {
    core::MediaRef {
        handle: m.handle,
        mid: m.mid,
    }
}

pub fn layer(l: wit::LayerChoice) -> core::LayerChoice {
    core::LayerChoice {
        substream: l.substream,
        temporal: l.temporal,
    }
}

pub fn route(r: wit::Route) -> core::Route {
    core::Route {
        source: media_ref(r.source),
        target: media_ref(r.target),
        layer: layer(r.layer),
        paused: r.paused,
        auto_layer: r.auto_layer,
    }
}

pub fn rtp_forward(f: wit::RtpForward) -> crate::gateway::RtpForwardRequest {
    crate::gateway::RtpForwardRequest {
        source: media_ref(f.source),
        host: f.host,
        port: f.port,
        ssrc: f.ssrc,
        pt: f.pt,
        substream: f.substream,
        rtcp_port: f.rtcp_port,
    }
}

pub fn rtp_input(i: wit::RtpInput) -> crate::gateway::RtpInputRequest {
    crate::gateway::RtpInputRequest {
        host: i.host,
        streams: i
            .streams
            .into_iter()
            .map(|s| crate::gateway::RtpInputStreamRequest {
                mid: s.mid,
                kind: media_kind(s.kind),
                codec: s.codec,
                clock_rate: s.clock_rate,
                channels: s.channels,
                pt: s.pt,
                fmtp: s.fmtp,
                port: s.port,
                rtcp_port: s.rtcp_port,
            })
            .collect(),
    }
}

pub fn rtp_input_info_to_wit(i: crate::gateway::RtpInputInfo) -> wit::RtpInputInfo {
    wit::RtpInputInfo {
        source: i.source,
        ports: i.ports,
    }
}

pub fn talk_detection(t: wit::TalkDetection) -> core::TalkDetection {
    core::TalkDetection {
        active_packets: t.active_packets,
        level_average: t.level_average,
    }
}

fn media_ref_to_wit(m: core::MediaRef) -> wit::MediaRef {
    wit::MediaRef {
        handle: m.handle,
        mid: m.mid,
    }
}

/// `None` for the media events that are not a plugin's business (the client-visible ones).
pub fn media_event_to_wit(e: core::MediaEvent) -> Option<wit::MediaEvent> {
    match e {
        core::MediaEvent::LayerChanged {
            route,
            target,
            substream,
            temporal,
        } => Some(wit::MediaEvent::LayerChanged(wit::LayerChange {
            route,
            target: media_ref_to_wit(target),
            substream,
            temporal,
        })),
        core::MediaEvent::TalkChanged {
            source,
            talking,
            level_dbov_avg,
        } => Some(wit::MediaEvent::TalkChanged(wit::TalkChange {
            source: media_ref_to_wit(source),
            talking,
            level_dbov_avg,
        })),
        core::MediaEvent::InputMedia { source, receiving } => {
            Some(wit::MediaEvent::InputMedia(wit::InputMedia {
                source: media_ref_to_wit(source),
                receiving,
            }))
        }
        _ => None,
    }
}

pub fn data_to_wit(d: core::DataMessage) -> wit::DataMessage {
    wit::DataMessage {
        label: d.label,
        data: d.data,
        binary: d.binary,
    }
}

pub fn data(d: wit::DataMessage) -> core::DataMessage {
    core::DataMessage {
        label: d.label,
        data: d.data,
        binary: d.binary,
    }
}
