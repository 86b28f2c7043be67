//! Hot reload: the whole plugin state handed from one version to the next. Inputs, routes
//! and PeerConnections live in the core and keep running.

use std::collections::{BTreeMap, HashMap, HashSet};

use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::{Id, IdGen};
use portunus_plugin_sdk::prelude::*;
use portunus_plugin_sdk::snapshot::{self, pairs};
use serde::{Deserialize, Serialize};

use crate::Streaming;
use crate::config::Settings;
use crate::mountpoint::Mountpoint;
use crate::viewer::Session;

/// Bumped when the layout changes in a way an older snapshot cannot be read into.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    settings: Settings,
    #[serde(with = "pairs")]
    mountpoints: BTreeMap<Id, Mountpoint>,
    sessions: HashMap<HandleId, Session>,
    saved: Vec<Value>,
    ids: IdGen,
}

impl<H: Host> Streaming<H> {
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        let s = Snapshot {
            version: VERSION,
            settings: self.settings.clone(),
            mountpoints: self.mountpoints.clone(),
            sessions: self.sessions.clone(),
            saved: self.saved.clone(),
            ids: self.ids.clone(),
        };
        serde_json::to_vec(&s).ok()
    }

    pub fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let s = snapshot::read(state, "streaming", VERSION, |s: &Snapshot| s.version)?;
        // On a hot reload `init` ran first, while the old version's inputs were still open:
        // configured ports were refused as in use, but free-port mountpoints got new inputs.
        // The snapshot's inputs are the live ones; close what `init` opened besides them.
        let kept: HashSet<HandleId> = s.mountpoints.values().map(|m| m.source).collect();
        for mp in self.mountpoints.values() {
            if !kept.contains(&mp.source) {
                self.host.rtp_input_remove(mp.source);
            }
        }
        self.settings = s.settings;
        self.mountpoints = s.mountpoints;
        self.sessions = s.sessions;
        self.saved = s.saved;
        self.ids = s.ids;
        self.host.info(&format!(
            "restored {} mountpoint(s) and {} handle(s)",
            self.mountpoints.len(),
            self.sessions.len()
        ));
        Ok(())
    }
}
