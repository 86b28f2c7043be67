//! Per-packet cost of the routing decision on the target shard: layer selection and
//! sequence/timestamp rewriting (no I/O, no SRTP). Run: cargo bench -p portunus-media.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use portunus_media::router::keyframe::{VideoCodec, is_keyframe};
use portunus_media::router::{CodecInfo, ForwardPacket, RouterShard, source_key};
use portunus_media::{LayerChoice, MediaRef, Route};
use str0m::media::Mid;
use str0m::rtp::ExtensionValues;

fn packet(seq: u64, layer: Option<u8>, payload: &Arc<[u8]>) -> ForwardPacket {
    let mid = Mid::from("1");
    ForwardPacket {
        source: 1,
        source_mid: mid,
        layer,
        key: source_key(1, &mid, layer),
        seq,
        timestamp: (seq as u32).wrapping_mul(3000),
        marker: false,
        codec: CodecInfo {
            codec: str0m::format::Codec::Vp8,
            clock_rate: 90_000,
            channels: None,
            h264: None,
        },
        desc: portunus_media::router::keyframe::PayloadDesc {
            keyframe: seq == 0,
            begins_picture: true,
            ..Default::default()
        },
        payload: payload.clone(),
        ext: ExtensionValues::default(),
        arrival: Instant::now(),
    }
}

fn route() -> Route {
    Route {
        source: MediaRef {
            handle: 1,
            mid: "1".into(),
        },
        target: MediaRef {
            handle: 2,
            mid: "1".into(),
        },
        layer: LayerChoice::default(),
        paused: false,
        auto_layer: false,
    }
}

fn bench(c: &mut Criterion) {
    let payload: Arc<[u8]> = Arc::from(vec![0x10u8; 1100]);

    let mut r = RouterShard::default();
    r.add_target(1, route());
    let mut seq = 0u64;
    c.bench_function("route_deliver_plain", |b| {
        b.iter(|| {
            let p = packet(seq, None, &payload);
            seq += 1;
            black_box(r.deliver(1, black_box(&p), 7))
        })
    });

    let mut r = RouterShard::default();
    r.add_target(1, route());
    let mut seq = 0u64;
    c.bench_function("route_deliver_simulcast", |b| {
        b.iter(|| {
            let p = packet(seq, Some(2), &payload);
            seq += 1;
            black_box(r.deliver(1, black_box(&p), 7))
        })
    });

    c.bench_function("keyframe_detect_vp8", |b| {
        b.iter(|| black_box(is_keyframe(VideoCodec::Vp8, black_box(&payload))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
