//! Second approvals of letters held by dual control: `approvals`, the approver, when, and
//! their signature over the letter's manifest.

use sqlx::FromRow;

use super::{Store, Tx};
use crate::Result;

/// Stores `nip`'s signed approval of letter `id`, with the update that signs the letter's
/// PDF when it has one.
pub async fn insert_approval(
    tx: &mut Tx,
    id: &str,
    nip: &str,
    at: &str,
    signature: &[u8],
    pdf_update: Option<&[u8]>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO approvals (document_id, nip, at, signature, pdf_update) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(nip)
    .bind(at)
    .bind(signature)
    .bind(pdf_update)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The approvals of letter `id` that sign its PDF: the approver and the update.
pub async fn pdf_updates_of(store: &Store, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(sqlx::query_as(
        "SELECT nip, pdf_update FROM approvals WHERE document_id = $1 AND pdf_update IS NOT NULL",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
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
