//! What the online CA does for its callers: enrolment, renewal, officials' certificates and
//! key bindings, applications' certificates, and directory versions by two operators.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{Caller, OnlineCa, invite, node, operator};
use crate::ca::{ApplicationRequest, OfficialRequest};
use crate::directory::{self, Directory, DirectoryInput};
use crate::inventory::timestamp;
use crate::issue::{self, Issued, KeyBinding, KeySource, Request};
use crate::store::proposals::{self, ProposalRow};
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// How long an official's and an application's certificates are issued for.
const LEAF_DAYS: u32 = 365;

/// An official's certificate, asked for by their node after their registration was approved.
#[derive(Clone, Debug, Deserialize)]
pub struct OfficialApply {
    pub nip: String,
    pub name: String,
    pub agency: String,
    /// The official's clearance (`biasa` … `sangat_rahasia`): sets the key strength needed.
    pub clearance: String,
}

/// An application's client certificate, asked for by the node that registered it.
#[derive(Clone, Debug, Deserialize)]
pub struct ApplicationApply {
    pub name: String,
    pub agency: String,
}

/// A directory version waiting for (or given) its second operator's approval.
#[derive(Clone, Debug, Serialize)]
pub struct Proposal {
    pub id: String,
    pub version: i64,
    pub input_sha256: String,
    pub proposed_by: String,
    pub approved_by: Option<String>,
    pub created_at: String,
    pub signed_at: Option<String>,
    pub input: DirectoryInput,
}

impl TryFrom<ProposalRow> for Proposal {
    type Error = Error;
    fn try_from(r: ProposalRow) -> Result<Self> {
        Ok(Proposal {
            input: serde_json::from_str(&r.input)
                .map_err(|e| Error::Database(format!("stored proposal: {e}")))?,
            id: r.id,
            version: r.version,
            input_sha256: r.input_sha256,
            proposed_by: r.proposed_by,
            approved_by: r.approved_by,
            created_at: r.created_at,
            signed_at: r.signed_at,
        })
    }
}

/// The string values of one attribute of a name.
fn values(
    name: &x509_parser::x509::X509Name<'_>,
    oid: &x509_parser::der_parser::oid::Oid<'_>,
) -> Result<Vec<String>> {
    name.iter_by_oid(oid)
        .map(|a| {
            a.as_str()
                .map(str::to_owned)
                .map_err(|_| Error::Csr("a subject attribute is not a string".into()))
        })
        .collect()
}

/// A CSR's subject: the serialNumber attributes (2.5.4.5, where an official's NIP goes; the
/// common names when there is none), and
/// the size of its key in bits when it is ECDSA on P-256 or P-384 (the kinds the handling
/// table speaks of), read from the key itself whatever hash signed the request.
fn csr_subject(der: &[u8]) -> Result<(Vec<String>, Option<u32>)> {
    use x509_parser::oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_X509_COMMON_NAME,
        OID_X509_SERIALNUMBER,
    };
    use x509_parser::prelude::FromDer as _;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| Error::Csr(format!("unreadable: {e}")))?;
    let info = &csr.certification_request_info;
    // The NIP as serialNumber; a request without one names it as its common name (as docsvc
    // has written officials' requests).
    let mut serials = values(&info.subject, &OID_X509_SERIALNUMBER)?;
    if serials.is_empty() {
        serials = values(&info.subject, &OID_X509_COMMON_NAME)?;
    }
    let alg = &info.subject_pki.algorithm;
    let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
    let bits = match curve {
        Some(c) if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY && c == OID_EC_P256 => Some(256),
        Some(c) if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY && c == OID_NIST_EC_P384 => {
            Some(384)
        }
        _ => None,
    };
    Ok((serials, bits))
}

impl OnlineCa {
    /// A node enrols with its one-time invitation: the token is checked and used, then the
    /// node certificate of the invitation is issued for the CSR's key.
    pub async fn enrol_node(&self, token: &str, csr_der: &[u8]) -> Result<Issued> {
        let store = self.shared_keys()?;
        // Unknown tokens are noise from outside: refused without a log entry.
        let (id, node) = invite::find(&self.inv, token).await?;
        let attempt = async {
            let csr = issue::parse_csr(csr_der)?;
            invite::consume(&self.inv, &id).await?;
            let issued = issue::issue_or_replace(
                &self.home,
                store,
                &self.inv,
                Request::Node(node.request()),
                KeySource::Checked(csr),
            )
            .await?;
            invite::used_for(&self.inv, &id, &issued.record.serial).await?;
            self.log(
                "node-enrolled",
                json!({ "node": node.node_id, "invitation": id, "serial": issued.record.serial,
                        "agencies": node.agencies, "accreditation": node.accreditation }),
            )?;
            Ok::<Issued, Error>(issued)
        };
        match attempt.await {
            Ok(i) => Ok(i),
            Err(e) => {
                self.refused_enrolment(&id, &node.node_id, &e);
                Err(e)
            }
        }
    }

