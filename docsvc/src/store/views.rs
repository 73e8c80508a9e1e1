//! The reads the HTTP layer shows as they are stored: the applications list, the latest
//! access-log entries, officials' names, the delivery states of letters, a letter's
//! originator. Typed rows, one query each, on the readers' pool.

use std::collections::HashMap;

use sqlx::Row as _;

use crate::Result;
use crate::store::Store;

/// An application as the administrators' page lists it.
#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub clearance: String,
    pub status: String,
}

/// The registered applications, by id.
pub async fn applications(store: &Store) -> Result<Vec<ApplicationRow>> {
    let rows =
        sqlx::query("SELECT id, name, agency, clearance, status FROM applications ORDER BY id")
            .fetch_all(store.reader())
            .await?;
    rows.iter()
        .map(|r| {
            Ok(ApplicationRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                agency: r.try_get("agency")?,
                clearance: r.try_get("clearance")?,
                status: r.try_get("status")?,
            })
        })
        .collect()
}

/// An access-log entry as stored: its sequence number and its JSON (an `audit::Entry`, which
/// the access log above this layer reads).
#[derive(Debug, Clone)]
pub struct LogRow {
    pub seq: i64,
    pub entry: String,
}

/// The latest 2,000 access-log entries, newest first.
pub async fn latest_log_entries(store: &Store) -> Result<Vec<LogRow>> {
    let rows = sqlx::query("SELECT seq, entry FROM audit_log ORDER BY seq DESC LIMIT 2000")
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LogRow {
                seq: r.try_get("seq")?,
                entry: r.try_get("entry")?,
            })
        })
        .collect()
}

/// The names of the node's officials by NIP, for showing people rather than NIPs (a row
/// that does not read is left out).
pub async fn official_names(store: &Store) -> Result<HashMap<String, String>> {
    Ok(sqlx::query("SELECT nip, name FROM officials")
        .fetch_all(store.reader())
        .await?
        .iter()
        .filter_map(|r| Some((r.try_get("nip").ok()?, r.try_get("name").ok()?)))
        .collect())
}

/// A letter's delivery to one destination node.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    pub node_id: String,
    pub state: String,
}

/// The delivery states of the letters `ids`, by letter, each by node id; in one query.
pub async fn delivery_states(
    store: &Store,
    ids: &[&str],
) -> Result<HashMap<String, Vec<DeliveryState>>> {
    let mut out: HashMap<String, Vec<DeliveryState>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT document_id, node_id, state FROM outbox WHERE document_id IN ({}) ORDER BY node_id",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    for r in q.fetch_all(store.reader()).await? {
        out.entry(r.try_get("document_id")?)
            .or_default()
            .push(DeliveryState {
                node_id: r.try_get("node_id")?,
                state: r.try_get("state")?,
            });
    }
    Ok(out)
}

/// The NIP of the official who originated letter `id`, if there is such a letter (and its
/// originator reads).
pub async fn originator(store: &Store, id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT originator FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?
            .and_then(|r| r.try_get::<String, _>("originator").ok()),
    )
}
