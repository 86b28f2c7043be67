//! The cost of one plugin call: `query-session` on the EchoTest,
//! - `raw`: straight into the Wasm instance on this thread (the component-model call, JSON
//!   building and string copy included);
//! - `through_thread`: via `PluginHandle`, i.e. command queue, the plugin's thread and the
//!   oneshot reply awaited on a tokio runtime: what the core pays per call.
//!
//! `on_timer_noop/raw` is a call the EchoTest ignores: the bare cost of entering the
//! component (with the epoch deadline set).
//!
//! Run: `cargo bench -p portunus-plugin-host --bench plugin_call`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use portunus_media::types::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, MediaRef, OfferSpec, Route, RouteId,
    TalkDetection,
};
use portunus_plugin_host::bench::RawPlugin;
use portunus_plugin_host::{
    Gateway, PluginConfig, PluginHost, RtpForwardRequest, RtpInputInfo, RtpInputRequest,
};

/// A gateway that does nothing: only the plugin's own cost is measured.
struct Null;

impl Gateway for Null {
    fn push_event(
        &self,
        _: &str,
        _: HandleId,
        _: Option<String>,
        _: serde_json::Value,
        _: Option<JsepOut>,
    ) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    fn create_offer(&self, _: &str, _: HandleId, _: OfferSpec) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    fn route_add(&self, _: &str, _: Route) -> Result<RouteId, String> {
        Ok(1)
    }
    fn route_update(&self, _: &str, _: RouteId, _: LayerChoice, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn route_remove(&self, _: &str, _: RouteId) {}
    fn request_keyframe(&self, _: &str, _: MediaRef) {}
    fn set_bitrate_cap(&self, _: &str, _: HandleId, _: u32) {}
    fn talk_detect(&self, _: &str, _: MediaRef, _: Option<TalkDetection>) -> Result<(), String> {
        Ok(())
    }
    fn rtp_forward_add(&self, _: &str, _: RtpForwardRequest) -> Result<ForwarderId, String> {
        Ok(1)
    }
    fn rtp_forward_remove(&self, _: &str, _: ForwarderId) {}
    fn rtp_input_add(&self, _: &str, _: RtpInputRequest) -> Result<RtpInputInfo, String> {
        Err("no inputs here".into())
    }
    fn rtp_input_remove(&self, _: &str, _: HandleId) {}
    fn save_config(&self, _: &str, _: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    fn send_data(&self, _: &str, _: HandleId, _: DataMessage) -> Result<(), String> {
        Ok(())
    }
    fn close_pc(&self, _: &str, _: HandleId) {}
    fn end_session(&self, _: &str, _: HandleId) {}
    fn plugin_failed(&self, _: &str, _: &[HandleId], _: &str) {}
}

fn echotest_bytes() -> &'static [u8] {
    portunus_plugin_host::stock::STOCK_PLUGINS
        .iter()
        .find(|(name, _)| name.contains("echotest"))
        .map(|(_, bytes)| *bytes)
        .expect("echotest is a stock plugin")
}

fn plugin_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("plugin_call");

    let mut raw = RawPlugin::new(echotest_bytes(), Arc::new(Null)).expect("instantiate");
    raw.create_session(1).expect("create-session");
    group.bench_function("on_timer_noop/raw", |b| {
        b.iter(|| raw.on_timer(1).expect("on-timer"))
    });
    group.bench_function("query_session/raw", |b| {
        b.iter(|| raw.query_session(1).expect("query-session"))
    });
    drop(raw);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let host = PluginHost::load(&PluginConfig::default(), Arc::new(Null)).expect("load");
    let p = host.plugin("janus.plugin.echotest").expect("echotest");
    rt.block_on(p.create_session(1, None))
        .expect("create-session");
    group.bench_function("query_session/through_thread", |b| {
        b.iter(|| rt.block_on(p.query_session(1)).expect("query-session"))
    });
    group.bench_function("incoming_data+query/through_thread", |b| {
        b.iter(|| {
            p.incoming_data(
                1,
                DataMessage {
                    label: "l".into(),
                    data: b"hi".to_vec(),
                    binary: false,
                },
            );
            rt.block_on(p.query_session(1)).expect("query-session")
        })
    });
    group.finish();
}

criterion_group!(benches, plugin_call);
criterion_main!(benches);
