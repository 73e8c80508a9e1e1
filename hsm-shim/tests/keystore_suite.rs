//! The same behaviour, checked on every backend: the software keystore and SoftHSM2.

mod support;

use std::sync::Arc;

use hsm_shim::{
    Error, KeyKind, KeyState, KeyStore, KeyUsage, SecretBytes, SignatureAlgorithm, spki_pem,
    verify_signature,
};

/// What must outlive a store under test: the software store's directory, or the token lock.
#[allow(dead_code)]
enum Keep {
    Dir(tempfile::TempDir),
    Token(support::Token),
}

#[allow(clippy::unnecessary_wraps)] // same shape as softhsm(), which may be absent
fn software() -> Option<(Arc<dyn KeyStore>, Keep)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _shares) = support::unsealed_software(&dir.path().join("ks"));
    Some((store, Keep::Dir(dir)))
}

fn softhsm() -> Option<(Arc<dyn KeyStore>, Keep)> {
    support::softhsm_store().map(|(s, t)| (s, Keep::Token(t)))
}

const SIGNING: [KeyKind; 3] = [KeyKind::Ed25519, KeyKind::EcdsaP256, KeyKind::EcdsaP384];

/// Signs, verifies with ring and with openssl from the exported SPKI, and checks a changed
/// message fails both.
fn sign_verifies_with_ring_and_openssl(store: &dyn KeyStore) {
    let tmp = tempfile::tempdir().expect("tempdir");
    for kind in SIGNING {
        let label = format!("suite-sign-{kind}-{}", uuid::Uuid::new_v4().simple());
        let key = store.generate(kind, &label).expect("generate");
        let msg = b"Surat RAHASIA nomor 005/123/Diskominfostandi";
        let sig = store.sign(&key, msg).expect("sign");
        assert_eq!(Some(sig.algorithm), kind.signature_algorithm());
        let spki = store.public_key(&key).expect("public key");
        verify_signature(&spki, sig.algorithm, msg, &sig.bytes).expect("ring verifies");
        assert!(verify_signature(&spki, sig.algorithm, b"changed", &sig.bytes).is_err());

        let pem = tmp.path().join(format!("{kind}.pem"));
        let sig_path = tmp.path().join(format!("{kind}.sig"));
        let msg_path = tmp.path().join(format!("{kind}.msg"));
        let bad_path = tmp.path().join(format!("{kind}.bad"));
        std::fs::write(&pem, spki_pem(&spki)).expect("write");
        std::fs::write(&sig_path, &sig.bytes).expect("write");
        std::fs::write(&msg_path, msg).expect("write");
        std::fs::write(&bad_path, b"changed").expect("write");
        let (p, m, s, b) = (
            pem.to_str().expect("utf8"),
            msg_path.to_str().expect("utf8"),
            sig_path.to_str().expect("utf8"),
            bad_path.to_str().expect("utf8"),
        );
        let verify = |data: &str| match sig.algorithm {
            SignatureAlgorithm::Ed25519 => support::openssl(&[
                "pkeyutl", "-verify", "-pubin", "-inkey", p, "-rawin", "-in", data, "-sigfile", s,
            ]),
            SignatureAlgorithm::EcdsaP256Sha256 => {
                support::openssl(&["dgst", "-sha256", "-verify", p, "-signature", s, data])
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                support::openssl(&["dgst", "-sha384", "-verify", p, "-signature", s, data])
            }
        };
        let (ok, out) = verify(m);
        assert!(
            ok,
            "openssl rejected a {kind} signature from {}: {out}",
            store.backend()
        );
        let (ok, _) = verify(b);
        assert!(
            !ok,
            "openssl accepted a {kind} signature over a changed message"
        );
    }
}

fn list_shows_attributes_and_versions(store: &dyn KeyStore) {
    let label = format!("suite-list-{}", uuid::Uuid::new_v4().simple());
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(2);
    let k1 = store
        .generate(KeyKind::EcdsaP256, &label)
        .expect("generate");
    let k2 = store
        .generate(KeyKind::EcdsaP256, &label)
        .expect("generate");
    let listed: Vec<_> = store
        .list()
        .expect("list")
        .into_iter()
        .filter(|i| i.label == label)
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, k1.id());
    assert_eq!(listed[0].version, 1);
    assert_eq!(listed[1].id, k2.id());
    assert_eq!(listed[1].version, 2);
    for info in &listed {
        assert_eq!(info.kind, KeyKind::EcdsaP256);
        assert_eq!(info.usage, KeyUsage::Sign);
        assert_eq!(info.state, KeyState::Active);
        assert!(info.created >= before);
    }
    assert_eq!(store.info(k2.id()).expect("info"), listed[1]);
}

