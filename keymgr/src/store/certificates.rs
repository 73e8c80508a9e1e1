//! The `certificates` table: every certificate issued, one row per version.

use std::collections::HashMap;
use std::sync::LazyLock;

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

/// The shapes of [`insert_versions`]' statements, in rows, largest first: a batch is cut into
/// as many of each as fit. Fixed shapes, so that each statement is prepared once and kept in
/// the connection's cache (a statement shaped to each batch was prepared again for almost
/// every batch); powers of two, so that a batch takes at most one of each (each statement is
/// a round trip to the database's thread). SQLite's statements take anonymous parameters (see
/// [`TEXTS`]), so a large one costs no more a row to bind than a small one.
const ROW_SHAPES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The shapes of the `IN (...)` lists: a list is padded, by repeating its last value, to the
/// next of these (each prepared once), and a longer one is cut into lists of the largest.
const LIST_SHAPES: [usize; 4] = [4, 16, 64, 256];

/// `values` cut into lists of [`LIST_SHAPES`], each with the index of its shape and padded to
/// it by repeating its last value (a repeated value changes no `IN (...)`).
fn padded_lists<'v>(values: &[&'v str]) -> Vec<(usize, Vec<&'v str>)> {
    let largest = LIST_SHAPES.len() - 1;
    values
        .chunks(LIST_SHAPES[largest])
        .map(|chunk| {
            let shape = LIST_SHAPES
                .iter()
                .position(|s| *s >= chunk.len())
                .unwrap_or(largest);
            let mut list = chunk.to_vec();
            if let Some(last) = chunk.last() {
                list.resize(LIST_SHAPES[shape], last);
            }
            (shape, list)
        })
        .collect()
}

/// Each shape's statement, written once: the texts are the same for every batch.
struct Texts {
    /// By index in [`ROW_SHAPES`].
    insert: Vec<String>,
    /// By index in [`LIST_SHAPES`].
    supersede: Vec<String>,
    latest: Vec<String>,
}

/// The texts for each backend: PostgreSQL's numbered `$n`, then SQLite's anonymous `?` (SQLite
/// looks a numbered parameter's name up by a linear search, for each of a statement's
/// parameters: for a 16-row insert of 256 parameters, a sixth of the database thread's time).
static TEXTS: LazyLock<[Texts; 2]> = LazyLock::new(|| [texts(false), texts(true)]);

fn texts(sqlite: bool) -> Texts {
    let list = |n: usize| marks(n, 0, sqlite);
    Texts {
        insert: ROW_SHAPES.iter().map(|r| insert_rows_sql(*r, sqlite)).collect(),
        supersede: LIST_SHAPES
            .iter()
            .map(|n| {
                format!(
                    "UPDATE certificates SET state = 'superseded' WHERE state = 'active' AND subject_id IN ({})",
                    list(*n)
                )
            })
            .collect(),
        latest: LIST_SHAPES
            .iter()
            .map(|n| {
                format!(
                    "SELECT subject_id, version, state, serial FROM certificates WHERE subject_id IN ({})",
                    list(*n)
                )
            })
            .collect(),
    }
}

fn texts_for(store: &Store) -> &'static Texts {
    &TEXTS[usize::from(store.sqlite)]
}

