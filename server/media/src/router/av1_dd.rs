//! AV1 dependency descriptor (AV1 RTP payload spec, appendix A): the RTP header extension
//! that tells, per packet, which frame of which spatial/temporal layer it carries. The
//! layer ids come from a template dependency structure that only some packets carry
//! (keyframes and structure changes); later packets name a template of the last structure.
//! So the state kept per source is that structure ([`DdState`]); parsing a packet never
//! allocates and never panics.
//!
//! str0m 0.25 does not know the extension: [`DdSerializer`] registers it, keeping the raw
//! bytes ([`DdBytes`]) in str0m's per-packet type map on receive and writing them back
//! unchanged on send (the DD is forwarded as the publisher wrote it, see `keyframe.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use str0m::rtp::{ExtensionSerializer, ExtensionValues};

use super::keyframe::PayloadDesc;

/// The extension's URI in SDP.
pub const DD_URI: &str =
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";

/// Templates a structure can hold (the template id is 6 bits).
const MAX_TEMPLATES: usize = 64;
/// Decode targets a structure can name (dt_cnt_minus_one is 5 bits).
const MAX_DECODE_TARGETS: usize = 32;
/// Largest extension value (two-byte header form).
const MAX_LEN: usize = 255;

/// Decode target indication: the frame is a switch point for the decode target.
const DTI_SWITCH: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DdError {
    #[error("dependency descriptor truncated")]
    Truncated,
    #[error("dependency descriptor refers to a template structure not received")]
    NoStructure,
    #[error("dependency descriptor template {0} is not in the structure")]
    UnknownTemplate(u8),
    #[error("dependency descriptor structure invalid")]
    Invalid,
}

/// The raw extension value of one packet, as received.
#[derive(Clone)]
pub struct DdBytes {
    len: u8,
    buf: [u8; MAX_LEN],
}

impl DdBytes {
    /// `None` when empty or longer than an extension value can be.
    pub fn new(b: &[u8]) -> Option<Self> {
        let len = u8::try_from(b.len()).ok().filter(|&l| l > 0)?;
        let mut buf = [0; MAX_LEN];
        buf[..b.len()].copy_from_slice(b);
        Some(DdBytes { len, buf })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for DdBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DdBytes({:02x?})", self.as_slice())
    }
}

/// Registers the dependency descriptor with str0m (video only): keeps and writes the raw
/// bytes. Keeping costs an allocation per packet (str0m's type map), so a peer opens the
/// gate only while it has negotiated AV1: browsers send the descriptor with VP8/VP9 too
/// once it is negotiated, and those packets must not pay for it.
#[derive(Debug, Clone)]
pub struct DdSerializer {
    gate: Option<Arc<AtomicBool>>,
}

impl DdSerializer {
    /// Keeps every received descriptor (test peers).
    pub fn always() -> Self {
        DdSerializer { gate: None }
    }

    /// Keeps received descriptors only while `gate` is set.
    pub fn gated(gate: Arc<AtomicBool>) -> Self {
        DdSerializer { gate: Some(gate) }
    }
}

/// True when an SDP names the AV1 codec (`a=rtpmap:<pt> AV1/90000`).
pub fn sdp_names_av1(sdp: &str) -> bool {
    sdp.as_bytes()
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"av1/90000"))
}

impl ExtensionSerializer for DdSerializer {
    fn write_to(&self, buf: &mut [u8], ev: &ExtensionValues) -> usize {
        let Some(v) = ev.user_values.get::<DdBytes>() else {
            return 0;
        };
        let b = v.as_slice();
        match buf.get_mut(..b.len()) {
            Some(dst) => {
                dst.copy_from_slice(b);
                b.len()
            }
            None => 0,
        }
    }

    fn parse_value(&self, buf: &[u8], ev: &mut ExtensionValues) -> bool {
        if self
            .gate
            .as_ref()
            .is_some_and(|g| !g.load(Ordering::Relaxed))
        {
            return false;
        }
        match DdBytes::new(buf) {
            Some(v) => {
                ev.user_values.set(v);
                true
            }
            None => false,
        }
    }

    fn is_video(&self) -> bool {
        true
    }

    fn is_audio(&self) -> bool {
        false
    }

    fn requires_two_byte_form(&self, ev: &ExtensionValues) -> bool {
        // The one-byte form carries 1..=16 bytes; structures are longer.
        ev.user_values.get::<DdBytes>().is_some_and(|v| v.len > 16)
    }
}

