//! Per-packet cost of the routing decision on the target shard: layer selection and
//! sequence/timestamp rewriting (no I/O, no SRTP), and of reading the payload descriptors
//! on the source shard. Run: cargo bench -p portunus-media --bench route.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use portunus_media::router::keyframe::{VideoCodec, describe, is_keyframe};
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
        // One packet, renumbered each time: only the decision is measured.
        let mut p = packet(seq, None, &payload);
        b.iter(|| {
            p.seq = seq;
            p.timestamp = (seq as u32).wrapping_mul(3000);
            seq += 1;
            black_box(r.deliver(1, black_box(&p), 7))
        })
    });

    let mut r = RouterShard::default();
    r.add_target(1, route());
    let mut seq = 0u64;
    c.bench_function("route_deliver_simulcast", |b| {
        let mut p = packet(seq, Some(2), &payload);
        b.iter(|| {
            p.seq = seq;
            p.timestamp = (seq as u32).wrapping_mul(3000);
            p.desc.keyframe = seq == 0;
            seq += 1;
            black_box(r.deliver(1, black_box(&p), 7))
        })
    });

    c.bench_function("forward_packet_build", |b| {
        let mut seq = 0u64;
        b.iter(|| {
            seq += 1;
            black_box(packet(seq, Some(2), &payload))
        })
    });

    c.bench_function("keyframe_detect_vp8", |b| {
        b.iter(|| black_box(is_keyframe(VideoCodec::Vp8, black_box(&payload))))
    });

    // A browser's VP8 with temporal layers: X, I (15-bit), L, T; 1100 bytes.
    let mut vp8 = vec![0x90u8, 0xe0, 0x80 | 0x12, 0x34, 7, 0x40, 0x01];
    vp8.resize(1100, 0xab);
    let vp8: Arc<[u8]> = Arc::from(vp8);
    // VP9 SVC, non-flexible: I, L, B, E; 1100 bytes.
    let mut vp9 = vec![0xacu8, 0x80 | 0x12, 0x34, 0x02, 7];
    vp9.resize(1100, 0xab);
    c.bench_function("descriptor_describe_vp8", |b| {
        b.iter(|| black_box(describe(VideoCodec::Vp8, black_box(&vp8))))
    });
    c.bench_function("descriptor_describe_vp9", |b| {
        b.iter(|| black_box(describe(VideoCodec::Vp9, black_box(&vp9))))
    });
    c.bench_function("descriptor_vp8_patch_build", |b| {
        let d = str0m::rtp::Vp8Descriptor::parse(&vp8).expect("descriptor");
        let mut pid = 0u16;
        b.iter(|| {
            pid = (pid + 1) & 0x7fff;
            black_box(d.patch().picture_id(pid).tl0_pic_idx(pid as u8).build())
        })
    });

    // The whole target-side decision for layered VP8: simulcast layer, temporal filter
    // (layer 1 of 2 wanted: every packet passes), sequence/timestamp and picture id rewrite,
    // and the VP8 patch.
    let mut r = RouterShard::default();
    let mut rt = route();
    rt.layer.temporal = Some(1);
    r.add_target(1, rt);
    let desc = describe(VideoCodec::Vp8, &vp8);
    let mut seq = 0u64;
    c.bench_function("route_deliver_vp8_layered", |b| {
        let mut p = packet(seq, Some(2), &vp8);
        p.desc = desc;
        b.iter(|| {
            p.seq = seq;
            p.timestamp = (seq as u32).wrapping_mul(3000);
            p.desc.keyframe = seq == 0;
            seq += 1;
            black_box(r.deliver(1, black_box(&p), 7))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
