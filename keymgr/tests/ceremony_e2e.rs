//! The `keymgr` binary through a whole ceremony, checked by tools we did not write: openssl
//! (verify with purposes, req for CSRs) and age-keygen.
// Each test follows one ceremony from start to end, as the custodians would, the long ones
// phase by phase.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sandi_e2e::pg as support;

struct Ca {
    dir: tempfile::TempDir,
    /// The inventory database, when not the default SQLite file.
    database_url: Option<String>,
}

impl Ca {
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn keymgr(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(self.home())
            .args(args)
            .envs(self.database_url.iter().map(|u| ("KEYMGR_DATABASE_URL", u)))
            .current_dir(self.dir.path())
            .output()
            .expect("run keymgr")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.keymgr(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "keymgr {args:?} failed:\n{text}");
        text
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.keymgr(args);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "keymgr {args:?} should have failed");
        assert!(!text.is_empty(), "a failure must say why");
        text
    }
    /// Share arguments for custodians `which` (1-based), with their passphrase files.
    #[allow(clippy::unused_self)] // reads as ca.quorum(..) beside ca.ok(..)
    fn quorum(&self, which: &[usize]) -> Vec<String> {
        let mut args = Vec::new();
        for i in which {
            args.push("--share".into());
            args.push(share_file(*i));
            args.push("--passphrase-file".into());
            args.push(format!("pass{i}"));
        }
        args
    }
}

const NAMES: [&str; 5] = ["Budi", "Siti", "Andi", "Dewi", "Rina"];

fn share_file(i: usize) -> String {
    format!("shares/custodian-{i}-{}.age", NAMES[i - 1].to_lowercase())
}

/// A CA made by a 3-of-5 ceremony with passphrase-protected shares.
fn ceremony() -> Ca {
    ceremony_on(None)
}

fn ceremony_on(database_url: Option<String>) -> Ca {
    let ca = Ca {
        dir: tempfile::tempdir().expect("tempdir"),
        database_url,
    };
    for i in 1..=5 {
        std::fs::write(
            ca.path(&format!("pass{i}")),
            format!("kata sandi kustodian {i}\n"),
        )
        .expect("write");
    }
    let mut args: Vec<String> = [
        "ceremony",
        "init",
        "--organisation",
        "Pemerintah Kota Contoh",
        "--network-domain",
        "sandi.contoh.go.id",
        "--admin",
        "Admin Upacara",
        "--witness",
        "Saksi Internal",
        "--witness",
        "Saksi Eksternal",
        "--threshold",
        "3",
        "--shares-out",
        "shares",
    ]
    .map(String::from)
    .to_vec();
    for (i, n) in NAMES.iter().enumerate() {
        args.extend([
            "--custodian".into(),
            (*n).into(),
            "--passphrase-file".into(),
            format!("pass{}", i + 1),
        ]);
    }
    let text = ca.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(text.contains("ceremony closed"), "{text}");
    ca
}

fn args<'a>(base: &[&'a str], quorum: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend(quorum.iter().map(String::as_str));
    v.extend_from_slice(rest);
    v
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `openssl verify` of a certificate against root.pem with one intermediate, for a purpose.
fn verify_chain(
    dir: &Path,
    intermediate: &str,
    purpose: Option<&str>,
    cert: &str,
) -> (bool, String) {
    let mut args = vec!["verify", "-CAfile", "root.pem", "-untrusted", intermediate];
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    args.push(cert);
    openssl(dir, &args)
}

/// A P-256 key and a PKCS#10 request for it, made by `openssl req`.
fn new_csr(dir: &Path, key: &str, csr: &str) -> (bool, String) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=ignored",
            "-keyout",
            key,
            "-out",
            csr,
        ],
    )
}

fn transcript_of(ca: &Ca) -> PathBuf {
    std::fs::read_dir(ca.home().join("transcripts"))
        .expect("transcripts")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a transcript")
}

#[test]
fn a_whole_ceremony_issues_what_openssl_accepts() {
    let ca = ceremony();
    the_transcript_verifies_and_no_share_is_in_the_clear(&ca);
    copy_ca_certificates(&ca);
    a_node_certificate_serves_and_connects(&ca);
    an_officials_certificate_carries_their_csrs_key(&ca);
    an_application_certificate_only_connects(&ca);
    let recipient = an_officials_age_recipient_is_bound(&ca);
    the_network_directory_is_signed_verified_and_only_moves_forward(&ca);
    the_binding_verifies_and_a_forged_one_does_not(&ca, &recipient);
    let list = the_inventory_lists_every_profile(&ca);
    a_ca_held_key_goes_through_its_lifecycle(&ca, &list);

    let text = ca.ok(&["log", "verify"]);
    // 14 ceremony steps (the root's first CRL among them), 3 issuances, 1 binding, 3 network
    // directories, 2 key events.
    assert!(text.contains("23 entries, 23 signed tree heads"), "{text}");
}

fn the_transcript_verifies_and_no_share_is_in_the_clear(ca: &Ca) {
    let transcript = transcript_of(ca);
    let text = ca.ok(&["ceremony", "verify", transcript.to_str().expect("utf8")]);
    assert!(
        text.contains("transcript verified") && text.contains("root.created"),
        "{text}"
    );
    // The share files hold no share in the clear.
    for i in 1..=5 {
        let bytes = std::fs::read(ca.path(&share_file(i))).expect("share file");
        assert!(bytes.starts_with(b"age-encryption.org/v1"));
        assert!(!String::from_utf8_lossy(&bytes).contains("sandi-share-v1"));
    }
}

/// Where openssl finds them: root.pem, network.pem, signing.pem.
fn copy_ca_certificates(ca: &Ca) {
    std::fs::copy(ca.home().join("ca/root.pem"), ca.path("root.pem")).expect("root");
    std::fs::copy(ca.home().join("ca/network-ca.pem"), ca.path("network.pem")).expect("net");
    std::fs::copy(ca.home().join("ca/signing-ca.pem"), ca.path("signing.pem")).expect("sig");
}

fn a_node_certificate_serves_and_connects(ca: &Ca) {
    let d = ca.dir.path();
    // A node certificate, key generated in the CA's keystore; custodians 2, 4, 5 unseal.
    let q = ca.quorum(&[2, 4, 5]);
    let text = ca.ok(&args(
        &["issue"],
        &q,
        &[
            "node",
            "--node-id",
            "node-dinkes",
            "--agency",
            "Dinas Kesehatan",
            "--accreditation",
            "rahasia",
            "--dns",
            "dinkes.sandi.contoh.go.id",
            "--ip",
            "127.0.0.1",
            "--out",
            "node.pem",
        ],
    ));
    assert!(
        text.contains("2 more needed")
            && text.contains("1 more needed")
            && text.contains("unsealed"),
        "{text}"
    );
    for purpose in ["sslserver", "sslclient"] {
        let (ok, out) = verify_chain(d, "network.pem", Some(purpose), "node.pem");
        assert!(ok, "node certificate, purpose {purpose}: {out}");
    }
    let (_, node_text) = openssl(d, &["x509", "-in", "node.pem", "-noout", "-text"]);
    assert!(
        node_text.contains("Dinas Kesehatan") && node_text.contains("rahasia"),
        "{node_text}"
    );
    assert!(node_text.contains("Not After") && node_text.contains("IP Address:127.0.0.1"));
}

