//! Conveniences on the generated WIT types.

use crate::{
    AnswerSpec, Direction, JsepIn, LayerChoice, MediaAnswer, MediaKind, MediaRef, TalkDetection,
};

impl Direction {
    /// The direction to answer with when the client offered `self` (sendonly ↔ recvonly).
    pub fn mirror(self) -> Direction {
        match self {
            Direction::Sendrecv => Direction::Sendrecv,
            Direction::Sendonly => Direction::Recvonly,
            Direction::Recvonly => Direction::Sendonly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The Janus / SDP name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sendrecv => "sendrecv",
            Direction::Sendonly => "sendonly",
            Direction::Recvonly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

impl AnswerSpec {
    /// Accept every m-line of `offer` with the mirrored direction and the client's first
    /// codec, and the data channel if offered.
    pub fn mirror(offer: &JsepIn) -> AnswerSpec {
        AnswerSpec {
            media: offer
                .media
                .iter()
                .map(|m| MediaAnswer {
                    mid: m.mid.clone(),
                    accept: true,
                    direction: m.direction.mirror(),
                    codec: None,
                })
                .collect(),
            data_channels: offer.data_channels,
        }
    }
}

impl MediaRef {
    pub fn new(handle: u64, mid: impl Into<String>) -> MediaRef {
        MediaRef {
            handle,
            mid: mid.into(),
        }
    }
}

impl LayerChoice {
    /// The highest substream and every temporal layer.
    pub fn all() -> LayerChoice {
        LayerChoice {
            substream: None,
            temporal: None,
        }
    }
}

impl Default for TalkDetection {
    /// Janus's defaults: 100 packets per window, threshold 25 (-dBov).
    fn default() -> Self {
        TalkDetection {
            active_packets: 100,
            level_average: 25,
        }
    }
}
