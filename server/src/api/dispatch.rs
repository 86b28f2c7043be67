//! Request processing in Janus's order: envelope → ids → path/verb → secret/token → session
//! → handle → verb-specific checks (`janus_process_incoming_request`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::error::{ApiError, ErrorCode, message};
use super::session::{Handle, Session};
use super::validate::{self, CORE, Kind, Param};
use super::{ApiCore, info};
use crate::transport::EventSink;

const REQUEST_PARAMS: &[Param] = &[
    ("transaction", Kind::String, true),
    ("janus", Kind::String, true),
    ("id", Kind::PositiveInt, false),
];

const ATTACH_PARAMS: &[Param] = &[
    ("plugin", Kind::String, true),
    ("opaque_id", Kind::String, false),
    ("loop_index", Kind::PositiveInt, false),
];

/// What a transport sends back for a request.
pub struct Response {
    pub reply: Value,
    /// Work to run once the reply is on its way (so its events follow the reply).
    pub followup: Option<Followup>,
}

pub enum Followup {
    Detach(Arc<Handle>),
}

impl From<Value> for Response {
    fn from(reply: Value) -> Self {
        Response {
            reply,
            followup: None,
        }
    }
}

/// A request's envelope, validated.
pub(super) struct Envelope<'a> {
    pub root: &'a Map<String, Value>,
    pub transaction: &'a str,
    pub verb: &'a str,
    pub session_id: u64,
}

impl Envelope<'_> {
    pub fn reply(&self, kind: &str) -> Map<String, Value> {
        message(kind, self.session_id, Some(self.transaction))
    }

    fn credentials(&self) -> (Option<&str>, Option<&str>) {
        (
            self.root.get("apisecret").and_then(Value::as_str),
            self.root.get("token").and_then(Value::as_str),
        )
    }
}

