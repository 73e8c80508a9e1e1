//! Letters' rows: `documents` (one per letter: its signed manifest, the fields lists search on,
//! where it stands and whom its ciphertext is wrapped to), `document_versions` (the signed
//! versions a reclassification replaced) and `destructions` (the signed record a destroyed
//! letter leaves).

use sqlx::FromRow;

use super::script::Script;
use super::{Store, Tx};
use crate::Result;

/// A letter's row as it is first written. `wrapped_to` is the JSON list of key ids.
#[derive(Clone, Copy, Debug)]
pub struct NewDocument<'a> {
    pub id: &'a str,
    pub nomor: &'a str,
    pub perihal: &'a str,
    pub classification: &'a str,
    pub urgency: &'a str,
    pub originator: &'a str,
    pub agency: &'a str,
    pub manifest: &'a [u8],
    pub signature: &'a [u8],
    pub created_at: &'a str,
    pub policy_version: &'a str,
    pub wrapped_to: &'a str,
    /// The letter it answers or passes on, as its manifest says.
    pub refers_to: Option<&'a str>,
}

/// Writes a letter this node created, in `state`.
pub async fn insert_document(tx: &mut Tx, d: &NewDocument<'_>, state: &str) -> Result<()> {
    let mut s = Script::new();
    push_document(&mut s, d, state);
    s.run(tx).await.map(drop)
}

/// Writes a letter in `state` (`received` for one from another node), as a statement of `s`.
pub fn push_document(s: &mut Script, d: &NewDocument<'_>, state: &str) {
    s.push(
        "INSERT INTO documents (id, nomor, perihal, classification, urgency, originator, agency, \
         manifest, signature, state, created_at, policy_version, wrapped_to, refers_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        vec![
            d.id.into(),
            d.nomor.into(),
            d.perihal.into(),
            d.classification.into(),
            d.urgency.into(),
            d.originator.into(),
            d.agency.into(),
            d.manifest.into(),
            d.signature.into(),
            state.into(),
            d.created_at.into(),
            d.policy_version.into(),
            d.wrapped_to.into(),
            d.refers_to.into(),
        ],
    );
}

/// A letter's row as stored: the searchable fields (to compare with the signed manifest), the
/// manifest, its signature and the state.
#[derive(Debug, FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub nomor: String,
    pub perihal: String,
    pub classification: String,
    pub urgency: String,
    pub originator: String,
    pub agency: String,
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    pub state: String,
}

/// The row of letter `id`, if there is one.
pub async fn document(store: &Store, id: &str) -> Result<Option<DocumentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, nomor, perihal, classification, urgency, originator, agency, manifest, signature, state \
         FROM documents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.reader())
    .await?)
}

/// Whether a letter with this id is stored.
pub async fn exists(store: &Store, id: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT id FROM documents WHERE id = $1")
        .bind(id)
        .fetch_optional(store.reader())
        .await?
        .is_some())
}

/// Moves letter `id` from state `from` to `to`; `false` if it was not in `from` (any more).
pub async fn move_state(tx: &mut Tx, id: &str, from: &str, to: &str) -> Result<bool> {
    let moved = sqlx::query("UPDATE documents SET state = $1 WHERE id = $2 AND state = $3")
        .bind(to)
        .bind(id)
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(moved.rows_affected() == 1)
}

/// The JSON list of keys letter `id` is wrapped to (an error if there is no such letter).
pub async fn wrapped_to(store: &Store, id: &str) -> Result<String> {
    let (wrapped,): (String,) = sqlx::query_as("SELECT wrapped_to FROM documents WHERE id = $1")
        .bind(id)
        .fetch_one(store.reader())
        .await?;
    Ok(wrapped)
}

/// Records whom letter `id` is wrapped to now (a JSON list of key ids).
pub async fn set_wrapped_to(tx: &mut Tx, id: &str, wrapped_to: &str) -> Result<()> {
    sqlx::query("UPDATE documents SET wrapped_to = $1 WHERE id = $2")
        .bind(wrapped_to)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How many letters are in a state other than `except`.
pub async fn count_except(store: &Store, except: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) AS n FROM documents WHERE state <> $1")
        .bind(except)
        .fetch_one(store.reader())
        .await?;
    Ok(n)
}

/// A letter as a rewrap run pages through them.
#[derive(Debug, FromRow)]
pub struct WrappedRow {
    pub id: String,
    pub manifest: Vec<u8>,
    /// JSON list of key ids.
    pub wrapped_to: String,
}

