//! Whom letters are for and what they have opened: `addressees` (this node's officials a
//! letter is addressed to, and its originator), `reads` (the first time each opened it), and
//! the mailboxes listed from them.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::script::Script;
use super::{Store, Tx};
use crate::Result;

/// Records the originator of letter `id`.
pub async fn insert_originator(tx: &mut Tx, id: &str, nip: &str) -> Result<()> {
    sqlx::query("INSERT INTO addressees (document_id, nip, role) VALUES ($1, $2, 'originator')")
        .bind(id)
        .bind(nip)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records that letter `id` is addressed to `nip` as `role` (`recipient` or `copy`), unread.
pub async fn insert_addressee(tx: &mut Tx, id: &str, nip: &str, role: &str) -> Result<()> {
    let mut s = Script::new();
    push_addressee(&mut s, id, nip, role);
    s.run(tx).await.map(drop)
}

/// [`insert_addressee`], as statements of `s`.
pub fn push_addressee(s: &mut Script, id: &str, nip: &str, role: &str) {
    s.push(
        "INSERT INTO addressees (document_id, nip, role) VALUES ($1, $2, $3)",
        vec![id.into(), nip.into(), role.into()],
    );
    s.push(
        "INSERT INTO unread (nip, document_id) VALUES ($1, $2) \
         ON CONFLICT (nip, document_id) DO NOTHING",
        vec![nip.into(), id.into()],
    );
}

/// The addressees (NIP, role) of each of the letters `ids`, in one query.
pub async fn addressees_of(
    store: &Store,
    ids: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    // `IN ()` is not SQL: no letters, no query.
    if ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT document_id, nip, role FROM addressees WHERE document_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for (document_id, nip, role) in q.fetch_all(store.reader()).await? {
        out.entry(document_id).or_default().push((nip, role));
    }
    Ok(out)
}

/// Notes that `nip` opened letter `id` at `at`, the first time only.
pub async fn mark_read(store: &Store, id: &str, nip: &str, at: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO reads (document_id, nip, first_read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (nip, document_id) DO NOTHING",
    )
    .bind(id)
    .bind(nip)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM unread WHERE nip = $1 AND document_id = $2")
        .bind(nip)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Rebuilds `unread` from the letters, their addressees and what each opened (after a
/// restore: a backup from before the table, or one whose rows were changed, holds no
/// trustworthy count).
pub async fn rebuild_unread(tx: &mut Tx) -> Result<()> {
    sqlx::query("DELETE FROM unread").execute(&mut **tx).await?;
    sqlx::query(
        "INSERT INTO unread (nip, document_id) \
         SELECT DISTINCT a.nip, a.document_id FROM addressees a \
         JOIN documents d ON d.id = a.document_id \
         WHERE a.role IN ('recipient', 'copy') AND d.state <> 'destroyed' \
         AND NOT EXISTS (SELECT 1 FROM reads r WHERE r.nip = a.nip AND r.document_id = a.document_id)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A letter in a list, and whether the official listing it has opened it.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    pub nomor: String,
    pub perihal: String,
    pub classification: String,
    pub urgency: String,
    pub originator: String,
    pub created_at: String,
    pub state: String,
    pub seen: bool,
}

impl<'r> FromRow<'r, AnyRow> for Listed {
    fn from_row(r: &'r AnyRow) -> sqlx::Result<Self> {
        Ok(Listed {
            id: r.try_get("id")?,
            nomor: r.try_get("nomor")?,
            perihal: r.try_get("perihal")?,
            classification: r.try_get("classification")?,
            urgency: r.try_get("urgency")?,
            originator: r.try_get("originator")?,
            created_at: r.try_get("created_at")?,
            state: r.try_get("state")?,
            // An EXISTS is a boolean on PostgreSQL, an integer on SQLite.
            seen: r
                .try_get::<bool, _>("seen")
                .or_else(|_| r.try_get::<i64, _>("seen").map(|n| n != 0))?,
        })
    }
}

/// Letters in state `awaiting` of `agency` that `nip` did not originate, newest first, at most
/// `limit`.
pub async fn awaiting_approval(
    store: &Store,
    awaiting: &str,
    agency: &str,
    nip: &str,
    limit: i64,
) -> Result<Vec<Listed>> {
    Ok(sqlx::query_as(
        "SELECT id, nomor, perihal, classification, urgency, originator, created_at, state, \
         EXISTS (SELECT 1 FROM reads r WHERE r.nip = $3 AND r.document_id = documents.id) AS seen \
         FROM documents \
         WHERE state = $1 AND agency = $2 AND originator <> $3 ORDER BY created_at DESC, id LIMIT $4",
    )
    .bind(awaiting)
    .bind(agency)
    .bind(nip)
    .bind(limit)
    .fetch_all(store.reader())
    .await?)
}

/// Which side of its letters an official lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Letters addressed to them (recipient or copy).
    Addressed,
    /// Letters they originated.
    Originated,
}

/// A letter in a mailbox, with its originating agency.
#[derive(Debug, FromRow)]
pub struct MailboxRow {
    #[sqlx(flatten)]
    pub letter: Listed,
    pub agency: String,
}

/// What a mailbox list looks for.
#[derive(Clone, Copy, Debug)]
pub struct Search<'a> {
    /// Text that the nomor or perihal must contain (case-insensitive, literally).
    pub text: Option<&'a str>,
    pub classification: Option<&'a str>,
    pub urgency: Option<&'a str>,
    pub state: Option<&'a str>,
    /// Stored at or after this (RFC 3339 or a day, `YYYY-MM-DD`).
    pub from: Option<&'a str>,
    /// Stored before this (RFC 3339 or a day).
    pub until: Option<&'a str>,
    /// The cursor: only letters after this (created_at, id) in the list's order.
    pub after: Option<(&'a str, &'a str)>,
    /// Only letters the official has not opened.
    pub unread: bool,
    pub limit: i64,
}

/// `text` as a LIKE pattern that matches it literally anywhere.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The letters (not destroyed) on `side` of `nip`'s mailbox that match `search`, newest
/// first.
pub async fn mailbox(
    store: &Store,
    nip: &str,
    side: Side,
    search: &Search<'_>,
) -> Result<Vec<MailboxRow>> {
    let roles = match side {
        Side::Addressed => "('recipient', 'copy')",
        Side::Originated => "('originator')",
    };
    Ok(sqlx::query_as(&format!(
        "SELECT d.id, d.nomor, d.perihal, d.classification, d.urgency, d.originator, d.agency, \
         d.created_at, d.state, \
         EXISTS (SELECT 1 FROM reads r WHERE r.nip = $1 AND r.document_id = d.id) AS seen \
         FROM documents d \
         WHERE EXISTS (SELECT 1 FROM addressees a WHERE a.document_id = d.id AND a.nip = $1 \
         AND a.role IN {roles}) AND d.state <> 'destroyed' \
         AND ($2 = '' OR LOWER(d.perihal) LIKE $2 ESCAPE '\\' OR LOWER(d.nomor) LIKE $2 ESCAPE '\\') \
         AND ($3 = '' OR d.classification = $3) \
         AND ($5 = '' OR d.urgency = $5) AND ($6 = '' OR d.state = $6) \
         AND ($7 = '' OR d.created_at >= $7) AND ($8 = '' OR d.created_at < $8) \
         AND ($9 = '' OR d.created_at < $9 OR (d.created_at = $9 AND d.id < $10)) \
         AND ($11 = 0 OR NOT EXISTS (SELECT 1 FROM reads r WHERE r.nip = $1 AND r.document_id = d.id)) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $4"
    ))
    .bind(nip)
    .bind(search.text.map(like_pattern).unwrap_or_default())
    .bind(search.classification.unwrap_or_default())
    .bind(search.limit)
    .bind(search.urgency.unwrap_or_default())
    .bind(search.state.unwrap_or_default())
    .bind(search.from.unwrap_or_default())
    .bind(search.until.unwrap_or_default())
    .bind(search.after.map(|a| a.0).unwrap_or_default())
    .bind(search.after.map(|a| a.1).unwrap_or_default())
    .bind(i64::from(search.unread))
    .fetch_all(store.reader())
    .await?)
}

/// What waits for `nip`: letters addressed to them not yet opened (not destroyed), and
/// letters of `agency` at one of `levels` held for a second approval that they did not write.
pub async fn waiting(
    store: &Store,
    nip: &str,
    agency: &str,
    awaiting: &str,
    levels: &[&str],
) -> Result<(i64, i64)> {
    // Kept as letters are addressed, opened and destroyed (`unread`): counting the mailbox
    // itself cost a lookup in three indexes per letter, some 5 ms a page at 10,000 letters.
    let unread: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM unread WHERE nip = $1")
        .bind(nip)
        .fetch_one(store.reader())
        .await?;
    if levels.is_empty() {
        return Ok((unread, 0));
    }
    let marks: Vec<String> = (4..4 + levels.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT COUNT(*) FROM documents WHERE state = $1 AND agency = $2 AND originator <> $3 \
         AND classification IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query_scalar(&sql)
        .bind(awaiting)
        .bind(agency)
        .bind(nip);
    for l in levels {
        q = q.bind(*l);
    }
    let approvals: i64 = q.fetch_one(store.reader()).await?;
    Ok((unread, approvals))
}
