//! Subscribers: one PeerConnection that receives streams of one or many publishers. The
//! plugin offers (one m-line per subscribed stream, plus the data channel), the client
//! answers with `start`, and media flows by native routes publisher → subscriber.

use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::error::*;
use crate::events;
use crate::publisher::{StreamKind, data_mline};
use crate::room::Role;
use crate::{Request, VideoRoom};
use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::ids::Id;

/// The publisher stream a subscriber m-line carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedRef {
    pub id: Id,
    pub handle: HandleId,
    pub mid: String,
    pub codec: Option<String>,
    pub display: Option<String>,
    pub description: Option<String>,
    pub simulcast: bool,
    pub svc: bool,
}

/// The layers a subscriber asked for. For SVC feeds `substream` is the spatial layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub substream: Option<u8>,
    pub temporal: Option<u8>,
    pub fallback: Option<u64>,
}

/// One m-line of a subscriber's PeerConnection (a "slot").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubStream {
    pub kind: StreamKind,
    pub mindex: usize,
    /// The mid the core gave the m-line; none until the first offer with it.
    pub mid: Option<String>,
    /// None: an inactive slot (its publisher went away or it was unsubscribed).
    pub feed: Option<FeedRef>,
    /// The data slot: the publishers whose data it relays.
    pub data_sources: Vec<DataSource>,
    pub crossrefid: Option<String>,
    pub send: bool,
    pub targets: Targets,
    /// The layers the route forwards now (substream/spatial, temporal), from the core.
    pub current: (Option<u8>, Option<u8>),
    pub route: Option<RouteId>,
}

impl SubStream {
    pub fn active(&self) -> bool {
        match self.kind {
            StreamKind::Data => !self.data_sources.is_empty(),
            _ => self.feed.is_some(),
        }
    }

