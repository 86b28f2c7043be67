//! Janus-style object ids (rooms, mountpoints, participants): unsigned integers (≤ 2^53)
//! unless the plugin's `string_ids` setting makes every id a string. The error codes are
//! the calling plugin's own (each Janus plugin has its own numbers).

use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::janus::JanusError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Num(u64),
    Str(String),
}

impl Id {
    pub fn to_json(&self) -> Value {
        match self {
            Id::Num(n) => json!(n),
            Id::Str(s) => json!(s),
        }
    }

    /// Reads `value` as an id of the configured kind; `name` is the element's name in the
    /// `Invalid element type` error, which has code `invalid_code`.
    pub fn from_value(
        value: &Value,
        name: &str,
        string_ids: bool,
        invalid_code: i32,
    ) -> Result<Id, JanusError> {
        let (id, kind) = if string_ids {
            (value.as_str().map(|s| Id::Str(s.to_owned())), "a string")
        } else {
            (value.as_u64().map(Id::Num), "a positive integer")
        };
        id.ok_or_else(|| {
            JanusError::new(
                invalid_code,
                format!("Invalid element type ({name} should be {kind})"),
            )
        })
    }

    /// The optional element `name` of `body`.
    pub fn optional(
        body: &Map<String, Value>,
        name: &str,
        string_ids: bool,
        invalid_code: i32,
    ) -> Result<Option<Id>, JanusError> {
        body.get(name)
            .map(|v| Id::from_value(v, name, string_ids, invalid_code))
            .transpose()
    }

    /// The mandatory element `name` of `body`: `Missing mandatory element (name)` with
    /// `missing_code` when absent.
    pub fn required(
        body: &Map<String, Value>,
        name: &str,
        string_ids: bool,
        missing_code: i32,
        invalid_code: i32,
    ) -> Result<Id, JanusError> {
        Id::optional(body, name, string_ids, invalid_code)?.ok_or_else(|| {
            JanusError::new(missing_code, format!("Missing mandatory element ({name})"))
        })
    }

    /// 0 and "" count as none (Janus picks an id then).
    pub fn is_empty(&self) -> bool {
        matches!(self, Id::Str(s) if s.is_empty()) || matches!(self, Id::Num(0))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

/// splitmix64: ids only need to be unpredictable enough not to collide and not to be
/// guessed by counting; seed it from the clock and mix in handles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    pub fn new(seed: u64) -> IdGen {
        IdGen {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn mix(&mut self, entropy: u64) {
        self.state ^= entropy.rotate_left(17);
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A non-zero id of at most 53 bits (JavaScript-safe), as Janus uses.
    pub fn id53(&mut self) -> u64 {
        loop {
            let v = self.next_u64() & ((1 << 53) - 1);
            if v != 0 {
                return v;
            }
        }
    }

    /// A non-zero 32-bit id (Janus's VideoRoom `private_id`).
    pub fn id32(&mut self) -> u32 {
        loop {
            let v = (self.next_u64() >> 32) as u32;
            if v != 0 {
                return v;
            }
        }
    }

    /// A fresh id of the configured kind.
    pub fn new_id(&mut self, string_ids: bool) -> Id {
        let n = self.id53();
        if string_ids {
            Id::Str(format!("{n:x}"))
        } else {
            Id::Num(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_string_ids() {
        let body = json!({"id": 1234, "s": "abc"});
        let body = body.as_object().unwrap();
        assert_eq!(
            Id::required(body, "id", false, 1, 2).unwrap(),
            Id::Num(1234)
        );
        let e = Id::required(body, "id", true, 1, 2).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (2, "Invalid element type (id should be a string)")
        );
        assert_eq!(
            Id::required(body, "s", false, 1, 2).unwrap_err().message,
            "Invalid element type (s should be a positive integer)"
        );
        assert_eq!(Id::required(body, "x", false, 1, 2).unwrap_err().code, 1);
        assert_eq!(Id::optional(body, "x", false, 2).unwrap(), None);
    }

    #[test]
    fn generated_ids_fit_javascript() {
        let mut g = IdGen::new(42);
        for _ in 0..1000 {
            let v = g.id53();
            assert!(v > 0 && v < (1 << 53));
            assert!(g.id32() > 0);
        }
        assert!(matches!(g.new_id(true), Id::Str(_)));
    }
}
