//! A production node made by `docsvc init` (the real binary), on SQLite and on PostgreSQL:
//! sealed, with no development file in it; each share opens only with its custodian's age
//! identity (the `age` CLI decrypts one); `serve --dev-unseal` refused; served and unsealed by
//! two custodians with `docsvc unseal`; custodians turned over by `docsvc reshare`, after which
//! only the new shares unseal. Then bad input, each refused with nothing half-written. And a
//! node made with `--pkcs11-config` (SoftHSM2, a fresh token): its officials' signing keys on
//! the token, never extractable; a wrong PIN source refused with nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keymgr::ca::{Home, NodeRequest};
use keymgr::ceremony::{CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::{KeySource, Request};
use keymgr::shares::{Protection, Unlock};
use sandi_e2e::node::{Killed, fails, ok, require, wait_port};
use sandi_e2e::softhsm::{self, Token};

mod common;

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run docsvc")
}

/// A custodian's age identity made by the standard tool: (identity file, recipient).
fn age_identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.key"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen");
    assert!(out.status.success(), "age-keygen");
    let recipient = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .last()
        .expect("age-keygen prints the recipient")
        .to_owned();
    (path, recipient)
}

struct Person {
    name: &'static str,
    identity: PathBuf,
    recipient: String,
}

fn people(dir: &Path, names: &[&'static str]) -> Vec<Person> {
    names
        .iter()
        .map(|n| {
            let (identity, recipient) = age_identity(dir, n);
            Person {
                name: n,
                identity,
                recipient,
            }
        })
        .collect()
}

/// `docsvc init` with these custodians; the command, for a test to add to or change.
fn init_cmd(data: &Path, out: &Path, custodians: &[Person], threshold: u8) -> Command {
    let mut c = docsvc();
    c.arg("init")
        .arg("--data-dir")
        .arg(data)
        .arg("--shares-out")
        .arg(out)
        .args(["--node-id", "kota-a", "--organisation", "Pemerintah Kota A"])
        .args([
            "--agencies",
            "dinkes,bappeda",
            "--administrator",
            "Rina Admin",
        ])
        .args([
            "--witness",
            "Wawan Saksi",
            "--threshold",
            &threshold.to_string(),
        ]);
    for p in custodians {
        c.arg("--custodian")
            .arg(format!("{}={}", p.name, p.recipient));
    }
    c
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The share files `docsvc init` / `reshare` printed, in custodian order.
fn printed_shares(stdout: &str) -> Vec<PathBuf> {
    stdout
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(_, p)| PathBuf::from(p))
        .filter(|p| p.to_string_lossy().ends_with(".age"))
        .collect()
}

/// A network CA for the test (keymgr's init ceremony run as a library, its custodians'
/// identities in `dir`), opened by its quorum.
async fn network_ca(dir: &Path) -> (Home, Inventory, QuorumSession) {
    let home = Home::new(dir.join("keymgr"));
    std::fs::create_dir_all(home.dir()).expect("home");
    let inv = Inventory::open(&Inventory::default_url(home.dir()))
        .await
        .expect("inventory");
    let mut keys = Vec::new();
    let mut custodians = Vec::new();
    for i in 0..2 {
        let id = age::x25519::Identity::generate();
        let path = dir.join(format!("ca-custodian-{i}.key"));
        std::fs::write(
            &path,
            format!(
                "{}\n",
                age::secrecy::ExposeSecret::expose_secret(&id.to_string())
            ),
        )
        .expect("identity");
        custodians.push(CustodianSpec {
            name: format!("CA Custodian {i}"),
            protection: Protection::Recipient(id.to_public()),
        });
        keys.push(path);
    }
    let plan = InitPlan {
        organisation: "Pemerintah Kota (test)".into(),
        network_domain: None,
        oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
        publication_url: None,
        administrator: "CA Admin".into(),
        custodians,
        witnesses: vec!["CA Witness".into()],
        threshold: 2,
        shares_out: dir.join("ca-shares"),
    };
    let outcome = keymgr::ceremony::init(&home, &inv, &plan, &mut |_| {})
        .await
        .expect("CA ceremony");
    let mut quorum = QuorumSession::open(&home).expect("quorum");
    for (share, key) in outcome.share_files.iter().zip(&keys) {
        quorum
            .add(share, &Unlock::Identity(key.clone()))
            .expect("CA share");
    }
    (home, inv, quorum)
}

/// The Network CA issues the node's certificate for its request (`tls/node.csr`), and
/// `docsvc certificate install` installs it with the CA certificates.
async fn certify(ca: &(Home, Inventory, QuorumSession), data: &Path, work: &Path) {
    ok(&install(ca, data, data, "kota-a", work).await);
}

/// The Network CA issues a certificate for `node_id` and `request_of`'s request, and `docsvc
/// certificate install` tries to install it in `data`.
async fn install(
    ca: &(Home, Inventory, QuorumSession),
    request_of: &Path,
    data: &Path,
    node_id: &str,
    work: &Path,
) -> Output {
    let (home, inv, quorum) = ca;
    let csr_pem = std::fs::read_to_string(request_of.join("tls/node.csr")).expect("node.csr");
    let csr = keymgr::ca::pem_to_der(&csr_pem).expect("CSR PEM");
    let issued = keymgr::issue::issue(
        home,
        quorum.online().expect("online"),
        inv,
        Request::Node(NodeRequest {
            node_id: node_id.into(),
            agency: "dinkes".into(),
            accreditation: "rahasia".into(),
            dns: vec!["localhost".into()],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
            days: 365,
        }),
        KeySource::Csr(csr),
    )
    .await
    .expect("node certificate");
    let pem = |ca| keymgr::ca::der_to_pem(&home.cert_der(ca).expect("CA cert"));
    let files = [
        ("node.pem", keymgr::ca::der_to_pem(&issued.record.der)),
        ("root.pem", pem(keymgr::ca::Ca::Root)),
        ("network-ca.pem", pem(keymgr::ca::Ca::Network)),
        ("signing-ca.pem", pem(keymgr::ca::Ca::Signing)),
    ];
    for (name, text) in &files {
        std::fs::write(work.join(name), text).expect("write");
    }
    run(docsvc()
        .args(["certificate", "install", "--data-dir"])
        .arg(data)
        .arg("--certificate")
        .arg(work.join("node.pem"))
        .arg("--root")
        .arg(work.join("root.pem"))
        .arg("--network-ca")
        .arg(work.join("network-ca.pem"))
        .arg("--signing-ca")
        .arg(work.join("signing-ca.pem")))
}

fn serve(data: &Path, port: u16) -> Killed {
    let child = docsvc()
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");
    wait_port(port, "docsvc serve");
    Killed(child)
}

fn unseal(port: u16, root: &Path, share: &Path, identity: &Path) -> Output {
    run(docsvc()
        .args(["unseal", "--url", &format!("https://127.0.0.1:{port}")])
        .arg("--ca")
        .arg(root)
        .arg("--share")
        .arg(share)
        .arg("--identity")
        .arg(identity))
}

/// The whole ceremony on one backend.
async fn production_node(database_url: Option<&str>) {
    require("age");
    require("age-keygen");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let data = w.join("node");
    let out = w.join("removable");
    let custodians = people(w, &["Ani", "Budi", "Citra"]);

    // The ceremony.
    let mut cmd = init_cmd(&data, &out, &custodians, 2);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let printed = ok(&run(&mut cmd));
    let shares = printed_shares(&printed);
    assert_eq!(shares.len(), 3, "one share per custodian: {printed}");

    no_development_file(&data, &out, &shares);
    shares_and_transcript(&data, &custodians, &shares);
    serve_unseal_reshare(w, &data, &custodians, &shares).await;
}

/// A production node: sealed, no development file anywhere in it.
fn no_development_file(data: &Path, out: &Path, shares: &[PathBuf]) {
    let config = std::fs::read_to_string(data.join("node.toml")).expect("node.toml");
    assert!(config.contains("production = true"), "{config}");
    let keystore: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("keystore/keystore.json")).expect("ks"))
            .expect("keystore.json");
    assert_eq!(keystore["mode"], "production");
    assert_eq!(keystore["quorum"]["threshold"], 2);
    for f in files_under(data) {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let age_file = f.extension().is_some_and(|e| e.eq_ignore_ascii_case("age"));
        assert!(
            !name.contains("dev-unseal") && !age_file && !name.contains("share"),
            "a development file in a production node: {}",
            f.display()
        );
    }
    assert!(!data.join("shares").exists());
    for s in shares {
        assert!(s.starts_with(out), "{} outside the output dir", s.display());
    }
}

