//! Load: 20,000 mutual-TLS signing requests at concurrency 64 against one real node (the
//! docsvc binary): every one answered 200, and exactly one access-log entry per request, the
//! log verifying afterwards.

use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_mutual_tls_requests_each_logged_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = sandi_e2e::node::DevNode::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_docsvc")),
        &dir.path().join("node"),
        &[],
    );
    let data = node.data.clone();
    let listen = node.listen.clone();
    let app = data.join("apps/e-office");
    let tls = docsvc::network::client::tls_config(
        &data.join("ca/root.pem"),
        Some((&app.join("client.pem"), &app.join("client.key"))),
    )
    .expect("client TLS");
    let addr: std::net::SocketAddr = listen.parse().expect("addr");
    let db = format!("sqlite://{}", data.join("docsvc.db").display());
    let before = signs_logged(&db).await;

    let per = REQUESTS / CONCURRENCY;
    let extra = REQUESTS % CONCURRENCY;
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let tls = Arc::clone(&tls);
        let n = per + usize::from(t < extra);
        tasks.push(tokio::spawn(async move {
            let mut c = docsvc::network::client::connect(addr, tls)
                .await
                .expect("mutual TLS");
            let mut failures = Vec::new();
            for i in 0..n {
                // The application's key is P-384 (its clearance's): a SHA-384 digest.
                let digest =
                    ring::digest::digest(&ring::digest::SHA384, format!("{t}/{i}").as_bytes());
                let body = serde_json::json!({ "sha384": hex::encode(digest) }).to_string();
                match c
                    .call(
                        "POST",
                        "/api/v1/sign",
                        &[("content-type", "application/json")],
                        Bytes::from(body),
                    )
                    .await
                {
                    Ok((200, _, b)) if b.starts_with(b"{") => {}
                    Ok((s, _, b)) => failures.push(format!("{s}: {}", String::from_utf8_lossy(&b))),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (n, failures)
        }));
    }
    let mut sent = 0;
    let mut failures = Vec::new();
    for t in tasks {
        let (n, f) = t.await.expect("task");
        sent += n;
        failures.extend(f);
    }
    assert_eq!(sent, REQUESTS);
    assert!(
        failures.is_empty(),
        "{} errors, first: {:?}",
        failures.len(),
        failures.first()
    );
    // The node's group commit has answered each request only after its entry was durable.
    assert_eq!(
        signs_logged(&db).await - before,
        i64::try_from(REQUESTS).expect("count"),
        "exactly one log entry per request"
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_docsvc"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("docsvc audit verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// Signing entries by the e-office application in the access log.
async fn signs_logged(db: &str) -> i64 {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(db).await.expect("database");
    let rows = sqlx::query("SELECT entry FROM audit_log")
        .fetch_all(&mut c)
        .await
        .expect("log");
    let n = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>("entry").ok())
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
        .filter(|e| {
            e["action"] == "sign"
                && e["actor"] == "application:e-office"
                && e["decision"] == "allow"
        })
        .count();
    i64::try_from(n).expect("count")
}
