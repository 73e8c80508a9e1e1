//! A docsvc node end to end: the real binary set up by `quickstart`, served sealed, unsealed by
//! custodians over HTTPS (shares opened with the `age` CLI), then letters created, read and
//! refused through `curl`, signatures checked by `openssl cms -verify`, tampering caught — on
//! SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{credentials, require};
use sandi_e2e::steps::Steps;
use serde_json::json;

mod common;

const ORIGINATOR: &str = "197501012000031001"; // Budi, dinkes, sangat_rahasia
const RECIPIENT: &str = "198002022005012002"; // Siti, dinkes, rahasia
const TERBATAS: &str = "198503032010013003"; // Agus, dinkes, terbatas
const OTHER_AGENCY: &str = "199005052015031005"; // Rudi, bappeda, rahasia
const AUDITOR: &str = "198207072008011007"; // Hendra, inspektorat, auditor
const SECOND: &str = "196812082000031008"; // Joko, dinkes, sangat_rahasia, approver
const BAPPEDA_HEAD: &str = "197704042002122004"; // Dewi, bappeda, sangat_rahasia

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

struct Node {
    dir: tempfile::TempDir,
    child: Child,
    base: String,
    creds: std::collections::HashMap<String, (String, String)>,
    database_url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn ca(&self) -> PathBuf {
        self.data().join("ca/root.pem")
    }

    fn client(&self, name: &str) -> Client {
        Client::new(
            &self.base,
            &self.ca(),
            self.data().join(format!("{name}.jar")),
        )
    }

    /// Logs in (and, with `pin`, steps up) as `nip`.
    fn login(&self, nip: &str, step_up: bool) -> Client {
        self.login_at(&self.base, nip, step_up)
    }

    /// Logs in through the process serving at `base`.
    fn login_at(&self, base: &str, nip: &str, step_up: bool) -> Client {
        // Each login its own cookie jar, so sessions of one official stay apart.
        static LOGINS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = LOGINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut c = Client::new(base, &self.ca(), self.data().join(format!("{nip}-{n}.jar")));
        let (password, pin) = self.creds.get(nip).expect("quickstart official");
        let r = c.post_json(
            "/api/v1/session",
            &json!({ "nip": nip, "password": password }),
        );
        assert_eq!(r.status, 200, "login {nip}: {}", r.text());
        assert!(
            r.header("set-cookie")
                .is_some_and(|v| v.contains("HttpOnly")
                    && v.contains("Secure")
                    && v.contains("SameSite=Strict")),
            "session cookie flags: {}",
            r.headers
        );
        c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
        if step_up {
            let r = c.post_json("/api/v1/session/step-up", &json!({ "pin": pin }));
            assert_eq!(r.status, 200, "step-up {nip}: {}", r.text());
        }
        c
    }

    fn audit_verify(&self) -> std::process::Output {
        docsvc()
            .args(["audit", "verify", "--data-dir"])
            .arg(self.data())
            .output()
            .expect("docsvc audit verify")
    }
}

