//! Per-shard timer queue: which peer needs `Input::Timeout` next, without scanning all.
//!
//! Each peer has at most one live entry (its `scheduled` time): a new deadline is queued
//! only when it is earlier than the one already queued; a later one is re-queued when the
//! earlier entry fires. Entries whose time no longer matches are stale and skipped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::types::HandleId;

#[derive(Debug, Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, HandleId)>>,
}

impl Deadlines {
    /// Queues `deadline` for `handle` if it is earlier than `scheduled`; updates it.
    pub fn schedule(
        &mut self,
        handle: HandleId,
        deadline: Instant,
        scheduled: &mut Option<Instant>,
    ) {
        if scheduled.is_none_or(|s| deadline < s) {
            self.heap.push(Reverse((deadline, handle)));
            *scheduled = Some(deadline);
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pops one entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, HandleId)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_earlier_deadlines_are_queued() {
        let t = Instant::now();
        let mut d = Deadlines::default();
        let mut s = None;
        d.schedule(1, t + Duration::from_millis(50), &mut s);
        d.schedule(1, t + Duration::from_millis(80), &mut s);
        assert_eq!(d.len(), 1);
        d.schedule(1, t + Duration::from_millis(10), &mut s);
        assert_eq!(d.len(), 2);
        assert_eq!(s, Some(t + Duration::from_millis(10)));
        assert_eq!(d.next(), Some(t + Duration::from_millis(10)));
        assert_eq!(d.pop_due(t), None);
        assert_eq!(
            d.pop_due(t + Duration::from_millis(20)),
            Some((t + Duration::from_millis(10), 1))
        );
        assert!(!d.is_empty());
    }
}
