//! Applications that call the signing API: each is known by its client certificate (issued by
//! the Network CA), acts for one agency, and signs with its own key in the node's keystore or,
//! where its registration allows, with a named official's key. Each row carries the node's MAC
//! over every field (`sandi:applications:v1`), checked on every read: a row changed or written
//! by a database writer (its certificate, status, clearance, whom it may sign for) is an
//! integrity incident, logged and refused.

use hsm_shim::{KeyId, KeyStore};
use policies::{Level, Person, Status};
use serde::Serialize;

use crate::crypto::sha256_hex;
use crate::officials::directory::parse_status;
use crate::store::Store;
use crate::store::applications::{self, ApplicationRow};
use crate::store::integrity::opt;
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

const DOMAIN: &str = "sandi:applications:v1";

/// What the MAC covers, in order: every field of the row.
fn fields(r: &ApplicationRow) -> Vec<Vec<u8>> {
    let bytes = |b: Option<&Vec<u8>>| b.map_or_else(|| vec![0], |b| [&[1u8][..], b].concat());
    vec![
        r.id.as_bytes().to_vec(),
        r.name.as_bytes().to_vec(),
        r.agency.as_bytes().to_vec(),
        r.clearance.as_bytes().to_vec(),
        r.roles.as_bytes().to_vec(),
        r.status.as_bytes().to_vec(),
        r.certificate_sha256.as_bytes().to_vec(),
        opt(r.signing_key.as_deref()),
        bytes(r.certificate.as_ref()),
        r.may_sign_for.as_bytes().to_vec(),
        bytes(r.client_csr.as_ref()),
    ]
}

fn seal(store: &Store, r: &mut ApplicationRow) -> Result<()> {
    let f = fields(r);
    r.mac = Some(
        store
            .integrity()
            .mac(DOMAIN, &f.iter().map(Vec::as_slice).collect::<Vec<_>>())?,
    );
    Ok(())
}

/// The row, if it carries the node's MAC; else an integrity incident (logged) to refuse with.
async fn checked(store: &Store, row: Option<ApplicationRow>) -> Result<Option<ApplicationRow>> {
    let Some(r) = row else {
        return Ok(None);
    };
    let f = fields(&r);
    if store.integrity().verify(
        DOMAIN,
        &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        r.mac.as_deref(),
    )? {
        return Ok(Some(r));
    }
    Err(store
        .integrity()
        .incident(
            &format!("application:{}", r.id),
            &format!(
                "the row of application {} does not carry the node's MAC (changed or forged in the database)",
                r.id
            ),
        )
        .await)
}

/// Changes an application's row by `change`, MAC'd again; refused if it changed meanwhile
/// or if `change` refuses the row as it now is.
async fn change(
    store: &Store,
    id: &str,
    change: impl FnOnce(&mut ApplicationRow) -> Result<()>,
) -> Result<()> {
    let mut r = checked(store, applications::get(store, id).await?)
        .await?
        .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
    let old = r.mac.clone();
    change(&mut r)?;
    seal(store, &mut r)?;
    if !applications::update(store, &r, old.as_deref()).await? {
        return Err(Error::Conflict(format!(
            "application {id} changed meanwhile; try again"
        )));
    }
    Ok(())
}

/// The longest application id.
const MAX_ID: usize = 56;
/// What the name of an application's signing certificate adds to its id.
pub const SIGNING_SUFFIX: &str = "-signing";