fn wait_listening(base: &str, ca: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--cacert"])
            .arg(ca)
            .arg(format!("{base}/healthz"))
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "docsvc did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets up with quickstart, serves sealed, and has two custodians unseal it over HTTPS.
fn start(database_url: Option<&str>) -> Node {
    require("curl");
    require("age");
    require("openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut setup = docsvc();
    setup
        .args(["quickstart", "--no-serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &listen]);
    if let Some(url) = database_url {
        setup.args(["--database-url", url]);
    }
    let out = setup.output().expect("docsvc quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "quickstart failed: {stderr}");
    assert!(
        stderr.contains("NOT FOR CLASSIFIED MATERIAL"),
        "loud dev warning: {stderr}"
    );
    let creds = credentials(&stdout);
    assert_eq!(creds.len(), 10, "every official printed: {stdout}");

    let child = docsvc()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");
    let base = format!("https://{listen}");
    let node = Node {
        database_url: database_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("docsvc.db").display()),
            str::to_owned,
        ),
        dir,
        child,
        base,
        creds,
    };
    wait_listening(&node.base, &node.ca());

    // Sealed: not ready, nothing served that needs keys.
    let anon = node.client("anon");
    let r = anon.get("/readyz");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["type"], "urn:sandi:problem:sealed");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let (pw, _) = node.creds.get(ORIGINATOR).expect("creds");
    let r = anon.post_json(
        "/api/v1/session",
        &json!({ "nip": ORIGINATOR, "password": pw }),
    );
    assert_eq!(r.status, 503, "no login while sealed: {}", r.text());

    // A share that is not a share is refused and counts for nothing.
    let r = anon.post_json(
        "/api/v1/sys/unseal",
        &json!({ "share": "sandi-share-v1.garbage" }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // One custodian opens their share file with the age CLI and submits it on the page...
    let shares = node.data().join("shares");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(shares.join("custodian-1.key"))
        .arg(shares.join("node-share-1.age"))
        .output()
        .expect("age -d");
    assert!(
        out.status.success(),
        "age: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let share = String::from_utf8(out.stdout).expect("share text");
    unsealed_on_the_page(&anon, share.trim());
    // ...the second uses `docsvc unseal`, which does the same.
    let shares = node.data().join("shares");
    let out = docsvc()
        .args(["unseal", "--url", &node.base, "--ca"])
        .arg(node.ca())
        .arg("--share")
        .arg(shares.join("node-share-2.age"))
        .arg("--identity")
        .arg(shares.join("custodian-2.key"))
        .output()
        .expect("docsvc unseal");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("unsealed"),
        "docsvc unseal: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = anon.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.text());
    node
}

/// A custodian on `/ui/unseal` (no login): a garbage share is refused there and counts for
/// nothing, their own counts, and the page says how far the unsealing is.
fn unsealed_on_the_page(anon: &Client, share: &str) {
    let page = anon.get("/ui/unseal");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("0 / 2"), "{}", page.text());
    let post = |s: &str| {
        anon.call(
            "POST",
            "/ui/unseal",
            &["--data-urlencode", &format!("share={s}")],
        )
    };
    let r = post("sandi-share-v1.garbage");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("ditolak"), "{}", r.text());
    assert!(!r.text().contains("garbage"), "the share is never shown");
    assert_eq!(post(share).status, 303);
    let page = anon.get("/ui/unseal").text();
    assert!(page.contains("1 / 2"), "{page}");
}

fn create(
    c: &Client,
    meta: &serde_json::Value,
    body: &Path,
    attachment: Option<&Path>,
) -> Response {
    let meta = format!("metadata={meta};type=application/json");
    let body = format!("body=@{};type=application/pdf", body.display());
    let mut args = vec!["-F".to_owned(), meta, "-F".to_owned(), body];
    if let Some(a) = attachment {
        args.push("-F".into());
        args.push(format!("attachment=@{};type=text/plain", a.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.call("POST", "/api/v1/documents", &args)
}

fn letter(level: &str, recipients: &[&str]) -> serde_json::Value {
    json!({
        "nomor": format!("005/{}/XI/2026", level.to_uppercase()),
        "perihal": format!("Undangan rapat ({level})"),
        "classification": level,
        "urgency": "segera",
        "recipients": recipients,
    })
}

async fn execute(db: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(db)
        .await
        .expect("connect to the node's database");
    sqlx::query(sql).execute(&mut c).await.expect(sql);
}

async fn whole_flow(database_url: Option<&str>) {
    let node = start(database_url);
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    let mut content = b"%PDF-1.7\n".to_vec();
    content.extend(
        (0..3_000_000u32).map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap_or(0)),
    );
    std::fs::write(&body, &content).expect("write body");
    let attachment = files.path().join("lampiran.txt");
    std::fs::write(&attachment, "Daftar hadir").expect("write attachment");

    let budi = node.login(ORIGINATOR, true);

    // What the later steps stand on; each step after runs even when one before it failed.
    let ids = each_level(&budi, &body, &attachment, content.len());
    let siti = recipient_reads(&node, &ids, &content);
    let mut steps = Steps::new();
    steps.run("signature_checks_out", || {
        signature_checks_out(&node, &siti, &ids["rahasia"], files.path());
    });
    steps.run("others_see_nothing", || {
        others_see_nothing(&node, &ids["rahasia"]);
    });
    steps.run("dual_control_holds_sangat_rahasia", || {
        dual_control_holds_sangat_rahasia(&node, &budi, &ids["sangat_rahasia"]);
    });
    steps.run("export_opens_with_age", || {
        export_opens_with_age(&siti, &ids, &content, files.path());
    });
    steps.run("bad_input_is_refused", || {
        bad_input_is_refused(&node, &budi, &body);
    });
    steps.run("the_openapi_document_lists_what_is_served", || {
        the_openapi_document_lists_what_is_served(&node);
    });
    steps
        .run_async(
            "expired_sessions_are_refused",
            expired_sessions_are_refused(&node),
        )
        .await;
    steps
        .run_async(
            "applications_sign_over_mutual_tls",
            applications_sign_over_mutual_tls(&node, files.path()),
        )
        .await;
    steps.run("audit_is_exported_and_proved", || {
        audit_is_exported_and_proved(&node);
    });
    steps
        .run_async(
            "an_admin_registers_an_official",
            an_admin_registers_an_official(&node, &body),
        )
        .await;
    steps
        .run_async(
            "tampering_is_caught",
            tampering_is_caught(&node, &siti, &ids),
        )
        .await;
    steps.run("suspension_and_metrics", || {
        suspension_and_metrics(&node, &siti);
    });
    steps.finish();
}

/// Suspending an official ends their session at the next request; the metrics count what
/// happened before.
fn suspension_and_metrics(node: &Node, siti: &Client) {
    let out = docsvc()
        .args(["official", "set-status", "--data-dir"])
        .arg(node.data())
        .args([RECIPIENT, "suspended"])
        .output()
        .expect("docsvc official");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = siti.get("/api/v1/documents?box=inbox");
    assert_eq!(
        r.status,
        401,
        "a suspended official is out at once: {}",
        r.text()
    );

    // Metrics count what happened.
    let m = node.client("metrics").get("/metrics").text();
    assert!(m.contains("docsvc_documents_created_total 5"), "{m}");
    assert!(m.contains("docsvc_sealed 0"), "{m}");
}

fn each_level(
    budi: &Client,
    body: &Path,
    attachment: &Path,
    size: usize,
) -> std::collections::HashMap<&'static str, String> {
    // A letter of each classification reaches its recipient.
    let mut ids = std::collections::HashMap::new();
    for level in ["biasa", "terbatas", "rahasia", "sangat_rahasia"] {
        let recipients: &[&str] = if level == "sangat_rahasia" {
            &[BAPPEDA_HEAD]
        } else {
            &[RECIPIENT]
        };
        let r = create(
            budi,
            &letter(level, recipients),
            body,
            (level == "rahasia").then_some(attachment),
        );
        assert_eq!(r.status, 201, "{level}: {}", r.text());
        let m = r.json();
        assert_eq!(m["classification"], level);
        let held = level == "sangat_rahasia";
        assert_eq!(
            m["state"],
            if held { "awaiting_approval" } else { "sent" },
            "{m}"
        );
        assert_eq!(m["parts"][0]["size"], size);
        ids.insert(level, m["id"].as_str().expect("id").to_owned());
    }
    ids
}

fn recipient_reads(
    node: &Node,
    ids: &std::collections::HashMap<&'static str, String>,
    content: &[u8],
) -> Client {
    let rahasia = &ids["rahasia"];
    // The recipient sees it in the inbox; reading a RAHASIA letter needs the PIN step-up.
    let siti = node.login(RECIPIENT, false);
    let inbox = siti.get("/api/v1/documents?box=inbox").json();
    let listed: Vec<&str> = inbox
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert!(
        listed.contains(&rahasia.as_str()) && listed.contains(&ids["biasa"].as_str()),
        "{inbox}"
    );
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/content"));
    assert_eq!(r.status, 403, "{}", r.text());
    let p = r.json();
    assert_eq!(p["type"], "urn:sandi:problem:policy-denied");
    assert!(
        p["alasan"].as_str().is_some_and(|a| a.contains("PIN")),
        "{p}"
    );
    assert!(
        p["policies"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("step-up-to-open"))),
        "{p}"
    );
    let siti = node.login(RECIPIENT, true);
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/content"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.body.as_slice() == content,
        "the recipient reads exactly what was sent"
    );
    assert_eq!(r.header("sandi-classification").as_deref(), Some("RAHASIA"));
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/content?part=1"));
    assert_eq!(r.text(), "Daftar hadir");
    let view = siti.get(&format!("/api/v1/documents/{rahasia}")).json();
    assert_eq!(view["signature"]["valid"], true);
    assert_eq!(view["signature"]["nip"], ORIGINATOR);
    // The biasa letter opens without step-up.
    let plain = node.login(RECIPIENT, false);
    assert_eq!(
        plain
            .get(&format!("/api/v1/documents/{}/content", ids["biasa"]))
            .status,
        200
    );

    siti
}

fn signature_checks_out(node: &Node, siti: &Client, rahasia: &str, files: &Path) {
    // The signature verifies with openssl against the sandi root.
    let manifest = files.join("manifest.json");
    let signature = files.join("signature.der");
    std::fs::write(
        &manifest,
        siti.get(&format!("/api/v1/documents/{rahasia}/manifest"))
            .body,
    )
    .expect("manifest");
    std::fs::write(
        &signature,
        siti.get(&format!("/api/v1/documents/{rahasia}/signature"))
            .body,
    )
    .expect("sig");
    let out = openssl_cms_verify(node, &signature, &manifest);
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // …and not over a changed manifest.
    let mut changed = std::fs::read(&manifest).expect("read");
    let at = changed
        .iter()
        .position(|b| *b == b'r')
        .expect("a byte to change");
    changed[at] = b'R';
    std::fs::write(&manifest, changed).expect("write");
    let out = openssl_cms_verify(node, &signature, &manifest);
    assert!(
        !out.status.success(),
        "openssl must refuse a changed manifest"
    );
}

fn dual_control_holds_sangat_rahasia(node: &Node, budi: &Client, id: &str) {
    // Held: the recipient neither sees nor opens it.
    let dewi = node.login(BAPPEDA_HEAD, true);
    assert!(!dewi.get("/api/v1/documents?box=inbox").text().contains(id));
    assert_eq!(dewi.get(&format!("/api/v1/documents/{id}")).status, 404);
    assert_eq!(
        budi.get(&format!("/api/v1/documents/{id}")).status,
        200,
        "the originator sees it"
    );
    // Not by the originator, not by the recipient, not without the PIN.
    let r = budi.call("POST", &format!("/api/v1/documents/{id}/approve"), &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        dewi.call("POST", &format!("/api/v1/documents/{id}/approve"), &[])
            .status,
        403
    );
    let joko = node.login(SECOND, false);
    let waiting = joko.get("/api/v1/documents?box=approvals").text();
    assert!(waiting.contains(id), "the approver's list: {waiting}");
    let r = joko.call("POST", &format!("/api/v1/documents/{id}/approve"), &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("PIN"), "{}", r.text());
    let joko = node.login(SECOND, true);
    assert_eq!(
        joko.get(&format!("/api/v1/documents/{id}")).status,
        200,
        "the approver reviews it"
    );
    let r = joko.call("POST", &format!("/api/v1/documents/{id}/approve"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "sent");
    assert_eq!(
        joko.call("POST", &format!("/api/v1/documents/{id}/approve"), &[])
            .status,
        409
    );
    // Now it has gone out.
    assert!(dewi.get("/api/v1/documents?box=inbox").text().contains(id));
    assert_eq!(
        dewi.get(&format!("/api/v1/documents/{id}/content")).status,
        200
    );
}

fn export_opens_with_age(
    siti: &Client,
    ids: &std::collections::HashMap<&'static str, String>,
    content: &[u8],
    files: &Path,
) {
    let rahasia = &ids["rahasia"];
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/export"));
    assert_eq!(
        r.status,
        400,
        "no personal key registered yet: {}",
        r.text()
    );
    // The official's own age key, made by the standard tool.
    let identity = files.join("siti.key");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&identity)
        .output()
        .expect("age-keygen");
    assert!(out.status.success());
    let recipient = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .last()
        .expect("age-keygen prints the public key")
        .to_owned();
    let r = siti.call(
        "PUT",
        "/api/v1/me/recipient",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &json!({ "recipient": "age1nope" }).to_string(),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = siti.call(
        "PUT",
        "/api/v1/me/recipient",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &json!({ "recipient": recipient }).to_string(),
        ],
    );
    // Registered once Siti proves she holds the key: she decrypts the challenge with age.
    assert_eq!(r.status, 202, "{}", r.text());
    let answer = age_decrypt(&r.json(), &identity, files);
    let r = siti.post_json("/api/v1/me/recipient/confirm", &json!({ "answer": answer }));
    assert_eq!(r.status, 204, "{}", r.text());
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/export"));
    assert_eq!(r.status, 200, "{}", r.text());
    let exported = files.join("surat.pdf.age");
    std::fs::write(&exported, &r.body).expect("write export");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .arg(&exported)
        .output()
        .expect("age -d");
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == content,
        "the exported copy opens to the letter"
    );
    // Plaintext download follows the handling table: not for RAHASIA, yes for BIASA.
    let r = siti.get(&format!(
        "/api/v1/documents/{rahasia}/content?download=true"
    ));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["policies"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("no-plaintext-export")))
    );
    let r = siti.get(&format!(
        "/api/v1/documents/{}/content?download=true",
        ids["biasa"]
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-disposition")
            .is_some_and(|v| v.starts_with("attachment"))
    );
}

