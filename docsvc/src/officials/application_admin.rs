//! Registering applications without quickstart, for the admin API, the admin page and the
//! `docsvc application` CLI alike: the application brings its own certificate request (its TLS
//! key never leaves it), its agency, its clearance and the officials it may sign for (which is
//! not consent: signing as an official still needs that official's delegation or PIN, see
//! `delegation`). The node makes the application's signing key and answers with that key's
//! certificate request; keymgr issues both certificates and [`install_issued`] installs them.

use policies::Level;
use serde::{Deserialize, Serialize};

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::applications::{self, Application, ClientKey, NewApplication};
use crate::officials::directory::{self, Official};
use crate::{Error, Result};

/// The largest certificate or request read, PEM.
const MAX_PEM: usize = 16 * 1024;
/// The most officials one application may be registered to sign for.
const MAX_SIGN_FOR: usize = 100;

/// An application's registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplicationRequest {
    /// 1-56 letters, digits and hyphens, not ending in `-signing`.
    pub id: String,
    pub name: String,
    pub agency: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: Level,
    /// The application's own PKCS#10 request (PEM) for its mutual-TLS client certificate.
    pub csr_pem: String,
    /// NIPs of officials it may sign for, each under their own delegation or PIN.
    #[serde(default)]
    pub may_sign_for: Vec<String>,
}

/// A registration made: the application and the request for its signing key. On a node with
/// an online CA (`[ca]`) both certificates were asked for at once: the application is active
/// and its client certificate (with its chain) is here for it to install; otherwise it stays
/// suspended until `keymgr issue application --csr` and [`install_certificates`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegisteredApplication {
    #[schema(value_type = Object)]
    pub application: Application,
    pub signing_csr_pem: String,
    /// The client certificate the online CA issued for the application's own request, then
    /// the Network CA (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate_pem: Option<String>,
    /// Why the online CA issued nothing (the application stays suspended; `docsvc
    /// application certify` asks again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_error: Option<String>,
}

/// The certificates keymgr issued for an application.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    /// From the application's own request: its mutual-TLS client certificate (PEM).
    pub client_certificate_pem: String,
    /// From the node's request for the application's signing key (PEM).
    pub signing_certificate_pem: String,
}

/// Who registers: an administrator (`admin` or `pengelola_sandi`, within their own
/// clearance) over HTTP, or an operator holding the custodians' shares on the CLI.
#[derive(Clone, Copy, Debug)]
pub enum By<'a> {
    Admin(&'a Official),
    Operator,
}

impl By<'_> {
    fn actor(self) -> String {
        match self {
            By::Admin(o) => format!("official:{}", o.nip),
            By::Operator => "operator:cli".into(),
        }
    }

    fn allowed(self, clearance: Level) -> Result<()> {
        let By::Admin(o) = self else {
            return Ok(());
        };
        crate::officials::admin::require_admin(o)?;
        if clearance > o.clearance {
            return Err(Error::Forbidden {
                alasan: "ditolak: tidak dapat memberi aplikasi tingkat izin di atas tingkat izin sendiri".into(),
                reason: format!(
                    "denied: {} cannot give an application the clearance {}, above their own",
                    o.nip,
                    clearance.as_str()
                ),
                policies: vec![],
            });
        }
        Ok(())
    }
}

async fn log(
    node: &Node,
    by: By<'_>,
    action: &str,
    decision: &str,
    reason: String,
    client: Option<String>,
) -> Result<()> {
    crate::node::log_alone(
        node,
        &Entry::event(
            by.actor(),
            action,
            decision,
            reason,
            node.policy.current().version(),
            client,
        ),
    )
    .await
}

/// One PEM block labelled `label`, bounded, as DER.
fn pem_der(what: &'static str, pem: &str, label: &str) -> Result<Vec<u8>> {
    if pem.len() > MAX_PEM {
        return Err(Error::invalid(
            what,
            format!("{what}: at most {MAX_PEM} bytes"),
        ));
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| Error::invalid(what, format!("{what}: not PEM ({e})")))?;
    if block.label != label {
        return Err(Error::invalid(
            what,
            format!("{what}: expected a PEM {label}, not {}", block.label),
        ));
    }
    Ok(block.contents)
}

