//! `message` (with its optional JSEP) and `trickle`.

use portunus_media::{JsepIn, JsepType, MediaError, TrickleCandidate};
use portunus_plugin_host::{MessageReply, PluginError};
use serde_json::{Map, Value, json};

use super::ApiCore;
use super::dispatch::Envelope;
use super::error::{ApiError, ErrorCode};
use super::session::Handle;
use super::validate::{self, CORE, JSEP, Kind, Param};

const BODY_PARAMS: &[Param] = &[("body", Kind::Object, true)];

const JSEP_PARAMS: &[Param] = &[
    ("type", Kind::String, true),
    ("sdp", Kind::String, true),
    ("trickle", Kind::Bool, false),
    ("rid_order", Kind::String, false),
    ("force_relay", Kind::Bool, false),
    ("e2ee", Kind::Bool, false),
];

/// Maps a media-core failure on a client SDP to Janus's code.
pub fn media_error(e: MediaError) -> ApiError {
    let code = match &e {
        MediaError::InvalidSdp(_) => ErrorCode::JsepInvalidSdp,
        MediaError::UnexpectedAnswer | MediaError::NoPendingOffer => ErrorCode::UnexpectedAnswer,
        MediaError::WrongState(_) => ErrorCode::WebrtcState,
        MediaError::InvalidCandidate(_) => ErrorCode::InvalidElementType,
        _ => ErrorCode::Unknown,
    };
    ApiError::new(code, e.to_string())
}

impl ApiCore {
    pub(super) async fn message(
        &self,
        handle: &Handle,
        env: &Envelope<'_>,
    ) -> Result<Value, ApiError> {
        validate::check(env.root, BODY_PARAMS, &CORE)?;
        let body = env.root.get("body").cloned().unwrap_or_else(|| json!({}));
        let jsep = match env.root.get("jsep") {
            None | Some(Value::Null) => None,
            Some(Value::Object(jsep)) => Some(self.remote_jsep(handle, jsep)?),
            Some(_) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidJsonObject,
                    "Invalid jsep object",
                ));
            }
        };
        let reply = handle
            .plugin
            .handle_message(handle.id, env.transaction.to_string(), body, jsep)
            .await;
        match reply {
            Ok(MessageReply::Sync(data)) => {
                if !data.is_object() {
                    return Err(ApiError::new(
                        ErrorCode::PluginMessage,
                        "Plugin returned an invalid JSON response",
                    ));
                }
                let mut reply = env.reply("success");
                reply.insert("sender".into(), json!(handle.id));
                reply.insert(
                    "plugindata".into(),
                    json!({"plugin": handle.package, "data": data}),
                );
                Ok(Value::Object(reply))
            }
            Ok(MessageReply::Ack(hint)) => {
                let mut reply = env.reply("ack");
                if let Some(hint) = hint {
                    reply.insert("hint".into(), json!(hint));
                }
                Ok(Value::Object(reply))
            }
            Err(e) => {
                let reason = match e {
                    PluginError::Refused(text) => text,
                    other => other.to_string(),
                };
                Err(ApiError::new(ErrorCode::PluginMessage, reason))
            }
        }
    }

    /// Validates a client JSEP and hands its SDP to the media core.
    fn remote_jsep(&self, handle: &Handle, jsep: &Map<String, Value>) -> Result<JsepIn, ApiError> {
        validate::check(jsep, JSEP_PARAMS, &JSEP)?;
        let kind = jsep.get("type").and_then(Value::as_str).unwrap_or_default();
        let sdp = jsep.get("sdp").and_then(Value::as_str).unwrap_or_default();
        let kind = if kind.eq_ignore_ascii_case("offer") {
            JsepType::Offer
        } else if kind.eq_ignore_ascii_case("answer") {
            JsepType::Answer
        } else {
            return Err(ApiError::new(
                ErrorCode::JsepUnknownType,
                format!("JSEP error: unknown message type '{kind}'"),
            ));
        };
        if !sdp.trim_start().starts_with("v=") {
            return Err(ApiError::new(
                ErrorCode::JsepInvalidSdp,
                "Invalid SDP (doesn't start with v=)",
            ));
        }
        let summary = match kind {
            JsepType::Offer => self.media.remote_offer(handle.id, sdp),
            JsepType::Answer => self.media.remote_answer(handle.id, sdp),
        }
        .map_err(media_error)?;
        handle.set_pc(true);
        Ok(JsepIn {
            kind,
            sdp: sdp.to_string(),
            summary,
            e2ee: jsep.get("e2ee").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    pub(super) fn trickle(&self, handle: &Handle, env: &Envelope<'_>) -> Result<Value, ApiError> {
        let candidate = env.root.get("candidate");
        let candidates = env.root.get("candidates");
        match (candidate, candidates) {
            (None, None) => {
                return Err(ApiError::new(
                    ErrorCode::MissingMandatoryElement,
                    "Missing mandatory element (candidate|candidates)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidJson,
                    "Can't have both candidate and candidates",
                ));
            }
            (Some(c), None) => {
                let c = parse_candidate(c)?;
                self.add_candidate(handle, c);
            }
            (None, Some(list)) => {
                let Value::Array(list) = list else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidElementType,
                        "candidates is not an array",
                    ));
                };
                // Like Janus, bad entries of an array are skipped, not reported.
                for c in list {
                    match parse_candidate(c) {
                        Ok(c) => self.add_candidate(handle, c),
                        Err(e) => tracing::debug!(handle = handle.id, "ignored candidate: {e}"),
                    }
                }
            }
        }
        Ok(Value::Object(env.reply("ack")))
    }

    fn add_candidate(&self, handle: &Handle, candidate: TrickleCandidate) {
        // The media core queues candidates that arrive before the SDP; a candidate it cannot
        // use is not the client's error (Janus acks those too).
        if let Err(e) = self.media.add_remote_candidate(handle.id, candidate) {
            tracing::debug!(handle = handle.id, "candidate not added: {e}");
        }
    }
}

