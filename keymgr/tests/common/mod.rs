//! A test CA for the library's tests: a 2-of-2 ceremony, its online keystore unsealed.
#![allow(dead_code)]

use std::sync::Arc;

use keymgr::ca::{Home, NodeRequest};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::Request;
use keymgr::shares::{Protection, Unlock};

pub(crate) struct TestCa {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) home: Home,
    pub(crate) inv: Inventory,
    pub(crate) store: &'static hsm_shim::SoftwareKeyStore,
    /// The same keystore, as a long-running service holds it (issuance signs on the signing
    /// threads then).
    pub(crate) shared: Arc<dyn hsm_shim::KeyStore>,
    pub(crate) csr: Arc<[u8]>,
}

pub(crate) fn node(id: usize) -> Request {
    Request::Node(NodeRequest {
        node_id: format!("node-{id}"),
        agency: "Dinas Kesehatan".into(),
        accreditation: "rahasia".into(),
        dns: vec![format!("node-{id}.sandi.contoh.go.id")],
        ips: vec![],
        days: 90,
    })
}

/// A CA from a 2-of-2 ceremony of age-recipient custodians, its online keystore unsealed.
pub(crate) async fn test_ca() -> TestCa {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("home"));
    std::fs::create_dir_all(home.dir()).expect("home");
    let ids: Vec<age::x25519::Identity> =
        (0..2).map(|_| age::x25519::Identity::generate()).collect();
    let id_file = dir.path().join("ids.txt");
    let mut text = String::new();
    for i in &ids {
        use age::secrecy::ExposeSecret;
        text.push_str(i.to_string().expose_secret());
        text.push('\n');
    }
    std::fs::write(&id_file, text).expect("identities");
    let plan = InitPlan {
        organisation: "Pemerintah Kota Contoh".into(),
        network_domain: Some("sandi.contoh.go.id".into()),
        oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
        publication_url: None,
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
        shares_out: dir.path().join("shares"),
    };
    let inv = Inventory::open(&Inventory::default_url(home.dir()))
        .await
        .expect("inventory");
    let out = ceremony::init(&home, &inv, &plan, &mut |_| {})
        .await
        .expect("ceremony");
    let mut session = QuorumSession::open(&home).expect("session");
    for f in &out.share_files {
        session
            .add(f, &Unlock::Identity(id_file.clone()))
            .expect("share");
    }
    let online = Arc::new(session.into_online().expect("unsealed"));
    // Leaked: the keystore is handed to spawned tasks for the test's life.
    let store: &'static Arc<hsm_shim::SoftwareKeyStore> = Box::leak(Box::new(Arc::clone(&online)));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&key)
        .expect("csr")
        .der()
        .to_vec();
    TestCa {
        home,
        inv,
        store: store.as_ref(),
        shared: online,
        csr: csr.into(),
        _dir: dir,
    }
}
