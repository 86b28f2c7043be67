//! One plugin instance: its wasmtime `Store`, the host side of the `host` interface, the
//! memory limiter, and how a failed call is classified.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{GatewayPlugin, GatewayPluginPre, Guest, wit};
use crate::convert;
use crate::gateway::Gateway;
use crate::stdio::LogStream;

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Timers one plugin may have pending: they live in host memory, which the plugin's memory
/// limit does not cover.
const MAX_TIMERS: usize = 100_000;

/// Longest plugin log message kept, in bytes.
const MAX_LOG: usize = 8192;

/// Caps a plugin's memory and remembers whether it was hit, so that the trap that follows
/// (a Rust guest aborts when an allocation fails) is reported as "out of memory".
pub struct Limiter {
    max_memory: usize,
    pub hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_memory;
        if !ok {
            self.hit = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any honest plugin.
        Ok(desired <= 1_000_000)
    }
}

/// What the host keeps per instance: WASI (locked down), limits, timers, and who it is.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    /// The plugin's package name, passed to every `Gateway` call.
    pub plugin: Arc<str>,
    gateway: Arc<dyn Gateway>,
    /// Timers the plugin set: id → when to fire. Read by the plugin's thread between calls.
    pub timers: HashMap<u64, Instant>,
    /// Settings the plugin saved with `save-config` during the last call: what its next
    /// `init` gets (after a crash or a reload) instead of the settings it started with.
    pub saved_config: Option<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::Host for HostState {}

impl crate::bindings::portunus::plugin::host::Host for HostState {
    fn push_event(
        &mut self,
        handle: u64,
        transaction: Option<String>,
        data: String,
        jsep: Option<wit::JsepOut>,
    ) -> Result<Vec<String>, String> {
        let data: serde_json::Value = serde_json::from_str(&data)
            .map_err(|e| format!("event data is not valid JSON: {e}"))?;
        if !data.is_object() {
            return Err("event data must be a JSON object".into());
        }
        self.gateway.push_event(
            &self.plugin,
            handle,
            transaction,
            data,
            jsep.map(convert::jsep_out),
        )
    }

    fn create_offer(&mut self, handle: u64, spec: wit::OfferSpec) -> Result<Vec<String>, String> {
        self.gateway
            .create_offer(&self.plugin, handle, convert::offer_spec(spec))
    }

    fn route_add(&mut self, route: wit::Route) -> Result<u64, String> {
        self.gateway.route_add(&self.plugin, convert::route(route))
    }

    fn route_update(
        &mut self,
        id: u64,
        layer: wit::LayerChoice,
        paused: bool,
    ) -> Result<(), String> {
        self.gateway
            .route_update(&self.plugin, id, convert::layer(layer), paused)
    }

    fn route_remove(&mut self, id: u64) {
        self.gateway.route_remove(&self.plugin, id)
    }

    fn request_keyframe(&mut self, source: wit::MediaRef) {
        self.gateway
            .request_keyframe(&self.plugin, convert::media_ref(source))
    }

    fn set_bitrate_cap(&mut self, handle: u64, bitrate: u32) {
        self.gateway.set_bitrate_cap(&self.plugin, handle, bitrate)
    }

    fn talk_detect(
        &mut self,
        source: wit::MediaRef,
        config: Option<wit::TalkDetection>,
    ) -> Result<(), String> {
        self.gateway.talk_detect(
            &self.plugin,
            convert::media_ref(source),
            config.map(convert::talk_detection),
        )
    }

    fn rtp_forward_add(&mut self, forward: wit::RtpForward) -> Result<u64, String> {
        self.gateway
            .rtp_forward_add(&self.plugin, convert::rtp_forward(forward))
    }

    fn rtp_forward_remove(&mut self, id: u64) {
        self.gateway.rtp_forward_remove(&self.plugin, id)
    }

    fn rtp_input_add(&mut self, input: wit::RtpInput) -> Result<wit::RtpInputInfo, String> {
        self.gateway
            .rtp_input_add(&self.plugin, convert::rtp_input(input))
            .map(convert::rtp_input_info_to_wit)
    }

    fn rtp_input_remove(&mut self, source: u64) {
        self.gateway.rtp_input_remove(&self.plugin, source)
    }