    /// The route's layer choice. Janus's default targets are the top layers (2); a
    /// simulcast substream left unset means "the highest present" (same, but robust to
    /// publishers with fewer layers). Explicit temporal and SVC spatial targets let the
    /// router report the layers it forwards, which the demos wait for.
    fn layer(&self) -> LayerChoice {
        match &self.feed {
            Some(f) if f.svc => LayerChoice {
                substream: Some(self.targets.substream.unwrap_or(2)),
                temporal: Some(self.targets.temporal.unwrap_or(2)),
            },
            Some(f) if f.simulcast => LayerChoice {
                substream: self.targets.substream,
                temporal: Some(self.targets.temporal.unwrap_or(2)),
            },
            _ => LayerChoice::all(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscriber {
    pub room: Id,
    pub pvt_id: Option<u32>,
    pub use_msid: bool,
    pub autoupdate: bool,
    pub streams: Vec<SubStream>,
    /// An offer went out and its answer has not come yet.
    pub offer_pending: bool,
    /// Something changed while an offer was pending: offer again after the answer.
    pub update_pending: bool,
    /// That next offer restarts ICE (a `configure` with `restart` came meanwhile).
    pub restart_pending: bool,
    /// A publisher went while `autoupdate` was off: the slots changed unannounced.
    pub skipped_autoupdate: bool,
    /// An answer came at least once (routes may run).
    pub started: bool,
    pub paused: bool,
}

impl Subscriber {
    pub fn receives_data_of(&self, publisher: HandleId) -> bool {
        self.started
            && !self.paused
            && self.streams.iter().any(|s| {
                s.kind == StreamKind::Data
                    && s.send
                    && s.data_sources.iter().any(|(_, h)| *h == publisher)
            })
    }
}

/// A publisher whose data a subscriber's data slot relays: (its id, its handle).
type DataSource = (Id, HandleId);

/// A stream wanted by `join` / `subscribe`.
#[derive(Debug, Clone)]
struct Wanted {
    feed: FeedRef,
    kind: StreamKind,
    crossrefid: Option<String>,
    send: bool,
    targets: Targets,
}

const JOIN_PARAMS: &[Param] = &[
    Param::optional("private_id", ParamKind::PositiveInteger),
    Param::optional("use_msid", ParamKind::Bool),
    Param::optional("autoupdate", ParamKind::Bool),
    Param::optional("streams", ParamKind::Array),
    Param::optional("audio", ParamKind::Bool),
    Param::optional("video", ParamKind::Bool),
    Param::optional("data", ParamKind::Bool),
    Param::optional("offer_audio", ParamKind::Bool),
    Param::optional("offer_video", ParamKind::Bool),
    Param::optional("offer_data", ParamKind::Bool),
    Param::optional("substream", ParamKind::PositiveInteger),
    Param::optional("temporal", ParamKind::PositiveInteger),
    Param::optional("spatial_layer", ParamKind::PositiveInteger),
    Param::optional("temporal_layer", ParamKind::PositiveInteger),
    Param::optional("fallback", ParamKind::PositiveInteger),
    Param::optional("close_pc", ParamKind::Bool),
];

const STREAM_PARAMS: &[Param] = &[
    Param::optional("mid", ParamKind::String),
    Param::optional("crossrefid", ParamKind::String),
    Param::optional("send", ParamKind::Bool),
    Param::optional("substream", ParamKind::PositiveInteger),
    Param::optional("temporal", ParamKind::PositiveInteger),
    Param::optional("spatial_layer", ParamKind::PositiveInteger),
    Param::optional("temporal_layer", ParamKind::PositiveInteger),
    Param::optional("fallback", ParamKind::PositiveInteger),
    Param::optional("min_delay", ParamKind::Integer),
    Param::optional("max_delay", ParamKind::Integer),
];

const CONFIGURE_PARAMS: &[Param] = &[
    Param::optional("streams", ParamKind::Array),
    Param::optional("mid", ParamKind::String),
    Param::optional("send", ParamKind::Bool),
    Param::optional("audio", ParamKind::Bool),
    Param::optional("video", ParamKind::Bool),
    Param::optional("data", ParamKind::Bool),
    Param::optional("substream", ParamKind::PositiveInteger),
    Param::optional("temporal", ParamKind::PositiveInteger),
    Param::optional("spatial_layer", ParamKind::PositiveInteger),
    Param::optional("temporal_layer", ParamKind::PositiveInteger),
    Param::optional("fallback", ParamKind::PositiveInteger),
    Param::optional("audio_level_average", ParamKind::PositiveInteger),
    Param::optional("audio_active_packets", ParamKind::PositiveInteger),
    Param::optional("min_delay", ParamKind::Integer),
    Param::optional("max_delay", ParamKind::Integer),
    Param::optional("restart", ParamKind::Bool),
    Param::optional("update", ParamKind::Bool),
    Param::optional("keyframe", ParamKind::Bool),
];

const SWITCH_PARAMS: &[Param] = &[
    Param::required("mid", ParamKind::String),
    Param::required("sub_mid", ParamKind::String),
];

const UNSUBSCRIBE_PARAMS: &[Param] = &[
    Param::optional("mid", ParamKind::String),
    Param::optional("sub_mid", ParamKind::String),
];

fn layer_of(v: Option<&Value>) -> Option<u8> {
    // Ranges are checked by `check_layers` first.
    v.and_then(Value::as_u64).map(|n| n.min(2) as u8)
}

/// Janus refuses layer targets beyond the three layers there are.
fn check_layers(m: &Map<String, Value>) -> VrResult<()> {
    let bad = |k: &str| m.get(k).and_then(Value::as_u64).is_some_and(|n| n > 2);
    if bad("substream") || bad("spatial_layer") {
        return Err(err(
            INVALID_ELEMENT,
            "Invalid value (substream/spatial_layer should be 0, 1 or 2)",
        ));
    }
    if bad("temporal") || bad("temporal_layer") {
        return Err(err(
            INVALID_ELEMENT,
            "Invalid value (temporal/temporal_layer should be 0, 1 or 2)",
        ));
    }
    Ok(())
}

/// The layer targets of a stream entry (or of a flat configure body): simulcast feeds
/// read `substream`/`temporal`, SVC feeds `spatial_layer`/`temporal_layer`.
fn targets_of(m: &Map<String, Value>, svc: bool, base: Targets) -> Targets {
    let (s, t) = if svc {
        ("spatial_layer", "temporal_layer")
    } else {
        ("substream", "temporal")
    };
    Targets {
        substream: layer_of(m.get(s)).or(base.substream),
        temporal: layer_of(m.get(t)).or(base.temporal),
        fallback: m.get("fallback").and_then(Value::as_u64).or(base.fallback),
    }
}

fn objects<'a>(v: &'a Value, name: &str) -> VrResult<Vec<&'a Map<String, Value>>> {
    let list = v.as_array().ok_or_else(|| {
        err(
            INVALID_ELEMENT,
            format!("Invalid element type ({name} should be an array)"),
        )
    })?;
    list.iter()
        .map(|e| {
            e.as_object().ok_or_else(|| {
                err(
                    INVALID_ELEMENT,
                    format!("Invalid element type ({name} should be an array of objects)"),
                )
            })
        })
        .collect()
}

impl<H: Host> VideoRoom<H> {
    fn subscriber(&self, handle: HandleId) -> Option<&Subscriber> {
        self.sessions.get(&handle).and_then(|s| s.subscriber())
    }

    fn subscriber_mut(&mut self, handle: HandleId) -> Option<&mut Subscriber> {
        self.sessions
            .get_mut(&handle)
            .and_then(|s| s.subscriber_mut())
    }

    /// Resolves one `streams` entry (`{feed, mid?, ...}`) of `room` into the media streams
    /// it names and, when it names the publisher's data, that publisher.
    fn resolve_entry(
        &self,
        room: &Id,
        entry: &Map<String, Value>,
        kinds: Option<&[StreamKind]>,
    ) -> VrResult<(Vec<Wanted>, Option<DataSource>)> {
        let feed_id = required_id(entry, "feed", self.settings.string_ids)?;
        validate(entry, STREAM_PARAMS)?;
        // As Janus: only publishers whose PeerConnection is up can be subscribed to.
        let (handle, p) = self
            .find_publisher(room, &feed_id)
            .filter(|(_, p)| p.publishing)
            .ok_or_else(|| no_such_feed(&feed_id))?;
        let mid = entry.get("mid").and_then(Value::as_str);
        let streams: Vec<_> = match mid {
            Some(m) => {
                let s = p.stream(m).ok_or_else(|| {
                    err(
                        NO_SUCH_FEED,
                        format!("No such mid '{m}' in feed ({feed_id})"),
                    )
                })?;
                vec![s]
            }
            None => p.streams.iter().filter(|s| !s.disabled).collect(),
        };
        check_layers(entry)?;
        let mut wanted = Vec::new();
        let mut data = None;
        for s in streams {
            if kinds.is_some_and(|k| !k.contains(&s.kind)) {
                continue;
            }
            if s.kind == StreamKind::Data {
                data = Some((feed_id.clone(), handle));
                continue;
            }
            wanted.push(Wanted {
                feed: FeedRef {
                    id: feed_id.clone(),
                    handle,
                    mid: s.mid.clone(),
                    codec: s.codec.clone(),
                    display: p.display.clone(),
                    description: s.description.clone(),
                    simulcast: s.simulcast,
                    svc: s.svc,
                },
                kind: s.kind,
                crossrefid: entry
                    .get("crossrefid")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                send: entry.get("send").and_then(Value::as_bool).unwrap_or(true),
                targets: targets_of(entry, s.svc, Targets::default()),
            });
        }
        Ok((wanted, data))
    }

    fn resolve_entries(
        &self,
        room: &Id,
        entries: &[&Map<String, Value>],
    ) -> VrResult<(Vec<Wanted>, Vec<DataSource>)> {
        let mut wanted = Vec::new();
        let mut data = Vec::new();
        for e in entries {
            let (w, d) = self.resolve_entry(room, e, None)?;
            wanted.extend(w);
            data.extend(d);
        }
        Ok((wanted, data))
    }

    pub(crate) fn join_subscriber(&mut self, req: &Request) -> VrResult<()> {
        let body = req.body;
        let string_ids = self.settings.string_ids;
        let room_id = required_id(body, "room", string_ids)?;
        validate(body, JOIN_PARAMS)?;
        let legacy_feed = optional_id(body, "feed", string_ids)?;
        let room = self.room(&room_id)?;
        check_secret(room.cfg.pin.as_deref(), body, "pin")?;
        let pvt_id = body
            .get("private_id")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok());
        let pvt_valid = pvt_id.is_some_and(|pvt| {
            room.participants.values().any(|h| {
                self.sessions
                    .get(h)
                    .and_then(|s| s.publisher())
                    .is_some_and(|p| p.private_id == pvt)
            })
        });
        let require_pvtid = room.cfg.require_pvtid;
        let mut extra = Map::new();
        let streams = body
            .get("streams")
            .filter(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        let (wanted, data) = if let Some(streams) = streams {
            let entries = objects(streams, "streams")?;
            self.resolve_entries(&room_id, &entries)?
        } else if let Some(feed) = legacy_feed {
            // The deprecated single-feed form (screensharingtest).
            let flag = |a: &str, b: &str| {
                body.get(a)
                    .or_else(|| body.get(b))
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            };
            let mut kinds = Vec::new();
            if flag("audio", "offer_audio") {
                kinds.push(StreamKind::Audio);
            }
            if flag("video", "offer_video") {
                kinds.push(StreamKind::Video);
            }
            if flag("data", "offer_data") {
                kinds.push(StreamKind::Data);
            }
            let mut entry = body.clone();
            entry.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "substream" | "temporal" | "spatial_layer" | "temporal_layer" | "fallback"
                )
            });
            entry.insert("feed".into(), feed.to_json());
            let (w, d) = self.resolve_entry(&room_id, &entry, Some(&kinds))?;
            let display = self
                .find_publisher(&room_id, &feed)
                .and_then(|(_, p)| p.display.clone());
            extra.insert("id".into(), feed.to_json());
            if let Some(d) = display {
                extra.insert("display".into(), json!(d));
            }
            extra.insert("warning".into(), json!("deprecated_api"));
            (w, d.into_iter().collect())
        } else {
            return Err(err(
                MISSING_ELEMENT,
                "At least one between 'streams' and 'feed' must be specified",
            ));
        };
        if require_pvtid && !pvt_valid {
            return Err(err(
                UNAUTHORIZED,
                "Unauthorized (this room requires a valid private_id)",
            ));
        }
        if wanted.is_empty() && data.is_empty() {
            return Err(err(INVALID_SDP, "Can't offer an SDP with no stream"));
        }
        let mut sub = Subscriber {
            room: room_id.clone(),
            pvt_id,
            use_msid: body
                .get("use_msid")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            autoupdate: body
                .get("autoupdate")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            streams: Vec::new(),
            offer_pending: false,
            update_pending: false,
            restart_pending: false,
            skipped_autoupdate: false,
            started: false,
            paused: false,
        };
        add_streams(&mut sub, wanted, data);
        self.room_mut(&room_id)?.subscribers.insert(req.handle);
        if let Some(s) = self.sessions.get_mut(&req.handle) {
            s.role = Role::Subscriber(Box::new(sub));
        }
        let mut attached = events::room_event("attached", &room_id, json!({}));
        if let Value::Object(m) = &mut attached {
            m.extend(extra);
        }
        if let Err(e) = self.send_offer(req.handle, Some(req.transaction), attached, true, false) {
            self.subscriber_gone(req.handle);
            return Err(e);
        }
        Ok(())
    }

    /// Offers the subscriber's current streams; the event (`attached` / `updated`) names
    /// the mids the core gave them.
    pub(crate) fn send_offer(
        &mut self,
        handle: HandleId,
        transaction: Option<&str>,
        mut event: Value,
        with_streams: bool,
        ice_restart: bool,
    ) -> VrResult<()> {
        let sub = self
            .subscriber_mut(handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        // Slots never offered and no longer wanted are dropped, not offered inactive.
        sub.streams.retain(|s| s.mid.is_some() || s.active());
        for (i, s) in sub.streams.iter_mut().enumerate() {
            s.mindex = i;
        }
        let use_msid = sub.use_msid;
        let mut media = Vec::new();
        let mut data_channels = false;
        for s in &sub.streams {
            let Some(kind) = s.kind.media() else {
                data_channels |= s.active();
                continue;
            };
            media.push(MediaOffer {
                mid: s.mid.clone(),
                kind,
                direction: if s.active() {
                    Direction::Sendonly
                } else {
                    Direction::Inactive
                },
                codecs: s
                    .feed
                    .as_ref()
                    .and_then(|f| f.codec.clone())
                    .into_iter()
                    .collect(),
                stream_id: match (&s.feed, use_msid) {
                    (Some(f), true) => Some(format!("janus{}", f.id)),
                    _ => None,
                },
            });
        }
        let spec = OfferSpec {
            media,
            data_channels,
            ice_restart,
        };
        let mids = self
            .host
            .create_offer(handle, &spec)
            .map_err(|e| err(UNKNOWN_ERROR, format!("Error preparing the offer: {e}")))?;
        let sub = self
            .subscriber_mut(handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "subscriber gone"))?;
        let mut mids = mids.into_iter();
        for s in sub
            .streams
            .iter_mut()
            .filter(|s| s.kind != StreamKind::Data)
        {
            if let Some(mid) = mids.next() {
                s.mid = Some(mid);
            }
        }
        // A core that also names the data channel m-line does so after the media ones
        // (otherwise its mid is learnt from the answer).
        if let Some(mid) = mids.next()
            && let Some(d) = sub.streams.iter_mut().find(|s| s.kind == StreamKind::Data)
        {
            d.mid = Some(mid);
        }
        sub.offer_pending = true;
        sub.update_pending = false;
        sub.restart_pending = false;
        if with_streams {
            event["streams"] = events::sub_streams(sub);
        }
        self.host
            .push_event(handle, transaction, &event, Some(&JsepOut::PreparedOffer))
            .map_err(|e| err(UNKNOWN_ERROR, format!("Error sending the offer: {e}")))?;
        Ok(())
    }

    /// After a change of subscriptions: offer again now, or after the pending answer.
    fn renegotiate(&mut self, handle: HandleId, transaction: Option<&str>) {
        let Some(sub) = self.subscriber_mut(handle) else {
            return;
        };
        if sub.offer_pending {
            sub.update_pending = true;
            return;
        }
        let updated = events::room_event("updated", &sub.room, json!({}));
        if let Err(e) = self.send_offer(handle, transaction, updated, true, false) {
            self.host.warn(&format!(
                "handle {handle}: cannot renegotiate: {}",
                e.message
            ));
        }
    }

    pub(crate) fn start(&mut self, req: &Request) -> VrResult<()> {
        let answer = match req.jsep {
            Some(j) if j.kind == JsepType::Answer => Some(j),
            Some(_) => {
                return Err(err(INVALID_SDP_TYPE, "Only publishers send offers"));
            }
            None => None,
        };
        let sub = self
            .subscriber_mut(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        if let Some(a) = answer {
            sub.offer_pending = false;
            sub.started = true;
            if let Some((_, mid)) = data_mline(&a.sdp)
                && let Some(d) = sub.streams.iter_mut().find(|s| s.kind == StreamKind::Data)
            {
                d.mid = Some(mid);
            }
        }
        sub.paused = false;
        let room = sub.room.clone();
        let again = sub.update_pending && !sub.offer_pending;
        let restart = sub.restart_pending;
        self.refresh_routes(req.handle);
        self.install_routes(req.handle);
        let ev = events::event(&room, json!({"started": "ok"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        let updated = events::room_event("updated", &room, json!({}));
        if again && let Err(e) = self.send_offer(req.handle, None, updated, true, restart) {
            self.host.warn(&format!(
                "handle {}: cannot renegotiate: {}",
                req.handle, e.message
            ));
        }
        Ok(())
    }

    pub(crate) fn pause(&mut self, req: &Request) -> VrResult<()> {
        let sub = self
            .subscriber_mut(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        sub.paused = true;
        let room = sub.room.clone();
        self.refresh_routes(req.handle);
        let ev = events::event(&room, json!({"paused": "ok"}));
        self.push(req.handle, Some(req.transaction), &ev, None);
        Ok(())
    }

    /// Where a subscriber m-line's media comes from, the layer and whether it is paused;
    /// none when nothing can flow.
    fn route_params(
        &self,
        sub: &Subscriber,
        ss: &SubStream,
    ) -> Option<(MediaRef, LayerChoice, bool)> {
        let feed = ss.feed.as_ref()?;
        let p = self.sessions.get(&feed.handle)?.publisher()?;
        let ps = p.stream(&feed.mid)?;
        let paused = sub.paused || !ss.send || !p.forwards(ps);
        Some((
            MediaRef::new(feed.handle, feed.mid.clone()),
            ss.layer(),
            paused,
        ))
    }

    /// Installs the routes of every answered, active m-line that has none.
    /// Asks every video feed of a subscriber for a keyframe, so its decoder starts (or follows
    /// a switch) at once instead of waiting for the publisher's next periodic keyframe. The
    /// core throttles these per source.
    pub(crate) fn request_feed_keyframes(&mut self, handle: HandleId) {
        let Some(sub) = self.subscriber(handle) else {
            return;
        };
        let sources: Vec<MediaRef> = sub
            .streams
            .iter()
            .filter(|s| s.kind == StreamKind::Video)
            .filter_map(|s| {
                s.feed
                    .as_ref()
                    .map(|f| MediaRef::new(f.handle, f.mid.clone()))
            })
            .collect();
        for s in sources {
            self.host.request_keyframe(&s);
        }
    }

    pub(crate) fn install_routes(&mut self, handle: HandleId) {
        let Some(sub) = self.subscriber(handle) else {
            return;
        };
        if !sub.started {
            return;
        }
        let auto_layer = self.rooms.get(&sub.room).is_some_and(|r| r.cfg.auto_layer);
        let mut new = Vec::new();
        for (i, ss) in sub.streams.iter().enumerate() {
            if ss.route.is_some() || ss.kind == StreamKind::Data {
                continue;
            }
            let (Some(mid), Some((source, layer, paused))) = (&ss.mid, self.route_params(sub, ss))
            else {
                continue;
            };
            new.push((
                i,
                Route {
                    source,
                    target: MediaRef::new(handle, mid.clone()),
                    layer,
                    paused,
                    auto_layer,
                },
            ));
        }
        for (i, route) in new {
            match self.host.route_add(&route) {
                Ok(id) => {
                    self.routes.insert(id, (handle, route.target.mid.clone()));
                    if let Some(ss) = self
                        .subscriber_mut(handle)
                        .and_then(|s| s.streams.get_mut(i))
                    {
                        ss.route = Some(id);
                    }
                }
                Err(e) => self.host.warn(&format!(
                    "handle {handle}: no route for mid {}: {e}",
                    route.target.mid
                )),
            }
        }
    }

    /// Re-applies layer and pause state to the subscriber's routes.
    pub(crate) fn refresh_routes(&mut self, handle: HandleId) {
        let Some(sub) = self.subscriber(handle) else {
            return;
        };
        let updates: Vec<(RouteId, LayerChoice, bool)> = sub
            .streams
            .iter()
            .filter_map(|ss| {
                let id = ss.route?;
                let (_, layer, paused) = self.route_params(sub, ss)?;
                Some((id, layer, paused))
            })
            .collect();
        for (id, layer, paused) in updates {
            if let Err(e) = self.host.route_update(id, layer, paused) {
                self.host
                    .warn(&format!("handle {handle}: route {id} update failed: {e}"));
            }
        }
    }

    /// Re-applies pause state on every route fed by publisher `pub_handle` (its switches,
    /// moderation).
    pub(crate) fn refresh_feed_routes(&mut self, pub_handle: HandleId) {
        let Some(room) = self
            .sessions
            .get(&pub_handle)
            .and_then(|s| s.publisher())
            .and_then(|p| self.rooms.get(&p.room))
        else {
            return;
        };
        let subs: Vec<HandleId> = room.subscribers.iter().copied().collect();
        for h in subs {
            let fed = self.subscriber(h).is_some_and(|s| {
                s.streams
                    .iter()
                    .any(|ss| ss.feed.as_ref().is_some_and(|f| f.handle == pub_handle))
            });
            if fed {
                self.refresh_routes(h);
            }
        }
    }

    fn remove_stream_route(&mut self, handle: HandleId, idx: usize) {
        let route = self
            .subscriber_mut(handle)
            .and_then(|s| s.streams.get_mut(idx))
            .and_then(|ss| {
                ss.current = (None, None);
                ss.route.take()
            });
        if let Some(id) = route {
            self.host.route_remove(id);
            self.routes.remove(&id);
        }
    }

    /// The subscriber's room was destroyed: its routes go, its slots turn inactive.
    pub(crate) fn room_destroyed_for_subscriber(&mut self, handle: HandleId) {
        self.remove_all_routes(handle);
        if let Some(sub) = self.subscriber_mut(handle) {
            for ss in &mut sub.streams {
                ss.feed = None;
                ss.data_sources.clear();
            }
        }
    }

    fn remove_all_routes(&mut self, handle: HandleId) {
        let n = self.subscriber(handle).map_or(0, |s| s.streams.len());
        for i in 0..n {
            self.remove_stream_route(handle, i);
        }
    }

    /// A publisher stopped publishing (`mids` none) or dropped some streams: the slots of
    /// every subscriber fed by them become inactive, and subscribers with `autoupdate`
    /// get an `updated` offer.
    pub(crate) fn feed_gone(&mut self, room: &Id, pub_handle: HandleId, mids: Option<&[String]>) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let subs: Vec<HandleId> = r.subscribers.iter().copied().collect();
        for h in subs {
            let Some(sub) = self.subscriber(h) else {
                continue;
            };
            let hit: Vec<usize> = sub
                .streams
                .iter()
                .enumerate()
                .filter(|(_, ss)| {
                    ss.feed.as_ref().is_some_and(|f| {
                        f.handle == pub_handle && mids.is_none_or(|m| m.contains(&f.mid))
                    })
                })
                .map(|(i, _)| i)
                .collect();
            let data_hit = mids.is_none()
                && sub.streams.iter().any(|ss| {
                    ss.kind == StreamKind::Data
                        && ss.data_sources.iter().any(|(_, ph)| *ph == pub_handle)
                });
            if hit.is_empty() && !data_hit {
                continue;
            }
            for i in &hit {
                self.remove_stream_route(h, *i);
            }
            let Some(sub) = self.subscriber_mut(h) else {
                continue;
            };
            let media_hit = !hit.is_empty();
            for i in hit {
                sub.streams[i].feed = None;
            }
            if data_hit {
                // The data m-line stays (Janus renegotiates for audio/video slots only).
                for ss in sub
                    .streams
                    .iter_mut()
                    .filter(|s| s.kind == StreamKind::Data)
                {
                    ss.data_sources.retain(|(_, ph)| *ph != pub_handle);
                }
            }
            if !media_hit {
                continue;
            }
            if sub.autoupdate {
                self.renegotiate(h, None);
            } else {
                // The next `update` renegotiates even if it changes nothing itself.
                sub.skipped_autoupdate = true;
            }
        }
    }

    pub(crate) fn configure_subscriber(&mut self, req: &Request) -> VrResult<()> {
        let body = req.body;
        validate(body, CONFIGURE_PARAMS)?;
        let sub = self
            .subscriber(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        let entries: Vec<&Map<String, Value>> = match body.get("streams") {
            Some(v) => objects(v, "streams")?,
            None => vec![body],
        };
        for e in &entries {
            validate(e, STREAM_PARAMS)?;
            match e.get("mid").and_then(Value::as_str) {
                None if entries.len() > 1 => {
                    return Err(err(
                        INVALID_ELEMENT,
                        "Invalid value (mid can't be null in a streams array)",
                    ));
                }
                Some(mid) if !sub.streams.iter().any(|s| s.mid.as_deref() == Some(mid)) => {
                    return Err(err(
                        NO_SUCH_FEED,
                        format!("No such mid '{mid}' in subscription"),
                    ));
                }
                _ => {}
            }
            check_layers(e)?;
        }
        let room = sub.room.clone();
        let mut layer_events = Vec::new();
        let sub = self
            .subscriber_mut(req.handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "subscriber gone"))?;
        for e in &entries {
            let mid = e.get("mid").and_then(Value::as_str);
            for ss in sub
                .streams
                .iter_mut()
                .filter(|s| mid.is_none() || s.mid.as_deref() == mid)
            {
                if let Some(send) = e.get("send").and_then(Value::as_bool) {
                    ss.send = send;
                }
                let legacy = match ss.kind {
                    StreamKind::Audio => "audio",
                    StreamKind::Video => "video",
                    StreamKind::Data => "data",
                };
                if let Some(on) = e.get(legacy).and_then(Value::as_bool) {
                    ss.send = on;
                }
                let Some(feed) = &ss.feed else { continue };
                if !(feed.simulcast || feed.svc) {
                    continue;
                }
                let before = ss.targets;
                ss.targets = targets_of(e, feed.svc, ss.targets);
                // Janus tells at once when the asked layer is already the one forwarded.
                if let Some(m) = &ss.mid {
                    let (sk, tk) = if feed.svc {
                        ("spatial_layer", "temporal_layer")
                    } else {
                        ("substream", "temporal")
                    };
                    if e.contains_key(sk)
                        && ss.targets.substream.is_some()
                        && ss.targets.substream == ss.current.0
                    {
                        layer_events.push(json!({"mid": m, sk: ss.current.0}));
                    }
                    if e.contains_key(tk)
                        && ss.targets.temporal.is_some()
                        && ss.targets.temporal == ss.current.1
                    {
                        layer_events.push(json!({"mid": m, tk: ss.current.1}));
                    }
                }
                let _ = before;
            }
        }
        self.refresh_routes(req.handle);
        let configured = events::event(&room, json!({"configured": "ok"}));
        let restart = body.get("restart").and_then(Value::as_bool) == Some(true);
        let update = body.get("update").and_then(Value::as_bool) == Some(true);
        if restart || update {
            // As Janus: the offer rides on `configured`; while an offer is unanswered the
            // new one waits for the answer (and nothing is sent now).
            let pending = self.subscriber_mut(req.handle).is_some_and(|s| {
                if s.offer_pending {
                    s.update_pending = true;
                    s.restart_pending |= restart;
                }
                s.offer_pending
            });
            if !pending {
                self.send_offer(
                    req.handle,
                    Some(req.transaction),
                    configured,
                    false,
                    restart,
                )?;
            }
        } else {
            self.push(req.handle, Some(req.transaction), &configured, None);
        }
        for e in layer_events {
            let ev = events::event(&room, e);
            self.push(req.handle, None, &ev, None);
        }
        Ok(())
    }

    pub(crate) fn switch(&mut self, req: &Request) -> VrResult<()> {
        let string_ids = self.settings.string_ids;
        let list = req
            .body
            .get("streams")
            .ok_or_else(|| err(MISSING_ELEMENT, "Missing mandatory element (streams)"))?;
        let entries = objects(list, "streams")?;
        if entries.is_empty() {
            return Err(err(INVALID_ELEMENT, "Empty switch list"));
        }
        let sub = self
            .subscriber(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        let room = sub.room.clone();
        let mut changes = Vec::new();
        let mut skipped = Vec::new();
        for e in &entries {
            let feed_id = required_id(e, "feed", string_ids)?;
            validate(e, SWITCH_PARAMS)?;
            let mid = e["mid"].as_str().unwrap_or_default();
            let sub_mid = e["sub_mid"].as_str().unwrap_or_default();
            let (ph, p) = self
                .find_publisher(&room, &feed_id)
                .filter(|(_, p)| p.publishing)
                .ok_or_else(|| no_such_feed(&feed_id))?;
            let ps = p.stream(mid).ok_or_else(|| {
                err(
                    NO_SUCH_FEED,
                    format!("No such mid '{mid}' in feed ({feed_id})"),
                )
            })?;
            let Some(idx) = sub
                .streams
                .iter()
                .position(|s| s.mid.as_deref() == Some(sub_mid))
            else {
                skipped.push(format!("switch: no subscription mid '{sub_mid}', skipped"));
                continue;
            };
            if sub.streams[idx].kind != ps.kind || ps.kind == StreamKind::Data {
                skipped.push(format!(
                    "switch: '{sub_mid}' is not a {} slot, skipped",
                    ps.kind.as_str()
                ));
                continue;
            }
            changes.push((
                idx,
                FeedRef {
                    id: feed_id.clone(),
                    handle: ph,
                    mid: mid.to_owned(),
                    codec: ps.codec.clone(),
                    display: p.display.clone(),
                    description: ps.description.clone(),
                    simulcast: ps.simulcast,
                    svc: ps.svc,
                },
            ));
        }
        for s in skipped {
            self.host.debug(&s);
        }
        let mut reactivated = false;
        let n = changes.len();
        for (idx, feed) in changes {
            self.remove_stream_route(req.handle, idx);
            if let Some(ss) = self
                .subscriber_mut(req.handle)
                .and_then(|s| s.streams.get_mut(idx))
            {
                reactivated |= ss.feed.is_none();
                ss.feed = Some(feed);
            }
        }
        self.install_routes(req.handle);
        // A keyframe from each new source, so the switch shows at once.
        self.request_feed_keyframes(req.handle);
        let sub = self
            .subscriber(req.handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "subscriber gone"))?;
        let ev = events::event(
            &room,
            json!({"switched": "ok", "changes": n, "streams": events::sub_streams(sub)}),
        );
        self.push(req.handle, Some(req.transaction), &ev, None);
        if reactivated {
            self.renegotiate(req.handle, None);
        }
        Ok(())
    }

    /// `subscribe`, `unsubscribe` and `update`.
    pub(crate) fn update(&mut self, req: &Request, request: &str) -> VrResult<()> {
        let body = req.body;
        let (sub_list, unsub_list) =
            match request {
                "subscribe" => (
                    Some(body.get("streams").ok_or_else(|| {
                        err(MISSING_ELEMENT, "Missing mandatory element (streams)")
                    })?),
                    None,
                ),
                "unsubscribe" => (
                    None,
                    Some(body.get("streams").ok_or_else(|| {
                        err(MISSING_ELEMENT, "Missing mandatory element (streams)")
                    })?),
                ),
                _ => {
                    let s = body.get("subscribe");
                    let u = body.get("unsubscribe");
                    if s.is_none() && u.is_none() {
                        return Err(err(
                            MISSING_ELEMENT,
                            "At least one of either 'subscribe' or 'unsubscribe' must be present",
                        ));
                    }
                    (s, u)
                }
            };
        let sub = self
            .subscriber(req.handle)
            .ok_or_else(|| err(JOIN_FIRST, "Invalid request on unconfigured participant"))?;
        let room = sub.room.clone();
        let string_ids = self.settings.string_ids;
        let (wanted, data) = match sub_list {
            Some(v) => {
                let entries = objects(v, "subscribe")?;
                if entries.is_empty() {
                    return Err(err(INVALID_ELEMENT, "Empty subscription list"));
                }
                self.resolve_entries(&room, &entries)?
            }
            None => (Vec::new(), Vec::new()),
        };
        // Unsubscriptions: (feed, feed mid) or sub_mid.
        let mut drops: Vec<(Option<Id>, Option<String>, Option<String>)> = Vec::new();
        if let Some(v) = unsub_list {
            let entries = objects(v, "unsubscribe")?;
            if entries.is_empty() {
                return Err(err(INVALID_ELEMENT, "Empty unsubscription list"));
            }
            for e in entries {
                validate(e, UNSUBSCRIBE_PARAMS)?;
                let feed = optional_id(e, "feed", string_ids)?;
                let mid = e.get("mid").and_then(Value::as_str).map(str::to_owned);
                let sub_mid = e.get("sub_mid").and_then(Value::as_str).map(str::to_owned);
                if feed.is_none() && sub_mid.is_none() {
                    return Err(err(
                        MISSING_ELEMENT,
                        "Missing mandatory element (feed or sub_mid)",
                    ));
                }
                drops.push((feed, mid, sub_mid));
            }
        }
        let mut changed = false;
        let hit: Vec<usize> = sub
            .streams
            .iter()
            .enumerate()
            .filter(|(_, ss)| {
                drops.iter().any(|(feed, mid, sub_mid)| {
                    if let Some(sm) = sub_mid {
                        return ss.mid.as_deref() == Some(sm.as_str()) && ss.active();
                    }
                    ss.feed.as_ref().is_some_and(|f| {
                        Some(&f.id) == feed.as_ref() && mid.as_ref().is_none_or(|m| *m == f.mid)
                    })
                })
            })
            .map(|(i, _)| i)
            .collect();
        for i in &hit {
            self.remove_stream_route(req.handle, *i);
        }
        let sub = self
            .subscriber_mut(req.handle)
            .ok_or_else(|| err(UNKNOWN_ERROR, "subscriber gone"))?;
        // New streams first: they may take slots that were already inactive, not the ones
        // this request frees (an m-line that stays sendonly would be no change to offer).
        changed |= !wanted.is_empty() || !data.is_empty();
        changed |= std::mem::take(&mut sub.skipped_autoupdate);
        add_streams(sub, wanted, data);
        for i in hit {
            let ss = &mut sub.streams[i];
            if ss.kind == StreamKind::Data {
                changed |= !ss.data_sources.is_empty();
                ss.data_sources.clear();
            } else {
                ss.feed = None;
                changed = true;
            }
        }
        for (feed, mid, _) in &drops {
            if mid.is_some() {
                continue;
            }
            if let Some(f) = feed {
                for ss in sub
                    .streams
                    .iter_mut()
                    .filter(|s| s.kind == StreamKind::Data)
                {
                    let before = ss.data_sources.len();
                    ss.data_sources.retain(|(id, _)| id != f);
                    changed |= before != ss.data_sources.len();
                }
            }
        }
        if !changed {
            let ev = events::room_event("updated", &room, json!({}));
            self.push(req.handle, Some(req.transaction), &ev, None);
            return Ok(());
        }
        if sub.offer_pending {
            sub.update_pending = true;
            let ev = events::room_event("updating", &room, json!({}));
            self.push(req.handle, Some(req.transaction), &ev, None);
            return Ok(());
        }
        let updated = events::room_event("updated", &room, json!({}));
        self.send_offer(req.handle, Some(req.transaction), updated, true, false)
    }

    pub(crate) fn leave_subscriber(&mut self, req: &Request) -> VrResult<()> {
        let room = self.subscriber(req.handle).map(|s| s.room.clone());
        self.subscriber_gone(req.handle);
        let mut ev = events::plain("event", json!({"left": "ok"}));
        if let Some(r) = room {
            ev["room"] = r.to_json();
        }
        self.push(req.handle, Some(req.transaction), &ev, None);
        self.host.close_pc(req.handle);
        Ok(())
    }

    /// The subscriber's PeerConnection went away: its routes and m-lines are gone.
    pub(crate) fn subscriber_hangup(&mut self, handle: HandleId) {
        self.remove_all_routes(handle);
        if let Some(sub) = self.subscriber_mut(handle) {
            sub.streams.clear();
            sub.started = false;
            sub.offer_pending = false;
            sub.update_pending = false;
        }
    }

    /// The subscriber leaves (leave, detach, room destroyed).
    pub(crate) fn subscriber_gone(&mut self, handle: HandleId) {
        self.remove_all_routes(handle);
        let room = self.subscriber(handle).map(|s| s.room.clone());
        if let Some(r) = room.and_then(|r| self.rooms.get_mut(&r)) {
            r.subscribers.remove(&handle);
        }
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.role = Role::Idle;
        }
    }

    pub(crate) fn layer_changed(&mut self, c: LayerChange) {
        let Some((handle, mid)) = self.routes.get(&c.route).cloned() else {
            return;
        };
        let Some(sub) = self.subscriber_mut(handle) else {
            return;
        };
        let room = sub.room.clone();
        let Some(ss) = sub
            .streams
            .iter_mut()
            .find(|s| s.mid.as_deref() == Some(&mid))
        else {
            return;
        };
        let svc = ss.feed.as_ref().is_some_and(|f| f.svc);
        let (sk, tk) = if svc {
            ("spatial_layer", "temporal_layer")
        } else {
            ("substream", "temporal")
        };
        let mut out = Vec::new();
        if c.substream.is_some() && c.substream != ss.current.0 {
            ss.current.0 = c.substream;
            out.push(json!({"mid": mid, sk: c.substream}));
        }
        if c.temporal.is_some() && c.temporal != ss.current.1 {
            ss.current.1 = c.temporal;
            out.push(json!({"mid": mid, tk: c.temporal}));
        }
        for e in out {
            let ev = events::event(&room, e);
            self.push(handle, None, &ev, None);
        }
    }
}

/// Adds wanted streams to a subscription: an inactive slot of the same kind is reused
/// (as Janus does), otherwise a new m-line is appended; data sources join the data slot.
fn add_streams(sub: &mut Subscriber, wanted: Vec<Wanted>, data: Vec<DataSource>) {
    for w in wanted {
        let duplicate = sub.streams.iter().any(|s| {
            s.feed
                .as_ref()
                .is_some_and(|f| f.handle == w.feed.handle && f.mid == w.feed.mid)
        });
        if duplicate {
            continue;
        }
        let slot = sub
            .streams
            .iter_mut()
            .find(|s| s.kind == w.kind && s.feed.is_none() && s.mid.is_some() && s.route.is_none());
        let stream = SubStream {
            kind: w.kind,
            mindex: 0,
            mid: None,
            feed: Some(w.feed),
            data_sources: Vec::new(),
            crossrefid: w.crossrefid,
            send: w.send,
            targets: w.targets,
            current: (None, None),
            route: None,
        };
        match slot {
            Some(s) => {
                let (mid, mindex) = (s.mid.take(), s.mindex);
                *s = SubStream {
                    mid,
                    mindex,
                    ..stream
                };
            }
            None => {
                let mindex = sub.streams.len();
                sub.streams.push(SubStream { mindex, ..stream });
            }
        }
    }
    if data.is_empty() {
        return;
    }
    let idx = match sub.streams.iter().position(|s| s.kind == StreamKind::Data) {
        Some(i) => i,
        None => {
            sub.streams.push(SubStream {
                kind: StreamKind::Data,
                mindex: sub.streams.len(),
                mid: None,
                feed: None,
                data_sources: Vec::new(),
                crossrefid: None,
                send: true,
                targets: Targets::default(),
                current: (None, None),
                route: None,
            });
            sub.streams.len() - 1
        }
    };
    let slot = &mut sub.streams[idx];
    for d in data {
        if !slot.data_sources.iter().any(|(_, h)| *h == d.1) {
            slot.data_sources.push(d);
        }
    }
}
