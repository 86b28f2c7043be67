//! VideoRoom fixtures: portunus with VideoRoom settings, a connected client and session.

use std::sync::Arc;

use portunus::Server;
use portunus_integration::JanusClient;
use portunus_integration::videoroom::{RoomHandle, VIDEOROOM};
use serde_json::{Value, json};

use super::{WAIT, config, endpoint, start};

/// The plugin's admin key in [`settings`].
pub const ADMIN_KEY: &str = "itest-admin";

/// VideoRoom settings: an admin key and `rooms` (config-file rooms).
pub fn settings(rooms: Value) -> Value {
    json!({"admin_key": ADMIN_KEY, "rooms": rooms})
}

/// A running server, a client on `kind` ("ws"/"http") and one session.
pub struct Env {
    pub server: Server,
    pub client: Arc<JanusClient>,
    pub session: u64,
}

impl Env {
    /// Starts portunus with these VideoRoom `settings` and opens a session.
    pub async fn start(kind: &str, settings: Value) -> Env {
        let mut c = config(60);
        c.plugins.settings.insert(VIDEOROOM.to_string(), settings);
        let server = start(c).await;
        let client = Arc::new(
            JanusClient::connect(&endpoint(&server, kind))
                .await
                .expect("connect"),
        );
        let session = client.create().await.expect("create session");
        Env {
            server,
            client,
            session,
        }
    }

    /// Another client connection with its own session (another browser tab).
    pub async fn other_client(&self, kind: &str) -> (Arc<JanusClient>, u64) {
        let client = Arc::new(
            JanusClient::connect(&endpoint(&self.server, kind))
                .await
                .expect("connect"),
        );
        let session = client.create().await.expect("create session");
        (client, session)
    }

    /// A new VideoRoom handle on the session.
    pub async fn handle(&self) -> RoomHandle {
        RoomHandle::attach(self.client.clone(), self.session, WAIT)
            .await
            .expect("attach videoroom")
    }

    /// Creates a room at runtime (admin key added) and returns its id.
    pub async fn create_room(&self, body: Value) -> u64 {
        let h = self.handle().await;
        let body = portunus_integration::videoroom::merge(
            json!({"request": "create", "admin_key": ADMIN_KEY}),
            &body,
        );
        let r = h
            .request_ok(body)
            .await
            .unwrap_or_else(|e| panic!("create room: {e}"));
        assert_eq!(r["videoroom"], "created", "{r}");
        let _ = h.detach().await;
        r["room"].as_u64().expect("room id")
    }

    pub async fn stop(self) {
        let _ = self.client.destroy(self.session).await;
        self.server.shutdown().await;
    }
}