fn an_officials_certificate_carries_their_csrs_key(ca: &Ca) {
    let d = ca.dir.path();
    // An official's signing certificate from a CSR made by openssl.
    let (ok, out) = new_csr(d, "official.key", "official.csr");
    assert!(ok, "{out}");
    let q = ca.quorum(&[1, 2, 3]);
    ca.ok(&args(
        &["issue"],
        &q,
        &[
            "official",
            "--name",
            "Dr. Sri Wahyuni",
            "--nip",
            "197501012000032001",
            "--agency",
            "Dinas Kesehatan",
            "--csr",
            "official.csr",
            "--out",
            "official.pem",
        ],
    ));
    let (ok, out) = verify_chain(d, "signing.pem", Some("smimesign"), "official.pem");
    assert!(ok, "official certificate: {out}");
    let (_, text) = openssl(
        d,
        &[
            "x509",
            "-in",
            "official.pem",
            "-noout",
            "-text",
            "-nameopt",
            "multiline",
        ],
    );
    assert!(
        text.contains("Non Repudiation") && text.contains("E-mail Protection"),
        "{text}"
    );
    assert!(
        text.contains("1.3.6.1.5.5.7.3.36") || text.contains("Document Signing"),
        "{text}"
    );
    assert!(
        text.contains("197501012000032001") && text.contains("Dr. Sri Wahyuni"),
        "{text}"
    );
    // The certificate carries the CSR's key.
    let (_, a) = openssl(d, &["x509", "-in", "official.pem", "-noout", "-pubkey"]);
    let (_, b) = openssl(d, &["pkey", "-in", "official.key", "-pubout"]);
    assert_eq!(a, b);
}

fn an_application_certificate_only_connects(ca: &Ca) {
    let d = ca.dir.path();
    // An application client certificate: a client, not a server.
    let q = ca.quorum(&[3, 4, 5]);
    ca.ok(&args(
        &["issue"],
        &q,
        &[
            "application",
            "--name",
            "e-office",
            "--agency",
            "Sekretariat Daerah",
            "--out",
            "app.pem",
        ],
    ));
    let (ok, out) = verify_chain(d, "network.pem", Some("sslclient"), "app.pem");
    assert!(ok, "application certificate: {out}");
    let (ok, _) = verify_chain(d, "network.pem", Some("sslserver"), "app.pem");
    assert!(!ok, "an application certificate must not serve TLS");
    // Certificates from the wrong intermediate do not verify.
    let (ok, _) = verify_chain(d, "signing.pem", None, "node.pem");
    assert!(!ok);
}

/// Returns the official's age recipient.
fn an_officials_age_recipient_is_bound(ca: &Ca) -> String {
    // An official's age recipient bound to their identity by the Signing CA.
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(ca.path("official.agekey"))
        .output()
        .expect("age-keygen installed");
    assert!(out.status.success());
    let key = std::fs::read_to_string(ca.path("official.agekey")).expect("key");
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("recipient")
        .to_string();
    let q = ca.quorum(&[1, 3, 5]);
    ca.ok(&args(
        &["bind-key"],
        &q,
        &[
            "--nip",
            "197501012000032001",
            "--name",
            "Dr. Sri Wahyuni",
            "--agency",
            "Dinas Kesehatan",
            "--recipient",
            &recipient,
            "--out",
            "binding.json",
        ],
    ));
    recipient
}

fn the_binding_verifies_and_a_forged_one_does_not(ca: &Ca, recipient: &str) {
    let text = ca.ok(&["verify-binding", "binding.json"]);
    assert!(text.contains(recipient), "{text}");
    let forged = std::fs::read_to_string(ca.path("binding.json"))
        .expect("binding")
        .replace("197501012000032001", "197501012000032002");
    std::fs::write(ca.path("forged.json"), forged).expect("write");
    assert!(
        ca.fails(&["verify-binding", "forged.json"])
            .contains("does not verify")
    );
}

/// Returns the listing.
fn the_inventory_lists_every_profile(ca: &Ca) -> String {
    let list = ca.ok(&["list"]);
    for profile in [
        "root-ca",
        "intermediate-ca",
        "node",
        "official",
        "application",
    ] {
        assert!(
            list.contains(&format!(" {profile} ")),
            "{profile} missing from:\n{list}"
        );
    }
    assert!(
        list.contains("root   ") && list.contains("root-ca") && list.contains("transparency-log"),
        "{list}"
    );
    list
}

