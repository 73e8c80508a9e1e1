//! HTTP through `curl`, the outside client: every request the tests make goes over real TLS,
//! verified against the sandi root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A response as curl saw it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value (case-insensitive name), from the last response curl saw.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// A curl session: base URL, the CA to trust, a cookie jar.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    pub ca: PathBuf,
    pub jar: PathBuf,
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(base: &str, ca: &Path, jar: PathBuf) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            ca: ca.to_path_buf(),
            jar,
            csrf: None,
        }
    }

    /// Runs curl with `args` against `path`; the body goes through a file so binary bodies
    /// survive.
    pub fn call(&self, method: &str, path: &str, args: &[&str]) -> Response {
        self.call_into(method, path, args, None)
    }

    /// GETs `path` into the file `out` (large bodies stay out of memory); the response's body
    /// is empty.
    pub fn download(&self, path: &str, out: &Path) -> Response {
        self.call_into("GET", path, &[], Some(out))
    }

    /// Starts curl with `args` against `path` without waiting (output discarded): for a
    /// request that a test interrupts.
    pub fn spawn(&self, method: &str, path: &str, args: &[&str]) -> std::process::Child {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(&self.ca)
            .arg("-b")
            .arg(&self.jar)
            .args(["-X", method, "-o", "/dev/null"]);
        if let Some(c) = &self.csrf {
            cmd.args(["-H", &format!("x-csrf-token: {c}")]);
        }
        cmd.args(args)
            .arg(format!("{}{path}", self.base))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run curl (apt install curl)")
    }

    fn call_into(&self, method: &str, path: &str, args: &[&str], into: Option<&Path>) -> Response {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = into.map_or_else(|| dir.path().join("body"), Path::to_path_buf);
        let headers = dir.path().join("headers");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(&self.ca)
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(["-X", method, "-o"])
            .arg(&body)
            .arg("-D")
            .arg(&headers)
            .args(["-w", "%{http_code}"]);
        if let Some(c) = &self.csrf {
            cmd.args(["-H", &format!("x-csrf-token: {c}")]);
        }
        cmd.args(args).arg(format!("{}{path}", self.base));
        let out = cmd.output().expect("run curl (apt install curl)");
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("curl failed: {}", String::from_utf8_lossy(&out.stderr)));
        Response {
            status,
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: if into.is_some() {
                Vec::new()
            } else {
                std::fs::read(&body).unwrap_or_default()
            },
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.call("GET", path, &[])
    }

    /// Writes a letter: `POST /api/v1/documents` with the `metadata` JSON and one PDF `body`.
    pub fn post_letter(&self, meta: &serde_json::Value, body: &Path) -> Response {
        self.post_document(
            meta,
            &format!("body=@{};type=application/pdf", body.display()),
        )
    }

    /// Writes a letter as words: `POST /api/v1/documents` with the `metadata` JSON and the
    /// `naskah` JSON, which the node renders and signs as a PDF.
    pub fn post_words(&self, meta: &serde_json::Value, naskah: &serde_json::Value) -> Response {
        self.post_document(meta, &format!("naskah={naskah};type=application/json"))
    }

    /// `POST /api/v1/documents` with the `metadata` JSON and one more part (curl's `-F`).
    fn post_document(&self, meta: &serde_json::Value, part: &str) -> Response {
        self.call(
            "POST",
            "/api/v1/documents",
            &[
                "-F",
                &format!("metadata={meta};type=application/json"),
                "-F",
                part,
            ],
        )
    }

    pub fn post_json(&self, path: &str, json: &serde_json::Value) -> Response {
        self.call(
            "POST",
            path,
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &json.to_string(),
            ],
        )
    }

    /// POSTs `json` to `path` as an application: mutual TLS with the client certificate
    /// `cert` and its key `key` (PEM files).
    pub fn post_json_as(
        &self,
        cert: &Path,
        key: &Path,
        path: &str,
        json: &serde_json::Value,
    ) -> Response {
        self.call(
            "POST",
            path,
            &[
                "--cert",
                cert.to_str().expect("a UTF-8 path"),
                "--key",
                key.to_str().expect("a UTF-8 path"),
                "-H",
                "content-type: application/json",
                "--data-binary",
                &json.to_string(),
            ],
        )
    }
}
