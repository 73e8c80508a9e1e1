//! The schema a backup is written and restored with: the tables and columns of this version's
//! migrations, never names read from a backup file. Restore maps the file's header onto it:
//! a table or column this version does not know refuses the whole file before anything is
//! written, and only the schema's own names ever go into SQL.

use serde::{Deserialize, Serialize};
use sqlx::{Connection as _, Row as _};

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Text,
    Int,
    Blob,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) columns: Vec<(String, Kind)>,
}

/// The tables and their columns, read from the migrations themselves (applied to an empty
/// SQLite database in memory), so that a new table or column is never left out. Tables that
/// others refer to come first.
pub(crate) async fn schema() -> Result<Vec<Table>> {
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
    let first = ["officials", "applications", "documents"];
    let mut ordered: Vec<String> = first.iter().map(|s| (*s).to_owned()).collect();
    ordered.extend(names.into_iter().filter(|n| !first.contains(&n.as_str())));
    let mut tables = Vec::new();
    for name in ordered {
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

/// An SQL identifier as the migrations write them: lower-case ASCII letters, digits and `_`.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The tables a backup's header lists, as this version knows them: each table and column must
/// be one of `known` (same name, same kind), once. The result holds `known`'s names only.
pub(crate) fn known_tables(header: &[Table], known: &[Table]) -> Result<Vec<Table>> {
    let mut out: Vec<Table> = Vec::with_capacity(header.len());
    for h in header {
        let k = known.iter().find(|k| k.name == h.name).ok_or_else(|| {
            Error::Integrity(format!("the backup names an unknown table {:?}", h.name))
        })?;
        if out.iter().any(|t| t.name == k.name) {
            return Err(Error::Integrity(format!(
                "the backup names table {:?} twice",
                k.name
            )));
        }
        let mut columns: Vec<(String, Kind)> = Vec::with_capacity(h.columns.len());
        for (col, kind) in &h.columns {
            let (name, kind) = k
                .columns
                .iter()
                .find(|(c, kk)| c == col && kk == kind)
                .ok_or_else(|| {
                    Error::Integrity(format!(
                        "the backup names an unknown column {col:?} of table {:?}",
                        k.name
                    ))
                })?;
            if columns.iter().any(|(c, _)| c == name) {
                return Err(Error::Integrity(format!(
                    "the backup names column {col:?} of {:?} twice",
                    k.name
                )));
            }
            columns.push((name.clone(), *kind));
        }
        if !plain(&k.name) || !columns.iter().all(|(c, _)| plain(c)) {
            return Err(Error::Internal(format!(
                "table {:?}: not a plain identifier",
                k.name
            )));
        }
        out.push(Table {
            name: k.name.clone(),
            columns,
        });
    }
    Ok(out)
}
