//! OCSP (RFC 6960) for the two online issuing CAs: a request in, a signed answer out. Each CA
//! answers through its own delegated responder (`delegate`), whose key stays in hsm-shim: only
//! the DER of the response data goes out to be signed. Statuses come from the inventory:
//! good, revoked (time and reason), or unknown for a serial the CA never issued.
//!
//! Answers without a nonce are kept per certificate (`cache`) until half their validity has
//! passed or the inventory changes, so that a busy responder mostly copies bytes; an answer to
//! a request with a nonce is signed for that request alone.

mod cache;
mod delegate;

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use hsm_shim::{KeyHandle, KeyKind, KeyStore};
use spki::AlgorithmIdentifierOwned;
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

pub use delegate::{RENEW_WITHIN_DAYS, RESPONDER_DAYS, ensure_responder, responder_subject};

use crate::ca::Ca;
use crate::inventory::{self, CertRecord, Inventory};
use crate::{Error, Result};

/// More certificates than this in one request is refused as malformed: a bound on the work
/// one request can cause (openssl asks for one; a browser for one).
pub const MAX_CERTS_PER_REQUEST: usize = 16;

/// RFC 8954: a nonce is 1 to 32 octets; longer ones are refused as malformed.
pub const MAX_NONCE_BYTES: usize = 32;

/// Requests waiting to be signed at once; beyond that the responder says tryLater.
const SIGNING_PERMITS: usize = 32;

/// How an answer came about, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A signed answer kept from an earlier request.
    Cached,
    /// Signed for this request.
    Signed,
    /// malformedRequest: not an OCSP request, no or too many certificates, a bad nonce.
    Malformed,
    /// unauthorized: a certificate of another CA than this responder's.
    Unauthorized,
    /// tryLater: too busy, or the inventory did not answer.
    TryLater,
    /// internalError: signing failed.
    InternalError,
}

/// An OCSP response (DER), how it came about, and how long an HTTP cache may keep it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub der: Bytes,
    pub outcome: Outcome,
    /// Seconds for `Cache-Control: max-age`, for a successful answer without a nonce.
    pub max_age: Option<u64>,
}

impl Answer {
    fn error(outcome: Outcome) -> Self {
        let response = match outcome {
            Outcome::Malformed => OcspResponse::malformed_request(),
            Outcome::Unauthorized => OcspResponse::unauthorized(),
            Outcome::TryLater => OcspResponse::try_later(),
            Outcome::Cached | Outcome::Signed | Outcome::InternalError => {
                OcspResponse::internal_error()
            }
        };
        Answer {
            // An unsuccessful response is a status alone; its encoding cannot fail.
            der: Bytes::from(
                response
                    .to_der()
                    .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02]),
            ),
            outcome,
            max_age: None,
        }
    }
}

/// The issuer's name and key hashed as CertIDs may name them (SHA-1, as openssl and most
/// clients do, and the SHA-2 family).
#[derive(Debug)]
struct IssuerHashes(Vec<(ObjectIdentifier, Vec<u8>, Vec<u8>)>);

impl IssuerHashes {
    fn of(ca_der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(ca_der)
            .map_err(|e| Error::Certificate(format!("unreadable CA certificate: {e}")))?;
        let name = cert
            .tbs_certificate
            .subject
            .to_der()
            .map_err(|e| Error::Certificate(e.to_string()))?;
        let key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let algorithms = [
            (rfc5912::ID_SHA_1, &ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
            (rfc5912::ID_SHA_256, &ring::digest::SHA256),
            (rfc5912::ID_SHA_384, &ring::digest::SHA384),
            (rfc5912::ID_SHA_512, &ring::digest::SHA512),
        ];
        Ok(IssuerHashes(
            algorithms
                .iter()
                .map(|(oid, alg)| {
                    (
                        *oid,
                        ring::digest::digest(alg, &name).as_ref().to_vec(),
                        ring::digest::digest(alg, key).as_ref().to_vec(),
                    )
                })
                .collect(),
        ))
    }

    /// Whether a CertID names this issuer (with a hash algorithm we know).
    fn matches(&self, id: &CertId) -> bool {
        self.0.iter().any(|(oid, name, key)| {
            *oid == id.hash_algorithm.oid
                && id.issuer_name_hash.as_bytes() == name.as_slice()
                && id.issuer_key_hash.as_bytes() == key.as_slice()
        })
    }
}

/// The delegated responder's certificate and key, as a response carries and signs with them.
#[derive(Debug)]
pub(crate) struct Signer {
    cert: Certificate,
    key: KeyHandle,
    key_hash: OctetString,
    algorithm: AlgorithmIdentifierOwned,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) serial: String,
}