fn a_ca_held_key_goes_through_its_lifecycle(ca: &Ca, list: &str) {
    // The node's key, held by the CA, goes through its lifecycle.
    let node_serial = list
        .lines()
        .find(|l| l.contains(" node "))
        .and_then(|l| l.split_whitespace().next())
        .expect("node");
    let show = ca.ok(&["show", node_serial]);
    let record: serde_json::Value =
        serde_json::from_str(&show[..show.find("-----BEGIN").expect("pem")]).expect("json");
    let key = record["key_id"]
        .as_str()
        .expect("a CA-held key")
        .to_string();
    let q = ca.quorum(&[2, 3, 4]);
    let text = ca.ok(&args(&["key", "set-state"], &q, &[&key, "suspended"]));
    assert!(text.contains("is now suspended"), "{text}");
    assert!(
        ca.ok(&["list"])
            .lines()
            .any(|l| l.contains(&key) && l.ends_with("suspended"))
    );
    let text = ca.ok(&args(&["key", "destroy"], &q, &[&key]));
    assert!(text.contains("destroyed and recorded"), "{text}");
    assert!(
        ca.ok(&["list"])
            .lines()
            .any(|l| l.contains(&key) && l.ends_with("destroyed"))
    );
    assert!(
        ca.fails(&args(&["key", "destroy"], &q, &[&key]))
            .contains(&format!("no key with id {key}"))
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ca.home().join("ca/state.json")).expect("state"))
            .expect("json");
    let network_key = state["network_ca_key"].as_str().expect("key");
    let err = ca.fails(&args(&["key", "destroy"], &q, &[network_key]));
    assert!(err.contains("CA key in use"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_message_and_a_non_zero_exit() {
    let ca = ceremony();
    let node = [
        "node",
        "--node-id",
        "n1",
        "--agency",
        "Dinas",
        "--accreditation",
        "biasa",
        "--ip",
        "127.0.0.1",
        "--out",
        "n1.pem",
    ];

    bad_shares_are_refused(&ca, &node);
    bad_requests_are_refused(&ca);
    an_unknown_serial_and_a_second_ceremony_are_refused(&ca);
    an_expired_issuing_ca_issues_nothing(&ca, &node);
}

fn bad_shares_are_refused(ca: &Ca, node: &[&str]) {
    // Wrong passphrase.
    let err = ca.fails(
        &[
            &[
                "issue",
                "--share",
                &share_file(1),
                "--passphrase-file",
                "pass2",
            ][..],
            node,
        ]
        .concat(),
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    // The same custodian twice.
    let q = ca.quorum(&[1, 1, 2]);
    let err = ca.fails(&args(&["issue"], &q, node));
    assert!(err.contains("already given"), "{err}");
    // Fewer than the threshold: refused, nothing issued.
    let q = ca.quorum(&[1, 2]);
    let err = ca.fails(&args(&["issue"], &q, node));
    assert!(err.contains("quorum not met: 2 of 3"), "{err}");
    assert!(!ca.path("n1.pem").exists());
    // A share from another ceremony.
    let other = ceremony();
    let foreign = other.path(&share_file(3));
    let err = ca.fails(
        &[
            &[
                "issue",
                "--share",
                foreign.to_str().expect("utf8"),
                "--passphrase-file",
                "pass3",
            ][..],
            node,
        ]
        .concat(),
    );
    assert!(err.contains("belongs to ceremony"), "{err}");
}

fn bad_requests_are_refused(ca: &Ca) {
    // A CSR whose signature does not match its key.
    let d = ca.dir.path();
    let (ok, out) = openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
            "-keyout",
            "x.key",
            "-outform",
            "DER",
            "-out",
            "x.csr",
        ],
    );
    assert!(ok, "{out}");
    let mut csr = std::fs::read(ca.path("x.csr")).expect("csr");
    let last = csr.len() - 3;
    csr[last] ^= 0x01;
    std::fs::write(ca.path("bad.csr"), &csr).expect("write");
    let q = ca.quorum(&[1, 2, 3]);
    let err = ca.fails(&args(
        &["issue"],
        &q,
        &[
            "official",
            "--name",
            "X",
            "--nip",
            "197501012000032001",
            "--agency",
            "Dinas",
            "--csr",
            "bad.csr",
            "--out",
            "x.pem",
        ],
    ));
    assert!(err.contains("certificate request rejected"), "{err}");
    // A NIP that is not 18 digits.
    let err = ca.fails(&args(
        &["issue"],
        &q,
        &[
            "official", "--name", "X", "--nip", "12345", "--agency", "Dinas", "--out", "y.pem",
        ],
    ));
    assert!(err.contains("18 digits"), "{err}");
}

fn an_unknown_serial_and_a_second_ceremony_are_refused(ca: &Ca) {
    // An unknown serial.
    let err = ca.fails(&["show", "deadbeef"]);
    assert!(err.contains("no certificate with serial deadbeef"), "{err}");
    // A second ceremony in the same home.
    let err = ca.fails(&[
        "ceremony",
        "init",
        "--organisation",
        "X",
        "--admin",
        "A",
        "--custodian",
        "B",
        "--custodian",
        "C",
        "--witness",
        "W",
        "--threshold",
        "2",
        "--shares-out",
        "s2",
        "--passphrase-file",
        "pass1",
        "--passphrase-file",
        "pass2",
    ]);
    assert!(err.contains("already holds"), "{err}");
}

fn an_expired_issuing_ca_issues_nothing(ca: &Ca, node: &[&str]) {
    // An expired issuing CA issues nothing.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    let key = rcgen::KeyPair::generate().expect("key");
    let expired = params.self_signed(&key).expect("cert");
    std::fs::write(ca.home().join("ca/network-ca.pem"), expired.pem()).expect("write");
    let q = ca.quorum(&[1, 2, 3]);
    let err = ca.fails(&args(&["issue"], &q, node));
    assert!(
        err.contains("Network CA certificate is not valid now"),
        "{err}"
    );
}

#[test]
fn ceremony_roles_are_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p"), "x\n").expect("write");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(dir.path().join("home"))
            .args([
                "ceremony",
                "init",
                "--organisation",
                "X",
                "--shares-out",
                "s",
                "--threshold",
                "2",
            ])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .expect("run");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[
        "--admin",
        "Ani",
        "--custodian",
        "Ani",
        "--custodian",
        "Budi",
        "--witness",
        "W",
        "--passphrase-file",
        "p",
        "--passphrase-file",
        "p",
    ]);
    assert!(err.contains("two roles"), "{err}");
    let err = run(&[
        "--admin",
        "A",
        "--custodian",
        "B",
        "--custodian",
        "C",
        "--witness",
        "B",
        "--passphrase-file",
        "p",
        "--passphrase-file",
        "p",
    ]);
    assert!(err.contains("two roles"), "{err}");
    let err = run(&[
        "--admin",
        "A",
        "--custodian",
        "B",
        "--witness",
        "W",
        "--passphrase-file",
        "p",
    ]);
    assert!(
        err.contains("threshold of at least 2") || err.contains("larger than"),
        "{err}"
    );
    assert!(
        !dir.path().join("home/root-keystore").exists(),
        "a refused ceremony leaves nothing"
    );
}

#[test]
fn a_changed_byte_in_transcript_log_or_share_file_is_caught_and_named() {
    let ca = ceremony();
    // The transcript: change a public key hash in entry 7 (root.created).
    let path = transcript_of(&ca);
    let text = std::fs::read_to_string(&path).expect("transcript");
    let t: serde_json::Value = serde_json::from_str(&text).expect("json");
    let entry = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .position(|e| e["step"] == "root.created")
        .expect("root step");
    let h = t["entries"][entry]["data"]["public_key_sha256"]
        .as_str()
        .expect("hash")
        .to_string();
    let mut changed = h.clone();
    let c = if changed.ends_with('0') { '1' } else { '0' };
    changed.pop();
    changed.push(c);
    std::fs::write(&path, text.replace(&h, &changed)).expect("write");
    let err = ca.fails(&["ceremony", "verify", path.to_str().expect("utf8")]);
    assert!(err.contains(&format!("entry {entry}")), "{err}");

    // The log: change one byte of entry 4.
    let log = ca.home().join("log/entries.jsonl");
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = lines[4].replacen("\"ceremony\"", "\"ceremonx\"", 1);
    std::fs::write(&log, lines.join("\n") + "\n").expect("write");
    let err = ca.fails(&["log", "verify"]);
    assert!(err.contains("log entry 4"), "{err}");

    // A share file: flip one byte in its body.
    let share = ca.path(&share_file(2));
    let mut bytes = std::fs::read(&share).expect("share");
    let n = bytes.len() - 10;
    bytes[n] ^= 0x01;
    std::fs::write(&share, &bytes).expect("write");
    let err = ca.fails(&[
        "unseal",
        "--share",
        &share_file(2),
        "--passphrase-file",
        "pass2",
    ]);
    assert!(err.contains("damaged"), "{err}");
}

