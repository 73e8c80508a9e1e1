//! Administration of officials over the API, for the roles `admin` and `pengelola_sandi`:
//! register an official (their keys are made in the node's keystore, a certificate request
//! comes back for keymgr, and a one-time enrolment code with which the official sets their own
//! password and PIN), install the certificate keymgr issued, change a status, reset an
//! official's secrets (a new enrolment code; the administrator never learns or sets them).
//! Every call is logged.

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::directory::{self, NewOfficial, Official, Secrets};
use crate::officials::enrolment::{self, Code};
use crate::{Error, Result};
use policies::Level;
use serde::{Deserialize, Serialize};

/// The roles that may administer officials.
pub const ADMIN_ROLES: [&str; 2] = ["admin", "pengelola_sandi"];

/// A registration: who the official is. No password or PIN: the official sets both with the
/// enrolment code the registration answers with (a request naming either is refused).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOfficialRequest {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: Level,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for NewOfficialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOfficialRequest")
            .field("nip", &self.nip)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub official: Official,
    /// A PKCS#10 request for the official's signing key, for `keymgr issue official --csr`.
    pub csr_pem: String,
    /// The registration, pending until a second `pengelola_sandi` approves it; the official
    /// stays suspended until then.
    pub change: crate::officials::changes::Change,
    /// The one-time code with which the official sets their own password and signing PIN
    /// (`POST /api/v1/enrol`, or the page `/ui/enrol`), shown only here.
    #[serde(flatten)]
    pub enrolment: Code,
}

pub(crate) fn require_admin(admin: &Official) -> Result<()> {
    if admin
        .roles
        .iter()
        .any(|r| ADMIN_ROLES.contains(&r.as_str()))
    {
        Ok(())
    } else {
        Err(Error::Forbidden {
            alasan: "ditolak: hanya admin atau pengelola sandi yang mengelola pejabat".into(),
            reason: "denied: only an admin or the persandian officer manages officials".into(),
            policies: vec![],
        })
    }
}

async fn log(
    node: &Node,
    admin: &Official,
    action: &str,
    about: &str,
    client: Option<String>,
) -> Result<()> {
    node.log
        .append(Entry::event(
            format!("official:{}", admin.nip),
            action,
            "allow",
            format!("official {about}"),
            node.policy.current().version(),
            client,
        ))
        .await
}

/// Registers an official with new keys, suspended until a second `pengelola_sandi` approves;
/// returns them with a certificate request and the pending registration.
pub async fn register(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    req: NewOfficialRequest,
) -> Result<Registered> {
    require_admin(admin)?;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    crate::officials::changes::check_within_own(
        node,
        admin,
        client.clone(),
        &req.nip,
        req.clearance,
    )
    .await?;
    let (official, csr_pem, code) = create(node, req, policies::Status::Suspended).await?;
    log(
        node,
        admin,
        "official_register",
        &official.nip,
        client.clone(),
    )
    .await?;
    let change = crate::officials::changes::request(
        node,
        admin,
        client,
        &official.nip,
        crate::officials::changes::REGISTER,
        official.clearance,
    )
    .await?;
    Ok(Registered {
        csr_pem,
        official,
        change,
        enrolment: code,
    })
}

/// Adds the official of `req` with new keys, `status`, and an outstanding enrolment code:
/// the official, the certificate request (PEM) for their signing key, and the code.
pub(crate) async fn create(
    node: &Node,
    req: NewOfficialRequest,
    status: policies::Status,
) -> Result<(Official, String, Code)> {
    let policy = node.policy.current();
    let (code, pending) = enrolment::issue(node.config.enrolment_seconds).await?;
    let official = directory::add(
        &node.store,
        node.keystore.as_ref(),
        policy.handling(),
        &NewOfficial {
            nip: req.nip,
            name: req.name,
            agency: req.agency,
            position: req.position,
            clearance: req.clearance,
            roles: req.roles,
            compartments: vec![],
            secrets: Secrets::Enrol(pending),
            status,
        },
    )
    .await?;
    let key = official.signing_key.ok_or_else(|| Error::MissingKey {
        what: format!("signing key for official {}", official.nip),
    })?;
    let csr = crate::crypto::tls::csr_for(node.keystore.as_ref(), key, &official.nip)?;
    Ok((
        official,
        keymgr::ca::pem_encode("CERTIFICATE REQUEST", &csr),
        code,
    ))
}

