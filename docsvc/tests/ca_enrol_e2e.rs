//! A node made by `docsvc init` enrols with the real online CA (`keymgr serve --api-listen`,
//! the `keymgr` binary of this workspace, unsealed by its custodians): the CA certificates
//! fetched from the publication URL and checked against the pinned root, the node certificate
//! issued for its one-time token and installed (checked by `openssl verify`); the token twice,
//! or a wrong pin, refused. The node then renews its certificate over mutual TLS, and an
//! official's signing certificate and key binding come from the CA and are installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sandi_e2e::ca::{Ca, age_identity};
use sandi_e2e::node::{Killed, fails, ok, require, wait_port};

mod common;

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn keymgr_bin() -> PathBuf {
    sandi_e2e::ca::keymgr_beside(env!("CARGO_BIN_EXE_docsvc"))
}

fn init(
    work: &Path,
    name: &str,
    ca: &Ca,
    (pin, log_key): (&str, Option<&str>),
    token: &str,
) -> (PathBuf, Output) {
    let data = work.join(name);
    let mut c = docsvc();
    c.arg("init")
        .arg("--data-dir")
        .arg(&data)
        .arg("--shares-out")
        .arg(work.join(format!("{name}-removable")))
        .args([
            "--node-id",
            name,
            "--organisation",
            "Pemerintah Kota Contoh",
        ])
        .args(["--agencies", "dinkes", "--administrator", "Rina Admin"])
        .args(["--witness", "Wawan Saksi", "--threshold", "2"])
        .args(["--ca-url", &ca.api_url()])
        .args(["--ca-root-sha256", pin])
        .args(["--ca-publication-url", &ca.publication_url()])
        .args(["--ca-token", token]);
    if let Some(key) = log_key {
        c.args(["--issuance-log-key", key]);
    }
    for who in ["Ani", "Budi"] {
        let (_, r) = age_identity(work, &format!("{name}-{who}"));
        c.arg("--custodian").arg(format!("{who}={r}"));
    }
    (data, c.output().expect("docsvc init"))
}

fn openssl_verify(data: &Path) {
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(data.join("ca/root.pem"))
        .arg("-untrusted")
        .arg(data.join("ca/network-ca.pem"))
        .arg(data.join("tls/node-chain.pem"))
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": OK"),
        "openssl verify: {out:?}"
    );
}

fn serial(data: &Path) -> String {
    let pem = std::fs::read_to_string(data.join("tls/node-chain.pem")).expect("chain");
    let der = docsvc::node::pem_certs(&pem).expect("certs").remove(0);
    let (_, c) = x509_parser::parse_x509_certificate(&der).expect("cert");
    c.raw_serial_as_string()
}