fn shares_and_transcript(data: &Path, custodians: &[Person], shares: &[PathBuf]) {
    // Each share opens with its custodian's identity (the age CLI), and not with another's.
    let clear = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&custodians[0].identity)
        .arg(&shares[0])
        .output()
        .expect("age -d");
    assert!(clear.status.success(), "age -d: {clear:?}");
    assert!(String::from_utf8_lossy(&clear.stdout).starts_with("sandi-share-v1."));
    let wrong = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&custodians[1].identity)
        .arg(&shares[0])
        .output()
        .expect("age -d");
    assert!(
        !wrong.status.success(),
        "Budi's identity opened Ani's share"
    );

    // The transcript verifies against the node's audit key, and names every custodian.
    let transcript_file = transcript_file(data);
    let spki = std::fs::read(data.join("audit-key.der")).expect("audit key");
    let bytes = std::fs::read(&transcript_file).expect("transcript");
    let t = keymgr::transcript::Transcript::verify_with_key(&bytes, &spki).expect("verifies");
    assert_eq!(t.ceremony, "node-init");
    let sealed: Vec<_> = t
        .entries
        .iter()
        .filter(|e| e.step == "share.sealed")
        .map(|e| e.actor.clone())
        .collect();
    assert_eq!(
        sealed,
        [
            "key custodian: Ani",
            "key custodian: Budi",
            "key custodian: Citra"
        ]
    );
    let mut forged = bytes;
    let at = String::from_utf8_lossy(&forged)
        .find("Citra")
        .expect("name");
    forged[at] = b'K';
    assert!(keymgr::transcript::Transcript::verify_with_key(&forged, &spki).is_err());
}

