//! One EchoTest handle: its settings and the routes that echo its media.

use portunus_plugin_sdk::prelude::*;

/// An m-line we answered and echo back.
#[derive(Debug, Clone)]
struct Track {
    mid: String,
    kind: MediaKind,
    /// True when we answered sendrecv: only then is there something to echo.
    echo: bool,
    route: Option<RouteId>,
}

#[derive(Debug)]
pub struct Session {
    handle: HandleId,
    opaque_id: Option<String>,
    audio_active: bool,
    video_active: bool,
    /// REMB cap in bit/s; 0 = no cap.
    bitrate: u32,
    substream: Option<u8>,
    temporal: Option<u8>,
    /// The layers the core forwards now (told by `layer-changed`), for Janus's simulcast
    /// events.
    current_substream: Option<u8>,
    current_temporal: Option<u8>,
    record: bool,
    filename: Option<String>,
    audio_codec: Option<String>,
    video_codec: Option<String>,
    data_channels: bool,
    e2ee: bool,
    tracks: Vec<Track>,
    /// The PeerConnection is up: routes can be installed.
    up: bool,
}

impl Session {
    pub fn new(handle: HandleId, opaque_id: Option<String>) -> Session {
        Session {
            handle,
            opaque_id,
            audio_active: true,
            video_active: true,
            bitrate: 0,
            substream: None,
            temporal: None,
            current_substream: None,
            current_temporal: None,
            record: false,
            filename: None,
            audio_codec: None,
            video_codec: None,
            data_channels: false,
            e2ee: false,
            tracks: Vec::new(),
            up: false,
        }
    }

