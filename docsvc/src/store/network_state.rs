//! `network_state`: the network directory version this node has accepted (one row), kept in
//! the database so that every process of the node and every restart agree.

use super::Store;

/// The newest directory version accepted so far.
pub async fn accepted_directory_version(store: &Store) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT directory_version FROM network_state WHERE id = 1")
        .fetch_one(store.pool())
        .await
}

/// Records `version` as accepted unless a newer one was meanwhile.
pub async fn accept_directory_version(store: &Store, version: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE network_state SET directory_version = $1 WHERE id = 1 AND directory_version <= $1",
    )
    .bind(version)
    .execute(store.pool())
    .await?;
    Ok(())
}
