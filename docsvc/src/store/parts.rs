//! The ciphertext of letters' parts as the database holds it: `chunks` (each part's age
//! ciphertext in numbered chunks; the first holds the age header), `content_files` (each
//! part's age header and its payload's place in the content store's file; see `content`) and
//! `uploads` (letters whose parts are still being written, so that an abandoned upload can be
//! swept).

use super::script::Script;
use super::{Store, Tx};
use crate::Result;

/// Notes that an upload starts (before its first byte is written): keyed by the letter's id
/// where its chunks go to the database, by its file's name where they go to the content store.
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
    let mut s = Script::new();
    push_chunk(&mut s, id, part, seq, data);
    s.run(tx).await.map(drop)
}

/// [`insert_chunk`], as a statement of `s`.
pub fn push_chunk(s: &mut Script, id: &str, part: i64, seq: i64, data: &[u8]) {
    s.push(
        "INSERT INTO chunks (document_id, part, seq, data) VALUES ($1, $2, $3, $4)",
        vec![id.into(), part.into(), seq.into(), data.into()],
    );
}

/// Deletes what an unfinished upload wrote: its chunks, then its mark, each tried even if the
/// other fails. Returns the first failure.
pub async fn delete_upload(store: &Store, id: &str) -> Result<()> {
    let mut first = Ok(());
    for sql in [
        // Never a stored letter's chunks: a second delivery of a letter that was stored
        // meanwhile, or a commit that failed in its answer only, keeps them.
        "DELETE FROM chunks WHERE document_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM documents WHERE id = $1)",
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

/// Removes the mark of an upload that became a letter. A mark already gone means the sweep took
/// the upload for abandoned (and may have removed what it wrote): the letter is refused.
pub async fn finish_upload(tx: &mut Tx, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM uploads WHERE document_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(crate::Error::Integrity(format!(
            "upload {id} was swept as abandoned before it finished"
        )));
    }
    Ok(())
}

/// Notes that the upload marked `key` is still under way (so that a long one is not taken for
/// abandoned), through the pool or inside the upload's own transaction.
pub async fn touch_upload<'e, E>(exec: E, key: &str, now: &str) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE uploads SET started_at = $1 WHERE document_id = $2")
        .bind(now)
        .bind(key)
        .execute(exec)
        .await?;
    Ok(())
}

/// The content store's file names that rows name or uploads under way hold.
pub async fn content_names_in_use(store: &Store) -> Result<std::collections::HashSet<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT file AS name FROM content_files UNION SELECT document_id AS name FROM uploads",
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
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

/// How many chunks part `part` of letter `id` has and how many bytes they hold together, and
/// the chunk itself where it is the whole part and at most `small` bytes (a small letter's
/// part is then read in one statement; each is a round trip to the database's thread).
pub async fn chunk_stats(
    store: &Store,
    id: &str,
    part: i64,
    small: i64,
) -> Result<(i64, i64, Option<Vec<u8>>)> {
    // The count and sum from the rows' headers; the chunk itself only where it is the one
    // (a window over the rows would copy every chunk of a large part on SQLite).
    let (n, bytes, data): (i64, Option<i64>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT t.n, t.bytes, CASE WHEN t.n = 1 THEN (SELECT data FROM chunks \
         WHERE document_id = $1 AND part = $2 AND seq = 0 AND LENGTH(data) <= $3) END AS data \
         FROM (SELECT COUNT(*) AS n, CAST(SUM(LENGTH(data)) AS BIGINT) AS bytes FROM chunks \
         WHERE document_id = $1 AND part = $2) AS t",
    )
    .bind(id)
    .bind(part)
    .bind(small)
    .fetch_one(store.reader())
    .await?;
    Ok((n, bytes.unwrap_or(0), data))
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

/// Replaces the age header of part `part` of letter `id`: in `content_files` where the part is
/// in the content store, otherwise its first chunk.
pub async fn set_head(tx: &mut Tx, id: &str, part: i64, head: &[u8]) -> Result<()> {
    for sql in [
        "UPDATE content_files SET head = $1 WHERE document_id = $2 AND part = $3",
        "UPDATE chunks SET data = $1 WHERE document_id = $2 AND part = $3 AND seq = 0",
    ] {
        sqlx::query(sql)
            .bind(head)
            .bind(id)
            .bind(part)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Where part `part` of letter `id` is in the content store: its file, its age header, the
/// payload's offset in the file and its length.
pub async fn insert_file_part(
    tx: &mut Tx,
    id: &str,
    part: i64,
    file: &str,
    head: &[u8],
    (offset, len): (u64, u64),
) -> Result<()> {
    let wide = |n: u64| {
        i64::try_from(n).map_err(|_| crate::Error::OutOfRange {
            what: "a content offset",
        })
    };
    sqlx::query(
        "INSERT INTO content_files (document_id, part, file, head, payload_offset, payload_len) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(part)
    .bind(file)
    .bind(head)
    .bind(wide(offset)?)
    .bind(wide(len)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A part's place in the content store.
#[derive(Debug, sqlx::FromRow)]
pub struct FilePart {
    pub file: String,
    pub head: Vec<u8>,
    pub payload_offset: i64,
    pub payload_len: i64,
}

/// Part `part` of letter `id` in the content store.
pub async fn file_part(store: &Store, id: &str, part: i64) -> Result<Option<FilePart>> {
    Ok(sqlx::query_as(
        "SELECT file, head, payload_offset, payload_len FROM content_files \
         WHERE document_id = $1 AND part = $2",
    )
    .bind(id)
    .bind(part)
    .fetch_optional(store.reader())
    .await?)
}

/// The content store's files of letter `id`.
pub async fn files_of(tx: &mut Tx, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT file FROM content_files WHERE document_id = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows.into_iter().map(|(f,)| f).collect())
}

/// Whether the content store's file `file` is still wanted: a letter's part is in it, or it is
/// an upload under way.
pub async fn content_in_use(store: &Store, file: &str) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM content_files WHERE file = $1) \
         + (SELECT COUNT(*) FROM uploads WHERE document_id = $1) AS n",
    )
    .bind(file)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// When the unfinished upload marked `key` started, if there is one.
pub async fn upload_started(store: &Store, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT started_at FROM uploads WHERE document_id = $1")
            .bind(key)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// Deletes the whole ciphertext of letter `id` the database holds: its chunks, or the headers
/// and index of its file in the content store.
pub async fn delete_ciphertext(tx: &mut Tx, id: &str) -> Result<()> {
    for sql in [
        "DELETE FROM chunks WHERE document_id = $1",
        "DELETE FROM content_files WHERE document_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}