impl Signer {
    fn from_record(store: &dyn KeyStore, r: &CertRecord) -> Result<Self> {
        let cert = Certificate::from_der(&r.der).map_err(|e| {
            Error::Certificate(format!("unreadable OCSP responder certificate: {e}"))
        })?;
        let key_id: hsm_shim::KeyId = r
            .key_id
            .as_deref()
            .ok_or_else(|| Error::Certificate("the OCSP responder's key is not ours".into()))?
            .parse()?;
        let key = store.info(key_id)?.handle();
        let oid = match key.kind() {
            KeyKind::EcdsaP256 => rfc5912::ECDSA_WITH_SHA_256,
            KeyKind::EcdsaP384 => rfc5912::ECDSA_WITH_SHA_384,
            other => {
                return Err(Error::Certificate(format!(
                    "an OCSP responder key must be ECDSA, not {other}"
                )));
            }
        };
        // ResponderID byKey: SHA-1 of the subjectPublicKey bits (RFC 6960 §4.2.1).
        let bits = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let key_hash = OctetString::new(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bits).as_ref(),
        )
        .map_err(|e| Error::Certificate(e.to_string()))?;
        Ok(Signer {
            cert,
            key,
            key_hash,
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            not_after: inventory::parse_timestamp(&r.not_after)?,
            serial: r.serial.clone(),
        })
    }
}

/// The OCSP responder of one issuing CA.
pub struct Responder {
    ca: Ca,
    issuer: IssuerHashes,
    signer: RwLock<Arc<Signer>>,
    store: Arc<dyn KeyStore>,
    inv: Inventory,
    cache: cache::Cache,
    validity: Duration,
    signing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("ca", &self.ca)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A responder for `ca` (whose certificate is `ca_der`) signing with the delegated
    /// responder certificate `responder`; answers are valid for `validity`.
    pub fn new(
        ca: Ca,
        ca_der: &[u8],
        responder: &CertRecord,
        store: Arc<dyn KeyStore>,
        inv: Inventory,
        validity: Duration,
    ) -> Result<Self> {
        let signer = Signer::from_record(store.as_ref(), responder)?;
        Ok(Responder {
            ca,
            issuer: IssuerHashes::of(ca_der)?,
            signer: RwLock::new(Arc::new(signer)),
            store,
            inv,
            cache: cache::Cache::new(),
            validity: validity.max(Duration::minutes(2)),
            signing: tokio::sync::Semaphore::new(SIGNING_PERMITS),
        })
    }

    pub fn ca(&self) -> Ca {
        self.ca
    }

    /// When the responder certificate expires.
    pub fn responder_not_after(&self) -> OffsetDateTime {
        self.current_signer().not_after
    }

    /// The serial of the responder certificate in use.
    pub fn responder_serial(&self) -> String {
        self.current_signer().serial.clone()
    }

    /// Signs with a renewed responder certificate from now on; kept answers are dropped.
    pub fn set_responder(&self, responder: &CertRecord) -> Result<()> {
        let signer = Signer::from_record(self.store.as_ref(), responder)?;
        *self
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(signer);
        self.cache.clear();
        Ok(())
    }

    /// Drops every kept answer: the inventory changed.
    pub fn invalidate(&self) {
        self.cache.clear();
    }

