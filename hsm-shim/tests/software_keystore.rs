//! The software keystore: sealing, custodian shares, tamper detection, dev mode, resharing,
//! wrapping and age decryption through a handle.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;

use hsm_shim::{
    CustodianShare, Error, HandleIdentity, KeyKind, KeyStore, Mode, Quorum, SecretBytes,
    SoftwareKeyStore, age_recipient,
};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A share line with its data replaced (and the checksum recomputed, as a careful forger would).
fn forged(share: &CustodianShare, keystore: Option<uuid::Uuid>, flip_data: bool) -> CustodianShare {
    let text = share.to_text();
    let parts: Vec<&str> = text.split('.').collect();
    let ks = keystore.map_or_else(|| parts[1].to_string(), |k| k.simple().to_string());
    let mut data = parts[3].to_string();
    if flip_data {
        let c = if data.ends_with('A') { 'B' } else { 'A' };
        data.pop();
        data.push(c);
    }
    let body = format!("{}.{}.{}.{}", parts[0], ks, parts[2], data);
    let sum =
        hex::encode(&ring::digest::digest(&ring::digest::SHA256, body.as_bytes()).as_ref()[..4]);
    CustodianShare::parse(&format!("{body}.{sum}")).expect("forged share parses")
}

#[test]
fn a_new_keystore_is_sealed_and_says_how_many_shares_remain() {
    let dir = tmp();
    let (store, shares) = SoftwareKeyStore::create(dir.path(), Quorum::DEFAULT).expect("create");
    assert_eq!(shares.len(), 5);
    assert!(store.is_sealed());
    assert!(matches!(
        store.generate(KeyKind::Ed25519, "root"),
        Err(Error::Sealed {
            provided: 0,
            threshold: 3
        })
    ));
    assert!(matches!(store.list(), Err(Error::Sealed { .. })));

    let p = store.submit_share(shares[4].clone()).expect("share 5");
    assert_eq!((p.provided, p.remaining(), p.unsealed), (1, 2, false));
    let p = store.submit_share(shares[1].clone()).expect("share 2");
    assert_eq!((p.provided, p.remaining(), p.unsealed), (2, 1, false));
    // Fewer than the threshold unseals nothing.
    assert!(matches!(
        store.generate(KeyKind::Ed25519, "root"),
        Err(Error::Sealed {
            provided: 2,
            threshold: 3
        })
    ));
    let p = store.submit_share(shares[2].clone()).expect("share 3");
    assert!(p.unsealed);
    assert_eq!(p.remaining(), 0);
    store
        .generate(KeyKind::Ed25519, "root")
        .expect("generate once unsealed");
}

#[test]
fn keys_survive_reopening_and_any_quorum_unseals() {
    let dir = tmp();
    let (store, shares) = support::unsealed_software(dir.path());
    let key = store
        .generate(KeyKind::EcdsaP384, "root-ca")
        .expect("generate");
    let spki = store.public_key(&key).expect("spki");
    drop(store);

    let reopened = SoftwareKeyStore::open(dir.path()).expect("open");
    assert!(reopened.is_sealed());
    assert!(matches!(
        reopened.public_key(&key),
        Err(Error::Sealed { .. })
    ));
    for i in [1, 3, 4] {
        reopened.submit_share(shares[i].clone()).expect("share");
    }
    assert_eq!(reopened.public_key(&key).expect("spki"), spki);
    let sig = reopened.sign(&key, b"m").expect("sign");
    hsm_shim::verify_signature(&spki, sig.algorithm, b"m", &sig.bytes).expect("verify");

    reopened.seal();
    assert!(matches!(
        reopened.sign(&key, b"m"),
        Err(Error::Sealed { provided: 0, .. })
    ));
}