/// `n` parameters after the first `after`: `$after+1, …, $after+n`, or `?, …, ?` for SQLite.
fn marks(n: usize, after: usize, sqlite: bool) -> String {
    (after + 1..=after + n)
        .map(|i| {
            if sqlite {
                "?".to_owned()
            } else {
                format!("${i}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The insert of `rows` rows at once.
fn insert_rows_sql(rows: usize, sqlite: bool) -> String {
    let values = (0..rows)
        .map(|i| format!("({})", marks(16, i * 16, sqlite)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{INSERT_HEAD} VALUES {values}")
}

/// Inserts new versions, marking the versions before them superseded, in one transaction (the
/// group commit of issuance: one commit, one sync, and a few statements for the batch). The
/// subjects must be distinct: the group commit keeps one new version per subject.
pub(crate) async fn insert_versions(store: &Store, rs: &[CertRecord]) -> Result<()> {
    debug_assert!(
        rs.iter()
            .map(|r| r.subject_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
            == rs.len(),
        "one new version per subject in a batch"
    );
    let mut tx = store.pool.begin().await.map_err(db)?;
    let subjects: Vec<&str> = rs.iter().map(|r| r.subject_id.as_str()).collect();
    for (shape, list) in padded_lists(&subjects) {
        let mut update = sqlx::query(&texts_for(store).supersede[shape]);
        for s in list {
            update = update.bind(s);
        }
        update.execute(&mut *tx).await.map_err(db)?;
    }
    let mut rest = rs;
    for (shape, rows) in ROW_SHAPES.iter().enumerate() {
        while rest.len() >= *rows {
            let (chunk, after) = rest.split_at(*rows);
            let mut insert = sqlx::query(&texts_for(store).insert[shape]);
            for r in chunk {
                insert = bind_row(insert, r);
            }
            insert.execute(&mut *tx).await.map_err(db)?;
            rest = after;
        }
    }
    tx.commit().await.map_err(db)
}

/// The newest version of each of `subject_ids` that has one: (version, state, serial).
pub(crate) async fn latest_versions(
    store: &Store,
    subject_ids: &[&str],
) -> Result<HashMap<String, (i64, CertState, String)>> {
    let mut out: HashMap<String, (i64, CertState, String)> = HashMap::new();
    for (shape, list) in padded_lists(subject_ids) {
        let mut q = sqlx::query(&texts_for(store).latest[shape]);
        for s in list {
            q = q.bind(s);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: String, subject_id: String, version: i64) -> CertRecord {
        let now = timestamp(OffsetDateTime::now_utc());
        CertRecord {
            serial,
            subject: format!("CN={subject_id}"),
            subject_id,
            profile: "node".into(),
            version,
            issuer: Ca::Network,
            not_before: now.clone(),
            not_after: now.clone(),
            key_id: None,
            certificate_sha256: "00".repeat(32),
            der: vec![0x30, 0x00],
            state: CertState::Active,
            issued_at: now,
            revoked_at: None,
            revocation_reason: None,
            request: "{}".into(),
        }
    }

    #[test]
    fn lists_take_fixed_shapes_and_keep_every_value_in_order() {
        let values: Vec<String> = (0..600).map(|i| format!("s{i}")).collect();
        for n in [0usize, 1, 3, 4, 5, 16, 17, 64, 65, 255, 256, 257, 600] {
            let input: Vec<&str> = values[..n].iter().map(String::as_str).collect();
            let lists = padded_lists(&input);
            let mut seen = Vec::new();
            for (shape, list) in &lists {
                assert!(
                    LIST_SHAPES.contains(&list.len()),
                    "{n}: a list of {}",
                    list.len()
                );
                assert_eq!(list.len(), LIST_SHAPES[*shape], "{n}: the shape named");
                // Padding only repeats the list's last value.
                let mut own: Vec<&str> = Vec::new();
                for v in list {
                    if own.last() != Some(v) {
                        own.push(v);
                    }
                }
                seen.extend(own);
            }
            assert_eq!(seen, input, "{n} values");
        }
    }

    /// Batches of many sizes (every row shape, lists past the largest shape) on a backend:
    /// every row lands once, a new version supersedes the old, and the newest versions read
    /// back for every subject.
    async fn versions_round_trip(url: &str) {
        let store = Store::open(url).await.expect("open");
        // node:n0 to node:n36, and node:kept, which no later batch names.
        let mut first: Vec<CertRecord> = (0..37)
            .map(|i| record(format!("a{i:04x}"), format!("node:n{i}"), 1))
            .collect();
        first.push(record("c0000".into(), "node:kept".into(), 1));
        insert_versions(&store, &first).await.expect("first batch");
        // 37 second versions and 266 new subjects: 303 rows, lists of 256 and 64.
        let second: Vec<CertRecord> = (0..303)
            .map(|i| {
                record(
                    format!("b{i:04x}"),
                    format!("node:n{i}"),
                    if i < 37 { 2 } else { 1 },
                )
            })
            .collect();
        insert_versions(&store, &second)
            .await
            .expect("second batch");
        assert_eq!(all(&store).await.expect("all").len(), 341);
        let subjects: Vec<String> = (0..304).map(|i| format!("node:n{i}")).collect();
        let asked: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let latest = latest_versions(&store, &asked).await.expect("latest");
        assert_eq!(latest.len(), 303, "node:n303 has no certificate");
        for i in 0..303 {
            let (version, state, serial) = &latest[&format!("node:n{i}")];
            assert_eq!(
                (*version, *state, serial.as_str()),
                (
                    if i < 37 { 2 } else { 1 },
                    CertState::Active,
                    format!("b{i:04x}").as_str()
                )
            );
        }
        for i in 0..37 {
            let old = by_serial(&store, &format!("a{i:04x}")).await.expect("read");
            assert_eq!(old.expect("kept").state, CertState::Superseded);
        }
        let kept = by_serial(&store, "c0000").await.expect("read");
        assert_eq!(
            kept.expect("kept").state,
            CertState::Active,
            "superseded too far"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn batches_round_trip_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        versions_round_trip(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("i.db").display()
        ))
        .await;
    }

    #[tokio::test]
    async fn batches_round_trip_on_postgres() {
        let Some((url, name)) = sandi_e2e::pg::postgres().await else {
            return;
        };
        versions_round_trip(&url).await;
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}