/// An application's client: the quickstart's `e-office` certificate and key.
fn app_call(node: &Node, path: &str, body: &serde_json::Value) -> Response {
    let app = node.data().join("apps/e-office");
    let cert = app.join("client.pem");
    let key = app.join("client.key");
    node.client("app").call(
        "POST",
        path,
        &[
            "--cert",
            cert.to_str().expect("path"),
            "--key",
            key.to_str().expect("path"),
            "-H",
            "content-type: application/json",
            "--data-binary",
            &body.to_string(),
        ],
    )
}

fn openssl_verifies(node: &Node, signature_b64: &str, content: &Path, files: &Path) -> bool {
    use base64::Engine;
    let sig = files.join("app-signature.der");
    std::fs::write(
        &sig,
        base64::engine::general_purpose::STANDARD
            .decode(signature_b64)
            .expect("base64"),
    )
    .expect("write");
    openssl_cms_verify(node, &sig, content).status.success()
}

/// `openssl cms -verify` of a detached DER signature over `content`, against the sandi root.
fn openssl_cms_verify(node: &Node, signature: &Path, content: &Path) -> std::process::Output {
    Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
            "-in",
        ])
        .arg(signature)
        .arg("-content")
        .arg(content)
        .arg("-CAfile")
        .arg(node.ca())
        .output()
        .expect("openssl")
}

