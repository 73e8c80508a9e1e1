//! The agencies' registers: outgoing numbers (`keluar`) and the incoming agenda (`agenda`),
//! numbered from 1 per agency, book and year with no gaps (see migration 0023).

use sqlx::Row as _;

use super::script::Script;
use super::{Store, Tx};
use crate::Result;

/// Outgoing letters' numbers.
pub const OUTGOING: &str = "keluar";
/// Incoming letters' agenda.
pub const AGENDA: &str = "agenda";

/// Where an entry is in its register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub agency: String,
    pub book: &'static str,
    pub year: i64,
    pub seq: i64,
}

/// Takes the next number of `agency`'s `book` for `year`. The counter row stays locked until
/// the transaction ends, so concurrent writers (several processes on PostgreSQL) queue there
/// and no number is taken twice or skipped.
pub async fn next(tx: &mut Tx, agency: &str, book: &'static str, year: i64) -> Result<Place> {
    let mut s = Script::new();
    push_next(&mut s, agency, book, year);
    let rows = s.run(tx).await?;
    let [seq] = seqs(&rows)?[..] else {
        return Err(crate::Error::Invariant {
            what: "a register counter gives one number",
        });
    };
    Ok(Place {
        agency: agency.to_owned(),
        book,
        year,
        seq,
    })
}

/// [`next`], as a statement of `s` that returns one row: read them with [`seqs`].
pub fn push_next(s: &mut Script, agency: &str, book: &'static str, year: i64) {
    s.push(
        "INSERT INTO register_counters (agency, book, year, last) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (agency, book, year) DO UPDATE SET last = register_counters.last + 1 \
         RETURNING last",
        vec![agency.into(), book.into(), year.into()],
    );
}

/// The numbers taken by [`push_next`] statements, in order.
pub fn seqs(rows: &[sqlx::any::AnyRow]) -> Result<Vec<i64>> {
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(Into::into))
        .collect()
}

/// One entry of a register, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub place: Place,
    /// As printed: the nomor (keluar) or the agenda number.
    pub number: String,
    /// `reserved`, `used`, `void` (keluar); `entered` (agenda).
    pub state: String,
    pub document_id: Option<String>,
    /// The signer (keluar) or the letter's originator (agenda).
    pub nip: String,
    pub at: String,
}

const DOMAIN: &str = "sandi register entries v1";

fn fields(r: &Row) -> [Vec<u8>; 9] {
    [
        r.place.agency.as_bytes().to_vec(),
        r.place.book.as_bytes().to_vec(),
        r.place.year.to_be_bytes().to_vec(),
        r.place.seq.to_be_bytes().to_vec(),
        r.number.as_bytes().to_vec(),
        r.state.as_bytes().to_vec(),
        super::integrity::opt(r.document_id.as_deref()),
        r.nip.as_bytes().to_vec(),
        r.at.as_bytes().to_vec(),
    ]
}

/// The node's MAC of `row` (needs the node unsealed).
pub fn mac(store: &Store, row: &Row) -> Result<String> {
    let f = fields(row);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().mac(DOMAIN, &refs)
}

/// Whether `mac` is the node's MAC of `row`.
pub fn holds(store: &Store, row: &Row, mac: &str) -> Result<bool> {
    let f = fields(row);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().verify(DOMAIN, &refs, Some(mac))
}

/// Writes `row` with its MAC.
pub async fn insert(tx: &mut Tx, store: &Store, row: &Row) -> Result<()> {
    let mut s = Script::new();
    push_insert(&mut s, store, row)?;
    s.run(tx).await.map(drop)
}

/// [`insert`], as a statement of `s`.
pub fn push_insert(s: &mut Script, store: &Store, row: &Row) -> Result<()> {
    let mac = mac(store, row)?;
    s.push(
        "INSERT INTO register_entries (agency, book, year, seq, number, state, document_id, \
         nip, at, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        vec![
            (&row.place.agency).into(),
            row.place.book.into(),
            row.place.year.into(),
            row.place.seq.into(),
            (&row.number).into(),
            (&row.state).into(),
            row.document_id.as_deref().into(),
            (&row.nip).into(),
            (&row.at).into(),
            (&mac).into(),
        ],
    );
    Ok(())
}

/// Moves `from` (as read or written, still `reserved`) to its new state and letter, with a
/// new MAC; false when the stored row is no longer exactly `from` (used, voided or changed
/// meanwhile).
pub async fn settle(
    conn: &mut sqlx::AnyConnection,
    store: &Store,
    from: &Row,
    state: &str,
    document_id: Option<&str>,
) -> Result<bool> {
    let to = Row {
        state: state.to_owned(),
        document_id: document_id.map(str::to_owned),
        ..from.clone()
    };
    let done = sqlx::query(
        "UPDATE register_entries SET state = $5, document_id = $6, mac = $7 \
         WHERE agency = $1 AND book = $2 AND year = $3 AND seq = $4 AND state = 'reserved' \
         AND mac = $8",
    )
    .bind(&from.place.agency)
    .bind(from.place.book)
    .bind(from.place.year)
    .bind(from.place.seq)
    .bind(&to.state)
    .bind(to.document_id.as_deref())
    .bind(mac(store, &to)?)
    .bind(mac(store, from)?)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Numbers still reserved since before `before` (RFC 3339), with their stored MACs.
pub async fn reserved_before(store: &Store, before: &str) -> Result<Vec<(Row, String)>> {
    let rows = sqlx::query(
        "SELECT agency, book, year, seq, number, state, document_id, nip, at, mac \
         FROM register_entries WHERE state = 'reserved' AND at < $1 ORDER BY at LIMIT 1000",
    )
    .bind(before)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(stored).collect()
}

fn book_of(name: &str) -> &'static str {
    if name == OUTGOING {
        OUTGOING
    } else if name == AGENDA {
        AGENDA
    } else {
        "?"
    }
}

