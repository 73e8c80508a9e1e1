//! Second approvals of letters held by dual control: `approvals`, the approver, when, and
//! their signature over the letter's manifest (and over its PDF); `received_approvals`, the
//! PDF signature of an approval given on the node a letter came from.

use sqlx::FromRow;

use super::script::Script;
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

/// The largest approval update read back: a larger one (only a database writer makes one) is
/// not read at all, and its letter reads as one whose approval is missing.
const MAX_UPDATE: i64 = 8 << 20;

/// The approvals of letter `id` that sign its PDF: the approver and the update.
pub async fn pdf_updates_of(store: &Store, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(sqlx::query_as(
        "SELECT nip, pdf_update FROM approvals WHERE document_id = $1 AND pdf_update IS NOT NULL \
         AND length(pdf_update) <= $2",
    )
    .bind(id)
    .bind(MAX_UPDATE)
    .fetch_all(store.reader())
    .await?)
}

/// Stores the PDF update of the approval of letter `id` that came with it from its node.
pub fn push_received_update(s: &mut Script, id: &str, pdf_update: &[u8]) {
    s.push(
        "INSERT INTO received_approvals (document_id, pdf_update) VALUES ($1, $2)",
        vec![id.into(), pdf_update.into()],
    );
}

/// The PDF update of the approval of letter `id` that came with it from its node, if one did.
pub async fn received_update_of(store: &Store, id: &str) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar(
        "SELECT pdf_update FROM received_approvals WHERE document_id = $1 \
             AND length(pdf_update) <= $2",
    )
    .bind(id)
    .bind(MAX_UPDATE)
    .fetch_optional(store.reader())
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
