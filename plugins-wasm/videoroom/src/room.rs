//! A room and the per-handle state of its participants.

use std::collections::{BTreeMap, BTreeSet};

use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::RoomConfig;
use crate::publisher::Publisher;
use crate::subscriber::Subscriber;
use portunus_plugin_sdk::ids::Id;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Room {
    pub id: Id,
    pub cfg: RoomConfig,
    /// Written to the configuration (config rooms, and rooms created or edited with
    /// `permanent: true`).
    pub permanent: bool,
    /// `allowed` is enforced (join needs a `token` from the list).
    pub check_allowed: bool,
    pub allowed: BTreeSet<String>,
    /// Publisher-type participants (joined with `ptype: "publisher"`), by id.
    #[serde(with = "portunus_plugin_sdk::snapshot::pairs")]
    pub participants: BTreeMap<Id, HandleId>,
    /// Subscriber handles.
    pub subscribers: BTreeSet<HandleId>,
}

impl Room {
    pub fn new(id: Id, cfg: RoomConfig, permanent: bool, allowed: Option<Vec<String>>) -> Room {
        Room {
            id,
            cfg,
            permanent,
            check_allowed: allowed.is_some(),
            allowed: allowed.unwrap_or_default().into_iter().collect(),
            participants: BTreeMap::new(),
            subscribers: BTreeSet::new(),
        }
    }

    /// The room as a config table (`rooms` entry), for `save_config`: the settings that
    /// differ from the defaults, so the written file stays as short as a hand-written one.
    pub fn to_config(&self) -> Value {
        let defaults = RoomConfig::default().to_json();
        let mut m = self.cfg.to_json();
        m.retain(|k, v| k == "description" || defaults.get(k) != Some(v));
        m.insert("room".into(), self.id.to_json());
        if self.check_allowed {
            m.insert(
                "allowed".into(),
                Value::Array(self.allowed.iter().map(|t| json!(t)).collect()),
            );
        }
        Value::Object(m)
    }
}

/// What a handle is in the plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub enum Role {
    /// Attached, not joined (or left).
    #[default]
    Idle,
    Publisher(Box<Publisher>),
    Subscriber(Box<Subscriber>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub handle: HandleId,
    pub opaque_id: Option<String>,
    pub role: Role,
    /// The PeerConnection is up (between `setup_media` and `hangup_media`).
    pub pc_up: bool,
    /// Kicked out of its room: this handle may do nothing more (Janus).
    pub kicked: bool,
}

impl Session {
    pub fn new(handle: HandleId, opaque_id: Option<String>) -> Session {
        Session {
            handle,
            opaque_id,
            role: Role::Idle,
            pc_up: false,
            kicked: false,
        }
    }

    pub fn publisher(&self) -> Option<&Publisher> {
        match &self.role {
            Role::Publisher(p) => Some(p),
            _ => None,
        }
    }

    pub fn publisher_mut(&mut self) -> Option<&mut Publisher> {
        match &mut self.role {
            Role::Publisher(p) => Some(p),
            _ => None,
        }
    }

    pub fn subscriber(&self) -> Option<&Subscriber> {
        match &self.role {
            Role::Subscriber(s) => Some(s),
            _ => None,
        }
    }

    pub fn subscriber_mut(&mut self) -> Option<&mut Subscriber> {
        match &mut self.role {
            Role::Subscriber(s) => Some(s),
            _ => None,
        }
    }
}
