//! A node whose signing keys live on a PKCS#11 token (SoftHSM2, a fresh token per test in its
//! own SOFTHSM2_CONF): the real binary set up by `quickstart --pkcs11-config`, served, an
//! official's letter signed by the token and verified by `openssl cms -verify`, the key shown
//! on the token as sensitive and never extractable by OpenSC's `pkcs11-tool` — on SQLite and
//! PostgreSQL. And every way the PIN source can be wrong, refused before anything starts or is
//! written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use sandi_e2e::http::Client;
use sandi_e2e::node::{Killed, credentials, fails, ok, require, wait_port};
use sandi_e2e::softhsm::{PIN, Token, hex};
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia
const SITI: &str = "198002022005012002"; // dinkes, rahasia
/// A fresh token of the test's own, and the outside tools the test uses.
fn token() -> Option<Token> {
    let t = Token::new()?;
    require("openssl");
    require("curl");
    Some(t)
}

/// The real binary, seeing only `token`.
fn docsvc(token: &Token) -> Command {
    token.cmd(env!("CARGO_BIN_EXE_docsvc"))
}

/// `quickstart --no-serve` of a node whose signing keys are on `token`.
fn quickstart(token: &Token, data: &Path, listen: &str, database_url: Option<&str>) -> String {
    let mut c = docsvc(token);
    c.args(["quickstart", "--no-serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .arg("--pkcs11-config")
        .arg(token.config());
    if let Some(url) = database_url {
        c.args(["--database-url", url]);
    }
    let out = c.output().expect("docsvc quickstart");
    assert!(
        out.status.success(),
        "quickstart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serve(token: &Token, data: &Path) -> Command {
    let mut c = docsvc(token);
    c.args(["serve", "--dev-unseal", "--data-dir"]).arg(data);
    c
}

fn login(base: &str, ca: &Path, jar: PathBuf, nip: &str, creds: &(String, String)) -> Client {
    let mut c = Client::new(base, ca, jar);
    let r = c.post_json(
        "/api/v1/session",
        &json!({ "nip": nip, "password": creds.0 }),
    );
    assert_eq!(r.status, 200, "login {nip}: {}", r.text());
    c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    let r = c.post_json("/api/v1/session/step-up", &json!({ "pin": creds.1 }));
    assert_eq!(r.status, 200, "step-up {nip}: {}", r.text());
    c
}

fn openssl(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut c = Command::new("openssl");
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().expect("openssl")
}

/// A letter by Budi, signed by his key on the token, verified by openssl; the key on the token,
/// sensitive and never extractable, and the software-only keys not on it.
fn letters_signed_on_the_token(database_url: Option<&str>) {
    let Some(token) = token() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    let printed = quickstart(&token, data.path(), &listen, database_url);
    let creds = credentials(&printed);

    let config = std::fs::read_to_string(data.path().join("node.toml")).expect("node.toml");
    assert!(config.contains("[keystore.pkcs11]"), "{config}");
    assert!(config.contains("pin_file"), "{config}");
    assert!(!config.contains(PIN), "the PIN was written into node.toml");

    let _server = Killed(
        serve(&token, data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    );
    wait_port(port, "docsvc");
    let base = format!("https://{listen}");
    let ca = data.path().join("ca/root.pem");
    let budi = login(&base, &ca, data.path().join("budi.jar"), BUDI, &creds[BUDI]);
    let body = data.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nditandatangani di token\n").expect("write");
    let r = budi.post_letter(
        &json!({
            "nomor": "005/HSM/XI/2026", "perihal": "Tanda tangan dari token",
            "classification": "rahasia", "urgency": "biasa", "recipients": [SITI],
        }),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();

    // The letter's CMS signature verifies with openssl against the sandi root.
    let siti = login(&base, &ca, data.path().join("siti.jar"), SITI, &creds[SITI]);
    let manifest = data.path().join("manifest.json");
    let signature = data.path().join("signature.der");
    let signer = data.path().join("signer.pem");
    std::fs::write(
        &manifest,
        siti.get(&format!("/api/v1/documents/{id}/manifest")).body,
    )
    .expect("manifest");
    let r = siti.get(&format!("/api/v1/documents/{id}/signature"));
    assert_eq!(r.status, 200, "{}", r.text());
    std::fs::write(&signature, &r.body).expect("signature");
    let mut verify = Command::new("openssl");
    verify
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .args(["-out", "/dev/null", "-in"])
        .arg(&signature)
        .arg("-content")
        .arg(&manifest)
        .arg("-CAfile")
        .arg(&ca)
        .arg("-signer")
        .arg(&signer);
    let out = verify.output().expect("openssl cms -verify");
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    keys_on_the_token(&token, &signer, data.path());

    // The audit log's heads were signed on the token and verify.
    ok(&docsvc(&token)
        .args(["audit", "verify", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("docsvc audit verify"));
}

/// The signer of the letter (`signer`, its certificate) is Budi's key on the token, sensitive
/// and never extractable; the audit and application keys are there too; the X25519 and AES
/// keys are not.
fn keys_on_the_token(token: &Token, signer: &Path, files: &Path) {
    // The signer's public key is the one on the token, under Budi's signing key's label.
    let label = format!("official-{BUDI}-sign");
    let point = token.ec_point(&label);
    let out = openssl(&["x509", "-noout", "-pubkey", "-in"], &[signer]);
    assert!(out.status.success());
    let pem = files.join("signer-pub.pem");
    std::fs::write(&pem, &out.stdout).expect("write");
    let out = openssl(&["pkey", "-pubin", "-outform", "DER", "-in"], &[&pem]);
    assert!(out.status.success());
    // The SPKI ends with the uncompressed point the token holds (inside its OCTET STRING).
    assert!(point.len() > 4 && point.starts_with("04"), "{point}");
    assert!(
        hex(&out.stdout).ends_with(&point[4..]),
        "the letter was signed by another key than the token's: {point}"
    );

    // On the token: sensitive, never extractable. The audit key too. Not there: the X25519
    // archive and encryption keys and the AES wrapping key (software keystore, sealed).
    let privkeys = token.objects("privkey");
    let at = privkeys.find(&label).expect("Budi's key on the token");
    let block = &privkeys[at..];
    let block = &block[..block.find("Private Key Object").unwrap_or(block.len())];
    assert!(block.contains("never extractable"), "{block}");
    assert!(block.contains("sensitive"), "{block}");
    assert!(privkeys.contains("node-audit"), "{privkeys}");
    assert!(
        privkeys.contains("e-office"),
        "the application's key: {privkeys}"
    );
    assert!(!privkeys.contains("archive-"), "{privkeys}");
    assert!(
        !privkeys.contains(&format!("official-{BUDI}-enc")),
        "{privkeys}"
    );
    assert!(!token.objects("secrkey").contains("Secret Key Object"));
}

#[test]
fn letters_signed_on_the_token_sqlite() {
    letters_signed_on_the_token(None);
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_signed_on_the_token_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let u = url.clone();
    tokio::task::spawn_blocking(move || letters_signed_on_the_token(Some(&u)))
        .await
        .expect("flow");
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                todo.push(e.path());
            } else {
                out.insert(e.path(), (m.len(), m.modified().expect("mtime")));
            }
        }
    }
    out
}

/// A missing PIN file, a PIN file others can read, a wrong PIN, an unset variable, a PIN in
/// node.toml: each refused with a message that says which, nothing listening, no file of the
/// data directory touched. The variable, once set, opens the token.
#[test]
fn a_wrong_pin_source_is_refused_before_anything_starts() {
    use std::os::unix::fs::PermissionsExt;
    let Some(token) = token() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    quickstart(&token, data.path(), &listen, None);
    let node_toml = data.path().join("node.toml");
    let good = std::fs::read_to_string(&node_toml).expect("node.toml");
    let pin_line = format!("pin_file = \"{}\"", token.pin_file().display());
    assert!(good.contains(&pin_line), "{good}");
    let with = |line: &str| {
        std::fs::write(&node_toml, good.replace(&pin_line, line)).expect("node.toml");
    };

    let refused = |says: &str| {
        let before = snapshot(data.path());
        let err = fails(&serve(&token, data.path()).output().expect("docsvc serve"));
        assert!(err.contains(says), "expected {says:?} in: {err}");
        assert!(!err.contains(PIN), "the PIN was printed: {err}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something listens"
        );
        assert_eq!(snapshot(data.path()), before, "files changed");
        std::fs::write(&node_toml, &good).expect("restore node.toml");
        token.write_pin(PIN);
    };

    let missing = token.dir().join("no-such.pin");
    with(&format!("pin_file = \"{}\"", missing.display()));
    refused("cannot read the PIN file");
    std::fs::set_permissions(token.pin_file(), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    refused("open to other users");
    token.write_pin("000000");
    refused("the token refused the PIN");
    with("pin_env = \"SANDI_TEST_TOKEN_PIN\"");
    refused("SANDI_TEST_TOKEN_PIN is not set");
    with(&format!("pin = \"{PIN}\""));
    refused("must not be written");

    // The variable, when set, opens the token: the node starts.
    with("pin_env = \"SANDI_TEST_TOKEN_PIN\"");
    let _server = Killed(
        serve(&token, data.path())
            .env("SANDI_TEST_TOKEN_PIN", PIN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    );
    wait_port(port, "docsvc with the PIN from the environment");
}

/// A quickstart whose PIN the token refuses leaves no data directory.
#[test]
fn a_quickstart_with_a_wrong_pin_writes_nothing() {
    let Some(token) = token() else {
        return;
    };
    token.write_pin("000000");
    let fresh = token.dir().join("fresh");
    let out = docsvc(&token)
        .args(["quickstart", "--no-serve", "--data-dir"])
        .arg(&fresh)
        .arg("--pkcs11-config")
        .arg(token.config())
        .output()
        .expect("docsvc quickstart");
    let err = fails(&out);
    assert!(err.contains("the token refused the PIN"), "{err}");
    assert!(!fresh.exists(), "quickstart wrote {}", fresh.display());
}