/// Resets an official's secrets: their password and PIN stop working at once, their
/// sessions end, and a new one-time enrolment code comes back for them (the administrator
/// never learns or sets the secrets themselves). Only for an official whose clearance is
/// within the administrator's own; logged.
pub async fn reset(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
) -> Result<Code> {
    require_admin(admin)?;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let official = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    crate::officials::changes::check_within_own(
        node,
        admin,
        client.clone(),
        nip,
        official.clearance,
    )
    .await?;
    let (code, pending) = enrolment::issue(node.config.enrolment_seconds).await?;
    enrolment::reset_row(&node.store, nip, &pending).await?;
    log(
        node,
        admin,
        "official_reset",
        &format!(
            "{nip}: secrets reset, sessions ended, new enrolment code until {}",
            code.expires_at
        ),
        client,
    )
    .await?;
    Ok(code)
}

/// A certificate request for the official's current signing key, for `keymgr issue official
/// --csr` (after registration, or after a raised clearance gave them a stronger key).
pub async fn csr(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
) -> Result<String> {
    require_admin(admin)?;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let official = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let key = official.signing_key.ok_or_else(|| Error::MissingKey {
        what: format!("signing key for official {nip}"),
    })?;
    let csr = crate::crypto::tls::csr_for(node.keystore.as_ref(), key, nip)?;
    log(node, admin, "official_csr", nip, client).await?;
    Ok(keymgr::ca::pem_encode("CERTIFICATE REQUEST", &csr))
}

/// Installs the signing certificate keymgr issued: it must chain to the Signing CA, name the
/// official's NIP, and certify the official's own signing key.
pub async fn install_certificate(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    pem: &str,
) -> Result<()> {
    require_admin(admin)?;
    let der = keymgr::ca::pem_to_der(pem)
        .ok_or_else(|| Error::invalid("certificate", "expected a PEM certificate"))?;
    let official = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    crate::officials::certify::check_certificate(node, &official, &der)?;
    directory::set_certificate(&node.store, nip, &der).await?;
    log(node, admin, "official_certificate", nip, client).await
}

/// Changes an official's status; a suspension or revocation ends their sessions at once.
pub async fn set_status(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    status: &str,
) -> Result<()> {
    require_admin(admin)?;
    let status = directory::parse_status(status)?;
    if nip == admin.nip {
        return Err(Error::invalid(
            "status",
            "an administrator does not change their own status",
        ));
    }
    // A revoked official is gone for good: a new registration (under dual control) brings
    // them back, not one administrator's click.
    let now = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    if now.status == policies::Status::Revoked && status != policies::Status::Revoked {
        return Err(Error::Conflict(format!(
            "official {nip} is revoked: register them again"
        )));
    }
    if status == policies::Status::Active
        && crate::officials::changes::registration_unapproved(&node.store, nip).await?
    {
        return Err(Error::Forbidden {
            alasan: "ditolak: pendaftaran pejabat ini belum disetujui pengelola sandi kedua".into(),
            reason: "denied: this official's registration has no second approval".into(),
            policies: vec!["dual-control-officials".into()],
        });
    }
    directory::set_status(&node.store, nip, status).await?;
    log(
        node,
        admin,
        &format!("official_{}", status.as_str()),
        nip,
        client,
    )
    .await
}

/// The node's officials, for an admin; the list is logged before it is shown.
pub async fn list(node: &Node, admin: &Official, client: Option<String>) -> Result<Vec<Official>> {
    require_admin(admin)?;
    let officials = directory::list(&node.store).await?;
    let shown = format!("list ({} officials shown)", officials.len());
    log(node, admin, "admin_list", &shown, client).await?;
    Ok(officials)
}

/// Changes a clearance: lowered at once, raised only up to the administrator's own and after a
/// second approval (the pending change is returned).
pub async fn set_clearance(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    clearance: Level,
) -> Result<Option<crate::officials::changes::Change>> {
    require_admin(admin)?;
    crate::officials::changes::change_clearance(node, admin, client, nip, clearance).await
}

/// Changes to officials waiting for their second approval.
pub async fn pending(
    node: &Node,
    admin: &Official,
) -> Result<Vec<crate::officials::changes::Change>> {
    require_admin(admin)?;
    crate::officials::changes::pending(node).await
}
