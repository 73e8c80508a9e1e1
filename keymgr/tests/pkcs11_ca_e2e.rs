//! The online CA on a PKCS#11 token (SoftHSM2, a fresh token in its own SOFTHSM2_CONF): the
//! real `keymgr` binary holds an init ceremony whose Network and Signing CA keys are generated
//! on the token, issues an official's certificate that openssl verifies (its issuer's key the
//! token's, never extractable), and `keymgr serve` starts with the token's PIN and no share,
//! its CRL and time-stamp verified by openssl. A wrong PIN source is refused with nothing
//! served and nothing made.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sandi_e2e::node::{Killed, fails, ok, require};
use sandi_e2e::softhsm::{self, Token};

const MODULE: &str = softhsm::MODULE;
const TOKEN: &str = "sandi-ca";
const PIN: &str = softhsm::PIN;

/// A token of the test's own (in its own SOFTHSM2_CONF) and a keymgr home beside it.
struct Scene {
    token: Token,
}

impl Scene {
    fn new() -> Option<Scene> {
        let token = Token::labelled(TOKEN)?;
        for tool in ["openssl", "curl", "age-keygen"] {
            require(tool);
        }
        Some(Scene { token })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.token.dir().join(p)
    }

    fn write_pin(&self, pin: &str) {
        self.token.write_pin(pin);
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = self.token.cmd(program);
        c.current_dir(self.token.dir());
        c
    }

    fn keymgr(&self, args: &[&str]) -> Output {
        self.cmd(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(self.path("home"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("keymgr")
    }

    /// Three custodians with age identities (in ids.txt): their `--custodian` arguments.
    fn custodians(&self) -> Vec<String> {
        let mut ids = String::new();
        let mut args = Vec::new();
        for name in ["Budi", "Siti", "Andi"] {
            let out = ok(&Command::new("age-keygen").output().expect("age-keygen"));
            let recipient = out
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .expect("public key")
                .to_owned();
            ids.push_str(&out);
            args.push("--custodian".into());
            args.push(format!("{name}={recipient}"));
        }
        std::fs::write(self.path("ids.txt"), ids).expect("ids");
        args
    }

    /// A 2-of-3 ceremony whose custodians hold age identities, its online keys on the token.
    /// Returns the quorum arguments.
    fn init(&self, port: u16) -> Vec<String> {
        let mut args: Vec<String> = [
            "ceremony",
            "init",
            "--organisation",
            "Pemerintah Kota Contoh",
            "--admin",
            "Admin Upacara",
            "--witness",
            "Saksi Internal",
            "--threshold",
            "2",
            "--shares-out",
            "shares",
            "--online-pkcs11-module",
            MODULE,
            "--online-pkcs11-token",
            TOKEN,
            "--online-pkcs11-pin-file",
            "token.pin",
        ]
        .map(String::from)
        .to_vec();
        args.push("--publication-url".into());
        args.push(format!("http://127.0.0.1:{port}"));
        args.extend(self.custodians());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&self.keymgr(&a));
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path("shares"))
            .expect("shares")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut quorum = Vec::new();
        for f in files.iter().take(2) {
            quorum.push("--share".to_owned());
            quorum.push(f.display().to_string());
        }
        quorum.push("--identity".into());
        quorum.push(self.path("ids.txt").display().to_string());
        quorum
    }

    fn objects(&self) -> String {
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
            .args(["--list-objects", "--type", "privkey"])
            .output()
            .expect("pkcs11-tool"))
    }

    fn openssl(&self, args: &[&str]) -> String {
        ok(&self.cmd("openssl").args(args).output().expect("openssl"))
    }

