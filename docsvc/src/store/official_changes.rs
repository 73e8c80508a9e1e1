//! The `official_changes` table: registrations and raised clearances waiting for (or given)
//! their second approval. The rows' MACs are made and checked by the officials' service
//! (`officials::changes`); here only the SQL.

use crate::Result;
use crate::store::Store;

const COLUMNS: &str =
    "id, nip, kind, clearance, requested_by, requested_at, decided_by, decided_at, decision, mac";

/// A change's row as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: String,
    pub nip: String,
    pub kind: String,
    pub clearance: String,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision: Option<String>,
    pub mac: Option<String>,
}

/// Adds a pending change: `decided_by`, `decided_at` and `decision` are written NULL
/// whatever `row` holds.
pub async fn insert_pending(store: &Store, row: &ChangeRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO official_changes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7)"
    ))
    .bind(&row.id)
    .bind(&row.nip)
    .bind(&row.kind)
    .bind(&row.clearance)
    .bind(&row.requested_by)
    .bind(&row.requested_at)
    .bind(&row.mac)
    .execute(store.pool())
    .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<ChangeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM official_changes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?)
}

/// Changes not yet decided, oldest first.
pub async fn pending(store: &Store) -> Result<Vec<ChangeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM official_changes WHERE decision IS NULL ORDER BY requested_at, id"
    ))
    .fetch_all(store.reader())
    .await?)
}

/// Every change of `kind` to official `nip`, decided or not.
pub async fn of_official(store: &Store, nip: &str, kind: &str) -> Result<Vec<ChangeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM official_changes WHERE nip = $1 AND kind = $2"
    ))
    .bind(nip)
    .bind(kind)
    .fetch_all(store.pool())
    .await?)
}

/// Records the decision on a change with its new MAC, only if it is still pending (compare
/// and set: two deciders never both win). Whether it was recorded.
pub async fn decide(
    store: &Store,
    id: &str,
    decided_by: &str,
    decided_at: &str,
    decision: &str,
    mac: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE official_changes SET decided_by = $1, decided_at = $2, decision = $3, mac = $4 \
         WHERE id = $5 AND decision IS NULL",
    )
    .bind(decided_by)
    .bind(decided_at)
    .bind(decision)
    .bind(mac)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
