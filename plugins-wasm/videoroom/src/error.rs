//! Janus's VideoRoom error codes (`JANUS_VIDEOROOM_ERROR_*` in janus_videoroom.c 1.1.2).

use portunus_plugin_sdk::ids::Id;
pub use portunus_plugin_sdk::janus::JanusError;
use portunus_plugin_sdk::janus::{self, Param};
use portunus_plugin_sdk::request::MessageCodes;

pub const UNKNOWN_ERROR: i32 = 499;
pub const NO_MESSAGE: i32 = 421;
pub const INVALID_JSON: i32 = 422;
pub const INVALID_REQUEST: i32 = 423;
pub const JOIN_FIRST: i32 = 424;
pub const ALREADY_JOINED: i32 = 425;
pub const NO_SUCH_ROOM: i32 = 426;
pub const ROOM_EXISTS: i32 = 427;
pub const NO_SUCH_FEED: i32 = 428;
pub const MISSING_ELEMENT: i32 = 429;
pub const INVALID_ELEMENT: i32 = 430;
pub const INVALID_SDP_TYPE: i32 = 431;
pub const PUBLISHERS_FULL: i32 = 432;
pub const UNAUTHORIZED: i32 = 433;
pub const ALREADY_PUBLISHED: i32 = 434;
pub const NOT_PUBLISHED: i32 = 435;
pub const ID_EXISTS: i32 = 436;
pub const INVALID_SDP: i32 = 437;

/// What a malformed `message` is answered with.
pub const MESSAGE_CODES: MessageCodes = MessageCodes {
    no_message: NO_MESSAGE,
    invalid_json: INVALID_JSON,
    missing_element: MISSING_ELEMENT,
    invalid_element: INVALID_ELEMENT,
    invalid_request: INVALID_REQUEST,
};

pub type VrResult<T> = Result<T, JanusError>;

pub fn err(code: i32, message: impl Into<String>) -> JanusError {
    JanusError::new(code, message)
}

/// Janus's `JANUS_VALIDATE_JSON_OBJECT` with the VideoRoom's codes.
pub fn validate(
    body: &serde_json::Map<String, serde_json::Value>,
    params: &[Param],
) -> VrResult<()> {
    janus::validate(body, params, MISSING_ELEMENT, INVALID_ELEMENT)
}

/// The mandatory id element `name` of `body` (a room, a feed), with the VideoRoom's codes.
pub fn required_id(
    body: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    string_ids: bool,
) -> VrResult<Id> {
    Id::required(body, name, string_ids, MISSING_ELEMENT, INVALID_ELEMENT)
}

/// The optional id element `name` of `body`, with the VideoRoom's codes.
pub fn optional_id(
    body: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    string_ids: bool,
) -> VrResult<Option<Id>> {
    Id::optional(body, name, string_ids, INVALID_ELEMENT)
}

pub fn no_such_room(room: &impl core::fmt::Display) -> JanusError {
    err(NO_SUCH_ROOM, format!("No such room ({room})"))
}

pub fn no_such_feed(feed: &impl core::fmt::Display) -> JanusError {
    err(NO_SUCH_FEED, format!("No such feed ({feed})"))
}

/// Janus's `JANUS_CHECK_SECRET`: a missing element is 429, a wrong one 433.
pub fn check_secret(
    expected: Option<&str>,
    body: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> VrResult<()> {
    janus::check_secret(
        expected,
        body,
        name,
        (MISSING_ELEMENT, INVALID_ELEMENT, UNAUTHORIZED),
    )
}
