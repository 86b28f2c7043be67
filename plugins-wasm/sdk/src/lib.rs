//! Write portunus plugins in Rust.
//!
//! A plugin is a WebAssembly component implementing the `gateway-plugin` world of
//! `wit/plugin.wit`. This crate wraps the generated bindings in a typed API:
//!
//! - implement [`Plugin`] (every method but [`Plugin::info`] and [`Plugin::handle_message`]
//!   has a no-op default) on a type that implements `Default`;
//! - export it with [`export_plugin!`];
//! - talk to the gateway with the functions of [`host`];
//! - validate Janus-style requests and build Janus-style events with [`janus`].
//!
//! ```ignore
//! use portunus_plugin_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn info(&self) -> PluginInfo { /* ... */ }
//!     fn handle_message(&mut self, msg: Message) -> Result<Reply, String> {
//!         Ok(Reply::Sync(serde_json::json!({"hello": "world"})))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; see docs/PLUGINS.md.

pub mod host;
pub mod host_api;
pub mod ids;
pub mod janus;
mod message;
pub mod request;
pub mod snapshot;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod types;

pub use message::{Message, Reply};
pub use serde_json;

/// The raw bindings generated from `wit/plugin.wit`. Prefer the typed wrappers.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gateway-plugin",
        pub_export_macro: true,
        default_bindings_module: "portunus_plugin_sdk::bindings",
    });
}

pub use bindings::portunus::plugin::types::{
    AnswerSpec, DataMessage, Direction, ForwarderId, HandleId, InputMedia, JsepIn, JsepOut,
    JsepType, LayerChange, LayerChoice, LogLevel, MediaAnswer, MediaEvent, MediaKind, MediaLine,
    MediaOffer, MediaRef, OfferSpec, PluginInfo, Route, RouteId, RtpForward, RtpInput,
    RtpInputInfo, RtpInputStream, TalkChange, TalkDetection,
};

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::host;
    pub use crate::janus::{self, JanusError, Param, ParamKind};
    pub use crate::{
        AnswerSpec, DataMessage, Direction, ForwarderId, HandleId, InputMedia, JsepIn, JsepOut,
        JsepType, LayerChange, LayerChoice, LogLevel, MediaAnswer, MediaEvent, MediaKind,
        MediaLine, MediaOffer, MediaRef, Message, OfferSpec, Plugin, PluginInfo, Reply, Route,
        RouteId, RtpForward, RtpInput, RtpInputInfo, RtpInputStream, TalkChange, TalkDetection,
        export_plugin,
    };
    pub use serde_json::{self, Value, json};
}

use serde_json::Value;

/// A portunus plugin. The gateway calls one method at a time (never concurrently), so a
/// plugin keeps its state in `self` without locks.
///
/// The methods mirror the `plugin` interface of `wit/plugin.wit`; JSON crosses as
/// [`serde_json::Value`].
pub trait Plugin: Default + 'static {
    /// Who this plugin is. `package` is the name clients attach to.
    fn info(&self) -> PluginInfo;

    /// Called once after loading, with this plugin's `[plugins."<package>"]`
    /// section of config.toml as JSON (`{}` when absent). An error stops the plugin from
    /// loading.
    fn init(&mut self, config: Value) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// A client attached a handle. An error refuses the attach.
    fn create_session(
        &mut self,
        handle: HandleId,
        opaque_id: Option<String>,
    ) -> Result<(), String> {
        let _ = (handle, opaque_id);
        Ok(())
    }

    /// A `message` request. Return [`Reply::Sync`] for an immediate `success`, or
    /// [`Reply::Ack`] and send the result later with [`host::push_event`] (same transaction).
    /// An error becomes a Janus 462 error with this text.
    fn handle_message(&mut self, msg: Message) -> Result<Reply, String>;

    /// The handle's PeerConnection is up.
    fn setup_media(&mut self, handle: HandleId) {
        let _ = handle;
    }

    /// The handle's PeerConnection went away.
    fn hangup_media(&mut self, handle: HandleId) {
        let _ = handle;
    }

    /// A data-channel message from the client.
    fn incoming_data(&mut self, handle: HandleId, message: DataMessage) {
        let _ = (handle, message);
    }

    /// The handle is gone; its routes are already removed.
    fn destroy_session(&mut self, handle: HandleId) {
        let _ = handle;
    }

    /// This handle's state for the Admin API (`handle_info.plugin_specific`).
    fn query_session(&mut self, handle: HandleId) -> Value {
        let _ = handle;
        Value::Object(Default::default())
    }

    /// An Admin API `message_plugin` request.
    fn handle_admin_message(&mut self, body: Value) -> Value {
        let _ = body;
        janus::error_event_value(
            "plugin",
            &JanusError::new(0, "admin messages not supported"),
        )
    }

    /// A timer set with [`host::set_timer`] fired.
    fn on_timer(&mut self, id: u64) {
        let _ = id;
    }

    /// Something happened to media this plugin steers: a route's layer changed
    /// ([`MediaEvent::LayerChanged`], for routes whose target is this plugin's) or a source
    /// watched with [`host::talk_detect`] started or stopped talking.
    fn on_media_event(&mut self, event: MediaEvent) {
        let _ = event;
    }

    /// Hot reload: state to hand to this plugin's next version.
    fn snapshot(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// Hot reload: take over what the previous version's [`Plugin::snapshot`] returned.
    fn restore(&mut self, state: Vec<u8>) -> Result<(), String> {
        let _ = state;
        Err("this plugin cannot restore state".into())
    }
}

