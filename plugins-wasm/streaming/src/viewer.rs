//! Viewers: `watch` (a server offer with one m-line per chosen stream), `start` (the
//! client's answer; routes from the mountpoint's input to the viewer's mids), `pause`,
//! `configure` (per-stream send on/off), `switch` (to another mountpoint with the same
//! media) and `stop`.

use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::Id;
use portunus_plugin_sdk::janus::{Param, ParamKind};
use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::*;
use crate::mountpoint::{Kind, Mountpoint};
use crate::svc::{self, Layers};
use crate::{Request, Streaming, result_event};

/// One m-line of a viewer's PeerConnection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewStream {
    /// Which stream of the mountpoint (its position; `switch` keeps it).
    pub index: usize,
    pub kind: Kind,
    /// The mid the core gave the m-line in our offer.
    pub mid: Option<String>,
    /// `configure` can turn a stream off.
    pub send: bool,
    pub route: Option<RouteId>,
    /// SVC streams: the layers asked for, and the ones the core forwards now.
    #[serde(default)]
    pub target: Layers,
    #[serde(default)]
    pub current: Layers,
}

/// One handle attached to the plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub handle: HandleId,
    pub mountpoint: Option<Id>,
    pub streams: Vec<ViewStream>,
    /// The client answered our offer (`start` with a JSEP).
    pub answered: bool,
    /// The PeerConnection is up (Janus's "started").
    pub pc_up: bool,
    pub paused: bool,
    /// `stop` was asked; the hangup follows.
    pub stopping: bool,
    /// An offer was sent and its answer has not come yet.
    pub offer_pending: bool,
}

impl Session {
    pub fn new(handle: HandleId) -> Session {
        Session {
            handle,
            mountpoint: None,
            streams: Vec::new(),
            answered: false,
            pc_up: false,
            paused: false,
            stopping: false,
            offer_pending: false,
        }
    }

    /// Admin API `handle_info.plugin_specific`, like Janus's query_session.
    pub fn query(&self) -> Value {
        let mut q = json!({
            "state": if self.pc_up { "started" } else if self.mountpoint.is_some() { "preparing" } else { "idle" },
            "media_up": self.pc_up,
            "paused": self.paused,
            "stopping": self.stopping,
            "streams": self.streams.iter().map(|s| json!({
                "mindex": s.index, "type": s.kind.as_str(), "mid": s.mid, "send": s.send,
            })).collect::<Vec<_>>(),
        });
        if let Some(id) = &self.mountpoint {
            q["mountpoint_id"] = id.to_json();
        }
        q
    }
}

const WATCH_PARAMS: &[Param] = &[
    Param::optional("pin", ParamKind::String),
    Param::optional("media", ParamKind::Array),
    Param::optional("restart", ParamKind::Bool),
    Param::optional("offer_audio", ParamKind::Bool),
    Param::optional("offer_video", ParamKind::Bool),
    Param::optional("offer_data", ParamKind::Bool),
];

const CONFIGURE_PARAMS: &[Param] = &[
    Param::optional("mid", ParamKind::String),
    Param::optional("send", ParamKind::Bool),
    Param::optional("spatial_layer", ParamKind::PositiveInteger),
    Param::optional("temporal_layer", ParamKind::PositiveInteger),
];

/// The `media` list of `watch`: mids, all strings.
fn wanted_mids(body: &serde_json::Map<String, Value>) -> SResult<Vec<String>> {
    let Some(list) = body.get("media").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|m| {
            m.as_str().map(str::to_owned).ok_or_else(|| {
                err(
                    INVALID_ELEMENT,
                    "The media array must only contain strings (mid values)",
                )
            })
        })
        .collect()
}

