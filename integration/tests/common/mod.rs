//! What every end-to-end test needs: portunus in-process on ephemeral loopback ports.

use std::net::IpAddr;
use std::time::Duration;

use portunus::{Config, Server};
use portunus_integration::Endpoint;

/// VideoRoom fixtures (unused by the other test binaries).
#[allow(dead_code)]
pub mod videoroom;

/// How long any one step may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A loopback-only config: ephemeral API and media ports, no demos.
pub fn config(session_timeout: u64) -> Config {
    let mut c = Config::default();
    let lo: IpAddr = [127, 0, 0, 1].into();
    c.general.session_timeout = session_timeout;
    c.http.bind = lo;
    c.http.port = 0;
    c.http.demos_dir = None;
    c.websocket.bind = lo;
    c.websocket.port = 0;
    c.media.udp_port = 0;
    c.media.interfaces = vec![lo];
    c.media.workers = 2;
    c
}

/// Starts portunus (and test logging, filtered by `RUST_LOG`).
pub async fn start(config: Config) -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    portunus::start(config).await.expect("portunus starts")
}

/// The server's WebSocket (`"ws"`) or HTTP (anything else) API endpoint.
pub fn endpoint(server: &Server, kind: &str) -> Endpoint {
    match kind {
        "ws" => Endpoint::WebSocket(format!("ws://{}", server.ws_addr().expect("ws enabled"))),
        _ => Endpoint::Http(format!(
            "http://{}/janus",
            server.http_addr().expect("http enabled")
        )),
    }
}
