//! What the fuzz targets run, one function per parser of outside input. `cargo fuzz` drives
//! them (`tests/run --extended`); `docsvc/tests/fuzz_corpus.rs` replays the committed corpus
//! through the same functions in every test run. Each must return, never panic, whatever the
//! bytes; where a parse succeeds, what it gives back must survive a round trip.

use std::path::Path;

/// The dev network the seeds came from (a throwaway quickstart node): its root, Signing CA and
/// Network CA, and the manifest its seed signature signs, so that the seeds verify in full and
/// mutations start deep in the checks.
const ROOT: &[u8] = include_bytes!("../fixtures/root.der");
const SIGNING_CA: &[u8] = include_bytes!("../fixtures/signing-ca.der");
const NETWORK_CA: &[u8] = include_bytes!("../fixtures/network-ca.der");
const MANIFEST: &[u8] = include_bytes!("../fixtures/manifest.json");

/// A letter as it travels between nodes, and its manifest.
pub fn envelope(data: &[u8]) {
    if let Ok(e) = docsvc::transmit::Envelope::decode(data) {
        assert_eq!(e.encode(), data, "an envelope re-encodes to the same bytes");
        manifest(&e.manifest);
        for part in &e.parts {
            let _ = docsvc::crypto::envelope::payload_nonce(part);
        }
    }
    manifest(data);
}

fn manifest(data: &[u8]) {
    if let Ok(m) = docsvc::crypto::envelope::Manifest::parse(data) {
        let canonical = m
            .canonical()
            .expect("a parsed manifest has a canonical form");
        let again = docsvc::crypto::envelope::Manifest::parse(&canonical)
            .expect("the canonical form of a manifest parses");
        assert_eq!(again.canonical().ok(), Some(canonical));
    }
}

/// A detached CMS signature over a manifest.
pub fn cms(data: &[u8]) {
    let trust = docsvc::crypto::signature::Trust::new(ROOT.to_vec(), vec![SIGNING_CA.to_vec()]);
    // 2026-12-01: inside the seed certificates' validity.
    let at = time::OffsetDateTime::from_unix_timestamp(1_796_083_200).expect("a time");
    let _ = docsvc::crypto::signature::verify_detached(
        data,
        docsvc::crypto::signature::Kind::Manifest,
        docsvc::crypto::signature::Content::Bytes(MANIFEST),
        &trust,
        at,
    );
}

/// A certificate signing request handed to keymgr.
pub fn csr(data: &[u8]) {
    let _ = keymgr::issue::parse_csr(data);
}

/// A policy directory: the first byte says which file the rest replaces (schema, Cedar
/// policies, handling table); the other files are the shipped defaults.
pub fn policy(data: &[u8]) {
    let Some((&which, text)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let replaced = usize::from(which) % policies::DEFAULT_FILES.len();
    for (i, (name, default)) in policies::DEFAULT_FILES.iter().enumerate() {
        let bytes = if i == replaced {
            text
        } else {
            default.as_bytes()
        };
        if std::fs::write(dir.path().join(name), bytes).is_err() {
            return;
        }
    }
    let _ = policies::Policy::load(dir.path());
}

/// The network directory as docsvc loads it.
pub fn directory(data: &[u8]) {
    if let Ok(d) = serde_json::from_slice::<keymgr::directory::Directory>(data) {
        let _ = keymgr::directory::verify(&d, NETWORK_CA, ROOT);
    }
}

/// A backup archive, as `docsvc backup verify` checks it.
pub fn backup(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("fuzz.backup");
    if std::fs::write(&path, data).is_ok() {
        // No CRL beside: a seal that gets as far as revocation is refused there.
        let trust = docsvc::ops::backup_seal::SealTrust::new(
            ROOT.to_vec(),
            NETWORK_CA.to_vec(),
            dir.path().join("crl"),
        );
        let _ = docsvc::ops::backup::verify(Path::new(&path), &trust);
    }
}

/// A custodian's share, as typed or pasted at an unseal.
pub fn share(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = hsm_shim::CustodianShare::parse(text) {
        let again =
            hsm_shim::CustodianShare::parse(&s.to_text()).expect("a parsed share's text parses");
        assert_eq!(again.to_text().as_str(), s.to_text().as_str());
    }
}

/// A fuzz target: takes any bytes, returns or panics.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: [(&str, Target); 7] = [
    ("envelope", envelope),
    ("cms", cms),
    ("csr", csr),
    ("policy", policy),
    ("directory", directory),
    ("backup", backup),
    ("share", share),
];
