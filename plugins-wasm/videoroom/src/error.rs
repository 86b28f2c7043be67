//! Janus's VideoRoom error codes (`JANUS_VIDEOROOM_ERROR_*` in janus_videoroom.c 1.1.2).

pub use portunus_plugin_sdk::janus::JanusError;

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

pub type VrResult<T> = Result<T, JanusError>;

pub fn err(code: i32, message: impl Into<String>) -> JanusError {
    JanusError::new(code, message)
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
    let Some(expected) = expected.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    match body.get(name) {
        None => Err(err(
            MISSING_ELEMENT,
            format!("Missing mandatory element ({name})"),
        )),
        Some(v) => match v.as_str() {
            None => Err(err(
                INVALID_ELEMENT,
                format!("Invalid element type ({name} should be a string)"),
            )),
            Some(given) if given == expected => Ok(()),
            Some(_) => Err(err(UNAUTHORIZED, format!("Unauthorized (wrong {name})"))),
        },
    }
}