    fn paused(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => !self.audio_active,
            MediaKind::Video => !self.video_active,
        }
    }

    fn layer(&self, kind: MediaKind) -> LayerChoice {
        match kind {
            MediaKind::Audio => LayerChoice::all(),
            MediaKind::Video => LayerChoice {
                substream: self.substream,
                temporal: self.temporal,
            },
        }
    }

    /// Re-applies layer and pause state to every route of `kind`.
    fn update_routes(&self, kind: MediaKind) {
        for t in self.tracks.iter().filter(|t| t.kind == kind) {
            if let Some(id) = t.route
                && let Err(e) = host::route_update(id, self.layer(kind), self.paused(kind))
            {
                host::warn(&format!("handle {}: route update failed: {e}", self.handle));
            }
        }
    }

    pub fn set_audio(&mut self, on: bool) {
        self.audio_active = on;
        self.update_routes(MediaKind::Audio);
    }

    pub fn set_video(&mut self, on: bool) {
        let resumed = on && !self.video_active;
        self.video_active = on;
        self.update_routes(MediaKind::Video);
        if resumed {
            // The browser's decoder needs a keyframe after the gap.
            self.request_keyframes();
        }
    }

    fn request_keyframes(&self) {
        for t in self
            .tracks
            .iter()
            .filter(|t| t.kind == MediaKind::Video && t.echo)
        {
            host::request_keyframe(&MediaRef::new(self.handle, t.mid.clone()));
        }
    }

    pub fn set_bitrate(&mut self, bitrate: u32) {
        self.bitrate = bitrate;
        host::set_bitrate_cap(self.handle, bitrate);
    }

    pub fn set_layer(&mut self, substream: Option<u8>, temporal: Option<u8>) {
        if substream.is_some() {
            self.substream = substream;
        }
        if temporal.is_some() {
            self.temporal = temporal;
        }
        // route-update waits for a keyframe of the new layer and asks for one; the switch
        // is told by `layer-changed`.
        self.update_routes(MediaKind::Video);
        // As Janus: asking for the layer already forwarded is answered at once.
        if substream.is_some() && substream == self.current_substream {
            self.layer_event("substream", substream);
        }
        if temporal.is_some() && temporal == self.current_temporal {
            self.layer_event("temporal", temporal);
        }
    }

    /// The core switched the layer forwarded on one of our routes: tell the client, as
    /// Janus does (`{"echotest":"event","videocodec":"vp8","substream":1}`, and `temporal`).
    pub fn layer_changed(&mut self, change: &LayerChange) {
        let ours = self.tracks.iter().any(|t| {
            t.kind == MediaKind::Video
                && t.route == Some(change.route)
                && t.mid == change.target.mid
        });
        if !ours {
            return;
        }
        if change.substream != self.current_substream {
            self.current_substream = change.substream;
            self.layer_event("substream", change.substream);
        }
        if change.temporal != self.current_temporal {
            self.current_temporal = change.temporal;
            self.layer_event("temporal", change.temporal);
        }
    }

    fn layer_event(&self, name: &str, layer: Option<u8>) {
        let Some(layer) = layer else { return };
        let data = janus::event(
            super::KEY,
            json!({ "videocodec": self.video_codec, name: layer }),
        );
        if let Err(e) = host::push_event(self.handle, None, &data, None) {
            host::debug(&format!("handle {}: no {name} event: {e}", self.handle));
        }
    }

    pub fn set_record(&mut self, record: bool, filename: Option<&str>) {
        // Accepted for compatibility; the native recorder is not there yet (query-session
        // says so).
        self.record = record;
        self.filename = filename.map(str::to_owned);
        if record {
            host::warn("recording was requested but is not implemented yet");
        }
    }

    /// The answer to `offer`: every m-line mirrored (sendonly answers become inactive, as
    /// we send nothing of our own), with the forced codecs when the client offered them.
    pub fn answer(
        &mut self,
        offer: &JsepIn,
        audiocodec: Option<&str>,
        videocodec: Option<&str>,
    ) -> AnswerSpec {
        let mut spec = AnswerSpec::mirror(offer);
        let mut tracks = Vec::with_capacity(offer.media.len());
        for (answer, line) in spec.media.iter_mut().zip(&offer.media) {
            if answer.direction == Direction::Sendonly {
                answer.direction = Direction::Inactive;
            }
            let forced = match line.kind {
                MediaKind::Audio => audiocodec,
                MediaKind::Video => videocodec,
            };
            if let Some(codec) = forced {
                let codec = codec.to_ascii_lowercase();
                if line.codecs.contains(&codec) {
                    answer.codec = Some(codec);
                } else {
                    host::warn(&format!(
                        "handle {}: {codec} not offered on m-line {}, keeping the client's first codec",
                        self.handle, line.mid
                    ));
                }
            }
            let codec = answer
                .codec
                .clone()
                .or_else(|| line.codecs.first().cloned());
            match line.kind {
                MediaKind::Audio => self.audio_codec = codec,
                MediaKind::Video => self.video_codec = codec,
            }
            // Keep the route of an m-line that stays, so renegotiation doesn't glitch.
            let route = self
                .tracks
                .iter()
                .find(|t| t.mid == line.mid)
                .and_then(|t| t.route);
            tracks.push(Track {
                mid: line.mid.clone(),
                kind: line.kind,
                echo: answer.direction == Direction::Sendrecv,
                route,
            });
        }
        // Routes of m-lines that went away or stopped echoing.
        for old in &self.tracks {
            if let Some(id) = old.route
                && !tracks.iter().any(|t| t.route == Some(id) && t.echo)
            {
                host::route_remove(id);
            }
        }
        for t in tracks.iter_mut().filter(|t| !t.echo) {
            t.route = None;
        }
        self.tracks = tracks;
        self.data_channels = offer.data_channels;
        self.e2ee = offer.e2ee;
        spec
    }

    /// The answer went out: on a renegotiation of a live PeerConnection the new m-lines get
    /// their routes now.
    pub fn negotiated(&mut self) {
        if self.up {
            self.install_routes();
        }
    }

    /// The PeerConnection is up: echo every sendrecv m-line.
    pub fn media_up(&mut self) {
        self.up = true;
        self.install_routes();
        if self.bitrate > 0 {
            host::set_bitrate_cap(self.handle, self.bitrate);
        }
    }

    fn install_routes(&mut self) {
        let handle = self.handle;
        let states: Vec<(LayerChoice, bool)> = self
            .tracks
            .iter()
            .map(|t| (self.layer(t.kind), self.paused(t.kind)))
            .collect();
        for (t, (layer, paused)) in self.tracks.iter_mut().zip(states) {
            if !t.echo || t.route.is_some() {
                continue;
            }
            let me = MediaRef::new(handle, t.mid.clone());
            let route = Route {
                source: me.clone(),
                target: me,
                layer,
                paused,
                auto_layer: false,
            };
            match host::route_add(&route) {
                Ok(id) => t.route = Some(id),
                Err(e) => host::warn(&format!("handle {handle}: cannot echo mid {}: {e}", t.mid)),
            }
        }
    }

    /// The PeerConnection is gone: drop the routes and reset the controls, as Janus does.
    pub fn hangup(&mut self) {
        for t in &mut self.tracks {
            if let Some(id) = t.route.take() {
                host::route_remove(id);
            }
        }
        let (handle, opaque_id) = (self.handle, self.opaque_id.take());
        *self = Session::new(handle, opaque_id);
    }

    /// `handle_info.plugin_specific`, with Janus's names where Janus has them.
    pub fn query(&self) -> Value {
        let mut v = json!({
            "audio_active": self.audio_active,
            "video_active": self.video_active,
            "audio_codec": self.audio_codec,
            "video_codec": self.video_codec,
            "bitrate": self.bitrate,
            "data_channels": self.data_channels,
            "media_up": self.up,
            "routes": self.tracks.iter().filter(|t| t.route.is_some()).map(|t| &t.mid).collect::<Vec<_>>(),
            "hangingup": 0,
            "destroyed": 0,
        });
        if self.substream.is_some()
            || self.temporal.is_some()
            || self.current_substream.is_some()
            || self.current_temporal.is_some()
        {
            v["simulcast"] = json!({
                "substream": self.current_substream,
                "substream-target": self.substream,
                "temporal-layer": self.current_temporal,
                "temporal-layer-target": self.temporal,
            });
        }
        if self.record {
            v["recording"] = json!({
                "requested": true,
                "filename": self.filename,
                "status": "recording is not implemented yet",
            });
        }
        if self.e2ee {
            v["e2ee"] = json!(true);
        }
        v
    }
}
