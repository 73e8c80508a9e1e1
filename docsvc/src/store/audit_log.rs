//! The access log's tables: `audit_log` (the entries and their leaf hashes), `audit_state` (the
//! tree's size and frontier, one row) and `audit_heads` (every signed tree head). Errors stay
//! sqlx's own (or the store's `Database`, from a script) so that the log can name a write it
//! could not make as "the log is unavailable".

use super::script::{Arg, Script};
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

/// Inserts `(seq, entry, leaf_hash)` rows in one statement of `s`: one for a whole group of
/// a group commit.
pub fn push_entries(s: &mut Script, rows: Vec<(i64, String, String)>) {
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (seq, entry, leaf_hash) VALUES {}",
        values.join(", ")
    );
    let mut args = Vec::with_capacity(rows.len() * 3);
    for (seq, text, leaf) in rows {
        args.extend([Arg::Int(seq), Arg::Text(text), Arg::Text(leaf)]);
    }
    s.push(sql, args);
}

pub fn push_state(s: &mut Script, size: i64, frontier: String) {
    s.push(
        "UPDATE audit_state SET size = $1, frontier = $2 WHERE id = 1",
        vec![Arg::Int(size), Arg::Text(frontier)],
    );
}

pub fn push_head(s: &mut Script, head: &StoredHead) {
    s.push(
        "INSERT INTO audit_heads (size, root, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        vec![
            head.size.into(),
            (&head.root).into(),
            (&head.at).into(),
            (&head.key_id).into(),
            (&head.signature).into(),
        ],
    );
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
