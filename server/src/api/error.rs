//! Janus API error codes (`src/apierror.h` of Janus 1.1.2) and the `error` reply.

use serde_json::{Map, Value, json};

/// A Janus error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    Unauthorized = 403,
    UnauthorizedPlugin = 405,
    TransportSpecific = 450,
    MissingRequest = 452,
    UnknownRequest = 453,
    InvalidJson = 454,
    InvalidJsonObject = 455,
    MissingMandatoryElement = 456,
    InvalidRequestPath = 457,
    SessionNotFound = 458,
    HandleNotFound = 459,
    PluginNotFound = 460,
    PluginAttach = 461,
    PluginMessage = 462,
    PluginDetach = 463,
    JsepUnknownType = 464,
    JsepInvalidSdp = 465,
    TrickleInvalidStream = 466,
    InvalidElementType = 467,
    SessionConflict = 468,
    UnexpectedAnswer = 469,
    TokenNotFound = 470,
    WebrtcState = 471,
    NotAcceptingSessions = 472,
    Unknown = 490,
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Janus's default reason text for the code.
    pub fn default_reason(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "Unauthorized request (wrong or missing secret/token)",
            ErrorCode::UnauthorizedPlugin => {
                "Unauthorized access to plugin (token is not allowed to)"
            }
            ErrorCode::TransportSpecific => "Transport specific error",
            ErrorCode::MissingRequest => "Missing request",
            ErrorCode::UnknownRequest => "Unknown request",
            ErrorCode::InvalidJson => "Invalid JSON",
            ErrorCode::InvalidJsonObject => "Invalid JSON Object",
            ErrorCode::MissingMandatoryElement => "Missing mandatory element",
            ErrorCode::InvalidRequestPath => "Invalid path for this request",
            ErrorCode::SessionNotFound => "Session not found",
            ErrorCode::HandleNotFound => "Handle not found",
            ErrorCode::PluginNotFound => "Plugin not found",
            ErrorCode::PluginAttach => "Error attaching plugin",
            ErrorCode::PluginMessage => "Error sending message to plugin",
            ErrorCode::PluginDetach => "Error detaching from plugin",
            ErrorCode::JsepUnknownType => "Unsupported JSEP type",
            ErrorCode::JsepInvalidSdp => "Invalid SDP",
            ErrorCode::TrickleInvalidStream => "Invalid stream",
            ErrorCode::InvalidElementType => "Invalid element type",
            ErrorCode::SessionConflict => "Session ID already in use",
            ErrorCode::UnexpectedAnswer => "Unexpected ANSWER (no OFFER)",
            ErrorCode::TokenNotFound => "Token not found",
            ErrorCode::WebrtcState => "Wrong WebRTC state",
            ErrorCode::NotAcceptingSessions => "Currently not accepting new sessions",
            ErrorCode::Unknown => "Unknown error",
        }
    }
}

/// A failed request: the code and the (possibly specific) reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub reason: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
        }
    }

    /// The error with Janus's default text.
    pub fn plain(code: ErrorCode) -> Self {
        ApiError::new(code, code.default_reason())
    }

    pub fn missing(field: &str) -> Self {
        ApiError::new(
            ErrorCode::MissingMandatoryElement,
            format!("Missing mandatory element ({field})"),
        )
    }

    /// `expected` is e.g. "a string", "an object", "a positive integer".
    pub fn invalid_type(field: &str, expected: &str) -> Self {
        ApiError::new(
            ErrorCode::InvalidElementType,
            format!("Invalid element type ({field} should be {expected})"),
        )
    }

    pub fn wrong_path(verb: &str) -> Self {
        ApiError::new(
            ErrorCode::InvalidRequestPath,
            format!("Unhandled request '{verb}' at this path"),
        )
    }

    /// The `error` reply; `session_id` is left out when 0 and `transaction` when absent.
    pub fn to_reply(&self, session_id: u64, transaction: Option<&str>) -> Value {
        let mut reply = message("error", session_id, transaction);
        reply.insert(
            "error".into(),
            json!({"code": self.code.code(), "reason": self.reason}),
        );
        Value::Object(reply)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code.code(), self.reason)
    }
}

/// Janus's `janus_create_message`: `{"janus", "session_id"? (when non-zero), "transaction"?}`.
pub fn message(kind: &str, session_id: u64, transaction: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("janus".into(), Value::from(kind));
    if session_id != 0 {
        m.insert("session_id".into(), Value::from(session_id));
    }
    if let Some(t) = transaction {
        m.insert("transaction".into(), Value::from(t));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_shape() {
        let e = ApiError::new(ErrorCode::SessionNotFound, "No such session 7");
        assert_eq!(
            e.to_reply(7, Some("t")),
            json!({"janus":"error","session_id":7,"transaction":"t",
                   "error":{"code":458,"reason":"No such session 7"}})
        );
        assert_eq!(
            ApiError::missing("transaction").to_reply(0, None),
            json!({"janus":"error","error":{"code":456,"reason":"Missing mandatory element (transaction)"}})
        );
    }

    #[test]
    fn default_reasons() {
        assert_eq!(
            ApiError::plain(ErrorCode::Unauthorized).reason,
            "Unauthorized request (wrong or missing secret/token)"
        );
        assert_eq!(ErrorCode::NotAcceptingSessions.code(), 472);
    }
}
