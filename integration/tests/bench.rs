//! portunus-bench's EchoTest scenario against portunus in-process: two sessions for three
//! seconds of audio and video at real rates, every measurement present.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, config, endpoint, start};
use portunus_integration::Endpoint;
use portunus_integration::bench::echotest::{self, EchotestOptions, Live, Phase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_two_sessions() {
    let server = start(config(60)).await;
    let Endpoint::WebSocket(url) = endpoint(&server, "ws") else {
        unreachable!("ws endpoint")
    };
    let mut opts = EchotestOptions::new(url, 2, Duration::from_secs(3));
    // The server runs in this process: its /proc entry is ours.
    opts.server_pid = Some(std::process::id());
    opts.setup_timeout = WAIT;
    let live = Arc::new(Live::default());
    let report = tokio::time::timeout(Duration::from_secs(60), echotest::run(opts, live.clone()))
        .await
        .expect("the run is bounded")
        .expect("the run completes");
    println!("{}", report.to_table(10));

    assert_eq!(live.phase(), Phase::Done);
    let t = &report.totals;
    assert_eq!((t.sessions_up, t.sessions_failed), (2, 0), "{report:#?}");
    assert!(report.media_seconds >= 3.0 && report.media_seconds < 4.0);
    for s in &report.sessions {
        assert_eq!(s.error, None);
        assert!(s.setup_ms.is_some_and(|ms| ms > 0.0));
        assert_eq!(s.send_errors, 0);
        for r in [&s.audio, &s.video] {
            // ~50 audio packets/s, ~180 video packets/s (6 per frame at 30 fps): 3 s worth,
            // with slack for a slow shared machine.
            let min_sent = match r.kind {
                portunus_integration::bench::payload::Kind::Audio => 100,
                portunus_integration::bench::payload::Kind::Video => 400,
            };
            assert!(r.sent_packets >= min_sent, "{r:?}");
            assert!(r.loss_pct < 2.0, "loss {r:?}");
            assert_eq!(r.duplicates, 0);
            let (p50, p99) = (r.rtt_p50_ms.expect("p50"), r.rtt_p99_ms.expect("p99"));
            assert!(p50 > 0.0 && p50 <= p99 && p99 < 500.0, "{r:?}");
            assert!(r.jitter_ms.is_some_and(|j| j >= 0.0));
            assert!(r.received_kbps > 0.0);
        }
    }
    // Totals add the sessions up.
    let sum: u64 = report
        .sessions
        .iter()
        .map(|s| s.video.received_packets)
        .sum();
    assert_eq!(t.video.received_packets, sum);
    assert!(
        t.video.received_kbps > 2.0 * 1000.0,
        "two ~1.5 Mbit/s echoes: {:?}",
        t.video
    );
    let server = report.server_media.expect("server usage read from /proc");
    assert!(server.cpu_s > 0.0 && server.peak_rss_kib > 0);
    assert!(report.server_cpu_us_per_echoed_packet.is_some());
    assert!(report.client_media.cpu_s > 0.0);
    // The JSON for scripts has the same numbers.
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["totals"]["sessions_up"], 2);
    assert_eq!(json["sessions"][0]["audio"]["kind"], "audio");
}

#[tokio::test]
async fn bad_options_and_unreachable_servers_are_reported() {
    let live = Arc::new(Live::default());
    let zero = EchotestOptions::new("ws://127.0.0.1:1", 0, Duration::from_secs(1));
    assert!(echotest::run(zero, live.clone()).await.is_err());
    let long = EchotestOptions::new("ws://127.0.0.1:1", 1, Duration::from_secs(601));
    assert!(echotest::run(long, live.clone()).await.is_err());
    // Nothing listens on port 1: the session fails with a reason, the run still ends.
    let mut nobody = EchotestOptions::new("ws://127.0.0.1:1", 2, Duration::from_secs(1));
    nobody.drain = Duration::from_millis(10);
    let report = echotest::run(nobody, live).await.expect("run ends");
    assert_eq!(report.totals.sessions_up, 0);
    assert_eq!(report.totals.sessions_failed, 2);
    assert!(
        report.sessions[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("connect")),
        "{:?}",
        report.sessions[0].error
    );
    assert_eq!(report.totals.audio.sent_packets, 0);
}