/// Which of the viewer's streams `mid` names (all without one): the m-line with that mid, or
/// else the stream with that mountpoint mid (Janus's viewers' mids are the mountpoint's).
fn named_by(session: &Session, mp: &Mountpoint, mid: Option<&str>) -> Vec<bool> {
    let Some(m) = mid else {
        return vec![true; session.streams.len()];
    };
    let by_mline: Vec<bool> = session
        .streams
        .iter()
        .map(|vs| vs.mid.as_deref() == Some(m))
        .collect();
    if by_mline.contains(&true) {
        return by_mline;
    }
    session
        .streams
        .iter()
        .map(|vs| mp.streams.get(vs.index).is_some_and(|s| s.mid == m))
        .collect()
}

/// The streams of `mp` a `watch` asks for: by mid, or by the deprecated offer_audio /
/// offer_video (both true by default) when no mids are given.
fn choose_streams(
    mp: &Mountpoint,
    body: &serde_json::Map<String, Value>,
    mids: &[String],
) -> SResult<Vec<ViewStream>> {
    let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(true);
    let (audio, video) = (flag("offer_audio"), flag("offer_video"));
    let streams: Vec<ViewStream> = mp
        .streams
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            if mids.is_empty() {
                match s.kind {
                    Kind::Audio => audio,
                    Kind::Video => video,
                }
            } else {
                mids.iter().any(|m| m.eq_ignore_ascii_case(&s.mid))
            }
        })
        .map(|(index, s)| ViewStream {
            index,
            kind: s.kind,
            mid: None,
            send: true,
            route: None,
            target: Layers::default(),
            current: Layers::default(),
        })
        .collect();
    if streams.is_empty() {
        return Err(err(
            INVALID_REQUEST,
            "Can't offer an SDP with no audio, video or data for this mountpoint",
        ));
    }
    // As Janus: SVC streams start at the layers `watch` names (the highest otherwise).
    let mut streams = streams;
    if streams
        .iter()
        .any(|vs| mp.streams.get(vs.index).is_some_and(|s| s.svc))
    {
        let asked = svc::requested(body)?;
        for vs in streams.iter_mut() {
            vs.target = asked;
        }
    }
    Ok(streams)
}

