//! The `applications` table: the applications that call the signing API. The rows' MACs are
//! made and checked by `officials::applications`; here only the SQL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Result;
use crate::store::Store;

/// How long a row read by certificate is answered from memory. Every write here clears the
/// cache at once; the bound is for writes by another process of the node (PostgreSQL) or by
/// hand: an application suspended there signs for at most this long. Only rows whose MAC the
/// caller checked are kept (see [`remember`]): a row changed in the database is never kept,
/// and a kept row is the very bytes that were checked.
const FRESH: Duration = Duration::from_secs(1);
/// Most rows held (a node has tens of applications; a flood of unknown certificates is not
/// cached at all).
const HELD: usize = 1024;

/// Rows recently read by certificate, per process, with the instant each was read.
#[derive(Debug, Default)]
pub struct RowCache {
    rows: Mutex<HashMap<String, (ApplicationRow, Instant)>>,
    /// Bumped by every write: a row read before a write is not cached after it.
    generation: std::sync::atomic::AtomicU64,
}

impl RowCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ApplicationRow, Instant)>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn clear(&self) {
        let mut rows = self.lock();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        rows.clear();
    }
}

const COLUMNS: &str = "id, name, agency, clearance, roles, status, certificate_sha256, signing_key, certificate, may_sign_for, client_csr, mac";

/// An application's row as stored (`roles` and `may_sign_for` are JSON lists).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub clearance: String,
    pub roles: String,
    pub status: String,
    pub certificate_sha256: String,
    pub signing_key: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub may_sign_for: String,
    /// The application's own certificate request (DER) it was registered with, if any.
    pub client_csr: Option<Vec<u8>>,
    /// The node's MAC over the row.
    pub mac: Option<String>,
}

/// Adds a new application's row as given (its MAC already made).
pub async fn insert(store: &Store, r: &ApplicationRow, created_at: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO applications (id, name, agency, clearance, roles, status, certificate_sha256, \
         signing_key, certificate, may_sign_for, client_csr, mac, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.agency)
    .bind(&r.clearance)
    .bind(&r.roles)
    .bind(&r.status)
    .bind(&r.certificate_sha256)
    .bind(&r.signing_key)
    .bind(&r.certificate)
    .bind(&r.may_sign_for)
    .bind(&r.client_csr)
    .bind(&r.mac)
    .bind(created_at)
    .execute(store.pool())
    .await?;
    store.applications.clear();
    Ok(())
}

/// Writes every column of the application's row (by its id), if its MAC is still `old_mac`
/// (a concurrent change is never overwritten); whether it was written.
pub async fn update(store: &Store, r: &ApplicationRow, old_mac: Option<&str>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE applications SET name = $1, agency = $2, clearance = $3, roles = $4, status = $5, \
         certificate_sha256 = $6, signing_key = $7, certificate = $8, may_sign_for = $9, \
         client_csr = $10, mac = $11 WHERE id = $12 AND mac = $13",
    )
    .bind(&r.name)
    .bind(&r.agency)
    .bind(&r.clearance)
    .bind(&r.roles)
    .bind(&r.status)
    .bind(&r.certificate_sha256)
    .bind(&r.signing_key)
    .bind(&r.certificate)
    .bind(&r.may_sign_for)
    .bind(&r.client_csr)
    .bind(&r.mac)
    .bind(&r.id)
    .bind(old_mac)
    .execute(store.pool())
    .await?;
    store.applications.clear();
    Ok(done.rows_affected() != 0)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<ApplicationRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// The application whose client certificate has this SHA-256 (hex).
pub async fn by_certificate_sha256(store: &Store, sha256: &str) -> Result<Option<ApplicationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications WHERE certificate_sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(store.reader())
    .await?)
}

/// The row with this certificate SHA-256, from memory, if one was kept less than [`FRESH`]
/// ago and no application was written since.
pub fn remembered_by_certificate(store: &Store, sha256: &str) -> Option<ApplicationRow> {
    match store.applications.lock().get(sha256) {
        Some((row, at)) if at.elapsed() < FRESH => Some(row.clone()),
        _ => None,
    }
}

/// When a row was read, to keep it only if no write came between the read and [`remember`].
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    at: Instant,
    generation: u64,
}

/// Reads [`by_certificate_sha256`], noting when, for [`remember`].
pub async fn by_certificate_sha256_reading(
    store: &Store,
    sha256: &str,
) -> Result<(Option<ApplicationRow>, Reading)> {
    let reading = Reading {
        at: Instant::now(),
        generation: store
            .applications
            .generation
            .load(std::sync::atomic::Ordering::SeqCst),
    };
    Ok((by_certificate_sha256(store, sha256).await?, reading))
}

/// Keeps a row the caller read at `reading` and found carrying the node's MAC (under the
/// certificate SHA-256 the row names), unless an application was written since. Only a row
/// whose MAC was checked may be kept: a kept row is answered without another check.
pub fn remember(store: &Store, row: &ApplicationRow, reading: Reading) {
    let mut rows = store.applications.lock();
    let written_since = store
        .applications
        .generation
        .load(std::sync::atomic::Ordering::SeqCst)
        != reading.generation;
    if written_since {
        return;
    }
    if rows.len() >= HELD {
        rows.retain(|_, (_, at)| at.elapsed() < FRESH);
    }
    if rows.len() < HELD {
        rows.insert(row.certificate_sha256.clone(), (row.clone(), reading.at));
    }
}
