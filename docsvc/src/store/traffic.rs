//! What the node has received from other nodes and delivered to them, as node state and the
//! soak run read it (the tables themselves are written by `transmit`).

use super::Store;

/// When this node first received letter `document_id`, if it was received at all.
pub async fn first_received_at(store: &Store, document_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT MIN(received_at) FROM received WHERE document_id = $1")
        .bind(document_id)
        .fetch_one(store.reader())
        .await
}

/// How many distinct stored letters arrived from another node.
pub async fn letters_received(store: &Store) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(DISTINCT d.id) AS n FROM documents d JOIN received r ON r.document_id = d.id",
    )
    .fetch_one(store.reader())
    .await
}

/// How many deliveries are done with a receipt.
pub async fn deliveries_receipted(store: &Store) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) AS n FROM outbox WHERE state = 'delivered' AND receipt IS NOT NULL",
    )
    .fetch_one(store.reader())
    .await
}