use janus::JanusError;

/// Where the exported plugin instance lives. Implemented by [`export_plugin!`]; not meant
/// to be implemented by hand.
#[doc(hidden)]
pub trait PluginCell: 'static {
    type Plugin: Plugin;
    fn with<R>(f: impl FnOnce(&mut Self::Plugin) -> R) -> R;
}

/// Connects a [`Plugin`] to the generated `Guest` export trait.
#[doc(hidden)]
pub struct Adapter<C>(core::marker::PhantomData<C>);

fn parse_json(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

impl<C: PluginCell> bindings::exports::portunus::plugin::plugin::Guest for Adapter<C> {
    fn init(config: String) -> Result<(), String> {
        let config = parse_json("config", &config)?;
        C::with(|p| p.init(config))
    }

    fn info() -> PluginInfo {
        C::with(|p| p.info())
    }

    fn create_session(handle: HandleId, opaque_id: Option<String>) -> Result<(), String> {
        C::with(|p| p.create_session(handle, opaque_id))
    }

    fn handle_message(
        handle: HandleId,
        transaction: String,
        body: String,
        jsep: Option<JsepIn>,
    ) -> Result<bindings::portunus::plugin::types::MessageReply, String> {
        use bindings::portunus::plugin::types::MessageReply;
        // The core sends the body as it came from the client; a body that is not JSON at
        // all reaches the plugin as `null` so the plugin answers with its own error code.
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        let msg = Message {
            handle,
            transaction,
            body,
            jsep,
        };
        match C::with(|p| p.handle_message(msg))? {
            Reply::Sync(v) => Ok(MessageReply::Sync(v.to_string())),
            Reply::Ack(hint) => Ok(MessageReply::Ack(hint)),
        }
    }

    fn setup_media(handle: HandleId) {
        C::with(|p| p.setup_media(handle))
    }

    fn hangup_media(handle: HandleId) {
        C::with(|p| p.hangup_media(handle))
    }

    fn incoming_data(handle: HandleId, message: DataMessage) {
        C::with(|p| p.incoming_data(handle, message))
    }

    fn destroy_session(handle: HandleId) {
        C::with(|p| p.destroy_session(handle))
    }

    fn query_session(handle: HandleId) -> String {
        C::with(|p| p.query_session(handle)).to_string()
    }

    fn handle_admin_message(body: String) -> String {
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        C::with(|p| p.handle_admin_message(body)).to_string()
    }

    fn on_timer(id: u64) {
        C::with(|p| p.on_timer(id))
    }

    fn on_media_event(event: MediaEvent) {
        C::with(|p| p.on_media_event(event))
    }

    fn snapshot() -> Option<Vec<u8>> {
        C::with(|p| p.snapshot())
    }

    fn restore(state: Vec<u8>) -> Result<(), String> {
        C::with(|p| p.restore(state))
    }
}

/// Exports a [`Plugin`] type as this component's `plugin` interface. Use it once per crate,
/// at the top level: `export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () =
            {
                struct __PortunusCell;
                impl $crate::PluginCell for __PortunusCell {
                    type Plugin = $plugin;
                    fn with<R>(f: impl FnOnce(&mut $plugin) -> R) -> R {
                        ::std::thread_local! {
                            static STATE: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                                const { ::core::cell::RefCell::new(::core::option::Option::None) };
                        }
                        // The gateway never calls a plugin re-entrantly (host calls don't call
                        // back), so this borrow cannot overlap another one.
                        STATE.with(|cell| {
                            let mut state = cell.borrow_mut();
                            f(state
                                .get_or_insert_with(<$plugin as ::core::default::Default>::default))
                        })
                    }
                }
                type __PortunusExport = $crate::Adapter<__PortunusCell>;
        $crate::bindings::export!(__PortunusExport with_types_in $crate::bindings);
            };
    };
}
