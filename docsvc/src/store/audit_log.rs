//! The access log's tables: `audit_log` (the entries and their leaf hashes), `audit_state` (the
//! tree's size and frontier, one row) and `audit_heads` (every signed tree head). Errors stay
//! sqlx's own so that the log can name a write it could not make as "the log is unavailable".

use super::{Store, Tx};

/// One stored entry: its place in the log, its canonical JSON and its leaf hash (hex).
#[derive(Debug, sqlx::FromRow)]
pub struct StoredEntry {
    pub seq: i64,
    pub entry: String,
    pub leaf_hash: String,
}

/// A stored signed tree head.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredHead {
    pub size: i64,
    pub root: String,
    pub at: String,
    pub key_id: String,
    pub signature: String,
}

/// The tree as the last append left it: its size and its frontier (JSON of `[height, hex]`).
#[derive(Debug, sqlx::FromRow)]
pub struct TreeState {
    pub size: i64,
    pub frontier: String,
}

/// The tree's state, its row lock taken first (an update that changes nothing): serialises
/// appenders across processes (PostgreSQL) and makes SQLite take its write lock before
/// reading. One statement, one round trip.
pub async fn lock_state(tx: &mut Tx) -> sqlx::Result<TreeState> {
    sqlx::query_as("UPDATE audit_state SET size = size WHERE id = 1 RETURNING size, frontier")
        .fetch_one(&mut **tx)
        .await
}

/// Inserts `(seq, entry, leaf_hash)` rows in one statement: one round trip to the database for
/// a whole group of a group commit.
pub async fn insert_entries(tx: &mut Tx, rows: Vec<(i64, String, String)>) -> sqlx::Result<()> {
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (seq, entry, leaf_hash) VALUES {}",
        values.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for (seq, text, leaf) in rows {
        q = q.bind(seq).bind(text).bind(leaf);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

pub async fn set_state(tx: &mut Tx, size: i64, frontier: String) -> sqlx::Result<()> {
    sqlx::query("UPDATE audit_state SET size = $1, frontier = $2 WHERE id = 1")
        .bind(size)
        .bind(frontier)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn insert_head(tx: &mut Tx, head: &StoredHead) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_heads (size, root, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(head.size)
    .bind(&head.root)
    .bind(&head.at)
    .bind(&head.key_id)
    .bind(&head.signature)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every entry, in order.
pub async fn entries(store: &Store) -> sqlx::Result<Vec<StoredEntry>> {
    sqlx::query_as("SELECT seq, entry, leaf_hash FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await
}

/// Up to 1000 entries from `seq` on, in order (one page of an export).
pub async fn entries_from(store: &Store, seq: i64) -> sqlx::Result<Vec<StoredEntry>> {
    sqlx::query_as(
        "SELECT seq, entry, leaf_hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 1000",
    )
    .bind(seq)
    .fetch_all(store.reader())
    .await
}

/// The entry's JSON at `seq`, if there is one.
pub async fn entry_text(store: &Store, seq: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT entry FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(store.reader())
        .await
}

/// Every entry's leaf hash (hex), in order.
pub async fn leaf_hashes(store: &Store) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT leaf_hash FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await
}

/// The leaf hashes (hex) of the first `size` entries, in order.
pub async fn leaf_hashes_upto(store: &Store, size: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT leaf_hash FROM audit_log WHERE seq < $1 ORDER BY seq")
        .bind(size)
        .fetch_all(store.reader())
        .await
}

/// The newest signed head, if the log has one.
pub async fn newest_head(store: &Store) -> sqlx::Result<Option<StoredHead>> {
    sqlx::query_as(
        "SELECT size, root, at, key_id, signature FROM audit_heads ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(store.reader())
    .await
}

/// Every signed head, by size.
pub async fn heads(store: &Store) -> sqlx::Result<Vec<StoredHead>> {
    sqlx::query_as("SELECT size, root, at, key_id, signature FROM audit_heads ORDER BY size")
        .fetch_all(store.pool())
        .await
}

/// The signed head for `size` (an error when there is none).
pub async fn head_of_size(store: &Store, size: i64) -> sqlx::Result<StoredHead> {
    sqlx::query_as("SELECT size, root, at, key_id, signature FROM audit_heads WHERE size = $1")
        .bind(size)
        .fetch_one(store.pool())
        .await
}
