//! Sorting a `message` the way Janus's stock plugins do: no body, a body that is not an
//! object, a missing or unknown `request` each get the plugin's own error code; a known
//! request is either answered at once (synchronous) or acked and answered by an event.
//! [`answer_message`] does all of that for a plugin that implements [`Requests`].

use serde_json::{Map, Value};

use crate::host_api::Host;
use crate::janus::{self, JanusError};
use crate::{HandleId, JsepIn, Message, Reply};

/// A plugin's codes for malformed messages (each Janus plugin has its own numbers).
#[derive(Debug, Clone, Copy)]
pub struct MessageCodes {
    /// No body at all (`No message??`).
    pub no_message: i32,
    /// A body that is not a JSON object.
    pub invalid_json: i32,
    /// No `request` element.
    pub missing_element: i32,
    /// A `request` that is not a string.
    pub invalid_element: i32,
    /// A request in neither list (`Unknown request '...'`).
    pub invalid_request: i32,
}

/// An asynchronous request in progress: who asked, under which transaction.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub handle: HandleId,
    pub transaction: &'a str,
    pub body: &'a Map<String, Value>,
    pub jsep: Option<&'a JsepIn>,
}

/// A well-formed message: its `request` (lower case) and what to answer it with.
#[derive(Debug)]
pub enum Sorted<'a> {
    /// Answered at once, inside `success`.
    Sync {
        request: String,
        body: &'a Map<String, Value>,
    },
    /// Acked; the answer follows as an event with the request's transaction.
    Async { request: String, req: Request<'a> },
}

/// Sorts `msg` by the plugin's lists of synchronous and asynchronous requests; the error
/// is what to answer synchronously.
pub fn sort_message<'a>(
    msg: &'a Message,
    sync: &[&str],
    asynchronous: &[&str],
    codes: &MessageCodes,
) -> Result<Sorted<'a>, JanusError> {
    if msg.body.is_null() {
        return Err(JanusError::new(codes.no_message, "No message??"));
    }
    let body = janus::object(&msg.body, codes.invalid_json)?;
    let request = janus::request_name(body, codes.missing_element, codes.invalid_element)?;
    if sync.contains(&request.as_str()) {
        return Ok(Sorted::Sync { request, body });
    }
    if !asynchronous.contains(&request.as_str()) {
        return Err(JanusError::new(
            codes.invalid_request,
            format!("Unknown request '{request}'"),
        ));
    }
    let req = Request {
        handle: msg.handle,
        transaction: &msg.transaction,
        body,
        jsep: msg.jsep.as_ref(),
    };
    Ok(Sorted::Async { request, req })
}

/// A plugin whose `message`s are sorted by [`sort_message`] and answered by
/// [`answer_message`]: its lists, codes and event key, and its two kinds of request.
pub trait Requests {
    type Host: Host;
    /// The key of the plugin's events (`{"<key>": "event", ...}`).
    const KEY: &'static str;
    /// Requests answered at once (inside `success`).
    const SYNC: &'static [&'static str];
    /// Requests acked and answered by an event.
    const ASYNC: &'static [&'static str];
    const CODES: MessageCodes;

    fn host(&mut self) -> &mut Self::Host;
    /// A synchronous request (one of [`Requests::SYNC`]): the `success` reply.
    fn handle_sync(
        &mut self,
        request: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, JanusError>;
    /// An asynchronous request (one of [`Requests::ASYNC`]): pushes its own events; an
    /// error is sent for it, as an error event with the request's transaction.
    fn handle_async(&mut self, request: &str, req: &Request) -> Result<(), JanusError>;
}

