//! `verification_tokens`: the tokens in signed letters' QR codes, by their SHA-256, and the
//! letter each names.

use super::{Store, Tx};
use crate::Result;

/// Records that the token hashing to `token_sha256` names `document_id`.
pub async fn insert(
    tx: &mut Tx,
    token_sha256: &str,
    document_id: &str,
    created_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO verification_tokens (token_sha256, document_id, created_at) \
         VALUES ($1, $2, $3)",
    )
    .bind(token_sha256)
    .bind(document_id)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The letter the token hashing to `token_sha256` names, if any.
pub async fn document_of(store: &Store, token_sha256: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT document_id FROM verification_tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(store.pool())
            .await?,
    )
}
