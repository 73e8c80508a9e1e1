//! The `certificates` table: every certificate issued, one row per version.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use time::OffsetDateTime;

use super::{Store, db, issuer_parse, issuer_str};
use crate::Result;
use crate::ca::Ca;
use crate::records::{CertRecord, CertState, timestamp};

const COLUMNS: &str = "serial, subject_id, profile, version, subject, issuer, not_before, not_after, key_id, \
    certificate_sha256, der, state, issued_at, revoked_at, revocation_reason, request";

const INSERT_HEAD: &str = "INSERT INTO certificates (serial, subject_id, profile, version, subject, issuer, not_before, \
    not_after, key_id, certificate_sha256, der, state, issued_at, revoked_at, revocation_reason, request)";

const INSERT: &str = "INSERT INTO certificates (serial, subject_id, profile, version, subject, issuer, not_before, \
    not_after, key_id, certificate_sha256, der, state, issued_at, revoked_at, revocation_reason, request) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

fn record(row: &AnyRow) -> Result<CertRecord> {
    Ok(CertRecord {
        serial: row.try_get("serial").map_err(db)?,
        subject_id: row.try_get("subject_id").map_err(db)?,
        profile: row.try_get("profile").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        issuer: issuer_parse(&row.try_get::<String, _>("issuer").map_err(db)?)?,
        not_before: row.try_get("not_before").map_err(db)?,
        not_after: row.try_get("not_after").map_err(db)?,
        key_id: row.try_get("key_id").map_err(db)?,
        certificate_sha256: row.try_get("certificate_sha256").map_err(db)?,
        der: row.try_get("der").map_err(db)?,
        state: CertState::parse(&row.try_get::<String, _>("state").map_err(db)?)?,
        issued_at: row.try_get("issued_at").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
        revocation_reason: row.try_get("revocation_reason").map_err(db)?,
        request: row.try_get("request").map_err(db)?,
    })
}

/// The insert of one row, to run on the pool or inside a transaction.
pub(super) fn insert_query(r: &CertRecord) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
    bind_row(sqlx::query(INSERT), r)
}

/// Binds one row's 16 values, in the order of the columns.
fn bind_row<'q>(
    q: Query<'q, sqlx::Any, AnyArguments<'q>>,
    r: &'q CertRecord,
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    q.bind(&r.serial)
        .bind(&r.subject_id)
        .bind(&r.profile)
        .bind(r.version)
        .bind(&r.subject)
        .bind(issuer_str(r.issuer))
        .bind(&r.not_before)
        .bind(&r.not_after)
        .bind(r.key_id.clone())
        .bind(&r.certificate_sha256)
        .bind(r.der.clone())
        .bind(r.state.as_str())
        .bind(&r.issued_at)
        .bind(r.revoked_at.clone())
        .bind(r.revocation_reason.clone())
        .bind(&r.request)
}

pub(crate) async fn insert(store: &Store, r: &CertRecord) -> Result<()> {
    insert_query(r).execute(&store.pool).await.map_err(db)?;
    Ok(())
}

