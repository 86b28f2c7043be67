//! NAT 1:1: the public address is announced as a server-reflexive candidate based on each host
//! candidate, so a client behind the internet reaches us through the mapping while local
//! clients keep the host candidate.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use portunus_media::*;
use str0m::media::{Direction as StrDir, MediaKind as StrKind};
use str0m::{Candidate, RtcConfig};

#[tokio::test]
async fn nat_1_1_adds_a_server_reflexive_candidate_for_each_host_candidate() {
    let public = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let (engine, _events) = MediaEngine::start(MediaConfig {
        udp_port: 0,
        workers: 1,
        interfaces: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        nat_1_1: Some(public),
        ..MediaConfig::default()
    })
    .expect("engine starts");
    let local = engine.local_addrs();
    assert_eq!(local.len(), 1, "{local:?}");
    let port = local[0].port();

    let mut client = RtcConfig::new().build(Instant::now());
    let client_addr = "127.0.0.1:40000".parse().expect("addr");
    client.add_local_candidate(Candidate::host(client_addr, "udp").expect("candidate"));
    let mut change = client.sdp_api();
    change.add_media(StrKind::Audio, StrDir::SendRecv, None, None, None);
    let (offer, _pending) = change.apply().expect("an offer");

    engine
        .remote_offer(1, &offer.to_sdp_string())
        .expect("offer accepted");
    let answer = engine
        .answer(1, &AnswerSpec::default())
        .expect("answer built");

    let candidates: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(
        candidates
            .iter()
            .any(|c| c.contains(&format!("127.0.0.1 {port} typ host"))),
        "host candidate kept: {candidates:?}"
    );
    assert!(
        // str0m hides the base (raddr 0.0.0.0), as browsers do; it keeps it internally.
        candidates
            .iter()
            .any(|c| c.contains(&format!("203.0.113.7 {port} typ srflx"))),
        "public address announced as srflx: {candidates:?}"
    );
    assert!(answer.contains("a=end-of-candidates"));
    engine.destroy(1);
}
