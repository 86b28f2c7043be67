//! The synchronous requests: list, info, create, edit, destroy, recording, enable, disable,
//! kick_all. Each answers with a `success` carrying `{"streaming": ...}` or an error event.

use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::Id;
use portunus_plugin_sdk::janus::{Param, ParamKind};
use portunus_plugin_sdk::prelude::*;
use serde_json::Map;

use crate::error::*;
use crate::mountpoint::{self, Mountpoint};
use crate::{KEY, Streaming, result_event};

type Body = Map<String, Value>;

const EDIT_PARAMS: &[Param] = &[
    Param::optional("new_description", ParamKind::String),
    Param::optional("new_metadata", ParamKind::String),
    Param::optional("new_secret", ParamKind::String),
    Param::optional("new_pin", ParamKind::String),
    Param::optional("new_is_private", ParamKind::Bool),
    Param::optional("permanent", ParamKind::Bool),
    Param::optional("edited_event", ParamKind::Bool),
];
const PERMANENT_PARAMS: &[Param] = &[Param::optional("permanent", ParamKind::Bool)];
const RECORDING_PARAMS: &[Param] = &[Param::required("action", ParamKind::String)];
const DISABLE_PARAMS: &[Param] = &[Param::optional("stop_recording", ParamKind::Bool)];
const ADMIN_KEY_PARAMS: &[Param] = &[Param::required("admin_key", ParamKind::String)];

fn is_true(body: &Body, key: &str) -> bool {
    body.get(key) == Some(&Value::Bool(true))
}

