//! The inventory on both backends: SQLite (embedded) and PostgreSQL (a fresh database per run
//! at SANDI_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).

use sandi_e2e::pg as support;

use keymgr::ca::Ca;
use keymgr::inventory::{CertRecord, CertState, Inventory, timestamp};
use time::{Duration, OffsetDateTime};

fn record(serial: &str, subject: &str, version: i64, not_after: OffsetDateTime) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        subject_id: subject.into(),
        profile: "node".into(),
        version,
        subject: format!("CN={subject}"),
        issuer: Ca::Network,
        not_before: timestamp(OffsetDateTime::now_utc() - Duration::days(1)),
        not_after: timestamp(not_after),
        key_id: None,
        certificate_sha256: "00".repeat(32),
        der: vec![0x30, 0x03, 0x02, 0x01, u8::try_from(version).unwrap_or(0)],
        state: CertState::Active,
        issued_at: timestamp(OffsetDateTime::now_utc()),
        revoked_at: None,
        revocation_reason: None,
        request: "{}".into(),
    }
}

/// The behaviour both backends must share.
async fn inventory_contract(inv: &Inventory) {
    let now = OffsetDateTime::now_utc();
    inv.insert_version(&record("0a01", "node:a", 1, now + Duration::days(10)))
        .await
        .expect("insert");
    inv.insert_version(&record("0b01", "node:b", 1, now + Duration::days(80)))
        .await
        .expect("insert");
    // A duplicate serial is refused and changes nothing.
    assert!(
        inv.insert_version(&record("0a01", "node:x", 1, now))
            .await
            .is_err()
    );
    // The same subject and version twice is refused.
    assert!(
        inv.insert_version(&record("0a99", "node:a", 1, now))
            .await
            .is_err()
    );
    assert_eq!(inv.list().await.expect("list").len(), 2);

    // Versions: the newer supersedes the older, atomically.
    inv.insert_version(&record("0a02", "node:a", 2, now + Duration::days(90)))
        .await
        .expect("v2");
    assert_eq!(
        inv.get("0a01").await.expect("v1").state,
        CertState::Superseded
    );
    assert_eq!(
        inv.latest("node:a")
            .await
            .expect("latest")
            .expect("some")
            .serial,
        "0a02"
    );
    assert_eq!(inv.get("0A:02").await.expect("by any spelling").version, 2);
    assert_eq!(
        inv.get("0a02").await.expect("der").der,
        vec![0x30, 0x03, 0x02, 0x01, 2]
    );

    // Due: only active certificates expiring before the bound.
    let due = inv
        .due("node", now + Duration::days(30))
        .await
        .expect("due");
    assert!(due.is_empty(), "superseded v1 is not due: {due:?}");
    let due = inv
        .due("node", now + Duration::days(85))
        .await
        .expect("due");
    assert_eq!(
        due.iter().map(|r| r.serial.as_str()).collect::<Vec<_>>(),
        ["0b01"]
    );

    // Revocation keeps the first time and reason.
    let at = now - Duration::hours(1);
    let r = inv
        .revoke("0b01", "keyCompromise", at)
        .await
        .expect("revoke");
    assert_eq!(r.state, CertState::Revoked);
    let again = inv.revoke("0b01", "superseded", now).await.expect("again");
    assert_eq!(again.revocation_reason.as_deref(), Some("keyCompromise"));
    assert_eq!(again.revoked_at, Some(timestamp(at)));
    assert_eq!(inv.revoked(Ca::Network).await.expect("revoked").len(), 1);
    assert!(inv.revoked(Ca::Signing).await.expect("revoked").is_empty());
    assert!(matches!(
        inv.get("ffff").await,
        Err(keymgr::Error::UnknownSerial(_))
    ));

    // CRL numbers grow per issuer.
    assert_eq!(inv.next_crl_number(Ca::Network).await.expect("n"), 1);
    assert_eq!(inv.next_crl_number(Ca::Network).await.expect("n"), 2);
    assert_eq!(inv.next_crl_number(Ca::Signing).await.expect("n"), 1);

    // Registering a CA is all or nothing.
    let dup = vec![
        record("0c01", "ca:x", 1, now),
        record("0a01", "ca:y", 1, now),
    ];
    assert!(inv.register(&dup, &[]).await.is_err());
    assert!(matches!(
        inv.get("0c01").await,
        Err(keymgr::Error::UnknownSerial(_))
    ));
}

#[tokio::test]
async fn sqlite_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Inventory::default_url(dir.path());
    let inv = Inventory::open(&url).await.expect("open");
    inventory_contract(&inv).await;
    inv.close().await;
    // Reopening applies no migration twice and keeps everything.
    let inv = Inventory::open(&url).await.expect("reopen");
    assert_eq!(inv.list().await.expect("list").len(), 3);
}

#[tokio::test]
async fn postgres_inventory() {
    let Some((url, name)) = support::postgres().await else {
        return;
    };
    let inv = Inventory::open(&url).await.expect("open");
    inventory_contract(&inv).await;
    inv.close().await;
    let inv = Inventory::open(&url).await.expect("reopen");
    assert_eq!(inv.list().await.expect("list").len(), 3);
    inv.close().await;
    support::drop_postgres(&name).await;
}

#[tokio::test]
async fn a_bad_database_url_is_refused_clearly() {
    let err = Inventory::open("mysql://localhost/x")
        .await
        .expect_err("mysql");
    assert!(err.to_string().contains("sqlite:… or postgres://"), "{err}");
}
