//! One attached plugin handle, the part every plugin client shares: synchronous requests,
//! asynchronous requests (ack, then the event with the same transaction), waiting for the
//! handle's plugin and core events, trickle. Every wait is bounded by the handle's timeout.
//!
//! The plugin is a type parameter ([`JanusPlugin`]), so each client names its handle
//! (`RoomHandle`, `StreamingHandle`) and attaches without repeating the package name.
//! [`PluginError`] is those clients' one error type; as their flows also drive a [`Peer`],
//! it carries the peer's errors too (the [`JanusClient`] itself knows nothing of peers).
//!
//! [`Peer`]: crate::peer::Peer

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{JanusClient, JanusError, JanusEvent, Jsep, MessageReply};
use crate::peer::PeerError;

/// A Janus plugin a [`PluginHandle`] attaches to.
pub trait JanusPlugin {
    /// The package name clients attach to (`janus.plugin.videoroom`, ...).
    const PACKAGE: &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(transparent)]
    Janus(#[from] JanusError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The plugin answered with `error_code` (inside `success` or an `event`).
    #[error("plugin error {code}: {error} ({data})")]
    Plugin {
        code: u64,
        error: String,
        data: Value,
    },
    #[error("{0}")]
    Unexpected(String),
}

impl PluginError {
    /// The plugin's error code, if the plugin refused.
    pub fn code(&self) -> Option<u64> {
        match self {
            PluginError::Plugin { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The plugin's `error_code` in a reply or event, if any.
pub fn error_code(data: &Value) -> Option<u64> {
    data.get("error_code").and_then(Value::as_u64)
}

/// `Err(Plugin)` if `data` carries an `error_code`.
pub fn check(data: Value) -> Result<Value, PluginError> {
    match error_code(&data) {
        Some(code) => Err(PluginError::Plugin {
            code,
            error: data
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            data,
        }),
        None => Ok(data),
    }
}

/// `base` (an object) with the keys of `extra` (an object, or null) added or replaced.
pub fn merge(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A plugin event (or synchronous reply) with its JSEP.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub data: Value,
    pub jsep: Option<Jsep>,
}

/// One handle attached to plugin `P`.
pub struct PluginHandle<P> {
    pub client: Arc<JanusClient>,
    pub session: u64,
    pub handle: u64,
    /// Bound of every wait.
    pub timeout: Duration,
    plugin: PhantomData<fn() -> P>,
}

// By hand: a derive would ask `P: Clone` of the marker type.
impl<P> Clone for PluginHandle<P> {
    fn clone(&self) -> Self {
        PluginHandle {
            client: self.client.clone(),
            session: self.session,
            handle: self.handle,
            timeout: self.timeout,
            plugin: PhantomData,
        }
    }
}

impl<P: JanusPlugin> PluginHandle<P> {
    /// Attaches a new handle of plugin `P` to `session`.
    pub async fn attach(
        client: Arc<JanusClient>,
        session: u64,
        timeout: Duration,
    ) -> Result<Self, PluginError> {
        let handle = client.attach(session, P::PACKAGE).await?;
        Ok(PluginHandle {
            client,
            session,
            handle,
            timeout,
            plugin: PhantomData,
        })
    }

    /// A synchronous request (`create`, `exists`, `list`, ...): the reply's
    /// `plugindata.data`, `error_code` included if the plugin refused.
    pub async fn request(&self, body: Value) -> Result<Value, PluginError> {
        Ok(self.send(body, None).await?.data)
    }

    /// [`request`](Self::request), with an `error_code` turned into `Err`.
    pub async fn request_ok(&self, body: Value) -> Result<Value, PluginError> {
        check(self.request(body).await?)
    }

    /// Any request: a synchronous reply as is, or for an `ack` the plugin event carrying the
    /// request's transaction (bounded by the timeout). `error_code` included if any.
    pub async fn send(&self, body: Value, jsep: Option<&Jsep>) -> Result<Reply, PluginError> {
        match self
            .client
            .message(self.session, self.handle, body, jsep)
            .await?
        {
            MessageReply::Sync(data) => Ok(Reply { data, jsep: None }),
            MessageReply::Ack { transaction } => {
                let ev = self
                    .client
                    .wait_event(self.timeout, |e| {
                        matches!(e, JanusEvent::Plugin { transaction: Some(t), .. } if *t == transaction)
                    })
                    .await
                    .map_err(|e| {
                        PluginError::Unexpected(format!(
                            "no event for transaction {transaction}: {e}"
                        ))
                    })?;
                plugin_reply::<P>(ev)
            }
        }
    }

    /// [`send`](Self::send), with an `error_code` turned into `Err`.
    pub async fn send_ok(&self, body: Value, jsep: Option<&Jsep>) -> Result<Reply, PluginError> {
        let r = self.send(body, jsep).await?;
        Ok(Reply {
            data: check(r.data)?,
            jsep: r.jsep,
        })
    }

    /// Waits for the first plugin event on this handle matching `pred` (other events stay
    /// queued for later waits).
    pub async fn wait(
        &self,
        what: &str,
        pred: impl FnMut(&Value) -> bool,
    ) -> Result<Reply, PluginError> {
        let ev = self
            .wait_plugin_event(self.timeout, pred)
            .await
            .map_err(|e| PluginError::Unexpected(format!("waiting for {what}: {e}")))?;
        plugin_reply::<P>(ev)
    }

    /// Waits up to `within` for a plugin event on this handle matching `pred`; `None` if
    /// there is none (to check that something does NOT happen).
    pub async fn wait_for(
        &self,
        within: Duration,
        pred: impl FnMut(&Value) -> bool,
    ) -> Option<Reply> {
        let ev = self.wait_plugin_event(within, pred).await.ok()?;
        plugin_reply::<P>(ev).ok()
    }

    async fn wait_plugin_event(
        &self,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<JanusEvent, JanusError> {
        let handle = self.handle;
        self.client
            .wait_event(within, |e| match e {
                JanusEvent::Plugin { sender, data, .. } if *sender == handle => pred(data),
                _ => false,
            })
            .await
    }

    /// Waits for a core event on this handle (`webrtcup`, `hangup`, `media`, ...).
    pub async fn wait_core(
        &self,
        what: &str,
        mut pred: impl FnMut(&JanusEvent) -> bool,
    ) -> Result<JanusEvent, PluginError> {
        let handle = self.handle;
        self.client
            .wait_event(self.timeout, |e| {
                !matches!(e, JanusEvent::Plugin { .. }) && e.sender() == handle && pred(e)
            })
            .await
            .map_err(|e| PluginError::Unexpected(format!("waiting for {what}: {e}")))
    }

    /// Trickles `candidates` and then `completed`.
    pub async fn trickle(&self, candidates: &[Value]) -> Result<(), PluginError> {
        for c in candidates {
            self.client
                .trickle(self.session, self.handle, c.clone())
                .await?;
        }
        self.client
            .trickle_completed(self.session, self.handle)
            .await?;
        Ok(())
    }

    /// Detaches the handle.
    pub async fn detach(&self) -> Result<(), PluginError> {
        self.client.detach(self.session, self.handle).await?;
        Ok(())
    }
}

/// The data and JSEP of an event of plugin `P`.
fn plugin_reply<P: JanusPlugin>(ev: JanusEvent) -> Result<Reply, PluginError> {
    match ev {
        JanusEvent::Plugin {
            plugin, data, jsep, ..
        } if plugin == P::PACKAGE => Ok(Reply { data, jsep }),
        other => Err(PluginError::Unexpected(format!(
            "not a {} event: {other:?}",
            P::PACKAGE
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_codes_become_errors() {
        let ok = json!({"videoroom": "created", "room": 5});
        assert_eq!(check(ok.clone()).ok(), Some(ok));
        let e = check(json!({"videoroom": "event", "error_code": 426, "error": "No such room"}))
            .expect_err("an error");
        assert_eq!(e.code(), Some(426));
        assert!(e.to_string().contains("No such room"));
    }

    #[test]
    fn merges_extra_keys() {
        let b = merge(
            json!({"request": "join", "room": 1}),
            &json!({"pin": "x", "room": 2}),
        );
        assert_eq!(b, json!({"request": "join", "room": 2, "pin": "x"}));
        assert_eq!(merge(json!({"a": 1}), &Value::Null), json!({"a": 1}));
    }
}