/// A trickle candidate, checked as Janus's `janus_ice_trickle_parse` does.
pub fn parse_candidate(value: &Value) -> Result<TrickleCandidate, ApiError> {
    let Value::Object(c) = value else {
        return Ok(TrickleCandidate::Completed);
    };
    if c.contains_key("completed") {
        return Ok(TrickleCandidate::Completed);
    }
    let invalid = |reason: &str| ApiError::new(ErrorCode::InvalidElementType, reason);
    let missing = |reason: &str| ApiError::new(ErrorCode::MissingMandatoryElement, reason);
    let mid = match c.get("sdpMid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(invalid(
                "Trickle error: invalid element type (sdpMid should be a string)",
            ));
        }
    };
    let mline = match c.get("sdpMLineIndex") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            invalid("Trickle error: invalid element type (sdpMLineIndex should be a non-negative integer)")
        })?),
    };
    if mid.is_none() && mline.is_none() {
        return Err(missing(
            "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)",
        ));
    }
    let candidate = match c.get("candidate") {
        None => {
            return Err(missing(
                "Trickle error: missing mandatory element (candidate)",
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(invalid(
                "Trickle error: invalid element type (candidate should be a string)",
            ));
        }
    };
    Ok(TrickleCandidate::Candidate {
        candidate,
        sdp_mid: mid,
        sdp_mline_index: mline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates() {
        assert_eq!(
            parse_candidate(&json!({"completed": true})),
            Ok(TrickleCandidate::Completed)
        );
        assert_eq!(
            parse_candidate(&json!(null)),
            Ok(TrickleCandidate::Completed)
        );
        assert_eq!(
            parse_candidate(
                &json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0})
            ),
            Ok(TrickleCandidate::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0)
            })
        );
        let code = |v| parse_candidate(&v).unwrap_err().code;
        assert_eq!(
            code(json!({"candidate": "c"})),
            ErrorCode::MissingMandatoryElement
        );
        assert_eq!(
            code(json!({"sdpMid": "0"})),
            ErrorCode::MissingMandatoryElement
        );
        assert_eq!(
            code(json!({"sdpMid": 0, "candidate": "c"})),
            ErrorCode::InvalidElementType
        );
        assert_eq!(
            code(json!({"sdpMLineIndex": -1, "candidate": "c"})),
            ErrorCode::InvalidElementType
        );
        assert_eq!(
            code(json!({"sdpMid": "0", "candidate": 5})),
            ErrorCode::InvalidElementType
        );
    }
}
