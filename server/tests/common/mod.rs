//! Test helpers: an in-process portunus on ephemeral loopback ports, and small HTTP and
//! WebSocket clients speaking the Janus API.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use portunus::{Config, Server};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ECHOTEST: &str = "janus.plugin.echotest";

/// A config for tests: loopback, ephemeral ports, fast keepalives.
pub fn test_config() -> Config {
    let mut c = Config::default();
    let lo: IpAddr = [127, 0, 0, 1].into();
    c.http.bind = lo;
    c.http.port = 0;
    c.http.longpoll_keepalive = 1;
    c.http.demos_dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demos"));
    c.websocket.bind = lo;
    c.websocket.port = 0;
    c.media.udp_port = 0;
    c.media.interfaces = vec![lo];
    c.media.workers = 1;
    c
}

pub async fn start(config: Config) -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    portunus::start(config).await.expect("server starts")
}

pub fn tx() -> String {
    format!("t{}", rand::random::<u32>())
}

pub struct Http {
    pub base: String,
    pub root: String,
    client: reqwest::Client,
}

pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Http {
    pub fn new(server: &Server) -> Http {
        let addr = server.http_addr().expect("http enabled");
        Http {
            base: format!("http://{addr}/janus"),
            root: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Raw {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .client
            .request(method.parse().expect("method"), url)
            .timeout(Duration::from_secs(20));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let res = req.send().await.expect("HTTP request");
        Raw {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.expect("body"),
        }
    }

    /// POST a request; asserts HTTP 200 and returns the JSON reply.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .raw(
                "POST",
                path,
                Some(&body.to_string()),
                &[("content-type", "application/json")],
            )
            .await;
        assert_eq!(r.status, 200, "POST {path} {body}: {}", r.body);
        r.json()
    }

    pub async fn get(&self, path: &str) -> Raw {
        self.raw("GET", path, None, &[]).await
    }

    pub async fn create(&self) -> u64 {
        let r = self
            .post("", json!({"janus": "create", "transaction": tx()}))
            .await;
        assert_eq!(r["janus"], "success", "{r}");
        r["data"]["id"].as_u64().expect("session id")
    }

    pub async fn attach(&self, session: u64, plugin: &str) -> u64 {
        let r = self
            .post(
                &format!("/{session}"),
                json!({"janus": "attach", "plugin": plugin, "transaction": tx()}),
            )
            .await;
        assert_eq!(r["janus"], "success", "{r}");
        r["data"]["id"].as_u64().expect("handle id")
    }

    /// Long-polls until an event satisfying `pred` arrives (skipping keepalives and others).
    pub async fn wait_event(&self, session: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching event in time"
            );
            let r = self.get(&format!("/{session}?maxev=10")).await;
            assert_eq!(r.status, 200, "long poll: {}", r.body);
            for e in r.json().as_array().cloned().unwrap_or_default() {
                if pred(&e) {
                    return e;
                }
            }
        }
    }
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Option<String>,
    pub allow_origin: Option<String>,
}

impl Ws {
    pub async fn connect(server: &Server, protocol: Option<&str>) -> Result<Ws, String> {
        let addr = server.ws_addr().expect("ws enabled");
        let mut req = format!("ws://{addr}/")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        if let Some(p) = protocol {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(p).map_err(|e| e.to_string())?,
            );
        }
        let (stream, res) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        let header = |n: &str| {
            res.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Ws {
            protocol: header("sec-websocket-protocol"),
            allow_origin: header("access-control-allow-origin"),
            stream,
        })
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("ws send");
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next JSON message (panics after 15 s).
    pub async fn recv(&mut self) -> Value {
        self.recv_within(Duration::from_secs(15))
            .await
            .expect("a WebSocket message in time")
    }

    pub async fn recv_within(&mut self, d: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match msg.expect("ws read") {
                Message::Text(t) => {
                    return Some(serde_json::from_str(&t).expect("JSON text frame"));
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Sends a request and returns the message carrying its transaction (events before it are skipped).
    pub async fn request(&mut self, mut v: Value) -> Value {
        let t = tx();
        v["transaction"] = json!(t);
        self.send(v).await;
        loop {
            let m = self.recv().await;
            if m["transaction"] == t {
                return m;
            }
        }
    }

    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// A client offer made by str0m (audio, video and a data channel), as a browser would send.
pub fn client_offer() -> (str0m::Rtc, str0m::change::SdpPendingOffer, String) {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::Rtc::new(std::time::Instant::now());
    let addr = "127.0.0.1:40000".parse().expect("addr");
    let cand = str0m::Candidate::host(addr, "udp").expect("candidate");
    rtc.add_local_candidate(cand);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    api.add_channel("JanusDataChannel".into());
    let (offer, pending) = api.apply().expect("an offer");
    let sdp = offer.to_sdp_string();
    (rtc, pending, sdp)
}
