use serde_json::Value;

/// Failures of the Janus API client.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// The gateway answered `{"janus":"error","error":{"code","reason"}}`.
    #[error("Janus error {code}: {reason}")]
    Api { code: u64, reason: String },
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// A reply that is not what the Janus API promises.
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("connection closed")]
    Closed,
}

impl JanusError {
    /// Builds [`JanusError::Api`] from an error reply.
    pub fn from_error_reply(reply: &Value) -> Self {
        let code = reply
            .pointer("/error/code")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let reason = reply
            .pointer("/error/reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        JanusError::Api { code, reason }
    }

    /// The Janus error code, if this is an API error.
    pub fn code(&self) -> Option<u64> {
        match self {
            JanusError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}
