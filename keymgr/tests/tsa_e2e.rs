//! The time-stamping authority in process: its certificate issued once and kept, tokens that
//! `openssl ts -verify` accepts for SHA-256/384/512 imprints with the nonce echoed, and every
//! bad request answered with a rejection that `openssl ts -reply` reads, never a crash.

use std::path::Path;
use std::process::Command;

use keymgr::ca::{Ca, Home};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::shares::{Protection, Unlock};
use keymgr::tsa::{self, Responder, token};

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

/// A CA with three custodians (age identities in `dir`), opened by two of them.
async fn ca(dir: &Path) -> (Home, Inventory, QuorumSession) {
    let home = Home::new(dir.join("ca"));
    std::fs::create_dir_all(home.dir()).expect("home");
    let inv = Inventory::open(&Inventory::default_url(home.dir()))
        .await
        .expect("inventory");
    let ids: Vec<age::x25519::Identity> =
        (0..3).map(|_| age::x25519::Identity::generate()).collect();
    let mut id_files = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        use age::secrecy::ExposeSecret as _;
        let f = dir.join(format!("custodian-{i}.key"));
        std::fs::write(&f, id.to_string().expose_secret()).expect("identity");
        id_files.push(f);
    }
    let plan = InitPlan {
        organisation: "Pemerintah Kota Uji".into(),
        network_domain: None,
        administrator: "Admin".into(),
        custodians: ["Satu", "Dua", "Tiga"]
            .iter()
            .zip(&ids)
            .map(|(n, id)| CustodianSpec {
                name: (*n).into(),
                protection: Protection::Recipient(id.to_public()),
            })
            .collect(),
        witnesses: vec!["Saksi".into()],
        threshold: 2,
        shares_out: dir.join("shares"),
        oid_arc: "1.3.6.1.4.1.99999".into(),
        publication_url: Some("http://pki.example".into()),
    };
    let out = ceremony::init(&home, &inv, &plan, &mut |_| {})
        .await
        .expect("ceremony");
    let mut quorum = QuorumSession::open(&home).expect("quorum");
    for (share, id) in out.share_files.iter().zip(&id_files).take(2) {
        quorum
            .add(share, &Unlock::Identity(id.clone()))
            .expect("share");
    }
    (home, inv, quorum)
}

/// A TSA on a fresh CA, with `chain.pem` (root and Signing CA), `tsa.pem` and a letter in `d`.
struct Fixture {
    dir: tempfile::TempDir,
    home: Home,
    inv: Inventory,
    quorum: QuorumSession,
}

impl Fixture {
    fn d(&self) -> &Path {
        self.dir.path()
    }
}

#[tokio::test]
async fn the_tsa_answers_what_openssl_asks_and_refuses_what_it_should() {
    sandi_e2e::node::require("openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let (home, inv, quorum) = ca(dir.path()).await;
    let f = Fixture {
        dir,
        home,
        inv,
        quorum,
    };
    let record = the_certificate_is_issued_once_with_the_tsa_profile(&f).await;
    let arc = f.home.load_state().expect("state").oid_arc;
    let policy = tsa::policy_oid(&arc).expect("policy");
    assert_eq!(
        policy.to_string(),
        "1.3.6.1.4.1.99999.3.1",
        "under the ceremony's arc"
    );
    let responder = Responder::new(&record, policy).expect("responder");
    openssl_verifies_tokens_for_each_hash(&f, &responder, &record.der);
    bad_requests_get_a_rejection_openssl_reads(&f, &responder);
    a_changed_token_is_refused(&f, &responder);
}

async fn the_certificate_is_issued_once_with_the_tsa_profile(
    f: &Fixture,
) -> keymgr::inventory::CertRecord {
    let (d, home) = (f.d(), &f.home);
    let online = f.quorum.online().expect("unsealed");
    let record = tsa::ensure(home, online, &f.inv).await.expect("ensure");
    let again = tsa::ensure(home, online, &f.inv)
        .await
        .expect("ensure again");
    assert_eq!(
        record.serial, again.serial,
        "a current TSA certificate is kept"
    );
    assert_eq!(record.issuer, Ca::Signing);
    token::check_tsa_certificate(&record.der).expect("TSA profile");
    std::fs::copy(tsa::certificate_path(home), d.join("tsa.pem")).expect("tsa.pem");
    let text = openssl(d, &["x509", "-in", "tsa.pem", "-noout", "-text"]).1;
    assert!(
        text.contains("X509v3 Extended Key Usage: critical")
            && text.contains("Time Stamping")
            && text.contains("Digital Signature"),
        "{text}"
    );
    let chain = format!(
        "{}{}",
        keymgr::ca::der_to_pem(&home.cert_der(Ca::Root).expect("root")),
        keymgr::ca::der_to_pem(&home.cert_der(Ca::Signing).expect("signing"))
    );
    std::fs::write(d.join("chain.pem"), chain).expect("chain");
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "chain.pem",
            "-purpose",
            "timestampsign",
            "tsa.pem",
        ],
    );
    assert!(ok, "openssl verify -purpose timestampsign: {out}");
    std::fs::write(d.join("letter.txt"), b"Surat yang dicap waktu").expect("data");
    record
}

