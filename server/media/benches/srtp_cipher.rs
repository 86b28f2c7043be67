//! Prices the SRTP profiles per packet with the AEAD that str0m's default backend uses, so the
//! profile the gateway negotiates (AES-256-GCM; see docs/PERFORMANCE.md) is chosen by numbers.
//! AES-CM + HMAC-SHA1 is approximated by AES-128-CTR plus HMAC-SHA1 over the packet.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const SIZES: [usize; 2] = [100, 1200];

fn gcm(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp_protect");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, alg, key_len) in [
            ("aead_aes_128_gcm", &AES_128_GCM, 16),
            ("aead_aes_256_gcm", &AES_256_GCM, 32),
        ] {
            let key = LessSafeKey::new(UnboundKey::new(alg, &vec![7u8; key_len]).expect("key"));
            let header = [0x80u8, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
            let mut buf = vec![0u8; size];
            g.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| {
                    buf.truncate(size);
                    let nonce = Nonce::assume_unique_for_key([1u8; 12]);
                    key.seal_in_place_append_tag(nonce, Aad::from(&header), &mut buf)
                        .expect("seal");
                    black_box(&buf);
                })
            });
        }
        let cm = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &[7u8; 16]).expect("key"))
            .expect("ctr");
        let mac = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[9u8; 20]);
        let mut buf = vec![0u8; size];
        g.bench_function(BenchmarkId::new("aes_cm_128_hmac_sha1_80", size), |b| {
            b.iter(|| {
                let ctx = EncryptionContext::Iv128([3u8; 16].into());
                cm.less_safe_encrypt(&mut buf, ctx).expect("ctr");
                black_box(hmac::sign(&mac, &buf));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, gcm);
criterion_main!(benches);
