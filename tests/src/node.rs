//! A docsvc node for a test: set up by the real binary's `quickstart`, served by its `serve`,
//! stopped when dropped; the credentials quickstart printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails the test unless `tool` is on the PATH (tests/run installs the tools the suite uses).
pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{tool} is required: tests/run installs it");
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The officials quickstart printed: NIP -> (password, PIN).
pub fn credentials(stdout: &str) -> HashMap<String, (String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 7 && f[0].len() == 18 && f[0].bytes().all(|b| b.is_ascii_digit())).then(
                || {
                    let n = f.len();
                    (f[0].to_owned(), (f[n - 3].to_owned(), f[n - 2].to_owned()))
                },
            )
        })
        .collect()
}

/// A quickstart node served unsealed (the dev custodians' files), on its own port.
#[derive(Debug)]
pub struct DevNode {
    pub data: PathBuf,
    pub listen: String,
    pub creds: HashMap<String, (String, String)>,
    pub printed: String,
    pub server: Option<Killed>,
}

impl DevNode {
    /// `docsvc quickstart --no-serve` into `data` (with `extra` arguments), then
    /// `docsvc serve --dev-unseal`; returns once it listens.
    pub fn start(docsvc: &Path, data: &Path, extra: &[&str]) -> DevNode {
        Self::start_with(docsvc, data, extra, |_| {})
    }

    /// As [`DevNode::start`], with `configure` run on the data directory between quickstart
    /// and serve (to change `node.toml`, say).
    pub fn start_with(
        docsvc: &Path,
        data: &Path,
        extra: &[&str],
        configure: impl FnOnce(&Path),
    ) -> DevNode {
        Self::start_inner(docsvc, data, extra, configure, None)
    }

    /// As [`DevNode::start`], the server logging JSON (`DOCSVC_LOG_FORMAT=json`) to `log`.
    pub fn start_logged(docsvc: &Path, data: &Path, log: &Path) -> DevNode {
        let file = std::fs::File::create(log).expect("the log file");
        Self::start_inner(docsvc, data, &[], |_| {}, Some(file.into()))
    }

    /// As [`DevNode::start_logged`], the JSON log going to `stderr` (a pipe, say).
    pub fn start_logging_to(docsvc: &Path, data: &Path, stderr: Stdio) -> DevNode {
        Self::start_inner(docsvc, data, &[], |_| {}, Some(stderr))
    }

    fn start_inner(
        docsvc: &Path,
        data: &Path,
        extra: &[&str],
        configure: impl FnOnce(&Path),
        log: Option<Stdio>,
    ) -> DevNode {
        let port = crate::free_port();
        let listen = format!("127.0.0.1:{port}");
        let out = Command::new(docsvc)
            .args(["quickstart", "--no-serve", "--listen", &listen])
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .output()
            .expect("docsvc quickstart");
        assert!(
            out.status.success(),
            "quickstart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        configure(data);
        let mut serve = Command::new(docsvc);
        serve
            .args(["serve", "--dev-unseal", "--data-dir"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(log) = log {
            serve.env("DOCSVC_LOG_FORMAT", "json").stderr(log);
        }
        let server = Killed(serve.spawn().expect("docsvc serve"));
        wait_port(port, "docsvc");
        DevNode {
            data: data.to_path_buf(),
            creds: credentials(&printed),
            printed,
            listen,
            server: Some(server),
        }
    }

    pub fn base(&self) -> String {
        format!("https://{}", self.listen)
    }

    pub fn root_ca(&self) -> PathBuf {
        self.data.join("ca/root.pem")
    }

    /// Logs `nip` in with the password quickstart printed (and the PIN step-up when asked),
    /// keeping the session in the cookie jar `jar`.
    pub fn login(&self, nip: &str, step_up: bool, jar: PathBuf) -> crate::http::Client {
        let (password, pin) = self.creds.get(nip).expect("a quickstart official");
        let mut c = crate::http::Client::new(&self.base(), &self.root_ca(), jar);
        let r = c.post_json(
            "/api/v1/session",
            &serde_json::json!({ "nip": nip, "password": password }),
        );
        assert_eq!(r.status, 200, "login {nip}: {}", r.text());
        c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
        if step_up {
            let r = c.post_json(
                "/api/v1/session/step-up",
                &serde_json::json!({ "pin": pin }),
            );
            assert_eq!(r.status, 200, "step-up {nip}: {}", r.text());
        }
        c
    }

    /// Stops the server (SIGKILL).
    pub fn stop(&mut self) {
        drop(self.server.take());
    }
}

/// The output of a command that must succeed: its stdout and stderr together.
/// How many files the content store holds in data directory `data` (`content/*/*`).
pub fn content_file_count(data: &Path) -> usize {
    std::fs::read_dir(data.join("content"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).map_or(0, Iterator::count))
        .sum()
}

pub fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// The stderr of a command that must fail, and say why.
pub fn fails(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should have failed: {text}");
    text
}
