//! A database writer against dual control (issue 15, sections 3 and 8): a SANGAT RAHASIA letter
//! held for its second approval cannot be released by changing its row. Moved to `sent` in the
//! database, with or without an approval row the originator signed himself, it is an integrity
//! incident: its addressee cannot open it, its delivery to another node is refused and left
//! dead, and the incident is logged. Approved by the real second official, it opens. The same
//! holds for changes to officials: a request forged or altered in the database, or a
//! registration marked approved there, is an incident and lets nobody in or up.

use std::sync::Arc;

use docsvc::letters::documents;
use docsvc::node::Node;
use policies::{Action, Level};
use sqlx::Row as _;

mod common;
use common::{BUDI, letter_to, node_pins, stepped_up};

const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver
const DEWI: &str = "197704042002122004"; // bappeda, sangat_rahasia: the addressee
const MAYA: &str = "198806062012122006"; // pengelola_sandi + admin, rahasia
const BAYU: &str = "199109092016031009"; // pengelola_sandi, rahasia
const AGUS: &str = "198503032010013003"; // terbatas

async fn node(dir: &std::path::Path, database_url: Option<&str>) -> Arc<Node> {
    node_pins(dir, database_url).await.0
}

async fn secret_letter(node: &Node) -> String {
    let created = letter_to(node, Level::SangatRahasia, DEWI, "Kendali ganda").await;
    assert_eq!(
        created.state,
        documents::AWAITING,
        "held for the second approval"
    );
    created.manifest.id
}

/// Whether Dewi may read letter `id` now: `Ok(allowed)`, or the error that refused it.
async fn dewi_reads(node: &Node, id: &str) -> Result<bool, docsvc::Error> {
    let checked = documents::load_checked(node, id).await?;
    let dewi = stepped_up(node, DEWI).await;
    Ok(documents::decide(node, &dewi, Action::Read, &checked, true)
        .await?
        .allowed)
}

async fn incidents(node: &Node, id: &str) -> usize {
    sqlx::query("SELECT entry FROM audit_log ORDER BY seq")
        .fetch_all(node.store.pool())
        .await
        .expect("log")
        .iter()
        .map(|r| r.try_get::<String, _>("entry").expect("entry"))
        // The incidents themselves (action `integrity`), not the refused delivery that names one.
        .filter(|e| {
            e.contains("\"integrity\"")
                && e.contains("without a valid second approval")
                && e.contains(id)
        })
        .count()
}