/// Up to `limit` letters with ids after `after`, in id order, not in state `except`.
pub async fn page_after(
    store: &Store,
    after: &str,
    except: &str,
    limit: i64,
) -> Result<Vec<WrappedRow>> {
    Ok(sqlx::query_as(
        "SELECT id, manifest, wrapped_to FROM documents WHERE id > $1 AND state <> $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(except)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

/// The `wrapped_to` JSON lists of every letter not in state `except`.
pub async fn all_wrapped_to(store: &Store, except: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT wrapped_to FROM documents WHERE state <> $1")
        .bind(except)
        .fetch_all(store.reader())
        .await?;
    Ok(rows.into_iter().map(|(w,)| w).collect())
}

/// A signed version that a reclassification replaced.
#[derive(Clone, Copy, Debug)]
pub struct OldVersion<'a> {
    pub id: &'a str,
    pub version: i64,
    pub classification: &'a str,
    pub manifest: &'a [u8],
    pub signature: &'a [u8],
    pub superseded_at: &'a str,
}

/// Keeps a replaced version.
pub async fn insert_version(tx: &mut Tx, v: &OldVersion<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_versions (document_id, version, classification, manifest, signature, superseded_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(v.id)
    .bind(v.version)
    .bind(v.classification)
    .bind(v.manifest)
    .bind(v.signature)
    .bind(v.superseded_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The new signed version of a reclassified letter.
#[derive(Clone, Copy, Debug)]
pub struct NewVersion<'a> {
    pub id: &'a str,
    pub version: i64,
    pub classification: &'a str,
    pub manifest: &'a [u8],
    pub signature: &'a [u8],
    pub policy_version: &'a str,
    pub wrapped_to: &'a str,
}

/// Puts version `v.version` in place of `v.version - 1`, unless the letter changed meanwhile
/// or is in state `except`; `false` if nothing was replaced.
pub async fn replace_version(tx: &mut Tx, v: &NewVersion<'_>, except: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE documents SET classification = $1, manifest = $2, signature = $3, version = $4, \
         policy_version = $5, wrapped_to = $6 WHERE id = $7 AND version = $8 AND state <> $9",
    )
    .bind(v.classification)
    .bind(v.manifest)
    .bind(v.signature)
    .bind(v.version)
    .bind(v.policy_version)
    .bind(v.wrapped_to)
    .bind(v.id)
    .bind(v.version - 1)
    .bind(except)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// A kept earlier version.
#[derive(Debug, FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub classification: String,
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    pub superseded_at: String,
}

/// The earlier versions of letter `id`, oldest first.
pub async fn versions(store: &Store, id: &str) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(
        "SELECT version, classification, manifest, signature, superseded_at FROM document_versions \
         WHERE document_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}

/// When a letter was written here, and when it was received if it came from another node.
#[derive(Debug, FromRow)]
pub struct StoredTimes {
    pub created_at: String,
    pub received_at: Option<String>,
}

/// The storage times of letter `id`, if there is one.
pub async fn stored_times(store: &Store, id: &str) -> Result<Option<StoredTimes>> {
    Ok(sqlx::query_as(
        "SELECT d.created_at, r.received_at FROM documents d \
         LEFT JOIN received r ON r.document_id = d.id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(store.reader())
    .await?)
}

/// Puts letter `id` in state `destroyed` and forgets whom it was wrapped to and who had it
/// unread; `false` if it already was in that state.
pub async fn mark_destroyed(tx: &mut Tx, id: &str, destroyed: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE documents SET state = $1, wrapped_to = '[]' WHERE id = $2 AND state <> $1",
    )
    .bind(destroyed)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM unread WHERE document_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(moved.rows_affected() == 1)
}

/// Stores the signed destruction record of letter `id`.
pub async fn insert_destruction(
    tx: &mut Tx,
    id: &str,
    record: &[u8],
    signature: &[u8],
    destroyed_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO destructions (document_id, record, signature, destroyed_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(record)
    .bind(signature)
    .bind(destroyed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A destruction record, its signature, and the destroyed letter's originator.
#[derive(Debug, FromRow)]
pub struct DestructionRow {
    pub record: Vec<u8>,
    pub signature: Vec<u8>,
    pub originator: String,
}

/// The destruction record of letter `id`, if it was destroyed.
pub async fn destruction(store: &Store, id: &str) -> Result<Option<DestructionRow>> {
    Ok(sqlx::query_as(
        "SELECT x.record, x.signature, d.originator FROM destructions x \
         JOIN documents d ON d.id = x.document_id WHERE x.document_id = $1",
    )
    .bind(id)
    .fetch_optional(store.reader())
    .await?)
}

/// The letters that name letter `id` as the one they answer or pass on and that `nip` wrote
/// or is addressed by, oldest first (their manifests have the last word: the column is only
/// where to look).
pub async fn referring(store: &Store, id: &str, nip: &str, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT d.id FROM documents d WHERE d.refers_to = $1 AND (d.originator = $2 OR \
         EXISTS (SELECT 1 FROM addressees a WHERE a.document_id = d.id AND a.nip = $2)) \
         ORDER BY d.created_at, d.id LIMIT $3",
    )
    .bind(id)
    .bind(nip)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

/// A letter as the retention list shows it: no perihal, nothing its reader alone may see.
#[derive(Debug, FromRow)]
pub struct RetentionRow {
    pub id: String,
    pub nomor: String,
    pub classification: String,
    pub agency: String,
    /// When this node stored it: received, or created here.
    pub stored: String,
}

/// The letters of `level` this node stored before `cutoff` (RFC 3339) and still holds, the
/// oldest first, at most `limit`.
pub async fn stored_before(
    store: &Store,
    level: &str,
    cutoff: &str,
    limit: i64,
) -> Result<Vec<RetentionRow>> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.nomor, d.classification, d.agency, \
         COALESCE(r.received_at, d.created_at) AS stored \
         FROM documents d LEFT JOIN received r ON r.document_id = d.id \
         WHERE d.state IN ('sent', 'received') AND d.classification = $1 \
         AND COALESCE(r.received_at, d.created_at) < $2 \
         ORDER BY stored, d.id LIMIT $3",
    )
    .bind(level)
    .bind(cutoff)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}
