//! Janus's Streaming error codes (`JANUS_STREAMING_ERROR_*` in janus_streaming.c 1.1.2).

use portunus_plugin_sdk::janus::{self, Param};
use serde_json::{Map, Value};

pub use portunus_plugin_sdk::janus::JanusError;
use portunus_plugin_sdk::request::MessageCodes;

pub const NO_MESSAGE: i32 = 450;
pub const INVALID_JSON: i32 = 451;
pub const INVALID_REQUEST: i32 = 452;
pub const MISSING_ELEMENT: i32 = 453;
pub const INVALID_ELEMENT: i32 = 454;
pub const NO_SUCH_MOUNTPOINT: i32 = 455;
pub const CANT_CREATE: i32 = 456;
pub const UNAUTHORIZED: i32 = 457;
pub const CANT_SWITCH: i32 = 458;
pub const CANT_RECORD: i32 = 459;
pub const INVALID_STATE: i32 = 460;
pub const UNKNOWN_ERROR: i32 = 470;

/// Janus's text for a `create` (or a configured mountpoint) with an id in use.
pub const DUPLICATE_ID: &str = "A stream with the provided ID already exists";

/// The codes `janus::check_secret` uses, in its order.
pub const SECRET_CODES: (i32, i32, i32) = (MISSING_ELEMENT, INVALID_ELEMENT, UNAUTHORIZED);

/// What a malformed `message` is answered with.
pub const MESSAGE_CODES: MessageCodes = MessageCodes {
    no_message: NO_MESSAGE,
    invalid_json: INVALID_JSON,
    missing_element: MISSING_ELEMENT,
    invalid_element: INVALID_ELEMENT,
    invalid_request: INVALID_REQUEST,
};

pub type SResult<T> = Result<T, JanusError>;

pub fn err(code: i32, message: impl Into<String>) -> JanusError {
    JanusError::new(code, message)
}

/// Janus's `JANUS_VALIDATE_JSON_OBJECT` with this plugin's codes.
pub fn validate(body: &Map<String, Value>, params: &[Param]) -> SResult<()> {
    janus::validate(body, params, MISSING_ELEMENT, INVALID_ELEMENT)
}

/// `JANUS_CHECK_SECRET` with this plugin's codes.
pub fn check_secret(expected: Option<&str>, body: &Map<String, Value>, name: &str) -> SResult<()> {
    janus::check_secret(expected, body, name, SECRET_CODES)
}

/// What most requests answer for an unknown id.
pub fn no_such_mountpoint(id: &impl core::fmt::Display) -> JanusError {
    err(
        NO_SUCH_MOUNTPOINT,
        format!("No such mountpoint/stream {id}"),
    )
}
