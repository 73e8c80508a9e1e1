//! The PKCS#11 backend against a real SoftHSM2 token.

mod support;

use hsm_shim::{Error, KeyKind, KeyStore, Pkcs11Config, Pkcs11KeyStore, SecretBytes};
use zeroize::Zeroizing;

#[test]
fn a_wrong_pin_or_unknown_token_is_refused_clearly() {
    let Some(token) = support::softhsm() else {
        return;
    };
    let cfg = &token.config;
    let wrong = Pkcs11Config {
        module: cfg.module.clone(),
        token_label: cfg.token_label.clone(),
        pin: Zeroizing::new("00000000".into()),
    };
    let err = Pkcs11KeyStore::open(&wrong).expect_err("wrong PIN accepted");
    assert!(matches!(err, Error::WrongPin), "{err:?}");
    assert!(
        !format!("{err} {wrong:?}").contains("00000000"),
        "the PIN was printed"
    );

    let missing = Pkcs11Config {
        module: cfg.module.clone(),
        token_label: "no-such-token".into(),
        pin: Zeroizing::new(support::USER_PIN.into()),
    };
    let err = Pkcs11KeyStore::open(&missing).expect_err("unknown token");
    assert!(err.to_string().contains("no-such-token"), "{err}");

    let bad_module = Pkcs11Config {
        module: "/nonexistent/libpkcs11.so".into(),
        token_label: support::TOKEN.into(),
        pin: Zeroizing::new(support::USER_PIN.into()),
    };
    assert!(matches!(
        Pkcs11KeyStore::open(&bad_module),
        Err(Error::Pkcs11(_))
    ));
}

#[test]
fn what_softhsm_cannot_do_is_unsupported_not_wrong() {
    let Some((store, _token)) = support::softhsm_store() else {
        return;
    };
    for kind in [KeyKind::X25519, KeyKind::Aes256Wrap] {
        assert!(matches!(
            store.generate(kind, "nope"),
            Err(Error::Unsupported {
                backend: "PKCS#11",
                ..
            })
        ));
    }
    let key = store
        .generate(KeyKind::EcdsaP256, "p11-usage")
        .expect("generate");
    assert!(matches!(
        store.agree(&key, &[9; 32]),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.wrap(&key, &SecretBytes::new(vec![1; 32]), b""),
        Err(Error::WrongKeyUsage { .. })
    ));
}

#[test]
fn keys_live_on_the_token_as_non_extractable_and_survive_reopening() {
    let Some(token) = support::softhsm() else {
        return;
    };
    let cfg = &token.config;
    let store = Pkcs11KeyStore::open(cfg).expect("open");
    let label = format!("p11-persist-{}", uuid::Uuid::new_v4().simple());
    let key = store
        .generate(KeyKind::EcdsaP384, &label)
        .expect("generate");
    let spki = store.public_key(&key).expect("spki");
    drop(store);

    let again = Pkcs11KeyStore::open(cfg).expect("reopen");
    let info = again.info(key.id()).expect("still there");
    assert_eq!(info.label, label);
    assert_eq!(again.public_key(&key).expect("spki"), spki);
    let sig = again.sign(&key, b"m").expect("sign");
    hsm_shim::verify_signature(&spki, sig.algorithm, b"m", &sig.bytes).expect("verify");

    // OpenSC's pkcs11-tool, which we did not write, reads the token's own attributes.
    let out = std::process::Command::new("pkcs11-tool")
        .arg("--module")
        .arg(&cfg.module)
        .args([
            "--token-label",
            support::TOKEN,
            "--login",
            "--pin",
            support::USER_PIN,
        ])
        .args(["--list-objects", "--type", "privkey", "--label", &label])
        .output()
        .expect("pkcs11-tool is installed by the test command (opensc)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&label), "{text}");
    assert!(text.contains("never extractable"), "{text}");
    assert!(text.contains("sensitive"), "{text}");
}

/// A token serves wherever a sealable key store is wanted (a docsvc node holds one): it is open
/// once logged in with its PIN, says so, refuses custodians' shares as unsupported, and signs
/// through the same trait object.
#[test]
fn a_token_is_a_sealable_keystore_that_is_never_sealed() {
    use std::sync::Arc;

    use hsm_shim::{Quorum, Sealable, SoftwareKeyStore};

    let Some(token) = support::softhsm() else {
        return;
    };
    let store: Arc<dyn Sealable> = Arc::new(Pkcs11KeyStore::open(&token.config).expect("open"));
    assert!(!store.is_sealed());
    assert!(store.progress().unsealed);
    assert_eq!(store.progress().remaining(), 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let (_software, mut shares) =
        SoftwareKeyStore::create(dir.path(), Quorum::DEFAULT).expect("a software keystore");
    let share = shares.pop().expect("a share");
    assert!(matches!(
        store.submit_share(share),
        Err(Error::Unsupported {
            backend: "PKCS#11",
            ..
        })
    ));

    let keys: &dyn KeyStore = store.as_ref();
    let key = keys
        .generate(KeyKind::EcdsaP256, "p11-sealable")
        .expect("generate");
    let signature = keys.sign(&key, b"surat").expect("sign");
    let spki = keys.public_key(&key).expect("public key");
    hsm_shim::verify_signature(&spki, signature.algorithm, b"surat", &signature.bytes)
        .expect("verifies");
}
