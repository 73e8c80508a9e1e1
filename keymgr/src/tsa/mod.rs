//! The sandi time-stamping authority (RFC 3161): its certificate profile (issued by the
//! Signing CA, `id-kp-timeStamping` as the only and critical extended key usage), kept current
//! by [`ensure`]; the responder that answers a DER `TimeStampReq` ([`Responder`]); and the
//! client's side that builds requests and reads answers and tokens ([`token`]); `POST /tsa`
//! for `keymgr serve` ([`Service`]).
//!
//! The TSA's key lives in the online keystore like any key the CA holds, and its issuance goes
//! into the inventory and the transparency log through [`crate::issue`].

mod http;
mod respond;
pub mod token;

use const_oid::ObjectIdentifier;
use hsm_shim::{KeyKind, KeyStore};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use http::Service;
pub use respond::{MAX_REQUEST_BYTES, Responder};

use crate::ca::{self, Home};
use crate::inventory::{CertRecord, CertState, Inventory};
use crate::issue::{self, KeySource, Request};
use crate::{Error, Result};

/// `id-kp-timeStamping` (RFC 5280 §4.2.1.12).
pub const EKU_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

pub use crate::oid_arc::DEV_OID_ARC;

/// The inventory subject of the TSA certificate, across its versions.
pub const SUBJECT_ID: &str = "tsa:sandi-tsa";

/// How long a TSA certificate is issued for, and how long before its end it is replaced.
pub const DAYS: u32 = 365;
pub const RENEW_WITHIN: Duration = Duration::days(30);

/// The TSA certificate file beside the CA certificates (for `openssl ts -verify -untrusted`).
pub fn certificate_path(home: &Home) -> std::path::PathBuf {
    home.ca_dir().join("tsa.pem")
}

/// The policy under which the TSA issues tokens: `{arc}.3.1`, under the organisation's arc
/// chosen at the ceremony (`CaState::oid_arc`).
pub fn policy_oid(arc: &str) -> Result<ObjectIdentifier> {
    ObjectIdentifier::new(&format!("{arc}.3.1"))
        .map_err(|e| Error::InvalidInput(format!("OID arc {arc:?}: {e}")))
}

/// A TSA certificate request (what the inventory keeps for rotation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TsaRequest {
    pub name: String,
    pub days: u32,
}

/// The TSA certificate profile: digitalSignature only, the critical extended key usage
/// `id-kp-timeStamping` and nothing else (RFC 3161 §2.3), no CA.
pub fn profile(org: &str, req: &TsaRequest) -> Result<CertificateParams> {
    ca::check_name("TSA name", &req.name)?;
    ca::check_name("organisation", org)?;
    let mut p = CertificateParams::default();
    let mut d = DistinguishedName::new();
    // countryName is a PrintableString (RFC 5280 appendix A).
    let country = rcgen::string::PrintableString::try_from("ID")
        .map_err(|_| Error::InvalidInput("country".into()))?;
    d.push(DnType::CountryName, DnValue::PrintableString(country));
    d.push(DnType::OrganizationName, DnValue::Utf8String(org.into()));
    d.push(DnType::CommonName, DnValue::Utf8String(req.name.clone()));
    p.distinguished_name = d;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // rcgen writes its extended key usages non-critical; RFC 3161 wants this one critical.
    // SEQUENCE { OID 1.3.6.1.5.5.7.3.8 }
    let mut eku = CustomExtension::from_oid_content(
        &[2, 5, 29, 37],
        vec![
            0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
        ],
    );
    eku.set_criticality(true);
    p.custom_extensions.push(eku);
    p.use_authority_key_identifier_extension = true;
    p.not_before = OffsetDateTime::now_utc() - Duration::minutes(1);
    p.not_after = p.not_before + Duration::days(i64::from(req.days.max(1)));
    p.serial_number = Some(ca::new_serial()?);
    Ok(p)
}

fn not_after(r: &CertRecord) -> Result<OffsetDateTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(&r.der)
        .map_err(|e| Error::Certificate(format!("TSA certificate {}: {e}", r.serial)))?;
    Ok(cert.validity().not_after.to_datetime())
}

/// The current TSA certificate, issued (or rotated to a new key) when there is none or it
/// ends within [`RENEW_WITHIN`]; written to `HOME/ca/tsa.pem`. What `keymgr serve` does at
/// start. The key is ECDSA P-384, as strong as the strongest signature it stamps (the
/// handling table's RAHASIA and SANGAT RAHASIA). Needs the online keystore unsealed.
pub async fn ensure(home: &Home, store: &dyn KeyStore, inv: &Inventory) -> Result<CertRecord> {
    let due = OffsetDateTime::now_utc() + RENEW_WITHIN;
    let record = match inv.latest(SUBJECT_ID).await? {
        Some(r) if r.state == CertState::Active && not_after(&r)? > due => r,
        Some(r) if r.state == CertState::Active && r.key_id.is_some() => {
            issue::rotate(
                home,
                store,
                inv,
                &r.serial,
                KeySource::Generate(KeyKind::EcdsaP384),
            )
            .await?
            .record
        }
        _ => {
            issue::issue(
                home,
                store,
                inv,
                Request::Tsa(TsaRequest {
                    name: "sandi Time-Stamping Authority".into(),
                    days: DAYS,
                }),
                KeySource::Generate(KeyKind::EcdsaP384),
            )
            .await?
            .record
        }
    };
    let pem = ca::der_to_pem(&record.der);
    if std::fs::read_to_string(certificate_path(home))
        .ok()
        .as_deref()
        != Some(pem.as_str())
    {
        ca::write_file(&certificate_path(home), pem.as_bytes())?;
    }
    Ok(record)
}