/// Answers a `message` as Janus's stock plugins do: a malformed one and a synchronous
/// request at once (an error event on failure), an asynchronous request with an ack, its
/// failure as an error event with the message's transaction.
pub fn answer_message<P: Requests>(plugin: &mut P, msg: &Message) -> Reply {
    let (request, req) = match sort_message(msg, P::SYNC, P::ASYNC, &P::CODES) {
        Err(e) => return Reply::Sync(janus::error_event_value(P::KEY, &e)),
        Ok(Sorted::Sync { request, body }) => {
            let reply = plugin
                .handle_sync(&request, body)
                .unwrap_or_else(|e| janus::error_event_value(P::KEY, &e));
            return Reply::Sync(reply);
        }
        Ok(Sorted::Async { request, req }) => (request, req),
    };
    if let Err(e) = plugin.handle_async(&request, &req) {
        let host = plugin.host();
        host.debug(&format!(
            "handle {}: {request} failed: {} ({})",
            msg.handle, e.message, e.code
        ));
        host.push_or_log(
            msg.handle,
            Some(&msg.transaction),
            &janus::error_event_value(P::KEY, &e),
            None,
        );
    }
    Reply::Ack(None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CODES: MessageCodes = MessageCodes {
        no_message: 1,
        invalid_json: 2,
        missing_element: 3,
        invalid_element: 4,
        invalid_request: 5,
    };

    fn msg(body: Value) -> Message {
        Message {
            handle: 7,
            transaction: "t".into(),
            body,
            jsep: None,
        }
    }

    fn code(body: Value) -> i32 {
        sort_message(&msg(body), &["list"], &["watch"], &CODES)
            .unwrap_err()
            .code
    }

    #[test]
    fn malformed_messages_get_the_plugins_codes() {
        assert_eq!(code(Value::Null), 1);
        assert_eq!(code(json!([1])), 2);
        assert_eq!(code(json!({})), 3);
        assert_eq!(code(json!({"request": 1})), 4);
        assert_eq!(code(json!({"request": "nope"})), 5);
    }

    #[test]
    fn known_requests_are_sorted() {
        let m = msg(json!({"request": "LIST"}));
        assert!(matches!(
            sort_message(&m, &["list"], &["watch"], &CODES),
            Ok(Sorted::Sync { request, .. }) if request == "list"
        ));
        let m = msg(json!({"request": "watch", "id": 1}));
        match sort_message(&m, &["list"], &["watch"], &CODES) {
            Ok(Sorted::Async { request, req }) => {
                assert_eq!(
                    (request.as_str(), req.handle, req.transaction),
                    ("watch", 7, "t")
                );
                assert_eq!(req.body["id"], 1);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A plugin with one request of each kind: `list` answers, `watch` fails with 9.
    #[derive(Default)]
    struct Two {
        host: crate::testing::FakeHost,
    }

    impl Requests for Two {
        type Host = crate::testing::FakeHost;
        const KEY: &'static str = "two";
        const SYNC: &'static [&'static str] = &["list"];
        const ASYNC: &'static [&'static str] = &["watch"];
        const CODES: MessageCodes = CODES;

        fn host(&mut self) -> &mut Self::Host {
            &mut self.host
        }
        fn handle_sync(
            &mut self,
            _request: &str,
            _body: &Map<String, Value>,
        ) -> Result<Value, JanusError> {
            Ok(json!({"two": "success"}))
        }
        fn handle_async(&mut self, _request: &str, _req: &Request) -> Result<(), JanusError> {
            Err(JanusError::new(9, "no"))
        }
    }

    #[test]
    fn answers_sync_at_once_and_async_failures_as_events() {
        let mut p = Two::default();
        assert_eq!(
            answer_message(&mut p, &msg(json!({"request": "nope"}))),
            Reply::Sync(
                json!({"two": "event", "error_code": 5, "error": "Unknown request 'nope'"})
            )
        );
        assert_eq!(
            answer_message(&mut p, &msg(json!({"request": "list"}))),
            Reply::Sync(json!({"two": "success"}))
        );
        assert!(p.host.pushed.is_empty());
        assert_eq!(
            answer_message(&mut p, &msg(json!({"request": "watch"}))),
            Reply::Ack(None)
        );
        let pushed = &p.host.pushed;
        assert_eq!(pushed.len(), 1);
        assert_eq!(
            (pushed[0].handle, pushed[0].transaction.as_deref()),
            (7, Some("t"))
        );
        assert_eq!(
            pushed[0].data,
            json!({"two": "event", "error_code": 9, "error": "no"})
        );
    }
}
