//! The inventory's storage: every SQL statement keymgr runs, on SQLite (the embedded default)
//! or PostgreSQL (a `postgres://` URL), through sqlx. One module per table, one typed function
//! per operation; what must be all or nothing is one transaction here.

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::ca::Ca;
use crate::records::CertRecord;
use crate::{Error, Result};

pub(crate) mod certificates;
pub(crate) mod crl_numbers;
pub(crate) mod invites;
pub(crate) mod keys;
pub(crate) mod proposals;

/// The inventory database's connection pool, migrated.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pool: AnyPool,
    /// SQLite (else PostgreSQL): how the statements written here number their parameters.
    sqlite: bool,
}

impl Store {
    /// Connects and applies the migrations for the backend the URL names.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(Error::InvalidInput(format!(
                "database URL must be sqlite:… or postgres://…, not {:?}",
                url.split(':').next().unwrap_or_default()
            )));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 5 })
            // No ping before each use of a connection to a file in this process (a round trip
            // to its thread); PostgreSQL's, across the network, is tested.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Durable and consistent: WAL, fsync on every commit, foreign keys on.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 5000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| Error::Database(format!("connecting to the inventory: {e}")))?;
        let migrator = if sqlite {
            sqlx::migrate!("./migrations/sqlite")
        } else {
            sqlx::migrate!("./migrations/postgres")
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| Error::Database(format!("migrating the inventory: {e}")))?;
        Ok(Store { pool, sqlite })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Records the CA certificates and keys of a new CA, all or nothing.
    pub(crate) async fn register_ca(
        &self,
        certs: &[CertRecord],
        keys: &[(&str, hsm_shim::KeyInfo)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for r in certs {
            certificates::insert_query(r)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for (keystore, info) in keys {
            keys::insert_query(keystore, info)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }
}

#[allow(clippy::needless_pass_by_value)] // used as map_err(db)
fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

/// An issuing CA as the `issuer` columns spell it.
fn issuer_str(ca: Ca) -> &'static str {
    match ca {
        Ca::Root => "root",
        Ca::Network => "network",
        Ca::Signing => "signing",
    }
}

fn issuer_parse(s: &str) -> Result<Ca> {
    match s {
        "root" => Ok(Ca::Root),
        "network" => Ok(Ca::Network),
        "signing" => Ok(Ca::Signing),
        other => Err(Error::Database(format!("unknown issuer {other:?}"))),
    }
}
