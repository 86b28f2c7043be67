//! VP9 RTP payload descriptor (RFC 9628 section 4.2), flexible and non-flexible modes.
//! Parsed once per incoming packet on the source shard; no allocation, and any byte
//! string (truncated, garbage) gives `None` instead of a panic.
//!
//! ```text
//!  I|P|L|F|B|E|V|Z            required
//!  M|PICTURE ID(7) [8 more]   I
//!  TID(3)|U|SID(3)|D          L
//!  TL0PICIDX                  L and not F
//!  P_DIFF(7)|N  (up to 3)     F and P
//!  scalability structure      V
//! ```

/// Reference indices (P_DIFF) a flexible-mode frame may carry.
const MAX_P_DIFF: usize = 3;

/// The fields of one packet's VP9 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp9Desc {
    /// P: inter-picture predicted (depends on an earlier picture of its layer).
    pub inter_predicted: bool,
    /// F: flexible mode.
    pub flexible: bool,
    /// B: first packet of a layer frame.
    pub begin_frame: bool,
    /// E: last packet of a layer frame.
    pub end_frame: bool,
    /// Z: not used as reference by the upper spatial layers.
    pub not_upper_reference: bool,
    /// 7 or 15-bit picture id.
    pub picture_id: Option<u16>,
    pub picture_id_wide: bool,
    /// Temporal layer, when layer indices are present.
    pub tid: Option<u8>,
    /// U: switching-up point (upper temporal layers may be switched to from here).
    pub switching_up: bool,
    /// Spatial layer, when layer indices are present.
    pub sid: Option<u8>,
    /// D: depends on the lower spatial layer of the same picture.
    pub inter_layer_dependent: bool,
    /// Non-flexible mode only.
    pub tl0_pic_idx: Option<u8>,
    /// V: a scalability structure is present (sent with keyframes).
    pub has_scalability_structure: bool,
    /// Spatial layers announced by the scalability structure (N_S + 1).
    pub spatial_layers: Option<u8>,
    /// Offset of the VP9 frame data.
    pub payload_offset: usize,
}

impl Vp9Desc {
    /// A keyframe starts here: the first packet of the base spatial layer frame of a picture
    /// that predicts from no earlier picture.
    pub fn keyframe(&self) -> bool {
        !self.inter_predicted && self.begin_frame && self.sid.unwrap_or(0) == 0
    }

    /// First packet of a picture (its lowest spatial layer).
    pub fn begins_picture(&self) -> bool {
        self.begin_frame && self.sid.unwrap_or(0) == 0
    }

    /// An upper spatial layer can be switched to at this frame: it does not predict from
    /// earlier pictures of its own layer (only, possibly, from the layer below).
    pub fn spatial_switch_point(&self) -> bool {
        self.begin_frame && !self.inter_predicted
    }
}