/// The SHA-256 of the node certificate's key (SubjectPublicKeyInfo), as the directory pins it.
fn spki_pin(data: &Path) -> String {
    let pem = std::fs::read_to_string(data.join("tls/node-chain.pem")).expect("chain");
    let der = keymgr::ca::pem_to_der(&pem).expect("PEM");
    keymgr::directory::spki_sha256(&der).expect("spki")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_enrols_renews_and_certifies_officials_with_the_online_ca() {
    require("age-keygen");
    require("openssl");
    let ca = Ca::ceremony(&keymgr_bin(), &[]);
    let _running = ca.serve(&[]);
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let pin = ca.root_sha256();

    // Enrolled at init with its one-time token.
    let token = ca.invite("kota-a", &["dinkes"], "rahasia");
    let log_key = ca.issuance_log_key();
    let (data, out) = init(w, "kota-a", &ca, (&pin, Some(&log_key)), &token);
    let said = ok(&out);
    assert!(said.contains("node certificate enrolled"), "{said}");
    openssl_verify(&data);
    let config = std::fs::read_to_string(data.join("node.toml")).expect("node.toml");
    assert!(config.contains("[ca]") && config.contains(&pin), "{config}");
    assert!(
        config.contains(&format!("issuance_log_key = \"{log_key}\""))
            && config.contains(&format!("issuance_log = \"{}\"", ca.publication_url())),
        "{config}"
    );

    // Without keymgr's issuance log key, a node enrolled with the CA is not made at all.
    let token_c = ca.invite("kota-c", &["dinkes"], "rahasia");
    let (data_c, out) = init(w, "kota-c", &ca, (&pin, None), &token_c);
    let why = fails(&out);
    assert!(why.contains("--issuance-log-key"), "{why}");
    assert!(!data_c.join("node.toml").exists());

    // The directory pins the node by its key, which renewals keep (below).
    let pin = spki_pin(&data);

    // The token a second time: the CA refuses, the installed certificate stays.
    let before = serial(&data);
    let why = fails(
        &docsvc()
            .args(["certificate", "enrol", "--data-dir"])
            .arg(&data)
            .args(["--token", &token])
            .output()
            .expect("enrol"),
    );
    assert!(why.contains("the online CA refused (4"), "{why}");
    assert_eq!(serial(&data), before);

    // A wrong pin: the root the publication serves is not the one pinned; nothing installed.
    let token_b = ca.invite("kota-b", &["dinkes"], "rahasia");
    let wrong = "00".repeat(32);
    let (data_b, out) = init(w, "kota-b", &ca, (&wrong, Some(&log_key)), &token_b);
    let why = fails(&out);
    assert!(why.contains("not the pinned"), "{why}");
    assert!(!data_b.join("tls/node-chain.pem").exists());

    // Renewal over mutual TLS with the node's certificate: a new certificate, same key.
    let said = ok(&docsvc()
        .args(["certificate", "renew", "--data-dir"])
        .arg(&data)
        .output()
        .expect("renew"));
    assert!(said.contains("renewed"), "{said}");
    assert_ne!(serial(&data), before);
    openssl_verify(&data);

    renews_by_itself(&data);
    refuses_to_serve_without_the_issuance_log(&data);
    // Renewed twice, a new certificate each time, and still the key the directory pins: its
    // peers accept it without a new directory.
    assert_eq!(spki_pin(&data), pin, "a renewal changed the node's key");
    directory_from_the_ca(&ca, &data);
    official_from_the_ca(w, &data).await;
}

/// Two operators approve a directory version at the CA; the serving node fetches it by itself
/// (no file copied by hand) and installs it where its peers are looked up.
fn directory_from_the_ca(ca: &Ca, data: &Path) {
    let path = data.join("node.toml");
    let config = std::fs::read_to_string(&path).expect("node.toml");
    std::fs::write(
        &path,
        config.replace("[ca]\n", "[ca]\ndirectory_refresh_secs = 1\n"),
    )
    .expect("node.toml");
    let chain = std::fs::read_to_string(data.join("tls/node-chain.pem")).expect("chain");
    let der = keymgr::ca::pem_to_der(&chain).expect("PEM");
    let input = serde_json::json!({ "version": 1, "nodes": [{ "id": "kota-a",
        "agencies": ["dinkes"], "base_url": "https://127.0.0.1:9443",
        "spki_sha256": keymgr::directory::spki_sha256(&der).expect("spki"),
        "accreditation": "rahasia", "status": "active" }] });
    let signed = ca.approve_directory(&input);

    let port = sandi_e2e::free_port();
    let _node = Killed(
        docsvc()
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    );
    wait_port(port, "docsvc serve");
    let file = data.join("network/directory.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the serving node did not fetch the directory the operators approved"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let held: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("directory")).expect("JSON");
    assert_eq!(held, signed, "the node holds exactly what the CA signed");
    let listed = ok(&docsvc()
        .args(["network", "show", "--data-dir"])
        .arg(data)
        .output()
        .expect("network show"));
    assert!(listed.contains("kota-a"), "{listed}");
    std::fs::write(&path, config).expect("node.toml");
}

/// A serving node whose certificate is due (renew_before_days longer than its validity)
/// renews it by itself, sealed or not, and the new one is on disk.
fn renews_by_itself(data: &Path) {
    let before = serial(data);
    let path = data.join("node.toml");
    let config = std::fs::read_to_string(&path).expect("node.toml");
    std::fs::write(
        &path,
        config.replace("renew_before_days = 30", "renew_before_days = 365"),
    )
    .expect("node.toml");
    let port = sandi_e2e::free_port();
    let _node = Killed(
        docsvc()
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    );
    wait_port(port, "docsvc serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while serial(data) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the serving node did not renew its certificate"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    openssl_verify(data);
    std::fs::write(&path, config).expect("node.toml");
}

/// A production node whose `node.toml` lost `[witness]`'s issuance log lines (an insider
/// turning the check off) refuses to start, saying what is missing.
fn refuses_to_serve_without_the_issuance_log(data: &Path) {
    let path = data.join("node.toml");
    let config = std::fs::read_to_string(&path).expect("node.toml");
    let stripped = config
        .lines()
        .filter(|l| !l.starts_with("issuance_log"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(stripped, config);
    std::fs::write(&path, &stripped).expect("node.toml");
    let mut node = Killed(
        docsvc()
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docsvc serve"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = node.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a production node served without keymgr's issuance log"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut node.0.stderr.take().expect("stderr"), &mut said)
        .expect("stderr");
    assert!(!status.success() && said.contains("issuance_log"), "{said}");
    std::fs::write(&path, config).expect("node.toml");
}

/// The node opened and unsealed by its two custodians (their shares and identities as
/// `init` above made them).
async fn unsealed(w: &Path, data: &Path) -> docsvc::node::Node {
    let node = docsvc::node::Node::open(docsvc::node::Layout::new(data))
        .await
        .expect("open");
    let mut files: Vec<PathBuf> = std::fs::read_dir(w.join("kota-a-removable"))
        .expect("removable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".age"))
        .collect();
    files.sort();
    for (share, who) in files.iter().zip(["Ani", "Budi"]) {
        let id = w.join(format!("kota-a-{who}.key"));
        node.keystore
            .submit_share(docsvc::node::ceremony::read_share(share, &id).expect("share"))
            .expect("submit");
    }
    assert!(!node.is_sealed());
    node.after_unseal().expect("after unseal");
    node
}

/// An official of an agency the node serves gets a signing certificate and key binding from
/// the CA, installed after the node's checks; one of another agency is refused by the CA and
/// nothing is installed.
async fn official_from_the_ca(w: &Path, data: &Path) {
    use docsvc::officials::directory;
    let node = unsealed(w, data).await;
    let nip = "197501012000031001";
    common::add_official(&node, nip, "dinkes").await;
    docsvc::officials::certify::from_ca(&node, nip)
        .await
        .expect("certificate and binding from the CA");
    let o = directory::get(&node.store, nip)
        .await
        .expect("get")
        .expect("official");
    let cert = o.certificate.expect("a certificate installed");
    let (_, c) = x509_parser::parse_x509_certificate(&cert).expect("cert");
    let named = c
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
        .next()
        .and_then(|a| a.as_str().ok().map(str::to_owned));
    assert_eq!(named.as_deref(), Some(nip));
    let binding = directory::key_binding(&node.store, nip)
        .await
        .expect("binding")
        .expect("a binding installed");
    assert!(binding.contains(nip));

    let other = "199005052015031005";
    common::add_official(&node, other, "bappeda").await;
    let e = docsvc::officials::certify::from_ca(&node, other)
        .await
        .expect_err("bappeda is not served by this node");
    assert!(
        matches!(
            e,
            docsvc::Error::CaRefused {
                status: 400..=499,
                ..
            }
        ),
        "{e}"
    );
    let o = directory::get(&node.store, other)
        .await
        .expect("get")
        .expect("official");
    assert!(o.certificate.is_none());
}