fn str_of(body: &Body, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl<H: Host> Streaming<H> {
    pub(crate) fn sync_request(&mut self, request: &str, body: &Body) -> SResult<Value> {
        match request {
            "list" => self.list(body),
            "info" => self.info(body),
            "create" => self.create(body),
            "edit" => self.edit(body),
            "destroy" => self.destroy(body),
            "recording" => self.recording(body),
            "enable" | "disable" => self.enable(body, request == "enable"),
            "kick_all" => self.kick_all(body),
            _ => Err(err(INVALID_REQUEST, format!("Unknown request '{request}'"))),
        }
    }

    /// The mandatory `id` of the configured kind.
    pub(crate) fn id_of(&self, body: &Body) -> SResult<Id> {
        Id::required(
            body,
            "id",
            self.settings.string_ids,
            MISSING_ELEMENT,
            INVALID_ELEMENT,
        )
    }

    /// The mountpoint named by `id`, with its secret checked.
    fn mountpoint_checked(&self, id: &Id, body: &Body) -> SResult<&Mountpoint> {
        let mp = self
            .mountpoints
            .get(id)
            .ok_or_else(|| no_such_mountpoint(id))?;
        check_secret(mp.secret.as_deref(), body, "secret")?;
        Ok(mp)
    }

    fn list(&mut self, body: &Body) -> SResult<Value> {
        let mut unlocked = false;
        if let Some(key) = self.settings.admin_key.clone()
            && body
                .get("admin_key")
                .and_then(Value::as_str)
                .is_some_and(|k| !k.is_empty())
        {
            check_secret(Some(&key), body, "admin_key")?;
            unlocked = true;
        }
        let now = self.host.now_ms();
        let list: Vec<Value> = self
            .mountpoints
            .values()
            .filter(|m| !m.is_private || unlocked)
            .map(|m| m.list_entry(now))
            .collect();
        Ok(json!({KEY: "list", "list": list}))
    }

    fn info(&mut self, body: &Body) -> SResult<Value> {
        let id = self.id_of(body)?;
        let now = self.host.now_ms();
        let mp = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| no_such_mountpoint(&id))?;
        let admin = match mp.secret.as_deref() {
            None => true,
            Some(s) => body.get("secret").and_then(Value::as_str) == Some(s),
        };
        Ok(json!({KEY: "info", "info": mp.info(admin, now)}))
    }

    fn create(&mut self, body: &Body) -> SResult<Value> {
        validate(body, mountpoint::CREATE_PARAMS)?;
        Id::optional(body, "id", self.settings.string_ids, INVALID_ELEMENT)?;
        if let Some(key) = self.settings.admin_key.clone() {
            validate(body, ADMIN_KEY_PARAMS)?;
            check_secret(Some(&key), body, "admin_key")?;
        }
        let save = is_true(body, "permanent");
        let id = self.create_mountpoint(body)?;
        let mut saved = false;
        if save && let Some(mp) = self.mountpoints.get(&id) {
            let table = mp.to_config();
            // A table left by a mountpoint destroyed without `permanent` would make the id
            // taken twice at the next start.
            self.saved.retain(|t| !same_id(t, &id));
            self.saved.push(table);
            saved = self.save_or_log();
        }
        let mp = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| err(UNKNOWN_ERROR, "Invalid response"))?;
        let mut reply = json!({
            KEY: "created",
            "created": mp.name,
            "permanent": saved,
            "stream": mp.created(),
        });
        if mp.legacy {
            reply["warning"] = json!("deprecated_api");
        }
        Ok(reply)
    }

    /// Makes a mountpoint from a `create` body or a configuration table and opens its
    /// ports; returns its id.
    pub(crate) fn create_mountpoint(&mut self, body: &Body) -> SResult<Id> {
        validate(body, mountpoint::CREATE_PARAMS)?;
        let string_ids = self.settings.string_ids;
        let id = match Id::optional(body, "id", string_ids, INVALID_ELEMENT)? {
            Some(id) if !id.is_empty() => {
                if self.mountpoints.contains_key(&id) {
                    return Err(err(CANT_CREATE, DUPLICATE_ID));
                }
                id
            }
            _ => loop {
                let id = self.ids.new_id(string_ids);
                if !self.mountpoints.contains_key(&id) {
                    break id;
                }
            },
        };
        let kind = str_of(body, "type").unwrap_or_default();
        match kind.to_ascii_lowercase().as_str() {
            "rtp" => {}
            t @ ("live" | "ondemand" | "rtsp") => {
                return Err(err(
                    CANT_CREATE,
                    format!(
                        "Can't create '{t}' mountpoint, not implemented in portunus (only 'rtp' is)"
                    ),
                ));
            }
            _ => {
                return Err(err(
                    INVALID_ELEMENT,
                    format!("Unknown stream type '{kind}'...\n"),
                ));
            }
        }
        let now = self.host.now_ms();
        let mut spec = mountpoint::parse_rtp(body, now)?;
        let input = RtpInput {
            host: spec.host.clone(),
            streams: spec.streams.iter().map(|s| s.input()).collect(),
        };
        let opened = self
            .host
            .rtp_input_add(&input)
            .map_err(|e| err(CANT_CREATE, format!("Error creating 'rtp' stream: {e}")))?;
        for (s, port) in spec.streams.iter_mut().zip(&opened.ports) {
            s.port = *port;
        }
        let name = mountpoint::mountpoint_name(body.get("name").and_then(Value::as_str), &id);
        let description = str_of(body, "description").unwrap_or_else(|| name.clone());
        let mp = Mountpoint {
            id: id.clone(),
            name,
            description,
            metadata: str_of(body, "metadata"),
            is_private: is_true(body, "is_private"),
            secret: str_of(body, "secret"),
            pin: str_of(body, "pin"),
            enabled: true,
            legacy: spec.legacy,
            host: spec.host,
            collision: spec.collision,
            threads: spec.threads,
            streams: spec.streams,
            source: opened.source,
            viewers: Default::default(),
        };
        self.host.info(&format!(
            "mountpoint {id} ('{}'): input {} on port(s) {:?}",
            mp.name, opened.source, opened.ports
        ));
        self.mountpoints.insert(id.clone(), mp);
        Ok(id)
    }

    fn edit(&mut self, body: &Body) -> SResult<Value> {
        validate(body, EDIT_PARAMS)?;
        let id = self.id_of(body)?;
        let mp = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| err(NO_SUCH_MOUNTPOINT, format!("No such mountpoint ({id})")))?;
        check_secret(mp.secret.as_deref(), body, "secret")?;
        let mp = self
            .mountpoints
            .get_mut(&id)
            .ok_or_else(|| no_such_mountpoint(&id))?;
        if let Some(d) = str_of(body, "new_description").filter(|d| !d.is_empty()) {
            mp.description = d;
        }
        let mut send_edited = is_true(body, "edited_event");
        if let Some(md) = str_of(body, "new_metadata") {
            // As Janus: no event when the metadata did not change.
            send_edited &= mp.metadata.as_deref() != Some(md.as_str());
            mp.metadata = Some(md);
        }
        if let Some(p) = body.get("new_is_private").and_then(Value::as_bool) {
            mp.is_private = p;
        }
        if let Some(s) = str_of(body, "new_secret").filter(|s| !s.is_empty()) {
            mp.secret = Some(s);
        }
        if let Some(p) = str_of(body, "new_pin") {
            mp.pin = Some(p).filter(|p| !p.is_empty());
        }
        let table = mp.to_config();
        let viewers: Vec<HandleId> = mp.viewers.iter().copied().collect();
        // Janus 1.1.2's code sends viewers this, without a "streaming" key (its API docs
        // show `"streaming": "edited"`, but clients see what the code sends).
        let mut event = json!({"event": "edited", "id": id.to_json()});
        if let Some(md) = &mp.metadata {
            event["metadata"] = json!(md);
        }
        let mut saved = false;
        if is_true(body, "permanent") {
            self.saved.retain(|t| !same_id(t, &id));
            self.saved.push(table);
            saved = self.save_or_log();
        }
        if send_edited {
            for h in viewers {
                self.push(h, None, &event, None);
            }
        }
        Ok(json!({KEY: "edited", "id": id.to_json(), "permanent": saved}))
    }

    fn destroy(&mut self, body: &Body) -> SResult<Value> {
        validate(body, PERMANENT_PARAMS)?;
        let id = self.id_of(body)?;
        self.mountpoint_checked(&id, body)?;
        let Some(mp) = self.mountpoints.remove(&id) else {
            return Err(no_such_mountpoint(&id));
        };
        let stopped = result_event(json!({"status": "stopped"}));
        for h in mp.viewers.iter().copied() {
            self.end_viewer(h, &stopped);
        }
        self.host.rtp_input_remove(mp.source);
        if is_true(body, "permanent") {
            self.saved.retain(|t| !same_id(t, &id));
            self.save_or_log();
        }
        Ok(json!({KEY: "destroyed", "destroyed": id.to_json()}))
    }

    fn recording(&mut self, body: &Body) -> SResult<Value> {
        validate(body, RECORDING_PARAMS)?;
        let action = str_of(body, "action").unwrap_or_default();
        if !action.eq_ignore_ascii_case("start") && !action.eq_ignore_ascii_case("stop") {
            return Err(err(
                INVALID_ELEMENT,
                "Invalid action (should be start|stop)",
            ));
        }
        let id = self.id_of(body)?;
        self.mountpoint_checked(&id, body)?;
        Err(err(CANT_RECORD, "Recording is not implemented in portunus"))
    }

    fn enable(&mut self, body: &Body, enable: bool) -> SResult<Value> {
        let id = self.id_of(body)?;
        self.mountpoint_checked(&id, body)?;
        if !enable {
            validate(body, DISABLE_PARAMS)?;
        }
        let viewers: Vec<HandleId> = match self.mountpoints.get_mut(&id) {
            Some(mp) => {
                mp.enabled = enable;
                mp.viewers.iter().copied().collect()
            }
            None => Vec::new(),
        };
        // A disabled mountpoint keeps its viewers but sends them nothing.
        for h in viewers {
            self.refresh_routes(h);
        }
        Ok(json!({KEY: "ok"}))
    }

    fn kick_all(&mut self, body: &Body) -> SResult<Value> {
        let id = self.id_of(body)?;
        let viewers: Vec<HandleId> = self
            .mountpoint_checked(&id, body)?
            .viewers
            .iter()
            .copied()
            .collect();
        let kicked = result_event(json!({"status": "kicked_all"}));
        for h in viewers {
            self.end_viewer(h, &kicked);
        }
        Ok(json!({KEY: "kicked_all"}))
    }

    /// Writes the configuration; whether it worked (Janus answers `permanent: false` when
    /// saving failed).
    fn save_or_log(&mut self) -> bool {
        match self.save_config() {
            Ok(()) => true,
            Err(e) => {
                self.host
                    .warn(&format!("cannot save the streaming configuration: {e}"));
                false
            }
        }
    }
}

/// Whether a configuration table is the mountpoint `id`'s.
pub(crate) fn same_id(table: &Value, id: &Id) -> bool {
    table.get("id") == Some(&id.to_json())
}
