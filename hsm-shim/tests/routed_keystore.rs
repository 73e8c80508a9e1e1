//! The routed keystore on a real SoftHSM2 token: signing keys on the token (non-extractable,
//! as OpenSC's pkcs11-tool reads them), agreement and wrapping keys in the sealed software
//! keystore, and nothing usable while the custodians have not unsealed it.

mod support;

use std::sync::Arc;

use hsm_shim::{
    Error, KeyKind, KeyState, KeyStore, Pkcs11KeyStore, Quorum, RoutedKeyStore, Sealable,
    SecretBytes, SoftwareKeyStore,
};

fn pkcs11_tool_objects(module: &std::path::Path, kind: &str) -> String {
    let out = std::process::Command::new("pkcs11-tool")
        .arg("--module")
        .arg(module)
        .args([
            "--token-label",
            support::TOKEN,
            "--login",
            "--pin",
            support::USER_PIN,
        ])
        .args(["--list-objects", "--type", kind])
        .output()
        .expect("pkcs11-tool is installed by the test command (opensc)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn signing_keys_go_to_the_token_and_the_rest_stays_in_software() {
    let Some(token) = support::softhsm() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (software, shares) =
        SoftwareKeyStore::create(&dir.path().join("keystore"), Quorum::DEFAULT).expect("create");
    let software = Arc::new(software);
    let p11 = Arc::new(Pkcs11KeyStore::open(&token.config).expect("open token"));
    let store = RoutedKeyStore::new(Arc::clone(&software), Arc::clone(&p11));

    // Sealed: nothing, not even the token's keys, until the custodians' quorum.
    assert!(store.is_sealed());
    assert!(matches!(
        store.generate(KeyKind::EcdsaP256, "early"),
        Err(Error::Sealed { .. })
    ));
    for s in &shares[..3] {
        store.submit_share(s.clone()).expect("share");
    }
    assert!(!store.is_sealed());

    let label = format!("official-{}", uuid::Uuid::new_v4().simple());
    let signing = store
        .generate(KeyKind::EcdsaP384, &label)
        .expect("signing key");
    let ed = store
        .generate(KeyKind::Ed25519, "routed-ed")
        .expect("ed25519");
    let archive = store
        .generate(KeyKind::X25519, "archive-routed")
        .expect("x25519");
    let kek = store
        .generate(KeyKind::Aes256Wrap, "kek-routed")
        .expect("aes");

    // Where each went, as each backend sees it.
    assert!(p11.info(signing.id()).is_ok() && p11.info(ed.id()).is_ok());
    assert!(matches!(
        software.info(signing.id()),
        Err(Error::UnknownKey(_))
    ));
    assert!(software.info(archive.id()).is_ok() && software.info(kek.id()).is_ok());
    assert!(matches!(p11.info(archive.id()), Err(Error::UnknownKey(_))));
    let listed: Vec<_> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|k| k.id)
        .collect();
    for k in [signing, ed, archive, kek] {
        assert!(listed.contains(&k.id()), "{k:?} not listed");
    }

    // Each works through the one store.
    let spki = store.public_key(&signing).expect("spki");
    let sig = store.sign(&signing, b"surat").expect("sign");
    hsm_shim::verify_signature(&spki, sig.algorithm, b"surat", &sig.bytes).expect("verifies");
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([7u8; 32]));
    store.agree(&archive, peer.as_bytes()).expect("agree");
    let wrapped = store
        .wrap(&kek, &SecretBytes::new(vec![5; 32]), b"aad")
        .expect("wrap");
    assert_eq!(
        store
            .unwrap(&kek, &wrapped, b"aad")
            .expect("unwrap")
            .expose(),
        &[5; 32]
    );
    // Usage still bound to the kind, wherever the key lives.
    assert!(matches!(
        store.agree(&signing, &[9; 32]),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.sign(&archive, b"x"),
        Err(Error::WrongKeyUsage { .. })
    ));

    // Lifecycle goes to the holder too.
    store.set_state(&ed, KeyState::Suspended).expect("suspend");
    assert_eq!(p11.info(ed.id()).expect("info").state, KeyState::Suspended);
    assert!(matches!(
        store.sign(&ed, b"x"),
        Err(Error::KeyNotUsable { .. })
    ));

    // OpenSC reads the token: the signing key is there, sensitive and never extractable; no
    // X25519 or secret key was put on it.
    let privkeys = pkcs11_tool_objects(&token.config.module, "privkey");
    let at = privkeys
        .find(&label)
        .expect("the official's key is on the token");
    let block = &privkeys[at..];
    let block = &block[..block.find("Private Key Object").unwrap_or(block.len())];
    assert!(block.contains("never extractable"), "{block}");
    assert!(block.contains("sensitive"), "{block}");
    assert!(!privkeys.contains("archive-routed"), "{privkeys}");
    assert!(!pkcs11_tool_objects(&token.config.module, "secrkey").contains("kek-routed"));

    // Sealed again: the token's key refuses too.
    store.seal();
    assert!(matches!(
        store.sign(&signing, b"x"),
        Err(Error::Sealed { .. })
    ));
    assert!(matches!(store.list(), Err(Error::Sealed { .. })));
}

#[test]
fn keys_made_before_the_token_keep_working_from_software() {
    let Some(token) = support::softhsm() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (software, _shares) = support::unsealed_software(&dir.path().join("keystore"));
    let old = software
        .generate(KeyKind::EcdsaP256, "node-audit")
        .expect("a software signing key");
    let p11 = Arc::new(Pkcs11KeyStore::open(&token.config).expect("open token"));
    let store = RoutedKeyStore::new(Arc::clone(&software), p11);
    let sig = store.sign(&old, b"m").expect("old key still signs");
    let spki = store.public_key(&old).expect("spki");
    hsm_shim::verify_signature(&spki, sig.algorithm, b"m", &sig.bytes).expect("verifies");
    // A key id neither backend knows is unknown, not a token error.
    let stranger = {
        let dir2 = tempfile::tempdir().expect("tempdir");
        let (other, _) = support::unsealed_software(&dir2.path().join("ks"));
        other
            .generate(KeyKind::EcdsaP256, "elsewhere")
            .expect("key")
    };
    assert!(matches!(
        store.sign(&stranger, b"m"),
        Err(Error::UnknownKey(_))
    ));
}

/// The settings a service reads: the PIN from a private file opens the token; a wrong PIN is
/// the token's refusal, named as such.
#[test]
fn settings_open_the_token_with_the_pin_from_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let Some(token) = support::softhsm() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{}\n", support::USER_PIN)).expect("write");
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let settings = hsm_shim::Pkcs11Settings::with_pin_file(
        token.config.module,
        support::TOKEN.into(),
        pin_file.clone(),
    );
    let store = Pkcs11KeyStore::open(&settings.resolve().expect("resolve")).expect("opens");
    drop(store);
    std::fs::write(&pin_file, "99999999\n").expect("write");
    let err = Pkcs11KeyStore::open(&settings.resolve().expect("resolve")).expect_err("wrong PIN");
    assert!(matches!(err, Error::WrongPin), "{err:?}");
}