/// Registers an application and generates its signing key in `keys`, of the kind `table`
/// gives its clearance.
pub async fn register(
    store: &Store,
    keys: &dyn KeyStore,
    table: &policies::HandlingTable,
    n: &NewApplication,
) -> Result<Application> {
    // `{id}-signing` names the application's signing certificate at the CA (at most 64
    // characters there); an id that is itself `…-signing` would get a client certificate
    // with another application's signing subject.
    if n.id.is_empty()
        || n.id.len() > MAX_ID
        || !n.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        || n.id.to_ascii_lowercase().ends_with(SIGNING_SUFFIX)
    {
        return Err(Error::invalid(
            "id",
            format!(
                "an application id is 1-{MAX_ID} letters, digits and hyphens, not ending in {SIGNING_SUFFIX}"
            ),
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
            Some(der.clone()),
        ),
    };
    if applications::get(store, &n.id).await?.is_some() {
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
    let mut row = ApplicationRow {
        id: n.id.clone(),
        name: n.name.clone(),
        agency: n.agency.clone(),
        clearance: n.clearance.as_str().into(),
        roles: r#"["application"]"#.into(),
        status: status.as_str().into(),
        certificate_sha256,
        signing_key: Some(key.id().to_string()),
        certificate: None,
        may_sign_for,
        client_csr,
        mac: None,
    };
    seal(store, &mut row)?;
    applications::insert(store, &row, &now_rfc3339()).await?;
    get(store, &n.id).await?.ok_or_else(|| Error::Vanished {
        what: "application",
        id: n.id.clone(),
    })
}

/// An application, its row's MAC checked.
pub async fn get(store: &Store, id: &str) -> Result<Option<Application>> {
    checked(store, applications::get(store, id).await?)
        .await?
        .map(row_application)
        .transpose()
}

/// The application that authenticates with this client certificate, its row's MAC checked.
pub async fn by_certificate(store: &Store, der: &[u8]) -> Result<Option<Application>> {
    let sha256 = sha256_hex(der);
    // A row kept in memory was MAC-checked when it was read, and is those same bytes.
    if let Some(row) = applications::remembered_by_certificate(store, &sha256) {
        return row_application(row).map(Some);
    }
    let (row, reading) = applications::by_certificate_sha256_reading(store, &sha256).await?;
    let Some(row) = checked(store, row).await? else {
        return Ok(None);
    };
    applications::remember(store, &row, reading);
    row_application(row).map(Some)
}

/// Records the certificate of the application's signing key.
pub async fn set_certificate(store: &Store, id: &str, der: &[u8]) -> Result<()> {
    change(store, id, |r| {
        r.certificate = Some(der.to_vec());
        Ok(())
    })
    .await
}

/// Installs an application's client certificate (by its SHA-256) and signing certificate at
/// once. A registration waiting for its first certificates becomes active; an active one
/// (renewed certificates) stays active; one an admin suspended stays suspended, and a revoked
/// one is refused: installing certificates never undoes a suspension or a revocation.
pub(crate) async fn install(
    store: &Store,
    id: &str,
    client_sha256: &str,
    signing_der: &[u8],
) -> Result<()> {
    let current = get(store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
    let status = match current.status {
        Status::Revoked => {
            return Err(Error::Conflict(format!(
                "application {id} is revoked: register it anew"
            )));
        }
        Status::Suspended if current.certificate.is_some() => Status::Suspended,
        Status::Suspended | Status::Active => Status::Active,
    };
    change(store, id, |r| {
        // Revoked meanwhile: stays revoked.
        if r.status == Status::Revoked.as_str() {
            return Err(Error::Conflict(format!("application {id} was revoked")));
        }
        client_sha256.clone_into(&mut r.certificate_sha256);
        r.certificate = Some(signing_der.to_vec());
        r.status = status.as_str().into();
        Ok(())
    })
    .await
}

pub async fn set_status(store: &Store, id: &str, status: Status) -> Result<()> {
    change(store, id, |r| {
        r.status = status.as_str().into();
        Ok(())
    })
    .await
}

/// Moves an application to `to` only from the status `from` it was judged in: a revocation
/// landing meanwhile is not undone (the row's MAC is the compare-and-swap).
pub async fn transition(store: &Store, id: &str, from: Status, to: Status) -> Result<()> {
    change(store, id, |r| {
        if r.status != from.as_str() {
            return Err(Error::Conflict(format!(
                "application {id} is now {}; look again",
                r.status
            )));
        }
        r.status = to.as_str().into();
        Ok(())
    })
    .await
}
