//! Janus-style requests and events: the same validation texts and error-event shape as
//! Janus's own plugins, so unchanged Janus clients understand a portunus plugin.

use serde_json::{Map, Value, json};

/// A Janus plugin error: a numeric code and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanusError {
    pub code: i32,
    pub message: String,
}

impl JanusError {
    pub fn new(code: i32, message: impl Into<String>) -> JanusError {
        JanusError {
            code,
            message: message.into(),
        }
    }
}

impl core::fmt::Display for JanusError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The type a request element must have. The names match Janus's validation messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Bool,
    Integer,
    /// An integer ≥ 0.
    PositiveInteger,
    Number,
    String,
    NonEmptyString,
    Array,
    NonEmptyArray,
    Object,
}

impl ParamKind {
    /// The phrase Janus uses in "Invalid element type (x should be ...)".
    pub fn description(self) -> &'static str {
        match self {
            ParamKind::Bool => "a boolean",
            ParamKind::Integer => "an integer",
            ParamKind::PositiveInteger => "a positive integer",
            ParamKind::Number => "a number",
            ParamKind::String => "a string",
            ParamKind::NonEmptyString => "a non-empty string",
            ParamKind::Array => "an array",
            ParamKind::NonEmptyArray => "a non-empty array",
            ParamKind::Object => "an object",
        }
    }

    pub fn accepts(self, v: &Value) -> bool {
        match self {
            ParamKind::Bool => v.is_boolean(),
            ParamKind::Integer => v.is_i64() || v.is_u64(),
            ParamKind::PositiveInteger => v.is_u64(),
            ParamKind::Number => v.is_number(),
            ParamKind::String => v.is_string(),
            ParamKind::NonEmptyString => v.as_str().is_some_and(|s| !s.is_empty()),
            ParamKind::Array => v.is_array(),
            ParamKind::NonEmptyArray => v.as_array().is_some_and(|a| !a.is_empty()),
            ParamKind::Object => v.is_object(),
        }
    }
}

/// One element of a request, as in Janus's `janus_json_parameter` tables.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
}

impl Param {
    pub const fn optional(name: &'static str, kind: ParamKind) -> Param {
        Param {
            name,
            kind,
            required: false,
        }
    }

    pub const fn required(name: &'static str, kind: ParamKind) -> Param {
        Param {
            name,
            kind,
            required: true,
        }
    }
}

/// The body as a JSON object, or Janus's `JSON error: not an object` with `code`.
pub fn object(body: &Value, code: i32) -> Result<&Map<String, Value>, JanusError> {
    body.as_object()
        .ok_or_else(|| JanusError::new(code, "JSON error: not an object"))
}

/// The `request` element, lower case (Janus compares it with strcasecmp):
/// `Missing mandatory element (request)` with `missing_code` when absent,
/// `Invalid element type (request should be a string)` with `invalid_code`.
pub fn request_name(
    body: &Map<String, Value>,
    missing_code: i32,
    invalid_code: i32,
) -> Result<String, JanusError> {
    match body.get("request") {
        None => Err(JanusError::new(
            missing_code,
            "Missing mandatory element (request)",
        )),
        Some(Value::String(r)) => Ok(r.to_ascii_lowercase()),
        Some(_) => Err(JanusError::new(
            invalid_code,
            "Invalid element type (request should be a string)",
        )),
    }
}

