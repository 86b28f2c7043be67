//! Sessions and handles: who exists, who owns which events, and when sessions expire.
//!
//! Locks are only held to read or change the maps and flags; events are delivered and
//! plugins/media are called after the locks are released.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use portunus_plugin_host::PluginHandle;
use serde_json::Value;

use crate::transport::{ConnectionId, EventSink};

/// Janus masks ids to 53 bits so JavaScript numbers hold them exactly.
const ID_MASK: u64 = 0x1F_FFFF_FFFF_FFFF;

pub fn random_id() -> u64 {
    loop {
        let id = rand::random::<u64>() & ID_MASK;
        if id != 0 {
            return id;
        }
    }
}

pub struct Session {
    pub id: u64,
    state: Mutex<SessionState>,
}

struct SessionState {
    owner: Option<Arc<dyn EventSink>>,
    last_activity: Instant,
    /// Set when the owning connection went away and the session waits for a `claim`.
    orphaned_at: Option<Instant>,
    handles: BTreeSet<u64>,
}

impl Session {
    pub fn touch(&self) {
        self.state.lock().last_activity = Instant::now();
    }

    pub fn owner_id(&self) -> Option<ConnectionId> {
        self.state.lock().owner.as_ref().map(|o| o.id())
    }

    /// Sends an event to the owning connection (dropped while orphaned).
    pub fn send(&self, event: Value) {
        let owner = self.state.lock().owner.clone();
        match owner {
            Some(owner) => owner.send(self.id, event),
            None => tracing::debug!(session = self.id, "event dropped: no connection"),
        }
    }

    /// Makes `sink` the owner; returns the previous owner if it was another connection.
    pub fn set_owner(&self, sink: Arc<dyn EventSink>) -> Option<Arc<dyn EventSink>> {
        let mut state = self.state.lock();
        state.orphaned_at = None;
        let previous = state.owner.replace(sink.clone());
        drop(state);
        match previous {
            Some(p) if p.id() == sink.id() => None,
            other => {
                sink.session_owned(self.id);
                other
            }
        }
    }

    pub fn handle_ids(&self) -> Vec<u64> {
        self.state.lock().handles.iter().copied().collect()
    }
}

/// A handle: one session's attachment to one plugin (and at most one PeerConnection).
pub struct Handle {
    pub id: u64,
    pub session_id: u64,
    pub plugin: PluginHandle,
    /// The plugin's package name (`janus.plugin.echotest`).
    pub package: String,
    pub opaque_id: Option<String>,
    state: Mutex<HandleState>,
}

#[derive(Default)]
struct HandleState {
    /// A PeerConnection was started (offer/answer processed) and not hung up since.
    has_pc: bool,
    /// Being detached: plugin events still flow, new requests are refused.
    detaching: bool,
    /// The SDP of an offer made by the plugin's `create-offer`, waiting for the `push-event`
    /// (`prepared-offer`) that sends it.
    prepared_offer: Option<String>,
}

impl Handle {
    pub fn set_pc(&self, up: bool) {
        self.state.lock().has_pc = up;
    }

    pub fn has_pc(&self) -> bool {
        self.state.lock().has_pc
    }

    /// Marks the handle as detaching; false if it already was.
    pub fn begin_detach(&self) -> bool {
        let mut s = self.state.lock();
        !std::mem::replace(&mut s.detaching, true)
    }

    pub fn is_detaching(&self) -> bool {
        self.state.lock().detaching
    }

    /// Keeps a server offer made ahead of the event that carries it (replacing any older).
    pub fn set_prepared_offer(&self, sdp: String) {
        self.state.lock().prepared_offer = Some(sdp);
    }

    pub fn take_prepared_offer(&self) -> Option<String> {
        self.state.lock().prepared_offer.take()
    }
}

/// What the watchdog found.
#[derive(Default)]
pub struct Expired {
    /// Idle past the session timeout: they get a `timeout` event.
    pub timed_out: Vec<Arc<Session>>,
    /// Orphaned past the reclaim timeout: nobody to tell.
    pub unclaimed: Vec<Arc<Session>>,
}

#[derive(Default)]
pub struct Registry {
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    /// Ids of the handle space given to something else (plain-RTP inputs, which are route
    /// sources like handles): never given to a handle while reserved.
    reserved: Mutex<HashSet<u64>>,
}

