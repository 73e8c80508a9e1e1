//! Issuance throughput, in process: leaf certificates per second.
//!
//! - `sign_leaf/rcgen_in_memory`: rcgen with an in-memory P-384 key (the reference);
//! - `sign_leaf/hsm_shim`: the same certificate signed by the Network CA key in hsm-shim;
//! - `issue/full`: `keymgr::issue::issue` end to end: profile, CSR check, signature, the
//!   transparency-log entry and signed head (fsync), the inventory row (SQLite, fsync).
//!
//! `cargo bench -p keymgr`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsm_shim::KeyStore;
use keymgr::HsmSigner;
use keymgr::ca::{Ca, Home, NodeRequest, node_profile};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource, Request};
use keymgr::shares::{Protection, Unlock};

fn node_request(id: u64) -> NodeRequest {
    NodeRequest {
        node_id: format!("node-{id}"),
        agency: "Dinas Kesehatan".into(),
        accreditation: "rahasia".into(),
        dns: vec![format!("node-{id}.sandi.contoh.go.id")],
        ips: vec![],
        days: 90,
    }
}

/// A 2-of-2 ceremony of age-recipient custodians, publishing under a test URL.
fn init_plan(dir: &std::path::Path, ids: &[age::x25519::Identity]) -> InitPlan {
    InitPlan {
        organisation: "Pemerintah Kota Contoh".into(),
        network_domain: Some("sandi.contoh.go.id".into()),
        oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
        publication_url: Some("http://pki.sandi.contoh.go.id".into()),
        administrator: "Admin".into(),
        custodians: ids
            .iter()
            .enumerate()
            .map(|(n, i)| CustodianSpec {
                name: format!("Custodian {n}"),
                protection: Protection::Recipient(i.to_public()),
            })
            .collect(),
        witnesses: vec!["Witness".into()],
        threshold: 2,
        shares_out: dir.join("shares"),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("home"));
    std::fs::create_dir_all(home.dir()).expect("home");
    // Custodians with age recipients: no scrypt in the set-up.
    let ids: Vec<age::x25519::Identity> =
        (0..2).map(|_| age::x25519::Identity::generate()).collect();
    let id_file = dir.path().join("ids.txt");
    let mut ids_text = String::new();
    for i in &ids {
        use age::secrecy::ExposeSecret;
        ids_text.push_str(i.to_string().expose_secret());
        ids_text.push('\n');
    }
    std::fs::write(&id_file, ids_text).expect("identities");
    let plan = init_plan(dir.path(), &ids);
    let inv = rt
        .block_on(Inventory::open(&Inventory::default_url(home.dir())))
        .expect("inventory");
    let out = rt
        .block_on(ceremony::init(&home, &inv, &plan, &mut |_| {}))
        .expect("ceremony");
    let mut session = QuorumSession::open(&home).expect("session");
    for f in &out.share_files {
        // The identity file holds both custodians' keys; age picks the one that fits.
        session
            .add(f, &Unlock::Identity(id_file.clone()))
            .expect("share");
    }
    let store = session.online().expect("unsealed");
    let state = home.load_state().expect("state");
    let network_der = home.cert_der(Ca::Network).expect("network CA");
    let subject_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&subject_key)
        .expect("csr")
        .der()
        .to_vec();

    let mut group = c.benchmark_group("sign_leaf");
    group.throughput(Throughput::Elements(1));
    let reference_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    // Same issuer name, an in-memory key: the cost of rcgen alone.
    let reference = rcgen::Issuer::from_ca_cert_der(&network_der.clone().into(), &reference_key)
        .expect("issuer");
    group.bench_function("rcgen_in_memory", |b| {
        b.iter(|| {
            let p = node_profile(&state.organisation, &state.oid_arc, &node_request(1))
                .expect("profile");
            p.signed_by(&subject_key, &reference).expect("sign")
        });
    });
    let signer = HsmSigner::new(
        store,
        store.info(state.network_ca_key).expect("key").handle(),
    )
    .expect("signer");
    let issuer = rcgen::Issuer::from_ca_cert_der(&network_der.into(), signer).expect("issuer");
    group.bench_function("hsm_shim", |b| {
        b.iter(|| {
            let p = node_profile(&state.organisation, &state.oid_arc, &node_request(1))
                .expect("profile");
            p.signed_by(&subject_key, &issuer).expect("sign")
        });
    });
    group.finish();

    let mut group = c.benchmark_group("issue");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let counter = AtomicU64::new(0);
    group.bench_function("full", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            rt.block_on(issue::issue(
                &home,
                store,
                &inv,
                Request::Node(node_request(n)),
                KeySource::Csr(csr.clone()),
            ))
            .expect("issue")
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