/// Checks `body` against `params` in order, like Janus's `JANUS_VALIDATE_JSON_OBJECT`:
/// the first missing required element gives `Missing mandatory element (x)` with
/// `missing_code`, the first element of the wrong type gives
/// `Invalid element type (x should be a boolean)` with `invalid_code`.
pub fn validate(
    body: &Map<String, Value>,
    params: &[Param],
    missing_code: i32,
    invalid_code: i32,
) -> Result<(), JanusError> {
    for p in params {
        match body.get(p.name) {
            None => {
                if p.required {
                    return Err(JanusError::new(
                        missing_code,
                        format!("Missing mandatory element ({})", p.name),
                    ));
                }
            }
            Some(v) => {
                if !p.kind.accepts(v) {
                    return Err(JanusError::new(
                        invalid_code,
                        format!(
                            "Invalid element type ({} should be {})",
                            p.name,
                            p.kind.description()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Janus's `JANUS_CHECK_SECRET`: nothing to check when `expected` is none or empty;
/// otherwise `name` must be in `body` (`missing_code`), a string (`invalid_code`) and equal
/// to it (`Unauthorized (wrong <name>)`, `unauthorized_code`).
pub fn check_secret(
    expected: Option<&str>,
    body: &Map<String, Value>,
    name: &str,
    codes: (i32, i32, i32),
) -> Result<(), JanusError> {
    let (missing_code, invalid_code, unauthorized_code) = codes;
    let Some(expected) = expected.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    match body.get(name) {
        None => Err(JanusError::new(
            missing_code,
            format!("Missing mandatory element ({name})"),
        )),
        Some(Value::String(given)) if given == expected => Ok(()),
        Some(Value::String(_)) => Err(JanusError::new(
            unauthorized_code,
            format!("Unauthorized (wrong {name})"),
        )),
        Some(_) => Err(JanusError::new(
            invalid_code,
            format!("Invalid element type ({name} should be a string)"),
        )),
    }
}

/// `{"<plugin_key>": "event", "error_code": N, "error": "..."}`: how Janus plugins report
/// a failed asynchronous request.
pub fn error_event_value(plugin_key: &str, error: &JanusError) -> Value {
    let mut m = Map::new();
    m.insert(plugin_key.to_owned(), json!("event"));
    m.insert("error_code".to_owned(), json!(error.code));
    m.insert("error".to_owned(), json!(error.message));
    Value::Object(m)
}

/// `{"<plugin_key>": "event", ...fields}`.
pub fn event(plugin_key: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert(plugin_key.to_owned(), json!("event"));
    if let Value::Object(fields) = fields {
        m.extend(fields);
    }
    Value::Object(m)
}

/// `{"<plugin_key>": "event", "result": "<result>"}`.
pub fn result_event(plugin_key: &str, result: &str) -> Value {
    event(plugin_key, json!({ "result": result }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[Param] = &[
        Param::required("room", ParamKind::PositiveInteger),
        Param::optional("audio", ParamKind::Bool),
    ];

    fn check(body: Value) -> Result<(), JanusError> {
        validate(body.as_object().unwrap(), PARAMS, 456, 457)
    }

    #[test]
    fn janus_validation_texts() {
        assert_eq!(
            check(json!({})),
            Err(JanusError::new(456, "Missing mandatory element (room)"))
        );
        assert_eq!(
            check(json!({"room": -1})),
            Err(JanusError::new(
                457,
                "Invalid element type (room should be a positive integer)"
            ))
        );
        assert_eq!(
            check(json!({"room": 1, "audio": "yes"})),
            Err(JanusError::new(
                457,
                "Invalid element type (audio should be a boolean)"
            ))
        );
        assert_eq!(check(json!({"room": 1, "audio": true, "x": 1})), Ok(()));
    }

    #[test]
    fn request_names() {
        let name = |v: Value| request_name(v.as_object().unwrap(), 1, 2);
        assert_eq!(name(json!({"request": "LIST"})), Ok("list".to_owned()));
        assert_eq!(name(json!({})).unwrap_err().code, 1);
        assert_eq!(name(json!({"request": 5})).unwrap_err().code, 2);
    }

    #[test]
    fn secret_checks() {
        let body = json!({"secret": "a", "pin": 1});
        let body = body.as_object().unwrap();
        let codes = (1, 2, 3);
        assert_eq!(check_secret(None, body, "x", codes), Ok(()));
        assert_eq!(check_secret(Some(""), body, "x", codes), Ok(()));
        assert_eq!(check_secret(Some("a"), body, "secret", codes), Ok(()));
        assert_eq!(
            check_secret(Some("b"), body, "secret", codes)
                .unwrap_err()
                .code,
            3
        );
        assert_eq!(
            check_secret(Some("b"), body, "pin", codes)
                .unwrap_err()
                .code,
            2
        );
        assert_eq!(
            check_secret(Some("b"), body, "x", codes)
                .unwrap_err()
                .message,
            "Missing mandatory element (x)"
        );
    }

    #[test]
    fn error_event_shape() {
        let e = error_event_value("echotest", &JanusError::new(413, "bad"));
        assert_eq!(
            e,
            json!({"echotest": "event", "error_code": 413, "error": "bad"})
        );
        assert_eq!(
            object(&json!([1]), 412).unwrap_err().message,
            "JSON error: not an object"
        );
    }
}