/// Inserts a new version and marks the versions before it superseded, in one transaction.
pub(crate) async fn insert_version(store: &Store, r: &CertRecord) -> Result<()> {
    let mut tx = store.pool.begin().await.map_err(db)?;
    sqlx::query(
        "UPDATE certificates SET state = 'superseded' WHERE subject_id = $1 AND state = 'active'",
    )
    .bind(&r.subject_id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    insert_query(r).execute(&mut *tx).await.map_err(db)?;
    tx.commit().await.map_err(db)
}

/// Rows per statement in [`insert_versions`]: 16 parameters a row stays far below SQLite's
/// and PostgreSQL's limits on parameters.
const ROWS_PER_STATEMENT: usize = 200;

/// Inserts new versions, marking the versions before them superseded, in one transaction (the
/// group commit of issuance: one commit, one sync, and a few statements for the batch). The
/// subjects must be distinct: the group commit keeps one new version per subject.
pub(crate) async fn insert_versions(store: &Store, rs: &[CertRecord]) -> Result<()> {
    let mut tx = store.pool.begin().await.map_err(db)?;
    for chunk in rs.chunks(ROWS_PER_STATEMENT) {
        let marks = (1..=chunk.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let update_sql = format!(
            "UPDATE certificates SET state = 'superseded' WHERE state = 'active' AND subject_id IN ({marks})"
        );
        let mut update = sqlx::query(&update_sql);
        for r in chunk {
            update = update.bind(&r.subject_id);
        }
        update.execute(&mut *tx).await.map_err(db)?;
        let rows = (0..chunk.len())
            .map(|i| {
                let cols = (1..=16)
                    .map(|c| format!("${}", i * 16 + c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({cols})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let insert_sql = format!("{INSERT_HEAD} VALUES {rows}");
        let mut insert = sqlx::query(&insert_sql);
        for r in chunk {
            insert = bind_row(insert, r);
        }
        insert.execute(&mut *tx).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

/// The newest version of each of `subject_ids` that has one: (version, state, serial).
pub(crate) async fn latest_versions(
    store: &Store,
    subject_ids: &[&str],
) -> Result<HashMap<String, (i64, CertState, String)>> {
    let mut out: HashMap<String, (i64, CertState, String)> = HashMap::new();
    if subject_ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=subject_ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT subject_id, version, state, serial FROM certificates WHERE subject_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for s in subject_ids {
        q = q.bind(*s);
    }
    for row in q.fetch_all(&store.pool).await.map_err(db)? {
        let subject: String = row.try_get("subject_id").map_err(db)?;
        let version: i64 = row.try_get("version").map_err(db)?;
        if out.get(&subject).is_some_and(|(v, _, _)| *v >= version) {
            continue;
        }
        let state = CertState::parse(&row.try_get::<String, _>("state").map_err(db)?)?;
        out.insert(
            subject,
            (version, state, row.try_get("serial").map_err(db)?),
        );
    }
    Ok(out)
}

/// The row of a serial as stored (normalised).
pub(crate) async fn by_serial(store: &Store, serial: &str) -> Result<Option<CertRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM certificates WHERE serial = $1"
    ))
    .bind(serial)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?;
    row.as_ref().map(record).transpose()
}

/// Every row, in the order issued.
pub(crate) async fn all(store: &Store) -> Result<Vec<CertRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM certificates ORDER BY issued_at, serial"
    ))
    .fetch_all(&store.pool)
    .await
    .map_err(db)?;
    rows.iter().map(record).collect()
}

/// The newest version for a logical subject.
pub(crate) async fn latest(store: &Store, subject_id: &str) -> Result<Option<CertRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM certificates WHERE subject_id = $1 ORDER BY version DESC LIMIT 1"
    ))
    .bind(subject_id)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?;
    row.as_ref().map(record).transpose()
}

/// Active certificates of a profile that expire before `before`.
pub(crate) async fn due(
    store: &Store,
    profile: &str,
    before: OffsetDateTime,
) -> Result<Vec<CertRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM certificates WHERE profile = $1 AND state = 'active' AND not_after < $2 ORDER BY serial"
    ))
    .bind(profile)
    .bind(timestamp(before))
    .fetch_all(&store.pool)
    .await
    .map_err(db)?;
    rows.iter().map(record).collect()
}

/// Marks a row revoked, at a time and for a reason.
pub(crate) async fn set_revoked(
    store: &Store,
    serial: &str,
    reason: &str,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query("UPDATE certificates SET state = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE serial = $3")
        .bind(timestamp(at))
        .bind(reason)
        .bind(serial)
        .execute(&store.pool)
        .await
        .map_err(db)?;
    Ok(())
}

/// Every revoked certificate an issuer has issued.
pub(crate) async fn revoked_by(store: &Store, issuer: Ca) -> Result<Vec<CertRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM certificates WHERE issuer = $1 AND state = 'revoked' ORDER BY serial"
    ))
    .bind(issuer_str(issuer))
    .fetch_all(&store.pool)
    .await
    .map_err(db)?;
    rows.iter().map(record).collect()
}

/// How many certificates there are and how many are revoked: what changes when one is issued,
/// rotated or revoked, read cheaply by a service that caches statuses.
pub(crate) async fn census(store: &Store) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT COUNT(*) AS n, COUNT(revoked_at) AS r FROM certificates")
        .fetch_one(&store.pool)
        .await
        .map_err(db)?;
    Ok((row.try_get("n").map_err(db)?, row.try_get("r").map_err(db)?))
}
