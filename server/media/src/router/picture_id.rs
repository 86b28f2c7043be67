//! VP8 picture id and TL0PICIDX continuity for one target stream. A decoder that sees the
//! picture id jump (a simulcast layer or source switch) or skip (frames dropped by temporal
//! filtering) assumes lost frames; this maps every source onto one sequence: at a switch the
//! new source continues where the last one stopped, and each dropped picture moves the
//! following ones down by one. Pure state machine, like `rewrite.rs`.

use super::rewrite::SourceKey;

/// Picture ids are 15 bits (7 in the short form, which wraps the same way modulo 128).
const PID_MASK: u16 = 0x7fff;

/// The values of one VP8 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureIds {
    pub picture_id: Option<u16>,
    /// True for a 15-bit picture id field.
    pub wide: bool,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, Clone)]
struct Current {
    source: SourceKey,
    pid_offset: u16,
    tl0_offset: u8,
    /// Newest source picture id seen (forwarded or dropped).
    newest_pid: Option<u16>,
}

/// Continuity state of one target stream.
#[derive(Debug, Clone, Default)]
pub struct PictureIdRewriter {
    current: Option<Current>,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
}

/// `a` comes after `b` in a picture id space of `mask + 1` values.
fn newer(a: u16, b: u16, mask: u16) -> bool {
    let d = a.wrapping_sub(b) & mask;
    d != 0 && d <= mask / 2
}

fn mask(wide: bool) -> u16 {
    if wide { PID_MASK } else { 0x7f }
}

impl PictureIdRewriter {
    fn enter(&mut self, source: SourceKey, ids: &PictureIds) -> &mut Current {
        let switch = self.current.as_ref().is_none_or(|c| c.source != source);
        if switch {
            let pid_offset = match (self.last_pid, ids.picture_id) {
                (Some(last), Some(pid)) => last.wrapping_add(1).wrapping_sub(pid) & PID_MASK,
                _ => 0,
            };
            let tl0_offset = match (self.last_tl0, ids.tl0_pic_idx) {
                (Some(last), Some(tl0)) => last.wrapping_add(1).wrapping_sub(tl0),
                _ => 0,
            };
            self.current = Some(Current {
                source,
                pid_offset,
                tl0_offset,
                newest_pid: None,
            });
        }
        self.current.get_or_insert(Current {
            source,
            pid_offset: 0,
            tl0_offset: 0,
            newest_pid: None,
        })
    }

    /// Maps the values of one forwarded packet of `source`.
    pub fn rewrite(&mut self, source: SourceKey, ids: PictureIds) -> PictureIds {
        let m = mask(ids.wide);
        let cur = self.enter(source, &ids);
        if let Some(pid) = ids.picture_id
            && cur.newest_pid.is_none_or(|n| newer(pid, n, m))
        {
            cur.newest_pid = Some(pid);
        }
        let out = PictureIds {
            picture_id: ids.picture_id.map(|p| p.wrapping_add(cur.pid_offset) & m),
            wide: ids.wide,
            tl0_pic_idx: ids.tl0_pic_idx.map(|t| t.wrapping_add(cur.tl0_offset)),
        };
        if let Some(p) = out.picture_id
            && self.last_pid.is_none_or(|l| newer(p, l & m, m))
        {
            self.last_pid = Some(p);
        }
        if out.tl0_pic_idx.is_some() {
            self.last_tl0 = out.tl0_pic_idx;
        }
        out
    }

    /// A packet of the mapped source is dropped on purpose: a picture id not seen before
    /// moves the following pictures down by one.
    pub fn skip(&mut self, source: SourceKey, ids: PictureIds) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let Some(pid) = ids.picture_id else { return };
        if cur.source != source {
            return;
        }
        if cur.newest_pid.is_none_or(|n| newer(pid, n, mask(ids.wide))) {
            cur.newest_pid = Some(pid);
            cur.pid_offset = cur.pid_offset.wrapping_sub(1) & PID_MASK;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pid: u16, tl0: u8) -> PictureIds {
        PictureIds {
            picture_id: Some(pid),
            wide: true,
            tl0_pic_idx: Some(tl0),
        }
    }

    fn out(r: &mut PictureIdRewriter, src: SourceKey, pid: u16, tl0: u8) -> (u16, u8) {
        let o = r.rewrite(src, ids(pid, tl0));
        (o.picture_id.unwrap(), o.tl0_pic_idx.unwrap())
    }

    #[test]
    fn first_source_passes_unchanged() {
        let mut r = PictureIdRewriter::default();
        assert_eq!(out(&mut r, 1, 500, 9), (500, 9));
        assert_eq!(out(&mut r, 1, 501, 9), (501, 9));
        // Packets without the fields keep them absent.
        let none = PictureIds {
            picture_id: None,
            wide: false,
            tl0_pic_idx: None,
        };
        assert_eq!(r.rewrite(1, none), none);
    }

    #[test]
    fn switch_continues_both_counters() {
        let mut r = PictureIdRewriter::default();
        out(&mut r, 1, 0x7ffe, 255);
        assert_eq!(out(&mut r, 1, 0x7fff, 255), (0x7fff, 255));
        // Another simulcast layer with its own numbering.
        assert_eq!(out(&mut r, 2, 40, 3), (0, 0));
        assert_eq!(out(&mut r, 2, 41, 4), (1, 1));
        // Back to the first: it continues too.
        assert_eq!(out(&mut r, 1, 100, 200), (2, 2));
    }

    #[test]
    fn dropped_pictures_leave_no_gap() {
        let mut r = PictureIdRewriter::default();
        assert_eq!(out(&mut r, 1, 10, 1), (10, 1));
        r.skip(1, ids(11, 1));
        r.skip(1, ids(11, 1)); // second packet of the same dropped picture
        r.skip(2, ids(12, 1)); // not the mapped source
        assert_eq!(out(&mut r, 1, 12, 2), (11, 2));
        r.skip(1, ids(13, 2));
        assert_eq!(out(&mut r, 1, 14, 2), (12, 2));
        // A late skip of an old picture changes nothing.
        r.skip(1, ids(5, 2));
        assert_eq!(out(&mut r, 1, 15, 3), (13, 3));
    }

    #[test]
    fn seven_bit_ids_wrap_at_128() {
        let mut r = PictureIdRewriter::default();
        let short = |pid| PictureIds {
            picture_id: Some(pid),
            wide: false,
            tl0_pic_idx: None,
        };
        assert_eq!(r.rewrite(1, short(127)).picture_id, Some(127));
        r.skip(1, short(0));
        assert_eq!(r.rewrite(1, short(1)).picture_id, Some(0));
    }
}