fn serial_of(text: &str) -> String {
    text.split("serial ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a serial")
        .to_string()
}

#[test]
fn rotation_revocation_and_crls_are_checked_by_openssl() {
    let ca = ceremony();
    copy_ca_certificates(&ca);
    let q = ca.quorum(&[1, 2, 3]);
    let (node_a, node_b, node_c) = a_node_is_issued_once(&ca, &q);
    let a2 = a_rotation_gives_a_new_key_and_supersedes_the_old(&ca, &q, &node_a);
    what_expires_soon_is_renewed_once(&ca, &q, &node_b, &node_c);
    let official = a_revocation_leaves_earlier_signatures_standing(&ca, &q, &a2, &node_c);
    crls_are_signed_verified_and_numbered(&ca, &q, &official);
    openssl_rejects_the_revoked_with_the_crls(&ca);
    the_log_key_rotates_and_a_proof_verifies(&ca, &q, &node_b);
}

/// Returns the serials of nodes a, b and c.
fn a_node_is_issued_once(ca: &Ca, q: &[String]) -> (String, String, String) {
    let node = |id: &str, days: &str, out: &str| {
        ca.ok(&args(
            &["issue"],
            q,
            &[
                "node",
                "--node-id",
                id,
                "--agency",
                "Dinas",
                "--accreditation",
                "terbatas",
                "--dns",
                &format!("{id}.sandi.contoh.go.id"),
                "--days",
                days,
                "--out",
                out,
            ],
        ))
    };
    let node_a = serial_of(&node("node-a", "90", "a.pem"));
    let node_b = serial_of(&node("node-b", "10", "b.pem"));
    let node_c = serial_of(&node("node-c", "20", "c.pem"));
    // Issuing again for the same node is a rotation, not a second first issuance.
    let err = ca.fails(&args(
        &["issue"],
        q,
        &[
            "node",
            "--node-id",
            "node-a",
            "--agency",
            "Dinas",
            "--accreditation",
            "terbatas",
            "--dns",
            "a.sandi.contoh.go.id",
            "--out",
            "a2.pem",
        ],
    ));
    assert!(err.contains("keymgr rotate"), "{err}");
    (node_a, node_b, node_c)
}

/// Returns the serial of a's version 2.
fn a_rotation_gives_a_new_key_and_supersedes_the_old(
    ca: &Ca,
    q: &[String],
    node_a: &str,
) -> String {
    let d = ca.dir.path();
    // Rotation: version 2 with a new key; version 1 stays valid (overlap) but superseded.
    let text = ca.ok(&args(&["rotate"], q, &[node_a, "--out", "a-v2.pem"]));
    assert!(text.contains("version 2"), "{text}");
    let a2 = serial_of(&text);
    let (ok, out) = verify_chain(d, "network.pem", Some("sslserver"), "a-v2.pem");
    assert!(ok, "{out}");
    let (_, k1) = openssl(d, &["x509", "-in", "a.pem", "-noout", "-pubkey"]);
    let (_, k2) = openssl(d, &["x509", "-in", "a-v2.pem", "-noout", "-pubkey"]);
    assert_ne!(k1, k2, "a rotation gives a new key");
    let show = ca.ok(&["show", node_a]);
    assert!(show.contains("\"state\": \"superseded\""), "{show}");
    assert!(
        ca.fails(&args(&["rotate"], q, &[node_a]))
            .contains("already rotated")
    );
    a2
}

fn what_expires_soon_is_renewed_once(ca: &Ca, q: &[String], node_b: &str, node_c: &str) {
    // Renewal of what expires within 30 days: b and c, once.
    let text = ca.ok(&args(&["renew"], q, &["--due-within", "30d"]));
    assert!(
        text.contains("2 certificate(s) renewed") && text.contains(node_b) && text.contains(node_c),
        "{text}"
    );
    let text = ca.ok(&args(&["renew"], q, &["--due-within", "30d"]));
    assert!(text.contains("0 certificate(s) renewed"), "{text}");
}

/// Returns the serial of the revoked official's certificate.
fn a_revocation_leaves_earlier_signatures_standing(
    ca: &Ca,
    q: &[String],
    a2: &str,
    node_c: &str,
) -> String {
    // An official signs a letter, then the certificate is revoked.
    let text = ca.ok(&args(
        &["issue"],
        q,
        &[
            "official",
            "--name",
            "Ahmad",
            "--nip",
            "198001012005011001",
            "--agency",
            "Dinas",
            "--out",
            "official.pem",
        ],
    ));
    let official = serial_of(&text);
    // Generated in the CA's keystore: P-384 unless asked otherwise, which signs every level
    // of the shipped handling table.
    let (ok, out) = openssl(
        ca.dir.path(),
        &["x509", "-in", "official.pem", "-noout", "-text"],
    );
    assert!(ok && out.contains("ASN1 OID: secp384r1"), "{out}");
    let signed_at = ca.ok(&["status", &official]);
    assert!(signed_at.starts_with("valid at "), "{signed_at}");
    let signing_time = signed_at.trim_start_matches("valid at ").trim().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let text = ca.ok(&args(
        &["revoke"],
        q,
        &[&official, "--reason", "keyCompromise"],
    ));
    assert!(text.contains("reason keyCompromise"), "{text}");
    // The signature made before the revocation stays verifiable as such.
    let text = ca.ok(&["status", &official, "--at", &signing_time]);
    assert!(
        text.contains("revoked later") && text.contains("signatures made then stand"),
        "{text}"
    );
    let out = ca.keymgr(&["status", &official]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked at"));
    ca.ok(&args(
        &["revoke"],
        q,
        &[a2, "--reason", "cessationOfOperation"],
    ));
    assert!(
        ca.fails(&args(&["revoke"], q, &["00ff", "--reason", "superseded"]))
            .contains("no certificate with serial 00ff")
    );
    assert!(
        ca.fails(&args(
            &["revoke"],
            q,
            &[node_c, "--reason", "becauseISaidSo"]
        ))
        .contains("unknown revocation reason")
    );
    official
}

fn crls_are_signed_verified_and_numbered(ca: &Ca, q: &[String], official: &str) {
    let d = ca.dir.path();
    // CRLs per issuing CA, verified and used by openssl.
    ca.ok(&args(&["crl"], q, &["network"]));
    let text = ca.ok(&args(&["crl"], q, &["signing", "--next-update", "3d"]));
    assert!(
        text.contains("CRL number 1") && text.contains("1 revoked"),
        "{text}"
    );
    let crl_dir = ca.home().join("crl");
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-in",
            crl_dir.join("signing-ca.crl.pem").to_str().expect("utf8"),
            "-CAfile",
            "signing.pem",
            "-noout",
            "-verify",
            "-text",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
    assert!(
        out.contains("Key Compromise")
            && out.contains("Next Update")
            && out.contains("X509v3 CRL Number"),
        "{out}"
    );
    assert!(
        out.to_lowercase().contains(&official[official.len() - 8..]),
        "{out}"
    );
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl_dir.join("network-ca.crl").to_str().expect("utf8"),
            "-CAfile",
            "network.pem",
            "-noout",
            "-verify",
        ],
    );
    assert!(ok, "{out}");
    // The CRL number grows.
    let text = ca.ok(&args(&["crl"], q, &["signing"]));
    assert!(text.contains("CRL number 2"), "{text}");
}

