//! The database side of backup and restore: the schema as this version's migrations make it,
//! every table's rows read in one snapshot, rows written back by the schema's own names. Generic
//! over the tables, so that a new table or column is never left out.

use std::collections::BTreeMap;

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use sqlx::{Connection as _, Row as _};

use super::{Backend, Store, Tx};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Int,
    Blob,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Kind)>,
}

/// One column's value of a row, of its column's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
}

/// The tables and their columns, read from the migrations themselves (applied to an empty
/// SQLite database in memory), in name order.
pub async fn migrated_tables() -> Result<Vec<Table>> {
    let mut c = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut c)
        .await
        .map_err(|e| Error::Database(format!("migrating: {e}")))?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await?;
    let mut tables = Vec::new();
    for name in names {
        let cols = sqlx::query("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut c)
            .await?;
        let columns = cols
            .iter()
            .map(|r| {
                let ty: String = r.try_get("type")?;
                let kind = if ty.contains("INT") {
                    Kind::Int
                } else if ty.contains("BLOB") {
                    Kind::Blob
                } else {
                    Kind::Text
                };
                Ok((r.try_get::<String, _>("name")?, kind))
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
        tables.push(Table { name, columns });
    }
    Ok(tables)
}

fn values(row: &sqlx::any::AnyRow, t: &Table) -> Result<Vec<Value>> {
    t.columns
        .iter()
        .map(|(c, kind)| {
            Ok(match kind {
                Kind::Text => Value::Text(row.try_get(c.as_str())?),
                Kind::Int => Value::Int(row.try_get(c.as_str())?),
                Kind::Blob => Value::Blob(row.try_get(c.as_str())?),
            })
        })
        .collect()
}

/// Every table's rows, in one read transaction (the rows are one moment of the database:
/// SQLite's WAL snapshot, PostgreSQL's repeatable read), each row given to `row` in table
/// order; returns how many rows each table had.
pub async fn dump(
    store: &Store,
    tables: &[Table],
    row: &mut dyn FnMut(&Table, Vec<Value>) -> Result<()>,
) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let mut tx = store.begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    for t in tables {
        let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        let sql = format!("SELECT {} FROM {} ORDER BY 1", cols.join(", "), t.name);
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        let mut n = 0u64;
        while let Some(r) = rows.try_next().await? {
            row(t, values(&r, t)?)?;
            n += 1;
        }
        counts.insert(t.name.clone(), n);
    }
    Ok(counts)
}

/// Whether the database holds officials, letters or log entries (a restore needs it empty):
/// how many of them there are.
pub async fn rows_in_use(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM officials) + (SELECT COUNT(*) FROM documents) \
         + (SELECT COUNT(*) FROM audit_log)",
    )
    .fetch_one(store.pool())
    .await?)
}

/// Deletes the rows the migrations seeded, for the backup's to replace them.
pub async fn clear_seeded(tx: &mut Tx) -> Result<()> {
    for seeded in ["audit_state", "network_state"] {
        sqlx::query(&format!("DELETE FROM {seeded}"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts one row of `t`, one value per column in `t`'s order. `t` names only the schema's
/// own tables and columns (see `ops::backup_schema::known_tables`).
pub async fn insert(tx: &mut Tx, t: &Table, values: Vec<Value>) -> Result<()> {
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        t.name,
        cols.join(", "),
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s),
            Value::Int(n) => q.bind(n),
            Value::Blob(b) => q.bind(b),
        };
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
