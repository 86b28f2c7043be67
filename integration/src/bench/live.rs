//! Where a run is and counters a progress display polls while it goes on (shared by the
//! scenarios).

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Setup = 0,
    Media = 1,
    Drain = 2,
    Teardown = 3,
    Done = 4,
}

/// Counters a progress display can poll while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    phase: AtomicU8,
    pub sessions_up: AtomicUsize,
    pub sessions_failed: AtomicUsize,
    pub sent_packets: AtomicU64,
    pub received_packets: AtomicU64,
    media_started: Mutex<Option<Instant>>,
}

impl Live {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Setup,
            1 => Phase::Media,
            2 => Phase::Drain,
            3 => Phase::Teardown,
            _ => Phase::Done,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }

    pub fn set_media_started(&self, at: Instant) {
        *self.media_started.lock() = Some(at);
    }

    /// When the media window began, once it has.
    pub fn media_started(&self) -> Option<Instant> {
        *self.media_started.lock()
    }
}
