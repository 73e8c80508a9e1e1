//! Faults, with the real binary. On PostgreSQL: while the access log cannot be written (a
//! trigger refuses it), signing and writing letters answer 503 and nothing is handed out or
//! stored; once it can, they work again without a restart. A database whose connections are
//! all cut is survived without a restart too. On SQLite: a disk that really fills up (a small
//! tmpfs) refuses the letter with 503 and stores nothing; freed, it serves again.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sandi_e2e::http::Client;
use serde_json::json;
use sqlx::Connection as _;

const BUDI: &str = "197501012000031001";
const SITI: &str = "198002022005012002";

async fn sql(url: &str, statement: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(statement)
        .execute(&mut c)
        .await
        .expect(statement);
}

async fn count(url: &str, table: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut c)
        .await
        .expect("count")
}

struct Fixture {
    url: String,
    name: String,
    data: std::path::PathBuf,
    tls: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    budi: Client,
    body: std::path::PathBuf,
    node: Option<sandi_e2e::node::Killed>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A quickstart node on a fresh PostgreSQL database, served, Budi logged in with the PIN.
    async fn start() -> Option<Fixture> {
        let (url, name) = sandi_e2e::pg::postgres().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = sandi_e2e::node::DevNode::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_docsvc")),
            &dir.path().join("node"),
            &["--database-url", &url],
        );
        let (data, listen, printed) =
            (node.data.clone(), node.listen.clone(), node.printed.clone());
        let server = node.server.take();
        let root = data.join("ca/root.pem");
        let app = data.join("apps/e-office");
        let tls = docsvc::network::client::tls_config(
            &root,
            Some((&app.join("client.pem"), &app.join("client.key"))),
        )
        .expect("client TLS");
        let line = printed
            .lines()
            .find(|l| l.trim_start().starts_with(BUDI))
            .expect("Budi");
        let f: Vec<&str> = line.split_whitespace().collect();
        let (password, pin) = (f[f.len() - 3], f[f.len() - 2]);
        let mut budi = Client::new(
            &format!("https://{listen}"),
            &root,
            dir.path().join("budi.jar"),
        );
        let r = budi.post_json(
            "/api/v1/session",
            &json!({ "nip": BUDI, "password": password }),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        budi.csrf = r.json()["csrf"].as_str().map(str::to_owned);
        assert_eq!(
            budi.post_json("/api/v1/session/step-up", &json!({ "pin": pin }))
                .status,
            200
        );
        let body = dir.path().join("surat.pdf");
        std::fs::write(&body, b"%PDF-1.7\nsaat log penuh\n").expect("write");
        Some(Fixture {
            url,
            name,
            data,
            tls,
            addr: listen.parse().expect("addr"),
            budi,
            body,
            node: server,
            _dir: dir,
        })
    }

