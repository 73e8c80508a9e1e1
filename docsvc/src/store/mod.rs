//! The database: sqlx over SQLite (embedded default) or PostgreSQL, with one set of
//! migrations per backend.

pub mod applications;
pub mod approvals;
pub mod audit_log;
pub mod backup;
pub mod content;
pub mod copies;
mod database_error;
pub mod delegations;
pub mod deliveries;
pub mod dispositions;
pub mod documents;
pub mod drafts;
pub mod integrity;
pub mod mandates;
pub mod network_state;
pub mod official_changes;
pub mod officials;
pub mod outbox;
pub mod parts;
pub mod recipient_challenges;
pub mod recipients;
pub mod registers;
pub mod remote_officials;
pub mod script;
pub mod sessions;
pub mod traffic;
pub mod verifications;
pub mod views;
pub mod witnessed;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and which backend it talks to.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// For reads only. On SQLite, separate connections that read in parallel with the one
    /// writer (WAL); on PostgreSQL, the same pool.
    readers: AnyPool,
    backend: Backend,
    /// The node's MAC key (while unsealed) for sessions and officials' rows.
    integrity: integrity::Integrity,
    /// Applications' rows by client certificate, as recently read (the signing API's hot path).
    applications: std::sync::Arc<applications::RowCache>,
    /// Where letters' content is read from and written to.
    content: std::sync::Arc<content::Content>,
}

pub type Tx = Transaction<'static, Any>;

impl Store {
    /// Connects and applies the migrations of the backend the URL names.
    pub async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::invalid(
                "database URL",
                format!(
                    "database URL must be sqlite:… or postgres://…, not {:?}",
                    url.split(':').next().unwrap_or_default()
                ),
            ));
        };
        let sqlite = backend == Backend::Sqlite;
        crate::private_files::prepare_sqlite(url)?;
        let pool = Self::pool_options(sqlite, if sqlite { 1 } else { 16 })
            .connect(url)
            .await
            .map_err(|e| Error::Database(format!("connecting: {e}")))?;
        let migrator = if sqlite {
            sqlx::migrate!("./migrations/sqlite")
        } else {
            sqlx::migrate!("./migrations/postgres")
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| Error::Database(format!("migrating: {e}")))?;
        crate::private_files::prepare_sqlite(url)?;
        let readers = if sqlite {
            Self::pool_options(true, 4)
                .connect(url)
                .await
                .map_err(|e| Error::Database(format!("connecting: {e}")))?
        } else {
            pool.clone()
        };
        Ok(Store {
            pool,
            readers,
            backend,
            integrity: integrity::Integrity::default(),
            applications: std::sync::Arc::default(),
            content: std::sync::Arc::default(),
        })
    }

    fn pool_options(sqlite: bool, connections: u32) -> AnyPoolOptions {
        AnyPoolOptions::new()
            // SQLite has one writer; one writing connection makes every transaction take its
            // turn instead of failing with "database is locked".
            .max_connections(connections)
            // A connection to a file in this process cannot have gone away; sqlx's ping before
            // each use is a round trip to the connection's thread (two thread switches) for
            // every statement outside a transaction. PostgreSQL's, across the network, can.
            .test_before_acquire(!sqlite)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for queries that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.readers
    }

    /// This store with letters' content in the data directory `data_dir` (read whatever the
    /// mode; new letters written as `mode` says). Without it, content is in the database.
    #[must_use]
    pub fn with_content(mut self, data_dir: &std::path::Path, mode: content::Mode) -> Self {
        self.content = std::sync::Arc::new(content::Content::new(data_dir, mode));
        self
    }

    pub fn content(&self) -> &content::Content {
        &self.content
    }

    pub fn integrity(&self) -> &integrity::Integrity {
        &self.integrity
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
