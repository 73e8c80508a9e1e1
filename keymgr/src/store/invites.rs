//! The `node_invites` table: one-time enrolment invitations, kept by the SHA-256 of their
//! token.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, db};
use crate::Result;

/// One invitation as stored.
#[derive(Clone, Debug)]
pub(crate) struct InviteRow {
    pub(crate) id: String,
    pub(crate) token_sha256: String,
    pub(crate) node_id: String,
    pub(crate) attributes: String,
    pub(crate) created_at: String,
    pub(crate) expires_at: String,
    pub(crate) used_at: Option<String>,
}

fn row(r: &AnyRow) -> Result<InviteRow> {
    Ok(InviteRow {
        id: r.try_get("id").map_err(db)?,
        token_sha256: r.try_get("token_sha256").map_err(db)?,
        node_id: r.try_get("node_id").map_err(db)?,
        attributes: r.try_get("attributes").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
        expires_at: r.try_get("expires_at").map_err(db)?,
        used_at: r.try_get("used_at").map_err(db)?,
    })
}

const COLUMNS: &str = "id, token_sha256, node_id, attributes, created_at, expires_at, used_at";

pub(crate) async fn insert(store: &Store, r: &InviteRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO node_invites (id, token_sha256, node_id, attributes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.token_sha256)
    .bind(&r.node_id)
    .bind(&r.attributes)
    .bind(&r.created_at)
    .bind(&r.expires_at)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn get(store: &Store, id: &str) -> Result<Option<InviteRow>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM node_invites WHERE id = $1"))
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(row)
        .transpose()
}

/// Marks an invitation used; false when it already was (two requests racing get one `true`).
pub(crate) async fn consume(store: &Store, id: &str, at: &str) -> Result<bool> {
    let done =
        sqlx::query("UPDATE node_invites SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&store.pool)
            .await
            .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

/// Records the serial of the certificate an invitation was used for.
pub(crate) async fn set_serial(store: &Store, id: &str, serial: &str) -> Result<()> {
    sqlx::query("UPDATE node_invites SET used_serial = $1 WHERE id = $2")
        .bind(serial)
        .bind(id)
        .execute(&store.pool)
        .await
        .map_err(db)?;
    Ok(())
}

/// The attributes of the invitation a node last enrolled with.
pub(crate) async fn enrolled(store: &Store, node_id: &str) -> Result<Option<String>> {
    sqlx::query(
        "SELECT attributes FROM node_invites WHERE node_id = $1 AND used_serial IS NOT NULL \
         ORDER BY used_at DESC LIMIT 1",
    )
    .bind(node_id)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?
    .map(|r| r.try_get::<String, _>("attributes").map_err(db))
    .transpose()
}