/// The request's public key (SPKI, DER), once its self-signature holds.
fn csr_key(der: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer as _;
    let bad = |e: String| Error::invalid("csr_pem", format!("certificate request: {e}"));
    let (rest, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    csr.verify_signature()
        .map_err(|e| bad(format!("its signature does not verify ({e})")))?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

/// Registers an application with its own request; returns it (suspended) with the request
/// for the signing key the node made for it. Logged.
pub async fn register(
    node: &Node,
    by: By<'_>,
    client: Option<String>,
    req: NewApplicationRequest,
) -> Result<RegisteredApplication> {
    by.allowed(req.clearance)?;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    for (what, v) in [("name", &req.name), ("agency", &req.agency)] {
        if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
            return Err(Error::invalid(
                what,
                format!("{what} must be 1-200 printable characters"),
            ));
        }
    }
    let csr = pem_der("csr_pem", &req.csr_pem, "CERTIFICATE REQUEST")?;
    csr_key(&csr)?;
    if req.may_sign_for.len() > MAX_SIGN_FOR {
        return Err(Error::invalid(
            "may_sign_for",
            format!("at most {MAX_SIGN_FOR} officials"),
        ));
    }
    for nip in &req.may_sign_for {
        keymgr::ca::check_nip(nip).map_err(|e| Error::invalid("may_sign_for", e.to_string()))?;
        if directory::get(&node.store, nip).await?.is_none() {
            return Err(Error::invalid(
                "may_sign_for",
                format!("no official {nip} on this node"),
            ));
        }
    }
    let policy = node.policy.current();
    let app = applications::register(
        &node.store,
        node.keystore.as_ref(),
        policy.handling(),
        &NewApplication {
            id: req.id,
            name: req.name.trim().to_owned(),
            agency: req.agency.trim().to_owned(),
            clearance: req.clearance,
            client: ClientKey::Request(csr),
            may_sign_for: req.may_sign_for,
        },
    )
    .await?;
    let key = app.signing_key.ok_or_else(|| Error::MissingKey {
        what: format!("signing key of application {}", app.id),
    })?;
    let signing_csr = crate::crypto::tls::csr_for(
        node.keystore.as_ref(),
        key,
        &format!("{}{}", app.id, applications::SIGNING_SUFFIX),
    )?;
    log(
        node,
        by,
        "application_register",
        "allow",
        format!(
            "application {} ({}, {}) registered; may sign for [{}] under their consent",
            app.id,
            app.agency,
            app.clearance.as_str(),
            app.may_sign_for.join(", ")
        ),
        client.clone(),
    )
    .await?;
    let mut done = RegisteredApplication {
        signing_csr_pem: keymgr::ca::pem_encode("CERTIFICATE REQUEST", &signing_csr),
        application: app,
        client_certificate_pem: None,
        ca_error: None,
    };
    if node.config.ca.is_some() {
        // The registration stands if the CA cannot be reached; the failure is logged and said.
        match from_ca(node, by, client, &done.application.id).await {
            Ok((app, pem)) => {
                done.application = app;
                done.client_certificate_pem = Some(pem);
            }
            Err(e) => {
                tracing::error!(
                    "application {}: no certificates from the online CA: {e}",
                    done.application.id
                );
                done.ca_error = Some(e.to_string());
            }
        }
    }
    Ok(done)
}

/// Asks the online CA for a registered application's two certificates (its client
/// certificate, for the request it registered with; the certificate of the signing key the
/// node made for it), installs them through [`install_issued`] and returns the application,
/// now active, with its client certificate chain (PEM) for it. Logged either way.
pub async fn from_ca(
    node: &Node,
    by: By<'_>,
    client: Option<String>,
    id: &str,
) -> Result<(Application, String)> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let issued = async {
        let app = applications::get(&node.store, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
        let csr = app.client_csr.as_deref().ok_or_else(|| {
            Error::Conflict(format!(
                "application {id} was not registered with a certificate request"
            ))
        })?;
        let key = app.signing_key.ok_or_else(|| Error::MissingKey {
            what: format!("signing key of application {id}"),
        })?;
        let signing_name = format!("{id}{}", applications::SIGNING_SUFFIX);
        let signing_csr = crate::crypto::tls::csr_for(node.keystore.as_ref(), key, &signing_name)?;
        let ca = crate::network::ca::CaClient::for_node(node)?;
        let client_cert = ca.issue_application(id, &app.agency, csr).await?;
        let signing = ca
            .issue_application(&signing_name, &app.agency, &signing_csr)
            .await?;
        let app = install_issued(node, id, &client_cert.certificate, &signing.certificate).await?;
        let pem: String = std::iter::once(&client_cert.certificate)
            .chain(&client_cert.chain)
            .map(|der| keymgr::ca::der_to_pem(der))
            .collect();
        Ok::<_, Error>((app, pem))
    }
    .await;
    let (decision, reason) = match &issued {
        Ok((app, _)) => (
            "allow",
            format!(
                "application {id}: client certificate {} and signing certificate from the online CA installed; active",
                app.certificate_sha256
            ),
        ),
        Err(e) => (
            "error",
            format!("application {id}: no certificates from the online CA: {e}"),
        ),
    };
    log(
        node,
        by,
        "application_certificates",
        decision,
        reason,
        client,
    )
    .await?;
    issued
}

/// Installs the certificates keymgr issued for a registered application (PEM), by an
/// administrator or operator; logged.
pub async fn install_certificates(
    node: &Node,
    by: By<'_>,
    client: Option<String>,
    id: &str,
    certs: &Certificates,
) -> Result<Application> {
    if let By::Admin(o) = by {
        crate::officials::admin::require_admin(o)?;
    }
    let client_der = pem_der(
        "client_certificate_pem",
        &certs.client_certificate_pem,
        "CERTIFICATE",
    )?;
    let signing_der = pem_der(
        "signing_certificate_pem",
        &certs.signing_certificate_pem,
        "CERTIFICATE",
    )?;
    let app = install_issued(node, id, &client_der, &signing_der).await?;
    log(
        node,
        by,
        "application_certificates",
        "allow",
        format!(
            "application {id}: client certificate {} and signing certificate installed; active",
            app.certificate_sha256
        ),
        client,
    )
    .await?;
    Ok(app)
}

/// The one place an application's issued certificates are installed (by an administrator
/// today; by the online CA's enrolment later): both must chain to the Network CA, the client
/// certificate must certify the key of the request the application registered with, and the
/// signing certificate the signing key the node made for it. Then the application is active.
pub async fn install_issued(
    node: &Node,
    id: &str,
    client_der: &[u8],
    signing_der: &[u8],
) -> Result<Application> {
    let app = applications::get(&node.store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
    let csr = app.client_csr.as_deref().ok_or_else(|| {
        Error::Conflict(format!(
            "application {id} was not registered with a certificate request"
        ))
    })?;
    let now = time::OffsetDateTime::now_utc();
    let spki_of = |what: &'static str, der: &[u8]| -> Result<Vec<u8>> {
        crate::crypto::signature::check_chain(der, &node.network_trust, now)
            .map_err(|e| Error::invalid(what, format!("{what}: {e}")))?;
        keymgr::ca::spki_of_cert(der).map_err(|e| Error::invalid(what, format!("{what}: {e}")))
    };
    if spki_of("client_certificate_pem", client_der)? != csr_key(csr)? {
        return Err(Error::invalid(
            "client_certificate_pem",
            "the client certificate is not for the key of the application's own request",
        ));
    }
    let key = app.signing_key.ok_or_else(|| Error::MissingKey {
        what: format!("signing key of application {id}"),
    })?;
    let spki = hsm_shim::KeyStore::public_key(node.keystore.as_ref(), &node.handle(key)?)?;
    if spki_of("signing_certificate_pem", signing_der)? != spki {
        return Err(Error::invalid(
            "signing_certificate_pem",
            "the signing certificate is not for the application's signing key",
        ));
    }
    let sha = crate::crypto::sha256_hex(client_der);
    if applications::by_certificate(&node.store, client_der)
        .await?
        .is_some_and(|other| other.id != id)
    {
        return Err(Error::Conflict(
            "that client certificate belongs to another application".into(),
        ));
    }
    applications::install(&node.store, id, &sha, signing_der).await?;
    applications::get(&node.store, id)
        .await?
        .ok_or_else(|| Error::Vanished {
            what: "application",
            id: id.to_owned(),
        })
}

/// Suspends, reactivates or revokes an application (`suspended`, `active`, `revoked`), by an
/// administrator cleared for its level; logged, refusals too. Its next call is judged by the
/// new status: the row changes under the node's MAC and the certificate cache is emptied. A
/// revoked application is registered anew, and one whose certificates were never installed
/// cannot be made active by a click.
pub async fn set_status(
    node: &Node,
    by: By<'_>,
    client: Option<String>,
    id: &str,
    status: &str,
) -> Result<Application> {
    let refuse = |e: Error, action: String, client: Option<String>| async move {
        log(
            node,
            by,
            &action,
            "deny",
            format!("application {id}: {e}"),
            client,
        )
        .await?;
        Err(e)
    };
    // Who asks is decided before anything about the application is told.
    if let By::Admin(o) = by {
        if let Err(e) = crate::officials::admin::require_admin(o) {
            return refuse(e, "application_status".into(), client).await;
        }
    }
    let to = directory::parse_status(status)?;
    let action = format!("application_{}", to.as_str());
    let app = applications::get(&node.store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
    if let Err(e) = by.allowed(app.clearance) {
        return refuse(e, action, client).await;
    }
    if app.status == policies::Status::Revoked && to != policies::Status::Revoked {
        let e = Error::Conflict(format!("application {id} is revoked: register it anew"));
        return refuse(e, action, client).await;
    }
    if to == policies::Status::Active && app.certificate.is_none() {
        let e = Error::Conflict(format!(
            "application {id} has no certificates installed yet"
        ));
        return refuse(e, action, client).await;
    }
    applications::transition(&node.store, id, app.status, to).await?;
    log(
        node,
        by,
        &action,
        "allow",
        format!("application {id}: {}", to.as_str()),
        client,
    )
    .await?;
    applications::get(&node.store, id)
        .await?
        .ok_or_else(|| Error::Vanished {
            what: "application",
            id: id.to_owned(),
        })
}
