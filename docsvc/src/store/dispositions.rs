//! Disposisi and their reports (tindak lanjut), see migration 0024. Each row carries the node's
//! MAC over every field but the encrypted bytes (bound through their plaintext's SHA-256) and
//! `read_at`; the service checks it on every read.

use sqlx::FromRow;

use super::{Backend, Store, Tx};
use crate::Result;

/// A disposisi as stored.
#[derive(Clone, Debug, FromRow)]
pub struct Disposition {
    pub id: String,
    pub document_id: String,
    pub parent_id: Option<String>,
    pub agency: String,
    pub from_nip: String,
    pub to_nip: String,
    pub instruction: String,
    pub due: Option<String>,
    /// Not read where only the grant is wanted.
    pub note: Option<Vec<u8>>,
    pub note_sha256: String,
    pub key_id: String,
    pub at: String,
    pub signature: Vec<u8>,
    pub mac: String,
    pub read_at: Option<String>,
}

/// A report as stored.
#[derive(Clone, Debug, FromRow)]
pub struct Report {
    pub id: String,
    pub disposition_id: String,
    pub nip: String,
    /// `progress` or `done`.
    pub state: String,
    /// Not read where only the state is wanted.
    pub body: Option<Vec<u8>>,
    pub body_sha256: String,
    /// Read only for a download.
    pub files: Option<Vec<u8>>,
    pub files_sha256: String,
    pub key_id: String,
    pub at: String,
    pub signature: Vec<u8>,
    pub mac: String,
}

const DOMAIN: &str = "sandi dispositions v1";
const REPORT_DOMAIN: &str = "sandi disposition reports v1";

fn fields(d: &Disposition) -> Vec<Vec<u8>> {
    vec![
        d.id.as_bytes().to_vec(),
        d.document_id.as_bytes().to_vec(),
        super::integrity::opt(d.parent_id.as_deref()),
        d.agency.as_bytes().to_vec(),
        d.from_nip.as_bytes().to_vec(),
        d.to_nip.as_bytes().to_vec(),
        d.instruction.as_bytes().to_vec(),
        super::integrity::opt(d.due.as_deref()),
        d.note_sha256.as_bytes().to_vec(),
        d.key_id.as_bytes().to_vec(),
        d.at.as_bytes().to_vec(),
        ring::digest::digest(&ring::digest::SHA256, &d.signature)
            .as_ref()
            .to_vec(),
    ]
}

fn report_fields(r: &Report) -> Vec<Vec<u8>> {
    vec![
        r.id.as_bytes().to_vec(),
        r.disposition_id.as_bytes().to_vec(),
        r.nip.as_bytes().to_vec(),
        r.state.as_bytes().to_vec(),
        r.body_sha256.as_bytes().to_vec(),
        r.files_sha256.as_bytes().to_vec(),
        r.key_id.as_bytes().to_vec(),
        r.at.as_bytes().to_vec(),
        ring::digest::digest(&ring::digest::SHA256, &r.signature)
            .as_ref()
            .to_vec(),
    ]
}

fn refs(f: &[Vec<u8>]) -> Vec<&[u8]> {
    f.iter().map(Vec::as_slice).collect()
}

/// Whether the row's MAC is the node's.
pub fn holds(store: &Store, d: &Disposition) -> Result<bool> {
    store
        .integrity()
        .verify(DOMAIN, &refs(&fields(d)), Some(&d.mac))
}

/// Whether the report's MAC is the node's.
pub fn report_holds(store: &Store, r: &Report) -> Result<bool> {
    store
        .integrity()
        .verify(REPORT_DOMAIN, &refs(&report_fields(r)), Some(&r.mac))
}

const COLUMNS: &str = "id, document_id, parent_id, agency, from_nip, to_nip, instruction, due, \
     note, note_sha256, key_id, at, signature, mac, read_at";
const REPORT_COLUMNS: &str = "id, disposition_id, nip, state, body, body_sha256, files, \
     files_sha256, key_id, at, signature, mac";