/// Parses the descriptor; `None` when the payload is too short for what its bits announce
/// or holds no frame data after the descriptor.
pub fn parse(p: &[u8]) -> Option<Vp9Desc> {
    let b0 = *p.first()?;
    let has_pid = b0 & 0x80 != 0;
    let has_layers = b0 & 0x20 != 0;
    let mut d = Vp9Desc {
        inter_predicted: b0 & 0x40 != 0,
        flexible: b0 & 0x10 != 0,
        begin_frame: b0 & 0x08 != 0,
        end_frame: b0 & 0x04 != 0,
        has_scalability_structure: b0 & 0x02 != 0,
        not_upper_reference: b0 & 0x01 != 0,
        ..Default::default()
    };
    let mut i = 1;
    if has_pid {
        let m = *p.get(i)?;
        i += 1;
        if m & 0x80 != 0 {
            let lo = *p.get(i)?;
            i += 1;
            d.picture_id = Some((u16::from(m & 0x7f) << 8) | u16::from(lo));
            d.picture_id_wide = true;
        } else {
            d.picture_id = Some(u16::from(m & 0x7f));
        }
    }
    if has_layers {
        let l = *p.get(i)?;
        i += 1;
        d.tid = Some(l >> 5);
        d.switching_up = l & 0x10 != 0;
        d.sid = Some((l >> 1) & 0x07);
        d.inter_layer_dependent = l & 0x01 != 0;
        if !d.flexible {
            d.tl0_pic_idx = Some(*p.get(i)?);
            i += 1;
        }
    }
    if d.flexible && d.inter_predicted {
        // Reference indices: the N bit says another follows; at most three.
        let mut n = 0;
        loop {
            let r = *p.get(i)?;
            i += 1;
            n += 1;
            if r & 0x01 == 0 {
                break;
            }
            if n == MAX_P_DIFF {
                return None;
            }
        }
    }
    if d.has_scalability_structure {
        let ss = *p.get(i)?;
        i += 1;
        let layers = (ss >> 5) + 1;
        d.spatial_layers = Some(layers);
        if ss & 0x10 != 0 {
            i += 4 * usize::from(layers); // WIDTH and HEIGHT per spatial layer
        }
        if ss & 0x08 != 0 {
            let groups = *p.get(i)?;
            i += 1;
            for _ in 0..groups {
                let g = *p.get(i)?;
                i += 1 + usize::from((g >> 2) & 0x03); // R reference indices
            }
        }
    }
    // Frame data must follow (the scalability structure alone is not a packet we forward).
    p.get(i)?;
    d.payload_offset = i;
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_flexible_svc_keyframe_with_scalability_structure() {
        // I L B V; pid 15-bit 0x1234; TID 0 U SID 0 D=0; TL0 7; SS: N_S=2 Y G,
        // 3 × (w,h), N_G=1, group TID 0 U R=1 + one P_DIFF; then data.
        let pkt = [
            0xaa, 0x92, 0x34, 0x10, 0x07, 0x58, 0, 1, 0, 1, 0, 2, 0, 2, 0, 4, 0, 4, 1, 0x14, 1,
            0xee,
        ];
        let d = parse(&pkt).unwrap();
        assert!(d.keyframe() && d.begins_picture() && d.spatial_switch_point());
        assert_eq!(d.picture_id, Some(0x1234));
        assert!(d.picture_id_wide);
        assert_eq!((d.tid, d.sid, d.tl0_pic_idx), (Some(0), Some(0), Some(7)));
        assert!(d.switching_up && !d.inter_layer_dependent);
        assert_eq!(d.spatial_layers, Some(3));
        assert_eq!(d.payload_offset, pkt.len() - 1);
    }

    #[test]
    fn flexible_mode_upper_layer_delta() {
        // I P L F E; 7-bit pid 5; TID 2 SID 1 D; two P_DIFF (N set on the first).
        let d = parse(&[0xf4, 0x05, 0x43, 0x03, 0x02, 0xaa]).unwrap();
        assert!(d.flexible && d.inter_predicted && d.end_frame && !d.begin_frame);
        assert_eq!((d.tid, d.sid), (Some(2), Some(1)));
        assert!(d.inter_layer_dependent && !d.switching_up);
        assert_eq!(d.tl0_pic_idx, None);
        assert_eq!(d.payload_offset, 5);
        assert!(!d.keyframe() && !d.begins_picture());
        // An upper spatial layer frame of a keyframe picture: switch point, not a keyframe.
        let d = parse(&[0xb8, 0x05, 0x03, 0xaa]).unwrap();
        assert!(d.spatial_switch_point() && !d.keyframe());
    }

    #[test]
    fn plain_descriptor_without_layers() {
        let d = parse(&[0x08, 0x00]).unwrap();
        assert!(d.keyframe());
        assert_eq!((d.tid, d.sid), (None, None));
        assert!(!parse(&[0x48, 0x00]).unwrap().keyframe());
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let pkt = [
            0xaa, 0x92, 0x34, 0x10, 0x07, 0x58, 0, 1, 0, 1, 0, 2, 0, 2, 0, 4, 0, 4, 1, 0x14, 1,
            0xee,
        ];
        for n in 0..pkt.len() {
            assert_eq!(parse(&pkt[..n]), None, "prefix of {n} bytes");
        }
        // Four reference indices: more than the descriptor allows.
        assert_eq!(parse(&[0x50, 0x01, 0x01, 0x01, 0x01, 0x00]), None);
        for a in 0..=255u8 {
            for b in [0x00, 0x01, 0x80, 0xff] {
                let _ = parse(&[a, b, b, 0xff]);
                let _ = parse(&[a]);
            }
        }
    }
}
