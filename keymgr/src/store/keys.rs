//! The `keys` table: every key in the CA's keystores, its attributes and lifecycle state.

use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::{Store, db};
use crate::Result;
use crate::records::timestamp;

/// One key as stored.
#[derive(Debug)]
pub(crate) struct KeyRow {
    pub(crate) keystore: String,
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) kind: String,
    pub(crate) version: i64,
    pub(crate) state: String,
}

/// The insert of one key, to run on the pool or inside a transaction.
pub(super) fn insert_query<'q>(
    keystore: &'q str,
    info: &'q hsm_shim::KeyInfo,
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    sqlx::query("INSERT INTO keys (id, keystore, label, kind, version, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(info.id.to_string())
        .bind(keystore)
        .bind(&info.label)
        .bind(info.kind.to_string())
        .bind(i64::from(info.version))
        .bind(info.state.to_string())
        .bind(timestamp(info.created))
}

/// Records (or updates) a key's attributes: its state and keystore change, the rest is fixed
/// when it is first recorded.
pub(crate) async fn record(store: &Store, keystore: &str, info: &hsm_shim::KeyInfo) -> Result<()> {
    let updated = sqlx::query("UPDATE keys SET state = $1, keystore = $2 WHERE id = $3")
        .bind(info.state.to_string())
        .bind(keystore)
        .bind(info.id.to_string())
        .execute(&store.pool)
        .await
        .map_err(db)?;
    if updated.rows_affected() == 0 {
        insert_query(keystore, info)
            .execute(&store.pool)
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Every key, by keystore, label and version.
pub(crate) async fn all(store: &Store) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query("SELECT keystore, id, label, kind, version, state FROM keys ORDER BY keystore, label, version")
        .fetch_all(&store.pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                keystore: r.try_get("keystore").map_err(db)?,
                id: r.try_get("id").map_err(db)?,
                label: r.try_get("label").map_err(db)?,
                kind: r.try_get("kind").map_err(db)?,
                version: r.try_get("version").map_err(db)?,
                state: r.try_get("state").map_err(db)?,
            })
        })
        .collect()
}