/// The init ceremony's transcript in the data directory.
fn transcript_file(data: &Path) -> PathBuf {
    std::fs::read_dir(data.join("ceremonies"))
        .expect("ceremonies")
        .flatten()
        .next()
        .expect("a transcript")
        .path()
}

/// A certificate from keymgr; `--dev-unseal` refused; served and unsealed by two custodians;
/// reshared to four new custodians, three of whom unseal it and the old ones cannot.
async fn serve_unseal_reshare(w: &Path, data: &Path, custodians: &[Person], shares: &[PathBuf]) {
    // No certificate yet: the node cannot serve. keymgr issues one for its request.
    let ca = network_ca(w).await;
    certify(&ca, data, w).await;
    let root = data.join("ca/root.pem");

    // The development shortcut is refused, before anything listens.
    let port = sandi_e2e::free_port();
    let refused = run(docsvc()
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")]));
    let why = fails(&refused);
    assert!(why.contains("production node"), "{why}");
    // ... and by the offline commands' dev unseal.
    let why = fails(&run(docsvc()
        .args(["rewrap", "--dev-unseal", "--data-dir"])
        .arg(data)));
    assert!(why.contains("production node"), "{why}");

    // Served sealed; two custodians unseal it.
    let server = serve(data, port);
    let first = ok(&unseal(port, &root, &shares[0], &custodians[0].identity));
    assert!(first.contains("still sealed"), "{first}");
    let second = ok(&unseal(port, &root, &shares[2], &custodians[2].identity));
    assert!(second.contains("unsealed"), "{second}");
    drop(server);

    // Custodian turnover: Ani and Budi hand over to four new custodians, three of whom unseal.
    let newcomers = people(w, &["Dedi", "Eka", "Fajar", "Gita"]);
    let out2 = w.join("removable-2");
    let mut reshare = docsvc();
    reshare
        .args(["reshare", "--data-dir"])
        .arg(data)
        .arg("--shares-out")
        .arg(&out2)
        .args(["--administrator", "Rina Admin", "--witness", "Wawan Saksi"])
        .args(["--threshold", "3"]);
    for (s, p) in shares.iter().zip(custodians).take(2) {
        reshare
            .arg("--share")
            .arg(s)
            .arg("--identity")
            .arg(&p.identity);
    }
    for p in &newcomers {
        reshare
            .arg("--custodian")
            .arg(format!("{}={}", p.name, p.recipient));
    }
    let printed = ok(&run(&mut reshare));
    let new_shares = printed_shares(&printed);
    assert_eq!(new_shares.len(), 4, "{printed}");

    let port = sandi_e2e::free_port();
    let server = serve(data, port);
    // An old share opens nothing any more.
    let old = fails(&unseal(port, &root, &shares[0], &custodians[0].identity));
    assert!(old.contains("refused"), "{old}");
    for (i, (s, p)) in new_shares.iter().zip(&newcomers).take(3).enumerate() {
        let said = ok(&unseal(port, &root, s, &p.identity));
        assert_eq!(said.contains("unsealed"), i == 2, "{said}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn init_makes_a_sealed_production_node_on_sqlite() {
    production_node(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn init_makes_a_sealed_production_node_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    production_node(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// Nothing of a refused ceremony stays: no data directory, no share file.
fn nothing_written(data: &Path, out: &Path) {
    assert!(!data.exists(), "{} was left behind", data.display());
    assert!(
        !out.exists() || files_under(out).is_empty(),
        "share files were left in {}",
        out.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ceremonies_are_refused_with_nothing_half_written() {
    require("age-keygen");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let data = w.join("node");
    let out = w.join("removable");
    let custodians = people(w, &["Ani", "Budi", "Citra"]);

    // The shares' output directory inside the data directory.
    let why = fails(&run(&mut init_cmd(
        &data,
        &data.join("shares"),
        &custodians,
        2,
    )));
    assert!(why.contains("inside the data directory"), "{why}");
    nothing_written(&data, &out);
    // ... or through a path that only looks outside.
    let sneaky = w.join("removable/../node/x");
    let why = fails(&run(&mut init_cmd(&data, &sneaky, &custodians, 2)));
    assert!(why.contains("inside the data directory"), "{why}");
    nothing_written(&data, &out);

    // A threshold above the number of custodians; a threshold of one.
    let why = fails(&run(&mut init_cmd(&data, &out, &custodians, 4)));
    assert!(
        why.contains("larger than the number of custodians"),
        "{why}"
    );
    nothing_written(&data, &out);
    let why = fails(&run(&mut init_cmd(&data, &out, &custodians, 1)));
    assert!(why.contains("at least 2"), "{why}");
    nothing_written(&data, &out);

    // A malformed recipient; a custodian named twice.
    let mut bad = init_cmd(&data, &out, &custodians, 2);
    bad.args(["--custodian", "Dedi=age1notarecipient"]);
    let why = fails(&run(&mut bad));
    assert!(why.contains("not an age X25519 recipient"), "{why}");
    nothing_written(&data, &out);
    let mut twice = init_cmd(&data, &out, &custodians, 2);
    twice
        .arg("--custodian")
        .arg(format!("ani={}", age_identity(w, "ani2").1));
    let why = fails(&run(&mut twice));
    assert!(why.contains("named twice"), "{why}");
    nothing_written(&data, &out);

    // A database that cannot be reached fails after the first files were written: they go.
    let mut unreachable = init_cmd(&data, &out, &custodians, 2);
    unreachable.args(["--database-url", "postgres://nobody@127.0.0.1:1/none"]);
    fails(&run(&mut unreachable));
    nothing_written(&data, &out);

    // A data directory that holds something already.
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("notes.txt"), "x").expect("write");
    let why = fails(&run(&mut init_cmd(&data, &out, &custodians, 2)));
    assert!(why.contains("not empty"), "{why}");
    std::fs::remove_dir_all(&data).expect("rm");

    ok(&run(&mut init_cmd(&data, &out, &custodians, 2)));
    another_nodes_share_is_refused(w, &data, &custodians).await;
}

/// Two nodes: a share of the other node's ceremony is refused by reshare and by unseal, and
/// changes nothing; the other node's certificate is not installed.
async fn another_nodes_share_is_refused(w: &Path, data: &Path, custodians: &[Person]) {
    let other_data = w.join("other");
    let other_out = w.join("other-removable");
    let printed = ok(&run(&mut init_cmd(&other_data, &other_out, custodians, 2)));
    let foreign = printed_shares(&printed);
    let keystore_before = std::fs::read(data.join("keystore/keystore.json")).expect("ks");
    let newcomer = people(w, &["Dedi", "Eka"]);
    let mut reshare = docsvc();
    reshare
        .args(["reshare", "--data-dir"])
        .arg(data)
        .arg("--shares-out")
        .arg(w.join("removable-2"))
        .args(["--administrator", "Rina Admin", "--witness", "Wawan Saksi"])
        .args(["--threshold", "2"]);
    for (s, p) in foreign.iter().zip(custodians).take(2) {
        reshare
            .arg("--share")
            .arg(s)
            .arg("--identity")
            .arg(&p.identity);
    }
    for p in &newcomer {
        reshare
            .arg("--custodian")
            .arg(format!("{}={}", p.name, p.recipient));
    }
    let why = fails(&run(&mut reshare));
    assert!(why.contains("belongs to keystore"), "{why}");
    assert_eq!(
        std::fs::read(data.join("keystore/keystore.json")).expect("ks"),
        keystore_before,
        "a refused reshare changed the keystore"
    );
    assert!(!w.join("removable-2").exists());

    // A certificate for the other node's key, or naming another node, is not installed.
    let ca = network_ca(w).await;
    let why = fails(&install(&ca, &other_data, data, "kota-a", w).await);
    assert!(why.contains("another key"), "{why}");
    let why = fails(&install(&ca, data, data, "kota-b", w).await);
    assert!(why.contains("does not name node kota-a"), "{why}");
    assert!(!data.join("tls/node-chain.pem").exists());

    // Served (certified by a CA of its own: the one above has issued for kota-a already), the
    // node refuses the other node's share over HTTPS too.
    let ca = network_ca(&w.join("ca-2")).await;
    certify(&ca, data, w).await;
    let port = sandi_e2e::free_port();
    let server = serve(data, port);
    let why = fails(&unseal(
        port,
        &data.join("ca/root.pem"),
        &foreign[0],
        &custodians[0].identity,
    ));
    assert!(why.contains("refused the share (400)"), "{why}");
    drop(server);
}

/// `docsvc init` with its signing keys on `token`: a PIN the token refuses and a PIN variable
/// that is not set are refused with nothing written; then the node is made, its audit key on
/// the token (and so recorded in the transcript), opened in this process, unsealed by two
/// custodians; an official's signing key is made on the token, sensitive and never
/// extractable, and a signature by it verifies.
#[tokio::test(flavor = "multi_thread")]
async fn init_keeps_the_signing_keys_on_a_pkcs11_token() {
    require("age-keygen");
    let Some(token) = Token::new() else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let (data, out) = (w.join("node"), w.join("removable"));
    let custodians = people(w, &["Ani", "Budi", "Citra"]);
    let with_token = |config: &Path| {
        let mut c = init_cmd(&data, &out, &custodians, 2);
        c.env("SOFTHSM2_CONF", token.conf())
            .arg("--pkcs11-config")
            .arg(config);
        c
    };

    token.write_pin("000000");
    let why = fails(&run(&mut with_token(&token.config())));
    assert!(why.contains("the token refused the PIN"), "{why}");
    nothing_written(&data, &out);
    token.write_pin(softhsm::PIN);
    let by_env = w.join("pkcs11-env.toml");
    std::fs::write(
        &by_env,
        format!(
            "module = \"{}\"\ntoken_label = \"{}\"\npin_env = \"SANDI_TEST_NO_PIN\"\n",
            softhsm::MODULE,
            softhsm::TOKEN
        ),
    )
    .expect("config");
    let why = fails(&run(with_token(&by_env).env_remove("SANDI_TEST_NO_PIN")));
    assert!(why.contains("SANDI_TEST_NO_PIN is not set"), "{why}");
    nothing_written(&data, &out);

    let printed = ok(&run(&mut with_token(&token.config())));
    assert!(
        printed.contains(&format!("signing keys on PKCS#11 token {}", softhsm::TOKEN)),
        "{printed}"
    );
    let shares = printed_shares(&printed);
    let config = std::fs::read_to_string(data.join("node.toml")).expect("node.toml");
    assert!(config.contains("[keystore.pkcs11]"), "{config}");
    assert!(!config.contains(softhsm::PIN), "the PIN in node.toml");
    token_in_the_transcript(&data);
    // The audit key is on the token; the archive keys (X25519) are not.
    let audit = token.private_key("node-audit");
    assert!(
        audit.contains("never extractable") && audit.contains("sensitive"),
        "{audit}"
    );
    assert!(!token.objects("privkey").contains("archive-"));

    // The library sees the token as the node does (SOFTHSM2_CONF of this process).
    // SAFETY: set before this process loads the PKCS#11 module; no other thread reads the
    // environment now (nextest runs each test in its own process).
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", token.conf());
    }
    let ca = network_ca(w).await;
    certify(&ca, &data, w).await;
    let node = docsvc::node::Node::open(docsvc::node::Layout::new(&data))
        .await
        .expect("open the node");
    assert!(node.is_sealed());
    for i in [0, 2] {
        let share =
            docsvc::node::ceremony::read_share(&shares[i], &custodians[i].identity).expect("share");
        node.keystore.submit_share(share).expect("submit");
    }
    assert!(!node.is_sealed());
    node.after_unseal().expect("after unseal");
    official_signs_on_the_token(&node, &token).await;
}

/// The transcript verifies with the node's audit key (on the token) and says where the
/// signing keys are.
fn token_in_the_transcript(data: &Path) {
    let file = transcript_file(data);
    let spki = std::fs::read(data.join("audit-key.der")).expect("audit key");
    let t =
        keymgr::transcript::Transcript::verify_with_key(&std::fs::read(&file).expect("t"), &spki)
            .expect("the transcript verifies");
    let created = t
        .entries
        .iter()
        .find(|e| e.step == "keystore.created")
        .expect("keystore.created");
    assert_eq!(
        created.data["signing_keys"],
        format!("PKCS#11 token {}", softhsm::TOKEN)
    );
    assert_eq!(created.data["pkcs11_token"], softhsm::TOKEN);
}

/// A new official's signing key is on the token (sensitive, never extractable), their
/// encryption key is not; a signature by it verifies, and not over another message.
async fn official_signs_on_the_token(node: &docsvc::node::Node, token: &Token) {
    let nip = "197501012000031001";
    let o = common::add_official(node, nip, "dinkes").await;
    let key = node
        .keystore
        .info(o.signing_key.expect("a signing key"))
        .expect("key info");
    assert_eq!(key.label, format!("official-{nip}-sign"));
    let on_token = token.private_key(&key.label);
    assert!(
        on_token.contains("never extractable") && on_token.contains("sensitive"),
        "{on_token}"
    );
    assert!(
        !token
            .objects("privkey")
            .contains(&format!("official-{nip}-enc"))
    );

    let handle = key.handle();
    let spki = node.keystore.public_key(&handle).expect("public key");
    let message = b"surat dinas ditandatangani di token";
    let sig = node
        .keystore
        .sign(&handle, message)
        .expect("sign on the token");
    hsm_shim::verify_signature(&spki, sig.algorithm, message, &sig.bytes)
        .expect("the token's signature verifies");
    assert!(
        hsm_shim::verify_signature(&spki, sig.algorithm, b"surat lain", &sig.bytes).is_err(),
        "a signature verified over another message"
    );
}
