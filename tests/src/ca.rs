//! keymgr's online CA for a test, as an office sets it up: the root ceremony by the real
//! `keymgr` binary (three custodians, two needed, age identities made by `age-keygen`), the
//! API's certificate, two named operators, the root keystore taken away to its removable
//! media; then `keymgr serve --api-listen` unsealed by two custodians over HTTPS.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::node::{Killed, ok, wait_port};

/// The organisation every test CA serves.
pub const ORGANISATION: &str = "Pemerintah Kota Contoh";

/// A keymgr home made by a root ceremony, with the custodians' files beside it.
#[derive(Debug)]
pub struct Ca {
    pub dir: tempfile::TempDir,
    keymgr: PathBuf,
    /// `--share F` … for two custodians, then `--identity IDS`.
    shares: Vec<String>,
    pub publication_port: u16,
    pub api_port: u16,
}

/// The workspace's `keymgr` binary, built beside `bin` (another binary of this workspace, such
/// as `env!("CARGO_BIN_EXE_docsvc")`); the suite builds it (`cargo build -p keymgr`).
pub fn keymgr_beside(bin: &str) -> PathBuf {
    let p = Path::new(bin).with_file_name("keymgr");
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p keymgr)",
        p.display()
    );
    p
}

/// A new age identity in `dir/NAME.key`: the file and its recipient.
pub fn age_identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.key"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen");
    let r = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .last()
        .expect("recipient")
        .to_owned();
    assert!(r.starts_with("age1"), "age-keygen said {r}");
    (path, r)
}

/// The DER of the first PEM certificate in `pem`.
pub fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("a PEM certificate")
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

