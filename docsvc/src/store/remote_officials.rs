//! `remote_officials`: the cards of other nodes' officials as last fetched (JSON), so that a
//! letter can be written while their node is down.

use super::Store;

/// Replaces the card kept for `address` (`NIP@node`).
pub async fn put_card(store: &Store, address: &str, card: String, at: String) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM remote_officials WHERE address = $1")
        .bind(address)
        .execute(store.pool())
        .await?;
    sqlx::query("INSERT INTO remote_officials (address, card, fetched_at) VALUES ($1, $2, $3)")
        .bind(address)
        .bind(card)
        .bind(at)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// The card kept for `address`, if it was ever fetched.
pub async fn card(store: &Store, address: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT card FROM remote_officials WHERE address = $1")
        .bind(address)
        .fetch_optional(store.reader())
        .await
}
