//! portunus-bench's EchoTest scenario against portunus in-process: two sessions for three
//! seconds of audio and video at real rates, every measurement present.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, config, endpoint, start};
use portunus_integration::Endpoint;
use portunus_integration::bench::echotest::{self, EchotestOptions, Live, Phase};
use portunus_integration::bench::receivers::{Costs, ReceiverRow, ReceiverTotals, RunOptions};
use portunus_integration::bench::videoroom::{self, VideoroomOptions, VideoroomReport};
use portunus_integration::media::VideoCodec;
use portunus_integration::media::ffmpeg::VideoSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_two_sessions() {
    let (_server, url) = ws_server().await;
    let mut opts = EchotestOptions::new(url, 2, Duration::from_secs(3));
    // The server runs in this process: its /proc entry is ours.
    opts.server_pid = Some(std::process::id());
    opts.setup_timeout = WAIT;
    let live = Arc::new(Live::default());
    let report = bounded(60, echotest::run(opts, live.clone())).await;
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

/// The EchoTest scenario with H.264-shaped video (the peers negotiate only H.264): one
/// session, 2 s, every packet echoed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_h264_one_session() {
    let (_server, url) = ws_server().await;
    let mut opts = EchotestOptions::new(url, 1, Duration::from_secs(2));
    opts.setup_timeout = WAIT;
    opts.media.video_codec = VideoCodec::H264;
    let report = bounded(60, echotest::run(opts, Arc::new(Live::default()))).await;
    println!("{}", report.to_table(10));
    assert_eq!(report.totals.sessions_up, 1, "{report:#?}");
    let v = &report.sessions[0].video;
    assert!(v.sent_packets >= 200 && v.loss_pct < 2.0, "{v:?}");
    assert_eq!(
        serde_json::to_value(&report).expect("JSON")["media"]["video_codec"],
        "h264"
    );
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

/// The VideoRoom scenario against portunus in-process: 1 publisher of real VP8 + Opus (made
/// by ffmpeg, Debian package `ffmpeg`; skipped with a note when it is missing) and 2
/// subscribers for 5 s. Checks packets flowed with low loss and the report is complete (no
/// timing assertions beyond generous sanity bounds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_one_publisher_two_subscribers() {
    if !have_ffmpeg(None) {
        return;
    }
    let report = small_videoroom(VideoCodec::Vp8, 5).await;

    let t = &report.totals;
    assert!(report.window_seconds >= 5.0 && report.window_seconds < 7.0);
    // ~50 audio + ~30+ video packets a second were sent in the window.
    assert_forwarded(t, 300, 2);
    for s in &report.subscribers {
        assert_received(s);
        assert!(s.setup_ms.is_some_and(|v| v > 0.0), "{s:?}");
        assert!(s.jitter_ms.is_some() && s.kbps > 0.0, "{s:?}");
        assert_eq!(s.video_layer, Some(0));
    }
    assert_costs(&report.costs);
    assert!(report.ledger_entries > 0);
    let json = serde_json::to_value(&report).expect("JSON");
    for key in [
        "forwarded_per_server_cpu_s",
        "totals",
        "subscribers",
        "server_window",
        "video",
    ] {
        assert!(json.get(key).is_some(), "JSON has {key}");
    }
}

/// portunus in-process (running while the first value lives) and its WebSocket URL.
async fn ws_server() -> (portunus::Server, String) {
    let server = start(config(60)).await;
    let Endpoint::WebSocket(url) = endpoint(&server, "ws") else {
        unreachable!("ws endpoint")
    };
    (server, url)
}

/// A scenario run, bounded by `limit_s`; it must complete.
async fn bounded<R, E: std::fmt::Debug>(
    limit_s: u64,
    run: impl std::future::Future<Output = Result<R, E>>,
) -> R {
    tokio::time::timeout(Duration::from_secs(limit_s), run)
        .await
        .expect("the run is bounded")
        .expect("the run completes")
}

/// A receiver (subscriber, viewer) that came up and got what was sent to it, a keyframe
/// among it, in sane time (no timing assertions beyond generous bounds).
fn assert_received<X: std::fmt::Debug>(r: &ReceiverRow<X>) {
    assert_eq!(r.error, None);
    assert!(r.expected > 0 && r.packets > 0, "{r:?}");
    assert!(r.first_keyframe_ms.is_some(), "a keyframe arrived: {r:?}");
    let (p50, p99) = (
        r.latency_p50_ms.expect("p50"),
        r.latency_p99_ms.expect("p99"),
    );
    assert!(p50 >= 0.0 && p50 <= p99 && p99 < 1000.0, "{r:?}");
}

/// At least `min_sent` packets sent in the window, each of `receivers` got them (loss under
/// 2%), and every packet forwarded is one that was sent.
fn assert_forwarded<X: std::fmt::Debug>(t: &ReceiverTotals<X>, min_sent: u64, receivers: u64) {
    assert!(t.sent_packets >= min_sent, "{t:?}");
    assert!(t.forwarded_packets >= receivers * min_sent, "{t:?}");
    assert!(t.loss_pct < 2.0, "{t:?}");
    assert_eq!(t.unmatched_packets, 0, "{t:?}");
}

/// The server's and the tool's numbers, read from /proc, are all there.
fn assert_costs(c: &Costs) {
    assert!(c.server_window.is_some_and(|u| u.cpu_s > 0.0), "{c:?}");
    assert!(c.forwarded_per_server_cpu_s.is_some_and(|v| v > 0.0));
    assert!(c.server_cpu_us_per_forwarded_packet.is_some());
    assert!(c.server_kib_per_peer_connection.is_some());
    assert!(c.client_cpu_us_per_received_packet.is_some());
}

