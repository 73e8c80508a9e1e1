//! The ciphertext of letters' parts: `chunks` (each part's age ciphertext in numbered chunks;
//! the first holds the age header) and `uploads` (letters whose parts are still being
//! written, so that an abandoned upload can be swept).

use super::{Store, Tx};
use crate::Result;

/// Notes that the parts of letter `id` start arriving (before the first chunk is written).
pub async fn start_upload(store: &Store, id: &str, started_at: &str) -> Result<()> {
    sqlx::query("INSERT INTO uploads (document_id, started_at) VALUES ($1, $2)")
        .bind(id)
        .bind(started_at)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Writes chunk `seq` of part `part` of letter `id`.
pub async fn insert_chunk(tx: &mut Tx, id: &str, part: i64, seq: i64, data: &[u8]) -> Result<()> {
    sqlx::query("INSERT INTO chunks (document_id, part, seq, data) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(part)
        .bind(seq)
        .bind(data)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes what an unfinished upload wrote: its chunks, then its mark, each tried even if the
/// other fails. Returns the first failure.
pub async fn delete_upload(store: &Store, id: &str) -> Result<()> {
    let mut first = Ok(());
    for sql in [
        "DELETE FROM chunks WHERE document_id = $1",
        "DELETE FROM uploads WHERE document_id = $1",
    ] {
        let done = sqlx::query(sql).bind(id).execute(store.pool()).await;
        if let Err(e) = done {
            if first.is_ok() {
                first = Err(e.into());
            }
        }
    }
    first
}

/// Removes the mark of an upload that became a letter.
pub async fn finish_upload(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM uploads WHERE document_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The letters whose upload started before `cutoff` and has not finished.
pub async fn uploads_started_before(store: &Store, cutoff: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT document_id FROM uploads WHERE started_at < $1")
            .bind(cutoff)
            .fetch_all(store.reader())
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Removes an abandoned upload in one transaction: its chunks (unless it became a letter after
/// all) and its mark. Returns how many chunks were removed.
pub async fn sweep_upload(store: &Store, id: &str) -> Result<u64> {
    let mut tx = store.begin().await?;
    let removed = sqlx::query(
        "DELETE FROM chunks WHERE document_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM documents WHERE id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM uploads WHERE document_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed)
}

/// Removes chunks that belong to no letter and no upload; returns how many.
pub async fn delete_orphan_chunks(store: &Store) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM chunks WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = chunks.document_id) \
         AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.document_id = chunks.document_id)",
    )
    .execute(store.pool())
    .await?
    .rows_affected())
}

/// How many chunks part `part` of letter `id` has.
pub async fn chunk_count(store: &Store, id: &str, part: i64) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) AS n FROM chunks WHERE document_id = $1 AND part = $2")
            .bind(id)
            .bind(part)
            .fetch_one(store.reader())
            .await?;
    Ok(n)
}

/// The first chunk (with the age header) of part `part` of letter `id`.
pub async fn first_chunk(store: &Store, id: &str, part: i64) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM chunks WHERE document_id = $1 AND part = $2 AND seq = 0")
            .bind(id)
            .bind(part)
            .fetch_optional(store.reader())
            .await?;
    Ok(row.map(|(data,)| data))
}

/// Chunk `seq` of part `part` of letter `id`.
pub async fn chunk(store: &Store, id: &str, part: i64, seq: i64) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM chunks WHERE document_id = $1 AND part = $2 AND seq = $3")
            .bind(id)
            .bind(part)
            .bind(seq)
            .fetch_optional(store.reader())
            .await?;
    Ok(row.map(|(data,)| data))
}

/// The whole ciphertext of part `part` of letter `id`: its chunks in order, joined.
pub async fn part_ciphertext(store: &Store, id: &str, part: i64) -> Result<Vec<u8>> {
    let rows: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM chunks WHERE document_id = $1 AND part = $2 ORDER BY seq")
            .bind(id)
            .bind(part)
            .fetch_all(store.reader())
            .await?;
    let mut bytes = Vec::new();
    for (data,) in rows {
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

/// Replaces the first chunk (the age header) of part `part` of letter `id`.
pub async fn set_first_chunk(tx: &mut Tx, id: &str, part: i64, head: &[u8]) -> Result<()> {
    sqlx::query("UPDATE chunks SET data = $1 WHERE document_id = $2 AND part = $3 AND seq = 0")
        .bind(head)
        .bind(id)
        .bind(part)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes the whole ciphertext of letter `id`.
pub async fn delete_ciphertext(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM chunks WHERE document_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
