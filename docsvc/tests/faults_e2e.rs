//! Faults on PostgreSQL, with the real binary: while the access log cannot be written (a
//! trigger stands in for a full disk), signing and writing letters answer 503 and nothing is
//! handed out or stored; once it can, they work again without a restart. A database whose
//! connections are all cut is survived without a restart too.

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
        let tls = docsvc::client::tls_config(
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
        let mut c = docsvc::client::connect(self.addr, Arc::clone(&self.tls))
            .await
            .expect("mutual TLS");
        let body = json!({ "sha256": "ab".repeat(32) }).to_string();
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
        self.budi.call(
            "POST",
            "/api/v1/documents",
            &[
                "-F",
                &format!("metadata={meta};type=application/json"),
                "-F",
                &format!("body=@{};type=application/pdf", self.body.display()),
            ],
        )
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
    let (docs, chunks, entries) = (
        count(&f.url, "documents").await,
        count(&f.url, "chunks").await,
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
