//! Second approvals of letters held by dual control: `approvals`, the approver, when, and
//! their signature over the letter's manifest.

use sqlx::FromRow;

use super::{Store, Tx};
use crate::Result;

/// Stores `nip`'s signed approval of letter `id`.
pub async fn insert_approval(
    tx: &mut Tx,
    id: &str,
    nip: &str,
    at: &str,
    signature: &[u8],
) -> Result<()> {
    sqlx::query("INSERT INTO approvals (document_id, nip, at, signature) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(nip)
        .bind(at)
        .bind(signature)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One stored approval.
#[derive(Debug, FromRow)]
pub struct ApprovalRow {
    pub nip: String,
    pub at: String,
    pub signature: Vec<u8>,
}

/// The approvals of letter `id`, in the order they were given.
pub async fn approvals_of(store: &Store, id: &str) -> Result<Vec<ApprovalRow>> {
    Ok(sqlx::query_as(
        "SELECT nip, at, signature FROM approvals WHERE document_id = $1 ORDER BY at, nip",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}
