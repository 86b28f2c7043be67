//! A plugin's section of config.toml, both ways: TOML → the JSON its `init` gets, and the
//! JSON of its `save-config` → that section again, written back into the file without
//! touching the rest of it (comments, order, formatting).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use thiserror::Error;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SaveError {
    #[error("the server was started without a configuration file")]
    NoFile,
    #[error("the configuration must be a JSON object")]
    NotAnObject,
    #[error("config key `{key}`: {reason}")]
    Value { key: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not valid TOML any more: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: `plugins` is not a table")]
    PluginsNotTable { path: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// TOML as the JSON a plugin's `init` gets: tables are objects, arrays of tables arrays of
/// objects, dates and times their TOML text.
pub fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        // JSON has no NaN or infinities: those become null, as serde_json does.
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => table_to_json(t),
    }
}

pub fn table_to_json(table: &toml::Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
}

/// A JSON object as a TOML table: nulls are dropped (TOML has none), objects become
/// sub-tables, non-empty arrays of objects arrays of tables. `key` names the section in errors.
pub fn json_to_table(json: &Value, key: &str) -> Result<Table, SaveError> {
    let Value::Object(map) = json else {
        return Err(SaveError::NotAnObject);
    };
    let mut table = Table::new();
    for (k, v) in map {
        if let Some(item) = json_to_item(v, &format!("{key}.{k}"))? {
            table.insert(k, item);
        }
    }
    Ok(table)
}

fn json_to_item(json: &Value, key: &str) -> Result<Option<Item>, SaveError> {
    Ok(match json {
        Value::Null => None,
        Value::Object(_) => Some(Item::Table(json_to_table(json, key)?)),
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
            let mut tables = ArrayOfTables::new();
            for (i, v) in a.iter().enumerate() {
                tables.push(json_to_table(v, &format!("{key}[{i}]"))?);
            }
            Some(Item::ArrayOfTables(tables))
        }
        _ => json_to_value(json, key)?.map(Item::Value),
    })
}

/// A value inside an inline array or table (an array mixing objects and others).
fn json_to_value(json: &Value, key: &str) -> Result<Option<toml_edit::Value>, SaveError> {
    Ok(Some(match json {
        Value::Null => return Ok(None),
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.as_str().into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if n.is_u64() {
                return Err(SaveError::Value {
                    key: key.to_string(),
                    reason: format!("{n} is beyond TOML's 64-bit signed integers"),
                });
            } else {
                n.as_f64()
                    .ok_or_else(|| SaveError::Value {
                        key: key.to_string(),
                        reason: format!("{n} is not a number TOML can hold"),
                    })?
                    .into()
            }
        }
        Value::Array(a) => {
            let mut array = toml_edit::Array::new();
            for (i, v) in a.iter().enumerate() {
                if let Some(v) = json_to_value(v, &format!("{key}[{i}]"))? {
                    array.push(v);
                }
            }
            array.into()
        }
        Value::Object(map) => {
            let mut inline = InlineTable::new();
            for (k, v) in map {
                if let Some(v) = json_to_value(v, &format!("{key}.{k}"))? {
                    inline.insert(k, v);
                }
            }
            inline.into()
        }
    }))
}

