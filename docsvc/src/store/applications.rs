//! The `applications` table: the applications that call the signing API.

use crate::Result;
use crate::store::Store;

const COLUMNS: &str = "id, name, agency, clearance, roles, status, certificate_sha256, signing_key, certificate, may_sign_for";

/// An application's row as stored (`roles` and `may_sign_for` are JSON lists).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub clearance: String,
    pub roles: String,
    pub status: String,
    pub certificate_sha256: String,
    pub signing_key: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub may_sign_for: String,
}

/// What registering an application writes; it starts active with the role `application`.
#[derive(Debug)]
pub struct NewApplicationRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub agency: &'a str,
    pub clearance: &'a str,
    pub certificate_sha256: &'a str,
    pub signing_key: &'a str,
    /// JSON list of NIPs.
    pub may_sign_for: &'a str,
    pub created_at: &'a str,
}

pub async fn insert(store: &Store, n: &NewApplicationRow<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO applications (id, name, agency, clearance, roles, status, certificate_sha256, \
         signing_key, may_sign_for, created_at) VALUES ($1, $2, $3, $4, '[\"application\"]', 'active', $5, $6, $7, $8)",
    )
    .bind(n.id)
    .bind(n.name)
    .bind(n.agency)
    .bind(n.clearance)
    .bind(n.certificate_sha256)
    .bind(n.signing_key)
    .bind(n.may_sign_for)
    .bind(n.created_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<ApplicationRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// The application whose client certificate has this SHA-256 (hex).
pub async fn by_certificate_sha256(store: &Store, sha256: &str) -> Result<Option<ApplicationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications WHERE certificate_sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(store.reader())
    .await?)
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

/// Sets the application's status; whether there is such an application.
pub async fn set_status(store: &Store, id: &str, status: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE applications SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() != 0)
}
