//! Hot reload: the whole plugin state handed from one version to the next. Routes,
//! forwarders, talk detection and PeerConnections live in the core and keep running; only
//! timers (the fir_freq keyframe requests) are re-armed.

use std::collections::{BTreeMap, HashMap};

use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::VideoRoom;
use crate::config::Settings;
use crate::room::{Room, Session};
use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::{Id, IdGen};
use portunus_plugin_sdk::snapshot::{self, pairs};

/// Bumped when the layout changes in a way an older snapshot cannot be read into.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    settings: Settings,
    #[serde(with = "pairs")]
    rooms: BTreeMap<Id, Room>,
    sessions: HashMap<HandleId, Session>,
    routes: HashMap<RouteId, (HandleId, String)>,
    ids: IdGen,
}

impl<H: Host> VideoRoom<H> {
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        let s = Snapshot {
            version: VERSION,
            settings: self.settings.clone(),
            rooms: self.rooms.clone(),
            sessions: self.sessions.clone(),
            routes: self.routes.clone(),
            ids: self.ids.clone(),
        };
        serde_json::to_vec(&s).ok()
    }

    pub fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let s = snapshot::read(state, "videoroom", VERSION, |s: &Snapshot| s.version)?;
        self.settings = s.settings;
        self.rooms = s.rooms;
        self.sessions = s.sessions;
        self.routes = s.routes;
        self.ids = s.ids;
        // Timers belonged to the old instance.
        let firs: Vec<(HandleId, u32)> = self
            .sessions
            .values()
            .filter_map(|s| {
                let p = s.publisher().filter(|p| p.publishing)?;
                let fir = self.rooms.get(&p.room)?.cfg.fir_freq;
                (fir > 0).then_some((s.handle, fir))
            })
            .collect();
        for (h, fir) in firs {
            self.host.set_timer(h, u64::from(fir) * 1000);
        }
        self.host.info(&format!(
            "restored {} room(s) and {} handle(s)",
            self.rooms.len(),
            self.sessions.len()
        ));
        Ok(())
    }
}
