//! The plugin's settings (config.toml `[plugins."janus.plugin.streaming"]`): Janus's
//! `general` keys that apply here, and `mountpoints`, one table per mountpoint with the
//! keys of a `create` request (Janus's categories in janus.plugin.streaming.jcfg).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Required on `create`; also shows private mountpoints in `list`.
    pub admin_key: Option<String>,
    /// Mountpoint ids are strings instead of integers.
    pub string_ids: bool,
    /// Keys of the section this plugin does not know, written back unchanged.
    pub extra: Map<String, Value>,
}

const KEYS: &[&str] = &["admin_key", "string_ids", "mountpoints"];

impl Settings {
    /// Reads the section; returns the settings and the mountpoint tables.
    pub fn from_json(config: &Value) -> Result<(Settings, Vec<Map<String, Value>>), String> {
        let section = match config {
            Value::Null => return Ok((Settings::default(), Vec::new())),
            Value::Object(m) => m,
            _ => return Err("the streaming settings must be a table".into()),
        };
        let admin_key = match section.get("admin_key") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => return Err("streaming setting `admin_key` must be a string".into()),
        };
        let string_ids = match section.get("string_ids") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("streaming setting `string_ids` must be true or false".into()),
        };
        let mountpoints = match section.get("mountpoints") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    m.as_object()
                        .cloned()
                        .ok_or_else(|| format!("streaming mountpoints[{i}] must be a table"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err("streaming setting `mountpoints` must be an array of tables".into());
            }
        };
        let settings = Settings {
            admin_key,
            string_ids,
            extra: section
                .iter()
                .filter(|(k, _)| !KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        Ok((settings, mountpoints))
    }

    /// The section as `save_config` writes it: these settings and `mountpoints`.
    pub fn to_json(&self, mountpoints: Vec<Value>) -> Value {
        let mut m = self.extra.clone();
        if let Some(k) = &self.admin_key {
            m.insert("admin_key".into(), Value::String(k.clone()));
        }
        m.insert("string_ids".into(), Value::Bool(self.string_ids));
        m.insert("mountpoints".into(), Value::Array(mountpoints));
        Value::Object(m)
    }
}
