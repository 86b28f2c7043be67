//! What the core does for plugins (`portunus_plugin_host::Gateway`). Every call names its
//! plugin; handles and routes of other plugins are refused. These run on plugin threads and
//! never wait for a plugin.

use std::sync::{Arc, Weak};

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use portunus_media::{
    DataMessage, ForwarderId, HandleId, JsepOut, LayerChoice, MediaRef, OfferSpec, Route, RouteId,
    RtpForward, RtpInput, TalkDetection,
};
use portunus_plugin_host::{Gateway, RtpForwardRequest, RtpInputInfo, RtpInputRequest};
use serde_json::{Value, json};

use super::session::Handle;
use super::{ApiCore, ForwarderOwner, InputOwner, RouteOwner};

/// The core as the plugins see it. Holds the core weakly: the core owns the plugin host,
/// which owns this.
pub struct CoreGateway {
    core: Weak<ApiCore>,
}

impl CoreGateway {
    pub fn new(core: &Arc<ApiCore>) -> Self {
        CoreGateway {
            core: Arc::downgrade(core),
        }
    }

    fn core(&self) -> Result<Arc<ApiCore>, String> {
        self.core
            .upgrade()
            .ok_or_else(|| "server shutting down".to_string())
    }

    /// The handle, if it exists and belongs to `plugin`.
    fn owned(&self, core: &ApiCore, plugin: &str, handle: HandleId) -> Result<Arc<Handle>, String> {
        match core.registry.handle(handle) {
            Some(h) if h.package == plugin => Ok(h),
            Some(_) => Err(format!("handle {handle} does not belong to {plugin}")),
            None => Err(format!("no such handle {handle}")),
        }
    }

    /// A route source: one of the plugin's handles, or one of its plain-RTP inputs.
    fn source_owned(&self, core: &ApiCore, plugin: &str, source: HandleId) -> Result<(), String> {
        match core.input_owner(source) {
            Some(owner) if owner == plugin => Ok(()),
            Some(_) => Err(format!("rtp input {source} does not belong to {plugin}")),
            None => self.owned(core, plugin, source).map(|_| ()),
        }
    }

    fn route_owned(&self, core: &ApiCore, plugin: &str, id: RouteId) -> Result<(), String> {
        match core.routes.lock().get(&id) {
            Some(owner) if owner.plugin == plugin => Ok(()),
            _ => Err(format!("no such route {id}")),
        }
    }
}

/// Janus `full_trickle`: the SDP's own candidates again as trickle payloads (all on the first
/// m-line, as everything is BUNDLEd), then `{"completed": true}`. The SDP keeps them too, so a
/// client that ignores trickles still connects.
fn trickle_events(sdp: &str) -> Vec<Value> {
    let mid = sdp
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .unwrap_or("0");
    let mut seen = std::collections::HashSet::new();
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:") && seen.insert(*l))
        .map(|c| json!({"sdpMid": mid, "sdpMLineIndex": 0, "candidate": c}))
        .chain(std::iter::once(json!({"completed": true})))
        .collect()
}

/// Longest an RTP forwarder's host name may take to resolve (well inside a plugin call's
/// default 2 s deadline).
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

