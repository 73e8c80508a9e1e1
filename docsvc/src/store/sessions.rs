//! The `sessions` table. The rows' MACs are made and checked by the officials' service
//! (`officials::session`); here only the SQL.

use crate::Result;
use crate::store::{Backend, Store, Tx};

const COLUMNS: &str = "token_hash, nip, csrf, created_at, expires_at, step_up_until, mac";

/// A session's row as stored.
#[derive(Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub nip: String,
    pub csrf: String,
    pub created_at: String,
    pub expires_at: String,
    pub step_up_until: Option<String>,
    pub mac: Option<String>,
}

// The CSRF token stays out of logs and panics.
impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("nip", &self.nip)
            .finish_non_exhaustive()
    }
}

/// The session whose token hashes to `token_hash` (from the writer: a session is read right
/// after it was written).
pub async fn get(store: &Store, token_hash: &str) -> Result<Option<SessionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(store.pool())
    .await?)
}

/// Adds a new session's row (no step-up yet).
pub async fn insert(store: &Store, row: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, nip, csrf, created_at, expires_at, mac) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.token_hash)
    .bind(&row.nip)
    .bind(&row.csrf)
    .bind(&row.created_at)
    .bind(&row.expires_at)
    .bind(&row.mac)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Writes the row's expiry, step-up and MAC if its MAC is still `old_mac` (compare and set:
/// a concurrent change is never overwritten). Whether it was written.
pub async fn update_if_unchanged(
    store: &Store,
    row: &SessionRow,
    old_mac: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET expires_at = $1, step_up_until = $2, mac = $3 \
         WHERE token_hash = $4 AND nip = $5 AND mac = $6",
    )
    .bind(&row.expires_at)
    .bind(&row.step_up_until)
    .bind(&row.mac)
    .bind(&row.token_hash)
    .bind(&row.nip)
    .bind(old_mac)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The official's sessions with a step-up in `tx`, locked against other writers until it ends
/// (PostgreSQL; on SQLite the one writing connection already serialises transactions).
pub async fn stepped_up_for_update(
    tx: &mut Tx,
    backend: Backend,
    nip: &str,
) -> Result<Vec<SessionRow>> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE nip = $1 AND step_up_until IS NOT NULL{lock}"
    ))
    .bind(nip)
    .fetch_all(&mut **tx)
    .await?)
}

/// Clears one session's step-up in `tx`, with the MAC given.
pub async fn clear_step_up(tx: &mut Tx, token_hash: &str, mac: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET step_up_until = NULL, mac = $1 WHERE token_hash = $2")
        .bind(mac)
        .bind(token_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn delete(store: &Store, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Ends every session of an official.
pub async fn delete_of_official(store: &Store, nip: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE nip = $1")
        .bind(nip)
        .execute(store.pool())
        .await?;
    Ok(())
}
