//! Applications that call the signing API: each is known by its client certificate (issued by
//! the Network CA), acts for one agency, and signs with its own key in the node's keystore or,
//! where its registration allows, with a named official's key.

use hsm_shim::{KeyId, KeyKind, KeyStore};
use policies::{Level, Person, Status};
use serde::Serialize;
use sqlx::Row;

use crate::officials::directory::parse_status;
use crate::store::Store;
use crate::{Error, Result, now_rfc3339};

#[derive(Clone, Debug, Serialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub clearance: Level,
    pub roles: Vec<String>,
    pub status: Status,
    /// SHA-256 (hex) of the client certificate it authenticates with.
    pub certificate_sha256: String,
    #[serde(skip)]
    pub signing_key: Option<KeyId>,
    #[serde(skip)]
    pub certificate: Option<Vec<u8>>,
    pub may_sign_for: Vec<String>,
}

impl Application {
    /// The application as the policy sees it.
    pub fn person(&self) -> Person {
        Person {
            id: self.id.clone(),
            agency: self.agency.clone(),
            clearance: self.clearance,
            roles: self.roles.clone(),
            status: self.status,
            compartments: vec![],
        }
    }
}

/// A new application's registration.
#[derive(Debug)]
pub struct NewApplication {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub clearance: Level,
    pub client_certificate: Vec<u8>,
    pub may_sign_for: Vec<String>,
}

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

fn row_application(row: &sqlx::any::AnyRow) -> Result<Application> {
    let list = |s: String| {
        serde_json::from_str::<Vec<String>>(&s).map_err(|e| Error::Database(e.to_string()))
    };
    Ok(Application {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        agency: row.try_get("agency")?,
        clearance: row
            .try_get::<String, _>("clearance")?
            .parse()
            .map_err(Error::Database)?,
        roles: list(row.try_get("roles")?)?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        certificate_sha256: row.try_get("certificate_sha256")?,
        signing_key: row
            .try_get::<Option<String>, _>("signing_key")?
            .map(|s| {
                s.parse::<uuid::Uuid>()
                    .map(KeyId)
                    .map_err(|e| Error::Database(e.to_string()))
            })
            .transpose()?,
        certificate: row.try_get("certificate")?,
        may_sign_for: list(row.try_get("may_sign_for")?)?,
    })
}

const COLUMNS: &str = "id, name, agency, clearance, roles, status, certificate_sha256, signing_key, certificate, may_sign_for";

/// Registers an application and generates its signing key (P-256) in `keys`.
pub async fn register(
    store: &Store,
    keys: &dyn KeyStore,
    n: &NewApplication,
) -> Result<Application> {
    if n.id.is_empty()
        || n.id.len() > 64
        || !n.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::Invalid(
            "an application id is 1-64 letters, digits and hyphens".into(),
        ));
    }
    x509_parser::parse_x509_certificate(&n.client_certificate)
        .map_err(|e| Error::Invalid(format!("client certificate: {e}")))?;
    let key = keys.generate(KeyKind::EcdsaP256, &format!("app-{}-sign", n.id))?;
    sqlx::query(
        "INSERT INTO applications (id, name, agency, clearance, roles, status, certificate_sha256, \
         signing_key, may_sign_for, created_at) VALUES ($1, $2, $3, $4, '[\"application\"]', 'active', $5, $6, $7, $8)",
    )
    .bind(&n.id)
    .bind(&n.name)
    .bind(&n.agency)
    .bind(n.clearance.as_str())
    .bind(sha256_hex(&n.client_certificate))
    .bind(key.id().to_string())
    .bind(serde_json::to_string(&n.may_sign_for).map_err(|e| Error::Internal(e.to_string()))?)
    .bind(now_rfc3339())
    .execute(store.pool())
    .await?;
    get(store, &n.id)
        .await?
        .ok_or_else(|| Error::Internal("application vanished".into()))
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Application>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(row_application).transpose()
}

/// The application that authenticates with this client certificate.
pub async fn by_certificate(store: &Store, der: &[u8]) -> Result<Option<Application>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM applications WHERE certificate_sha256 = $1"
    ))
    .bind(sha256_hex(der))
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(row_application).transpose()
}

/// Records the certificate of the application's signing key.
pub async fn set_certificate(store: &Store, id: &str, der: &[u8]) -> Result<()> {
    sqlx::query("UPDATE applications SET certificate = $1 WHERE id = $2")
        .bind(der.to_vec())
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

pub async fn set_status(store: &Store, id: &str, status: Status) -> Result<()> {
    let done = sqlx::query("UPDATE applications SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(store.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("application {id}")));
    }
    Ok(())
}