/// A template dependency structure: per template its layers, decode target indications
/// and reference count; per decode target its highest layers.
#[derive(Debug, Clone)]
pub struct Structure {
    template_id_offset: u8,
    dt_cnt: u8,
    template_cnt: u8,
    chain_cnt: u8,
    spatial: [u8; MAX_TEMPLATES],
    temporal: [u8; MAX_TEMPLATES],
    /// 2 bits per decode target, decode target 0 in the low bits.
    dtis: [u64; MAX_TEMPLATES],
    fdiff_cnt: [u8; MAX_TEMPLATES],
    dt_spatial: [u8; MAX_DECODE_TARGETS],
    dt_temporal: [u8; MAX_DECODE_TARGETS],
    max_spatial: u8,
}

/// Per-source state: the last template structure received.
#[derive(Debug, Clone, Default)]
pub struct DdState {
    structure: Option<Box<Structure>>,
}

/// What one descriptor says about its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdFrame {
    pub start_of_frame: bool,
    pub end_of_frame: bool,
    pub template_id: u8,
    pub frame_number: u16,
    /// This descriptor carried a new template structure.
    pub structure_attached: bool,
    pub spatial: u8,
    pub temporal: u8,
    /// Decode target indications, 2 bits per decode target.
    pub dtis: u64,
    /// How many earlier frames this frame references.
    pub fdiff_cnt: u8,
    /// Highest temporal layer of this spatial layer whose decode target this frame is a
    /// switch point for.
    pub switch_up: Option<u8>,
    /// Switch point for a decode target whose top spatial layer is this frame's.
    pub spatial_switch: bool,
    /// Spatial layers of the structure, when one was attached.
    pub spatial_layers: Option<u8>,
}