    /// How many answers are kept.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    fn current_signer(&self) -> Arc<Signer> {
        Arc::clone(
            &self
                .signer
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Answers one DER-encoded OCSP request. Never fails: what goes wrong becomes an
    /// unsuccessful OCSP response status, as RFC 6960 §2.3 says.
    pub async fn respond(&self, body: &[u8]) -> Answer {
        let Ok(request) = OcspRequest::from_der(body) else {
            return Answer::error(Outcome::Malformed);
        };
        let list = &request.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_CERTS_PER_REQUEST {
            return Answer::error(Outcome::Malformed);
        }
        let Ok(nonce) = nonce(&request) else {
            return Answer::error(Outcome::Malformed);
        };
        if !list.iter().all(|r| self.issuer.matches(&r.req_cert)) {
            return Answer::error(Outcome::Unauthorized);
        }
        let key = match (&nonce, list.as_slice()) {
            (None, [one]) => one.req_cert.to_der().ok(),
            _ => None,
        };
        let cacheable = key.is_some();
        if let Some(hit) = key.as_deref().and_then(|k| self.cache.get(k)) {
            return Answer {
                der: hit.der,
                outcome: Outcome::Cached,
                max_age: Some(hit.max_age),
            };
        }
        let Ok(Ok(_permit)) =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.signing.acquire()).await
        else {
            return Answer::error(Outcome::TryLater);
        };
        // Read before the statuses: a change meanwhile keeps this answer out of the cache.
        let generation = self.cache.generation();
        let now = now_seconds();
        let signer = self.current_signer();
        let next_update = (now + self.validity).min(signer.not_after);
        let mut singles = Vec::with_capacity(list.len());
        for r in list {
            let Ok(status) = self.status(&r.req_cert).await else {
                return Answer::error(Outcome::TryLater);
            };
            let (Ok(this_update), Ok(next)) = (generalized(now), generalized(next_update)) else {
                return Answer::error(Outcome::InternalError);
            };
            singles.push(SingleResponse {
                cert_id: r.req_cert.clone(),
                cert_status: status,
                this_update,
                next_update: Some(next),
                single_extensions: None,
            });
        }
        let Ok(der) = self.produce(&signer, singles, nonce, now) else {
            return Answer::error(Outcome::InternalError);
        };
        let der = Bytes::from(der);
        // Kept until half its validity has passed: a client always gets at least half.
        let fresh_for: Duration = (next_update - now) / 2;
        let max_age = u64::try_from(fresh_for.whole_seconds()).unwrap_or(0);
        if let Some(k) = key {
            self.cache.insert(generation, k, der.clone(), fresh_for);
        }
        Answer {
            der,
            outcome: Outcome::Signed,
            max_age: Some(max_age).filter(|_| cacheable),
        }
    }

    /// A certificate's status in the inventory: unknown unless this CA issued it.
    async fn status(&self, id: &CertId) -> Result<CertStatus> {
        let serial = hex::encode(id.serial_number.as_bytes());
        let record = match self.inv.get(&serial).await {
            Ok(r) if r.issuer == self.ca => r,
            Ok(_) | Err(Error::UnknownSerial(_)) => return Ok(CertStatus::unknown()),
            Err(e) => return Err(e),
        };
        match &record.revoked_at {
            None => Ok(CertStatus::good()),
            Some(at) => Ok(CertStatus::revoked(RevokedInfo {
                revocation_time: generalized(inventory::parse_timestamp(at)?)?,
                revocation_reason: Some(crl_reason(
                    record.revocation_reason.as_deref().unwrap_or("unspecified"),
                )),
            })),
        }
    }

    /// Signs the response data with the responder's key and wraps it as a successful
    /// OCSPResponse carrying the responder's certificate.
    fn produce(
        &self,
        signer: &Signer,
        responses: Vec<SingleResponse>,
        nonce: Option<Extension>,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(signer.key_hash.clone()),
            produced_at: generalized(now)?,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs = data.to_der().map_err(asn1)?;
        let signature = self.store.sign(&signer.key, &tbs)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: signer.algorithm.clone(),
            signature: BitString::from_bytes(&signature.bytes).map_err(asn1)?,
            certs: Some(vec![signer.cert.clone()]),
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(asn1)
    }
}

