//! VP9-SVC mountpoints (`svc: true`): each viewer picks a spatial and temporal layer with
//! `watch` / `configure` (`spatial_layer`, `temporal_layer`); its routes forward that layer
//! and the layer changes the core makes are told as Janus tells them
//! (`{"mid", "spatial_layer", "temporal_layer"}`, with the mountpoint's mid).

use portunus_plugin_sdk::host_api::Host;
use portunus_plugin_sdk::janus::{Param, ParamKind};
use portunus_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::error::*;
use crate::{Streaming, result_event};

/// A spatial / temporal layer pair; none = the highest (Janus's default target).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    pub spatial: Option<u8>,
    pub temporal: Option<u8>,
}

impl Layers {
    pub fn choice(self) -> LayerChoice {
        LayerChoice {
            substream: self.spatial,
            temporal: self.temporal,
        }
    }
}

pub const SVC_PARAMS: &[Param] = &[
    Param::optional("spatial_layer", ParamKind::PositiveInteger),
    Param::optional("temporal_layer", ParamKind::PositiveInteger),
];

/// The layers a request asks for (each none when absent).
pub fn requested(body: &Map<String, Value>) -> SResult<Layers> {
    validate(body, SVC_PARAMS)?;
    let layer = |k: &str| -> SResult<Option<u8>> {
        match body.get(k).and_then(Value::as_u64) {
            None => Ok(None),
            Some(v) => u8::try_from(v)
                .map(Some)
                .map_err(|_| err(INVALID_ELEMENT, format!("Invalid element ({k})"))),
        }
    };
    Ok(Layers {
        spatial: layer("spatial_layer")?,
        temporal: layer("temporal_layer")?,
    })
}

impl<H: Host> Streaming<H> {
    /// `configure`'s layer part for the viewer's SVC streams among `chosen` (by position).
    /// As Janus, asking for the layer already forwarded is answered at once with an event.
    pub(crate) fn configure_layers(
        &mut self,
        handle: HandleId,
        body: &Map<String, Value>,
        chosen: &[bool],
    ) -> SResult<()> {
        let asked = requested(body)?;
        if asked == Layers::default() {
            return Ok(());
        }
        let Some((session, mp)) = self.viewing(handle) else {
            return Ok(());
        };
        let svc: Vec<usize> = session
            .streams
            .iter()
            .enumerate()
            .filter(|(i, vs)| {
                chosen.get(*i) == Some(&true) && mp.streams.get(vs.index).is_some_and(|s| s.svc)
            })
            .map(|(i, _)| i)
            .collect();
        let mut events = Vec::new();
        if let Some(session) = self.sessions.get_mut(&handle) {
            for i in svc {
                let Some(vs) = session.streams.get_mut(i) else {
                    continue;
                };
                if let Some(s) = asked.spatial {
                    if vs.current.spatial == Some(s) {
                        events.push(json!({"spatial_layer": s}));
                    }
                    vs.target.spatial = Some(s);
                }
                if let Some(t) = asked.temporal {
                    if vs.current.temporal == Some(t) {
                        events.push(json!({"temporal_layer": t}));
                    }
                    vs.target.temporal = Some(t);
                }
            }
        }
        for e in events {
            self.push(handle, None, &result_event(e), None);
        }
        Ok(())
    }

    /// The core changed the layer a viewer's route forwards.
    pub(crate) fn layer_changed(&mut self, c: LayerChange) {
        let handle = c.target.handle;
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        let Some(vs) = session
            .streams
            .iter_mut()
            .find(|vs| vs.route == Some(c.route))
        else {
            return;
        };
        let before = vs.current;
        vs.current = Layers {
            spatial: c.substream,
            temporal: c.temporal,
        };
        let index = vs.index;
        let Some(mid) = session
            .mountpoint
            .as_ref()
            .and_then(|id| self.mountpoints.get(id))
            .and_then(|mp| mp.streams.get(index))
            .map(|s| s.mid.clone())
        else {
            return;
        };
        let mut events = Vec::new();
        if let Some(s) = c.substream.filter(|s| before.spatial != Some(*s)) {
            let mut e = json!({"mid": mid, "spatial_layer": s});
            if before.temporal.is_none()
                && let Some(t) = c.temporal
            {
                e["temporal_layer"] = json!(t);
            }
            events.push(e);
        } else if let Some(t) = c.temporal.filter(|t| before.temporal != Some(*t)) {
            events.push(json!({"mid": mid, "temporal_layer": t}));
        }
        for e in events {
            self.push(handle, None, &result_event(e), None);
        }
    }
}