/// `text` with `[plugins."<package>"]` replaced by `config` (a JSON object). Everything else
/// stays as it was, and so do the comments just above the section's header.
pub fn replace_section(
    text: &str,
    path: &str,
    package: &str,
    config: &Value,
) -> Result<String, SaveError> {
    let mut table = json_to_table(config, &format!("plugins.{package}"))?;
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| SaveError::Parse {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
    let plugins = doc
        .entry("plugins")
        .or_insert_with(|| {
            let mut t = Table::new();
            // No bare `[plugins]` header just for holding the section.
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| SaveError::PluginsNotTable {
            path: path.to_string(),
        })?;
    if let Some(old) = plugins.get(package).and_then(Item::as_table) {
        // Keep its place in the file and the comments above its header.
        if let Some(position) = old.position() {
            table.set_position(position);
        }
        table.decor_mut().clone_from(old.decor());
    }
    // Sub-tables follow their parent; an empty section still gets its header.
    table.set_implicit(false);
    plugins.insert(package, Item::Table(table));
    Ok(doc.to_string())
}

/// Replaces the plugin's section in the file at `path`, atomically: the new text goes to a
/// temporary file next to it, then renamed over it (through a symlink, to its target).
pub fn save_section(path: &Path, package: &str, config: &Value) -> Result<(), SaveError> {
    if !config.is_object() {
        return Err(SaveError::NotAnObject);
    }
    let shown = path.display().to_string();
    let target = std::fs::canonicalize(path).map_err(|e| SaveError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let text = std::fs::read_to_string(&target).map_err(|e| SaveError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let new = replace_section(&text, &shown, package, config)?;
    write_atomically(&target, new.as_bytes()).map_err(|e| SaveError::Write {
        path: shown,
        reason: e.to_string(),
    })
}

fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        // Same permissions as the file it replaces (it may hold secrets).
        if let Ok(meta) = std::fs::metadata(target) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FILE: &str = r#"# The gateway's settings.
[general]
server_name = "test" # inline comment

[plugins]
call_timeout_ms = 500

# EchoTest settings.
[plugins."janus.plugin.echotest"]
old = 1

# The VideoRoom.
[plugins."janus.plugin.videoroom"]
admin_key = "x"

[media]
# ports
udp_port = 10000
"#;

    fn reread(text: &str, package: &str) -> Value {
        let table: toml::Table = toml::from_str(text).expect("valid TOML");
        toml_to_json(&table["plugins"][package])
    }

    #[test]
    fn replaced_section_reads_back_as_the_same_json() {
        let config = json!({
            "admin_key": "secret",
            "n": 3,
            "ratio": 0.5,
            "flags": [true, false],
            "nested": {"a": {"b": "c"}},
            "rooms": [
                {"room": 1234, "description": "Demo", "pin": "x", "bitrate": 128000,
                 "sub": {"k": 1}, "list": [{"m": 1}, {"m": 2}]},
                {"room": 5678, "videocodec": "vp8,h264"},
            ],
            "mixed": [1, "two", {"three": 3}],
            "empty": [],
            "empty_object": {},
        });
        let text = replace_section(FILE, "f", "janus.plugin.videoroom", &config).unwrap();
        assert_eq!(reread(&text, "janus.plugin.videoroom"), config, "{text}");
        // The rest of the file is untouched, comments included.
        assert!(
            text.starts_with(
                "# The gateway's settings.\n[general]\nserver_name = \"test\" # inline comment\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# EchoTest settings.\n[plugins.\"janus.plugin.echotest\"]\nold = 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# The VideoRoom.\n[plugins.\"janus.plugin.videoroom\"]\n"),
            "{text}"
        );
        assert!(
            text.contains("[[plugins.\"janus.plugin.videoroom\".rooms]]"),
            "{text}"
        );
        assert!(
            text.ends_with("[media]\n# ports\nudp_port = 10000\n"),
            "{text}"
        );
        assert_eq!(reread(&text, "janus.plugin.echotest"), json!({"old": 1}));
        // Saving the same again changes nothing.
        let again = replace_section(&text, "f", "janus.plugin.videoroom", &config).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn nulls_are_dropped() {
        let config = json!({"a": null, "b": [1, null, 2], "c": {"d": null, "e": 1}});
        let text = replace_section(FILE, "f", "janus.plugin.videoroom", &config).unwrap();
        assert_eq!(
            reread(&text, "janus.plugin.videoroom"),
            json!({"b": [1, 2], "c": {"e": 1}})
        );
    }

    #[test]
    fn a_new_section_is_added_and_others_stay() {
        let text = replace_section(FILE, "f", "acme.plugin.new", &json!({"x": 1})).unwrap();
        assert_eq!(reread(&text, "acme.plugin.new"), json!({"x": 1}));
        assert_eq!(
            reread(&text, "janus.plugin.videoroom"),
            json!({"admin_key": "x"})
        );
        let text = replace_section("", "f", "acme.plugin.new", &json!({})).unwrap();
        assert_eq!(text.trim(), "[plugins.\"acme.plugin.new\"]");
        assert_eq!(reread(&text, "acme.plugin.new"), json!({}));
    }

    #[test]
    fn bad_input_is_refused() {
        for v in [json!([1]), json!("x"), json!(null), json!(1)] {
            assert_eq!(
                replace_section(FILE, "f", "p", &v),
                Err(SaveError::NotAnObject)
            );
        }
        assert!(matches!(
            replace_section(FILE, "f", "p", &json!({"big": u64::MAX})),
            Err(SaveError::Value { key, .. }) if key == "plugins.p.big"
        ));
        assert!(matches!(
            replace_section("[plugins", "f", "p", &json!({})),
            Err(SaveError::Parse { .. })
        ));
        assert!(matches!(
            replace_section("plugins = 1\n", "f", "p", &json!({})),
            Err(SaveError::PluginsNotTable { .. })
        ));
    }

    #[test]
    fn toml_dates_reach_plugins_as_text() {
        let table: toml::Table = toml::from_str("d = 1979-05-27T07:32:00Z\n").unwrap();
        assert_eq!(table_to_json(&table), json!({"d": "1979-05-27T07:32:00Z"}));
    }
}
