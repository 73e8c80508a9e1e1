//! The `applications` table: the applications that call the signing API.

use crate::Result;
use crate::store::Store;

const COLUMNS: &str = "id, name, agency, clearance, roles, status, certificate_sha256, signing_key, certificate, may_sign_for, client_csr";

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
    /// The application's own certificate request (DER) it was registered with, if any.
    pub client_csr: Option<Vec<u8>>,
}

/// What registering an application writes, with the role `application`: active when its
/// client certificate is known, suspended until it is installed when only its request is.
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
    pub status: &'a str,
    pub client_csr: Option<&'a [u8]>,
}

pub async fn insert(store: &Store, n: &NewApplicationRow<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO applications (id, name, agency, clearance, roles, status, certificate_sha256, \
         signing_key, may_sign_for, created_at, client_csr) \
         VALUES ($1, $2, $3, $4, '[\"application\"]', $9, $5, $6, $7, $8, $10)",
    )
    .bind(n.id)
    .bind(n.name)
    .bind(n.agency)
    .bind(n.clearance)
    .bind(n.certificate_sha256)
    .bind(n.signing_key)
    .bind(n.may_sign_for)
    .bind(n.created_at)
    .bind(n.status)
    .bind(n.client_csr)
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

/// Installs an application's two certificates at once (the client certificate by its SHA-256,
/// and the signing certificate) and makes it active; whether there is such an application.
pub async fn install(
    store: &Store,
    id: &str,
    client_sha256: &str,
    signing_der: &[u8],
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE applications SET certificate_sha256 = $1, certificate = $2, status = 'active' \
         WHERE id = $3",
    )
    .bind(client_sha256)
    .bind(signing_der.to_vec())
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() != 0)
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
