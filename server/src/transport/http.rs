//! The HTTP transport (`janus.transport.http`): REST requests on the base path, long-poll GETs
//! for events, CORS, and the demo pages at `/`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{ConnectionId, EventSink, next_connection_id};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::{ApiCore, TransportInfo};

pub const INFO: TransportInfo = TransportInfo {
    package: "janus.transport.http",
    name: "JANUS REST (HTTP/HTTPS) transport plugin",
    description: "This transport plugin adds REST (HTTP/HTTPS) support to the Janus API via portunus.",
    version: 2,
    version_string: "0.0.2",
};

/// How long the core may take before the request is released (Janus: 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Events queued for one session, waiting for long polls.
#[derive(Default)]
struct EventQueue {
    events: Mutex<VecDeque<Value>>,
    notify: Notify,
}

/// The HTTP transport's event sink: one queue per session it owns.
pub struct HttpSink {
    id: ConnectionId,
    queues: Mutex<HashMap<u64, Arc<EventQueue>>>,
    /// Wakes every long poll at shutdown.
    closing: Notify,
}

impl HttpSink {
    fn new() -> Self {
        HttpSink {
            id: next_connection_id(),
            queues: Mutex::new(HashMap::new()),
            closing: Notify::new(),
        }
    }

    fn queue(&self, session: u64) -> Option<Arc<EventQueue>> {
        self.queues.lock().get(&session).cloned()
    }
}

impl EventSink for HttpSink {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn session_owned(&self, session: u64) {
        self.queues.lock().entry(session).or_default();
    }

    fn send(&self, session: u64, event: Value) {
        match self.queue(session) {
            Some(q) => {
                q.events.lock().push_back(event);
                q.notify.notify_waiters();
            }
            None => tracing::debug!(session, "HTTP event for a session without queue dropped"),
        }
    }

    fn session_released(&self, session: u64) {
        // Polls already waiting keep their Arc and still get the last events (`timeout`).
        if let Some(q) = self.queues.lock().remove(&session) {
            q.notify.notify_waiters();
        }
    }
}

#[derive(Clone)]
pub struct HttpState {
    core: Arc<ApiCore>,
    sink: Arc<HttpSink>,
    keepalive: Duration,
}

/// Settings of the HTTP transport.
pub struct HttpOptions {
    pub base_path: String,
    pub demos_dir: Option<PathBuf>,
    /// How long a long poll waits before `keepalive` (Janus: 30 s).
    pub keepalive: Duration,
}

/// The HTTP transport's router and its sink (to wake polls at shutdown).
pub fn router(core: Arc<ApiCore>, options: HttpOptions) -> (Router, Arc<HttpSink>) {
    let sink = Arc::new(HttpSink::new());
    let state = HttpState {
        core,
        sink: sink.clone(),
        keepalive: options.keepalive,
    };
    let base = options.base_path.trim_end_matches('/').to_string();
    let api = Router::new()
        .route(&base, axum::routing::any(api_handler))
        .route(
            &format!("{base}/{{*rest}}"),
            axum::routing::any(api_handler),
        )
        .layer(middleware::from_fn(cors))
        .with_state(state);
    let router = match options.demos_dir {
        Some(dir) if dir.is_dir() => api.fallback_service(tower_http::services::ServeDir::new(dir)),
        Some(dir) => {
            tracing::warn!(
                "demos_dir {} not found; not serving demo pages",
                dir.display()
            );
            api
        }
        None => api,
    };
    (router, sink)
}

impl HttpSink {
    /// Releases every waiting long poll (shutdown).
    pub fn close(&self) {
        self.closing.notify_waiters();
    }
}

