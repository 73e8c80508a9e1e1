//! The outbox: one row per letter and destination node, where its delivery stands (`queued`,
//! `sent` under a lease, `delivered` with the peer's signed receipt, `failed` and retrying,
//! `dead`).

use sqlx::{FromRow, Row as _};

use super::script::{Arg, Row, Script};
use super::{Store, Tx};
use crate::Result;

/// Queues letter `id` for node `node_id`, due `now`.
pub async fn queue(tx: &mut Tx, id: &str, node_id: &str, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (document_id, node_id, state, attempts, next_attempt_at, updated_at) \
         VALUES ($1, $2, 'queued', 0, $3, $3)",
    )
    .bind(id)
    .bind(node_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The delivery of a letter to one node.
#[derive(Debug, FromRow)]
pub struct DeliveryRow {
    pub node_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// The peer's signed receipt (JSON), once delivered.
    pub receipt: Option<Vec<u8>>,
}

/// The deliveries of letter `id`, by node.
pub async fn deliveries_of(store: &Store, id: &str) -> Result<Vec<DeliveryRow>> {
    Ok(sqlx::query_as(
        "SELECT node_id, state, attempts, next_attempt_at, last_error, updated_at, receipt \
         FROM outbox WHERE document_id = $1 ORDER BY node_id",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}

/// A delivery due for an attempt, as it stood when read.
#[derive(Debug, FromRow)]
pub struct DueRow {
    pub document_id: String,
    pub node_id: String,
    pub attempts: i64,
    pub state: String,
    pub next_attempt_at: String,
}

/// Up to 50 deliveries due at `now` (queued, failed, or sent with their lease run out),
/// earliest first.
pub async fn due(store: &Store, now: &str) -> Result<Vec<DueRow>> {
    Ok(sqlx::query_as(
        "SELECT document_id, node_id, attempts, state, next_attempt_at FROM outbox \
         WHERE state IN ('queued', 'failed', 'sent') AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT 50",
    )
    .bind(now)
    .fetch_all(store.reader())
    .await?)
}

/// Claims a due delivery (state `sent`, leased until `lease`) if it still stands as read, as a
/// statement of `s` that returns its row then (see [`claimed`]) and none if another process
/// took it first.
pub fn push_claim(s: &mut Script, due: &DueRow, lease: &str, now: &str) {
    s.push(
        "UPDATE outbox SET state = 'sent', next_attempt_at = $1, updated_at = $2 \
         WHERE document_id = $3 AND node_id = $4 AND state = $5 AND next_attempt_at = $6 \
         RETURNING document_id, node_id",
        vec![
            lease.into(),
            now.into(),
            (&due.document_id).into(),
            (&due.node_id).into(),
            (&due.state).into(),
            (&due.next_attempt_at).into(),
        ],
    );
}

/// The deliveries (letter, node) that [`push_claim`] statements claimed.
pub fn claimed(rows: &[Row]) -> Result<std::collections::HashSet<(String, String)>> {
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// What an attempt came to, as recorded on the delivery's row.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub id: &'a str,
    pub node_id: &'a str,
    pub state: &'a str,
    pub attempts: i64,
    pub next_attempt_at: &'a str,
    pub last_error: Option<String>,
    /// A receipt replaces the stored one; none keeps it.
    pub receipt: Option<Vec<u8>>,
    pub updated_at: &'a str,
}

/// Records an attempt on its delivery's row.
pub fn push_attempt(s: &mut Script, a: Attempt<'_>) {
    s.push(
        "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
         receipt = COALESCE($5, receipt), updated_at = $6 WHERE document_id = $7 AND node_id = $8",
        vec![
            a.state.into(),
            a.attempts.into(),
            a.next_attempt_at.into(),
            a.last_error.as_deref().into(),
            a.receipt.map_or(Arg::NoBlob, Arg::Blob),
            a.updated_at.into(),
            a.id.into(),
            a.node_id.into(),
        ],
    );
}

/// The letters in the outbox (each once per destination), oldest change first: those not yet
/// delivered, or all with `all`.
pub async fn letters(store: &Store, all: bool) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT document_id FROM outbox WHERE $1 OR state <> 'delivered' ORDER BY updated_at",
    )
    .bind(all)
    .fetch_all(store.reader())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Puts a dead or failing delivery back in the queue, due `now`; `false` if there is none.
pub async fn requeue(tx: &mut Tx, id: &str, node_id: &str, now: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE document_id = $2 AND node_id = $3 AND state IN ('dead', 'failed')",
    )
    .bind(now)
    .bind(id)
    .bind(node_id)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// How many deliveries stand in each state (for `/metrics`).
pub async fn count_by_state(store: &Store) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
            .fetch_all(store.reader())
            .await?,
    )
}
