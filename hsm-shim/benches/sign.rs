//! Sign operations per second through the `KeyStore` trait, beside raw `ring` in the same run:
//! the software backend should stay within 10% of ring; SoftHSM2 shows what a PKCS#11 hop costs.
//!
//! `cargo bench -p hsm-shim`

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsm_shim::{KeyKind, KeyStore};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

const MESSAGE: &[u8] = b"manifest: 32-byte SHA-256 of a classified letter and its metadata";

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (software, _shares) = support::unsealed_software(dir.path());
    let softhsm = support::softhsm_store();
    if softhsm.is_none() {
        eprintln!("SoftHSM2 missing: its figures are left out");
    }

    for kind in [KeyKind::Ed25519, KeyKind::EcdsaP256] {
        let mut group = c.benchmark_group(format!("sign/{kind}"));
        group.throughput(Throughput::Elements(1));
        if kind == KeyKind::Ed25519 {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
            let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("parse");
            group.bench_function("ring", |b| b.iter(|| kp.sign(MESSAGE)));
        } else {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .expect("keygen");
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &rng)
                .expect("parse");
            group.bench_function("ring", |b| b.iter(|| kp.sign(&rng, MESSAGE).expect("sign")));
        }
        let key = software.generate(kind, "bench").expect("generate");
        software.sign(&key, MESSAGE).expect("warm the cache");
        group.bench_function("software", |b| {
            b.iter(|| software.sign(&key, MESSAGE).expect("sign"));
        });
        if let Some((store, _token)) = &softhsm {
            let key = store.generate(kind, "bench").expect("generate");
            group.bench_function("softhsm2", |b| {
                b.iter(|| store.sign(&key, MESSAGE).expect("sign"));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