/// CORS as Janus does it: `*`, a day of caching, and the preflight's method and headers echoed.
async fn cors(req: Request, next: Next) -> Response {
    let method = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .cloned();
    let headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    if let Some(m) = method {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
    }
    if let Some(v) = headers {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    res
}

fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

fn json_response(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn api_error(e: ApiError, session: u64, transaction: Option<&str>) -> Response {
    json_response(&e.to_reply(session, transaction))
}

#[derive(Deserialize, Default)]
struct PollParams {
    maxev: Option<String>,
    apisecret: Option<String>,
    token: Option<String>,
}

async fn api_handler(
    State(state): State<HttpState>,
    method: Method,
    uri: axum::http::Uri,
    Query(params): Query<HashMap<String, String>>,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Path components after the base path.
    let base = state.core.config().http.base_path.trim_end_matches('/');
    let rest = uri.path().strip_prefix(base).unwrap_or("");
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() > 2 {
        return empty(StatusCode::NOT_FOUND);
    }
    if method == Method::OPTIONS {
        return empty(StatusCode::OK);
    }
    let params = PollParams {
        maxev: params.get("maxev").cloned(),
        apisecret: params.get("apisecret").cloned(),
        token: params.get("token").cloned(),
    };
    match method {
        Method::GET => get(&state, &parts, params).await,
        Method::POST => post(&state, &parts, &body).await,
        other => api_error(
            ApiError::new(
                ErrorCode::TransportSpecific,
                format!("Unsupported method {other}"),
            ),
            0,
            None,
        ),
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|&id| id > 0)
}

async fn get(state: &HttpState, parts: &[&str], params: PollParams) -> Response {
    match parts {
        [] => empty(StatusCode::NOT_FOUND),
        ["info"] => {
            let sink: Arc<dyn EventSink> = state.sink.clone();
            let tx = format!("info-{}", crate::api::session::random_id());
            let response = state
                .core
                .handle(&sink, json!({"janus": "info", "transaction": tx}))
                .await;
            json_response(&response.reply)
        }
        [session, _handle] => match parse_id(session) {
            Some(sid) => (
                StatusCode::FOUND,
                [(
                    header::LOCATION,
                    format!("{}/{sid}", state.core.config().http.base_path),
                )],
            )
                .into_response(),
            None => empty(StatusCode::NOT_FOUND),
        },
        [session] => {
            let Some(sid) = parse_id(session) else {
                return empty(StatusCode::NOT_FOUND);
            };
            long_poll(state, sid, params).await
        }
        _ => empty(StatusCode::NOT_FOUND),
    }
}

async fn long_poll(state: &HttpState, sid: u64, params: PollParams) -> Response {
    if !state
        .core
        .auth
        .check(params.apisecret.as_deref(), params.token.as_deref())
    {
        return empty(StatusCode::FORBIDDEN);
    }
    let Some(queue) = state.sink.queue(sid) else {
        return empty(StatusCode::NOT_FOUND);
    };
    // A long poll counts as a keepalive.
    if !state.core.touch_session(sid) {
        return empty(StatusCode::NOT_FOUND);
    }
    let maxev = params
        .maxev
        .and_then(|m| m.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1) as usize;
    let deadline = tokio::time::Instant::now() + state.keepalive;
    let mut woken = false;
    let events = loop {
        let notified = queue.notify.notified();
        let closing = state.sink.closing.notified();
        tokio::pin!(notified, closing);
        notified.as_mut().enable();
        closing.as_mut().enable();
        {
            let mut q = queue.events.lock();
            if !q.is_empty() {
                let n = maxev.min(q.len());
                break q.drain(..n).collect::<Vec<_>>();
            }
        }
        // Woken but another poll took the events: answer at once (as Janus does).
        if woken {
            break Vec::new();
        }
        tokio::select! {
            _ = &mut notified => woken = true,
            _ = &mut closing => break Vec::new(),
            _ = tokio::time::sleep_until(deadline) => break Vec::new(),
        }
    };
    let events = if events.is_empty() {
        vec![json!({"janus": "keepalive"})]
    } else {
        events
    };
    if maxev == 1 {
        json_response(&events[0])
    } else {
        json_response(&Value::Array(events))
    }
}

async fn post(state: &HttpState, parts: &[&str], body: &[u8]) -> Response {
    if parts == ["info"] {
        return empty(StatusCode::BAD_REQUEST);
    }
    let ids: Vec<u64> = match parts
        .iter()
        .map(|p| parse_id(p))
        .collect::<Option<Vec<_>>>()
    {
        Some(ids) => ids,
        None => return empty(StatusCode::NOT_FOUND),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return api_error(
            ApiError::new(ErrorCode::InvalidJson, "Request payload missing"),
            0,
            None,
        );
    }
    let mut request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return api_error(
                ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("JSON error: on line {}: {e}", e.line()),
                ),
                0,
                None,
            );
        }
    };
    let Some(obj) = request.as_object_mut() else {
        return api_error(
            ApiError::new(ErrorCode::InvalidJsonObject, "JSON error: not an object"),
            0,
            None,
        );
    };
    let transaction = obj
        .get("transaction")
        .and_then(Value::as_str)
        .map(str::to_string);
    // Ids from the path; a different one in the body is a conflict.
    for (key, what, id) in [
        ("session_id", "session", ids.first()),
        ("handle_id", "handle", ids.get(1)),
    ] {
        let Some(&id) = id else { continue };
        match obj.get(key) {
            None | Some(Value::Null) => {
                obj.insert(key.to_string(), json!(id));
            }
            Some(v) if v.as_u64() == Some(id) => {}
            Some(_) => {
                return api_error(
                    ApiError::new(
                        ErrorCode::InvalidRequestPath,
                        format!("Conflicting {what} ID (payload and path)"),
                    ),
                    ids[0],
                    transaction.as_deref(),
                );
            }
        }
    }
    let sink: Arc<dyn EventSink> = state.sink.clone();
    let core = state.core.clone();
    // A task of its own, so a request that outlives the HTTP timeout still completes.
    let work = tokio::spawn(async move {
        let response = core.handle(&sink, request).await;
        if let Some(f) = response.followup {
            let core = core.clone();
            tokio::spawn(async move { core.run_followup(f).await });
        }
        response.reply
    });
    match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(reply)) => json_response(&reply),
        Ok(Err(e)) => {
            tracing::error!("request task failed: {e}");
            api_error(
                ApiError::plain(ErrorCode::Unknown),
                ids.first().copied().unwrap_or(0),
                transaction.as_deref(),
            )
        }
        Err(_) => {
            tracing::warn!("request took longer than {REQUEST_TIMEOUT:?}; released");
            empty(StatusCode::GATEWAY_TIMEOUT)
        }
    }
}
