use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use portunus_media::types::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, MediaRef, OfferSpec, Route, RouteId,
    TalkDetection,
};
use portunus_plugin_host::{
    Gateway, PluginConfig, PluginHost, RtpForwardRequest, RtpInputInfo, RtpInputRequest,
};

/// Where build.rs put the plugins built from plugins-wasm/ (stock and test ones).
pub fn plugin_file(crate_name: &str) -> PathBuf {
    Path::new(env!("PORTUNUS_TEST_PLUGINS_DIR")).join(format!("{crate_name}.wasm"))
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "portunus-plugin-host-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A plugin directory holding copies of these built plugins.
pub fn plugin_dir(crates: &[&str]) -> PathBuf {
    let dir = temp_dir("plugins");
    for c in crates {
        std::fs::copy(plugin_file(c), dir.join(format!("{c}.wasm"))).expect("copy plugin");
    }
    dir
}

/// Stock plugins plus the given test plugins.
pub fn load(crates: &[&str], mut config: PluginConfig) -> (PluginHost, Arc<Recorder>) {
    if !crates.is_empty() {
        config.dir = Some(plugin_dir(crates));
    }
    let recorder = Arc::new(Recorder::default());
    let host = PluginHost::load(&config, recorder.clone()).expect("plugin host loads");
    (host, recorder)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    PushEvent {
        plugin: String,
        handle: HandleId,
        transaction: Option<String>,
        data: serde_json::Value,
        jsep: Option<JsepOut>,
    },
    RouteAdd {
        id: RouteId,
        route: Route,
    },
    RouteUpdate {
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    },
    RouteRemove(RouteId),
    Keyframe(MediaRef),
    Bitrate(HandleId, u32),
    SendData(HandleId, DataMessage),
    ClosePc(HandleId),
    EndSession(HandleId),
    CreateOffer(HandleId, OfferSpec),
    TalkDetect(MediaRef, Option<TalkDetection>),
    RtpForwardAdd(RtpForwardRequest),
    RtpForwardRemove(ForwarderId),
    RtpInputAdd(RtpInputRequest),
    RtpInputRemove(HandleId),
    SaveConfig {
        plugin: String,
        config: serde_json::Value,
    },
    PluginFailed {
        plugin: String,
        handles: Vec<HandleId>,
        reason: String,
    },
    /// The plugin's state is gone; the core releases what it held for it.
    PluginReset(String),
}

/// Like the core: an offer's m-lines get the mids asked for, or 0, 1, ... when none.
fn offer_mids(o: &OfferSpec) -> Vec<String> {
    o.media
        .iter()
        .enumerate()
        .map(|(i, m)| m.mid.clone().unwrap_or_else(|| i.to_string()))
        .collect()
}

/// A `Gateway` that records every call.
#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Vec<Call>>,
    next_route: AtomicU64,
    /// When set, push_event with a JSEP fails (the core could not build the SDP).
    pub fail_jsep: AtomicBool,
    /// When set, save_config fails (no file, cannot write).
    pub fail_save: AtomicBool,
    /// This many next rtp_input_add calls fail (a port in use).
    pub fail_inputs: AtomicU64,
    /// Open inputs: (source id, owning plugin), like the core keeps them.
    inputs: Mutex<Vec<(HandleId, String)>>,
    next_input: AtomicU64,
}

impl Recorder {
    fn record(&self, c: Call) {
        self.calls.lock().unwrap().push(c);
    }

