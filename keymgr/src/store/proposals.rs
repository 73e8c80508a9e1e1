//! The `directory_proposals` table: directory versions waiting for a second operator.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, db};
use crate::Result;

/// One proposal as stored.
#[derive(Clone, Debug)]
pub(crate) struct ProposalRow {
    pub(crate) id: String,
    pub(crate) version: i64,
    pub(crate) input: String,
    pub(crate) input_sha256: String,
    pub(crate) proposed_by: String,
    pub(crate) approved_by: Option<String>,
    pub(crate) created_at: String,
    pub(crate) signed_at: Option<String>,
}

fn row(r: &AnyRow) -> Result<ProposalRow> {
    Ok(ProposalRow {
        id: r.try_get("id").map_err(db)?,
        version: r.try_get("version").map_err(db)?,
        input: r.try_get("input").map_err(db)?,
        input_sha256: r.try_get("input_sha256").map_err(db)?,
        proposed_by: r.try_get("proposed_by").map_err(db)?,
        approved_by: r.try_get("approved_by").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
        signed_at: r.try_get("signed_at").map_err(db)?,
    })
}

pub(crate) async fn insert(store: &Store, p: &ProposalRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO directory_proposals (id, version, input, input_sha256, proposed_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&p.id)
    .bind(p.version)
    .bind(&p.input)
    .bind(&p.input_sha256)
    .bind(&p.proposed_by)
    .bind(&p.created_at)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn get(store: &Store, id: &str) -> Result<Option<ProposalRow>> {
    sqlx::query(
        "SELECT id, version, input, input_sha256, proposed_by, approved_by, created_at, signed_at \
         FROM directory_proposals WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?
    .as_ref()
    .map(row)
    .transpose()
}

/// Records the second operator's approval; false when someone approved it already or `by` is
/// the proposer (the database, not only the caller, keeps the two people different).
pub(crate) async fn approve(store: &Store, id: &str, by: &str, at: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE directory_proposals SET approved_by = $1, signed_at = $2 \
         WHERE id = $3 AND approved_by IS NULL AND proposed_by <> $1",
    )
    .bind(by)
    .bind(at)
    .bind(id)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

/// Takes an approval back when signing failed after it was recorded.
pub(crate) async fn unapprove(store: &Store, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE directory_proposals SET approved_by = NULL, signed_at = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    Ok(())
}
