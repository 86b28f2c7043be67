//! The WebSocket transport (`janus.transport.websockets`): one JSON object per frame out,
//! any number of concatenated objects per frame in, replies and events on the same socket.
//!
//! Subprotocol `janus-protocol` is echoed. Unlike Janus 1.1.2, which drops clients that ask
//! for no subprotocol, portunus also accepts those (plain WebSocket clients and tools); a
//! client asking only for other subprotocols is refused.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::{ConnectionId, EventSink, next_connection_id};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::{ApiCore, TransportInfo};

pub const INFO: TransportInfo = TransportInfo {
    package: "janus.transport.websockets",
    name: "JANUS WebSockets transport plugin",
    description: "This transport plugin adds WebSockets support to the Janus API via portunus.",
    version: 1,
    version_string: "0.0.1",
};

pub const PROTOCOL: &str = "janus-protocol";

/// One WebSocket connection as an event sink: everything goes to its writer.
struct WsSink {
    id: ConnectionId,
    out: mpsc::UnboundedSender<Value>,
    /// While a request is processed, its events wait here so the reply goes out first
    /// (a plugin may push an `event` before its `ack` is returned).
    held: Mutex<Option<Vec<Value>>>,
}

impl WsSink {
    fn hold(&self) {
        *self.held.lock() = Some(Vec::new());
    }

    /// Sends the reply, then the events held while it was being made.
    fn reply_and_release(&self, reply: Value) {
        let mut held = self.held.lock();
        let events = held.take().unwrap_or_default();
        for v in std::iter::once(reply).chain(events) {
            if self.out.send(v).is_err() {
                break;
            }
        }
    }
}

impl EventSink for WsSink {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn session_owned(&self, _session: u64) {}

    fn send(&self, session: u64, event: Value) {
        let mut held = self.held.lock();
        if let Some(buffer) = held.as_mut() {
            buffer.push(event);
            return;
        }
        if self.out.send(event).is_err() {
            tracing::debug!(session, "event for a closed WebSocket dropped");
        }
    }

    fn session_released(&self, _session: u64) {}
}

#[derive(Clone)]
struct WsState {
    core: Arc<ApiCore>,
    shutdown: watch::Receiver<bool>,
}

/// The router of the WebSocket port (any path); `shutdown` closes every socket when set.
pub fn router(core: Arc<ApiCore>, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .fallback(upgrade)
        .with_state(WsState { core, shutdown })
}

async fn upgrade(
    State(state): State<WsState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let requested: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if !requested.is_empty() && !requested.iter().any(|p| p == PROTOCOL) {
        tracing::info!(?requested, "WebSocket refused: unsupported subprotocol");
        return (StatusCode::BAD_REQUEST, "unsupported WebSocket subprotocol").into_response();
    }
    let mut res = ws
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| connection(state, socket));
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

async fn connection(state: WsState, socket: WebSocket) {
    let id = next_connection_id();
    tracing::debug!(connection = id, "WebSocket connected");
    let (mut writer, mut reader) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let ws_sink = Arc::new(WsSink {
        id,
        out: out_tx.clone(),
        held: Mutex::new(None),
    });
    let sink: Arc<dyn EventSink> = ws_sink.clone();

    let write = tokio::spawn(async move {
        while let Some(v) = out_rx.recv().await {
            if writer
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = writer.close().await;
    });

    // Requests of one connection are processed in order, off the reading loop.
    let (req_tx, mut req_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let core = state.core.clone();
    let process_sink = sink.clone();
    let process = tokio::spawn(async move {
        while let Some(frame) = req_rx.recv().await {
            for request in split_frame(&frame) {
                ws_sink.hold();
                let response = match request {
                    Ok(v) => core.handle(&process_sink, v).await,
                    Err(e) => e.to_reply(0, None).into(),
                };
                ws_sink.reply_and_release(response.reply);
                if let Some(f) = response.followup {
                    core.run_followup(f).await;
                }
            }
        }
    });

    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            msg = reader.next() => match msg {
                Some(Ok(Message::Text(t))) => { let _ = req_tx.send(t.as_bytes().to_vec()); }
                Some(Ok(Message::Binary(b))) => { let _ = req_tx.send(b.to_vec()); }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(connection = id, "WebSocket error: {e}");
                    break;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(req_tx);
    let _ = process.await;
    state.core.connection_lost(id);
    drop(sink);
    drop(out_tx);
    let _ = write.await;
    tracing::debug!(connection = id, "WebSocket closed");
}

/// The JSON values of one frame, in order; a parse error ends the frame.
fn split_frame(frame: &[u8]) -> Vec<Result<Value, ApiError>> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(frame).into_iter::<Value>();
    loop {
        match stream.next() {
            None => break,
            Some(Ok(v)) => out.push(Ok(v)),
            Some(Err(e)) => {
                out.push(Err(ApiError::new(
                    ErrorCode::InvalidJson,
                    format!(
                        "Invalid Janus API request - <string>({},{}): {e}",
                        e.line(),
                        e.column()
                    ),
                )));
                break;
            }
        }
    }
    if out.is_empty() {
        out.push(Err(ApiError::new(
            ErrorCode::InvalidJson,
            "Invalid Janus API request",
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_with_several_objects() {
        let v = split_frame(br#"{"a":1}{"b":2} {"c":3}"#);
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(Result::is_ok));
        let v = split_frame(br#"{"a":1}{"b":"#);
        assert_eq!(v.len(), 2);
        let e = v[1].clone().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert!(
            e.reason
                .starts_with("Invalid Janus API request - <string>(1,"),
            "{}",
            e.reason
        );
        assert!(split_frame(b"   ")[0].is_err());
    }
}