/// The request's nonce extension, to echo unchanged; `Err` for a nonce RFC 8954 refuses
/// (empty, longer than 32 octets) or a request with two.
fn nonce(request: &OcspRequest) -> std::result::Result<Option<Extension>, ()> {
    let Some(extensions) = &request.tbs_request.request_extensions else {
        return Ok(None);
    };
    let mut nonces = extensions
        .iter()
        .filter(|e| e.extn_id == ID_PKIX_OCSP_NONCE);
    let Some(found) = nonces.next() else {
        return Ok(None);
    };
    if nonces.next().is_some() {
        return Err(());
    }
    let value = found.extn_value.as_bytes();
    // The nonce is an OCTET STRING inside the extension's value; some old clients put the
    // bytes there bare, which is echoed the same way.
    let len = OctetString::from_der(value).map_or(value.len(), |o| o.as_bytes().len());
    if len == 0 || len > MAX_NONCE_BYTES {
        return Err(());
    }
    Ok(Some(Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: found.extn_value.clone(),
    }))
}

fn crl_reason(name: &str) -> CrlReason {
    match name {
        "keyCompromise" => CrlReason::KeyCompromise,
        "cACompromise" => CrlReason::CaCompromise,
        "affiliationChanged" => CrlReason::AffiliationChanged,
        "superseded" => CrlReason::Superseded,
        "cessationOfOperation" => CrlReason::CessationOfOperation,
        "certificateHold" => CrlReason::CertificateHold,
        "privilegeWithdrawn" => CrlReason::PrivilegeWithdrawn,
        "aACompromise" => CrlReason::AaCompromise,
        _ => CrlReason::Unspecified,
    }
}

fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn generalized(t: OffsetDateTime) -> Result<OcspGeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| Error::Certificate("a time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(asn1)
}

#[allow(clippy::needless_pass_by_value)] // used as map_err(asn1)
fn asn1(e: der::Error) -> Error {
    Error::Certificate(format!("OCSP encoding: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_ocsp::TbsRequest;

    fn with_nonces(nonces: &[Vec<u8>]) -> OcspRequest {
        let extensions = nonces
            .iter()
            .map(|n| Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(
                    OctetString::new(n.clone())
                        .and_then(|o| o.to_der())
                        .expect("nonce"),
                )
                .expect("value"),
            })
            .collect::<Vec<_>>();
        OcspRequest {
            tbs_request: TbsRequest {
                request_extensions: (!extensions.is_empty()).then_some(extensions),
                ..TbsRequest::default()
            },
            optional_signature: None,
        }
    }

    #[test]
    fn nonces_of_1_to_32_octets_are_echoed_unchanged() {
        for len in [1, 16, 32] {
            let req = with_nonces(&[vec![7; len]]);
            let echoed = nonce(&req).expect("accepted").expect("a nonce");
            let sent = &req.tbs_request.request_extensions.as_ref().expect("sent")[0];
            assert_eq!(echoed.extn_value, sent.extn_value);
            assert!(!echoed.critical);
        }
        assert_eq!(nonce(&with_nonces(&[])), Ok(None));
    }

    #[test]
    fn empty_long_or_repeated_nonces_are_malformed() {
        assert!(nonce(&with_nonces(&[vec![]])).is_err(), "empty");
        assert!(
            nonce(&with_nonces(&[vec![1; 33]])).is_err(),
            "33 octets (RFC 8954)"
        );
        assert!(
            nonce(&with_nonces(&[vec![1; 8], vec![2; 8]])).is_err(),
            "two nonces"
        );
    }

    #[test]
    fn reasons_map_to_their_crl_reason_codes() {
        for (name, _) in crate::revoke::REASONS {
            let code = crl_reason(name);
            assert!(
                name == "unspecified" || code != CrlReason::Unspecified,
                "{name} maps to unspecified"
            );
        }
    }
}
