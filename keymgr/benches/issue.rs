//! Issuance throughput, in process: leaf certificates per second.
//!
//! - `sign_leaf/rcgen_in_memory`: rcgen with an in-memory P-384 key (the reference);
//! - `sign_leaf/hsm_shim`: the same certificate signed by the Network CA key in hsm-shim;
//! - `issue/full`: `keymgr::issue::issue` end to end: profile, CSR check, signature, the
//!   transparency-log entry and signed head (fsync), the inventory row (SQLite, fsync);
//! - `raw_2_cores/*`: the ceiling on both cores: 2 threads signing a certificate-sized message
//!   with P-384 in parallel, with ring directly and through hsm-shim (the Network CA key);
//! - `issue_concurrent/64_on_2_workers`: 64 concurrent `issue` calls (tasks) on a multi-thread
//!   runtime with 2 workers, each returned only once durable: certificates per second to set
//!   beside `raw_2_cores`.
//!
//! `cargo bench -p keymgr`

use std::sync::Arc;
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
    // Leaked: the concurrent case hands the keystore to spawned tasks.
    let session: &'static QuorumSession = Box::leak(Box::new(session));
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

    raw_two_cores(c, store, state.network_ca_key);
    concurrent(c, &home, store, &csr, &counter);
}

/// How many certificates one iteration of the 2-core cases makes.
const BATCH: u64 = 64;

/// The ceiling: P-384 signatures on both cores, `BATCH` per iteration split over 2 threads.
fn raw_two_cores(c: &mut Criterion, store: &'static dyn KeyStore, key: hsm_shim::KeyId) {
    let mut group = c.benchmark_group("raw_2_cores");
    group.throughput(Throughput::Elements(BATCH));
    // About the size of a leaf certificate's to-be-signed part.
    let message = vec![0x5a_u8; 600];
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &rng,
    )
    .expect("pkcs8");
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .expect("pair");
    let per_thread = usize::try_from(BATCH / 2).expect("fits");
    group.bench_function("ring_p384", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..per_thread {
                            pair.sign(&rng, &message).expect("sign");
                        }
                    });
                }
            });
        });
    });
    let handle = store.info(key).expect("key").handle();
    group.bench_function("hsm_shim_p384", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..per_thread {
                            store.sign(&handle, &message).expect("sign");
                        }
                    });
                }
            });
        });
    });
    group.finish();
}

/// `BATCH` concurrent issuances on 2 workers: what `keymgr serve` does with concurrent
/// requests (each its own task).
fn concurrent(
    c: &mut Criterion,
    home: &Home,
    store: &'static dyn KeyStore,
    csr: &[u8],
    counter: &AtomicU64,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Its own pool, on the runtime that drives it.
    let inv = rt
        .block_on(Inventory::open(&Inventory::default_url(home.dir())))
        .expect("inventory");
    let csr: Arc<[u8]> = csr.into();
    let mut group = c.benchmark_group("issue_concurrent");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function("64_on_2_workers", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..BATCH {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let (home, inv, csr) = (home.clone(), inv.clone(), Arc::clone(&csr));
                    tasks.spawn(async move {
                        issue::issue(
                            &home,
                            store,
                            &inv,
                            Request::Node(node_request(n)),
                            KeySource::Csr(csr.to_vec()),
                        )
                        .await
                        .map(|i| i.record.serial)
                    });
                }
                let mut issued = 0;
                while let Some(done) = tasks.join_next().await {
                    done.expect("task").expect("issue");
                    issued += 1;
                }
                assert_eq!(issued, BATCH);
            });
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
