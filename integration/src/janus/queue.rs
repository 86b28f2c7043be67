//! The queue of asynchronous events shared by a transport (producer) and any number of
//! waiters (consumers). Waiters never hold the lock while waiting, so many tasks can wait on
//! one client for events of different handles at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{JanusError, JanusEvent};

/// Beyond this many unread events the oldest are dropped (a long load run that never reads
/// `media` events must not grow without bound).
const MAX_QUEUED: usize = 100_000;

#[derive(Default)]
pub(crate) struct EventQueue {
    queue: Mutex<VecDeque<JanusEvent>>,
    notify: Notify,
    closed: AtomicBool,
}

impl EventQueue {
    /// Producer side: appends an event and wakes the waiters.
    pub(crate) fn push(&self, ev: JanusEvent) {
        {
            let mut q = self.queue.lock();
            if q.len() >= MAX_QUEUED {
                q.pop_front();
                tracing::warn!("event queue full: dropping the oldest unread event");
            }
            q.push_back(ev);
        }
        self.notify.notify_waiters();
    }

    /// Producer side: no more events will come (the connection ended).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Removes and returns the first event matching `pred`, waiting until `deadline`.
    pub(crate) async fn take(
        &self,
        deadline: Instant,
        mut pred: impl FnMut(&JanusEvent) -> bool,
    ) -> Result<JanusEvent, JanusError> {
        loop {
            // Register interest before looking, so a push between the look and the wait
            // is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut q = self.queue.lock();
                if let Some(pos) = q.iter().position(&mut pred)
                    && let Some(ev) = q.remove(pos)
                {
                    return Ok(ev);
                }
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(JanusError::Closed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(JanusError::Timeout("event"));
            }
        }
    }

    /// Everything queued now, in order.
    pub(crate) fn drain(&self) -> Vec<JanusEvent> {
        self.queue.lock().drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn up(sender: u64) -> JanusEvent {
        JanusEvent::WebrtcUp {
            session_id: 1,
            sender,
        }
    }

    #[tokio::test]
    async fn waiters_for_different_handles_do_not_block_each_other() {
        let q = Arc::new(EventQueue::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        let (qa, qb) = (q.clone(), q.clone());
        let a = tokio::spawn(async move { qa.take(deadline, |e| e.sender() == 1).await });
        let b = tokio::spawn(async move { qb.take(deadline, |e| e.sender() == 2).await });
        tokio::task::yield_now().await;
        q.push(up(2));
        q.push(up(1));
        assert_eq!(b.await.ok().and_then(Result::ok), Some(up(2)));
        assert_eq!(a.await.ok().and_then(Result::ok), Some(up(1)));
    }

    #[tokio::test]
    async fn unmatched_events_stay_in_order() {
        let q = EventQueue::default();
        q.push(JanusEvent::Other(json!({"n": 1})));
        q.push(up(7));
        q.push(JanusEvent::Other(json!({"n": 2})));
        let deadline = Instant::now() + Duration::from_secs(1);
        assert_eq!(
            q.take(deadline, |e| e.sender() == 7).await.ok(),
            Some(up(7))
        );
        let rest = q.drain();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0], JanusEvent::Other(json!({"n": 1})));
    }

    #[tokio::test]
    async fn timeout_and_close_end_the_wait() {
        let q = EventQueue::default();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(matches!(
            q.take(soon, |_| true).await,
            Err(JanusError::Timeout(_))
        ));
        q.close();
        let later = Instant::now() + Duration::from_secs(5);
        assert!(matches!(
            q.take(later, |_| true).await,
            Err(JanusError::Closed)
        ));
    }
}