impl Registry {
    /// Creates a session with `id` (or a random one when `None`); `None` if the id is taken.
    pub fn create_session(
        &self,
        id: Option<u64>,
        owner: Arc<dyn EventSink>,
    ) -> Option<Arc<Session>> {
        let mut sessions = self.sessions.lock();
        let id = match id {
            Some(id) if sessions.contains_key(&id) => return None,
            Some(id) => id,
            None => loop {
                let id = random_id();
                if !sessions.contains_key(&id) {
                    break id;
                }
            },
        };
        let session = Arc::new(Session {
            id,
            state: Mutex::new(SessionState {
                owner: Some(owner.clone()),
                last_activity: Instant::now(),
                orphaned_at: None,
                handles: BTreeSet::new(),
            }),
        });
        sessions.insert(id, session.clone());
        drop(sessions);
        owner.session_owned(id);
        Some(session)
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        self.sessions.lock().get(&id).cloned()
    }

    pub fn session_ids(&self) -> Vec<u64> {
        self.sessions.lock().keys().copied().collect()
    }

    pub fn session_exists(&self, id: u64) -> bool {
        self.sessions.lock().contains_key(&id)
    }

    /// Removes the session from the map (its handles stay until removed one by one).
    pub fn remove_session(&self, id: u64) -> Option<Arc<Session>> {
        self.sessions.lock().remove(&id)
    }

    /// Takes the session's owner away (it is being destroyed); returns it.
    pub fn take_owner(&self, session: &Session) -> Option<Arc<dyn EventSink>> {
        session.state.lock().owner.take()
    }

    pub fn add_handle(
        &self,
        session: &Session,
        plugin: PluginHandle,
        package: String,
        opaque_id: Option<String>,
    ) -> Arc<Handle> {
        let mut handles = self.handles.lock();
        let id = loop {
            let id = random_id();
            if !handles.contains_key(&id) && !self.reserved.lock().contains(&id) {
                break id;
            }
        };
        let handle = Arc::new(Handle {
            id,
            session_id: session.id,
            plugin,
            package,
            opaque_id,
            state: Mutex::new(HandleState::default()),
        });
        handles.insert(id, handle.clone());
        session.state.lock().handles.insert(id);
        handle
    }

    /// An id of the handle space that no handle has and none will get until `release_id`.
    pub fn reserve_id(&self) -> u64 {
        let handles = self.handles.lock();
        let mut reserved = self.reserved.lock();
        loop {
            let id = random_id();
            if !handles.contains_key(&id) && reserved.insert(id) {
                return id;
            }
        }
    }

    pub fn release_id(&self, id: u64) {
        self.reserved.lock().remove(&id);
    }

    pub fn handle(&self, id: u64) -> Option<Arc<Handle>> {
        self.handles.lock().get(&id).cloned()
    }

    /// The handle, if it belongs to `session`.
    pub fn handle_in(&self, session: &Session, id: u64) -> Option<Arc<Handle>> {
        if !session.state.lock().handles.contains(&id) {
            return None;
        }
        self.handle(id)
    }

    pub fn remove_handle(&self, id: u64) -> Option<Arc<Handle>> {
        let handle = self.handles.lock().remove(&id)?;
        if let Some(session) = self.session(handle.session_id) {
            session.state.lock().handles.remove(&id);
        }
        Some(handle)
    }

    /// Sessions owned by a connection that went away. With `reclaim` they are orphaned and
    /// returned empty; otherwise they are returned for destruction.
    pub fn connection_lost(&self, connection: ConnectionId, reclaim: bool) -> Vec<Arc<Session>> {
        let sessions: Vec<_> = self.sessions.lock().values().cloned().collect();
        let now = Instant::now();
        let mut doomed = Vec::new();
        for session in sessions {
            let mut state = session.state.lock();
            if state.owner.as_ref().map(|o| o.id()) != Some(connection) {
                continue;
            }
            state.owner = None;
            if reclaim {
                state.orphaned_at = Some(now);
            } else {
                drop(state);
                doomed.push(session);
            }
        }
        doomed
    }

    /// Sessions idle past `timeout` (None = never) or orphaned past `reclaim`, removed from
    /// the map.
    pub fn expire(&self, now: Instant, timeout: Option<Duration>, reclaim: Duration) -> Expired {
        let mut sessions = self.sessions.lock();
        let mut expired = Expired::default();
        sessions.retain(|_, session| {
            let state = session.state.lock();
            if let Some(orphaned) = state.orphaned_at
                && now.duration_since(orphaned) >= reclaim
            {
                expired.unclaimed.push(session.clone());
                return false;
            }
            if let Some(timeout) = timeout
                && now.duration_since(state.last_activity) >= timeout
            {
                expired.timed_out.push(session.clone());
                return false;
            }
            true
        });
        expired
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn handle_count(&self) -> usize {
        self.handles.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_53_bit_and_nonzero() {
        for _ in 0..10_000 {
            let id = random_id();
            assert!(id > 0 && id <= ID_MASK);
        }
    }
}
