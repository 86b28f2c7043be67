//! Janus's `JANUS_VALIDATE_JSON_OBJECT`: checks fields in order, with its two reason formats.

use serde_json::{Map, Value};

use super::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Object,
    Bool,
    /// An integer ≥ 0 (Janus `JSON_INTEGER` + `JANUS_JSON_PARAM_POSITIVE`).
    PositiveInt,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Object => "an object",
            Kind::Bool => "a boolean",
            Kind::PositiveInt => "a positive integer",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Object => v.is_object(),
            Kind::Bool => v.is_boolean(),
            Kind::PositiveInt => v.is_u64(),
        }
    }
}

/// One expected field: name, type, required.
pub type Param = (&'static str, Kind, bool);

/// The reason formats (the core's, or the `JSEP error: …` ones).
pub struct Formats {
    pub missing: fn(&str) -> String,
    pub invalid: fn(&str, &str) -> String,
}

pub const CORE: Formats = Formats {
    missing: |f| format!("Missing mandatory element ({f})"),
    invalid: |f, t| format!("Invalid element type ({f} should be {t})"),
};

pub const JSEP: Formats = Formats {
    missing: |f| format!("JSEP error: missing mandatory element ({f})"),
    invalid: |f, t| format!("JSEP error: invalid element type ({f} should be {t})"),
};

pub fn check(
    obj: &Map<String, Value>,
    params: &[Param],
    formats: &Formats,
) -> Result<(), ApiError> {
    for &(name, kind, required) in params {
        match obj.get(name) {
            None if required => {
                return Err(ApiError::new(
                    ErrorCode::MissingMandatoryElement,
                    (formats.missing)(name),
                ));
            }
            None => {}
            Some(v) if !kind.matches(v) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidElementType,
                    (formats.invalid)(name, kind.describe()),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn order_and_formats() {
        let params = [
            ("transaction", Kind::String, true),
            ("janus", Kind::String, true),
            ("id", Kind::PositiveInt, false),
        ];
        let e = check(&obj(json!({"janus": 1})), &params, &CORE).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingMandatoryElement);
        assert_eq!(e.reason, "Missing mandatory element (transaction)");
        let e = check(
            &obj(json!({"transaction": "t", "janus": 1})),
            &params,
            &CORE,
        )
        .unwrap_err();
        assert_eq!(e.reason, "Invalid element type (janus should be a string)");
        let e = check(
            &obj(json!({"transaction": "t", "janus": "create", "id": -4})),
            &params,
            &CORE,
        )
        .unwrap_err();
        assert_eq!(
            e.reason,
            "Invalid element type (id should be a positive integer)"
        );
        assert!(
            check(
                &obj(json!({"transaction": "t", "janus": "x", "id": 0})),
                &params,
                &CORE
            )
            .is_ok()
        );
        let e = check(&obj(json!({})), &[("sdp", Kind::String, true)], &JSEP).unwrap_err();
        assert_eq!(e.reason, "JSEP error: missing mandatory element (sdp)");
    }
}