impl<H: Host> Streaming<H> {
    fn session_mut(&mut self, handle: HandleId) -> SResult<&mut Session> {
        self.sessions
            .get_mut(&handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "No session associated with this handle..."))
    }

    pub(crate) fn watch(&mut self, req: &Request) -> SResult<()> {
        validate(req.body, WATCH_PARAMS)?;
        let id = self.id_of(req.body)?;
        let mids = wanted_mids(req.body)?;
        let restart = req.body.get("restart") == Some(&Value::Bool(true));
        let mp = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| no_such_mountpoint(&id))?;
        check_secret(mp.pin.as_deref(), req.body, "pin")?;
        // A disabled mountpoint is not refused (nor by `switch`), as in Janus 1.1.2: the
        // viewer gets its offer, and its routes stay paused until `enable`.
        let streams = choose_streams(mp, req.body, &mids);
        let session = self.session_mut(req.handle)?;
        if let Some(current) = session.mountpoint.clone() {
            // Watching already: only a renegotiation (ICE restart) of an established
            // PeerConnection on the same mountpoint is allowed.
            if current != id || !(session.pc_up || restart) {
                return Err(err(
                    INVALID_STATE,
                    format!("Already watching mountpoint {current}"),
                ));
            }
            if session.offer_pending {
                return Err(err(
                    INVALID_STATE,
                    format!("Already renegotiating mountpoint {current}"),
                ));
            }
            let status = if restart { "updating" } else { "preparing" };
            return self.send_offer(req.handle, Some(req.transaction), status, restart);
        }
        let streams = streams?;
        let session = self.session_mut(req.handle)?;
        session.mountpoint = Some(id.clone());
        session.streams = streams;
        session.answered = false;
        session.paused = false;
        session.stopping = false;
        if let Some(mp) = self.mountpoints.get_mut(&id) {
            mp.viewers.insert(req.handle);
        }
        if let Err(e) = self.send_offer(req.handle, Some(req.transaction), "preparing", false) {
            self.leave_mountpoint(req.handle);
            return Err(e);
        }
        Ok(())
    }

    /// Offers the viewer's streams (a new offer, or an update of the current one) with a
    /// `{"status": status}` event.
    fn send_offer(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        status: &str,
        ice_restart: bool,
    ) -> SResult<()> {
        let session = self.session_mut(handle)?;
        let id = session
            .mountpoint
            .clone()
            .ok_or_else(|| err(NO_SUCH_MOUNTPOINT, "Can't start: no mountpoint set"))?;
        let mp = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| no_such_mountpoint(&id))?;
        let session = self
            .sessions
            .get(&handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "No session associated with this handle..."))?;
        let media = session
            .streams
            .iter()
            .filter_map(|vs| {
                let s = mp.streams.get(vs.index)?;
                Some(MediaOffer {
                    mid: vs.mid.clone(),
                    kind: s.kind.media(),
                    direction: Direction::Sendonly,
                    codecs: vec![s.codec.clone()],
                    stream_id: s
                        .msid
                        .as_deref()
                        .and_then(|m| m.split_whitespace().next())
                        .map(str::to_owned),
                })
            })
            .collect();
        let spec = OfferSpec {
            media,
            data_channels: false,
            ice_restart,
        };
        let event = result_event(json!({ "status": status }));
        let mids = self
            .host
            .push_event(handle, transaction, &event, Some(&JsepOut::Offer(spec)))
            .map_err(|e| err(UNKNOWN_ERROR, format!("Error preparing the offer: {e}")))?;
        let session = self.session_mut(handle)?;
        for (vs, mid) in session.streams.iter_mut().zip(mids) {
            vs.mid = Some(mid);
        }
        session.offer_pending = true;
        Ok(())
    }

    pub(crate) fn start(&mut self, req: &Request) -> SResult<()> {
        let session = self.session_mut(req.handle)?;
        if session.mountpoint.is_none() {
            return Err(err(NO_SUCH_MOUNTPOINT, "Can't start: no mountpoint set"));
        }
        if req.jsep.is_some_and(|j| j.kind == JsepType::Answer) {
            session.answered = true;
            session.offer_pending = false;
        }
        session.paused = false;
        let status = if session.pc_up { "started" } else { "starting" };
        // Existing routes resume; new ones are made with the right state.
        let resuming = status == "started";
        self.refresh_routes(req.handle);
        self.install_routes(req.handle);
        if resuming {
            // After a pause the decoder needs a fresh keyframe, not the next periodic one.
            self.request_keyframes(req.handle);
        }
        let ev = result_event(json!({ "status": status }));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    pub(crate) fn pause(&mut self, req: &Request) -> SResult<()> {
        let session = self.session_mut(req.handle)?;
        if session.mountpoint.is_none() {
            // Janus's text, "start" and all.
            return Err(err(NO_SUCH_MOUNTPOINT, "Can't start: no mountpoint set"));
        }
        session.paused = true;
        self.refresh_routes(req.handle);
        let ev = result_event(json!({"status": "pausing"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    pub(crate) fn configure(&mut self, req: &Request) -> SResult<()> {
        let session = self.session_mut(req.handle)?;
        if session.mountpoint.is_none() {
            return Err(err(
                NO_SUCH_MOUNTPOINT,
                "Can't configure: not on a mountpoint",
            ));
        }
        validate(req.body, CONFIGURE_PARAMS)?;
        let mid = req.body.get("mid").and_then(Value::as_str);
        let chosen = match self.viewing(req.handle) {
            Some((session, mp)) => named_by(session, mp, mid),
            None => {
                return Err(err(
                    NO_SUCH_MOUNTPOINT,
                    "Can't configure: not on a mountpoint",
                ));
            }
        };
        let send = req.body.get("send").and_then(Value::as_bool);
        // The deprecated audio / video keys: Janus reads them as "is it true".
        let old = |k: &str| req.body.get(k).map(|v| v == &Value::Bool(true));
        let (audio, video) = (old("audio"), old("video"));
        let session = self.session_mut(req.handle)?;
        for (vs, chosen) in session.streams.iter_mut().zip(&chosen) {
            match vs.kind {
                Kind::Audio => vs.send = audio.unwrap_or(vs.send),
                Kind::Video => vs.send = video.unwrap_or(vs.send),
            }
            if let Some(s) = send.filter(|_| *chosen) {
                vs.send = s;
            }
        }
        self.configure_layers(req.handle, req.body, &chosen)?;
        self.refresh_routes(req.handle);
        let ev = result_event(json!({"event": "configured"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    pub(crate) fn switch(&mut self, req: &Request) -> SResult<()> {
        let session = self.session_mut(req.handle)?;
        let Some(old) = session.mountpoint.clone() else {
            return Err(err(NO_SUCH_MOUNTPOINT, "Can't switch: not on a mountpoint"));
        };
        let id = self.id_of(req.body)?;
        let target = self
            .mountpoints
            .get(&id)
            .ok_or_else(|| no_such_mountpoint(&id))?;
        let old_mp = self
            .mountpoints
            .get(&old)
            .ok_or_else(|| no_such_mountpoint(&old))?;
        let session = self
            .sessions
            .get(&req.handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "No session associated with this handle..."))?;
        // Janus leaves this check as a TODO; the routes need the same codec per m-line.
        for vs in &session.streams {
            let (Some(a), Some(b)) = (old_mp.streams.get(vs.index), target.streams.get(vs.index))
            else {
                return Err(err(
                    CANT_SWITCH,
                    "Can't switch: the target mountpoint has different media",
                ));
            };
            if a.kind != b.kind || a.codec != b.codec {
                return Err(err(
                    CANT_SWITCH,
                    "Can't switch: the target mountpoint has different media",
                ));
            }
        }
        self.remove_routes(req.handle);
        if let Some(mp) = self.mountpoints.get_mut(&old) {
            mp.viewers.remove(&req.handle);
        }
        if let Some(mp) = self.mountpoints.get_mut(&id) {
            mp.viewers.insert(req.handle);
        }
        let session = self.session_mut(req.handle)?;
        session.mountpoint = Some(id.clone());
        self.install_routes(req.handle);
        self.request_keyframes(req.handle);
        let ev = result_event(json!({"switched": "ok", "id": id.to_json()}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    pub(crate) fn stop(&mut self, req: &Request) -> SResult<()> {
        let session = self.session_mut(req.handle)?;
        if session.stopping || !session.pc_up {
            // As Janus: nothing to stop, no event.
            return Ok(());
        }
        session.stopping = true;
        let ev = result_event(json!({"status": "stopping"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        // The hangup that follows does the rest.
        self.host.close_pc(req.handle);
        Ok(())
    }

    pub fn setup_media(&mut self, handle: HandleId) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        session.pc_up = true;
        session.stopping = false;
        if session.mountpoint.is_none() {
            return;
        }
        self.install_routes(handle);
        // As Janus: a new viewer asks the sources for a keyframe so it does not wait for the
        // next one (the core throttles these per source).
        self.request_keyframes(handle);
        let ev = result_event(json!({"status": "started"}));
        self.push(handle, None, &ev, None);
    }

    pub fn hangup_media(&mut self, handle: HandleId) {
        self.leave_mountpoint(handle);
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.pc_up = false;
            s.stopping = false;
        }
    }

    pub fn destroy_session(&mut self, handle: HandleId) {
        self.leave_mountpoint(handle);
        self.sessions.remove(&handle);
    }

    /// The mountpoint is going away or kicks everyone: tell the viewer, close its
    /// PeerConnection, forget the mountpoint.
    pub(crate) fn end_viewer(&mut self, handle: HandleId, event: &Value) {
        self.push(handle, None, event, None);
        self.host.close_pc(handle);
        self.leave_mountpoint(handle);
    }

    /// Drops the viewer's routes and its place on its mountpoint.
    pub(crate) fn leave_mountpoint(&mut self, handle: HandleId) {
        self.remove_routes(handle);
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        let old = session.mountpoint.take();
        session.streams.clear();
        session.answered = false;
        session.paused = false;
        session.offer_pending = false;
        if let Some(mp) = old.and_then(|id| self.mountpoints.get_mut(&id)) {
            mp.viewers.remove(&handle);
        }
    }

    /// The viewer and the mountpoint it watches.
    pub(crate) fn viewing(&self, handle: HandleId) -> Option<(&Session, &Mountpoint)> {
        let session = self.sessions.get(&handle)?;
        let mp = self.mountpoints.get(session.mountpoint.as_ref()?)?;
        Some((session, mp))
    }

    /// Whether the viewer's stream at `vs` forwards nothing now.
    fn paused(session: &Session, vs: &ViewStream, mp: &Mountpoint) -> bool {
        session.paused || !vs.send || !mp.enabled
    }

    /// Routes for every answered m-line that has none.
    pub(crate) fn install_routes(&mut self, handle: HandleId) {
        let Some((session, mp)) = self.viewing(handle) else {
            return;
        };
        if !session.answered {
            return;
        }
        let new: Vec<(usize, Route)> = session
            .streams
            .iter()
            .enumerate()
            .filter(|(_, vs)| vs.route.is_none())
            .filter_map(|(i, vs)| {
                let route = Route {
                    source: mp.source_ref(vs.index)?,
                    target: MediaRef::new(handle, vs.mid.clone()?),
                    layer: vs.target.choice(),
                    paused: Self::paused(session, vs, mp),
                    auto_layer: false,
                };
                Some((i, route))
            })
            .collect();
        for (i, route) in new {
            match self.host.route_add(&route) {
                Ok(id) => {
                    if let Some(vs) = self
                        .sessions
                        .get_mut(&handle)
                        .and_then(|s| s.streams.get_mut(i))
                    {
                        vs.route = Some(id);
                    }
                }
                Err(e) => self.host.warn(&format!(
                    "handle {handle}: no route for mid {}: {e}",
                    route.target.mid
                )),
            }
        }
    }

    /// Re-applies pause / send / enabled to the viewer's routes.
    pub(crate) fn refresh_routes(&mut self, handle: HandleId) {
        let Some((session, mp)) = self.viewing(handle) else {
            return;
        };
        let updates: Vec<(RouteId, LayerChoice, bool)> = session
            .streams
            .iter()
            .filter_map(|vs| Some((vs.route?, vs.target.choice(), Self::paused(session, vs, mp))))
            .collect();
        for (id, layer, paused) in updates {
            if let Err(e) = self.host.route_update(id, layer, paused) {
                self.host
                    .warn(&format!("handle {handle}: route {id} not updated: {e}"));
            }
        }
    }

    fn remove_routes(&mut self, handle: HandleId) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        let ids: Vec<RouteId> = session
            .streams
            .iter_mut()
            .filter_map(|vs| vs.route.take())
            .collect();
        for id in ids {
            self.host.route_remove(id);
        }
    }

    /// Asks the mountpoint's sender for a keyframe on every video stream the viewer gets.
    fn request_keyframes(&mut self, handle: HandleId) {
        let Some((session, mp)) = self.viewing(handle) else {
            return;
        };
        let sources: Vec<MediaRef> = session
            .streams
            .iter()
            .filter(|vs| vs.kind == Kind::Video)
            .filter_map(|vs| mp.source_ref(vs.index))
            .collect();
        for s in sources {
            self.host.request_keyframe(&s);
        }
    }
}