    fn save_config(&mut self, config: String) -> Result<(), String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config is not valid JSON: {e}"))?;
        if !config.is_object() {
            return Err("config must be a JSON object".into());
        }
        let text = config.to_string();
        self.gateway.save_config(&self.plugin, config)?;
        self.saved_config = Some(text);
        Ok(())
    }

    fn send_data(&mut self, handle: u64, message: wit::DataMessage) -> Result<(), String> {
        self.gateway
            .send_data(&self.plugin, handle, convert::data(message))
    }

    fn close_pc(&mut self, handle: u64) {
        self.gateway.close_pc(&self.plugin, handle)
    }

    fn end_session(&mut self, handle: u64) {
        self.gateway.end_session(&self.plugin, handle)
    }

    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        // Saturate: a plugin asking for "never" gets a timer far in the future, not a panic.
        let delay = Duration::from_millis(delay_ms.min(u64::from(u32::MAX)));
        if self.timers.len() >= MAX_TIMERS && !self.timers.contains_key(&id) {
            tracing::warn!(
                plugin = &*self.plugin,
                id,
                "too many timers ({MAX_TIMERS}); timer dropped"
            );
            return;
        }
        self.timers.insert(id, Instant::now() + delay);
    }

    fn cancel_timer(&mut self, id: u64) {
        self.timers.remove(&id);
    }

    fn now_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn log(&mut self, level: wit::LogLevel, mut message: String) {
        if message.len() > MAX_LOG {
            let mut end = MAX_LOG;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            wit::LogLevel::Trace => {
                tracing::trace!(target: "portunus::plugin", plugin, "{message}")
            }
            wit::LogLevel::Debug => {
                tracing::debug!(target: "portunus::plugin", plugin, "{message}")
            }
            wit::LogLevel::Info => tracing::info!(target: "portunus::plugin", plugin, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(target: "portunus::plugin", plugin, "{message}"),
            wit::LogLevel::Error => {
                tracing::error!(target: "portunus::plugin", plugin, "{message}")
            }
        }
    }
}

/// The linker every plugin shares: our `host` interface plus WASI preview 2 (sync).
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    GatewayPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Per-plugin limits, from the config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub call_timeout: Duration,
    pub memory_bytes: usize,
}

/// A live instance of one plugin.
pub struct Instance {
    pub store: Store<HostState>,
    bindings: GatewayPlugin,
}

/// Why a call into the plugin failed at the Wasm level (not a plugin-reported error).
#[derive(Debug, Clone)]
pub struct Crash(pub String);

impl Instance {
    pub fn new(
        engine: &Engine,
        pre: &GatewayPluginPre<HostState>,
        plugin: Arc<str>,
        gateway: Arc<dyn Gateway>,
        limits: Limits,
    ) -> Result<Instance, Crash> {
        // No filesystem, no network, no environment, no arguments, no stdin; output is
        // logged. Clocks and randomness stay (harmless, and std needs them).
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(plugin.clone(), false))
            .stderr(LogStream::new(plugin.clone(), true))
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory: limits.memory_bytes,
                hit: false,
            },
            plugin,
            gateway,
            timers: HashMap::new(),
            saved_config: None,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(limits.call_timeout));
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| classify(&store, limits, e))?;
        Ok(Instance { store, bindings })
    }

    /// Runs one export with a fresh deadline. A trap, an interrupt or an exhausted memory
    /// comes back as a [`Crash`]; the instance must then be thrown away.
    pub fn call<R>(
        &mut self,
        limits: Limits,
        f: impl FnOnce(&Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, Crash> {
        self.store
            .set_epoch_deadline(deadline_ticks(limits.call_timeout));
        let guest = self.bindings.portunus_plugin_plugin();
        match f(guest, &mut self.store) {
            Ok(r) => Ok(r),
            Err(e) => Err(classify(&self.store, limits, e)),
        }
    }
}

fn deadline_ticks(timeout: Duration) -> u64 {
    // +1: the first tick may come at once, so a deadline of n ticks lasts at least n-1.
    (timeout.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
}

fn classify(store: &Store<HostState>, limits: Limits, e: wasmtime::Error) -> Crash {
    // The full error (with the Wasm backtrace) goes to the log; the reason stays one line,
    // since it travels to the core and possibly to clients.
    tracing::debug!(plugin = &*store.data().plugin, "plugin call failed: {e:?}");
    if store.data().limiter.hit {
        return Crash(format!(
            "out of memory (limit {} MiB)",
            limits.memory_bytes >> 20
        ));
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => Crash(format!(
            "ran past its time limit of {} ms and was interrupted",
            limits.call_timeout.as_millis()
        )),
        Some(trap) => Crash(format!("trapped: {trap}")),
        None => Crash(format!("failed: {e}")),
    }
}