#[test]
fn wrong_duplicate_foreign_and_mistyped_shares_are_named() {
    let dir = tmp();
    let (store, shares) =
        SoftwareKeyStore::create(&dir.path().join("a"), Quorum::DEFAULT).expect("a");
    let (other, other_shares) =
        SoftwareKeyStore::create(&dir.path().join("b"), Quorum::DEFAULT).expect("b");

    match store.submit_share(other_shares[0].clone()) {
        Err(Error::ShareForOtherKeystore {
            share_keystore,
            keystore,
        }) => {
            assert_eq!(share_keystore, other.id());
            assert_eq!(keystore, store.id());
        }
        other => panic!("expected ShareForOtherKeystore, got {other:?}"),
    }
    // Another keystore's share relabelled as ours: the commitment catches it.
    let relabelled = forged(&other_shares[1], Some(store.id()), false);
    assert!(matches!(
        store.submit_share(relabelled),
        Err(Error::WrongShare { index: 2 })
    ));
    // Our share with its data changed and a fresh checksum: the commitment catches it.
    let corrupted = forged(&shares[2], None, true);
    assert!(matches!(
        store.submit_share(corrupted),
        Err(Error::WrongShare { index: 3 })
    ));
    // A typing error: the checksum catches it before anything else.
    let mut typo = shares[0].to_text().to_string();
    typo.insert(20, 'x');
    assert!(matches!(
        CustodianShare::parse(&typo),
        Err(Error::MalformedShare(_))
    ));

    store.submit_share(shares[0].clone()).expect("first");
    assert!(matches!(
        store.submit_share(shares[0].clone()),
        Err(Error::DuplicateShare { index: 1 })
    ));
    // The rejected shares did not count.
    assert_eq!(store.progress().provided, 1);
    store.submit_share(shares[3].clone()).expect("second");
    assert!(
        store
            .submit_share(shares[4].clone())
            .expect("third")
            .unsealed
    );
}

#[test]
fn weak_or_impossible_quorums_are_refused() {
    let dir = tmp();
    let too_many = Quorum {
        threshold: 6,
        custodians: 5,
    };
    assert!(matches!(
        SoftwareKeyStore::create(&dir.path().join("x"), too_many),
        Err(Error::InvalidQuorum(_))
    ));
    let one = Quorum {
        threshold: 1,
        custodians: 5,
    };
    assert!(matches!(
        SoftwareKeyStore::create(&dir.path().join("y"), one),
        Err(Error::InvalidQuorum(_))
    ));
    assert!(!dir.path().join("x").exists() && !dir.path().join("y").exists());
    // A directory that already holds a keystore is not overwritten.
    let (_s, _sh) = SoftwareKeyStore::create(&dir.path().join("z"), Quorum::DEFAULT).expect("z");
    assert!(SoftwareKeyStore::create(&dir.path().join("z"), Quorum::DEFAULT).is_err());
}

/// Reopens the store (so nothing is cached) and unseals it.
fn reopen(dir: &std::path::Path, shares: &[CustodianShare]) -> SoftwareKeyStore {
    let s = SoftwareKeyStore::open(dir).expect("open");
    for sh in &shares[..3] {
        s.submit_share(sh.clone()).expect("share");
    }
    s
}

#[test]
fn edited_swapped_or_truncated_key_files_are_detected() {
    let dir = tmp();
    let (store, shares) = support::unsealed_software(dir.path());
    let a = store.generate(KeyKind::Ed25519, "a").expect("a");
    let b = store.generate(KeyKind::Ed25519, "b").expect("b");
    drop(store);
    let path = |k: &hsm_shim::KeyHandle| dir.path().join("keys").join(format!("{}.key", k.id()));
    let original_a = std::fs::read(path(&a)).expect("read a");
    let original_b = std::fs::read(path(&b)).expect("read b");

    // Edit an attribute in the clear (the label).
    let edited = String::from_utf8(original_a.clone())
        .expect("utf8")
        .replace("\"a\"", "\"root\"");
    std::fs::write(path(&a), edited).expect("write");
    assert!(matches!(
        reopen(dir.path(), &shares).sign(&a, b"m"),
        Err(Error::CorruptKeyFile { .. })
    ));

    // Upgrade the state by hand.
    let s = reopen(dir.path(), &shares);
    std::fs::write(path(&a), &original_a).expect("restore");
    s.set_state(&a, hsm_shim::KeyState::Suspended)
        .expect("suspend");
    drop(s);
    let suspended = std::fs::read(path(&a)).expect("read");
    let forced = String::from_utf8(suspended)
        .expect("utf8")
        .replace("suspended", "active");
    std::fs::write(path(&a), forced).expect("write");
    assert!(matches!(
        reopen(dir.path(), &shares).sign(&a, b"m"),
        Err(Error::CorruptKeyFile { .. })
    ));

    // Put b's file under a's name.
    std::fs::write(path(&a), &original_b).expect("swap");
    assert!(matches!(
        reopen(dir.path(), &shares).sign(&a, b"m"),
        Err(Error::CorruptKeyFile { .. })
    ));

    // Keep a's attributes but take b's sealed material.
    let mut fa: serde_json::Value = serde_json::from_slice(&original_a).expect("json");
    let fb: serde_json::Value = serde_json::from_slice(&original_b).expect("json");
    fa["sealed"] = fb["sealed"].clone();
    fa["nonce"] = fb["nonce"].clone();
    std::fs::write(path(&a), serde_json::to_vec(&fa).expect("json")).expect("write");
    assert!(matches!(
        reopen(dir.path(), &shares).sign(&a, b"m"),
        Err(Error::CorruptKeyFile { .. })
    ));

    // Truncate.
    std::fs::write(path(&a), &original_a[..original_a.len() / 2]).expect("write");
    assert!(matches!(
        reopen(dir.path(), &shares).sign(&a, b"m"),
        Err(Error::CorruptKeyFile { .. })
    ));

    // b was never touched and still works; a restored works again.
    std::fs::write(path(&a), &original_a).expect("restore");
    let s = reopen(dir.path(), &shares);
    s.sign(&a, b"m").expect("a restored");
    s.sign(&b, b"m").expect("b untouched");
}