async fn released_by_the_database(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), database_url).await;
    let id = secret_letter(&node).await;

    // Moved on in the database: Dewi cannot open it, and that is an incident.
    sqlx::query("UPDATE documents SET state = 'sent' WHERE id = $1")
        .bind(&id)
        .execute(node.store.pool())
        .await
        .expect("database write");
    let e = dewi_reads(&node, &id).await.expect_err("refused");
    assert!(matches!(e, docsvc::Error::Integrity(_)), "{e:?}");
    assert_eq!(incidents(&node, &id).await, 1, "the incident is logged");

    // Its delivery, queued by the same writer: refused before anything is sent, left dead.
    let now = docsvc::now_rfc3339();
    sqlx::query(
        "INSERT INTO outbox (document_id, node_id, state, attempts, next_attempt_at, updated_at) \
         VALUES ($1, 'bappeda', 'queued', 0, $2, $2)",
    )
    .bind(&id)
    .bind(&now)
    .execute(node.store.pool())
    .await
    .expect("database write");
    assert_eq!(docsvc::transmit::deliver_due(&node).await.expect("run"), 1);
    let row = sqlx::query("SELECT state, last_error FROM outbox WHERE document_id = $1")
        .bind(&id)
        .fetch_one(node.store.pool())
        .await
        .expect("outbox");
    assert_eq!(row.try_get::<String, _>("state").expect("state"), "dead");
    let why: String = row.try_get("last_error").expect("why");
    assert!(why.contains("second approval"), "{why}");
    assert_eq!(
        incidents(&node, &id).await,
        2,
        "the delivery's incident is logged"
    );

    // An approval row the originator signed himself (his key, the approval kind): not a
    // second official's approval.
    let budi = stepped_up(&node, BUDI).await.official;
    let manifest: Vec<u8> = sqlx::query_scalar("SELECT manifest FROM documents WHERE id = $1")
        .bind(&id)
        .fetch_one(node.store.pool())
        .await
        .expect("manifest");
    let handle = node.handle(budi.signing_key.expect("key")).expect("handle");
    let keys: &dyn hsm_shim::KeyStore = node.keystore.as_ref();
    let own = docsvc::crypto::signature::sign_detached(
        docsvc::crypto::signature::Kind::Approval,
        docsvc::crypto::signature::Content::Bytes(&manifest),
        handle.kind().signature_algorithm().expect("a signing key"),
        budi.certificate.as_deref().expect("certificate"),
        std::slice::from_ref(&node.signing_ca_der),
        time::OffsetDateTime::now_utc(),
        |m| Ok(keys.sign(&handle, m)?.bytes),
    )
    .expect("sign");
    // Time-stamped as a real approval is: refused for whose it is, nothing else.
    let own = docsvc::node::tsa::stamp(&node, own)
        .await
        .expect("time-stamp");
    sqlx::query("INSERT INTO approvals (document_id, nip, at, signature) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(BUDI)
        .bind(docsvc::now_rfc3339())
        .bind(own)
        .execute(node.store.pool())
        .await
        .expect("database write");
    let e = dewi_reads(&node, &id).await.expect_err("refused");
    assert!(matches!(e, docsvc::Error::Integrity(_)), "{e:?}");

    // Back as it was, and approved by Joko: Dewi reads it.
    for sql in [
        "DELETE FROM approvals WHERE document_id = $1",
        "DELETE FROM outbox WHERE document_id = $1",
        "UPDATE documents SET state = 'awaiting_approval' WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(&id)
            .execute(node.store.pool())
            .await
            .expect("put back");
    }
    documents::approve(&node, &stepped_up(&node, JOKO).await, &id)
        .await
        .expect("Joko approves");
    assert!(
        dewi_reads(&node, &id).await.expect("reads"),
        "approved, it opens"
    );
    assert_eq!(
        incidents(&node, &id).await,
        3,
        "no incident for the real approval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_writer_cannot_release_a_held_letter_sqlite() {
    released_by_the_database(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_writer_cannot_release_a_held_letter_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    released_by_the_database(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

fn registration(nip: &str) -> docsvc::officials::admin::NewOfficialRequest {
    docsvc::officials::admin::NewOfficialRequest {
        nip: nip.into(),
        name: "Pejabat Baru".into(),
        agency: "dinkes".into(),
        position: "Staf".into(),
        clearance: Level::Rahasia,
        roles: vec!["pejabat".into()],
    }
}

/// Changes to officials wait for a second `pengelola_sandi`; a database writer forges a
/// request in Maya's name, raises what she asked for, or marks a registration approved: each
/// is an integrity incident (the row's node MAC fails), and nobody is let in or up.
async fn officials_changed_in_the_database(database_url: Option<&str>) {
    use docsvc::officials::changes::decide;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), database_url).await;
    let maya = stepped_up(&node, MAYA).await.official;
    let bayu = stepped_up(&node, BAYU).await;
    let write = |sql: &'static str, id: String| {
        let pool = node.store.pool().clone();
        async move {
            sqlx::query(sql)
                .bind(id)
                .execute(&pool)
                .await
                .expect("database write");
        }
    };

    // A request forged in Maya's name: not listed, not approvable, logged.
    let forged = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO official_changes (id, nip, kind, clearance, requested_by, requested_at) \
         VALUES ($1, $2, 'clearance', 'rahasia', $3, $4)",
    )
    .bind(&forged)
    .bind(AGUS)
    .bind(MAYA)
    .bind(docsvc::now_rfc3339())
    .execute(node.store.pool())
    .await
    .expect("database write");
    let listed = docsvc::officials::admin::pending(&node, &maya)
        .await
        .expect("pending");
    assert!(
        listed.iter().all(|c| c.id != forged),
        "a forged request is not listed"
    );
    let e = decide(&node, &bayu, &forged, true)
        .await
        .expect_err("refused");
    assert!(matches!(e, docsvc::Error::Integrity(_)), "{e:?}");
    assert_eq!(
        stepped_up(&node, AGUS).await.official.clearance,
        Level::Terbatas
    );

    // Maya's real request, raised in the database before Bayu sees it: refused.
    let asked = docsvc::officials::admin::set_clearance(&node, &maya, None, AGUS, Level::Rahasia)
        .await
        .expect("asked")
        .expect("pending");
    write(
        "UPDATE official_changes SET clearance = 'sangat_rahasia' WHERE id = $1",
        asked.id.clone(),
    )
    .await;
    let e = decide(&node, &bayu, &asked.id, true)
        .await
        .expect_err("refused");
    assert!(matches!(e, docsvc::Error::Integrity(_)), "{e:?}");
    assert_eq!(
        stepped_up(&node, AGUS).await.official.clearance,
        Level::Terbatas
    );

    // A registration marked approved in the database: the official stays suspended.
    let r =
        docsvc::officials::admin::register(&node, &maya, None, registration("199901012020121009"))
            .await
            .expect("register");
    write(
        "UPDATE official_changes SET decision = 'approved' WHERE id = $1",
        r.change.id.clone(),
    )
    .await;
    assert!(
        docsvc::officials::admin::set_status(&node, &maya, None, &r.official.nip, "active")
            .await
            .is_err(),
        "one admin activates nobody"
    );
    assert_eq!(
        stepped_up(&node, &r.official.nip).await.official.status,
        policies::Status::Suspended
    );

    let log: Vec<String> = sqlx::query("SELECT entry FROM audit_log ORDER BY seq")
        .fetch_all(node.store.pool())
        .await
        .expect("log")
        .iter()
        .map(|r| r.try_get::<String, _>("entry").expect("entry"))
        .collect();
    for id in [&forged, &asked.id, &r.change.id] {
        assert!(
            log.iter()
                .any(|e| e.contains("does not carry the node's MAC") && e.contains(id.as_str())),
            "the incident of change {id} is logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_writer_cannot_change_officials_alone_sqlite() {
    officials_changed_in_the_database(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_writer_cannot_change_officials_alone_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    officials_changed_in_the_database(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}