    fn refused_enrolment(&self, id: &str, node_id: &str, why: &Error) {
        if let Err(e) = self.log(
            "api-refused",
            json!({ "route": "enrol/node", "invitation": id, "node": node_id,
                    "reason": why.to_string() }),
        ) {
            tracing::warn!("logging a refusal: {e}");
        }
    }

    /// A node renews its own certificate (a new key allowed): same node id and attributes.
    pub async fn renew_node(&self, caller: &Caller, csr_der: &[u8]) -> Result<Issued> {
        let store = self.shared_keys()?;
        let (request, _) = node(caller)?;
        let csr = issue::parse_csr(csr_der)?;
        let mut request = request.clone();
        request.days = request.days.max(issue::NODE_DEFAULT_DAYS);
        issue::issue_or_replace(
            &self.home,
            store,
            &self.inv,
            Request::Node(request),
            KeySource::Checked(csr),
        )
        .await
    }

    /// An official's signing certificate for their node: the agency must be one the node
    /// serves, the CSR must name the NIP, and its key must be at least what the handling table
    /// gives the official's clearance.
    pub async fn issue_official(
        &self,
        caller: &Caller,
        apply: &OfficialApply,
        csr_der: &[u8],
    ) -> Result<Issued> {
        let store = self.shared_keys()?;
        let (node_request, agencies) = node(caller)?;
        crate::ca::check_nip(&apply.nip)?;
        if !agencies.contains(&apply.agency) {
            return Err(Error::NotPermitted(format!(
                "node {} does not serve {:?}",
                node_request.node_id, apply.agency
            )));
        }
        let clearance: policies::Level = apply.clearance.parse().map_err(|_| {
            Error::InvalidInput(format!("clearance {:?} is not a level", apply.clearance))
        })?;
        let csr = issue::parse_csr(csr_der)?;
        let (named, bits) = csr_subject(csr_der)?;
        if named != [apply.nip.as_str()] {
            return Err(Error::Csr(format!(
                "the request names NIP {:?}, not {}",
                named.join(","),
                apply.nip
            )));
        }
        let needed = self.handling.signing_key_for(clearance);
        match bits {
            Some(bits) if bits >= needed.key_bits() => {}
            _ => {
                return Err(Error::Csr(format!(
                    "an official cleared for {} needs an {} key or stronger (handling table)",
                    clearance.as_str(),
                    needed.name()
                )));
            }
        }
        self.held_elsewhere(
            &format!("official:{}", apply.nip),
            agencies,
            &node_request.node_id,
        )
        .await?;
        issue::issue_or_replace(
            &self.home,
            store,
            &self.inv,
            Request::Official(OfficialRequest {
                name: apply.name.clone(),
                nip: apply.nip.clone(),
                agency: apply.agency.clone(),
                days: LEAF_DAYS,
            }),
            KeySource::Checked(csr),
        )
        .await
    }

    /// The binding of an official's age recipient, for the node serving the official's agency:
    /// name and agency are those of the official's current certificate.
    pub async fn bind_official(
        &self,
        caller: &Caller,
        nip: &str,
        recipient: &str,
    ) -> Result<KeyBinding> {
        let store = self.keys()?;
        let (node_request, agencies) = node(caller)?;
        crate::ca::check_nip(nip)?;
        let record = self
            .inv
            .latest(&format!("official:{nip}"))
            .await?
            .filter(|r| r.state == crate::inventory::CertState::Active)
            .ok_or_else(|| {
                Error::InvalidInput(format!("NIP {nip} has no active official certificate"))
            })?;
        let Request::Official(official) = serde_json::from_str(&record.request)
            .map_err(|e| Error::Database(format!("stored request: {e}")))?
        else {
            return Err(Error::Database(
                "an official's record holds another profile".into(),
            ));
        };
        if !agencies.contains(&official.agency) {
            return Err(Error::NotPermitted(format!(
                "node {} does not serve {:?}, the agency of NIP {nip}",
                node_request.node_id, official.agency
            )));
        }
        issue::bind_encryption_key(
            &self.home,
            store,
            nip,
            &official.name,
            &official.agency,
            recipient,
            LEAF_DAYS,
        )
    }

    /// Refuses to replace a subject (an official's NIP, an application's name) whose current
    /// certificate is still valid and belongs to an agency the calling node does not serve:
    /// a node may not take over another agency's official or application. An official who
    /// moves agency has their old certificate revoked first.
    async fn held_elsewhere(
        &self,
        subject_id: &str,
        agencies: &[String],
        node_id: &str,
    ) -> Result<()> {
        let Some(current) = self.inv.latest(subject_id).await? else {
            return Ok(());
        };
        let live = current.state != crate::inventory::CertState::Revoked
            && OffsetDateTime::parse(
                &current.not_after,
                &time::format_description::well_known::Rfc3339,
            )
            .map_or(true, |end| end > OffsetDateTime::now_utc());
        if !live {
            return Ok(());
        }
        let held_by = match serde_json::from_str::<Request>(&current.request)
            .map_err(|e| Error::Database(format!("stored request: {e}")))?
        {
            Request::Official(r) => r.agency,
            Request::Application(r) => r.agency,
            _ => {
                return Err(Error::NotPermitted(format!(
                    "{subject_id} is not an official's or an application's"
                )));
            }
        };
        if agencies.contains(&held_by) {
            Ok(())
        } else {
            Err(Error::NotPermitted(format!(
                "{subject_id} holds a valid certificate of agency {held_by:?}, which node {node_id} does not serve"
            )))
        }
    }