#[test]
fn interrupted_writes_leave_no_visible_key() {
    let dir = tmp();
    let (store, _shares) = support::unsealed_software(dir.path());
    store.generate(KeyKind::Ed25519, "kept").expect("generate");
    // What a crash between write and rename leaves behind.
    std::fs::write(dir.path().join("keys").join(".x.key.tmp-123"), b"{partial").expect("write");
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].label, "kept");
}

#[test]
fn destroy_wipes_the_file_and_records_the_event() {
    let dir = tmp();
    let (store, _shares) = support::unsealed_software(dir.path());
    let key = store
        .generate(KeyKind::X25519, "destroy-me")
        .expect("generate");
    let file = dir.path().join("keys").join(format!("{}.key", key.id()));
    assert!(file.exists());
    store.destroy(&key).expect("destroy");
    assert!(!file.exists());
    let log = std::fs::read_to_string(dir.path().join("events.log")).expect("events");
    let last: serde_json::Value =
        serde_json::from_str(log.lines().last().expect("a line")).expect("json");
    assert_eq!(last["event"], "destroyed");
    assert_eq!(last["key"], key.id().to_string());
    assert_eq!(last["kind"], "x25519");
}

#[test]
fn dev_mode_unseals_from_its_file_and_only_dev_mode_does() {
    let dir = tmp();
    let dev = SoftwareKeyStore::create_dev(&dir.path().join("dev")).expect("dev");
    assert_eq!(dev.mode(), Mode::Dev);
    assert!(dev.is_sealed());
    dev.unseal_dev().expect("dev unseal");
    dev.generate(KeyKind::Ed25519, "dev-key").expect("generate");

    let (prod, shares) =
        SoftwareKeyStore::create(&dir.path().join("prod"), Quorum::DEFAULT).expect("prod");
    assert!(matches!(prod.unseal_dev(), Err(Error::DevMode(_))));
    assert!(matches!(
        dev.submit_share(shares[0].clone()),
        Err(Error::DevMode(_))
    ));
    // A dev unseal file dropped into a production keystore does nothing.
    std::fs::copy(
        dir.path().join("dev/dev-unseal.key"),
        dir.path().join("prod/dev-unseal.key"),
    )
    .expect("copy");
    assert!(matches!(
        SoftwareKeyStore::open(&dir.path().join("prod"))
            .expect("open")
            .unseal_dev(),
        Err(Error::DevMode(_))
    ));
}

