//! Deliveries received from other nodes: `received`, one row per letter that came from a
//! peer (which node, the hash of the manifest it sent, when it arrived).

use sqlx::FromRow;

use super::Store;
use super::script::Script;
use crate::Result;

/// Where a received letter came from and what it said.
#[derive(Debug, FromRow)]
pub struct ReceivedRow {
    pub from_node: String,
    pub manifest_sha256: String,
}

/// Whence letter `id` was received, if it was.
pub async fn received(store: &Store, id: &str) -> Result<Option<ReceivedRow>> {
    Ok(
        sqlx::query_as("SELECT from_node, manifest_sha256 FROM received WHERE document_id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// When letter `id` was received, if it was.
pub async fn received_at(store: &Store, id: &str) -> Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT received_at FROM received WHERE document_id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?;
    Ok(row.map(|(at,)| at))
}

/// Records that letter `id` came from `from_node` with a manifest of this hash.
pub fn push_received(
    s: &mut Script,
    id: &str,
    from_node: &str,
    manifest_sha256: &str,
    received_at: &str,
) {
    s.push(
        "INSERT INTO received (document_id, from_node, manifest_sha256, received_at) \
         VALUES ($1, $2, $3, $4)",
        vec![
            id.into(),
            from_node.into(),
            manifest_sha256.into(),
            received_at.into(),
        ],
    );
}