async fn applications_sign_over_mutual_tls(node: &Node, files: &Path) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let doc = files.join("kontrak.txt");
    std::fs::write(&doc, "Kontrak pengadaan 2026").expect("write");
    let bytes = std::fs::read(&doc).expect("read");

    // Bytes, and a SHA-256 digest of the same bytes: both verify with openssl over the file.
    let r = app_call(node, "/api/v1/sign", &json!({ "content": b64(&bytes) }));
    assert_eq!(r.status, 200, "{}", r.text());
    let sig = r.json()["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    assert_eq!(r.json()["signer"], "application:e-office");
    assert!(
        openssl_verifies(node, &sig, &doc, files),
        "openssl cms -verify (bytes)"
    );
    // Budi's key is P-384 (his clearance's, by the handling table): it signs a SHA-384 digest,
    // and a SHA-256 one is refused, saying which to give.
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA384, &bytes));
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    // The registration alone is not the official's consent: he delegates, with his PIN.
    let as_originator = json!({ "sha384": digest, "as_official": ORIGINATOR });
    let r = app_call(node, "/api/v1/sign", &as_originator);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = node.login(ORIGINATOR, true).post_json(
        "/api/v1/me/delegations",
        &json!({ "application_id": "e-office", "max_classification": "biasa", "days": 30 }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], true, "{}", r.text());
    let r = app_call(
        node,
        "/api/v1/sign",
        &json!({ "sha256": sha256, "as_official": ORIGINATOR }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("`sha384`"), "{}", r.text());
    let r = app_call(node, "/api/v1/sign", &as_originator);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["signer"], format!("official:{ORIGINATOR}"));
    let by_official = r.json()["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    assert!(
        openssl_verifies(node, &by_official, &doc, files),
        "openssl cms -verify (digest)"
    );
    // Only for the officials its registration names.
    let r = app_call(
        node,
        "/api/v1/sign",
        &json!({ "sha384": digest, "as_official": RECIPIENT }),
    );
    assert_eq!(r.status, 403, "{}", r.text());

    // Verify: good, then over other bytes.
    let r = app_call(
        node,
        "/api/v1/verify",
        &json!({ "content": b64(&bytes), "signature": by_official }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["signer"]["nip"], ORIGINATOR);
    assert_eq!(v["revocation"]["status"], "good");
    let r = app_call(
        node,
        "/api/v1/verify",
        &json!({ "content": b64(b"lain"), "signature": by_official }),
    );
    assert_eq!(r.json()["valid"], false, "{}", r.text());

    // Bad input.
    for body in [
        json!({ "content": "not base64!" }),
        json!({ "content": b64(&bytes), "sha256": digest }),
        json!({ "sha256": "abc" }),
        json!({ "sha384": sha256 }),
        json!({ "sha256": sha256, "sha384": digest }),
        json!({ "content": b64(&bytes), "signer": "x" }),
    ] {
        let r = app_call(node, "/api/v1/sign", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    // Without a client certificate.
    let r = node
        .client("anon")
        .post_json("/api/v1/sign", &json!({ "content": b64(&bytes) }));
    assert_eq!(r.status, 401, "{}", r.text());

    // The client certificate revoked by keymgr and the new CRL published: refused.
    revoke_client_certificate(node).await;
    let r = app_call(node, "/api/v1/sign", &json!({ "content": b64(&bytes) }));
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());
}

/// The custodians open keymgr's online keystore with two dev shares.
fn keymgr_quorum(node: &Node) -> (keymgr::ca::Home, keymgr::ceremony::QuorumSession) {
    common::dev_quorum(node.data())
}

async fn an_admin_registers_an_official(node: &Node, body: &Path) {
    const NEW: &str = "199101012020121009";
    let registration = json!({
        "nip": NEW, "name": "Rina Kusuma", "agency": "bappeda", "position": "Kepala Bidang",
        "clearance": "rahasia", "roles": ["pejabat"],
    });
    // Not by an ordinary official.
    let siti = node.login(RECIPIENT, true);
    assert_eq!(
        siti.post_json("/api/v1/admin/officials", &registration)
            .status,
        403
    );
    let maya = node.login("198806062012122006", true);
    let r = maya.post_json("/api/v1/admin/officials", &json!({ "nip": "123" , "name": "x", "agency": "x", "position": "x", "clearance": "biasa", "roles": [] }));
    assert_eq!(r.status, 400, "a NIP has 18 digits: {}", r.text());
    let r = maya.post_json("/api/v1/admin/officials", &registration);
    assert_eq!(r.status, 201, "{}", r.text());
    let csr = r.json()["csr_pem"].as_str().expect("csr").to_owned();
    let code = r.json()["enrolment_code"]
        .as_str()
        .expect("enrolment code")
        .to_owned();
    second_approval(node, &maya, &r.json(), NEW);
    assert_eq!(
        maya.post_json("/api/v1/admin/officials", &registration)
            .status,
        409
    );

    // keymgr issues the certificate from the request; the admin installs it.
    let (home, quorum) = keymgr_quorum(node);
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let issued = keymgr::issue::issue(
        &home,
        quorum.online().expect("online"),
        &inv,
        keymgr::issue::Request::Official(keymgr::ca::OfficialRequest {
            name: "Rina Kusuma".into(),
            nip: NEW.into(),
            agency: "bappeda".into(),
            days: 365,
        }),
        keymgr::issue::KeySource::Csr(keymgr::ca::pem_to_der(&csr).expect("csr der")),
    )
    .await
    .expect("issue");
    let put = |nip: &str, pem: &str| {
        maya.call(
            "PUT",
            &format!("/api/v1/admin/officials/{nip}/certificate"),
            &[
                "-H",
                "content-type: application/x-pem-file",
                "--data-binary",
                pem,
            ],
        )
    };
    let pem = issued.certificate_pem();
    assert_eq!(put(RECIPIENT, &pem).status, 400, "another official's NIP");
    let r = put(NEW, &pem);
    assert_eq!(r.status, 204, "{}", r.text());

    // The new official sets their own secrets with the code, and works at once.
    let r = node.client("rina-enrol").post_json(
        "/api/v1/enrol",
        &json!({ "nip": NEW, "code": code, "password": "rahasia-rina-2026", "pin": "246810" }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let mut rina = node.client("rina");
    let r = rina.post_json(
        "/api/v1/session",
        &json!({ "nip": NEW, "password": "rahasia-rina-2026" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    rina.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    assert_eq!(
        rina.post_json("/api/v1/session/step-up", &json!({ "pin": "246810" }))
            .status,
        200
    );
    let r = create(&rina, &letter("rahasia", &[OTHER_AGENCY]), body, None);
    assert_eq!(r.status, 201, "{}", r.text());
    // And is suspended through the API.
    let r = maya.call(
        "PUT",
        &format!("/api/v1/admin/officials/{NEW}/status"),
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            r#"{"status":"suspended"}"#,
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(rina.get("/api/v1/me").status, 401);
}

/// What the custodians do with keymgr: revoke the e-office client certificate and sign a new
/// Network CA CRL, which the operator copies to the node.
async fn revoke_client_certificate(node: &Node) {
    use keymgr::ca::Ca;
    let (home, quorum) = keymgr_quorum(node);
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let pem = std::fs::read_to_string(node.data().join("apps/e-office/client.pem")).expect("pem");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    let serial = keymgr::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string());
    let online = quorum.online().expect("online");
    keymgr::revoke::revoke(&home, online, &inv, &serial, "keyCompromise", None)
        .await
        .expect("revoke");
    let crl = keymgr::revoke::crl(&home, online, &inv, Ca::Network, time::Duration::days(7))
        .await
        .expect("crl");
    sandi_e2e::install(&node.data().join("crl/network-ca.crl"), &crl.der);
}

fn audit_is_exported_and_proved(node: &Node) {
    // The SIEM export: every entry as a JSON line, from a sequence number on.
    let out = docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(node.data())
        .output()
        .expect("docsvc audit export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() > 20, "{} entries", lines.len());
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i, "{l}");
        assert!(l["leaf_hash"].as_str().is_some_and(|h| h.len() == 64));
        assert!(l["policy_version"].as_str().is_some_and(|v| v.len() == 64));
    }
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "sign" && l["actor"] == "application:e-office")
    );
    assert!(lines.iter().any(|l| {
        l["decision"] == "deny"
            && l["policies"]
                .as_array()
                .is_some_and(|p| p.contains(&json!("no-read-up")))
    }));
    let out = docsvc()
        .args(["audit", "export", "--since", "5", "--data-dir"])
        .arg(node.data())
        .output()
        .expect("docsvc audit export");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        lines.len() - 5
    );

    // An inclusion proof, for auditors only, that checks against the signed head.
    let auditor = node.login(AUDITOR, false);
    let r = auditor.get("/api/v1/audit/proof/3");
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    let hex32 = |v: &serde_json::Value| -> [u8; 32] {
        hex::decode(v.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    let path: Vec<[u8; 32]> = p["path"]
        .as_array()
        .expect("path")
        .iter()
        .map(hex32)
        .collect();
    let size = usize::try_from(p["size"].as_u64().expect("size")).expect("size");
    assert!(keymgr::merkle::verify_inclusion(
        &hex32(&p["leaf_hash"]),
        3,
        size,
        &path,
        &hex32(&p["head"]["root"])
    ));
    assert_eq!(p["leaf_hash"], lines[3]["leaf_hash"]);
    let r = node.login(RECIPIENT, true).get("/api/v1/audit/proof/3");
    assert_eq!(r.status, 403, "{}", r.text());
}

fn others_see_nothing(node: &Node, rahasia: &str) {
    // Who may not read sees neither the letter nor its subject.
    for nip in [TERBATAS, OTHER_AGENCY, AUDITOR] {
        let c = node.login(nip, true);
        let inbox = c.get("/api/v1/documents?box=inbox");
        assert_eq!(inbox.status, 200);
        assert!(
            !inbox.text().contains("Undangan rapat (rahasia)"),
            "{nip} sees the subject: {}",
            inbox.text()
        );
        let r = c.get(&format!("/api/v1/documents/{rahasia}"));
        assert_eq!(r.status, 403, "{nip}: {}", r.text());
        assert!(!r.text().contains("Undangan"), "a refusal names no subject");
    }
    let agus = node.login(TERBATAS, false);
    let r = agus.get(&format!("/api/v1/documents/{rahasia}"));
    assert!(
        r.json()["alasan"]
            .as_str()
            .is_some_and(|a| a.contains("melebihi izin akses TERBATAS")),
        "{}",
        r.text()
    );
}

fn the_openapi_document_lists_what_is_served(node: &Node) {
    let r = node.client("anon").get("/api/v1/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    // Each documented operation is routed: the fallback's "no such endpoint" never answers.
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{nip}", "000000000000000000")
            .replace("{seq}", "0");
        for method in ops.as_object().expect("operations").keys() {
            let r = node
                .client("anon")
                .call(&method.to_uppercase(), &concrete, &[]);
            assert!(
                !(r.status == 404 && r.text().contains("no such endpoint")),
                "{method} {path} is documented but not served"
            );
        }
    }
    // …and what is not documented is not served.
    let r = node.client("anon").get("/api/v1/undocumented");
    assert!(r.status == 404 && r.text().contains("no such endpoint"));
    // The same document comes from the binary without a node.
    let out = docsvc().arg("openapi").output().expect("docsvc openapi");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed["paths"], doc["paths"]);
}

async fn expired_sessions_are_refused(node: &Node) {
    let c = node.login(OTHER_AGENCY, false);
    assert_eq!(c.get("/api/v1/me").status, 200);
    execute(
        &node.database_url,
        &format!(
            "UPDATE sessions SET expires_at = '2020-01-01T00:00:00Z' WHERE nip = '{OTHER_AGENCY}'"
        ),
    )
    .await;
    let r = c.get("/api/v1/me");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
}

fn bad_input_is_refused(node: &Node, budi: &Client, body: &Path) {
    // Bad input gets a clear 4xx problem.
    let meta = body.with_file_name("latin1.json");
    let mut bytes = br#"{"nomor":"1","perihal":"Rapat "#.to_vec();
    bytes.push(0xe9); // é in Latin-1: not UTF-8
    bytes.extend_from_slice(br#"","classification":"biasa","urgency":"biasa","recipients":[]}"#);
    std::fs::write(&meta, bytes).expect("write");
    let r = budi.call(
        "POST",
        "/api/v1/documents",
        &[
            "-F",
            &format!("metadata=<{};type=application/json", meta.display()),
            "-F",
            &format!("body=@{};type=application/pdf", body.display()),
        ],
    );
    assert_eq!(r.status, 400, "invalid UTF-8 in metadata: {}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:invalid-request");
    let r = create(
        budi,
        &json!({ "nomor": "1", "perihal": "x", "classification": "rahasia", "urgency": "segera", "recipients": [RECIPIENT], "colour": "red" }),
        body,
        None,
    );
    assert_eq!(r.status, 400, "unknown field: {}", r.text());
    assert!(r.text().contains("colour"), "{}", r.text());
    let r = create(budi, &letter("super_rahasia", &[RECIPIENT]), body, None);
    assert_eq!(r.status, 400, "wrong classification: {}", r.text());
    let r = create(budi, &letter("rahasia", &[TERBATAS]), body, None);
    assert_eq!(r.status, 400, "recipient below the level: {}", r.text());
    let r = budi.call(
        "POST",
        "/api/v1/session/step-up",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            "{\"pin\":",
        ],
    );
    assert_eq!(r.status, 400, "malformed JSON: {}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:invalid-request");
    // A letter that is not multipart/form-data: the extractor's refusal, as a problem too.
    let r = budi.post_json("/api/v1/documents", &json!({ "nomor": "1" }));
    assert_eq!(r.status, 400, "not multipart: {}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.json()["type"], "urn:sandi:problem:invalid-request");
    let r = budi.post_json("/api/v1/session/step-up", &json!({ "pin": "000000x" }));
    assert_eq!(r.status, 401, "wrong PIN: {}", r.text());
    assert!(r.text().contains("PIN"), "{}", r.text());
    let mut no_csrf = budi.clone();
    no_csrf.csrf = None;
    // A small letter: a refused upload is not read (issue 15), so a client still sending a
    // large one may see the connection close instead of the answer.
    let small = body.with_file_name("kecil.pdf");
    std::fs::write(&small, b"%PDF-1.7\nkecil\n").expect("write");
    let r = create(&no_csrf, &letter("biasa", &[RECIPIENT]), &small, None);
    assert_eq!(r.status, 403, "missing CSRF: {}", r.text());
    let huge = body.with_file_name("huge.json");
    std::fs::write(&huge, format!("{{\"nip\":\"{}\"}}", "9".repeat(2 << 20))).expect("write");
    let r = node.client("nobody").call(
        "POST",
        "/api/v1/session",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &format!("@{}", huge.display()),
        ],
    );
    // Refused after 64 KiB with the connection closed, the rest unread (issue 15): curl, which
    // reads no answer until it has sent everything, may see the close instead of the 413
    // (attack_input_e2e shows the 413 to a client that reads while it sends).
    assert!(
        r.status == 413 || r.status == 0,
        "oversized body: {} {}",
        r.status,
        r.text()
    );
    let r = node.client("nobody").get("/api/v1/documents");
    assert_eq!(r.status, 401, "{}", r.text());
    let r = node.client("nobody").get("/api/v1/nothing-here");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["type"], "urn:sandi:problem:not-found");
}

async fn tampering_is_caught(
    node: &Node,
    siti: &Client,
    ids: &std::collections::HashMap<&'static str, String>,
) {
    let rahasia = &ids["rahasia"];
    // The access log verifies, and every decision above is in it.
    let out = node.audit_verify();
    assert!(
        out.status.success(),
        "audit verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));

    // Tampering with the stored letter is detected and named.
    execute(
        &node.database_url,
        &format!("UPDATE documents SET classification = 'biasa' WHERE id = '{rahasia}'"),
    )
    .await;
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/content"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:integrity");
    assert!(r.text().contains("classification"), "{}", r.text());
    execute(
        &node.database_url,
        &format!("UPDATE documents SET classification = 'rahasia' WHERE id = '{rahasia}'"),
    )
    .await;
    // Another letter's ciphertext swapped in (its place in the content store).
    let other = &ids["terbatas"];
    execute(
        &node.database_url,
        &format!("UPDATE content_files SET document_id = 'swap' WHERE document_id = '{rahasia}'"),
    )
    .await;
    execute(
        &node.database_url,
        &format!(
            "UPDATE content_files SET document_id = '{rahasia}' WHERE document_id = '{other}'"
        ),
    )
    .await;
    let r = siti.get(&format!("/api/v1/documents/{rahasia}/content"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("ciphertext"), "{}", r.text());
    // A changed log row.
    execute(
        &node.database_url,
        "UPDATE audit_log SET entry = replace(entry, '\"allow\"', '\"deny\"') WHERE seq = 3",
    )
    .await;
    let out = node.audit_verify();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audit entry 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_on_sqlite() {
    whole_flow(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    whole_flow(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

#[test]
fn sigterm_stops_the_node_cleanly() {
    let node = start(None);
    let pid = node.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut node = node;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = node.child.try_wait().expect("wait") {
            assert!(s.success(), "docsvc exits 0 on SIGTERM: {s}");
            break;
        }
        assert!(Instant::now() < deadline, "docsvc did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_gigabyte_letter_round_trips_in_bounded_memory() {
    const SIZE: u64 = 1 << 30;
    let node = start(None);
    let files = tempfile::tempdir().expect("tempdir");
    let big = files.path().join("besar.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
        // Each MiB differs (its index leads it), so a reordered or repeated chunk shows.
        let mut block: Vec<u8> = (0..1u32 << 20)
            .map(|j| u8::try_from(j % 251).unwrap_or(0))
            .collect();
        for i in 0..(SIZE >> 20) {
            block[..8].copy_from_slice(&i.to_be_bytes());
            f.write_all(&block).expect("write");
        }
    }
    let budi = node.login(ORIGINATOR, true);
    let r = create(&budi, &letter("terbatas", &[RECIPIENT]), &big, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let m = r.json();
    assert_eq!(m["parts"][0]["size"], SIZE);
    let id = m["id"].as_str().expect("id").to_owned();
    let siti = node.login(RECIPIENT, true);
    let out = files.path().join("kembali.bin");
    let r = siti.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200);
    let digest = |p: &Path| {
        let out = Command::new("sha256sum")
            .arg(p)
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        digest(&out),
        digest(&big),
        "the gigabyte comes back unchanged"
    );
    assert_eq!(
        digest(&out),
        m["parts"][0]["sha256"].as_str().expect("hash")
    );
    let peak = common::peak_rss_kib(node.child.id());
    assert!(
        peak < 150 * 1024,
        "server peak RSS {peak} KiB is over 150 MiB"
    );
    eprintln!(
        "server peak RSS for a 1 GiB round trip: {} MiB",
        peak / 1024
    );
}

/// The serial of the certificate the node presents, as `openssl s_client` sees it (verified
/// against the sandi root).
fn served_serial(node: &Node) -> String {
    let addr = node.base.trim_start_matches("https://").to_owned();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -CAfile {} -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial",
            node.ca().display()
        ))
        .output()
        .expect("openssl s_client");
    assert!(
        out.status.success(),
        "s_client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_node_certificate_is_served_after_sighup() {
    let node = start(None);
    let before = served_serial(&node);
    // keymgr renews the node certificate for the same TLS key; the operator installs it.
    let (home, quorum) = keymgr_quorum(&node);
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let layout = docsvc::node::Layout::new(node.data());
    let keys = docsvc::node::NodeKeys::load(&layout).expect("keys");
    let tls = docsvc::node::open_tls_keystore(&layout).expect("tls keystore");
    let csr = docsvc::crypto::tls::csr_for(tls.as_ref(), keys.tls, "hub").expect("csr");
    let renewed = keymgr::issue::rotate(
        &home,
        quorum.online().expect("online"),
        &inv,
        &keymgr::inventory::normalise_serial(&before),
        keymgr::issue::KeySource::Csr(csr),
    )
    .await
    .expect("rotate");
    let network = std::fs::read_to_string(node.data().join("ca/network-ca.pem")).expect("ca");
    std::fs::write(
        layout.tls_chain(),
        format!("{}{network}", renewed.certificate_pem()),
    )
    .expect("chain");
    let status = Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let want = keymgr::inventory::normalise_serial(&renewed.record.serial).replace(':', "");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = served_serial(&node).replace(':', "");
        if now.trim_start_matches('0') == want.trim_start_matches('0') {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {now}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        node.client("anon").get("/readyz").status,
        200,
        "still serving, still unsealed"
    );
}

const PENGELOLA: &str = "198806062012122006"; // Maya, diskominfo, pengelola_sandi

async fn count(db: &str, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(db)
        .await
        .expect("connect to the node's database");
    sqlx::query(sql)
        .fetch_one(&mut c)
        .await
        .expect(sql)
        .try_get::<i64, _>(0)
        .expect("a count")
}

fn b64_to_file(b64: &str, path: &Path) {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    std::fs::write(path, bytes).expect("write");
}

fn offline(node: &Node, args: &[&str]) -> std::process::Output {
    docsvc()
        .args(args)
        .arg("--data-dir")
        .arg(node.data())
        .arg("--dev-unseal")
        .output()
        .expect("docsvc")
}

/// Lowering a classification: refused to a recipient and without a reason (403, logged);
/// with a reason the originator signs a second version, the first is kept and still verifies,
/// the content is unchanged and is served under the new level.
fn reclassification_keeps_both_versions(node: &Node, budi: &Client, body: &Path, files: &Path) {
    let r = create(budi, &letter("rahasia", &[RECIPIENT]), body, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/documents/{id}/reclassify");
    let siti = node.login(RECIPIENT, true);
    // A RAHASIA view carries the reader's watermark.
    let r = siti.get(&format!("/api/v1/documents/{id}/content"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("sandi-watermark")
            .is_some_and(|w| w.contains(&format!("NIP {RECIPIENT}"))),
        "{}",
        r.headers
    );
    let r = siti.post_json(
        &path,
        &json!({ "classification": "terbatas", "reason": "x" }),
    );
    assert_eq!(
        r.status,
        403,
        "a recipient may not reclassify: {}",
        r.text()
    );
    let r = budi.post_json(&path, &json!({ "classification": "terbatas" }));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["policies"][0],
        "lowering-needs-reason",
        "{}",
        r.text()
    );
    let r = budi.post_json(&path, &json!({ "classification": "rahsia", "reason": "x" }));
    assert_eq!(r.status, 400, "an unknown level: {}", r.text());
    let r = budi.post_json(
        &path,
        &json!({ "classification": "terbatas", "reason": "uji konsekuensi: tidak lagi rahasia" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["classification"], "terbatas");
    assert_eq!(m["reclassified"]["from"], "rahasia");
    assert_eq!(m["reclassified"]["version"], 2);

    // The content is the same and is now served as TERBATAS.
    let out = files.join("reclassified.pdf");
    let r = siti.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("sandi-classification").as_deref(),
        Some("TERBATAS")
    );
    assert!(
        r.header("sandi-watermark").is_none(),
        "TERBATAS is not watermarked"
    );
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(body).expect("read")
    );
    // Both versions verify with openssl: the current one and the kept first one.
    let current = files.join("v2.json");
    let r = siti.download(&format!("/api/v1/documents/{id}/manifest"), &current);
    assert_eq!(r.status, 200);
    let sig = files.join("v2.p7s");
    let r = siti.download(&format!("/api/v1/documents/{id}/signature"), &sig);
    assert_eq!(r.status, 200);
    let o = openssl_cms_verify(node, &sig, &current);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = siti.get(&format!("/api/v1/documents/{id}/versions"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["classification"], "rahasia");
    let first = files.join("v1.json");
    b64_to_file(v[0]["manifest_bytes"].as_str().expect("bytes"), &first);
    let first_sig = files.join("v1.p7s");
    b64_to_file(v[0]["signature"].as_str().expect("sig"), &first_sig);
    let o = openssl_cms_verify(node, &first_sig, &first);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    search_finds_the_letter(&siti, &id);
    // The new version names the old one by hash.
    let digest = ring::digest::digest(&ring::digest::SHA256, &std::fs::read(&first).expect("v1"));
    assert_eq!(m["reclassified"]["previous_sha256"], hex::encode(digest));
}

/// Search over what the caller may see: by words of the subject and by classification.
fn search_finds_the_letter(siti: &Client, id: &str) {
    let found = |query: &str| {
        siti.get(&format!("/api/v1/documents?box=inbox&{query}"))
            .json()
    };
    let hits = found("q=UNDANGAN%20rapat&classification=terbatas");
    assert!(
        hits.as_array()
            .is_some_and(|a| a.iter().any(|l| l["id"] == id)),
        "{hits}"
    );
    let hits = found("q=rapat&classification=rahasia");
    assert!(
        hits.as_array()
            .is_some_and(|a| a.iter().all(|l| l["id"] != id)),
        "{hits}"
    );
    assert_eq!(
        found("q=%25"),
        json!([]),
        "a % is a literal, not a wildcard"
    );
    let r = siti.get("/api/v1/documents?classification=rahsia");
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Destruction after retention: refused without the PIN and before the retention ends; after
/// it, the ciphertext is gone, readers get 410, and the signed record verifies with openssl.
async fn destruction_after_retention(node: &Node, budi: &Client, body: &Path, files: &Path) {
    let mut old = letter("biasa", &[RECIPIENT]);
    old["dated"] = json!("2020-01-02");
    // Past the inline limit, so that its content is in the content store's files.
    let large = files.join("arsip-lama.pdf");
    std::fs::write(&large, vec![b'%'; 200 * 1024]).expect("write");
    let r = create(budi, &old, &large, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let old_id = r.json()["id"].as_str().expect("id").to_owned();
    // Retention counts from when the node stored a letter, not from its date: years pass.
    execute(
        &node.database_url,
        &format!("UPDATE documents SET created_at = '2020-01-02T08:00:00Z' WHERE id = '{old_id}'"),
    )
    .await;
    let r = create(budi, &letter("biasa", &[RECIPIENT]), body, None);
    let new_id = r.json()["id"].as_str().expect("id").to_owned();
    let reason = json!({ "reason": "jadwal retensi arsip 2026: musnah" });

    let maya = node.login(PENGELOLA, false);
    let r = maya.post_json(&format!("/api/v1/documents/{old_id}/destroy"), &reason);
    assert_eq!(
        r.status,
        403,
        "the record is signed with the PIN: {}",
        r.text()
    );
    let siti = node.login(RECIPIENT, true);
    let r = siti.post_json(&format!("/api/v1/documents/{old_id}/destroy"), &reason);
    assert_eq!(r.status, 403, "a recipient may not destroy: {}", r.text());
    let maya = node.login(PENGELOLA, true);
    let r = maya.post_json(&format!("/api/v1/documents/{new_id}/destroy"), &reason);
    assert_eq!(r.status, 409, "retention not over: {}", r.text());
    assert!(
        r.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("kept until"))
    );
    let r = maya.post_json(&format!("/api/v1/documents/{old_id}/destroy"), &json!({}));
    assert_eq!(r.status, 400, "a reason is required: {}", r.text());

    let indexed =
        |id: &str| format!("SELECT COUNT(*) FROM content_files WHERE document_id = '{id}'");
    assert_eq!(count(&node.database_url, &indexed(&old_id)).await, 1);
    let files_before = sandi_e2e::node::content_file_count(node.dir.path());
    let r = maya.post_json(&format!("/api/v1/documents/{old_id}/destroy"), &reason);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        count(&node.database_url, &indexed(&old_id)).await,
        0,
        "its age headers are gone from the database"
    );
    assert_eq!(
        sandi_e2e::node::content_file_count(node.dir.path()),
        files_before - 1,
        "its file is gone from the content store"
    );
    let d = r.json();
    assert_eq!(d["record"]["destroyed_by"], PENGELOLA);
    assert_eq!(d["record"]["retention_ended"], "2022-01-02");
    let record = files.join("destruction.json");
    b64_to_file(d["record_bytes"].as_str().expect("bytes"), &record);
    let sig = files.join("destruction.p7s");
    b64_to_file(d["signature"].as_str().expect("sig"), &sig);
    let o = openssl_cms_verify(node, &sig, &record);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let r = siti.get(&format!("/api/v1/documents/{old_id}/content"));
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:destroyed");
    let inbox = siti.get("/api/v1/documents?box=inbox").text();
    assert!(
        !inbox.contains(&old_id),
        "a destroyed letter leaves the inbox"
    );
    assert!(inbox.contains(&new_id));
    let chunks = count(
        &node.database_url,
        &format!("SELECT COUNT(*) FROM chunks WHERE document_id = '{old_id}'"),
    )
    .await;
    assert_eq!(chunks, 0, "the ciphertext is removed");
    let r = siti.get(&format!("/api/v1/documents/{old_id}/destruction"));
    assert_eq!(
        r.status, 404,
        "the record is for the officer, auditors and the originator"
    );
    let r = budi.get(&format!("/api/v1/documents/{old_id}/destruction"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = maya.post_json(&format!("/api/v1/documents/{old_id}/destroy"), &reason);
    assert_eq!(r.status, 410, "destroyed once: {}", r.text());
}

/// Rotation: new archive and official keys, `docsvc rewrap` moves every letter to them (and a
/// second run finds nothing to do), the retired key is destroyed once unused; a letter left
/// wrapped only to a destroyed key is reported, not lost silently.
fn rotation_reaches_the_letters(node: &Node, budi: &Client, body: &Path) {
    let r = create(budi, &letter("rahasia", &[RECIPIENT]), body, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let ok = |o: &std::process::Output| {
        assert!(
            o.status.success(),
            "{} {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&offline(node, &["keys", "rotate-archive", "rahasia"]));
    ok(&offline(node, &["keys", "rotate-official", RECIPIENT]));
    let out = ok(&offline(node, &["rewrap", "--batch", "2"]));
    let rewrapped: u64 = out
        .split(", ")
        .find_map(|p| p.strip_suffix(" re-wrapped"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("rewrap summary: {out}"));
    assert!(rewrapped >= 2, "rahasia and Siti's letters move: {out}");
    let again = ok(&offline(node, &["rewrap"]));
    assert!(again.contains(" 0 re-wrapped"), "nothing left: {again}");
    let destroyed = ok(&offline(node, &["keys", "destroy-retired"]));
    assert!(
        destroyed.contains("destroyed retired archive key"),
        "{destroyed}"
    );

    // The running node reads the letter with the new key, without a restart.
    let siti = node.login(RECIPIENT, true);
    let r = siti.get(&format!("/api/v1/documents/{id}/content"));
    assert_eq!(r.status, 200, "{}", r.text());

    // A forced destruction before a rewrap leaves letters no key opens: reported by name.
    ok(&offline(node, &["keys", "rotate-archive", "rahasia"]));
    ok(&offline(node, &["keys", "destroy-retired", "--force"]));
    let o = offline(node, &["rewrap"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success(),
        "unopenable letters fail the run: {out}"
    );
    assert!(out.contains(&format!("UNOPENABLE {id}")), "{out}");
}

/// One refusal the policy gives over the API: who asks, what, and the policy that refuses.
struct Denial {
    who: &'static str,
    step_up: bool,
    method: &'static str,
    path: String,
    form: Option<serde_json::Value>,
    json: Option<serde_json::Value>,
    action: &'static str,
    document: Option<String>,
    /// The refusing policy; empty when nothing permits it (deny by default).
    policy: &'static str,
}

/// Every denial of the policy matrix that applies over the API: refused with 403 and the
/// policy's reasons in both languages, and logged as a `deny` entry naming the policy.
fn denials_are_refused_and_logged(node: &Node, budi: &Client, body: &Path) {
    let r = create(budi, &letter("rahasia", &[RECIPIENT]), body, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let rahasia = r.json()["id"].as_str().expect("id").to_owned();
    let r = create(budi, &letter("biasa", &[RECIPIENT]), body, None);
    let biasa = r.json()["id"].as_str().expect("id").to_owned();
    let doc = |id: &str, tail: &str| format!("/api/v1/documents/{id}{tail}");
    let read = |who, step_up, policy| Denial {
        who,
        step_up,
        method: "GET",
        path: doc(&rahasia, ""),
        form: None,
        json: None,
        action: "read",
        document: Some(rahasia.clone()),
        policy,
    };
    let cases = vec![
        read(TERBATAS, true, "no-read-up"),
        read(OTHER_AGENCY, true, ""),
        read(AUDITOR, true, "auditors-do-not-read-documents"),
        Denial {
            path: doc(&rahasia, "/content"),
            ..read(RECIPIENT, false, "step-up-to-open")
        },
        Denial {
            path: doc(&rahasia, "/content?download=true"),
            action: "export",
            ..read(RECIPIENT, true, "no-plaintext-export")
        },
        Denial {
            method: "POST",
            path: "/api/v1/documents".into(),
            form: Some(letter("rahasia", &[RECIPIENT])),
            action: "sign",
            document: None,
            ..read(ORIGINATOR, false, "pin-to-sign")
        },
        Denial {
            method: "POST",
            path: "/api/v1/documents".into(),
            form: Some(letter("rahasia", &[RECIPIENT])),
            action: "create",
            document: None,
            ..read(TERBATAS, true, "no-read-up")
        },
        Denial {
            method: "POST",
            path: "/api/v1/documents".into(),
            form: Some(letter("biasa", &[RECIPIENT])),
            action: "create",
            document: None,
            ..read(AUDITOR, true, "auditors-do-not-read-documents")
        },
        Denial {
            method: "POST",
            path: doc(&rahasia, "/reclassify"),
            json: Some(json!({ "classification": "biasa", "reason": "tidak rahasia lagi" })),
            action: "reclassify",
            ..read(RECIPIENT, true, "")
        },
        Denial {
            method: "POST",
            path: doc(&biasa, "/destroy"),
            json: Some(json!({ "reason": "retensi" })),
            action: "destroy",
            document: Some(biasa.clone()),
            ..read(RECIPIENT, true, "")
        },
    ];
    for c in &cases {
        refused(node, c, body);
    }
    denials_logged(node, &cases);
}

/// Asks as `c.who` and checks the 403: both reasons and the refusing policy.
fn refused(node: &Node, c: &Denial, body: &Path) {
    let who = node.login(c.who, c.step_up);
    let r = match (&c.form, &c.json) {
        (Some(meta), _) => create(&who, meta, body, None),
        (None, Some(j)) => who.call(
            c.method,
            &c.path,
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &j.to_string(),
            ],
        ),
        (None, None) => who.call(c.method, &c.path, &[]),
    };
    let what = format!("{} {} {} as {}", c.method, c.path, c.action, c.who);
    assert_eq!(r.status, 403, "{what}: {}", r.text());
    let p = r.json();
    assert_eq!(p["type"], "urn:sandi:problem:policy-denied", "{what}");
    assert!(
        p["alasan"]
            .as_str()
            .is_some_and(|a| a.starts_with("ditolak"))
            && p["reason"]
                .as_str()
                .is_some_and(|a| a.starts_with("denied")),
        "{what}: reasons in both languages: {p}"
    );
    let named: Vec<&str> = p["policies"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if c.policy.is_empty() {
        assert!(named.is_empty(), "{what}: deny by default: {p}");
    } else {
        assert_eq!(named.first().copied(), Some(c.policy), "{what}: {p}");
    }
}

/// Each refusal is in the access log as a `deny` naming the policy.
fn denials_logged(node: &Node, cases: &[Denial]) {
    let out = docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(node.data())
        .output()
        .expect("docsvc audit export");
    assert!(out.status.success());
    let log: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for c in cases {
        let actor = format!("official:{}", c.who);
        let logged = log.iter().any(|e| {
            e["actor"] == actor.as_str()
                && e["action"] == c.action
                && e["decision"] == "deny"
                && c.document.as_deref().is_none_or(|d| e["document"] == d)
                && (c.policy.is_empty() || e["policies"][0] == c.policy)
        });
        assert!(
            logged,
            "{} {} as {} is not in the log as a denial",
            c.method, c.path, c.who
        );
    }
}

async fn lifecycle(database_url: Option<&str>) {
    let node = start(database_url);
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nisi surat\n").expect("write body");
    let budi = node.login(ORIGINATOR, true);
    let mut steps = Steps::new();
    steps.run("reclassification_keeps_both_versions", || {
        reclassification_keeps_both_versions(&node, &budi, &body, files.path());
    });
    steps
        .run_async(
            "destruction_after_retention",
            destruction_after_retention(&node, &budi, &body, files.path()),
        )
        .await;
    steps.run("rotation_reaches_the_letters", || {
        rotation_reaches_the_letters(&node, &budi, &body);
    });
    steps.run("denials_are_refused_and_logged", || {
        denials_are_refused_and_logged(&node, &budi, &body);
    });
    steps.run("the_log_verifies", || {
        let o = node.audit_verify();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
    steps.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn letter_lifecycle_on_sqlite() {
    lifecycle(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn letter_lifecycle_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    lifecycle(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// A node killed (SIGKILL) in the middle of an upload leaves part of a content file and no
/// letter; restarted, it sweeps the file as abandoned, and the log still verifies.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_upload_leaves_nothing_behind() {
    let mut node = start(None);
    let budi = node.login(ORIGINATOR, true);
    let files = tempfile::tempdir().expect("tempdir");
    let big = files.path().join("besar.pdf");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(256 << 20))
        .expect("a 256 MiB file");
    let db = node.database_url.clone();
    let meta = format!(
        "metadata={};type=application/json",
        letter("rahasia", &[RECIPIENT])
    );
    let body = format!("body=@{};type=application/pdf", big.display());
    // Slowed down so that the kill lands mid-upload.
    let mut upload = budi.spawn(
        "POST",
        "/api/v1/documents",
        &["--limit-rate", "32M", "-F", &meta, "-F", &body],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let written = |data: &Path| -> u64 {
        std::fs::read_dir(data.join("content"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    while written(node.data()) == 0 {
        assert!(Instant::now() < deadline, "no content was stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.child.kill().expect("SIGKILL");
    node.child.wait().expect("wait");
    let _ = upload.kill();
    let _ = upload.wait();
    assert_eq!(sandi_e2e::node::content_file_count(node.data()), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM content_files").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uploads").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM documents").await,
        0,
        "no half letter"
    );

    let config = node.data().join("node.toml");
    let text = std::fs::read_to_string(&config).expect("node.toml");
    let changed = text.replace(
        "abandoned_upload_minutes = 60",
        "abandoned_upload_minutes = 0",
    );
    assert_ne!(text, changed, "{text}");
    std::fs::write(&config, changed).expect("node.toml");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    node.child = docsvc()
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(node.data())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");

    wait_listening(&node.base, &node.ca());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sandi_e2e::node::content_file_count(node.data()) > 0 {
        assert!(
            Instant::now() < deadline,
            "the abandoned file was not swept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uploads").await, 0);
    let o = node.audit_verify();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Kills a process when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two docsvc processes of one node (one data directory) on one PostgreSQL database: letters
/// created through both at once are all stored once, each readable through either process,
/// and the one access log they share verifies.
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_one_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let node = start(Some(&url));
    let port = sandi_e2e::free_port();
    let second = format!("https://127.0.0.1:{port}");
    let _second = Reaped(
        docsvc()
            .args(["serve", "--dev-unseal", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(node.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("a second docsvc serve"),
    );
    wait_listening(&second, &node.ca());
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nsurat dari dua proses\n").expect("write");

    let per_process = 12;
    let writers: Vec<_> = [node.base.clone(), second.clone()]
        .into_iter()
        .map(|base| {
            let budi = node.login_at(&base, ORIGINATOR, true);
            let body = body.clone();
            std::thread::spawn(move || {
                (0..per_process)
                    .map(|_| {
                        let r = create(&budi, &letter("rahasia", &[RECIPIENT]), &body, None);
                        assert_eq!(r.status, 201, "{}", r.text());
                        r.json()["id"].as_str().expect("id").to_owned()
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let ids: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    assert_eq!(ids.len(), 2 * per_process);

    // Each letter reads back through either process.
    for (i, id) in ids.iter().enumerate() {
        let base = if i % 2 == 0 { &second } else { &node.base };
        let siti = node.login_at(base, RECIPIENT, true);
        let out = files.path().join("read.pdf");
        let r = siti.download(&format!("/api/v1/documents/{id}/content"), &out);
        assert_eq!(r.status, 200, "{id} through {base}");
        assert_eq!(
            std::fs::read(&out).expect("read"),
            std::fs::read(&body).expect("read")
        );
    }
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM documents").await,
        i64::try_from(ids.len()).expect("count")
    );
    let o = node.audit_verify();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// A registration stays suspended until a second persandian officer approves: not Maya
/// herself, nor by a status change; Bayu, with his PIN.
fn second_approval(node: &Node, maya: &Client, registered: &serde_json::Value, nip: &str) {
    assert_eq!(
        registered["official"]["status"], "suspended",
        "{registered}"
    );
    let change = registered["change"]["id"]
        .as_str()
        .expect("change")
        .to_owned();
    let approve = format!("/api/v1/admin/changes/{change}/approve");
    assert_eq!(maya.post_json(&approve, &json!({})).status, 403);
    let activate = maya.call(
        "PUT",
        &format!("/api/v1/admin/officials/{nip}/status"),
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            r#"{"status":"active"}"#,
        ],
    );
    assert_eq!(activate.status, 403, "{}", activate.text());
    let r = node
        .login("199109092016031009", true)
        .post_json(&approve, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["decision"], "approved", "{}", r.text());
}

/// `age -d` of the challenge a node answered a recipient registration with.
fn age_decrypt(answered: &serde_json::Value, identity: &Path, files: &Path) -> String {
    let challenge = files.join("challenge.age");
    std::fs::write(
        &challenge,
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answered["challenge"].as_str().expect("challenge"),
        )
        .expect("base64"),
    )
    .expect("write challenge");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(&challenge)
        .output()
        .expect("age -d");
    assert!(out.status.success(), "age -d challenge");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
