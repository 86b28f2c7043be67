//! Transports: how clients reach the API core. Both share one session model; each session's
//! asynchronous events go to the [`EventSink`] of the connection that created (or claimed) it.

pub mod http;
pub mod ws;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// Identifies a transport connection (an HTTP transport as a whole, or one WebSocket).
pub type ConnectionId = u64;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

pub fn next_connection_id() -> ConnectionId {
    NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
}

/// Where a session's events go. Implementations must not block.
pub trait EventSink: Send + Sync + 'static {
    fn id(&self) -> ConnectionId;
    /// This connection now receives the session's events (`create` or `claim`).
    fn session_owned(&self, session: u64);
    /// An event for a session this connection owns.
    fn send(&self, session: u64, event: Value);
    /// The session is gone or was claimed by another connection (called after its last event).
    fn session_released(&self, session: u64);
}
