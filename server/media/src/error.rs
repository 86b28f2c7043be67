use thiserror::Error;

use crate::types::HandleId;

/// Errors of the media core. The API maps them to Janus codes (see each variant).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaError {
    /// Janus 465.
    #[error("Invalid SDP ({0})")]
    InvalidSdp(String),
    /// Janus 469.
    #[error("Unexpected ANSWER (did we offer?)")]
    UnexpectedAnswer,
    /// Nothing to answer: the plugin answered but no client offer is pending.
    #[error("No pending offer to answer")]
    NoPendingOffer,
    /// Janus 471: wrong WebRTC state for this operation.
    #[error("Wrong WebRTC state: {0}")]
    WrongState(String),
    #[error("No PeerConnection for handle {0}")]
    NoPeer(HandleId),
    #[error("No such route {0}")]
    NoRoute(u64),
    #[error("Invalid candidate: {0}")]
    InvalidCandidate(String),
    #[error("Data channel error: {0}")]
    Data(String),
    /// A plain-RTP forwarder that cannot be set up (bad destination, port or payload type).
    #[error("RTP forwarder: {0}")]
    Forward(String),
    /// A plain-RTP input that cannot be opened (bad stream description, port in use).
    #[error("RTP input: {0}")]
    Input(String),
    #[error("I/O error: {0}")]
    Io(String),
    /// The media core is shutting down.
    #[error("Media core stopped")]
    Stopped,
}
