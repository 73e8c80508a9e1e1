//! The CA and the running `keymgr serve` that `publish_e2e` drives, and the outside tools it
//! asks (openssl, curl, pkilint).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A CA made by a 2-of-3 ceremony whose custodians hold age identities (no scrypt: quick).
pub(crate) struct Ca {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) shares: Vec<String>,
    /// The inventory database, when not the default SQLite file.
    database_url: Option<String>,
    /// Where `keymgr serve` will listen: the ceremony's publication URL names it, so the
    /// certificates' CRL Distribution Points and AIA point at the running service.
    pub(crate) port: u16,
}

impl Ca {
    pub(crate) fn new() -> Self {
        Self::on(None)
    }

    pub(crate) fn on(database_url: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut identities = String::new();
        let mut custodians = Vec::new();
        for name in ["Budi", "Siti", "Andi"] {
            let out = Command::new("age-keygen")
                .output()
                .expect("age-keygen installed");
            assert!(out.status.success(), "age-keygen failed");
            let text = String::from_utf8(out.stdout).expect("utf-8");
            let recipient = text
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .expect("a public key line")
                .to_owned();
            identities.push_str(&text);
            custodians.push(format!("{name}={recipient}"));
        }
        std::fs::write(dir.path().join("ids.txt"), identities).expect("identities");
        let mut ca = Ca {
            dir,
            shares: Vec::new(),
            database_url,
            port: sandi_e2e::free_port(),
        };
        let publication = format!("http://127.0.0.1:{}", ca.port);
        let mut args = vec![
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
        ca.ok(&args);
        let mut files: Vec<PathBuf> = std::fs::read_dir(ca.path("shares"))
            .expect("shares")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for f in files.iter().take(2) {
            ca.shares.push("--share".into());
            ca.shares.push(f.display().to_string());
        }
        ca.shares.push("--identity".into());
        ca.shares.push(ca.path("ids.txt").display().to_string());
        ca
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keymgr"));
        c.arg("--home")
            .arg(self.home())
            .envs(self.database_url.iter().map(|u| ("KEYMGR_DATABASE_URL", u)))
            .current_dir(self.dir.path());
        c
    }

    pub(crate) fn keymgr(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run keymgr")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.keymgr(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "keymgr {args:?} failed:\n{text}");
        text
    }

    /// A command that needs the quorum: `before` QUORUM `after`.
    pub(crate) fn with_quorum(&self, before: &[&str], after: &[&str]) -> String {
        let mut args: Vec<&str> = before.to_vec();
        args.extend(self.shares.iter().map(String::as_str));
        args.extend_from_slice(after);
        self.ok(&args)
    }

    pub(crate) fn ca_pem(&self, name: &str) -> String {
        self.home().join("ca").join(name).display().to_string()
    }
}

/// `keymgr serve` running; stopped (SIGTERM, then killed) when dropped.
pub(crate) struct Serving {
    child: Child,
    addr: String,
    output: Arc<Mutex<String>>,
}

impl Serving {
    pub(crate) fn start(ca: &Ca) -> Self {
        let listen = format!("127.0.0.1:{}", ca.port);
        let mut args = vec![
            "serve",
            "--dev-home",
            "--listen",
            &listen,
            "--refresh",
            "1s",
        ];
        args.extend(ca.shares.iter().map(String::as_str));
        Self::start_with(ca, &args, "listening on http://")
    }

    /// `keymgr ARGS`, ready when it prints a line starting with `ready` followed by the
    /// address it listens on.
    pub(crate) fn start_with(ca: &Ca, args: &[&str], ready: &'static str) -> Self {
        let mut child = ca
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keymgr serve");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = Arc::clone(&output);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(addr) = line.strip_prefix(ready) {
                        let _ = tx.send(addr.to_owned());
                    }
                    let mut o = output.lock().expect("output");
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "keymgr serve did not start:\n{}",
                    output.lock().expect("output")
                )
            });
        Serving {
            child,
            addr,
            output,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// SIGTERM, and what it printed by the time it exited.
    pub(crate) fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                return self.output();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("keymgr serve did not stop on SIGTERM:\n{}", self.output());
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} installed: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A client key and its PKCS#10 request, made by openssl: (key file, CSR PEM).
pub(crate) fn key_and_csr(dir: &Path, name: &str, curve: &str, subject: &str) -> (String, String) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let curve = format!("ec_paramgen_curve:{curve}");
    let args = [
        "req", "-new", "-newkey", "ec", "-pkeyopt", &curve, "-nodes", "-keyout", &key, "-out",
        &csr, "-subj", subject,
    ];
    let (ok, text) = run(dir, "openssl", &args);
    assert!(ok, "openssl req: {text}");
    let pem = std::fs::read_to_string(dir.join(&csr)).expect("the CSR");
    (key, pem)
}

/// `openssl ocsp` for one certificate against a responder URL; the chain trusted.
pub(crate) fn ask(ca: &Ca, issuer: &str, which: &[&str], url: &str, extra: &[&str]) -> String {
    let issuer = ca.ca_pem(issuer);
    let mut args = vec!["ocsp", "-issuer", issuer.as_str()];
    args.extend_from_slice(which);
    args.extend(["-url", url, "-CAfile", "chain.pem", "-resp_text"]);
    args.extend_from_slice(extra);
    let (ok, text) = run(ca.dir.path(), "openssl", &args);
    assert!(ok, "openssl ocsp {which:?} failed:\n{text}");
    text
}

/// curl: (HTTP status, headers, body) of one request.
pub(crate) fn curl(dir: &Path, args: &[&str]) -> (u16, String, Vec<u8>) {
    let body = dir.join(format!("curl-body-{}", uuid_like()));
    let headers = dir.join(format!("curl-headers-{}", uuid_like()));
    let out = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl installed");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let h = std::fs::read_to_string(&headers).unwrap_or_default();
    let b = std::fs::read(&body).unwrap_or_default();
    (status, h, b)
}

pub(crate) fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

pub(crate) fn serial_of(ca: &Ca, pem: &str) -> String {
    let (ok, text) = run(
        ca.dir.path(),
        "openssl",
        &["x509", "-in", pem, "-noout", "-serial"],
    );
    assert!(ok, "{text}");
    text.trim()
        .strip_prefix("serial=")
        .expect("serial=")
        .to_lowercase()
}

/// RFC 6960 appendix A.1: base64 of the DER request, URL-encoded.
pub(crate) fn get_path(der: &[u8]) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The first PEM certificate in `text`.
pub(crate) fn first_pem(text: &str) -> String {
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text[start..]
        .find("-----END CERTIFICATE-----")
        .expect("its end")
        + start
        + "-----END CERTIFICATE-----".len();
    format!("{}\n", &text[start..end])
}

/// pkilint's findings at NOTICE and above for a file, or None when pkilint is missing.
pub(crate) fn pkilint(dir: &Path, tool: &str, extra: &[&str], file: &str) -> Option<String> {
    if Command::new(tool).arg("--help").output().is_err() {
        assert!(!sandi_e2e::under_ci(), "{tool} (pkilint) is not installed");
        return None;
    }
    let mut args = vec!["lint"];
    args.extend_from_slice(extra);
    args.extend(["-s", "NOTICE", file]);
    let (_, text) = run(dir, tool, &args);
    Some(text)
}

pub(crate) fn wait_until(what: &str, mut check: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            None => return last,
            Some(l) => last = l,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what}: still not so after 20 s; last seen:\n{last}");
}