/// Janus reads ids only when they are integers; anything else counts as absent.
fn id_field(root: &Map<String, Value>, key: &str) -> u64 {
    root.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl ApiCore {
    /// Processes one request from the connection behind `sink`.
    pub async fn handle(self: &Arc<Self>, sink: &Arc<dyn EventSink>, request: Value) -> Response {
        let Value::Object(root) = request else {
            return ApiError::new(ErrorCode::InvalidJsonObject, "JSON error: not an object")
                .to_reply(0, None)
                .into();
        };
        let session_id = id_field(&root, "session_id");
        let handle_given = root.get("handle_id").is_some_and(|v| !v.is_null());
        let handle_id = id_field(&root, "handle_id");
        if let Err(e) = validate::check(&root, REQUEST_PARAMS, &CORE) {
            return e.to_reply(session_id, None).into();
        }
        let (Some(transaction), Some(verb)) = (
            root.get("transaction").and_then(Value::as_str),
            root.get("janus").and_then(Value::as_str),
        ) else {
            // Unreachable after validation; answer rather than panic.
            return ApiError::plain(ErrorCode::MissingRequest)
                .to_reply(session_id, None)
                .into();
        };
        let env = Envelope {
            root: &root,
            transaction,
            verb,
            session_id,
        };
        let result = if session_id == 0 && handle_id == 0 {
            self.root_request(sink, &env)
        } else {
            self.session_request(sink, &env, handle_given, handle_id)
                .await
        };
        match result {
            Ok(response) => response,
            Err((e, sid)) => e.to_reply(sid, Some(transaction)).into(),
        }
    }

    /// Runs a response's follow-up work (after its reply was queued).
    pub async fn run_followup(self: &Arc<Self>, followup: Followup) {
        match followup {
            Followup::Detach(handle) => self.detach(handle).await,
        }
    }

    /// `info`, `ping`, `create`.
    fn root_request(
        &self,
        sink: &Arc<dyn EventSink>,
        env: &Envelope<'_>,
    ) -> Result<Response, (ApiError, u64)> {
        let verb = env.verb.to_ascii_lowercase();
        match verb.as_str() {
            "info" => return Ok(info::server_info(self, env.transaction).into()),
            "ping" => return Ok(Value::Object(message("pong", 0, Some(env.transaction))).into()),
            "create" => {}
            _ => return Err((ApiError::wrong_path(env.verb), 0)),
        }
        if !self.accepting.load(std::sync::atomic::Ordering::Relaxed) {
            return Err((ApiError::plain(ErrorCode::NotAcceptingSessions), 0));
        }
        let (secret, token) = env.credentials();
        if !self.auth.check(secret, token) {
            return Err((ApiError::plain(ErrorCode::Unauthorized), 0));
        }
        let wanted = env
            .root
            .get("id")
            .and_then(Value::as_u64)
            .filter(|&id| id > 0);
        let conflict = |id| (ApiError::plain(ErrorCode::SessionConflict), id);
        if let Some(id) = wanted
            && self.registry.session_exists(id)
        {
            return Err(conflict(id));
        }
        let session = self
            .registry
            .create_session(wanted, sink.clone())
            .ok_or_else(|| conflict(wanted.unwrap_or(0)))?;
        tracing::info!(session = session.id, "session created");
        let mut reply = message("success", 0, Some(env.transaction));
        reply.insert("data".into(), json!({"id": session.id}));
        Ok(Value::Object(reply).into())
    }

    async fn session_request(
        self: &Arc<Self>,
        sink: &Arc<dyn EventSink>,
        env: &Envelope<'_>,
        handle_given: bool,
        handle_id: u64,
    ) -> Result<Response, (ApiError, u64)> {
        let sid = env.session_id;
        let fail = |e: ApiError| (e, sid);
        if sid == 0 {
            return Err(fail(ApiError::plain(ErrorCode::SessionNotFound)));
        }
        if handle_given && handle_id == 0 {
            return Err(fail(ApiError::plain(ErrorCode::HandleNotFound)));
        }
        let (secret, token) = env.credentials();
        if !self.auth.check(secret, token) {
            return Err(fail(ApiError::plain(ErrorCode::Unauthorized)));
        }
        let session = self.registry.session(sid).ok_or_else(|| {
            fail(ApiError::new(
                ErrorCode::SessionNotFound,
                format!("No such session {sid}"),
            ))
        })?;
        session.touch();
        let handle = if handle_id > 0 {
            let h = self
                .registry
                .handle_in(&session, handle_id)
                .filter(|h| !h.is_detaching())
                .ok_or_else(|| {
                    fail(ApiError::new(
                        ErrorCode::HandleNotFound,
                        format!("No such handle {handle_id} in session {sid}"),
                    ))
                })?;
            Some(h)
        } else {
            None
        };
        let verb = env.verb.to_ascii_lowercase();
        let wrong_path = || fail(ApiError::wrong_path(env.verb));
        match (verb.as_str(), handle) {
            ("keepalive", _) => Ok(Value::Object(env.reply("ack")).into()),
            ("claim", _) => Ok(self.claim(sink, &session, env).into()),
            ("attach", None) => self.attach(&session, env).await.map_err(fail),
            ("destroy", None) => Ok(self.destroy_session(&session, env).into()),
            ("detach", Some(h)) => Ok(Response {
                reply: Value::Object(env.reply("success")),
                followup: Some(Followup::Detach(h)),
            }),
            ("hangup", Some(h)) => {
                self.media.hangup(h.id, "Janus API");
                Ok(Value::Object(env.reply("success")).into())
            }
            ("message", Some(h)) => self.message(&h, env).await.map(Into::into).map_err(fail),
            ("trickle", Some(h)) => self.trickle(&h, env).map(Into::into).map_err(fail),
            ("attach" | "destroy", Some(_))
            | ("detach" | "hangup" | "message" | "trickle", None) => Err(wrong_path()),
            _ => Err(fail(ApiError::new(
                ErrorCode::UnknownRequest,
                format!("Unknown request '{}'", env.verb),
            ))),
        }
    }

    fn claim(&self, sink: &Arc<dyn EventSink>, session: &Session, env: &Envelope<'_>) -> Value {
        if let Some(previous) = session.set_owner(sink.clone()) {
            tracing::info!(
                session = session.id,
                "session claimed by another connection"
            );
            previous.session_released(session.id);
        }
        Value::Object(env.reply("success"))
    }

    async fn attach(&self, session: &Session, env: &Envelope<'_>) -> Result<Response, ApiError> {
        validate::check(env.root, ATTACH_PARAMS, &CORE)?;
        let package = env
            .root
            .get("plugin")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plugin = self
            .plugins()
            .and_then(|p| p.plugin(package))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::PluginNotFound,
                    format!("No such plugin '{package}'"),
                )
            })?;
        if self.auth.token_auth_enabled()
            && let Some(token) = env.root.get("token").and_then(Value::as_str)
            && !self.auth.token_allows_plugin(token, package)
        {
            return Err(ApiError::new(
                ErrorCode::UnauthorizedPlugin,
                format!("Provided token can't access plugin '{package}'"),
            ));
        }
        let opaque_id = env
            .root
            .get("opaque_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let handle = self.registry.add_handle(
            session,
            plugin.clone(),
            package.to_string(),
            opaque_id.clone(),
        );
        if let Err(e) = plugin.create_session(handle.id, opaque_id).await {
            self.registry.remove_handle(handle.id);
            return Err(ApiError::new(
                ErrorCode::PluginAttach,
                format!("Couldn't attach to plugin: error '{e}'"),
            ));
        }
        tracing::info!(
            session = session.id,
            handle = handle.id,
            plugin = package,
            "attached"
        );
        let mut reply = env.reply("success");
        reply.insert("data".into(), json!({"id": handle.id}));
        Ok(Value::Object(reply).into())
    }

    fn destroy_session(&self, session: &Arc<Session>, env: &Envelope<'_>) -> Value {
        if self.registry.remove_session(session.id).is_some() {
            tracing::info!(session = session.id, "session destroyed");
            if let Some(owner) = self.registry.take_owner(session) {
                owner.session_released(session.id);
            }
            self.destroy_handles(session);
        }
        Value::Object(env.reply("success"))
    }
}
