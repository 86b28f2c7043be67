//! The media event pump: media-core events become Janus events for the client and calls
//! into the handle's plugin.

use std::sync::Arc;

use portunus_media::MediaEvent;
use serde_json::json;
use tokio::sync::mpsc;

use super::ApiCore;

impl ApiCore {
    /// Runs until the media core's event stream ends.
    pub async fn pump_media_events(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<MediaEvent>,
    ) {
        while let Some(event) = events.recv().await {
            self.on_media_event(event);
        }
        tracing::debug!("media event stream ended");
    }

    pub fn on_media_event(&self, event: MediaEvent) {
        let handle_id = match &event {
            // Not client-visible: only the plugin steering the media hears of these.
            MediaEvent::LayerChanged { target, .. } => {
                return self.to_plugin(target.handle, event);
            }
            MediaEvent::TalkChanged { source, .. } => {
                return self.to_plugin(source.handle, event);
            }
            MediaEvent::InputMedia { source, .. } => {
                return self.to_input_owner(source.handle, event);
            }
            MediaEvent::WebrtcUp { handle }
            | MediaEvent::Media { handle, .. }
            | MediaEvent::SlowLink { handle, .. }
            | MediaEvent::Data { handle, .. }
            | MediaEvent::Hangup { handle, .. } => *handle,
        };
        let Some(handle) = self.registry.handle(handle_id) else {
            tracing::debug!(handle = handle_id, "media event for a gone handle");
            return;
        };
        if handle.is_detaching() {
            return;
        }
        let sid = handle.session_id;
        match event {
            MediaEvent::WebrtcUp { .. } => {
                self.send_to_handle(
                    &handle,
                    json!({"janus": "webrtcup", "session_id": sid, "sender": handle.id}),
                );
                handle.plugin.setup_media(handle.id);
            }
            MediaEvent::Media {
                mid,
                kind,
                receiving,
                ..
            } => {
                let mut e = json!({"janus": "media", "session_id": sid, "sender": handle.id,
                                   "mid": mid, "type": kind.as_str(), "receiving": receiving});
                let timer = self.config.media.no_media_timer;
                if !receiving && timer > 1 {
                    e["seconds"] = json!(timer);
                }
                self.send_to_handle(&handle, e);
            }
            MediaEvent::SlowLink {
                mid,
                kind,
                uplink,
                lost,
                ..
            } => {
                self.send_to_handle(
                    &handle,
                    json!({"janus": "slowlink", "session_id": sid, "sender": handle.id,
                           "mid": mid, "media": kind.as_str(), "uplink": uplink, "lost": lost}),
                );
            }
            MediaEvent::Data { message, .. } => handle.plugin.incoming_data(handle.id, message),
            MediaEvent::Hangup { reason, .. } => {
                handle.set_pc(false);
                self.send_to_handle(
                    &handle,
                    json!({"janus": "hangup", "session_id": sid, "sender": handle.id, "reason": reason}),
                );
                handle.plugin.hangup_media(handle.id);
            }
            MediaEvent::LayerChanged { .. }
            | MediaEvent::TalkChanged { .. }
            | MediaEvent::InputMedia { .. } => {}
        }
    }

    /// An event of a plain-RTP input, for the plugin that opened it.
    fn to_input_owner(&self, source: u64, event: MediaEvent) {
        let plugin = self
            .input_owner(source)
            .and_then(|name| self.plugins()?.plugin(&name));
        match plugin {
            Some(p) => p.media_event(event),
            None => tracing::debug!(source, "media event for a gone rtp input"),
        }
    }

    /// A plugin-only media event, for the plugin owning `handle_id` (its routes and sources
    /// only ever touch its own handles).
    fn to_plugin(&self, handle_id: u64, event: MediaEvent) {
        match self.registry.handle(handle_id) {
            Some(handle) if !handle.is_detaching() => handle.plugin.media_event(event),
            _ => tracing::debug!(handle = handle_id, "plugin media event for a gone handle"),
        }
    }
}
