//! The `crl_numbers` table: the last CRL number each issuer used.

use sqlx::Row;

use super::{Store, db, issuer_str};
use crate::Result;
use crate::ca::Ca;

/// The next CRL number for an issuer, taken in a transaction so two runs never share one.
pub(crate) async fn next(store: &Store, issuer: Ca) -> Result<i64> {
    let mut tx = store.pool.begin().await.map_err(db)?;
    let current: Option<i64> = sqlx::query("SELECT last_number FROM crl_numbers WHERE issuer = $1")
        .bind(issuer_str(issuer))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .map(|r| r.try_get::<i64, _>("last_number"))
        .transpose()
        .map_err(db)?;
    let next = current.unwrap_or(0) + 1;
    if current.is_some() {
        sqlx::query("UPDATE crl_numbers SET last_number = $1 WHERE issuer = $2")
            .bind(next)
            .bind(issuer_str(issuer))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    } else {
        sqlx::query("INSERT INTO crl_numbers (issuer, last_number) VALUES ($1, $2)")
            .bind(issuer_str(issuer))
            .bind(next)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(next)
}

/// The last CRL number `issuer` used, if it used one.
pub(crate) async fn last(store: &Store, issuer: Ca) -> Result<Option<i64>> {
    sqlx::query("SELECT last_number FROM crl_numbers WHERE issuer = $1")
        .bind(issuer_str(issuer))
        .fetch_optional(&store.pool)
        .await
        .map_err(db)?
        .map(|r| r.try_get::<i64, _>("last_number"))
        .transpose()
        .map_err(db)
}
