//! portunus: a WebRTC gateway with the Janus API, whose features are WebAssembly plugins.
//!
//! [`start`] brings up the media engine, the plugin host and the transports around one
//! [`api::ApiCore`]; the returned [`Server`] tells where it listens and shuts it down.

pub mod api;
pub mod config;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portunus_media::{MediaEngine, MediaError};
use portunus_plugin_host::{PluginError, PluginHost};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use api::{ApiCore, CoreGateway};
pub use config::Config;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("media engine: {0}")]
    Media(#[from] MediaError),
    #[error("plugins: {0}")]
    Plugins(#[from] PluginError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("plugin loading task failed: {0}")]
    Join(String),
}

/// A running gateway.
pub struct Server {
    core: Arc<ApiCore>,
    http_addr: Option<SocketAddr>,
    ws_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    http_sink: Option<Arc<transport::http::HttpSink>>,
    tasks: Vec<JoinHandle<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Where the HTTP transport (API and demo pages) listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Where the WebSocket transport listens.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    pub fn core(&self) -> &Arc<ApiCore> {
        &self.core
    }

    /// Stops accepting, closes connections and destroys every session.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(sink) = &self.http_sink {
            sink.close();
        }
        for server in self.servers.drain(..) {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.core.destroy_all();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.iter().chain(self.servers.iter()) {
            task.abort();
        }
    }
}

/// Starts the gateway. Ports 0 in the config bind ephemeral ports (see [`Server`]).
pub async fn start(config: Config) -> Result<Server, StartError> {
    let (media, media_events) = MediaEngine::start(config.media.clone())?;
    let core = ApiCore::new(config.clone(), media, tokio::runtime::Handle::current());
    let gateway = Arc::new(CoreGateway::new(&core));
    let plugin_config = config.plugins.clone();
    // Compiling plugins is CPU-bound; keep it off the async workers.
    let host = tokio::task::spawn_blocking(move || PluginHost::load(&plugin_config, gateway))
        .await
        .map_err(|e| StartError::Join(e.to_string()))??;
    for info in host.infos() {
        tracing::info!(
            plugin = info.package,
            version = info.version_string,
            source = info.source,
            "plugin loaded"
        );
    }
    core.set_plugins(host);

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(core.clone().pump_media_events(media_events)),
        tokio::spawn(core.clone().watchdog()),
    ];
    let mut servers = Vec::new();

    let mut http_addr = None;
    let mut http_sink = None;
    if config.http.enabled {
        let addr = SocketAddr::new(config.http.bind, config.http.port);
        let listener = bind(addr, "HTTP").await?;
        http_addr = listener.local_addr().ok();
        let (router, sink) = transport::http::router(
            core.clone(),
            transport::http::HttpOptions {
                base_path: config.http.base_path.clone(),
                demos_dir: config.http.demos_dir.clone(),
                keepalive: Duration::from_secs(config.http.longpoll_keepalive),
            },
        );
        http_sink = Some(sink);
        core.add_transport(transport::http::INFO);
        servers.push(serve(listener, router, shutdown_rx.clone()));
        tracing::info!("HTTP transport on http://{}{}", addr, config.http.base_path);
    }
    let mut ws_addr = None;
    if config.websocket.enabled {
        let addr = SocketAddr::new(config.websocket.bind, config.websocket.port);
        let listener = bind(addr, "WebSocket").await?;
        ws_addr = listener.local_addr().ok();
        let router = transport::ws::router(core.clone(), shutdown_rx.clone());
        core.add_transport(transport::ws::INFO);
        servers.push(serve(listener, router, shutdown_rx.clone()));
        tracing::info!("WebSocket transport on ws://{}", addr);
    }
    tasks.shrink_to_fit();
    Ok(Server {
        core,
        http_addr,
        ws_addr,
        shutdown,
        http_sink,
        tasks,
        servers,
    })
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    // Janus replies and events are small frames sent back to back (an `ack`, then the
    // event): without TCP_NODELAY, Nagle holds the second one for a round trip.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!("server error: {e}");
        }
    })
}