    /// Every call so far; clears the record.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    pub fn failures(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches!(c, Call::PluginFailed { .. }))
            .cloned()
            .collect()
    }

    /// The plugins whose state was reset, in order.
    pub fn resets(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                Call::PluginReset(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Gateway for Recorder {
    fn push_event(
        &self,
        plugin: &str,
        handle: HandleId,
        transaction: Option<String>,
        data: serde_json::Value,
        jsep: Option<JsepOut>,
    ) -> Result<Vec<String>, String> {
        if jsep.is_some() && self.fail_jsep.load(Ordering::Relaxed) {
            return Err("cannot build the answer".into());
        }
        let mids = match &jsep {
            Some(JsepOut::Offer(o)) => offer_mids(o),
            _ => Vec::new(),
        };
        self.record(Call::PushEvent {
            plugin: plugin.into(),
            handle,
            transaction,
            data,
            jsep,
        });
        Ok(mids)
    }

    fn create_offer(
        &self,
        _plugin: &str,
        handle: HandleId,
        spec: OfferSpec,
    ) -> Result<Vec<String>, String> {
        let mids = offer_mids(&spec);
        self.record(Call::CreateOffer(handle, spec));
        Ok(mids)
    }

    fn route_add(&self, _plugin: &str, route: Route) -> Result<RouteId, String> {
        let id = self.next_route.fetch_add(1, Ordering::Relaxed) + 1;
        self.record(Call::RouteAdd { id, route });
        Ok(id)
    }

    fn route_update(
        &self,
        _plugin: &str,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), String> {
        self.record(Call::RouteUpdate { id, layer, paused });
        Ok(())
    }

    fn route_remove(&self, _plugin: &str, id: RouteId) {
        self.record(Call::RouteRemove(id))
    }

    fn request_keyframe(&self, _plugin: &str, source: MediaRef) {
        self.record(Call::Keyframe(source))
    }

    fn set_bitrate_cap(&self, _plugin: &str, handle: HandleId, bitrate: u32) {
        self.record(Call::Bitrate(handle, bitrate))
    }

    fn send_data(
        &self,
        _plugin: &str,
        handle: HandleId,
        message: DataMessage,
    ) -> Result<(), String> {
        self.record(Call::SendData(handle, message));
        Ok(())
    }

    fn talk_detect(
        &self,
        _plugin: &str,
        source: MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String> {
        self.record(Call::TalkDetect(source, config));
        Ok(())
    }

    fn rtp_forward_add(
        &self,
        _plugin: &str,
        forward: RtpForwardRequest,
    ) -> Result<ForwarderId, String> {
        if forward.host == "unresolvable" {
            return Err(format!("cannot resolve host {:?}", forward.host));
        }
        self.record(Call::RtpForwardAdd(forward));
        Ok(7)
    }

    fn rtp_forward_remove(&self, _plugin: &str, id: ForwarderId) {
        self.record(Call::RtpForwardRemove(id))
    }

    fn rtp_input_add(&self, plugin: &str, input: RtpInputRequest) -> Result<RtpInputInfo, String> {
        // Fake ports only: what a real bind does is tested with the core.
        let ports = (0..input.streams.len() as u16).map(|i| 40000 + i).collect();
        let fail = self
            .fail_inputs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err("port 40000 in use".into());
        }
        self.record(Call::RtpInputAdd(input));
        let source = (1 << 60) + self.next_input.fetch_add(1, Ordering::Relaxed);
        self.inputs.lock().unwrap().push((source, plugin.into()));
        Ok(RtpInputInfo { source, ports })
    }

    fn rtp_input_remove(&self, plugin: &str, source: HandleId) {
        self.inputs
            .lock()
            .unwrap()
            .retain(|(id, owner)| !(*id == source && owner == plugin));
        self.record(Call::RtpInputRemove(source))
    }

    fn inputs_of(&self, plugin: &str) -> Vec<HandleId> {
        self.inputs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, owner)| owner == plugin)
            .map(|(id, _)| *id)
            .collect()
    }

    fn save_config(&self, plugin: &str, config: serde_json::Value) -> Result<(), String> {
        if self.fail_save.load(Ordering::Relaxed) {
            return Err("cannot write the configuration file".into());
        }
        self.record(Call::SaveConfig {
            plugin: plugin.into(),
            config,
        });
        Ok(())
    }

    fn close_pc(&self, _plugin: &str, handle: HandleId) {
        self.record(Call::ClosePc(handle))
    }

    fn end_session(&self, _plugin: &str, handle: HandleId) {
        self.record(Call::EndSession(handle))
    }

    fn plugin_failed(&self, plugin: &str, handles: &[HandleId], reason: &str) {
        self.record(Call::PluginFailed {
            plugin: plugin.into(),
            handles: handles.to_vec(),
            reason: reason.into(),
        })
    }

    fn plugin_reset(&self, plugin: &str) {
        self.inputs
            .lock()
            .unwrap()
            .retain(|(_, owner)| owner != plugin);
        self.record(Call::PluginReset(plugin.into()))
    }
}