struct Bits<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<bool, DdError> {
        let byte = self.buf.get(self.pos / 8).ok_or(DdError::Truncated)?;
        let b = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(b == 1)
    }

    /// Up to 32 bits, most significant first.
    fn bits(&mut self, n: u32) -> Result<u32, DdError> {
        let mut v = 0u32;
        for _ in 0..n {
            v = v << 1 | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// Non-symmetric unsigned value in `0..n` (spec 4.10.7).
    fn ns(&mut self, n: u32) -> Result<u32, DdError> {
        let w = 32 - n.leading_zeros();
        if w == 0 {
            return Ok(0);
        }
        let m = (1u32 << w) - n;
        let v = self.bits(w - 1)?;
        if v < m {
            return Ok(v);
        }
        Ok((v << 1) - m + u32::from(self.bit()?))
    }
}

fn parse_structure(r: &mut Bits<'_>) -> Result<Box<Structure>, DdError> {
    let template_id_offset = r.bits(6)? as u8;
    let dt_cnt = r.bits(5)? as usize + 1;
    let mut s = Box::new(Structure {
        template_id_offset,
        dt_cnt: dt_cnt as u8,
        template_cnt: 0,
        chain_cnt: 0,
        spatial: [0; MAX_TEMPLATES],
        temporal: [0; MAX_TEMPLATES],
        dtis: [0; MAX_TEMPLATES],
        fdiff_cnt: [0; MAX_TEMPLATES],
        dt_spatial: [0; MAX_DECODE_TARGETS],
        dt_temporal: [0; MAX_DECODE_TARGETS],
        max_spatial: 0,
    });
    // Template layers: each template is the previous one's layer, the next temporal layer,
    // or the next spatial layer's base, until "no more templates".
    let (mut sid, mut tid, mut n) = (0u8, 0u8, 0usize);
    loop {
        if n >= MAX_TEMPLATES {
            return Err(DdError::Invalid);
        }
        s.spatial[n] = sid;
        s.temporal[n] = tid;
        n += 1;
        match r.bits(2)? {
            0 => {}
            1 => tid = tid.checked_add(1).ok_or(DdError::Invalid)?,
            2 => {
                tid = 0;
                sid = sid.checked_add(1).ok_or(DdError::Invalid)?;
            }
            _ => break,
        }
    }
    s.template_cnt = n as u8;
    s.max_spatial = sid;
    for t in 0..n {
        let mut d = 0u64;
        for i in 0..dt_cnt {
            d |= u64::from(r.bits(2)?) << (2 * i);
        }
        s.dtis[t] = d;
    }
    for t in 0..n {
        let mut cnt = 0u8;
        while r.bit()? {
            r.bits(4)?;
            cnt = cnt.checked_add(1).ok_or(DdError::Invalid)?;
        }
        s.fdiff_cnt[t] = cnt;
    }
    // Chains: only their count matters later (frames may carry custom chain diffs).
    let chain_cnt = r.ns(dt_cnt as u32 + 1)?;
    if chain_cnt > 0 {
        for _ in 0..dt_cnt {
            r.ns(chain_cnt)?;
        }
        for _ in 0..n * chain_cnt as usize {
            r.bits(4)?;
        }
    }
    s.chain_cnt = chain_cnt as u8;
    if r.bit()? {
        // Render resolutions, 32 bits per spatial layer: not needed for forwarding.
        for _ in 0..=sid {
            r.bits(32)?;
        }
    }
    for d in 0..dt_cnt {
        let (mut ms, mut mt) = (0, 0);
        for t in 0..n {
            if s.dtis[t] >> (2 * d) & 3 != 0 {
                ms = ms.max(s.spatial[t]);
                mt = mt.max(s.temporal[t]);
            }
        }
        s.dt_spatial[d] = ms;
        s.dt_temporal[d] = mt;
    }
    Ok(s)
}

impl DdState {
    /// Parses one descriptor, remembering a structure it carries.
    pub fn parse(&mut self, buf: &[u8]) -> Result<DdFrame, DdError> {
        let mut r = Bits { buf, pos: 0 };
        let start_of_frame = r.bit()?;
        let end_of_frame = r.bit()?;
        let template_id = r.bits(6)? as u8;
        let frame_number = r.bits(16)? as u16;
        let (mut attached, mut active_present) = (false, false);
        let (mut custom_dtis, mut custom_fdiffs, mut custom_chains) = (false, false, false);
        if buf.len() > 3 {
            attached = r.bit()?;
            active_present = r.bit()?;
            custom_dtis = r.bit()?;
            custom_fdiffs = r.bit()?;
            custom_chains = r.bit()?;
            if attached {
                self.structure = Some(parse_structure(&mut r)?);
            }
        }
        let s = self.structure.as_deref().ok_or(DdError::NoStructure)?;
        let dt_cnt = usize::from(s.dt_cnt);
        if active_present {
            r.bits(s.dt_cnt.into())?;
        }
        let idx = (usize::from(template_id) + MAX_TEMPLATES - usize::from(s.template_id_offset))
            % MAX_TEMPLATES;
        if idx >= usize::from(s.template_cnt) {
            return Err(DdError::UnknownTemplate(template_id));
        }
        let dtis = if custom_dtis {
            let mut d = 0u64;
            for i in 0..dt_cnt {
                d |= u64::from(r.bits(2)?) << (2 * i);
            }
            d
        } else {
            s.dtis[idx]
        };
        let fdiff_cnt = if custom_fdiffs {
            let mut cnt = 0u8;
            loop {
                let size = r.bits(2)?;
                if size == 0 {
                    break;
                }
                r.bits(4 * size)?;
                cnt = cnt.checked_add(1).ok_or(DdError::Invalid)?;
            }
            cnt
        } else {
            s.fdiff_cnt[idx]
        };
        if custom_chains {
            r.bits(8 * u32::from(s.chain_cnt))?;
        }
        let (spatial, temporal) = (s.spatial[idx], s.temporal[idx]);
        let mut switch_up = None;
        let mut spatial_switch = false;
        for d in 0..dt_cnt {
            if dtis >> (2 * d) & 3 == DTI_SWITCH && s.dt_spatial[d] == spatial {
                spatial_switch = true;
                switch_up =
                    Some(switch_up.map_or(s.dt_temporal[d], |u: u8| u.max(s.dt_temporal[d])));
            }
        }
        Ok(DdFrame {
            start_of_frame,
            end_of_frame,
            template_id,
            frame_number,
            structure_attached: attached,
            spatial,
            temporal,
            dtis,
            fdiff_cnt,
            switch_up,
            spatial_switch,
            spatial_layers: attached.then_some(s.max_spatial + 1),
        })
    }

    /// The router's view of a packet with descriptor `dd` (nothing when it does not parse).
    ///
    /// - keyframe: a structure is attached, the packet starts a frame of spatial layer 0,
    ///   and that frame references no earlier frame (the spec attaches structures to
    ///   such frames; requiring all three keeps a mid-stream structure change from
    ///   counting as a decoder entry point).
    /// - begins_picture: start of a spatial layer 0 frame (a temporal unit's first frame).
    /// - temporal/spatial switches: only where the descriptor marks the frame as a switch
    ///   point (DTI "switch") for a decode target topped by the frame's spatial layer;
    ///   discardable or required frames are never used to switch.
    pub fn describe(&mut self, dd: &[u8]) -> PayloadDesc {
        let Ok(f) = self.parse(dd) else {
            return PayloadDesc::default();
        };
        PayloadDesc {
            keyframe: f.structure_attached
                && f.start_of_frame
                && f.spatial == 0
                && f.fdiff_cnt == 0,
            begins_picture: f.start_of_frame && f.spatial == 0,
            temporal: Some(f.temporal),
            temporal_switch: false,
            temporal_switch_up: if f.start_of_frame { f.switch_up } else { None },
            spatial: Some(f.spatial),
            spatial_switch: f.start_of_frame && f.spatial_switch,
            spatial_layers: f.spatial_layers,
            end_frame: f.end_of_frame,
            vp8: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes bits most significant first, for hand-built descriptors.
    #[derive(Default)]
    pub(crate) struct BitWriter {
        bytes: Vec<u8>,
        n: usize,
    }

    impl BitWriter {
        pub(crate) fn put(&mut self, v: u32, bits: u32) -> &mut Self {
            for i in (0..bits).rev() {
                if self.n.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if v >> i & 1 == 1 {
                    let last = self.bytes.len() - 1;
                    self.bytes[last] |= 0x80 >> (self.n % 8);
                }
                self.n += 1;
            }
            self
        }

        pub(crate) fn finish(&self) -> Vec<u8> {
            self.bytes.clone()
        }
    }

    fn dti_str(w: &mut BitWriter, s: &str) {
        for c in s.chars() {
            let v = match c {
                '-' => 0,
                'D' => 1,
                'S' => 2,
                _ => 3,
            };
            w.put(v, 2);
        }
    }

    /// L1T3 structure (offset 0, 3 decode targets), templates:
    /// 0: T0 "SSS" no refs (key), 1: T0 "SSS" fdiff 4, 2: T1 "-DS" fdiff 2,
    /// 3: T2 "--D" fdiff 1. One chain protecting every decode target.
    pub(crate) fn l1t3(template: u32, start: bool, end: bool, frame: u16, attach: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.put(start.into(), 1).put(end.into(), 1).put(template, 6);
        w.put(frame.into(), 16);
        if !attach {
            return w.finish();
        }
        w.put(1, 1).put(0, 4); // structure present, no other flags
        w.put(0, 6).put(2, 5); // offset 0, 3 decode targets
        // Layers: T0, T0 (same), T1 (next temporal), T2 (next temporal), end.
        w.put(0, 2).put(1, 2).put(1, 2).put(3, 2);
        for d in ["SSS", "SSS", "-DS", "--D"] {
            dti_str(&mut w, d);
        }
        // fdiffs: none; 4; 2; 1.
        w.put(0, 1);
        for f in [4u32, 2, 1] {
            w.put(1, 1).put(f - 1, 4).put(0, 1);
        }
        // chain_cnt = ns(4) → 1: w=3, m=4, 2 bits "01".
        w.put(1, 2);
        // decode_target_protected_by: ns(1) reads nothing.
        for _ in 0..4 {
            w.put(0, 4); // chain fdiffs
        }
        w.put(0, 1); // no resolutions
        w.finish()
    }

    /// L2T2 full SVC (offset 5, 4 decode targets S0T0, S0T1, S1T0, S1T1), templates:
    /// 0: S0T0 "SSSS" key, 1: S0T0 "SSSS" fdiff 4, 2: S0T1 "-D-R" fdiff 2,
    /// 3: S1T0 "--SS" fdiff 1 (keyframe picture, inter-layer only), 4: S1T0 "--RR" fdiffs 4,1,
    /// 5: S1T1 "---D" fdiffs 2,1. No chains, render resolutions present.
    pub(crate) fn l2t2(template: u32, start: bool, end: bool, frame: u16, attach: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.put(start.into(), 1).put(end.into(), 1).put(template, 6);
        w.put(frame.into(), 16);
        if !attach {
            return w.finish();
        }
        w.put(1, 1).put(0, 4);
        w.put(5, 6).put(3, 5);
        // S0T0, S0T0, S0T1, S1T0, S1T0, S1T1.
        w.put(0, 2)
            .put(1, 2)
            .put(2, 2)
            .put(0, 2)
            .put(1, 2)
            .put(3, 2);
        for d in ["SSSS", "SSSS", "-D-R", "--SS", "--RR", "---D"] {
            dti_str(&mut w, d);
        }
        let fdiffs: [&[u32]; 6] = [&[], &[4], &[2], &[1], &[4, 1], &[2, 1]];
        for f in fdiffs {
            for d in f {
                w.put(1, 1).put(d - 1, 4);
            }
            w.put(0, 1);
        }
        // chain_cnt = ns(5) → 0: w=3, m=3, v=0 in 2 bits.
        w.put(0, 2);
        w.put(1, 1);
        for _ in 0..2 {
            w.put(319, 16).put(179, 16);
        }
        w.finish()
    }

    #[test]
    fn mandatory_fields_and_structure() {
        let mut st = DdState::default();
        let f = st.parse(&l1t3(0, true, false, 0x1234, true)).unwrap();
        assert!(f.start_of_frame && !f.end_of_frame && f.structure_attached);
        assert_eq!((f.template_id, f.frame_number), (0, 0x1234));
        assert_eq!((f.spatial, f.temporal, f.fdiff_cnt), (0, 0, 0));
        assert_eq!(f.switch_up, Some(2));
        assert_eq!(f.spatial_layers, Some(1));
        // Later packets name templates of that structure.
        let f = st.parse(&l1t3(2, true, true, 0x1236, false)).unwrap();
        assert_eq!((f.spatial, f.temporal, f.fdiff_cnt), (0, 1, 1));
        assert_eq!(f.switch_up, Some(2), "T1 is a switch point for T2 only");
        assert!(!f.structure_attached && f.end_of_frame);
        let f = st.parse(&l1t3(3, false, true, 0x1237, false)).unwrap();
        assert_eq!((f.temporal, f.switch_up), (2, None));
        assert_eq!(f.dtis, 1 << 4);
    }

    #[test]
    fn spatial_structure_with_offset_and_resolutions() {
        let mut st = DdState::default();
        let f = st.parse(&l2t2(5, true, true, 1, true)).unwrap();
        assert_eq!((f.spatial, f.temporal), (0, 0));
        assert_eq!(f.spatial_layers, Some(2));
        // Template id 8 = index 3: S1T0 keyframe-picture frame, a spatial switch point.
        let f = st.parse(&l2t2(8, true, true, 2, false)).unwrap();
        assert_eq!((f.spatial, f.temporal), (1, 0));
        assert!(f.spatial_switch);
        assert_eq!(f.switch_up, Some(1));
        // Index 4: S1 delta frame, required: no switch.
        let f = st.parse(&l2t2(9, true, true, 6, false)).unwrap();
        assert!(!f.spatial_switch && f.switch_up.is_none());
        // Index 5: S1T1.
        let f = st.parse(&l2t2(10, true, true, 8, false)).unwrap();
        assert_eq!((f.spatial, f.temporal), (1, 1));
        // Id 11 = index 6: outside the six templates.
        assert_eq!(
            st.parse(&l2t2(11, true, true, 9, false)),
            Err(DdError::UnknownTemplate(11))
        );
        // Id 4 wraps to index 63.
        assert_eq!(
            st.parse(&l2t2(4, true, true, 9, false)),
            Err(DdError::UnknownTemplate(4))
        );
    }

    #[test]
    fn custom_fields_are_read() {
        let mut st = DdState::default();
        st.parse(&l1t3(0, true, true, 0, true)).unwrap();
        // Extended fields without a structure: active targets, custom DTIs and fdiffs
        // and chains.
        let mut w = BitWriter::default();
        w.put(1, 1).put(1, 1).put(3, 6).put(7, 16);
        w.put(0, 1).put(1, 1).put(1, 1).put(1, 1).put(1, 1);
        w.put(0b011, 3); // active decode targets
        dti_str(&mut w, "SSS");
        w.put(1, 2).put(3, 4).put(2, 2).put(200, 8).put(0, 2); // two fdiffs
        w.put(9, 8); // one chain diff
        let f = st.parse(&w.finish()).unwrap();
        assert_eq!((f.temporal, f.fdiff_cnt, f.switch_up), (2, 2, Some(2)));
        // The same, cut short in the chain diff.
        let b = w.finish();
        assert_eq!(st.parse(&b[..b.len() - 1]), Err(DdError::Truncated));
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut st = DdState::default();
        assert_eq!(st.parse(&[]), Err(DdError::Truncated));
        assert_eq!(st.parse(&[0x80, 0]), Err(DdError::Truncated));
        // Three valid bytes but no structure yet.
        assert_eq!(st.parse(&[0x80, 0, 1]), Err(DdError::NoStructure));
        // Every truncation of a structure fails cleanly and keeps no structure.
        let full = l2t2(5, true, true, 1, true);
        for n in 4..full.len() {
            let mut st = DdState::default();
            assert!(st.parse(&full[..n]).is_err(), "length {n}");
            assert!(st.structure.is_none());
        }
        // A structure failing keeps the previous one.
        st.parse(&l1t3(0, true, true, 0, true)).unwrap();
        assert!(st.parse(&full[..6]).is_err());
        assert_eq!(
            st.parse(&l1t3(3, true, true, 1, false)).unwrap().temporal,
            2
        );
        // Garbage of every length and pattern: errors or values, never a panic.
        for len in 0..40usize {
            for seed in 0..64u32 {
                let b: Vec<u8> = (0..len)
                    .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i as u32 * 97) >> 7) as u8)
                    .collect();
                let _ = st.parse(&b);
                let _ = DdState::default().describe(&b);
            }
        }
        // 64 templates: more than the id space.
        let mut w = BitWriter::default();
        w.put(0x80, 8).put(0, 16).put(0x10, 5).put(0, 6).put(0, 5);
        for _ in 0..70 {
            w.put(0, 2);
        }
        assert_eq!(DdState::default().parse(&w.finish()), Err(DdError::Invalid));
    }

    #[test]
    fn describes_for_the_router() {
        let mut st = DdState::default();
        let d = st.describe(&l2t2(5, true, false, 1, true));
        assert!(d.keyframe && d.begins_picture && !d.end_frame);
        assert_eq!(
            (d.spatial, d.temporal, d.spatial_layers),
            (Some(0), Some(0), Some(2))
        );
        let d = st.describe(&l2t2(8, true, true, 2, false));
        assert!(!d.keyframe && !d.begins_picture && d.spatial_switch && d.end_frame);
        // A middle packet of a frame switches nothing.
        let d = st.describe(&l2t2(8, false, false, 2, false));
        assert!(!d.spatial_switch && d.temporal_switch_up.is_none());
        // Unparseable: nothing.
        let d = DdState::default().describe(&[0x80, 0, 1]);
        assert!(d.spatial.is_none() && !d.keyframe);
    }

    #[test]
    fn serializer_round_trip() {
        let s = DdSerializer::always();
        let long = l2t2(5, true, true, 1, true);
        assert!(long.len() > 16);
        let mut ev = ExtensionValues::default();
        assert!(s.parse_value(&long, &mut ev));
        assert!(s.requires_two_byte_form(&ev));
        let mut out = [0u8; 64];
        assert_eq!(s.write_to(&mut out, &ev), long.len());
        assert_eq!(&out[..long.len()], &long[..]);
        // Too small a buffer writes nothing rather than panicking.
        assert_eq!(s.write_to(&mut out[..4], &ev), 0);
        let mut ev = ExtensionValues::default();
        assert!(!s.parse_value(&[], &mut ev));
        assert_eq!(s.write_to(&mut out, &ev), 0);
        assert!(!s.requires_two_byte_form(&ev));
        // A closed gate keeps nothing.
        let gate = Arc::new(AtomicBool::new(false));
        let s = DdSerializer::gated(gate.clone());
        let mut ev = ExtensionValues::default();
        assert!(!s.parse_value(&long, &mut ev));
        assert!(ev.user_values.get::<DdBytes>().is_none());
        gate.store(true, Ordering::Relaxed);
        assert!(s.parse_value(&long, &mut ev));
        assert!(sdp_names_av1("a=rtpmap:45 AV1/90000\r\n"));
        assert!(!sdp_names_av1("a=rtpmap:96 VP8/90000\r\n"));
    }
}
