//! The signing API reads an application's row by its client certificate from memory (issue 19):
//! a change written through the store is in force at once, and a change written past it (another
//! process of the node, or a database writer) within a second. On SQLite and PostgreSQL.

use docsvc::store::Store;
use docsvc::store::applications::{self, ApplicationRow};

fn row(status: &str) -> ApplicationRow {
    ApplicationRow {
        id: "surat-api".into(),
        name: "Aplikasi surat".into(),
        agency: "dinkes".into(),
        clearance: "terbatas".into(),
        roles: "[]".into(),
        status: status.into(),
        certificate_sha256: "ab".repeat(32),
        signing_key: None,
        certificate: None,
        may_sign_for: "[]".into(),
        client_csr: None,
        mac: Some(format!("mac-{status}")),
    }
}

/// What `officials::applications::by_certificate` does: a row from memory, or read and kept
/// (the caller keeps only a row whose MAC it checked; these rows' MACs are not checked here).
async fn cached_status(store: &Store) -> Option<String> {
    let sha256 = "ab".repeat(32);
    if let Some(r) = applications::remembered_by_certificate(store, &sha256) {
        return Some(r.status);
    }
    let (row, reading) = applications::by_certificate_sha256_reading(store, &sha256)
        .await
        .expect("read");
    let row = row?;
    applications::remember(store, &row, reading);
    Some(row.status)
}

async fn changes_reach_the_cache(postgres: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, pg) = if postgres {
        let Some((url, name)) = sandi_e2e::pg::postgres().await else {
            return;
        };
        (url, Some(name))
    } else {
        (
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display()),
            None,
        )
    };
    let store = Store::open(&url).await.expect("store");
    assert_eq!(cached_status(&store).await, None, "nothing registered yet");
    applications::insert(&store, &row("active"), "2026-11-30T00:00:00Z")
        .await
        .expect("insert");
    // An unknown certificate is not remembered as unknown: the new row is found at once.
    let sha256 = "ab".repeat(32);
    // A row read and not kept (what the caller does with a row whose MAC it refuses) is not
    // answered from memory.
    let (read, reading) = applications::by_certificate_sha256_reading(&store, &sha256)
        .await
        .expect("read");
    assert!(read.is_some());
    assert!(applications::remembered_by_certificate(&store, &sha256).is_none());
    // A row read before a write is not kept after it.
    assert!(
        applications::update(&store, &row("active"), Some("mac-active"))
            .await
            .expect("rewrite")
    );
    applications::remember(&store, &read.expect("row"), reading);
    assert!(applications::remembered_by_certificate(&store, &sha256).is_none());
    assert_eq!(cached_status(&store).await.as_deref(), Some("active"));
    assert!(applications::remembered_by_certificate(&store, &sha256).is_some());
    assert_eq!(cached_status(&store).await.as_deref(), Some("active"));

    // Suspended through the store (the admin API, the CLI): in force at the next request.
    let done = applications::update(&store, &row("suspended"), Some("mac-active"))
        .await
        .expect("update");
    assert!(done);
    assert_eq!(cached_status(&store).await.as_deref(), Some("suspended"));

    // Written past this process (another process of the node, or by hand): the row read before
    // may be answered for up to a second, never longer.
    let other = Store::open(&url).await.expect("a second process's store");
    assert!(
        applications::update(&other, &row("revoked"), Some("mac-suspended"))
            .await
            .expect("update")
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(cached_status(&store).await.as_deref(), Some("revoked"));
    if let Some(name) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_the_application_cache_sqlite() {
    changes_reach_the_cache(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_the_application_cache_postgres() {
    changes_reach_the_cache(true).await;
}
