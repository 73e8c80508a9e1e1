//! The `delegations` table: officials' consent to an application signing with their key. The
//! rows' MACs are made and checked by the officials' service (`officials::delegation`); here
//! only the SQL.

use crate::Result;
use crate::store::Store;

const COLUMNS: &str =
    "id, nip, application_id, max_classification, granted_at, expires_at, revoked_at, mac";

/// A delegation's row as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DelegationRow {
    pub id: String,
    pub nip: String,
    pub application_id: String,
    pub max_classification: String,
    pub granted_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub mac: Option<String>,
}

/// Adds a new delegation: `revoked_at` is written NULL whatever `row` holds.
pub async fn insert(store: &Store, row: &DelegationRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO delegations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)"
    ))
    .bind(&row.id)
    .bind(&row.nip)
    .bind(&row.application_id)
    .bind(&row.max_classification)
    .bind(&row.granted_at)
    .bind(&row.expires_at)
    .bind(&row.mac)
    .execute(store.pool())
    .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<DelegationRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM delegations WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// The official's delegations, newest first.
pub async fn of_official(store: &Store, nip: &str) -> Result<Vec<DelegationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM delegations WHERE nip = $1 ORDER BY granted_at DESC, id"
    ))
    .bind(nip)
    .fetch_all(store.reader())
    .await?)
}

/// The official's unrevoked delegations to one application (expired ones included).
pub async fn unrevoked(
    store: &Store,
    nip: &str,
    application_id: &str,
) -> Result<Vec<DelegationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM delegations WHERE nip = $1 AND application_id = $2 AND revoked_at IS NULL"
    ))
    .bind(nip)
    .bind(application_id)
    .fetch_all(store.pool())
    .await?)
}

/// Revokes the official's delegation with its new MAC, only if it is not revoked yet
/// (compare and set: revoked once, logged once). Whether this call revoked it.
pub async fn revoke(
    store: &Store,
    id: &str,
    nip: &str,
    revoked_at: &str,
    mac: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE delegations SET revoked_at = $1, mac = $2 \
         WHERE id = $3 AND nip = $4 AND revoked_at IS NULL",
    )
    .bind(revoked_at)
    .bind(mac)
    .bind(id)
    .bind(nip)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
