//! Revocation and RFC 5280 CRLs, one per issuing CA, with CRL number and nextUpdate.

use hsm_shim::KeyStore;
use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;

use crate::ca::{self, Ca, Home};
use crate::inventory::{self, CertRecord, CertState, Inventory};
use crate::signer::HsmSigner;
use crate::tlog::Log;
use crate::{Error, Result};

/// RFC 5280 reason codes, by their ASN.1 names.
pub const REASONS: [(&str, RevocationReason); 9] = [
    ("unspecified", RevocationReason::Unspecified),
    ("keyCompromise", RevocationReason::KeyCompromise),
    ("cACompromise", RevocationReason::CaCompromise),
    ("affiliationChanged", RevocationReason::AffiliationChanged),
    ("superseded", RevocationReason::Superseded),
    (
        "cessationOfOperation",
        RevocationReason::CessationOfOperation,
    ),
    ("certificateHold", RevocationReason::CertificateHold),
    ("privilegeWithdrawn", RevocationReason::PrivilegeWithdrawn),
    ("aACompromise", RevocationReason::AaCompromise),
];

/// Checks a reason name.
pub fn check_reason(name: &str) -> Result<()> {
    reason_code(name).map(|_| ())
}

fn reason_code(name: &str) -> Result<RevocationReason> {
    REASONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown revocation reason {name:?}: one of {}",
                REASONS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Revokes a certificate now (or at `at`, for a compromise discovered late) and logs it.
pub async fn revoke(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    serial: &str,
    reason: &str,
    at: Option<OffsetDateTime>,
) -> Result<CertRecord> {
    reason_code(reason)?;
    let record = inv.get(serial).await?;
    if record.state == CertState::Revoked {
        return Ok(record);
    }
    if record.issuer == Ca::Root {
        return Err(Error::InvalidInput(
            "an intermediate is revoked in a root ceremony".into(),
        ));
    }
    let at = at.unwrap_or_else(OffsetDateTime::now_utc);
    let state = home.load_state()?;
    Log::open(home)?.append(
        store,
        state.log_key,
        "revoked",
        serde_json::json!({ "serial": record.serial, "reason": reason, "at": inventory::timestamp(at) }),
    )?;
    inv.revoke(&record.serial, reason, at).await
}

/// A signed CRL.
#[derive(Debug)]
pub struct Crl {
    pub issuer: Ca,
    pub number: i64,
    pub der: Vec<u8>,
    pub revoked: usize,
}

impl Crl {
    pub fn pem(&self) -> String {
        ca::pem_encode("X509 CRL", &self.der)
    }
}

fn subject_key_id(der: &[u8]) -> Result<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Certificate(format!("unreadable CA certificate: {e}")))?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::Certificate("the CA certificate has no subject key identifier".into())
        })
}

/// Signs the CRL of an online issuing CA and writes it (DER and PEM) under HOME/crl/.
pub async fn crl(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    issuer: Ca,
    next_update: Duration,
) -> Result<Crl> {
    let state = home.load_state()?;
    let key = state.intermediate_key(issuer)?;
    let ca_der = home.cert_der(issuer)?;
    let signer = HsmSigner::new(store, store.info(key)?.handle())?;
    let crl = sign_crl(home, inv, issuer, &ca_der, signer, next_update).await?;
    Log::open(home)?.append(
        store,
        state.log_key,
        "crl",
        serde_json::json!({ "issuer": issuer, "number": crl.number, "revoked": crl.revoked,
                            "sha256": crate::transcript::sha256_hex(&crl.der) }),
    )?;
    Ok(crl)
}