#[test]
fn local_mode_unseals_from_its_own_file_and_is_no_dev_store() {
    let dir = tmp();
    let local = SoftwareKeyStore::create_local(&dir.path().join("tls")).expect("local");
    assert_eq!(local.mode(), Mode::Local);
    assert!(!dir.path().join("tls/dev-unseal.key").exists());
    assert!(dir.path().join("tls/local-unseal.key").exists());
    // Not a dev keystore: the dev shortcut refuses it; its own file opens it.
    assert!(matches!(local.unseal_dev(), Err(Error::DevMode(_))));
    local.unseal_from_local_file().expect("local unseal");
    let key = local
        .generate(KeyKind::EcdsaP256, "node-tls")
        .expect("generate");
    let reopened = SoftwareKeyStore::open(&dir.path().join("tls")).expect("open");
    reopened.unseal_from_local_file().expect("local unseal");
    reopened.sign(&key, b"handshake").expect("sign");

    // A production keystore never opens from a local file, even one dropped into it.
    let (prod, shares) =
        SoftwareKeyStore::create(&dir.path().join("prod"), Quorum::DEFAULT).expect("prod");
    std::fs::copy(
        dir.path().join("tls/local-unseal.key"),
        dir.path().join("prod/local-unseal.key"),
    )
    .expect("copy");
    assert!(matches!(
        prod.unseal_from_local_file(),
        Err(Error::DevMode(_))
    ));
    assert!(matches!(
        local.submit_share(shares[0].clone()),
        Err(Error::DevMode(_))
    ));
}

#[test]
fn reshare_keeps_keys_and_retires_old_shares() {
    let dir = tmp();
    let (store, old) = support::unsealed_software(dir.path());
    let key = store
        .generate(KeyKind::Ed25519, "signing-ca")
        .expect("generate");
    let spki = store.public_key(&key).expect("spki");

    // Too few current shares: refused.
    assert!(
        store
            .reshare(
                &old[..2],
                Quorum {
                    threshold: 2,
                    custodians: 3
                }
            )
            .is_err()
    );
    let new = store
        .reshare(
            &old[1..4],
            Quorum {
                threshold: 2,
                custodians: 3,
            },
        )
        .expect("reshare");
    assert_eq!(new.len(), 3);
    drop(store);

    let s = SoftwareKeyStore::open(dir.path()).expect("open");
    assert_eq!(
        s.quorum(),
        Quorum {
            threshold: 2,
            custodians: 3
        }
    );
    assert!(matches!(
        s.submit_share(old[0].clone()),
        Err(Error::WrongShare { .. })
    ));
    s.submit_share(new[2].clone()).expect("new share");
    assert!(s.submit_share(new[0].clone()).expect("new share").unsealed);
    assert_eq!(s.public_key(&key).expect("same key"), spki);
}

#[test]
fn wrap_and_unwrap_bind_the_key_and_the_context() {
    let dir = tmp();
    let (store, _shares) = support::unsealed_software(dir.path());
    let kek = store
        .generate(KeyKind::Aes256Wrap, "archive-rahasia")
        .expect("kek");
    let other = store
        .generate(KeyKind::Aes256Wrap, "archive-biasa")
        .expect("kek2");
    let data_key = SecretBytes::new((0u8..32).collect());
    let wrapped = store.wrap(&kek, &data_key, b"doc-1").expect("wrap");
    assert!(!wrapped.windows(32).any(|w| w == data_key.expose()));
    assert_eq!(
        store
            .unwrap(&kek, &wrapped, b"doc-1")
            .expect("unwrap")
            .expose(),
        data_key.expose()
    );
    assert!(matches!(
        store.unwrap(&kek, &wrapped, b"doc-2"),
        Err(Error::UnwrapFailed)
    ));
    assert!(matches!(
        store.unwrap(&other, &wrapped, b"doc-1"),
        Err(Error::UnwrapFailed)
    ));
    let mut flipped = wrapped;
    flipped[20] ^= 1;
    assert!(matches!(
        store.unwrap(&kek, &flipped, b"doc-1"),
        Err(Error::UnwrapFailed)
    ));
    assert!(matches!(
        store.unwrap(&kek, &[1, 2, 3], b"doc-1"),
        Err(Error::UnwrapFailed)
    ));
    // A wrapping key cannot sign or agree; an agreement key cannot sign.
    assert!(matches!(
        store.sign(&kek, b"m"),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.agree(&kek, &[9; 32]),
        Err(Error::WrongKeyUsage { .. })
    ));
    let x = store.generate(KeyKind::X25519, "enc").expect("x25519");
    assert!(matches!(
        store.sign(&x, b"m"),
        Err(Error::WrongKeyUsage { .. })
    ));
    assert!(matches!(
        store.public_key(&kek),
        Err(Error::WrongKeyUsage { .. })
    ));
}