fn openssl_rejects_the_revoked_with_the_crls(ca: &Ca) {
    let d = ca.dir.path();
    let crl_dir = ca.home().join("crl");
    // openssl verify -crl_check: the revoked official is rejected, a good node accepted.
    let mut bundle = std::fs::read_to_string(ca.path("root.pem")).expect("root");
    bundle.push_str(&std::fs::read_to_string(ca.path("signing.pem")).expect("signing"));
    bundle.push_str(&std::fs::read_to_string(ca.path("network.pem")).expect("network"));
    std::fs::write(ca.path("bundle.pem"), bundle).expect("bundle");
    let crls = format!(
        "{}{}",
        std::fs::read_to_string(crl_dir.join("signing-ca.crl.pem")).expect("crl"),
        std::fs::read_to_string(crl_dir.join("network-ca.crl.pem")).expect("crl")
    );
    std::fs::write(ca.path("crls.pem"), crls).expect("crls");
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "bundle.pem",
            "-CRLfile",
            "crls.pem",
            "official.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "bundle.pem",
            "-CRLfile",
            "crls.pem",
            "a.pem",
        ],
    );
    assert!(
        ok,
        "the superseded but unrevoked version 1 stays valid in its overlap: {out}"
    );
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "bundle.pem",
            "-CRLfile",
            "crls.pem",
            "a-v2.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

fn the_log_key_rotates_and_a_proof_verifies(ca: &Ca, q: &[String], node_b: &str) {
    // The log key rotates; heads signed by the retired key keep verifying.
    let text = ca.ok(&args(&["log", "rotate-key"], q, &[]));
    assert!(text.contains("version 1 -> 2"), "{text}");
    ca.ok(&args(&["revoke"], q, &[node_b, "--reason", "superseded"]));
    let text = ca.ok(&["log", "verify"]);
    assert!(
        text.contains("log verified") && text.contains("log key v1, v2"),
        "{text}"
    );
    // An inclusion proof that a verifier can check on its own.
    let proof: serde_json::Value =
        serde_json::from_str(&ca.ok(&["log", "prove", "3"])).expect("json");
    let hash = |v: &serde_json::Value| -> [u8; 32] {
        hex::decode(v.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    let path: Vec<[u8; 32]> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect();
    let size = std::fs::read_to_string(ca.home().join("log/entries.jsonl"))
        .expect("log")
        .lines()
        .count();
    assert!(keymgr::merkle::verify_inclusion(
        &hash(&proof["leaf_hash"]),
        3,
        size,
        &path,
        &hash(&proof["root"])
    ));
    assert!(!keymgr::merkle::verify_inclusion(
        &hash(&proof["leaf_hash"]),
        4,
        size,
        &path,
        &hash(&proof["root"])
    ));
}

#[tokio::test]
async fn postgres_backend_runs_the_same_ceremony_and_issuance() {
    let Some((url, name)) = support::postgres().await else {
        return;
    };
    let ca = ceremony_on(Some(url.clone()));
    let q = ca.quorum(&[2, 3, 5]);
    let text = ca.ok(&args(
        &["issue"],
        &q,
        &[
            "node",
            "--node-id",
            "node-pg",
            "--agency",
            "Dinas",
            "--accreditation",
            "biasa",
            "--ip",
            "127.0.0.1",
            "--out",
            "pg.pem",
        ],
    ));
    let serial = serial_of(&text);
    ca.ok(&args(&["revoke"], &q, &[&serial, "--reason", "superseded"]));
    let text = ca.ok(&args(&["crl"], &q, &["network"]));
    assert!(text.contains("1 revoked"), "{text}");
    let list = ca.ok(&["list"]);
    assert!(
        list.contains("revoked") && list.contains("root-ca"),
        "{list}"
    );
    // The rows are in PostgreSQL, not in a SQLite file.
    assert!(!ca.home().join("inventory.db").exists());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM certificates")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(n, 4);
    drop(conn);
    support::drop_postgres(&name).await;
}

/// A full TLS 1.3 handshake with client authentication between two nodes, in memory, with
/// rustls and webpki doing every check: chain to the root, EKU, SAN, signatures.
/// (certificate PEM, PKCS#8 key PEM, intermediate PEM)
type Tls<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn mutual_tls(root: &[u8], server: Tls<'_>, client: Tls<'_>, name: &str) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(root).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let roots = Arc::new(roots);
    let identity = |(cert, key, chain): Tls<'_>| -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let leaf = CertificateDer::from_pem_slice(cert).map_err(|e| e.to_string())?;
        let intermediate = CertificateDer::from_pem_slice(chain).map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| e.to_string())?;
        Ok((vec![leaf, intermediate], key))
    };
    let (server_chain, server_key) = identity(server)?;
    let (client_chain, client_key) = identity(client)?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::clone(&roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_chain, server_key)
        .map_err(|e| e.to_string())?;
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(client_chain, client_key)
        .map_err(|e| e.to_string())?;
    let mut server =
        rustls::ServerConnection::new(Arc::new(server_config)).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut client =
        rustls::ClientConnection::new(Arc::new(client_config), name).map_err(|e| e.to_string())?;
    for _ in 0..10 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).map_err(|e| e.to_string())?;
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).map_err(|e| e.to_string())?;
        }
        server
            .process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).map_err(|e| e.to_string())?;
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).map_err(|e| e.to_string())?;
        }
        client
            .process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return if server.peer_certificates().is_some_and(|c| !c.is_empty()) {
                Ok(())
            } else {
                Err("the server saw no client certificate".into())
            };
        }
    }
    Err("the handshake did not finish".into())
}

