//! A CMS SignedData put together around a signature, as every signing call does:
//! `cargo bench -p docsvc --bench cms`. The key's own signature is left out (a fixed value
//! stands in for it): ring's rate is measured by `docsvc bench`; this is what sandi adds.

use criterion::{Criterion, criterion_group, criterion_main};
use docsvc::crypto::signature::{Content, Kind, sign_detached};
use time::OffsetDateTime;

/// A P-256 certificate with an issuer of three names, as keymgr's are.
fn certificate(cn: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "ID");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Pemerintah Kota");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.self_signed(&key).expect("cert").der().to_vec()
}

fn bench(c: &mut Criterion) {
    let signer = certificate("e-office-terbatas");
    let chain = [certificate("sandi Network CA")];
    let digest = [0x11u8; 32];
    let now = OffsetDateTime::now_utc();
    c.bench_function("sign_detached_api_p256_without_the_signature", |b| {
        b.iter(|| {
            sign_detached(
                Kind::Api,
                Content::Sha256(digest),
                hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
                &signer,
                &chain,
                now,
                |_| Ok(vec![0x5a; 71]),
            )
            .expect("signed")
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