fn age_encrypt(recipient: &age::x25519::Recipient, plaintext: &[u8]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .expect("encryptor");
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).expect("wrap");
    w.write_all(plaintext).expect("write");
    w.finish().expect("finish");
    out
}

fn age_decrypt(identity: &HandleIdentity, ciphertext: &[u8]) -> Result<Vec<u8>, age::DecryptError> {
    let decryptor = age::Decryptor::new(ciphertext)?;
    let mut r = decryptor.decrypt(std::iter::once(identity as &dyn age::Identity))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    Ok(out)
}

#[test]
fn an_age_identity_backed_by_a_handle_decrypts_age_files() {
    let dir = tmp();
    let (store, _shares) = support::unsealed_software(dir.path());
    let store: Arc<dyn KeyStore> = store;
    let key = store
        .generate(KeyKind::X25519, "official-enc")
        .expect("x25519");
    let identity = HandleIdentity::new(Arc::clone(&store), key).expect("identity");
    let recipient = age_recipient(&*store, &key).expect("recipient");
    assert_eq!(
        recipient.to_string(),
        identity.recipient().expect("r").to_string()
    );
    assert!(recipient.to_string().starts_with("age1"));

    let letter = b"Isi surat RAHASIA".repeat(1000);
    let ct = age_encrypt(&recipient, &letter);
    assert_eq!(age_decrypt(&identity, &ct).expect("decrypt"), letter);

    // The age CLI, which we did not write, encrypts to our recipient; the handle decrypts.
    let input = dir.path().join("letter.txt");
    let output = dir.path().join("letter.age");
    std::fs::write(&input, &letter).expect("write");
    let status = std::process::Command::new("age")
        .args(["-r", &recipient.to_string(), "-o"])
        .arg(&output)
        .arg(&input)
        .status()
        .expect("the age CLI is installed by the test command");
    assert!(status.success());
    let ct = std::fs::read(&output).expect("read");
    assert_eq!(
        age_decrypt(&identity, &ct).expect("decrypt CLI file"),
        letter
    );

    // Someone else's file does not open.
    let stranger = age::x25519::Identity::generate().to_public();
    assert!(age_decrypt(&identity, &age_encrypt(&stranger, b"x")).is_err());
    // A signing key cannot back an identity; a low-order point is refused.
    let sk = store.generate(KeyKind::Ed25519, "sig").expect("ed25519");
    assert!(HandleIdentity::new(Arc::clone(&store), sk).is_err());
    assert!(matches!(
        store.agree(&key, &[0u8; 32]),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn nothing_secret_is_printed() {
    let dir = tmp();
    let (store, shares) = support::unsealed_software(dir.path());
    let key = store.generate(KeyKind::X25519, "enc").expect("x25519");
    let share_text = shares[0].to_text();
    let share_data = share_text
        .split('.')
        .nth(3)
        .expect("data field")
        .to_string();
    let printed = format!("{store:?} {shares:?} {key:?}");
    assert!(!printed.contains(&share_data), "a share's data was printed");
    let secret = SecretBytes::new(vec![0xAB; 16]);
    let agreed = store.agree(&key, &[9u8; 32]).expect("agree");
    let printed = format!("{secret:?} {agreed:?}");
    assert!(!printed.to_lowercase().contains("abab"));
    assert!(!printed.contains(&hex::encode(agreed.expose())));
    assert!(!printed.contains(&format!("{:?}", agreed.expose())));
    // Errors carry no share data either.
    let err = store
        .submit_share(forged(&shares[3], None, true))
        .expect_err("a corrupted share")
        .to_string();
    assert!(!err.contains(&share_data));
    // A sealed store with a share pending prints its state, not the share.
    store.seal();
    store
        .submit_share(shares[4].clone())
        .expect("pending share");
    let printed = format!("{store:?}");
    assert!(printed.contains("sealed: true"), "{printed}");
    let pending = shares[4].to_text();
    assert!(!printed.contains(pending.split('.').nth(3).expect("data")));
}
