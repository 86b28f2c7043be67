//! HTTP transport: POST to /janus[/<session>[/<handle>]], events by long-poll GET per session.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::queue::EventQueue;
use super::{Credentials, JanusError, JanusEvent};

/// janus.js asks for up to 10 events per poll; so do we (exercises the array form).
const MAXEV: u32 = 10;
/// The gateway holds a poll up to 30 s; give it slack before calling it dead.
const POLL_TIMEOUT: Duration = Duration::from_secs(40);
/// janus.js declares the server lost after 4 consecutive failed polls.
const MAX_POLL_FAILURES: u32 = 4;

pub(super) struct HttpTransport {
    client: reqwest::Client,
    base: String,
    events: Arc<EventQueue>,
    pollers: Mutex<Vec<JoinHandle<()>>>,
}

impl HttpTransport {
    pub(super) fn new(base: &str, events: Arc<EventQueue>) -> Result<Self, JanusError> {
        let client = reqwest::Client::builder().build()?;
        Ok(HttpTransport {
            client,
            base: base.trim_end_matches('/').to_string(),
            events,
            pollers: Mutex::new(Vec::new()),
        })
    }

    fn url(&self, session: Option<u64>, handle: Option<u64>) -> String {
        match (session, handle) {
            (Some(s), Some(h)) => format!("{}/{s}/{h}", self.base),
            (Some(s), None) => format!("{}/{s}", self.base),
            _ => self.base.clone(),
        }
    }

    /// Ids go in the URL path and not in the body, like janus.js.
    pub(super) async fn request(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        body: Value,
    ) -> Result<Value, JanusError> {
        let resp = self
            .client
            .post(self.url(session, handle))
            .json(&body)
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(JanusError::HttpStatus(resp.status().as_u16()));
        }
        Ok(resp.json::<Value>().await?)
    }

    /// Posts a raw body (for malformed-input tests) and returns status and text.
    pub(super) async fn post_raw(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        body: String,
    ) -> Result<(u16, String), JanusError> {
        let resp = self
            .client
            .post(self.url(session, handle))
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Polls `GET /janus/<session>?maxev=10` until the session is gone (404), the client is
    /// dropped, or the gateway stops answering.
    pub(super) fn start_long_poll(&self, session: u64, credentials: Credentials) {
        let client = self.client.clone();
        let url = self.url(Some(session), None);
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            let mut query: Vec<(&str, String)> = vec![("maxev", MAXEV.to_string())];
            if let Some(s) = credentials.api_secret {
                query.push(("apisecret", s));
            }
            if let Some(t) = credentials.token {
                query.push(("token", t));
            }
            let mut failures = 0;
            loop {
                let resp = client
                    .get(&url)
                    .query(&query)
                    .timeout(POLL_TIMEOUT)
                    .send()
                    .await;
                let body = match resp {
                    Ok(r) if r.status() == StatusCode::NOT_FOUND => break,
                    Ok(r) if r.status() == StatusCode::OK => r.json::<Value>().await.ok(),
                    _ => None,
                };
                let Some(body) = body else {
                    failures += 1;
                    if failures >= MAX_POLL_FAILURES {
                        tracing::warn!(session, "long poll failed {failures} times; giving up");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                failures = 0;
                let list = match body {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                for v in list {
                    if v.get("janus").and_then(Value::as_str) == Some("keepalive") {
                        continue;
                    }
                    events.push(JanusEvent::from_value(v));
                }
            }
        });
        let mut pollers = self.pollers.lock();
        pollers.retain(|p| !p.is_finished());
        pollers.push(task);
    }
}

impl Drop for HttpTransport {
    fn drop(&mut self) {
        for p in self.pollers.lock().drain(..) {
            p.abort();
        }
    }
}
