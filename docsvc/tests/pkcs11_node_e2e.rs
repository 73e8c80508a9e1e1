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
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "sandi-node";
const PIN: &str = "314159";
const SO_PIN: &str = "27182818";

/// A SoftHSM2 token of its own: its configuration, its tokens, a PIN file and the
/// `--pkcs11-config` file that names them.
struct Token {
    dir: tempfile::TempDir,
}

impl Token {
    fn new() -> Option<Token> {
        if !Path::new(MODULE).exists() {
            assert!(!sandi_e2e::under_ci(), "SoftHSM2 is installed by tests/run");
            eprintln!("SKIPPED: SoftHSM2 is not installed");
            return None;
        }
        require("softhsm2-util");
        require("pkcs11-tool");
        require("openssl");
        require("curl");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("tokens");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        let t = Token { dir };
        ok(&t
            .cmd("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .output()
            .expect("softhsm2-util"));
        t.write_pin(PIN);
        std::fs::write(
            t.config(),
            format!(
                "module = \"{MODULE}\"\ntoken_label = \"{TOKEN}\"\npin_file = \"{}\"\n",
                t.pin_file().display()
            ),
        )
        .expect("pkcs11 config");
        Some(t)
    }

    fn pin_file(&self) -> PathBuf {
        self.dir.path().join("token.pin")
    }

    fn write_pin(&self, pin: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(self.pin_file(), format!("{pin}\n")).expect("pin file");
        std::fs::set_permissions(self.pin_file(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("pkcs11.toml")
    }

    /// A command that sees this token (and no other).
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", self.dir.path().join("softhsm2.conf"));
        c
    }

    fn docsvc(&self) -> Command {
        self.cmd(env!("CARGO_BIN_EXE_docsvc"))
    }

    /// OpenSC's view of the token's objects of `kind` (privkey, pubkey, secrkey).
    fn objects(&self, kind: &str) -> String {
        ok(&self
            .cmd("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                TOKEN,
                "--login",
                "--pin",
                PIN,
            ])
            .args(["--list-objects", "--type", kind])
            .output()
            .expect("pkcs11-tool"))
    }

    /// The EC point (hex, as pkcs11-tool prints it: a DER OCTET STRING around the point) of
    /// the public key object labelled `label`.
    fn ec_point(&self, label: &str) -> String {
        ec_point_of(&self.objects("pubkey"), label)
    }
}

/// The `EC_POINT` of the object labelled `label` in pkcs11-tool's listing.
fn ec_point_of(listing: &str, label: &str) -> String {
    listing
        .split("Public Key Object")
        .find(|block| {
            block
                .lines()
                .any(|l| l.trim() == format!("label:      {label}"))
        })
        .and_then(|block| {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
        })
        .unwrap_or_else(|| panic!("no public key {label} on the token:\n{listing}"))
        .trim()
        .to_owned()
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `quickstart --no-serve` of a node whose signing keys are on `token`.
fn quickstart(token: &Token, data: &Path, listen: &str, database_url: Option<&str>) -> String {
    let mut c = token.docsvc();
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
    let mut c = token.docsvc();
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
    let Some(token) = Token::new() else {
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
    ok(&token
        .docsvc()
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
    let Some(token) = Token::new() else {
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

    let missing = token.dir.path().join("no-such.pin");
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
    let Some(token) = Token::new() else {
        return;
    };
    token.write_pin("000000");
    let fresh = token.dir.path().join("fresh");
    let out = token
        .docsvc()
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