    /// An application's client certificate, for an agency the node serves.
    pub async fn issue_application(
        &self,
        caller: &Caller,
        apply: &ApplicationApply,
        csr_der: &[u8],
    ) -> Result<Issued> {
        let store = self.shared_keys()?;
        let (node_request, agencies) = node(caller)?;
        if !agencies.contains(&apply.agency) {
            return Err(Error::NotPermitted(format!(
                "node {} does not serve {:?}",
                node_request.node_id, apply.agency
            )));
        }
        let csr = issue::parse_csr(csr_der)?;
        let subject = Request::Application(ApplicationRequest {
            name: apply.name.clone(),
            agency: apply.agency.clone(),
            days: LEAF_DAYS,
        })
        .subject_id();
        self.held_elsewhere(&subject, agencies, &node_request.node_id)
            .await?;
        issue::issue_or_replace(
            &self.home,
            store,
            &self.inv,
            Request::Application(ApplicationRequest {
                name: apply.name.clone(),
                agency: apply.agency.clone(),
                days: LEAF_DAYS,
            }),
            KeySource::Checked(csr),
        )
        .await
    }

    /// An operator proposes a directory version; nothing is signed until another operator
    /// approves it.
    pub async fn propose_directory(
        &self,
        caller: &Caller,
        input: DirectoryInput,
    ) -> Result<Proposal> {
        self.keys()?;
        let (subject_id, name) = operator(caller)?;
        directory::check_new(&self.home, &input)?;
        let text = serde_json::to_string(&input).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let row = ProposalRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            version: i64::try_from(input.version)
                .map_err(|_| Error::InvalidInput("directory version too large".into()))?,
            input_sha256: sha256_hex(text.as_bytes()),
            input: text,
            proposed_by: subject_id.to_owned(),
            approved_by: None,
            created_at: timestamp(OffsetDateTime::now_utc()),
            signed_at: None,
        };
        proposals::insert(self.inv.store(), &row).await?;
        self.log(
            "directory-proposed",
            json!({ "proposal": row.id, "version": row.version, "input_sha256": row.input_sha256,
                    "operator": name }),
        )?;
        row.try_into()
    }

    pub async fn proposal(&self, id: &str) -> Result<Proposal> {
        proposals::get(self.inv.store(), id)
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("no directory proposal {id}")))?
            .try_into()
    }

    /// A second operator approves a proposal (naming the SHA-256 of the input they reviewed),
    /// and the directory is signed with the Network CA's key and becomes the current one.
    pub async fn approve_directory(
        &self,
        caller: &Caller,
        id: &str,
        input_sha256: &str,
    ) -> Result<Directory> {
        let store = self.keys()?;
        let (subject_id, name) = operator(caller)?;
        let p = self.proposal(id).await?;
        if p.input_sha256 != input_sha256 {
            return Err(Error::Conflict(
                "the proposal is not the one reviewed (its SHA-256 differs)".into(),
            ));
        }
        if p.proposed_by == subject_id {
            return Err(Error::Conflict(
                "a second, different operator must approve a proposal".into(),
            ));
        }
        let now = timestamp(OffsetDateTime::now_utc());
        if !proposals::approve(self.inv.store(), id, subject_id, &now).await? {
            return Err(Error::Conflict("the proposal was already approved".into()));
        }
        let signed = directory::sign(&self.home, store, &p.input).and_then(|d| {
            let bytes =
                serde_json::to_vec_pretty(&d).map_err(|e| Error::InvalidInput(e.to_string()))?;
            crate::ca::write_file(&current_path(&self.home), &bytes)?;
            Ok(d)
        });
        match signed {
            Ok(d) => {
                self.log(
                    "directory-approved",
                    json!({ "proposal": id, "version": d.version, "proposed_by": p.proposed_by,
                            "approved_by": name }),
                )?;
                Ok(d)
            }
            Err(e) => {
                proposals::unapprove(self.inv.store(), id).await?;
                Err(e)
            }
        }
    }

    /// The directory version signed last through the API.
    pub fn current_directory(&self) -> Result<Option<Directory>> {
        match std::fs::read(current_path(&self.home)) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                Error::InvalidInput(format!("HOME/directory/current.json: {e}"))
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", current_path(&self.home), e)),
        }
    }
}

fn current_path(home: &crate::ca::Home) -> std::path::PathBuf {
    home.dir().join("directory").join("current.json")
}