/// An RTP forwarder's destination: an IP literal (v4, v6, or v6 in brackets) is taken as is,
/// without any lookup; anything else is resolved once here.
fn resolve_dest(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim();
    if host.is_empty() {
        return Err("rtp forward: empty host".into());
    }
    if port == 0 {
        return Err("rtp forward: port 0".into());
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // The lookup may wait on the network, and this runs on the plugin's thread inside its
    // call deadline: bound it. A lookup still running after that ends on its own.
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("rtp-forward resolve".into())
        .spawn(move || {
            let r = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(r);
        })
        .map_err(|e| format!("rtp forward: cannot resolve host {host:?}: {e}"))?;
    match rx.recv_timeout(RESOLVE_TIMEOUT) {
        Ok(Ok(addrs)) => addrs
            .into_iter()
            .next()
            .ok_or_else(|| format!("rtp forward: host {host:?} has no address")),
        Ok(Err(e)) => Err(format!("rtp forward: cannot resolve host {host:?}: {e}")),
        Err(_) => Err(format!(
            "rtp forward: cannot resolve host {host:?}: no answer within {} ms",
            RESOLVE_TIMEOUT.as_millis()
        )),
    }
}

/// A plain-RTP input's bind address: none = every interface; otherwise an IP literal
/// (v6 in brackets too). Names are refused: an input binds, it does not look anything up.
fn input_ip(host: Option<&str>) -> Result<IpAddr, String> {
    let Some(host) = host.map(str::trim) else {
        return Ok(IpAddr::from([0, 0, 0, 0]));
    };
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal
        .parse()
        .map_err(|_| format!("rtp input: host {host:?} is not an IP address"))
}

/// `janus.plugin.echotest` → `echotest` (the key Janus plugins put in their events).
fn short_name(package: &str) -> &str {
    package.rsplit('.').next().unwrap_or(package)
}

impl Gateway for CoreGateway {
    fn push_event(
        &self,
        plugin: &str,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<JsepOut>,
    ) -> Result<Vec<String>, String> {
        let core = self.core()?;
        let h = self.owned(&core, plugin, handle)?;
        let mut mids = Vec::new();
        let jsep = match jsep {
            None => None,
            Some(JsepOut::Answer(spec)) => {
                let sdp = core
                    .media
                    .answer(handle, &spec)
                    .map_err(|e| e.to_string())?;
                Some(("answer", sdp))
            }
            Some(JsepOut::Offer(spec)) => {
                let offer = core.media.offer(handle, &spec).map_err(|e| e.to_string())?;
                h.set_pc(true);
                mids = offer.mids;
                Some(("offer", offer.sdp))
            }
            Some(JsepOut::PreparedOffer) => {
                let sdp = h
                    .take_prepared_offer()
                    .ok_or_else(|| format!("no offer prepared for handle {handle}"))?;
                Some(("offer", sdp))
            }
        };
        let mut event = serde_json::Map::new();
        event.insert("janus".into(), json!("event"));
        event.insert("session_id".into(), json!(h.session_id));
        event.insert("sender".into(), json!(handle));
        if let Some(t) = transaction {
            event.insert("transaction".into(), json!(t));
        }
        event.insert("plugindata".into(), json!({"plugin": plugin, "data": data}));
        if let Some((kind, sdp)) = &jsep {
            event.insert("jsep".into(), json!({"type": kind, "sdp": sdp}));
        }
        core.send_to_handle(&h, Value::Object(event));
        if let Some((_, sdp)) = &jsep
            && core.config.general.full_trickle
        {
            for candidate in trickle_events(sdp) {
                core.send_to_handle(
                    &h,
                    json!({"janus": "trickle", "session_id": h.session_id, "sender": handle,
                           "candidate": candidate}),
                );
            }
        }
        Ok(mids)
    }

    fn create_offer(
        &self,
        plugin: &str,
        handle: HandleId,
        spec: OfferSpec,
    ) -> Result<Vec<String>, String> {
        let core = self.core()?;
        let h = self.owned(&core, plugin, handle)?;
        let offer = core.media.offer(handle, &spec).map_err(|e| e.to_string())?;
        h.set_pc(true);
        h.set_prepared_offer(offer.sdp);
        Ok(offer.mids)
    }

    fn route_add(&self, plugin: &str, route: Route) -> Result<RouteId, String> {
        let core = self.core()?;
        self.source_owned(&core, plugin, route.source.handle)?;
        self.owned(&core, plugin, route.target.handle)?;
        let handles = [route.source.handle, route.target.handle];
        let id = core.media.route_add(route).map_err(|e| e.to_string())?;
        core.routes.lock().insert(
            id,
            RouteOwner {
                plugin: plugin.to_string(),
                handles,
            },
        );
        Ok(id)
    }

    fn route_update(
        &self,
        plugin: &str,
        id: RouteId,
        layer: LayerChoice,
        paused: bool,
    ) -> Result<(), String> {
        let core = self.core()?;
        self.route_owned(&core, plugin, id)?;
        core.media
            .route_update(id, layer, paused)
            .map_err(|e| e.to_string())
    }

    fn route_remove(&self, plugin: &str, id: RouteId) {
        let Ok(core) = self.core() else { return };
        if self.route_owned(&core, plugin, id).is_ok() {
            core.routes.lock().remove(&id);
            core.media.route_remove(id);
        }
    }

    fn request_keyframe(&self, plugin: &str, source: MediaRef) {
        let Ok(core) = self.core() else { return };
        if self.source_owned(&core, plugin, source.handle).is_ok() {
            core.media.request_keyframe(&source);
        }
    }

    fn set_bitrate_cap(&self, plugin: &str, handle: HandleId, bitrate: u32) {
        let Ok(core) = self.core() else { return };
        if self.owned(&core, plugin, handle).is_ok() {
            core.media.set_bitrate_cap(handle, bitrate);
        }
    }

    fn talk_detect(
        &self,
        plugin: &str,
        source: MediaRef,
        config: Option<TalkDetection>,
    ) -> Result<(), String> {
        let core = self.core()?;
        self.owned(&core, plugin, source.handle)?;
        core.media
            .talk_detect(&source, config)
            .map_err(|e| e.to_string())
    }

    fn rtp_forward_add(
        &self,
        plugin: &str,
        forward: RtpForwardRequest,
    ) -> Result<ForwarderId, String> {
        let core = self.core()?;
        self.owned(&core, plugin, forward.source.handle)?;
        let dest = resolve_dest(&forward.host, forward.port)?;
        let handle = forward.source.handle;
        let id = core
            .media
            .rtp_forward_add(RtpForward {
                source: forward.source,
                dest,
                ssrc: forward.ssrc,
                pt: forward.pt,
                substream: forward.substream,
                rtcp_port: forward.rtcp_port,
            })
            .map_err(|e| e.to_string())?;
        core.forwarders.lock().insert(
            id,
            ForwarderOwner {
                plugin: plugin.to_string(),
                handle,
            },
        );
        Ok(id)
    }

    fn rtp_forward_remove(&self, plugin: &str, id: ForwarderId) {
        let Ok(core) = self.core() else { return };
        let mine = {
            let mut forwarders = core.forwarders.lock();
            match forwarders.get(&id) {
                Some(owner) if owner.plugin == plugin => forwarders.remove(&id).is_some(),
                _ => false,
            }
        };
        if mine {
            core.media.rtp_forward_remove(id);
        }
    }

    fn rtp_input_add(&self, plugin: &str, input: RtpInputRequest) -> Result<RtpInputInfo, String> {
        let core = self.core()?;
        let ip = input_ip(input.host.as_deref())?;
        let input = RtpInput {
            ip,
            streams: input.streams,
        };
        // An id from the handles' space, so a route source never names two things.
        let source = core.registry.reserve_id();
        // Owned before it opens: its first media event may come at once.
        core.inputs.lock().insert(
            source,
            InputOwner {
                plugin: plugin.to_string(),
            },
        );
        match core.media.rtp_input_add(source, input) {
            Ok(ports) => {
                tracing::info!(plugin, source, ?ports, "rtp input open");
                Ok(RtpInputInfo { source, ports })
            }
            Err(e) => {
                core.inputs.lock().remove(&source);
                core.registry.release_id(source);
                Err(e.to_string())
            }
        }
    }

    fn rtp_input_remove(&self, plugin: &str, source: HandleId) {
        let Ok(core) = self.core() else { return };
        core.close_input(plugin, source);
    }

    fn inputs_of(&self, plugin: &str) -> Vec<HandleId> {
        let Ok(core) = self.core() else {
            return Vec::new();
        };
        core.plugin_inputs(plugin)
    }

    fn plugin_reset(&self, plugin: &str) {
        let Ok(core) = self.core() else { return };
        core.close_plugin_inputs(plugin);
    }

    fn save_config(&self, plugin: &str, config: Value) -> Result<(), String> {
        let core = self.core()?;
        core.save_plugin_config(plugin, config)
    }

    fn send_data(
        &self,
        plugin: &str,
        handle: HandleId,
        message: DataMessage,
    ) -> Result<(), String> {
        let core = self.core()?;
        self.owned(&core, plugin, handle)?;
        core.media
            .send_data(handle, message)
            .map_err(|e| e.to_string())
    }

    fn close_pc(&self, plugin: &str, handle: HandleId) {
        let Ok(core) = self.core() else { return };
        if self.owned(&core, plugin, handle).is_ok() {
            core.media.hangup(handle, "Close PC");
        }
    }

    fn end_session(&self, plugin: &str, handle: HandleId) {
        let Ok(core) = self.core() else { return };
        let Ok(h) = self.owned(&core, plugin, handle) else {
            return;
        };
        // Detaching waits for the plugin; this runs on the plugin's own thread, so hand it off.
        let rt = core.runtime.clone();
        rt.spawn(async move { core.detach(h).await });
    }

    fn plugin_failed(&self, plugin: &str, handles: &[HandleId], reason: &str) {
        let Ok(core) = self.core() else { return };
        tracing::error!(plugin, reason, "plugin failed; hanging up its handles");
        for &id in handles {
            let Ok(h) = self.owned(&core, plugin, id) else {
                continue;
            };
            core.media.hangup(id, "Plugin error");
            let data = json!({
                short_name(plugin): "event",
                "error_code": 462,
                "error": format!("Plugin error: {reason}"),
            });
            core.send_to_handle(
                &h,
                json!({"janus": "event", "session_id": h.session_id, "sender": id,
                       "plugindata": {"plugin": plugin, "data": data}}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_dest_takes_ip_literals_without_lookup() {
        assert_eq!(
            resolve_dest("127.0.0.1", 5004),
            Ok("127.0.0.1:5004".parse().unwrap())
        );
        assert_eq!(resolve_dest("::1", 5004), Ok("[::1]:5004".parse().unwrap()));
        assert_eq!(
            resolve_dest("[::1]", 5004),
            Ok("[::1]:5004".parse().unwrap())
        );
    }

    #[test]
    fn resolve_dest_refuses_bad_input() {
        assert!(resolve_dest("", 5004).unwrap_err().contains("empty host"));
        assert!(resolve_dest("127.0.0.1", 0).unwrap_err().contains("port 0"));
        // `.invalid` never resolves (RFC 6761); the lookup fails fast on the local resolver.
        assert!(
            resolve_dest("no-such-host.invalid", 5004)
                .unwrap_err()
                .contains("cannot resolve")
        );
        assert!(resolve_dest("1.2.3.4:5", 5004).is_err());
    }

    #[test]
    fn input_ip_takes_literals_and_defaults_to_every_interface() {
        assert_eq!(input_ip(None), Ok("0.0.0.0".parse().unwrap()));
        assert_eq!(
            input_ip(Some(" 127.0.0.1 ")),
            Ok("127.0.0.1".parse().unwrap())
        );
        assert_eq!(input_ip(Some("[::1]")), Ok("::1".parse().unwrap()));
        for bad in ["", "localhost", "1.2.3.4:5", "300.1.1.1"] {
            assert!(
                input_ip(Some(bad)).unwrap_err().contains("not an IP"),
                "{bad}"
            );
        }
    }

    #[test]
    fn trickle_events_repeat_each_candidate_once_then_complete() {
        let sdp = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
                   a=candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host\r\n\
                   a=end-of-candidates\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
                   a=candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host\r\n";
        assert_eq!(
            trickle_events(sdp),
            vec![
                json!({"sdpMid": "0", "sdpMLineIndex": 0,
                       "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host"}),
                json!({"completed": true}),
            ]
        );
    }
}
