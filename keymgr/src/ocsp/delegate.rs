//! The delegated responder certificates (RFC 6960 §4.2.2.2): one per issuing CA, issued by it
//! like any other certificate (a key generated in the online keystore, the inventory, the
//! transparency log), and renewed with a new key well before it expires.

use hsm_shim::{KeyState, KeyStore};
use time::{Duration, OffsetDateTime};

use crate::ca::{Ca, Home, OcspResponderRequest};
use crate::inventory::{self, CertRecord, CertState, Inventory};
use crate::issue::{self, KeySource, Request};
use crate::{Error, Result};

/// A responder certificate's validity: short, since id-pkix-ocsp-nocheck tells clients not to
/// check its revocation.
pub const RESPONDER_DAYS: u32 = 30;

/// A responder certificate with less than this left is renewed.
pub const RENEW_WITHIN_DAYS: i64 = 10;

/// The inventory subject of the responder of `ca` (`ocsp:network-ca`, `ocsp:signing-ca`).
pub fn responder_subject(ca: Ca) -> String {
    Request::OcspResponder(OcspResponderRequest {
        ca,
        days: RESPONDER_DAYS,
    })
    .subject_id()
}

/// The responder's key: P-256, which every OCSP client takes and which signs fastest (the
/// handling table's P-384 is for letters, not for status answers).
const RESPONDER_KEY: hsm_shim::KeyKind = hsm_shim::KeyKind::EcdsaP256;

/// The current responder certificate of `ca`, issued or renewed first when there is none, it
/// expires within [`RENEW_WITHIN_DAYS`], its key cannot sign, or the CA's certificate changed
/// (a root ceremony rotated it). Returns the certificate and whether it is new.
pub async fn ensure_responder(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    ca: Ca,
) -> Result<(CertRecord, bool)> {
    let latest = inv.latest(&responder_subject(ca)).await?;
    let ca_der = home.cert_der(ca)?;
    if let Some(r) = &latest {
        if r.state == CertState::Active {
            if usable(store, r, &ca_der)? {
                return Ok((r.clone(), false));
            }
            let renewed = issue::rotate(
                home,
                store,
                inv,
                &r.serial,
                KeySource::Generate(RESPONDER_KEY),
            )
            .await?;
            return Ok((renewed.record, true));
        }
    }
    let request = Request::OcspResponder(OcspResponderRequest {
        ca,
        days: RESPONDER_DAYS,
    });
    let issued = issue::issue(
        home,
        store,
        inv,
        request,
        KeySource::Generate(RESPONDER_KEY),
    )
    .await?;
    Ok((issued.record, true))
}

/// Valid for a while yet, its key active in the keystore, and signed by the CA's current key.
fn usable(store: &dyn KeyStore, r: &CertRecord, ca_der: &[u8]) -> Result<bool> {
    let not_after = inventory::parse_timestamp(&r.not_after)?;
    if not_after < OffsetDateTime::now_utc() + Duration::days(RENEW_WITHIN_DAYS) {
        return Ok(false);
    }
    let Some(key) = &r.key_id else {
        return Ok(false);
    };
    match store.info(key.parse()?) {
        Ok(info) if info.state == KeyState::Active => {}
        _ => return Ok(false),
    }
    let (_, ca) = x509_parser::parse_x509_certificate(ca_der)
        .map_err(|e| Error::Certificate(format!("unreadable CA certificate: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&r.der)
        .map_err(|e| Error::Certificate(format!("unreadable responder certificate: {e}")))?;
    Ok(cert.verify_signature(Some(ca.public_key())).is_ok())
}
