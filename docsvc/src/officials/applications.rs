//! Applications that call the signing API: each is known by its client certificate (issued by
//! the Network CA), acts for one agency, and signs with its own key in the node's keystore or,
//! where its registration allows, with a named official's key.

use hsm_shim::{KeyId, KeyStore};
use policies::{Level, Person, Status};
use serde::Serialize;

use crate::officials::directory::parse_status;
use crate::store::Store;
use crate::store::applications::{self, ApplicationRow, NewApplicationRow};
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
    /// The certificate request it was registered with (DER), if any.
    #[serde(skip)]
    pub client_csr: Option<Vec<u8>>,
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
    pub client: ClientKey,
    pub may_sign_for: Vec<String>,
}

/// How an application will authenticate (mutual TLS).
#[derive(Debug)]
pub enum ClientKey {
    /// Its client certificate (DER), already issued: the application is active at once.
    Certificate(Vec<u8>),
    /// Its own certificate request (DER, self-signature checked): the application stays
    /// suspended until the certificate keymgr issues from it is installed
    /// ([`crate::officials::application_admin::install_issued`]).
    Request(Vec<u8>),
}

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

fn row_application(row: ApplicationRow) -> Result<Application> {
    let list = |s: &str| {
        serde_json::from_str::<Vec<String>>(s).map_err(|e| Error::Database(e.to_string()))
    };
    Ok(Application {
        clearance: row.clearance.parse().map_err(Error::Database)?,
        roles: list(&row.roles)?,
        status: parse_status(&row.status)?,
        signing_key: row
            .signing_key
            .map(|s| {
                s.parse::<uuid::Uuid>()
                    .map(KeyId)
                    .map_err(|e| Error::Database(e.to_string()))
            })
            .transpose()?,
        may_sign_for: list(&row.may_sign_for)?,
        client_csr: row.client_csr,
        id: row.id,
        name: row.name,
        agency: row.agency,
        certificate_sha256: row.certificate_sha256,
        certificate: row.certificate,
    })
}

/// Registers an application and generates its signing key in `keys`, of the kind `table`
/// gives its clearance.
pub async fn register(
    store: &Store,
    keys: &dyn KeyStore,
    table: &policies::HandlingTable,
    n: &NewApplication,
) -> Result<Application> {
    if n.id.is_empty()
        || n.id.len() > 64
        || !n.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::invalid(
            "id",
            "an application id is 1-64 letters, digits and hyphens",
        ));
    }
    let (certificate_sha256, status, client_csr) = match &n.client {
        ClientKey::Certificate(der) => {
            x509_parser::parse_x509_certificate(der).map_err(|e| {
                Error::invalid("client_certificate", format!("client certificate: {e}"))
            })?;
            (sha256_hex(der), Status::Active, None)
        }
        // No certificate hashes to this: nothing authenticates as it until one is installed.
        ClientKey::Request(der) => (
            format!("pending:{}", n.id),
            Status::Suspended,
            Some(der.as_slice()),
        ),
    };
    if get(store, &n.id).await?.is_some() {
        return Err(Error::Conflict(format!(
            "application {} already exists",
            n.id
        )));
    }
    let key = keys.generate(
        crate::officials::signing_key_kind(table, n.clearance),
        &format!("app-{}-sign", n.id),
    )?;
    let may_sign_for =
        serde_json::to_string(&n.may_sign_for).map_err(|e| Error::encode("may_sign_for", e))?;
    applications::insert(
        store,
        &NewApplicationRow {
            id: &n.id,
            name: &n.name,
            agency: &n.agency,
            clearance: n.clearance.as_str(),
            certificate_sha256: &certificate_sha256,
            signing_key: &key.id().to_string(),
            may_sign_for: &may_sign_for,
            created_at: &now_rfc3339(),
            status: status.as_str(),
            client_csr,
        },
    )
    .await?;
    get(store, &n.id).await?.ok_or_else(|| Error::Vanished {
        what: "application",
        id: n.id.clone(),
    })
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Application>> {
    applications::get(store, id)
        .await?
        .map(row_application)
        .transpose()
}

/// The application that authenticates with this client certificate.
pub async fn by_certificate(store: &Store, der: &[u8]) -> Result<Option<Application>> {
    applications::by_certificate_sha256(store, &sha256_hex(der))
        .await?
        .map(row_application)
        .transpose()
}

/// Records the certificate of the application's signing key.
pub async fn set_certificate(store: &Store, id: &str, der: &[u8]) -> Result<()> {
    applications::set_certificate(store, id, der).await
}

pub async fn set_status(store: &Store, id: &str, status: Status) -> Result<()> {
    if !applications::set_status(store, id, status.as_str()).await? {
        return Err(Error::NotFound(format!("application {id}")));
    }
    Ok(())
}