fn stored(r: &sqlx::any::AnyRow) -> Result<(Row, String)> {
    let book: String = r.try_get("book")?;
    Ok((
        Row {
            place: Place {
                agency: r.try_get("agency")?,
                book: book_of(&book),
                year: r.try_get("year")?,
                seq: r.try_get("seq")?,
            },
            number: r.try_get("number")?,
            state: r.try_get("state")?,
            document_id: r.try_get("document_id")?,
            nip: r.try_get("nip")?,
            at: r.try_get("at")?,
        },
        r.try_get("mac")?,
    ))
}

/// Whether `row` is still stored as read, with `mac`.
pub async fn unchanged(conn: &mut sqlx::AnyConnection, row: &Row, mac: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM register_entries WHERE agency = $1 AND book = $2 AND year = $3 \
         AND seq = $4 AND state = $5 AND mac = $6",
    )
    .bind(&row.place.agency)
    .bind(row.place.book)
    .bind(row.place.year)
    .bind(row.place.seq)
    .bind(&row.state)
    .bind(mac)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// Whether a stored letter already carries the outgoing number at `place`.
pub async fn carried(conn: &mut sqlx::AnyConnection, place: &Place) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM documents WHERE agency = $1 AND register_year = $2 AND register_seq = $3",
    )
    .bind(&place.agency)
    .bind(place.year)
    .bind(place.seq)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// Records on letter `document_id` the outgoing number at `place`; false when another letter
/// carries it already (the unique index: never two letters with one number).
pub async fn carry(tx: &mut Tx, place: &Place, document_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE documents SET register_year = $1, register_seq = $2 WHERE id = $3 AND agency = $4",
    )
    .bind(place.year)
    .bind(place.seq)
    .bind(document_id)
    .bind(&place.agency)
    .execute(&mut **tx)
    .await;
    match done {
        Ok(d) => Ok(d.rows_affected() == 1),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The last number taken in `agency`'s `book` for `year` (0: none yet).
pub async fn last(store: &Store, agency: &str, book: &str, year: i64) -> Result<i64> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT last FROM register_counters WHERE agency = $1 AND book = $2 AND year = $3",
    )
    .bind(agency)
    .bind(book)
    .bind(year)
    .fetch_optional(store.reader())
    .await?;
    Ok(last.unwrap_or(0))
}

/// One line of a register: the entry and its stored MAC, with what the database holds of its
/// letter.
#[derive(Clone, Debug)]
pub struct Line {
    pub row: Row,
    pub mac: String,
    pub perihal: Option<String>,
    pub classification: Option<String>,
    pub originator: Option<String>,
    pub nomor: Option<String>,
}

/// What to list of a register.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub agency: &'a str,
    pub book: &'static str,
    pub year: i64,
    /// Lower-cased words looked for in the number, the letter's nomor or its perihal.
    pub search: &'a str,
    /// The classifications whose perihal the search may look at (the reader's clearance and
    /// below): a search must not tell whether a letter above it holds a word.
    pub visible: &'a [&'a str],
    /// Entries before this sequence number (the cursor); none: from the newest.
    pub before: Option<i64>,
    pub limit: i64,
}

/// The lines of a register, newest first.
pub async fn list(store: &Store, q: &Query<'_>) -> Result<Vec<Line>> {
    let like = if q.search.is_empty() {
        String::new()
    } else {
        let escaped = q
            .search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    // `IN ()` is not SQL: with no level visible, no perihal is searched.
    let visible = if q.visible.is_empty() {
        "FALSE".to_owned()
    } else {
        let marks: Vec<String> = (7..7 + q.visible.len()).map(|i| format!("${i}")).collect();
        format!("d.classification IN ({})", marks.join(", "))
    };
    let sql = format!(
        "SELECT e.agency, e.book, e.year, e.seq, e.number, e.state, e.at, e.nip, \
         e.document_id, e.mac, d.perihal, d.classification, d.originator, d.nomor \
         FROM register_entries e LEFT JOIN documents d ON d.id = e.document_id \
         WHERE e.agency = $1 AND e.book = $2 AND e.year = $3 AND e.seq < $4 \
         AND ($5 = '' OR LOWER(e.number) LIKE $5 ESCAPE '\\' \
              OR LOWER(d.nomor) LIKE $5 ESCAPE '\\' \
              OR (LOWER(d.perihal) LIKE $5 ESCAPE '\\' AND {visible})) \
         ORDER BY e.seq DESC LIMIT $6"
    );
    let mut query = sqlx::query(&sql)
        .bind(q.agency)
        .bind(q.book)
        .bind(q.year)
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(like)
        .bind(q.limit);
    for level in q.visible {
        query = query.bind(*level);
    }
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter()
        .map(|r| {
            let (row, mac) = stored(r)?;
            Ok(Line {
                row,
                mac,
                perihal: r.try_get("perihal")?,
                classification: r.try_get("classification")?,
                originator: r.try_get("originator")?,
                nomor: r.try_get("nomor")?,
            })
        })
        .collect()
}