impl Ca {
    /// The root ceremony in a new directory, by the `keymgr` binary at `keymgr`; extra
    /// arguments go to `keymgr ceremony init`.
    pub fn ceremony(keymgr: &Path, extra: &[&str]) -> Ca {
        let dir = tempfile::tempdir().expect("tmp");
        let mut ids = String::new();
        let mut custodians = Vec::new();
        for name in ["Budi", "Siti", "Andi"] {
            let (file, r) = age_identity(dir.path(), &format!("custodian-{name}"));
            ids.push_str(&std::fs::read_to_string(file).expect("identity"));
            custodians.push(format!("{name}={r}"));
        }
        std::fs::write(dir.path().join("ids.txt"), ids).expect("ids");
        let mut ca = Ca {
            dir,
            keymgr: keymgr.to_path_buf(),
            shares: Vec::new(),
            publication_port: crate::free_port(),
            api_port: crate::free_port(),
        };
        let publication = ca.publication_url();
        let mut args = vec![
            "ceremony",
            "init",
            "--organisation",
            ORGANISATION,
            "--admin",
            "Admin Upacara",
            "--witness",
            "Saksi Internal",
            "--threshold",
            "2",
            "--shares-out",
            "shares",
            "--publication-url",
            &publication,
        ];
        for c in &custodians {
            args.extend(["--custodian", c.as_str()]);
        }
        args.extend_from_slice(extra);
        ca.ok(&args);
        let mut files: Vec<PathBuf> = std::fs::read_dir(ca.dir.path().join("shares"))
            .expect("shares")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "age"))
            .collect();
        files.sort();
        for f in files.iter().take(2) {
            ca.shares.push("--share".into());
            ca.shares.push(f.display().to_string());
        }
        ca.shares.push("--identity".into());
        ca.shares
            .push(ca.dir.path().join("ids.txt").display().to_string());
        ca.with_quorum(&["api-cert"], &["--ip", "127.0.0.1"]);
        for op in ["op1", "op2"] {
            ca.operator(op);
        }
        let media = ca.dir.path().join("removable");
        std::fs::create_dir(&media).expect("media");
        std::fs::rename(
            ca.dir.path().join("home/root-keystore"),
            media.join("root-keystore"),
        )
        .expect("root keystore away");
        ca
    }

    /// A named operator: their key and request by openssl, their certificate by the quorum.
    fn operator(&self, op: &str) {
        ok(&Command::new("openssl")
            .current_dir(self.dir.path())
            .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
            .arg(format!("{op}.key"))
            .arg("-out")
            .arg(format!("{op}.csr"))
            .args(["-subj", &format!("/CN={op}")])
            .output()
            .expect("openssl req"));
        self.with_quorum(
            &["operator", "add", &format!("Operator {op}")],
            &["--csr", &format!("{op}.csr"), "--out", &format!("{op}.pem")],
        );
    }

    pub fn keymgr(&self, args: &[&str]) -> Output {
        Command::new(&self.keymgr)
            .arg("--home")
            .arg(self.dir.path().join("home"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("keymgr")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.keymgr(args))
    }

    /// A keymgr command given the two custodians' shares between `before` and `after`.
    pub fn with_quorum(&self, before: &[&str], after: &[&str]) -> String {
        let mut args: Vec<&str> = before.to_vec();
        args.extend(self.shares.iter().map(String::as_str));
        args.extend_from_slice(after);
        self.ok(&args)
    }

    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("home/ca/root.pem")
    }

    /// Hex SHA-256 of the root certificate (DER), as read out at the ceremony.
    pub fn root_sha256(&self) -> String {
        sha256_hex(&pem_der(
            &std::fs::read_to_string(self.root_pem()).expect("root.pem"),
        ))
    }

    pub fn api_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    pub fn publication_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.publication_port)
    }

    /// keymgr's issuance log verifier key (`HOME/log/note.vkey`), as an operator reads it out
    /// for `docsvc init --issuance-log-key`: asked of the publication service while it serves.
    pub fn issuance_log_key(&self) -> String {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/log/note-key", self.publication_url())])
            .output()
            .expect("curl");
        assert!(out.status.success(), "GET /log/note-key: {out:?}");
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_owned()
    }

    /// `keymgr node invite`: a one-time enrolment token for a node serving `agencies`.
    pub fn invite(&self, node: &str, agencies: &[&str], accreditation: &str) -> String {
        let mut args = vec![
            "node",
            "invite",
            "--node-id",
            node,
            "--organisation",
            ORGANISATION,
            "--accreditation",
            accreditation,
            "--ip",
            "127.0.0.1",
            "--valid",
            "1h",
        ];
        for a in agencies {
            args.extend(["--agency", a]);
        }
        let out = self.ok(&args);
        out.lines()
            .find(|l| l.starts_with("sandi-enrol-v1."))
            .unwrap_or_else(|| panic!("no token in:\n{out}"))
            .to_owned()
    }

    /// `keymgr serve` with its API (`extra`: more arguments), unsealed by two custodians with
    /// `keymgr unseal` over HTTPS; returns once the publication service listens.
    pub fn serve(&self, extra: &[&str]) -> Killed {
        let child = Command::new(&self.keymgr)
            .arg("--home")
            .arg(self.dir.path().join("home"))
            .current_dir(self.dir.path())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.publication_port),
                "--api-listen",
                &format!("127.0.0.1:{}", self.api_port),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keymgr serve");
        let running = Killed(child);
        wait_port(self.api_port, "keymgr serve's API");
        let ids = self.dir.path().join("ids.txt").display().to_string();
        for share in [&self.shares[1], &self.shares[3]] {
            self.ok(&[
                "unseal",
                "--url",
                &self.api_url(),
                "--share",
                share,
                "--identity",
                &ids,
            ]);
        }
        wait_port(self.publication_port, "keymgr's publication service");
        running
    }

    /// An operator's call to the CA's API with their client certificate (curl, the outside
    /// client): the status and the answer.
    pub fn operator_post(
        &self,
        op: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let out = Command::new("curl")
            .current_dir(self.dir.path())
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
            .arg(self.root_pem())
            .args([
                "--cert",
                &format!("{op}.pem"),
                "--key",
                &format!("{op}.key"),
            ])
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(body.to_string())
            .arg(format!("{}{path}", self.api_url()))
            .output()
            .expect("curl");
        let text = ok(&out);
        let (answer, code) = text.trim_end().rsplit_once('\n').expect("status line");
        (
            code.parse().expect("status"),
            serde_json::from_str(answer).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A directory version proposed by one operator and approved by the other: what the CA
    /// signed.
    pub fn approve_directory(&self, input: &serde_json::Value) -> serde_json::Value {
        let (status, proposal) = self.operator_post("op1", "/api/v1/directory/proposals", input);
        assert_eq!(status, 201, "{proposal}");
        let approve = format!(
            "/api/v1/directory/proposals/{}/approve",
            proposal["id"].as_str().expect("id")
        );
        let sha = serde_json::json!({ "input_sha256": proposal["input_sha256"] });
        let (status, signed) = self.operator_post("op2", &approve, &sha);
        assert_eq!(status, 200, "{signed}");
        signed
    }
}