    /// `keymgr serve` without shares; the address it listens on, once it does.
    fn serve(&self, port: u16) -> (Killed, String) {
        let mut child = self
            .cmd(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(self.path("home"))
            .args([
                "serve",
                "--dev-home",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("keymgr serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let child = Killed(child);
        let mut seen = String::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("keymgr serve did not start:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("listening on http://") {
                return (child, seen);
            }
        }
    }
}

#[test]
fn the_online_ca_signs_with_keys_on_the_token() {
    let Some(s) = Scene::new() else {
        return;
    };
    let port = sandi_e2e::free_port();
    let quorum = s.init(port);
    let config = std::fs::read_to_string(s.path("home/online-pkcs11.json")).expect("config");
    assert!(
        config.contains(TOKEN) && config.contains("pin_file"),
        "{config}"
    );
    assert!(!config.contains(PIN), "the PIN was written in the home");
    online_keys_are_on_the_token(&s);
    an_issuance_verifies(&s, &quorum);
    serve_opens_with_the_pin(&s, port);
    a_wrong_pin_source_is_refused(&s, port);
}

/// On the token: the online CA keys, sensitive and never extractable, the Signing CA's public
/// key the one in its certificate; not the root key.
fn online_keys_are_on_the_token(s: &Scene) {
    // On the token: the online CA keys, sensitive and never extractable; not the root key.
    let objects = s.objects();
    for label in ["network-ca", "signing-ca", "transparency-log"] {
        let at = objects
            .find(&format!("label:      {label}"))
            .unwrap_or_else(|| panic!("{label} not on the token:\n{objects}"));
        let block = &objects[at..];
        let block = &block[..block.find("Private Key Object").unwrap_or(block.len())];
        assert!(block.contains("never extractable"), "{block}");
        assert!(block.contains("sensitive"), "{block}");
    }
    assert!(!objects.contains("root-ca"), "{objects}");

    // The Signing CA's public key is the token's: its SPKI ends with the point the token
    // holds (pkcs11-tool prints it inside its DER OCTET STRING).
    let listing = ok(&s
        .cmd("pkcs11-tool")
        .args(["--module", MODULE, "--token-label", TOKEN])
        .args(["--list-objects", "--type", "pubkey"])
        .output()
        .expect("pkcs11-tool"));
    let point = listing
        .split("Public Key Object")
        .find(|b| b.lines().any(|l| l.trim() == "label:      signing-ca"))
        .and_then(|b| b.lines().find_map(|l| l.trim().strip_prefix("EC_POINT:")))
        .unwrap_or_else(|| panic!("no signing-ca public key:\n{listing}"))
        .trim()
        .to_owned();
    let sca = s.path("home/ca/signing-ca.pem");
    let pubkey = s.openssl(&[
        "x509",
        "-noout",
        "-pubkey",
        "-in",
        &sca.display().to_string(),
    ]);
    std::fs::write(s.path("sca-pub.pem"), pubkey).expect("write");
    let out = s
        .cmd("openssl")
        .args(["pkey", "-pubin", "-in", "sca-pub.pem", "-outform", "DER"])
        .output()
        .expect("openssl");
    let spki = out.stdout.iter().fold(String::new(), |mut h, b| {
        use std::fmt::Write as _;
        let _ = write!(h, "{b:02x}");
        h
    });
    assert!(
        point.len() > 4 && spki.ends_with(&point[4..]),
        "{point} / {spki}"
    );
}

fn an_issuance_verifies(s: &Scene, quorum: &[String]) {
    let ca_dir = s.path("home/ca");
    let sca = ca_dir.join("signing-ca.pem");
    let root = ca_dir.join("root.pem");
    // An issuance with the quorum, signed on the token, verified by openssl up to the root.
    let mut args: Vec<&str> = vec!["issue"];
    args.extend(quorum.iter().map(String::as_str));
    args.extend([
        "official",
        "--name",
        "Budi Santoso",
        "--nip",
        "197501012000031001",
        "--agency",
        "dinkes",
        "--out",
        "budi.pem",
    ]);
    ok(&s.keymgr(&args));
    let verified = s.openssl(&[
        "verify",
        "-CAfile",
        &root.display().to_string(),
        "-untrusted",
        &sca.display().to_string(),
        "budi.pem",
    ]);
    assert!(verified.contains("budi.pem: OK"), "{verified}");
}

fn serve_opens_with_the_pin(s: &Scene, port: u16) {
    let ca_dir = s.path("home/ca");
    let sca = ca_dir.join("signing-ca.pem");
    let root = ca_dir.join("root.pem");
    // `keymgr serve` opens with the PIN alone: its CRL verifies against the Network CA and
    // its time-stamps (a TSA key it made on the token) against the root.
    let (server, printed) = s.serve(port);
    assert!(printed.contains("opened with its PIN"), "{printed}");
    let nca = ca_dir.join("network-ca.pem").display().to_string();
    ok(&s
        .cmd("curl")
        .args(["-sSf", "-o", "network-ca.crl"])
        .arg(format!("http://127.0.0.1:{port}/crl/network-ca.crl"))
        .output()
        .expect("curl"));
    let crl = s.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "network-ca.crl",
        "-CAfile",
        &nca,
        "-noout",
    ]);
    assert!(crl.contains("verify OK"), "{crl}");
    std::fs::write(s.path("surat.txt"), "Surat dinas\n").expect("write");
    ok(&s
        .cmd("sh")
        .args([
            "-c",
            &format!(
                "set -e; openssl ts -query -data surat.txt -sha256 -cert | curl -sSf \
                 --data-binary @- -H 'Content-Type: application/timestamp-query' \
                 http://127.0.0.1:{port}/tsa -o resp.tsr; cat {} {} > chain.pem",
                root.display(),
                sca.display()
            ),
        ])
        .output()
        .expect("sh"));
    let tsa = ca_dir.join("tsa.pem").display().to_string();
    let v = s.openssl(&[
        "ts",
        "-verify",
        "-data",
        "surat.txt",
        "-in",
        "resp.tsr",
        "-CAfile",
        "chain.pem",
        "-untrusted",
        &tsa,
    ]);
    assert!(v.contains("Verification: OK"), "{v}");
    assert!(s.objects().contains("tsa"), "the TSA key is on the token");
    drop(server);
}

fn a_wrong_pin_source_is_refused(s: &Scene, port: u16) {
    // A wrong PIN: refused, said so, nothing listening.
    s.write_pin("000000");
    let out = s.keymgr(&[
        "serve",
        "--dev-home",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let err = fails(&out);
    assert!(err.contains("the token refused the PIN"), "{err}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // A missing PIN file too.
    std::fs::remove_file(s.path("token.pin")).expect("rm");
    let err = fails(&s.keymgr(&[
        "serve",
        "--dev-home",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]));
    assert!(err.contains("cannot read the PIN file"), "{err}");
}

/// A ceremony whose token refuses the PIN makes nothing: no keystore, no share, no config.
#[test]
fn a_ceremony_with_a_wrong_pin_makes_nothing() {
    let Some(s) = Scene::new() else {
        return;
    };
    s.write_pin("000000");
    let custodians = s.custodians();
    let mut args = vec![
        "ceremony",
        "init",
        "--organisation",
        "Pemerintah Kota Contoh",
        "--admin",
        "Admin",
        "--witness",
        "Saksi",
        "--threshold",
        "2",
        "--shares-out",
        "shares",
        "--online-pkcs11-module",
        MODULE,
        "--online-pkcs11-token",
        TOKEN,
        "--online-pkcs11-pin-file",
        "token.pin",
    ];
    args.extend(custodians.iter().map(String::as_str));
    let out = s.keymgr(&args);
    let err = fails(&out);
    assert!(err.contains("the token refused the PIN"), "{err}");
    assert!(!s.path("shares").exists(), "shares were written");
    assert!(!s.path("home/online-keystore").exists());
    assert!(!s.path("home/root-keystore").exists());
    assert!(!s.path("home/online-pkcs11.json").exists());
}
