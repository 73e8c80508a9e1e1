//! The schema a backup is written and restored with: the tables and columns of this version's
//! migrations, never names read from a backup file. Restore maps the file's header onto it:
//! a table or column this version does not know refuses the whole file before anything is
//! written, and only the schema's own names ever go into SQL.

pub(crate) use crate::store::backup::{Kind, Table};
use crate::{Error, Result};

/// The tables and their columns, as this version's migrations make them (see
/// [`crate::store::backup::migrated_tables`]). Tables that others refer to come first.
pub(crate) async fn schema() -> Result<Vec<Table>> {
    let first = ["officials", "applications", "documents"];
    let (mut ordered, rest): (Vec<Table>, Vec<Table>) = crate::store::backup::migrated_tables()
        .await?
        .into_iter()
        .partition(|t| first.contains(&t.name.as_str()));
    ordered.sort_by_key(|t| first.iter().position(|f| *f == t.name));
    ordered.extend(rest);
    Ok(ordered)
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
            return Err(Error::Invariant {
                what: "a backup's table and column names are plain identifiers",
            });
        }
        out.push(Table {
            name: k.name.clone(),
            columns,
        });
    }
    Ok(out)
}
