//! End to end: the Streaming plugin's RTP mountpoints fed by ffmpeg (VP8 + Opus over plain
//! RTP on loopback), watched by the str0m test client over WebRTC; switching, stopping,
//! destroying while watched, and the error codes of bad requests.
//!
//! ffmpeg (Debian package `ffmpeg`) is needed for the media tests: without it they are
//! skipped with a note, unless `PORTUNUS_REQUIRE_FFMPEG` is set (CI), where they fail.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use portunus::Server;
use portunus_integration::JanusClient;
use portunus_integration::janus::JanusEvent;
use portunus_integration::peer::PeerState;
use portunus_integration::streaming::{STREAMING, StreamingHandle, Viewer, check, status};
use serde_json::{Value, json};

use common::{WAIT, config, endpoint, start};

/// ffmpeg is there, or the test is skipped (fails under `PORTUNUS_REQUIRE_FFMPEG`).
fn have_ffmpeg() -> bool {
    match portunus_integration::media::ffmpeg::version() {
        Ok(_) => true,
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

/// An ffmpeg sending a test pattern (VP8, pt 100) and a tone (Opus, pt 111) as plain RTP to
/// loopback ports, for at most `seconds`; killed when dropped.
struct Feed(Child);

impl Feed {
    fn start(video_port: u64, audio_port: u64, seconds: u32) -> Feed {
        let t = seconds.to_string();
        let video = format!("rtp://127.0.0.1:{video_port}?pkt_size=1200");
        let audio = format!("rtp://127.0.0.1:{audio_port}");
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-t",
                &t,
                "-map",
                "0:v",
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
            ])
            .args([
                "-b:v",
                "300k",
                "-g",
                "15",
                "-payload_type",
                "100",
                "-f",
                "rtp",
                &video,
            ])
            .args(["-t", &t, "-map", "1:a", "-c:a", "libopus", "-b:a", "32k"])
            .args(["-payload_type", "111", "-f", "rtp", &audio])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("ffmpeg starts");
        Feed(child)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Env {
    _server: Server,
    client: Arc<JanusClient>,
    session: u64,
    admin: StreamingHandle,
}

impl Env {
    async fn start() -> Env {
        let mut c = config(60);
        c.plugins
            .settings
            .insert(STREAMING.to_string(), json!({"admin_key": "itest"}));
        let server = start(c).await;
        let client = Arc::new(
            JanusClient::connect(&endpoint(&server, "ws"))
                .await
                .expect("connect"),
        );
        let session = client.create().await.expect("create session");
        let admin = StreamingHandle::attach(client.clone(), session, WAIT)
            .await
            .expect("attach");
        Env {
            _server: server,
            client,
            session,
            admin,
        }
    }

    /// Creates an Opus + VP8 mountpoint on free ports (legacy keys, as the load tool and
    /// Janus's sample); returns (video port, audio port).
    async fn create(&self, id: u64, secret: &str) -> (u64, u64) {
        let r = self
            .admin
            .request_ok(json!({
                "request": "create", "type": "rtp", "id": id, "admin_key": "itest",
                "description": format!("itest {id}"), "secret": secret,
                "audio": true, "audioport": 0, "audiopt": 111, "audiocodec": "opus",
                "video": true, "videoport": 0, "videopt": 100, "videocodec": "vp8",
            }))
            .await
            .expect("create");
        assert_eq!(r["streaming"], "created", "{r}");
        let port = |k: &str| {
            r["stream"][k]
                .as_u64()
                .filter(|p| *p > 0)
                .unwrap_or_else(|| panic!("no {k} in {r}"))
        };
        (port("video_port"), port("audio_port"))
    }

    async fn viewer(&self, body: Value) -> Viewer {
        Viewer::watch(self.client.clone(), self.session, body, WAIT)
            .await
            .expect("watch")
    }
}

/// Video and audio mids of the viewer's PeerConnection.
fn mids(s: &PeerState) -> (String, String) {
    use str0m::media::MediaKind;
    (
        s.mid_of(MediaKind::Video)
            .expect("a video m-line")
            .to_string(),
        s.mid_of(MediaKind::Audio)
            .expect("an audio m-line")
            .to_string(),
    )
}

fn keyframes_on(s: &PeerState, mid: &str) -> u64 {
    s.ssrcs_on(mid).iter().map(|(_, st)| st.keyframes).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_gets_ffmpeg_media_then_stops() {
    if !have_ffmpeg() {
        return;
    }
    let env = Env::start().await;
    let (vport, aport) = env.create(11, "s").await;
    let _feed = Feed::start(vport, aport, 20);
    let viewer = env.viewer(json!({"id": 11})).await;
    let (vmid, amid) = mids(&viewer.peer.state());
    let s = viewer
        .peer
        .wait_until(WAIT, "video, audio and a keyframe", |s| {
            s.packets_on(&vmid) >= 30 && s.packets_on(&amid) >= 20 && keyframes_on(s, &vmid) >= 1
        })
        .await
        .expect("media arrives");
    assert!(s.bytes_on(&vmid) > 0);

    // info / list show the streams receiving (age_ms of the last packet, not of creation).
    let info = env
        .admin
        .request_ok(json!({"request": "info", "id": 11, "secret": "s"}))
        .await
        .expect("info");
    assert_eq!(info["info"]["viewers"], 1, "{info}");
    for m in info["info"]["media"].as_array().expect("media") {
        assert!(m["age_ms"].as_u64().expect("age_ms") < 5000, "{info}");
    }
    let list = env
        .admin
        .request_ok(json!({"request": "list"}))
        .await
        .expect("list");
    let entry = list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["id"] == 11))
        .expect("listed");
    assert_eq!(entry["media"].as_array().map(Vec::len), Some(2), "{entry}");

    // pause stops the flow, start resumes it.
    let r = viewer
        .handle
        .request_ok(json!({"request": "pause"}))
        .await
        .expect("pause");
    assert_eq!(status(&r), Some("pausing"));
    let r = viewer
        .handle
        .request_ok(json!({"request": "start"}))
        .await
        .expect("start");
    assert_eq!(status(&r), Some("started"));
    let before = viewer.peer.state().packets_on(&vmid);
    viewer
        .peer
        .wait_until(WAIT, "media again after start", |s| {
            s.packets_on(&vmid) > before + 10
        })
        .await
        .expect("media resumes");

    // configure video off: audio keeps flowing, video stops growing (bounded check).
    viewer
        .handle
        .request_ok(json!({"request": "configure", "video": false}))
        .await
        .expect("configure");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (v0, a0) = {
        let s = viewer.peer.state();
        (s.packets_on(&vmid), s.packets_on(&amid))
    };
    viewer
        .peer
        .wait_until(WAIT, "audio keeps flowing", |s| {
            s.packets_on(&amid) > a0 + 20
        })
        .await
        .expect("audio flows");
    assert!(
        viewer.peer.state().packets_on(&vmid) <= v0 + 2,
        "video stopped"
    );

    // stop: "stopping", then the core hangs up.
    let r = viewer
        .handle
        .request_ok(json!({"request": "stop"}))
        .await
        .expect("stop");
    assert_eq!(status(&r), Some("stopping"));
    viewer
        .handle
        .wait_core("hangup", |e| matches!(e, JanusEvent::Hangup { .. }))
        .await
        .expect("hangup after stop");
    let info = env
        .admin
        .request_ok(json!({"request": "info", "id": 11, "secret": "s"}))
        .await
        .expect("info");
    assert_eq!(info["info"]["viewers"], 0, "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_switches_mountpoints() {
    if !have_ffmpeg() {
        return;
    }
    let env = Env::start().await;
    let (v1, a1) = env.create(21, "s").await;
    let (v2, a2) = env.create(22, "s").await;
    let feed1 = Feed::start(v1, a1, 30);
    let _feed2 = Feed::start(v2, a2, 30);
    let viewer = env.viewer(json!({"id": 21})).await;
    let (vmid, _) = mids(&viewer.peer.state());
    viewer
        .peer
        .wait_until(WAIT, "first keyframe", |s| keyframes_on(s, &vmid) >= 1)
        .await
        .expect("media from 21");
    let r = viewer
        .handle
        .request_ok(json!({"request": "switch", "id": 22}))
        .await
        .expect("switch");
    assert_eq!(r["result"], json!({"switched": "ok", "id": 22}));
    // With 21's sender gone, whatever arrives now comes from 22.
    drop(feed1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (p0, k0) = {
        let s = viewer.peer.state();
        (s.packets_on(&vmid), keyframes_on(&s, &vmid))
    };
    viewer
        .peer
        .wait_until(WAIT, "media and a keyframe from 22", |s| {
            s.packets_on(&vmid) > p0 + 30 && keyframes_on(s, &vmid) > k0
        })
        .await
        .expect("media from 22");
    let info = env
        .admin
        .request_ok(json!({"request": "info", "id": 22, "secret": "s"}))
        .await
        .expect("info");
    assert_eq!(info["info"]["viewers"], 1);

    // 21's sender is gone: once the core says so, age_ms counts from the last packet, that
    // is at least the no-media time (1 s here), not from when the core noticed.
    let mut stopped = false;
    for _ in 0..100 {
        let info = env
            .admin
            .request_ok(json!({"request": "info", "id": 21, "secret": "s"}))
            .await
            .expect("info");
        let ages: Vec<u64> = info["info"]["media"]
            .as_array()
            .expect("media")
            .iter()
            .map(|m| m["age_ms"].as_u64().expect("age_ms"))
            .collect();
        assert!(ages.iter().all(|a| *a == 0 || *a >= 1000), "{info}");
        if ages.iter().all(|a| *a > 0) {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "21's streams reported stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_while_watched_ends_the_viewers() {
    if !have_ffmpeg() {
        return;
    }
    let env = Env::start().await;
    let (vport, aport) = env.create(31, "s").await;
    let _feed = Feed::start(vport, aport, 20);
    let viewer = env.viewer(json!({"id": 31})).await;
    let r = env
        .admin
        .request_ok(json!({"request": "destroy", "id": 31, "secret": "s"}))
        .await
        .expect("destroy");
    assert_eq!(r, json!({"streaming": "destroyed", "destroyed": 31}));
    let ev = viewer
        .handle
        .wait("stopped", |d| status(d) == Some("stopped"))
        .await
        .expect("the viewer is told");
    assert_eq!(
        ev.data,
        json!({"streaming": "event", "result": {"status": "stopped"}})
    );
    viewer
        .handle
        .wait_core("hangup", |e| matches!(e, JanusEvent::Hangup { .. }))
        .await
        .expect("its PeerConnection is closed");
    let r = env
        .admin
        .send(json!({"request": "info", "id": 31}), None)
        .await
        .expect("info");
    assert_eq!(r.data["error_code"], 455);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_a_subset_of_a_multistream_mountpoint() {
    if !have_ffmpeg() {
        return;
    }
    let env = Env::start().await;
    let r = env
        .admin
        .request_ok(json!({
            "request": "create", "type": "rtp", "id": 41, "admin_key": "itest",
            "media": [
                {"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"},
                {"type": "video", "mid": "v1", "port": 0, "pt": 100, "codec": "vp8"}
            ]
        }))
        .await
        .expect("create");
    let ports = r["stream"]["ports"].as_array().expect("ports").clone();
    let port = |mid: &str| {
        ports
            .iter()
            .find(|p| p["mid"] == mid)
            .and_then(|p| p["port"].as_u64())
            .expect("port")
    };
    let _feed = Feed::start(port("v1"), port("a"), 20);
    let viewer = env.viewer(json!({"id": 41, "media": ["v1"]})).await;
    let s = viewer.peer.state();
    assert_eq!(s.media.len(), 1, "only the video m-line: {:?}", s.media);
    let vmid = s.media[0].mid.clone();
    viewer
        .peer
        .wait_until(WAIT, "video", |s| s.packets_on(&vmid) >= 20)
        .await
        .expect("video arrives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_edit_and_kick_all_reach_the_viewers() {
    if !have_ffmpeg() {
        return;
    }
    let env = Env::start().await;
    let (vport, aport) = env.create(61, "s").await;
    let _feed = Feed::start(vport, aport, 30);
    let viewer = env.viewer(json!({"id": 61})).await;
    let (vmid, amid) = mids(&viewer.peer.state());
    viewer
        .peer
        .wait_until(WAIT, "media", |s| s.packets_on(&amid) >= 10)
        .await
        .expect("media arrives");

    // disable: the viewer stays but gets nothing; enable: media again.
    let r = env
        .admin
        .request_ok(json!({"request": "disable", "id": 61, "secret": "s"}))
        .await
        .expect("disable");
    assert_eq!(r, json!({"streaming": "ok"}));
    // As Janus 1.1.2: a disabled mountpoint can still be watched (offer, PeerConnection up).
    let late = env.viewer(json!({"id": 61})).await;
    let (_, late_amid) = mids(&late.peer.state());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a0 = viewer.peer.state().packets_on(&amid);
    let l0 = late.peer.state().packets_on(&late_amid);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        viewer.peer.state().packets_on(&amid) <= a0 + 2,
        "nothing flows while disabled"
    );
    assert!(
        late.peer.state().packets_on(&late_amid) <= l0 + 2,
        "nothing flows to a viewer that came while disabled"
    );
    env.admin
        .request_ok(json!({"request": "enable", "id": 61, "secret": "s"}))
        .await
        .expect("enable");
    viewer
        .peer
        .wait_until(WAIT, "media after enable", |s| {
            s.packets_on(&amid) > a0 + 10 && s.packets_on(&vmid) > 0
        })
        .await
        .expect("media again");
    late.peer
        .wait_until(WAIT, "media after enable (late viewer)", |s| {
            s.packets_on(&late_amid) > l0 + 10
        })
        .await
        .expect("media to the late viewer");

    // edit with edited_event: the viewer is told the new metadata.
    let r = env
        .admin
        .request_ok(json!({"request": "edit", "id": 61, "secret": "s",
                            "new_metadata": "now showing", "edited_event": true}))
        .await
        .expect("edit");
    assert_eq!(
        r,
        json!({"streaming": "edited", "id": 61, "permanent": false})
    );
    let ev = viewer
        .handle
        .wait("edited", |d| d["event"] == "edited")
        .await
        .expect("edited event");
    assert_eq!(
        ev.data,
        json!({"event": "edited", "id": 61, "metadata": "now showing"})
    );

    // kick_all: the viewer is told and hung up.
    let r = env
        .admin
        .request_ok(json!({"request": "kick_all", "id": 61, "secret": "s"}))
        .await
        .expect("kick_all");
    assert_eq!(r, json!({"streaming": "kicked_all"}));
    viewer
        .handle
        .wait("kicked_all", |d| status(d) == Some("kicked_all"))
        .await
        .expect("the viewer is told");
    viewer
        .handle
        .wait_core("hangup", |e| matches!(e, JanusEvent::Hangup { .. }))
        .await
        .expect("its PeerConnection is closed");
    let info = env
        .admin
        .request_ok(json!({"request": "info", "id": 61, "secret": "s"}))
        .await
        .expect("info");
    assert_eq!(info["info"]["viewers"], 0, "{info}");
}

/// Bad requests over the API, with their codes (no media needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_janus_error_codes() {
    let env = Env::start().await;
    env.create(51, "s").await;
    let h = &env.admin;
    let cases: Vec<(Value, u64)> = vec![
        (json!({"request": "nope"}), 452),
        (json!({"nothing": 1}), 453),
        (json!({"request": 1}), 454),
        (json!({"request": "info"}), 453),
        (json!({"request": "info", "id": "51"}), 454),
        (json!({"request": "info", "id": 999}), 455),
        (json!({"request": "create", "admin_key": "itest"}), 453),
        (
            json!({"request": "create", "type": "rtp", "audio": true}),
            453,
        ),
        (
            json!({"request": "create", "type": "rtp", "admin_key": "no", "audio": true}),
            457,
        ),
        (
            json!({"request": "create", "type": "rtp", "admin_key": "itest", "id": 51, "audio": true}),
            456,
        ),
        (
            json!({"request": "create", "type": "live", "admin_key": "itest", "filename": "x.opus"}),
            456,
        ),
        (
            json!({"request": "create", "type": "rtsp", "admin_key": "itest", "url": "rtsp://127.0.0.1/"}),
            456,
        ),
        (
            json!({"request": "create", "type": "what", "admin_key": "itest"}),
            454,
        ),
        (
            json!({"request": "create", "type": "rtp", "admin_key": "itest", "media": [{"type": "video", "mid": "v", "port": 0, "codec": "h263"}]}),
            456,
        ),
        (json!({"request": "destroy", "id": 51}), 453),
        (json!({"request": "destroy", "id": 51, "secret": "x"}), 457),
        (json!({"request": "edit", "id": 999, "secret": "s"}), 455),
        (
            json!({"request": "recording", "id": 51, "secret": "s", "action": "start"}),
            459,
        ),
        (json!({"request": "watch"}), 453),
        (json!({"request": "watch", "id": 999}), 455),
        (json!({"request": "watch", "id": 51, "media": [5]}), 454),
        (json!({"request": "start"}), 455),
        (json!({"request": "switch", "id": 51}), 455),
        (json!({"request": "configure"}), 455),
    ];
    let mut wrong = Vec::new();
    for (body, want) in cases {
        let r = h.send(body.clone(), None).await.expect("an answer");
        if r.data["error_code"].as_u64() != Some(want) {
            wrong.push(format!("{body} -> {} (want {want})", r.data));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // An asynchronous error carries the request's transaction, as an event.
    let r = check(
        h.send(json!({"request": "watch", "id": 999}), None)
            .await
            .expect("event")
            .data,
    );
    assert_eq!(r.err().and_then(|e| e.code()), Some(455));
    // Still usable after all that.
    let list = h
        .request_ok(json!({"request": "list"}))
        .await
        .expect("list");
    assert_eq!(list["list"][0]["id"], 51, "{list}");
}