/// Whether ffmpeg (and `encoder`, if given) is here; skips with a note when not, except under
/// CI's `PORTUNUS_REQUIRE_FFMPEG`, where a missing one is a failure.
fn have_ffmpeg(encoder: Option<&str>) -> bool {
    use portunus_integration::media::ffmpeg;
    let found = match encoder {
        Some(e) => ffmpeg::require_encoder(e),
        None => ffmpeg::version().map(drop),
    };
    match found {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("PORTUNUS_REQUIRE_FFMPEG").is_none(),
                "ffmpeg is required here: {e}"
            );
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}

/// A small clip keeps ffmpeg quick on CI; the path is the same as at 720p.
fn small_clip(codec: VideoCodec, gop: u32) -> VideoSpec {
    VideoSpec {
        width: 320,
        height: 180,
        kbps: 300,
        seconds: 4,
        gop,
        codec,
        ..VideoSpec::default()
    }
}

/// 1 publisher and 2 subscribers for `seconds` against portunus in-process; the run ends
/// with every participant up.
async fn small_videoroom(codec: VideoCodec, seconds: u64) -> VideoroomReport {
    let (_server, url) = ws_server().await;
    let mut opts = VideoroomOptions::new(url, 2, Duration::from_secs(seconds));
    opts.run.server_pid = Some(std::process::id());
    opts.run.setup_timeout = WAIT;
    opts.run.video = small_clip(codec, 60);
    let live = Arc::new(Live::default());
    let report = bounded(180, videoroom::run(opts, live.clone())).await;
    println!("{}", report.to_table(10));

    assert_eq!(live.phase(), Phase::Done);
    let t = &report.totals;
    assert_eq!(t.publishers_up, 1, "{:?}", report.publisher_errors);
    assert_eq!(
        (t.subscribers_up, t.subscribers_failed),
        (2, 0),
        "{report:#?}"
    );
    report
}

/// The VideoRoom scenario with H.264 (libx264 constrained baseline, RFC 6184 packetization)
/// in an `h264` room: 1 publisher, 2 subscribers, 4 s, small clip. Every subscriber gets
/// H.264 keyframes (IDR found in the RTP) and the packets the publisher sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_h264_one_publisher_two_subscribers() {
    if !have_ffmpeg(Some("libx264")) {
        return;
    }
    let report = small_videoroom(VideoCodec::H264, 4).await;

    let t = &report.totals;
    assert_eq!(report.video[0].codec, VideoCodec::H264);
    // H.264 payloads arrive as sent.
    assert_forwarded(t, 200, 2);
    for s in &report.subscribers {
        // An IDR reached every subscriber.
        assert_received(s);
    }
}

/// The Streaming scenario against portunus's `janus.plugin.streaming`: the tool creates an
/// RTP mountpoint (Opus + VP8 on ports the plugin picks), feeds it plain RTP and 2 viewers
/// watch for 5 s. Then the same with H.264 (1 viewer, 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_one_mountpoint_two_viewers() {
    use portunus_integration::bench::streaming::{self, StreamingOptions};
    if !have_ffmpeg(Some("libx264")) {
        return;
    }
    let (_server, url) = ws_server().await;
    for (codec, viewers, seconds) in [(VideoCodec::Vp8, 2, 5), (VideoCodec::H264, 1, 3)] {
        let mut opts = StreamingOptions::new(url.clone(), viewers, Duration::from_secs(seconds));
        opts.run.server_pid = Some(std::process::id());
        opts.run.setup_timeout = WAIT;
        // A keyframe a second: a plain RTP source cannot be asked for one.
        opts.run.video = small_clip(codec, 30);
        let live = Arc::new(Live::default());
        let report = bounded(180, streaming::run(opts, live.clone())).await;
        println!("{}", report.to_table(10));

        assert_eq!(live.phase(), Phase::Done);
        let t = &report.totals;
        assert!(report.created, "the tool made its mountpoint");
        assert_eq!(report.streams.len(), 2, "{:?}", report.streams);
        assert_eq!(
            (t.viewers_up, t.viewers_failed),
            (viewers, 0),
            "{report:#?}"
        );
        assert_eq!(t.source_send_errors, 0);
        // ~50 audio + ~30+ video packets a second were sent in the window.
        assert_forwarded(t, 60 * seconds, viewers as u64);
        for v in &report.viewers {
            assert_received(v);
            assert!(v.audio_packets > 0 && v.video_packets > 0, "{v:?}");
        }
        assert_costs(&report.costs);
        let json = serde_json::to_value(&report).expect("JSON");
        assert_eq!(json["totals"]["viewers_up"], viewers);
        assert_eq!(json["video"]["codec"], codec.name());
    }
}

/// Bad options end the run with a clear error before anything connects.
#[tokio::test]
async fn videoroom_rejects_bad_options() {
    use portunus_integration::bench::videoroom::VideoroomError;
    let ok = VideoroomOptions::new("ws://127.0.0.1:1", 1, Duration::from_secs(1));
    let cases: Vec<VideoroomOptions> = vec![
        VideoroomOptions {
            publishers: 0,
            ..ok.clone()
        },
        VideoroomOptions {
            subscribers: 100_000,
            ..ok.clone()
        },
        VideoroomOptions {
            run: RunOptions {
                duration: Duration::ZERO,
                ..ok.run.clone()
            },
            ..ok.clone()
        },
        VideoroomOptions {
            run: RunOptions {
                max_payload: 50,
                ..ok.run.clone()
            },
            ..ok.clone()
        },
    ];
    for opts in cases {
        let r = videoroom::run(opts, Arc::new(Live::default())).await;
        assert!(matches!(r, Err(VideoroomError::Options(_))), "{r:?}");
    }
}