/// Node certificates for hub and dinkes from CSRs, their keys converted to PKCS#8 for rustls.
fn nodes_hub_and_dinkes_from_csrs(ca: &Ca, q: &[String]) {
    let d = ca.dir.path();
    for node in ["hub", "dinkes"] {
        let (ok, out) = new_csr(d, &format!("{node}.key"), &format!("{node}.csr"));
        assert!(ok, "{out}");
        ca.ok(&args(
            &["issue"],
            q,
            &[
                "node",
                "--node-id",
                node,
                "--agency",
                "Diskominfostandi",
                "--accreditation",
                "sangat-rahasia",
                "--dns",
                &format!("{node}.sandi.contoh.go.id"),
                "--csr",
                &format!("{node}.csr"),
                "--out",
                &format!("{node}.pem"),
            ],
        ));
    }
    let (ok, out) = openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "dinkes.key",
            "-out",
            "dinkes.p8",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "hub.key", "-out", "hub.p8",
        ],
    );
    assert!(ok, "{out}");
}

#[test]
fn rustls_accepts_node_certificates_for_mutual_tls() {
    let ca = ceremony();
    let d = ca.dir.path();
    let q = ca.quorum(&[1, 4, 5]);
    nodes_hub_and_dinkes_from_csrs(&ca, &q);
    let read = |p: &str| std::fs::read(ca.path(p)).expect("read");
    let root = std::fs::read(ca.home().join("ca/root.pem")).expect("root");
    let network = std::fs::read(ca.home().join("ca/network-ca.pem")).expect("network");
    let signing = std::fs::read(ca.home().join("ca/signing-ca.pem")).expect("signing");
    let (hub, hub_key) = (read("hub.pem"), read("hub.p8"));
    let (dinkes, dinkes_key) = (read("dinkes.pem"), read("dinkes.p8"));
    let server: Tls<'_> = (&hub, &hub_key, &network);
    mutual_tls(
        &root,
        server,
        (&dinkes, &dinkes_key, &network),
        "hub.sandi.contoh.go.id",
    )
    .expect("rustls accepts both nodes");
    // The wrong name, and an official's certificate as a TLS client, are refused.
    let err = mutual_tls(
        &root,
        server,
        (&dinkes, &dinkes_key, &network),
        "other.sandi.contoh.go.id",
    )
    .expect_err("wrong name");
    assert!(
        err.starts_with("client:") && err.contains("not valid for name"),
        "{err}"
    );
    let (ok, out) = new_csr(d, "off.key", "off.csr");
    assert!(ok, "{out}");
    ca.ok(&args(
        &["issue"],
        &q,
        &[
            "official",
            "--name",
            "Ani",
            "--nip",
            "199001012015012001",
            "--agency",
            "Dinas",
            "--csr",
            "off.csr",
            "--out",
            "off.pem",
        ],
    ));
    let (ok, out) = openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "off.key", "-out", "off.p8",
        ],
    );
    assert!(ok, "{out}");
    let (off, off_key) = (read("off.pem"), read("off.p8"));
    let err = mutual_tls(
        &root,
        server,
        (&off, &off_key, &signing),
        "hub.sandi.contoh.go.id",
    )
    .expect_err("an official's certificate is no TLS client");
    assert!(
        err.starts_with("server:") && err.contains("client authentication"),
        "{err}"
    );
}

#[test]
fn root_ceremonies_need_the_quorum_and_reshare_retires_old_shares() {
    let ca = ceremony();
    let q = ca.quorum(&[1, 2, 3]);
    a_node_from_the_first_network_ca(&ca, &q);
    root_key_use_needs_the_quorum_and_one_role_each(&ca, &q);
    a_rotated_network_ca_leaves_what_the_old_one_signed_valid(&ca, &q);
    a_revoked_signing_ca_issues_nothing_until_replaced(&ca, &q);
    reshare_deals_to_the_new_custodians(&ca);
    only_the_new_shares_unseal(&ca);
}

/// The administrator and witness of the root ceremonies below.
const PEOPLE: [&str; 4] = ["--admin", "Kepala Bidang", "--witness", "Inspektorat"];

fn a_node_from_the_first_network_ca(ca: &Ca, q: &[String]) {
    ca.ok(&args(
        &["issue"],
        q,
        &[
            "node",
            "--node-id",
            "old",
            "--agency",
            "D",
            "--accreditation",
            "biasa",
            "--ip",
            "127.0.0.1",
            "--out",
            "old.pem",
        ],
    ));
    std::fs::copy(
        ca.home().join("ca/network-ca.pem"),
        ca.path("network-v1.pem"),
    )
    .expect("copy");
}

fn root_key_use_needs_the_quorum_and_one_role_each(ca: &Ca, q: &[String]) {
    let transcripts = || {
        std::fs::read_dir(ca.home().join("transcripts"))
            .expect("dir")
            .count()
    };
    // Root-key use with fewer than the threshold: refused, nothing written.
    let two = ca.quorum(&[1, 2]);
    let err = ca.fails(&args(
        &["ceremony", "rotate-intermediate"],
        &two,
        &[&PEOPLE[..], &["--ca", "network"]].concat(),
    ));
    assert!(err.contains("quorum not met: 2 of 3"), "{err}");
    assert_eq!(transcripts(), 1);
    // A custodian cannot witness their own ceremony.
    let err = ca.fails(&args(
        &["ceremony", "rotate-intermediate"],
        q,
        &["--admin", "A", "--witness", "Budi", "--ca", "network"],
    ));
    assert!(err.contains("two roles"), "{err}");
}

fn a_rotated_network_ca_leaves_what_the_old_one_signed_valid(ca: &Ca, q: &[String]) {
    let d = ca.dir.path();
    // Rotate the Network CA with the quorum.
    let text = ca.ok(&args(
        &["ceremony", "rotate-intermediate"],
        q,
        &[&PEOPLE[..], &["--ca", "network"]].concat(),
    ));
    let path = text
        .split("transcript ")
        .nth(1)
        .expect("path")
        .trim()
        .to_string();
    let text = ca.ok(&["ceremony", "verify", &path]);
    assert!(
        text.contains("intermediate.rotated") && text.contains("transcript verified"),
        "{text}"
    );
    std::fs::copy(ca.home().join("ca/root.pem"), ca.path("root.pem")).expect("root");
    std::fs::copy(
        ca.home().join("ca/network-ca.pem"),
        ca.path("network-v2.pem"),
    )
    .expect("net");
    assert_ne!(
        std::fs::read(ca.path("network-v1.pem")).expect("v1"),
        std::fs::read(ca.path("network-v2.pem")).expect("v2")
    );
    ca.ok(&args(
        &["issue"],
        q,
        &[
            "node",
            "--node-id",
            "new",
            "--agency",
            "D",
            "--accreditation",
            "biasa",
            "--ip",
            "127.0.0.1",
            "--out",
            "new.pem",
        ],
    ));
    let (ok, out) = verify_chain(d, "network-v2.pem", None, "new.pem");
    assert!(ok, "{out}");
    let (ok, out) = verify_chain(d, "network-v1.pem", None, "old.pem");
    assert!(ok, "what the old intermediate signed stays valid: {out}");
}