fn usage_is_enforced(store: &dyn KeyStore) {
    let key = store
        .generate(KeyKind::Ed25519, "suite-usage")
        .expect("generate");
    assert!(matches!(
        store.agree(&key, &[9u8; 32]),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.wrap(&key, &SecretBytes::new(vec![1; 32]), b""),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.unwrap(&key, &[0u8; 60], b""),
        Err(Error::WrongKeyUsage { .. })
    ));
}

fn unknown_and_destroyed_keys(store: &dyn KeyStore) {
    let key = store
        .generate(KeyKind::EcdsaP256, "suite-destroy")
        .expect("generate");
    store.sign(&key, b"x").expect("sign before destroy");
    store.destroy(&key).expect("destroy");
    assert!(matches!(store.sign(&key, b"x"), Err(Error::UnknownKey(id)) if id == key.id()));
    assert!(matches!(store.public_key(&key), Err(Error::UnknownKey(_))));
    assert!(!store.list().expect("list").iter().any(|i| i.id == key.id()));
    assert!(matches!(store.destroy(&key), Err(Error::UnknownKey(_))));
    let random: hsm_shim::KeyId = uuid::Uuid::new_v4().to_string().parse().expect("id");
    assert!(matches!(store.info(random), Err(Error::UnknownKey(_))));
}

fn lifecycle_states_gate_use(store: &dyn KeyStore) {
    let key = store
        .generate(KeyKind::EcdsaP256, "suite-state")
        .expect("generate");
    store
        .set_state(&key, KeyState::Deactivated)
        .expect("deactivate");
    assert_eq!(
        store.info(key.id()).expect("info").state,
        KeyState::Deactivated
    );
    assert!(matches!(
        store.sign(&key, b"x"),
        Err(Error::KeyNotUsable {
            state: KeyState::Deactivated,
            ..
        })
    ));
    store
        .public_key(&key)
        .expect("public key of a deactivated key");
    store.set_state(&key, KeyState::Active).expect("reactivate");
    store.sign(&key, b"x").expect("sign again");
    assert!(store.set_state(&key, KeyState::Destroyed).is_err());
}

fn bad_labels_are_refused(store: &dyn KeyStore) {
    for label in ["", "has space", "slash\\back", &"x".repeat(200)] {
        assert!(
            matches!(
                store.generate(KeyKind::Ed25519, label),
                Err(Error::InvalidInput(_))
            ),
            "label {label:?} accepted"
        );
    }
}

fn handles_print_no_secret(store: &dyn KeyStore) {
    let key = store
        .generate(KeyKind::EcdsaP256, "suite-debug")
        .expect("generate");
    let text = format!("{key:?}");
    assert!(text.contains(&key.id().to_string()));
    assert!(
        text.len() < 120,
        "a handle prints only its id and kind: {text}"
    );
}

macro_rules! suite {
    ($backend:ident, $fixture:expr) => {
        mod $backend {
            use super::*;
            fn with(check: fn(&dyn KeyStore)) {
                let Some((store, _keep)) = $fixture else {
                    return;
                };
                check(&*store);
            }
            #[test]
            fn sign_verifies_with_ring_and_openssl() {
                with(super::sign_verifies_with_ring_and_openssl);
            }
            #[test]
            fn list_shows_attributes_and_versions() {
                with(super::list_shows_attributes_and_versions);
            }
            #[test]
            fn usage_is_enforced() {
                with(super::usage_is_enforced);
            }
            #[test]
            fn unknown_and_destroyed_keys() {
                with(super::unknown_and_destroyed_keys);
            }
            #[test]
            fn lifecycle_states_gate_use() {
                with(super::lifecycle_states_gate_use);
            }
            #[test]
            fn bad_labels_are_refused() {
                with(super::bad_labels_are_refused);
            }
            #[test]
            fn handles_print_no_secret() {
                with(super::handles_print_no_secret);
            }
        }
    };
}

suite!(software_backend, software());
suite!(softhsm2_backend, softhsm());
