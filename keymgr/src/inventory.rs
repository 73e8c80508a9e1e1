//! The inventory: every certificate and key keymgr holds, its state and version, in SQLite (the
//! embedded default) or PostgreSQL (a `postgres://` URL), through sqlx.

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ca::Ca;
use crate::{Error, Result};

/// A certificate's lifecycle state in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    Active,
    /// A newer version was issued; still valid until it expires (the overlap window).
    Superseded,
    Revoked,
}

impl CertState {
    fn as_str(self) -> &'static str {
        match self {
            CertState::Active => "active",
            CertState::Superseded => "superseded",
            CertState::Revoked => "revoked",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(CertState::Active),
            "superseded" => Ok(CertState::Superseded),
            "revoked" => Ok(CertState::Revoked),
            other => Err(Error::Database(format!(
                "unknown certificate state {other:?}"
            ))),
        }
    }
}

/// One issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertRecord {
    /// Hex, lowercase, no separators.
    pub serial: String,
    /// The logical subject across versions: `node:<id>`, `official:<nip>`, `app:<name>`, `ca:network`.
    pub subject_id: String,
    pub profile: String,
    pub version: i64,
    pub subject: String,
    pub issuer: Ca,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub key_id: Option<String>,
    pub certificate_sha256: String,
    #[serde(skip)]
    pub der: Vec<u8>,
    pub state: CertState,
    pub issued_at: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// The request it was issued from (JSON), so that it can be renewed.
    pub request: String,
}

impl CertRecord {
    pub fn state_str(&self) -> &'static str {
        self.state.as_str()
    }
}

/// RFC 3339 in UTC at second precision: sorts as text.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| Error::Database(format!("bad timestamp {s:?}")))
}

#[allow(clippy::needless_pass_by_value)] // used as map_err(db)
fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

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

const COLUMNS: &str = "serial, subject_id, profile, version, subject, issuer, not_before, not_after, key_id, \
    certificate_sha256, der, state, issued_at, revoked_at, revocation_reason, request";

fn record(row: &sqlx::any::AnyRow) -> Result<CertRecord> {
    Ok(CertRecord {
        serial: row.try_get("serial").map_err(db)?,
        subject_id: row.try_get("subject_id").map_err(db)?,
        profile: row.try_get("profile").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        issuer: issuer_parse(&row.try_get::<String, _>("issuer").map_err(db)?)?,
        not_before: row.try_get("not_before").map_err(db)?,
        not_after: row.try_get("not_after").map_err(db)?,
        key_id: row.try_get("key_id").map_err(db)?,
        certificate_sha256: row.try_get("certificate_sha256").map_err(db)?,
        der: row.try_get("der").map_err(db)?,
        state: CertState::parse(&row.try_get::<String, _>("state").map_err(db)?)?,
        issued_at: row.try_get("issued_at").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
        revocation_reason: row.try_get("revocation_reason").map_err(db)?,
        request: row.try_get("request").map_err(db)?,
    })
}

/// The inventory database.
#[derive(Clone, Debug)]
pub struct Inventory {
    pool: AnyPool,
}

impl Inventory {
    /// Connects and applies the migrations for the backend the URL names.
    pub async fn open(url: &str) -> Result<Self> {
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
        Ok(Inventory { pool })
    }

    /// The default URL: a SQLite file in the CA home.
    pub fn default_url(home: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", home.join("inventory.db").display())
    }

    pub async fn insert(&self, r: &CertRecord) -> Result<()> {
        insert_query(r).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    /// Records the CA certificates and keys of a new CA, all or nothing.
    pub async fn register(
        &self,
        certs: &[CertRecord],
        keys: &[(&str, hsm_shim::KeyInfo)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for r in certs {
            insert_query(r).execute(&mut *tx).await.map_err(db)?;
        }
        for (keystore, info) in keys {
            sqlx::query("INSERT INTO keys (id, keystore, label, kind, version, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(info.id.to_string())
                .bind(*keystore)
                .bind(&info.label)
                .bind(info.kind.to_string())
                .bind(i64::from(info.version))
                .bind(info.state.to_string())
                .bind(timestamp(info.created))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Inserts a new version and marks the versions before it superseded, in one transaction.
    pub async fn insert_version(&self, r: &CertRecord) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("UPDATE certificates SET state = 'superseded' WHERE subject_id = $1 AND state = 'active'")
            .bind(&r.subject_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_query(r).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    pub async fn get(&self, serial: &str) -> Result<CertRecord> {
        let serial = normalise_serial(serial);
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE serial = $1"
        ))
        .bind(&serial)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or(Error::UnknownSerial(serial))?;
        record(&row)
    }

    pub async fn list(&self) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates ORDER BY issued_at, serial"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(record).collect()
    }

    /// The newest version for a logical subject.
    pub async fn latest(&self, subject_id: &str) -> Result<Option<CertRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE subject_id = $1 ORDER BY version DESC LIMIT 1"
        ))
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(record).transpose()
    }