/// Writes `d` with the node's MAC (whatever `d.mac` and `d.read_at` hold).
pub async fn insert(tx: &mut Tx, store: &Store, d: &Disposition) -> Result<()> {
    let mac = store.integrity().mac(DOMAIN, &refs(&fields(d)))?;
    sqlx::query(&format!(
        "INSERT INTO dispositions ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)"
    ))
    .bind(&d.id)
    .bind(&d.document_id)
    .bind(d.parent_id.as_deref())
    .bind(&d.agency)
    .bind(&d.from_nip)
    .bind(&d.to_nip)
    .bind(&d.instruction)
    .bind(d.due.as_deref())
    .bind(d.note.as_deref())
    .bind(&d.note_sha256)
    .bind(&d.key_id)
    .bind(&d.at)
    .bind(&d.signature)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `r` with the node's MAC.
pub async fn insert_report(tx: &mut Tx, store: &Store, r: &Report) -> Result<()> {
    let mac = store
        .integrity()
        .mac(REPORT_DOMAIN, &refs(&report_fields(r)))?;
    sqlx::query(&format!(
        "INSERT INTO disposition_reports ({REPORT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&r.id)
    .bind(&r.disposition_id)
    .bind(&r.nip)
    .bind(&r.state)
    .bind(&r.body)
    .bind(&r.body_sha256)
    .bind(&r.files)
    .bind(&r.files_sha256)
    .bind(&r.key_id)
    .bind(&r.at)
    .bind(&r.signature)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// At most this many disposisi are read for one letter (a chain of 20 officials each passing
/// it to 20 is 400): more is refused rather than cut silently.
pub const MAX_PER_LETTER: i64 = 1000;

/// The disposisi of letter `id` given in `agency` (or in any), oldest first, at most
/// [`MAX_PER_LETTER`] + 1 of one agency.
pub async fn of_letter(store: &Store, id: &str, agency: Option<&str>) -> Result<Vec<Disposition>> {
    let limit = if agency.is_some() {
        MAX_PER_LETTER + 1
    } else {
        i64::MAX
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dispositions WHERE document_id = $1 \
         AND ($2 IS NULL OR agency = $2) ORDER BY at, id LIMIT $3"
    ))
    .bind(id)
    .bind(agency)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

/// The disposisi of letter `id` to `nip`, without notes: what a grant is checked on.
pub async fn to_official_on(store: &Store, id: &str, nip: &str) -> Result<Vec<Disposition>> {
    let columns = COLUMNS.replace("note, note_sha256", "NULL AS note, note_sha256");
    Ok(sqlx::query_as(&format!(
        "SELECT {columns} FROM dispositions WHERE document_id = $1 AND to_nip = $2 \
         ORDER BY at, id LIMIT 100"
    ))
    .bind(id)
    .bind(nip)
    .fetch_all(store.reader())
    .await?)
}

/// How many disposisi `agency` gave on letter `id`, inside the transaction that adds more:
/// on PostgreSQL the letter's row is locked first, so concurrent givers count in turn (SQLite
/// has one writer).
pub async fn count_on(tx: &mut Tx, backend: Backend, id: &str, agency: &str) -> Result<i64> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM documents WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM dispositions WHERE document_id = $1 AND agency = $2",
    )
    .bind(id)
    .bind(agency)
    .fetch_one(&mut **tx)
    .await?)
}

/// The reports on disposisi `id`, without their bodies.
pub async fn reports_of(store: &Store, id: &str) -> Result<Vec<Report>> {
    Ok(sqlx::query_as(
        "SELECT id, disposition_id, nip, state, NULL AS body, body_sha256, NULL AS files, \
         files_sha256, key_id, at, signature, mac FROM disposition_reports \
         WHERE disposition_id = $1 ORDER BY at, id LIMIT 1000",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}

/// Replaces a note's ciphertext and key (sealed again to another archive key), with a new
/// MAC, if the row is still under `old_key`.
pub async fn set_note(store: &Store, d: &Disposition, old_key: &str) -> Result<()> {
    let mac = store.integrity().mac(DOMAIN, &refs(&fields(d)))?;
    sqlx::query(
        "UPDATE dispositions SET note = $2, key_id = $3, mac = $4 WHERE id = $1 AND key_id = $5",
    )
    .bind(&d.id)
    .bind(d.note.as_deref())
    .bind(&d.key_id)
    .bind(mac)
    .bind(old_key)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Replaces a report's ciphertexts and key, with a new MAC, if it is still under `old_key`.
pub async fn set_report(store: &Store, r: &Report, old_key: &str) -> Result<()> {
    let mac = store
        .integrity()
        .mac(REPORT_DOMAIN, &refs(&report_fields(r)))?;
    sqlx::query(
        "UPDATE disposition_reports SET body = $2, files = $3, key_id = $4, mac = $5 \
         WHERE id = $1 AND key_id = $6",
    )
    .bind(&r.id)
    .bind(r.body.as_deref())
    .bind(r.files.as_deref())
    .bind(&r.key_id)
    .bind(mac)
    .bind(old_key)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// How many reports disposisi `id` has.
pub async fn report_count(store: &Store, id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM disposition_reports WHERE disposition_id = $1")
            .bind(id)
            .fetch_one(store.reader())
            .await?,
    )
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Disposition>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM dispositions WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// A disposisi received, with its letter's number, subject and level.
#[derive(Clone, Debug, FromRow)]
pub struct ReceivedRow {
    #[sqlx(flatten)]
    pub disposition: Disposition,
    pub nomor: String,
    pub perihal: String,
    pub classification: String,
}

/// The disposisi `nip` received, newest first, at most `limit`.
pub async fn to_official(store: &Store, nip: &str, limit: i64) -> Result<Vec<ReceivedRow>> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("d.{c}")).collect();
    Ok(sqlx::query_as(&format!(
        "SELECT {}, l.nomor, l.perihal, l.classification FROM dispositions d \
         JOIN documents l ON l.id = d.document_id \
         WHERE d.to_nip = $1 ORDER BY d.at DESC, d.id DESC LIMIT $2",
        columns.join(", ")
    ))
    .bind(nip)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

/// The reports on `agency`'s disposisi of letter `id`, oldest first, without their files.
pub async fn reports_of_letter(store: &Store, id: &str, agency: &str) -> Result<Vec<Report>> {
    Ok(sqlx::query_as(
        "SELECT r.id, r.disposition_id, r.nip, r.state, r.body, r.body_sha256, NULL AS files, \
         r.files_sha256, r.key_id, r.at, r.signature, r.mac FROM disposition_reports r \
         JOIN dispositions d ON d.id = r.disposition_id \
         WHERE d.document_id = $1 AND d.agency = $2 ORDER BY r.at, r.id LIMIT $3",
    )
    .bind(id)
    .bind(agency)
    .bind(MAX_PER_LETTER * 4)
    .fetch_all(store.reader())
    .await?)
}

/// Every report on letter `id` with its bytes (for sealing them again), at most 100 at a time
/// after report `after`.
pub async fn reports_to_reseal(store: &Store, id: &str, after: &str) -> Result<Vec<Report>> {
    Ok(sqlx::query_as(
        "SELECT r.id, r.disposition_id, r.nip, r.state, r.body, r.body_sha256, r.files, \
         r.files_sha256, r.key_id, r.at, r.signature, r.mac FROM disposition_reports r \
         JOIN dispositions d ON d.id = r.disposition_id \
         WHERE d.document_id = $1 AND r.id > $2 ORDER BY r.id LIMIT 100",
    )
    .bind(id)
    .bind(after)
    .fetch_all(store.reader())
    .await?)
}

/// The reports, without their bodies, on the newest `limit` disposisi `nip` received.
pub async fn report_states(store: &Store, nip: &str, limit: i64) -> Result<Vec<Report>> {
    Ok(sqlx::query_as(
        "SELECT id, disposition_id, nip, state, NULL AS body, body_sha256, NULL AS files, \
         files_sha256, key_id, at, signature, mac FROM disposition_reports WHERE disposition_id IN \
         (SELECT id FROM dispositions WHERE to_nip = $1 ORDER BY at DESC, id DESC LIMIT $2) \
         ORDER BY at, id",
    )
    .bind(nip)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

pub async fn get_report(store: &Store, id: &str) -> Result<Option<Report>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {REPORT_COLUMNS} FROM disposition_reports WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.reader())
    .await?)
}

/// Notes that `nip` opened the letter their disposisi of letter `id` passed to them.
pub async fn mark_read(store: &Store, id: &str, nip: &str, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE dispositions SET read_at = $3 WHERE document_id = $1 AND to_nip = $2 \
         AND read_at IS NULL",
    )
    .bind(id)
    .bind(nip)
    .bind(at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// How many disposisi to `nip` are not done and unread or due on or before `horizon`
/// (`YYYY-MM-DD`): overdue, or due soon.
pub async fn waiting(store: &Store, nip: &str, horizon: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM dispositions d WHERE d.to_nip = $1 \
         AND (d.read_at IS NULL OR (d.due IS NOT NULL AND d.due <= $2)) \
         AND NOT EXISTS (SELECT 1 FROM disposition_reports r \
                         WHERE r.disposition_id = d.id AND r.state = 'done')",
    )
    .bind(nip)
    .bind(horizon)
    .fetch_one(store.reader())
    .await?)
}

/// The archive keys the disposisi and reports are encrypted to: kept while any is (a letter's
/// destruction empties its rows, which then hold none).
pub async fn key_ids(store: &Store) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT key_id FROM dispositions WHERE length(note) > 0 \
         UNION SELECT key_id FROM disposition_reports WHERE length(body) > 0",
    )
    .fetch_all(store.reader())
    .await?)
}

/// Drops the encrypted notes and reports of letter `id` (its destruction): the rows stay as
/// the record of who was told what to do, with empty bytes.
pub async fn shred(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("UPDATE dispositions SET note = $2 WHERE document_id = $1")
        .bind(id)
        .bind(Vec::<u8>::new())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE disposition_reports SET body = $2, files = $2 WHERE disposition_id IN \
         (SELECT id FROM dispositions WHERE document_id = $1)",
    )
    .bind(id)
    .bind(Vec::<u8>::new())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
