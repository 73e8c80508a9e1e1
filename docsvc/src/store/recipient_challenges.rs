//! The `recipient_challenges` table: at most one pending proof-of-possession challenge per
//! official for the age recipient they register.

use crate::Result;
use crate::store::Store;

/// A pending challenge as stored (only the SHA-256 of its answer, hex).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChallengeRow {
    pub recipient: String,
    pub answer_sha256: String,
    pub expires_at: String,
}

/// Replaces the official's pending challenge, if any, with this one (one transaction).
pub async fn replace(
    store: &Store,
    nip: &str,
    recipient: &str,
    answer_sha256: &str,
    expires_at: &str,
) -> Result<()> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM recipient_challenges WHERE nip = $1")
        .bind(nip)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO recipient_challenges (nip, recipient, answer_sha256, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(nip)
    .bind(recipient)
    .bind(answer_sha256)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Reads and deletes the official's pending challenge in one transaction: a challenge is
/// answered once, right or wrong.
pub async fn take(store: &Store, nip: &str) -> Result<Option<ChallengeRow>> {
    let mut tx = store.begin().await?;
    let row = sqlx::query_as(
        "SELECT recipient, answer_sha256, expires_at FROM recipient_challenges WHERE nip = $1",
    )
    .bind(nip)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM recipient_challenges WHERE nip = $1")
        .bind(nip)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}