    /// One signing request by the application: status and body.
    async fn sign(&self) -> (u16, String) {
        let mut c = docsvc::network::client::connect(self.addr, Arc::clone(&self.tls))
            .await
            .expect("mutual TLS");
        // The application is cleared for RAHASIA: its key is P-384, which signs SHA-384.
        let body = json!({ "sha384": "ab".repeat(48) }).to_string();
        match c
            .call(
                "POST",
                "/api/v1/sign",
                &[("content-type", "application/json")],
                Bytes::from(body),
            )
            .await
        {
            Ok((s, _, b)) => (s, String::from_utf8_lossy(&b).into_owned()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// Budi writes a TERBATAS letter to Siti.
    fn create(&self) -> sandi_e2e::http::Response {
        let meta = json!({
            "nomor": "005/F/XI/2026", "perihal": "Uji kegagalan", "classification": "terbatas",
            "urgency": "biasa", "recipients": [SITI],
        });
        self.budi.post_letter(&meta, &self.body)
    }
}

/// The log cannot be written: 503, no signature handed out, no letter stored; once it can,
/// the same process serves again.
async fn the_log_cannot_be_written(f: &Fixture) {
    sql(
        &f.url,
        "CREATE FUNCTION sandi_disk_full() RETURNS trigger AS $$ BEGIN \
         RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER sandi_disk_full BEFORE INSERT ON audit_log \
         FOR EACH STATEMENT EXECUTE FUNCTION sandi_disk_full();",
    )
    .await;
    let (docs, chunks, indexed, files, entries) = (
        count(&f.url, "documents").await,
        count(&f.url, "chunks").await,
        count(&f.url, "content_files").await,
        sandi_e2e::node::content_file_count(&f.data),
        count(&f.url, "audit_log").await,
    );
    let (status, text) = f.sign().await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("log-unavailable") && !text.contains("\"signature\""),
        "{text}"
    );
    let r = f.create();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:log-unavailable");
    assert_eq!(count(&f.url, "documents").await, docs, "no letter stored");
    assert_eq!(
        count(&f.url, "chunks").await,
        chunks,
        "no ciphertext left behind"
    );
    assert_eq!(count(&f.url, "content_files").await, indexed);
    assert_eq!(
        sandi_e2e::node::content_file_count(&f.data),
        files,
        "no content file left behind"
    );
    assert_eq!(count(&f.url, "audit_log").await, entries);
    sql(
        &f.url,
        "DROP TRIGGER sandi_disk_full ON audit_log; DROP FUNCTION sandi_disk_full();",
    )
    .await;
    assert_eq!(f.sign().await.0, 200);
    assert_eq!(f.create().status, 201);
}

/// Every connection the node holds is cut (a database restart, a failover): it recovers by
/// itself.
async fn the_database_goes_away_and_comes_back(f: &Fixture) {
    sql(
        &f.url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            f.name
        ),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = f.sign().await;
        if status == 200 {
            break;
        }
        assert!(status == 503 || status == 500, "{status}: {text}");
        assert!(
            Instant::now() < deadline,
            "the node did not recover: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.create().status != 201 {
        assert!(Instant::now() < deadline, "letters are not written again");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_faults_fail_closed_and_are_survived_without_a_restart() {
    let Some(mut f) = Fixture::start().await else {
        return;
    };
    assert_eq!(f.sign().await.0, 200);
    the_log_cannot_be_written(&f).await;
    the_database_goes_away_and_comes_back(&f).await;
    drop(f.node.take());
    let verify = Command::new(env!("CARGO_BIN_EXE_docsvc"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&f.data)
        .output()
        .expect("audit verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    sandi_e2e::pg::drop_postgres(&f.name).await;
}

/// A small tmpfs of its own, unmounted when dropped: a disk that really fills up.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, mib: u32) -> SmallDisk {
        std::fs::create_dir_all(at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a {mib} MiB tmpfs (tests/run runs as root on the CI machine): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system under `path` to the last byte; returns the filler file.
fn fill(path: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // The last partial block, byte by byte.
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
    filler
}

/// SQLite on a disk that really fills up: a letter that needs space answers 503
/// (storage-full or log-unavailable) and is not stored, nor listed; once space is freed the
/// same process writes letters again, and the log verifies.
#[test]
fn a_full_disk_under_sqlite_fails_closed_and_is_survived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), 48);
    let docsvc = std::path::Path::new(env!("CARGO_BIN_EXE_docsvc"));
    let node = sandi_e2e::node::DevNode::start(docsvc, &disk.0.join("node"), &[]);
    let budi = node.login(BUDI, true, dir.path().join("budi.jar"));
    // SQLite's write-ahead log keeps its file at its largest size and reuses the space after a
    // checkpoint, so the letters written before the disk fills are small and the one that must
    // fail is 8 MiB: more than any slack the log can have kept.
    let small = dir.path().join("kecil.pdf");
    std::fs::write(&small, b"%PDF-1.7\nsurat kecil\n").expect("write");
    let large = dir.path().join("besar.pdf");
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(8 << 20, b'x');
    std::fs::write(&large, &bytes).expect("write");
    let create = |nomor: &str, body: &std::path::Path| {
        let meta = json!({
            "nomor": nomor, "perihal": "Disk penuh", "classification": "terbatas",
            "urgency": "biasa", "recipients": [SITI],
        });
        budi.post_letter(&meta, body)
    };
    let listed = |nomor: &str| {
        let r = budi.call("GET", "/api/v1/documents?box=outbox&limit=1000", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .expect("list")
            .iter()
            .any(|d| d["nomor"] == nomor)
    };
    assert_eq!(create("001/DISK/2026", &small).status, 201);

    let filler = fill(&disk.0);
    let r = create("002/DISK/2026", &large);
    assert_eq!(r.status, 503, "{}", r.text());
    let kind = r.json()["type"].as_str().unwrap_or_default().to_owned();
    assert!(
        kind.ends_with(":storage-full") || kind.ends_with(":log-unavailable"),
        "{}",
        r.text()
    );
    assert!(
        !listed("002/DISK/2026"),
        "a letter refused for a full disk is not there"
    );

    std::fs::remove_file(filler).expect("free the space");
    let r = create("003/DISK/2026", &large);
    assert_eq!(r.status, 201, "after freeing space: {}", r.text());
    assert!(listed("003/DISK/2026") && !listed("002/DISK/2026"));
    drop(node);
    let out = Command::new(docsvc)
        .args(["audit", "verify", "--data-dir"])
        .arg(disk.0.join("node"))
        .output()
        .expect("audit verify");
    sandi_e2e::node::ok(&out);
}
