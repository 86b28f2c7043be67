//! WebSocket transport: one socket, replies matched by transaction, the rest queued as events.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::queue::EventQueue;
use super::{JanusError, JanusEvent};

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

pub(super) struct WsTransport {
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    reader: JoinHandle<()>,
}

impl WsTransport {
    pub(super) async fn connect(url: &str, events: Arc<EventQueue>) -> Result<Self, JanusError> {
        let mut req = url.into_client_request()?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        // Small request/reply frames: Nagle would add delayed-ACK stalls to every round trip.
        let (stream, _response) =
            tokio_tungstenite::connect_async_with_config(req, None, true).await?;
        let (sink, mut source) = stream.split();
        let pending: Pending = Arc::default();
        let pending_r = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(msg) = source.next().await {
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                // A frame may hold several concatenated JSON objects.
                for value in serde_json::Deserializer::from_str(text.as_str()).into_iter::<Value>()
                {
                    match value {
                        Ok(v) => route(v, &pending_r, &events),
                        Err(e) => {
                            tracing::warn!("unparsable frame from gateway: {e}");
                            break;
                        }
                    }
                }
            }
            // Dropping the senders wakes every waiting request with `Closed`.
            pending_r.lock().clear();
            events.close();
        });
        Ok(WsTransport {
            sink: tokio::sync::Mutex::new(sink),
            pending,
            reader,
        })
    }

    pub(super) async fn request(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        mut body: Value,
    ) -> Result<Value, JanusError> {
        if let Some(obj) = body.as_object_mut() {
            if let Some(s) = session {
                obj.entry("session_id").or_insert(Value::from(s));
            }
            if let Some(h) = handle {
                obj.entry("handle_id").or_insert(Value::from(h));
            }
        }
        let transaction = body
            .get("transaction")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(transaction.clone(), tx);
        let sent = self
            .sink
            .lock()
            .await
            .send(Message::text(body.to_string()))
            .await;
        if let Err(e) = sent {
            self.pending.lock().remove(&transaction);
            return Err(e.into());
        }
        rx.await.map_err(|_| JanusError::Closed)
    }

    /// Sends a raw text frame (for malformed-input tests); the reply, if any, arrives as an
    /// event since it cannot be matched.
    pub(super) async fn send_raw(&self, text: String) -> Result<(), JanusError> {
        self.sink.lock().await.send(Message::text(text)).await?;
        Ok(())
    }
}

impl WsTransport {
    /// Sends a Close frame (the gateway sees the connection go, as when a tab closes).
    pub(super) async fn close(&self) -> Result<(), JanusError> {
        let mut sink = self.sink.lock().await;
        sink.send(Message::Close(None)).await?;
        sink.close().await?;
        Ok(())
    }
}

impl Drop for WsTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A reply goes to the request waiting for its transaction; everything else is an event.
/// Plugin `event`s carry the transaction of the request they answer, but that request already
/// got its `ack`, so they are never taken as replies.
fn route(v: Value, pending: &Pending, events: &EventQueue) {
    let is_event = v.get("janus").and_then(Value::as_str) == Some("event");
    if !is_event
        && let Some(tr) = v.get("transaction").and_then(Value::as_str)
        && let Some(waiter) = pending.lock().remove(tr)
    {
        // The requester may have timed out and gone; nothing to do then.
        let _ = waiter.send(v);
        return;
    }
    events.push(JanusEvent::from_value(v));
}