fn openssl_verifies_tokens_for_each_hash(f: &Fixture, responder: &Responder, tsa_der: &[u8]) {
    let d = f.d();
    let online = f.quorum.online().expect("unsealed");
    let mut serials = Vec::new();
    for hash in ["-sha256", "-sha384", "-sha512"] {
        let (ok, out) = openssl(
            d,
            &[
                "ts",
                "-query",
                "-data",
                "letter.txt",
                hash,
                "-cert",
                "-out",
                "q.tsq",
            ],
        );
        assert!(ok, "{out}");
        let q = std::fs::read(d.join("q.tsq")).expect("query");
        let resp = responder.respond(online, &q);
        std::fs::write(d.join("r.tsr"), &resp).expect("response");
        for args in [
            &["-data", "letter.txt"][..],
            &["-queryfile", "q.tsq"][..], // imprint, nonce and policy against the query
        ] {
            let mut v = vec!["ts", "-verify", "-in", "r.tsr"];
            v.extend(args);
            v.extend(["-CAfile", "chain.pem", "-untrusted", "tsa.pem"]);
            let (ok, out) = openssl(d, &v);
            assert!(
                ok && out.contains("Verification: OK"),
                "{hash} {args:?}: {out}"
            );
        }
        let text = openssl(d, &["ts", "-reply", "-in", "r.tsr", "-text"]).1;
        assert!(text.contains("Status: Granted"), "{text}");
        assert!(
            text.contains(&format!("Policy OID: {}", responder.policy())),
            "{text}"
        );
        assert!(text.contains("Accuracy: 0x01 seconds"), "{text}");
        let token = token::inspect(&token::read_response(&resp).expect("granted")).expect("token");
        assert!(token.covers(b"Surat yang dicap waktu"));
        assert!(!token.covers(b"Surat yang lain"));
        assert_eq!(token.tsa_certificate, tsa_der);
        serials.push(token.serial);
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 3, "each token has its own serial");
}

/// Refusals: a rejection with the reason and the failure bit, readable by openssl.
fn bad_requests_get_a_rejection_openssl_reads(f: &Fixture, responder: &Responder) {
    let d = f.d();
    let online = f.quorum.online().expect("unsealed");
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-query",
            "-data",
            "letter.txt",
            "-sha256",
            "-tspolicy",
            "1.2.3.4",
            "-out",
            "p.tsq",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-query",
            "-data",
            "letter.txt",
            "-sha1",
            "-out",
            "s.tsq",
        ],
    );
    assert!(ok, "{out}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"not DER at all".to_vec(), "wrong format"),
        ("empty", Vec::new(), "wrong format"),
        ("oversized", vec![0x30; 64 * 1024], "not permitted"),
        (
            "unknown policy",
            std::fs::read(d.join("p.tsq")).expect("p"),
            "policy is not supported",
        ),
        (
            "SHA-1",
            std::fs::read(d.join("s.tsq")).expect("s"),
            "unsupported algorithm",
        ),
    ];
    for (what, body, failure) in cases {
        let resp = responder.respond(online, &body);
        std::fs::write(d.join("bad.tsr"), &resp).expect("write");
        let text = openssl(d, &["ts", "-reply", "-in", "bad.tsr", "-text"]).1;
        assert!(text.contains("Status: Rejected"), "{what}: {text}");
        assert!(text.contains(failure), "{what}: {text}");
        let err = token::read_response(&resp).expect_err(what);
        assert!(
            err.to_string().contains("refused by the TSA"),
            "{what}: {err}"
        );
    }
}

/// A token changed anywhere is refused by inspection: every byte is signed, hashed into the
/// ESS attribute (the certificate) or checked as the TSA makes it.
fn a_changed_token_is_refused(f: &Fixture, responder: &Responder) {
    let d = f.d();
    let online = f.quorum.online().expect("unsealed");
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-query",
            "-data",
            "letter.txt",
            "-sha256",
            "-cert",
            "-out",
            "q.tsq",
        ],
    );
    assert!(ok, "{out}");
    let good = token::read_response(
        &responder.respond(online, &std::fs::read(d.join("q.tsq")).expect("q")),
    )
    .expect("token");
    token::inspect(&good).expect("the unchanged token");
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        assert!(
            token::inspect(&bad).is_err(),
            "byte {i} of {} changed and the token still inspected",
            good.len()
        );
    }
}