fn a_revoked_signing_ca_issues_nothing_until_replaced(ca: &Ca, q: &[String]) {
    let d = ca.dir.path();
    // Revoke the Signing CA: the root signs a CRL; the Signing CA issues nothing more.
    let text = ca.ok(&args(
        &["ceremony", "revoke-intermediate"],
        q,
        &[
            &PEOPLE[..],
            &["--ca", "signing", "--reason", "cACompromise"],
        ]
        .concat(),
    ));
    assert!(text.contains("revoked"), "{text}");
    std::fs::copy(ca.home().join("ca/signing-ca.pem"), ca.path("signing.pem")).expect("sig");
    let root_crl = ca.home().join("crl/root.crl.pem");
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-in",
            root_crl.to_str().expect("utf8"),
            "-CAfile",
            "root.pem",
            "-noout",
            "-verify",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-CRLfile",
            root_crl.to_str().expect("utf8"),
            "signing.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let official = [
        "official",
        "--name",
        "X",
        "--nip",
        "197501012000032001",
        "--agency",
        "D",
        "--out",
        "x.pem",
    ];
    let err = ca.fails(&args(&["issue"], q, &official));
    assert!(err.contains("Signing CA certificate is revoked"), "{err}");
    // A new Signing CA is issued in another root ceremony, and issues again.
    ca.ok(&args(
        &["ceremony", "issue-intermediate"],
        q,
        &[&PEOPLE[..], &["--ca", "signing"]].concat(),
    ));
    ca.ok(&args(&["issue"], q, &official));
    std::fs::copy(
        ca.home().join("ca/signing-ca.pem"),
        ca.path("signing-v2.pem"),
    )
    .expect("sig");
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-CRLfile",
            root_crl.to_str().expect("utf8"),
            "signing-v2.pem",
        ],
    );
    assert!(ok, "the new Signing CA is not on the root's CRL: {out}");
    let (ok, out) = verify_chain(d, "signing-v2.pem", Some("smimesign"), "x.pem");
    assert!(ok, "{out}");
}

fn reshare_deals_to_the_new_custodians(ca: &Ca) {
    // Reshare: Andi, Dewi and Rina leave, Eko and Fajar join; 2 of 4 from now on.
    for (i, n) in ["eko", "fajar"].iter().enumerate() {
        std::fs::write(ca.path(&format!("new-{n}")), format!("sandi baru {i}\n")).expect("write");
    }
    std::fs::write(ca.path("new-budi"), "budi baru\n").expect("write");
    std::fs::write(ca.path("new-siti"), "siti baru\n").expect("write");
    let mut reshare = vec![
        "ceremony",
        "reshare",
        "--admin",
        "Kepala Bidang",
        "--witness",
        "Inspektorat",
        "--threshold",
        "2",
        "--shares-out",
        "shares2",
    ];
    for (name, file) in [
        ("Budi", "new-budi"),
        ("Siti", "new-siti"),
        ("Eko", "new-eko"),
    ] {
        reshare.extend(["--custodian", name, "--new-passphrase-file", file]);
    }
    // Fajar keeps his share under his own age key, made with age-keygen.
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(ca.path("fajar.agekey"))
        .output()
        .expect("age-keygen");
    assert!(out.status.success());
    let key = std::fs::read_to_string(ca.path("fajar.agekey")).expect("key");
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("recipient");
    let fajar = format!("Fajar={recipient}");
    reshare.extend(["--custodian", &fajar]);
    let q_old = ca.quorum(&[3, 4, 5]);
    let text = ca.ok(&args(&reshare, &q_old, &[]));
    assert!(text.contains("shares replaced"), "{text}");
    let path = text
        .split("transcript ")
        .nth(1)
        .expect("path")
        .trim()
        .to_string();
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("transcript")).expect("json");
    let params = &t["entries"][0]["data"]["parameters"];
    assert_eq!(params["left"], serde_json::json!(["Andi", "Dewi", "Rina"]));
    assert_eq!(params["joined"], serde_json::json!(["Eko", "Fajar"]));
    ca.ok(&["ceremony", "verify", &path]);
}

fn only_the_new_shares_unseal(ca: &Ca) {
    // An old share no longer unseals anything; two new ones do.
    let err = ca.fails(&args(&["unseal"], &ca.quorum(&[1]), &[]));
    assert!(err.contains("belongs to ceremony"), "{err}");
    let text = ca.ok(&[
        "unseal",
        "--share",
        "shares2/custodian-3-eko.age",
        "--passphrase-file",
        "new-eko",
        "--share",
        "shares2/custodian-1-budi.age",
        "--passphrase-file",
        "new-budi",
    ]);
    assert!(
        text.contains("1 more needed (of 2)") && text.contains("unsealed"),
        "{text}"
    );
    let text = ca.ok(&[
        "unseal",
        "--share",
        "shares2/custodian-2-siti.age",
        "--passphrase-file",
        "new-siti",
        "--share",
        "shares2/custodian-4-fajar.age",
        "--identity",
        "fajar.agekey",
    ]);
    assert!(text.contains("share of Fajar accepted: unsealed"), "{text}");
    let err = ca.fails(&[
        "unseal",
        "--share",
        "shares2/custodian-4-fajar.age",
        "--share",
        "shares2/custodian-4-fajar.age",
        "--identity",
        "fajar.agekey",
    ]);
    assert!(err.contains("already given"), "{err}");
    let text = ca.ok(&["log", "verify"]);
    assert!(text.contains("log verified"), "{text}");
}

