//! Runs one EchoTest call against a Janus-API gateway and prints what happened.
//!
//! `cargo run -p portunus-integration --example echo_call -- ws://127.0.0.1:8188`
//! `cargo run -p portunus-integration --example echo_call -- http://127.0.0.1:8088/janus`
//!
//! With `--signalling-only` it stops after the answer (useful against Janus 1.1.2, which
//! gathers no loopback candidates, so media cannot connect on loopback).

use std::time::{Duration, Instant};

use portunus_integration::echo::{DATA_PREFIX, ECHOTEST, EchoCall, EchoOptions, verify_echo};
use portunus_integration::{Endpoint, JanusClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:8188".into());
    let signalling_only = args.iter().any(|a| a == "--signalling-only");
    let endpoint = if url.starts_with("ws") {
        Endpoint::WebSocket(url)
    } else {
        Endpoint::Http(url)
    };
    let client = JanusClient::connect(&endpoint).await?;
    println!("info: {}", client.info().await?["name"]);
    let opts = EchoOptions::default();
    let t0 = Instant::now();
    let session = client.create().await?;
    let handle = client.attach(session, ECHOTEST).await?;
    println!("session {session} handle {handle}");
    let mut call = EchoCall::negotiate(&client, session, handle, t0, &opts).await?;
    println!("answer applied after {:?}", t0.elapsed());
    if !signalling_only {
        let up = call.wait_webrtcup(&client, opts.timeout).await?;
        println!(
            "create -> webrtcup: {up:?}, srtp {:?}",
            call.peer.state().srtp_profile
        );
        let sent = call.send_media(50).await?;
        call.peer
            .wait_until(Duration::from_secs(5), "echo", |s| {
                sent.iter()
                    .all(|(m, p)| s.packets_on(m) as usize >= p.len() * 9 / 10)
            })
            .await?;
        println!("echoed: {:?}", verify_echo(&call.peer.state(), &sent, 0.9)?);
        call.peer
            .wait_until(opts.timeout, "data channel", |s| s.channel_open.is_some())
            .await?;
        call.peer.send_text("hello").await?;
        let st = call
            .peer
            .wait_until(opts.timeout, "data echo", |s| !s.data_received.is_empty())
            .await?;
        println!(
            "data: {:?} (expected prefix {DATA_PREFIX:?})",
            st.data_received[0].text()
        );
    }
    client.hangup(session, handle).await?;
    client.destroy(session).await?;
    for ev in client.drain_events() {
        println!("event: {ev:?}");
    }
    Ok(())
}
