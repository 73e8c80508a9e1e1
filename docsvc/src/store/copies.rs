//! `letter_copies`: the register of numbered copies of signed letters.

use super::{Store, Tx};
use crate::Result;

/// One numbered copy: its number, who made it and when.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CopyRow {
    pub number: i64,
    pub nip: String,
    pub name: String,
    pub made_at: String,
}

/// The next copy number of `document_id` (1 for the first), inside the transaction that
/// records it: two makers racing for one number meet at the primary key.
pub async fn next_number(tx: &mut Tx, document_id: &str) -> Result<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(number) FROM letter_copies WHERE document_id = $1")
            .bind(document_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(last.unwrap_or(0) + 1)
}

pub async fn insert(tx: &mut Tx, document_id: &str, row: &CopyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO letter_copies (document_id, number, nip, name, made_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(document_id)
    .bind(row.number)
    .bind(&row.nip)
    .bind(&row.name)
    .bind(&row.made_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The copies of `document_id`, by number.
pub async fn list(store: &Store, document_id: &str) -> Result<Vec<CopyRow>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT number, nip, name, made_at FROM letter_copies WHERE document_id = $1 \
         ORDER BY number",
    )
    .bind(document_id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(number, nip, name, made_at)| CopyRow {
            number,
            nip,
            name,
            made_at,
        })
        .collect())
}
