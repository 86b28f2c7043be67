//! Cost of putting 1200-byte datagrams on the wire to loopback, per datagram: one `sendto`
//! each, `sendmmsg` batches, UDP GSO trains, and the shard's `SendBatch` (copy, group by
//! destination, send) on a fan-out pattern. Loopback includes the kernel's receive half
//! (the receivers are not read, so their queues fill and the kernel drops at the end of its
//! path). Run: cargo bench -p portunus-media --bench send.

use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portunus_media::batch::SendBatch;
use portunus_media::udp::{Outgoing, gso_supported, send_many};

const SIZE: usize = 1200;

fn receivers(n: usize) -> (Vec<UdpSocket>, Vec<SocketAddr>) {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind receiver"))
        .collect();
    let addrs = socks
        .iter()
        .map(|s| s.local_addr().expect("address"))
        .collect();
    (socks, addrs)
}

fn bench(c: &mut Criterion) {
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    tx.set_nonblocking(true).expect("nonblocking");
    let fd = tx.as_raw_fd();
    let data = vec![0x5au8; SIZE];
    let mut g = c.benchmark_group("send_1200");

    let (_rx1, one) = receivers(1);
    g.throughput(Throughput::Elements(1));
    g.bench_function("sendto", |b| {
        b.iter(|| black_box(tx.send_to(&data, one[0]).is_ok()))
    });

    // sendmmsg, 32 datagrams to 32 destinations (fan-out of one packet).
    let (_rx32, many) = receivers(32);
    let msgs: Vec<Outgoing> = many
        .iter()
        .map(|d| Outgoing {
            dest: *d,
            data: &data,
            segment: None,
        })
        .collect();
    g.throughput(Throughput::Elements(32));
    g.bench_function(BenchmarkId::new("sendmmsg_dest", 32), |b| {
        b.iter(|| {
            let mut sent = 0;
            while sent < msgs.len() {
                match send_many(fd, &msgs[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => sent += 1,
                }
            }
        })
    });

    // UDP GSO: 16 × 1200 bytes to one destination in one message.
    if gso_supported(fd) {
        let train = vec![0x5au8; SIZE * 16];
        let m = [Outgoing {
            dest: one[0],
            data: &train,
            segment: Some(SIZE as u16),
        }];
        g.throughput(Throughput::Elements(16));
        g.bench_function(BenchmarkId::new("gso_segments", 16), |b| {
            b.iter(|| black_box(send_many(fd, &m).is_ok()))
        });
    }

    // The shard's batcher on a fan-out burst: 4 packets of one frame to 8 subscribers,
    // pushed interleaved as the router produces them; with GSO each subscriber's 4 become
    // one train, without it 32 messages in one sendmmsg.
    let (_rx8, eight) = receivers(8);
    for gso in [false, true] {
        let mut batch = SendBatch::new(gso);
        let name = if gso {
            "batch_fanout_gso"
        } else {
            "batch_fanout_mmsg"
        };
        g.throughput(Throughput::Elements(32));
        g.bench_function(BenchmarkId::new(name, "4x8"), |b| {
            b.iter(|| {
                for _ in 0..4 {
                    for d in &eight {
                        batch.push(0, *d, &data);
                    }
                }
                batch.flush(|_| Some(fd));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