/// Signs and writes the CRL of `issuer` with its key.
pub(crate) async fn sign_crl(
    home: &Home,
    inv: &Inventory,
    issuer: Ca,
    ca_der: &[u8],
    signer: HsmSigner<'_>,
    next_update: Duration,
) -> Result<Crl> {
    ca::check_ca_validity(issuer, ca_der)?;
    let rc_issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.to_vec().into(), signer)?;
    let revoked: Vec<CertRecord> = inv
        .revoked(issuer)
        .await?
        .into_iter()
        // The root also "issues" itself in the inventory; it never lists itself.
        .filter(|r| r.profile != "root-ca")
        .collect();
    let mut entries = Vec::new();
    for r in &revoked {
        let serial = hex::decode(&r.serial)
            .map_err(|_| Error::Database(format!("bad serial {}", r.serial)))?;
        let at = inventory::parse_timestamp(r.revoked_at.as_deref().unwrap_or_default())?;
        // RFC 5280 5.3.1: the reason code SHOULD be absent rather than unspecified.
        let reason = match reason_code(r.revocation_reason.as_deref().unwrap_or("unspecified"))? {
            RevocationReason::Unspecified => None,
            other => Some(other),
        };
        entries.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time: at,
            reason_code: reason,
            invalidity_date: None,
        });
    }
    let number = inv.next_crl_number(issuer).await?;
    let der = signed_crl(ca_der, &rc_issuer, number, entries, next_update)?;
    let crl = Crl {
        issuer,
        number,
        der,
        revoked: revoked.len(),
    };
    write_crl(home, issuer, &crl.der)?;
    Ok(crl)
}

/// How long a CRL the root signs stands: the root signs only in ceremonies (the init, a
/// revocation of an intermediate), so its CRL must last until the custodians meet again.
pub const ROOT_CRL_VALIDITY: Duration = Duration::days(365);

/// A CRL (DER) of `entries`, number `number`, signed by `issuer` (whose certificate is
/// `ca_der`), standing for `next_update` from now.
pub(crate) fn signed_crl<S: rcgen::SigningKey>(
    ca_der: &[u8],
    issuer: &rcgen::Issuer<'_, S>,
    number: i64,
    entries: Vec<RevokedCertParams>,
    next_update: Duration,
) -> Result<Vec<u8>> {
    let ski = subject_key_id(ca_der)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let params = CertificateRevocationListParams {
        this_update: now - Duration::minutes(1),
        next_update: now + next_update,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: entries,
        key_identifier_method: KeyIdMethod::PreSpecified(ski),
    };
    Ok(params.signed_by(issuer)?.der().to_vec())
}

/// Writes `der`, the CRL of `issuer`, as HOME/crl/<ca>.crl and .crl.pem.
pub(crate) fn write_crl(home: &Home, issuer: Ca, der: &[u8]) -> Result<()> {
    let base = home
        .dir()
        .join("crl")
        .join(issuer.file_name().trim_end_matches(".pem"));
    ca::write_file(&base.with_extension("crl"), der)?;
    ca::write_file(
        &base.with_extension("crl.pem"),
        ca::pem_encode("X509 CRL", der).as_bytes(),
    )
}

/// A certificate's status at a moment: what a verifier of an old signature asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusAt {
    /// Valid then; `revoked_later` says when it was revoked afterwards, if it was.
    Valid {
        revoked_later: Option<(String, String)>,
    },
    /// Revoked at or before that moment.
    Revoked { at: String, reason: String },
    /// Outside its validity period.
    OutsideValidity,
}

/// Whether a certificate was valid at `at` — a signature made before a revocation stays
/// verifiable as made while the certificate was valid.
pub async fn status_at(inv: &Inventory, serial: &str, at: OffsetDateTime) -> Result<StatusAt> {
    let r = inv.get(serial).await?;
    let nb = inventory::parse_timestamp(&r.not_before)?;
    let na = inventory::parse_timestamp(&r.not_after)?;
    if at < nb || at > na {
        return Ok(StatusAt::OutsideValidity);
    }
    match (&r.revoked_at, &r.revocation_reason) {
        (Some(when), reason) => {
            let reason = reason.clone().unwrap_or_else(|| "unspecified".into());
            if inventory::parse_timestamp(when)? <= at {
                Ok(StatusAt::Revoked {
                    at: when.clone(),
                    reason,
                })
            } else {
                Ok(StatusAt::Valid {
                    revoked_later: Some((when.clone(), reason)),
                })
            }
        }
        (None, _) => Ok(StatusAt::Valid {
            revoked_later: None,
        }),
    }
}
