//! The outbox: one row per letter and destination node, where its delivery stands (`queued`,
//! `sent` under a lease, `delivered` with the peer's signed receipt, `failed` and retrying,
//! `dead`).

use sqlx::FromRow;

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

/// Claims a due delivery (state `sent`, leased until `lease`) if it still stands as read;
/// `false` if another process took it first.
pub async fn claim(tx: &mut Tx, due: &DueRow, lease: &str, now: &str) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE outbox SET state = 'sent', next_attempt_at = $1, updated_at = $2 \
         WHERE document_id = $3 AND node_id = $4 AND state = $5 AND next_attempt_at = $6",
    )
    .bind(lease)
    .bind(now)
    .bind(&due.document_id)
    .bind(&due.node_id)
    .bind(&due.state)
    .bind(&due.next_attempt_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(claimed == 1)
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
pub async fn record_attempt(tx: &mut Tx, a: Attempt<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
         receipt = COALESCE($5, receipt), updated_at = $6 WHERE document_id = $7 AND node_id = $8",
    )
    .bind(a.state)
    .bind(a.attempts)
    .bind(a.next_attempt_at)
    .bind(a.last_error)
    .bind(a.receipt)
    .bind(a.updated_at)
    .bind(a.id)
    .bind(a.node_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