    /// Active certificates of a profile that expire before `before`.
    pub async fn due(&self, profile: &str, before: OffsetDateTime) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE profile = $1 AND state = 'active' AND not_after < $2 ORDER BY serial"
        ))
        .bind(profile)
        .bind(timestamp(before))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(record).collect()
    }

    /// Marks a certificate revoked. Revoking twice keeps the first time and reason.
    pub async fn revoke(
        &self,
        serial: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<CertRecord> {
        let current = self.get(serial).await?;
        if current.state == CertState::Revoked {
            return Ok(current);
        }
        sqlx::query("UPDATE certificates SET state = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE serial = $3")
            .bind(timestamp(at))
            .bind(reason)
            .bind(&current.serial)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        self.get(serial).await
    }

    /// Every revoked certificate an issuer has issued.
    pub async fn revoked(&self, issuer: Ca) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE issuer = $1 AND state = 'revoked' ORDER BY serial"
        ))
        .bind(issuer_str(issuer))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(record).collect()
    }

    /// The next CRL number for an issuer, taken in a transaction so two runs never share one.
    pub async fn next_crl_number(&self, issuer: Ca) -> Result<i64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let current: Option<i64> =
            sqlx::query("SELECT last_number FROM crl_numbers WHERE issuer = $1")
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

    /// Records (or updates) a key's attributes.
    pub async fn record_key(&self, keystore: &str, info: &hsm_shim::KeyInfo) -> Result<()> {
        let state = info.state.to_string();
        let updated = sqlx::query("UPDATE keys SET state = $1, keystore = $2 WHERE id = $3")
            .bind(&state)
            .bind(keystore)
            .bind(info.id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO keys (id, keystore, label, kind, version, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(info.id.to_string())
                .bind(keystore)
                .bind(&info.label)
                .bind(info.kind.to_string())
                .bind(i64::from(info.version))
                .bind(&state)
                .bind(timestamp(info.created))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Every key: (keystore, id, label, kind, version, state).
    pub async fn keys(&self) -> Result<Vec<(String, String, String, String, i64, String)>> {
        let rows = sqlx::query("SELECT keystore, id, label, kind, version, state FROM keys ORDER BY keystore, label, version")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("keystore").map_err(db)?,
                    r.try_get("id").map_err(db)?,
                    r.try_get("label").map_err(db)?,
                    r.try_get("kind").map_err(db)?,
                    r.try_get("version").map_err(db)?,
                    r.try_get("state").map_err(db)?,
                ))
            })
            .collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn insert_query(r: &CertRecord) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(INSERT)
        .bind(&r.serial)
        .bind(&r.subject_id)
        .bind(&r.profile)
        .bind(r.version)
        .bind(&r.subject)
        .bind(issuer_str(r.issuer))
        .bind(&r.not_before)
        .bind(&r.not_after)
        .bind(r.key_id.clone())
        .bind(&r.certificate_sha256)
        .bind(r.der.clone())
        .bind(r.state.as_str())
        .bind(&r.issued_at)
        .bind(r.revoked_at.clone())
        .bind(r.revocation_reason.clone())
        .bind(&r.request)
}

const INSERT: &str = "INSERT INTO certificates (serial, subject_id, profile, version, subject, issuer, not_before, \
    not_after, key_id, certificate_sha256, der, state, issued_at, revoked_at, revocation_reason, request) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// Serials are stored as lowercase hex without separators.
pub fn normalise_serial(s: &str) -> String {
    s.trim().to_lowercase().replace(':', "")
}