/// Custodians at one terminal, one after the other: `keymgr unseal` with no --share asks for
/// each share file and passphrase (run under `script` for a real pseudo-terminal).
#[test]
fn interactive_unseal_takes_custodians_one_at_a_time() {
    use std::io::Write;
    let ca = ceremony();
    let typed = format!(
        "{}\nkata sandi kustodian 1\n{}\nsalah\n{}\nkata sandi kustodian 2\n{}\nkata sandi kustodian 4\n",
        share_file(1),
        share_file(2),
        share_file(2),
        share_file(4)
    );
    let command = format!(
        "{} --home {} unseal",
        env!("CARGO_BIN_EXE_keymgr"),
        ca.home().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(ca.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs the command in a pseudo-terminal");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(typed.as_bytes())
        .expect("type");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let progress: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("share of") || l.contains("refused"))
        .collect();
    assert_eq!(progress.len(), 4, "{text}");
    assert!(
        progress[0].contains("share of Budi accepted: 2 more needed (of 3)"),
        "{text}"
    );
    assert!(
        progress[1].contains("refused") && progress[1].contains("wrong passphrase"),
        "{text}"
    );
    assert!(
        progress[2].contains("share of Siti accepted: 1 more needed (of 3)"),
        "{text}"
    );
    assert!(
        progress[3].contains("share of Dewi accepted: unsealed"),
        "{text}"
    );
}

/// The network directory: signed by the Network CA with the quorum, verified, versions only go
/// up, and a changed accreditation or a bad entry is refused.
fn the_network_directory_is_signed_verified_and_only_moves_forward(ca: &Ca) {
    let input = |version: u64, accreditation: &str| {
        serde_json::json!({
            "version": version,
            "nodes": [
                {
                    "id": "hub",
                    "agencies": ["diskominfo"],
                    "base_url": "https://hub.sandi.contoh.go.id:8443",
                    "spki_sha256": "ab".repeat(32),
                    "accreditation": "sangat_rahasia",
                    "status": "active"
                },
                {
                    "id": "dinkes",
                    "agencies": ["dinkes"],
                    "base_url": "https://dinkes.sandi.contoh.go.id:8443",
                    "spki_sha256": "cd".repeat(32),
                    "accreditation": accreditation,
                    "status": "active"
                }
            ]
        })
        .to_string()
    };
    std::fs::write(ca.path("nodes.json"), input(1, "rahasia")).expect("write");
    let q = ca.quorum(&[2, 4, 5]);
    let text = ca.ok(&args(
        &["directory", "sign"],
        &q,
        &["--in", "nodes.json", "--out", "directory.json"],
    ));
    assert!(text.contains("version 1 (2 nodes)"), "{text}");
    let text = ca.ok(&["directory", "verify", "directory.json"]);
    assert!(
        text.contains("version 1") && text.contains("dinkes"),
        "{text}"
    );

    // A raised accreditation in the signed file is caught.
    let forged = std::fs::read_to_string(ca.path("directory.json"))
        .expect("directory")
        .replacen("\"rahasia\"", "\"sangat_rahasia\"", 1);
    std::fs::write(ca.path("forged.json"), forged).expect("write");
    assert!(
        ca.fails(&["directory", "verify", "forged.json"])
            .contains("does not verify")
    );
    // The same version again, and a bad level, are refused.
    let again = ca.fails(&args(
        &["directory", "sign"],
        &q,
        &["--in", "nodes.json", "--out", "directory-2.json"],
    ));
    assert!(
        again.contains("not above the last signed version 1"),
        "{again}"
    );
    std::fs::write(ca.path("nodes.json"), input(2, "rahsia")).expect("write");
    let bad = ca.fails(&args(
        &["directory", "sign"],
        &q,
        &["--in", "nodes.json", "--out", "directory-2.json"],
    ));
    assert!(bad.contains("accreditation \"rahsia\""), "{bad}");
    std::fs::write(ca.path("nodes.json"), input(2, "terbatas")).expect("write");
    ca.ok(&args(
        &["directory", "sign"],
        &q,
        &["--in", "nodes.json", "--out", "directory-2.json"],
    ));
    // Without the quorum nothing is signed.
    std::fs::write(ca.path("nodes.json"), input(3, "terbatas")).expect("write");
    let few = ca.quorum(&[1]);
    ca.fails(&args(
        &["directory", "sign"],
        &few,
        &["--in", "nodes.json", "--out", "directory-3.json"],
    ));
    built_and_published(ca);
}

/// `directory add` takes the key's SHA-256 from a certificate this Network CA issued for
/// that node (and no other), `publish` writes the signed file into nodes' data directories and never replaces
/// a newer one.
fn built_and_published(ca: &Ca) {
    let add_as = |id: &str, cert: &str, url: &str| {
        vec![
            "directory",
            "add",
            "--in",
            "built.json",
            "--id",
            id,
            "--cert",
            cert,
            "--url",
            url,
            "--agency",
            "dinkes",
            "--agency",
            "puskesmas",
            "--accreditation",
            "rahasia",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let add = |cert: &str, url: &str| add_as("node-dinkes", cert, url);
    let a = add("node.pem", "https://dinkes.sandi.contoh.go.id:8443");
    let text = ca.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    // Version 2 was the last signed: the new input starts above it.
    assert!(text.contains("(version 3, 1 nodes)"), "{text}");
    let a = add("node.pem", "https://dinkes.sandi.contoh.go.id:9443");
    ca.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let built: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ca.path("built.json")).expect("built"))
            .expect("json");
    let der = {
        let pem = std::fs::read_to_string(ca.path("node.pem")).expect("node.pem");
        keymgr::ca::pem_to_der(&pem).expect("pem")
    };
    let node = &built["nodes"][0];
    assert_eq!(built["nodes"].as_array().map(Vec::len), Some(1), "{built}");
    assert_eq!(node["base_url"], "https://dinkes.sandi.contoh.go.id:9443");
    // The pin is the certificate's key (SubjectPublicKeyInfo), not the certificate.
    let spki = keymgr::ca::spki_of_cert(&der).expect("spki");
    assert_eq!(node["spki_sha256"], keymgr::transcript::sha256_hex(&spki));
    assert_ne!(node["spki_sha256"], keymgr::transcript::sha256_hex(&der));
    assert_eq!(node["agencies"], serde_json::json!(["dinkes", "puskesmas"]));
    // A certificate from another CA (here the Signing CA's own) is not a node of this network.
    let a = add("signing.pem", "https://x.sandi.contoh.go.id");
    let err = ca.fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("not issued by this Network CA"), "{err}");
    // A certificate of node-dinkes is not listed for another node.
    let a = add_as("node-other", "node.pem", "https://x.sandi.contoh.go.id");
    let err = ca.fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("names node node-dinkes"), "{err}");

    let q = ca.quorum(&[1, 3, 5]);
    ca.ok(&args(
        &["directory", "sign"],
        &q,
        &["--in", "built.json", "--out", "directory-3.json"],
    ));
    let (n1, n2) = (ca.path("node-a"), ca.path("node-b"));
    let text = ca.ok(&[
        "directory",
        "publish",
        "directory-3.json",
        "--to",
        "node-a",
        "--to",
        "node-b",
    ]);
    assert_eq!(text.matches("version 3 written").count(), 2, "{text}");
    for n in [&n1, &n2] {
        let held = std::fs::read(n.join("network/directory.json")).expect("published");
        assert_eq!(
            held,
            std::fs::read(ca.path("directory-3.json")).expect("signed")
        );
    }
    // An older directory is not published over a newer one; the node keeps version 3.
    let err = ca.fails(&["directory", "publish", "directory-2.json", "--to", "node-a"]);
    assert!(err.contains("holds version 3, newer than 2"), "{err}");
    let held: serde_json::Value =
        serde_json::from_slice(&std::fs::read(n1.join("network/directory.json")).expect("held"))
            .expect("json");
    assert_eq!(held["version"], 3);
    // A forged file is not published at all.
    let err = ca.fails(&["directory", "publish", "forged.json", "--to", "node-b"]);
    assert!(err.contains("does not verify"), "{err}");
}
