//! Setting receivers up: a bounded number at a time, each with its own measure and a
//! receive-only peer whose tap measures every RTP packet.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::Mutex;

use super::Window;
use crate::bench::ledger::{Ledger, Sent};
use crate::bench::live::Live;
use crate::bench::payload::Kind;
use crate::janus::{Endpoint, JanusClient};
use crate::media::VideoCodec;
use crate::peer::{PeerConfig, RtpTap};

/// One receiver's outcome: its index, how its setup went, and what it measured.
pub(crate) type Outcome<T, M> = (usize, Result<T, String>, Arc<Mutex<M>>);

/// Sets up `count` receivers (`what`: "viewer", "subscriber"), at most `concurrency` at
/// once. Each gets a measure from `new_measure`; `start` makes its setup, which runs once a
/// slot is free. `live` counts them as they come up or fail. Returns the outcomes in index
/// order, and the errors of setup tasks that did not finish.
pub(crate) async fn set_up_all<T, M, Fut>(
    what: &'static str,
    count: usize,
    concurrency: usize,
    live: &Arc<Live>,
    new_measure: impl Fn() -> M,
    mut start: impl FnMut(usize, Arc<Mutex<M>>) -> Fut,
) -> (Vec<Outcome<T, M>>, Vec<String>)
where
    T: Send + 'static,
    M: Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let measure = Arc::new(Mutex::new(new_measure()));
            // Not polled before the permit: the setup starts only then.
            let setup = start(i, measure.clone());
            let (gate, live) = (gate.clone(), live.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let r = setup.await;
                match &r {
                    Ok(_) => live.sessions_up.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        tracing::warn!(index = i, "{what} setup failed: {e}");
                        live.sessions_failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                (i, r, measure)
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(count);
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(o) => outcomes.push(o),
            Err(e) => errors.push(format!("{what} task: {e}")),
        }
    }
    (outcomes, errors)
}

/// A Janus-API client on the WebSocket `server`; the error names the server.
pub(crate) async fn connect(server: &str) -> Result<JanusClient, String> {
    JanusClient::connect(&Endpoint::WebSocket(server.to_string()))
        .await
        .map_err(|e| format!("connect {server}: {e}"))
}

/// A receiving peer on `bind` whose `tap` sees every RTP packet (payloads are not kept).
pub(crate) fn measuring_peer(bind: IpAddr, video_codec: VideoCodec, tap: RtpTap) -> PeerConfig {
    PeerConfig {
        bind: SocketAddr::new(bind, 0),
        data_channel: None,
        keep_payloads: 0,
        rtp_tap: Some(tap),
        video_codec,
        ..PeerConfig::default()
    }
}

/// What receivers' taps check each packet against: the ledger of sent payloads and the
/// window, on the run's clock; `live` counts what they measure.
#[derive(Clone)]
pub(crate) struct Measuring {
    pub ledger: Arc<Ledger>,
    pub window: Arc<Window>,
    pub live: Arc<Live>,
    pub epoch: Instant,
}

/// A packet a receiver got, for the measurement.
pub(crate) enum Arrival {
    /// Not a payload the tool sent (from that sender, of that kind).
    Unmatched,
    /// Sent before or after the window.
    Outside,
    /// Sent in the window, arrived `arrived_us` after the epoch.
    Inside { sent: Sent, arrived_us: u64 },
}

impl Measuring {
    /// What `payload` of `kind` from `sender`, arrived `at`, is.
    pub(crate) fn arrival(&self, sender: u16, kind: Kind, payload: &[u8], at: Instant) -> Arrival {
        let Some(sent) = self.ledger.lookup(sender, kind, payload) else {
            return Arrival::Unmatched;
        };
        if !self.window.contains(sent.at_us) {
            return Arrival::Outside;
        }
        let arrived_us = at.saturating_duration_since(self.epoch).as_micros() as u64;
        Arrival::Inside { sent, arrived_us }
    }

    /// One more packet measured (for the progress display).
    pub(crate) fn counted(&self) {
        self.live.received_packets.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sets_everyone_up_a_few_at_a_time_and_counts_them() {
        let live = Arc::new(Live::default());
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (outcomes, errors) = set_up_all(
            "viewer",
            7,
            2,
            &live,
            || 0u32,
            |i, measure| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    *measure.lock() = i as u32;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if i == 3 {
                        Err("refused".to_string())
                    } else {
                        Ok(i)
                    }
                }
            },
        )
        .await;
        assert!(errors.is_empty());
        assert!(most.load(Ordering::SeqCst) <= 2, "at most 2 at once");
        let indexes: Vec<usize> = outcomes.iter().map(|o| o.0).collect();
        assert_eq!(indexes, (0..7).collect::<Vec<_>>());
        assert!(outcomes.iter().all(|(i, _, m)| *m.lock() == *i as u32));
        assert_eq!(outcomes[3].1, Err("refused".to_string()));
        assert_eq!(live.sessions_up.load(Ordering::Relaxed), 6);
        assert_eq!(live.sessions_failed.load(Ordering::Relaxed), 1);
    }
}
