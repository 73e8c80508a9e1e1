//! The TSA's answer to a `TimeStampReq`: a token (CMS SignedData over a TSTInfo, signed with
//! the TSA key through hsm-shim), or a `PKIStatusInfo` rejection naming what was wrong. Every
//! input gets a DER `TimeStampResp`, never a panic or a bare error.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{BitString, Int, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Tagged as _};
use hsm_shim::{KeyId, KeyKind, KeyStore};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{Accuracy, TimeStampReq, TspVersion, TstInfo};

use super::token::{
    EssCertIdV2, ID_AA_SIGNING_CERTIFICATE_V2, ID_CT_TST_INFO, IssuerSerial, Response,
    SigningCertificateV2, StatusInfo, digest, generalized,
};
use crate::inventory::CertRecord;
use crate::{Error, Result};

/// The largest request read: a SHA-512 imprint, a nonce and the rest fit in a few hundred
/// bytes; a request with extensions is refused anyway.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// The PKIFailureInfo bits the TSA uses (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug)]
enum FailInfo {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    TimeNotAvailable = 14,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    SystemFailure = 25,
}

/// Why a request is refused: the failure bit and words for the client.
#[derive(Debug)]
struct Refusal(FailInfo, String);

/// A `TimeStampResp` of `rejection` that cannot fail to encode (systemFailure, no text).
const SYSTEM_FAILURE: [u8; 14] = [
    0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40,
];

/// Answers time-stamp requests with the TSA certificate of `record` and its key in the online
/// keystore.
#[derive(Debug)]
pub struct Responder {
    key: KeyId,
    cert: Certificate,
    cert_der: Vec<u8>,
    /// The CA certificate that issued `cert`, sent beside it when a client asks for
    /// certificates: a verifier holding only the root (a PDF reader) can then build the path.
    issuer: Option<Certificate>,
    not_after: OffsetDateTime,
    policy: ObjectIdentifier,
    /// The ESS signing-certificate-v2 attribute, the same in every token.
    signing_certificate: Attribute,
}

fn attribute(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

fn cert_err(e: der::Error) -> Error {
    Error::Certificate(format!("TSA certificate: {e}"))
}

impl Responder {
    /// A responder for the TSA certificate `record` (whose key the CA holds), issuing tokens
    /// under `policy`.
    pub fn new(record: &CertRecord, policy: ObjectIdentifier) -> Result<Self> {
        super::token::check_tsa_certificate(&record.der)?;
        let key: KeyId = record
            .key_id
            .as_deref()
            .ok_or_else(|| Error::InvalidInput("the TSA key is not held by the CA".into()))?
            .parse()?;
        let cert = Certificate::from_der(&record.der).map_err(cert_err)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&record.der)
            .map_err(|e| Error::Certificate(format!("TSA certificate: {e}")))?;
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(digest(rfc5912::ID_SHA_256, &record.der)?)
                    .map_err(cert_err)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        cert.tbs_certificate.issuer.clone(),
                    )],
                    serial_number: cert.tbs_certificate.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let signing_certificate = attribute(
            ID_AA_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&ess).map_err(cert_err)?,
        )
        .map_err(cert_err)?;
        Ok(Responder {
            key,
            not_after: parsed.validity().not_after.to_datetime(),
            cert,
            cert_der: record.der.clone(),
            issuer: None,
            policy,
            signing_certificate,
        })
    }

    /// The same responder, sending the certificate of the CA that issued the TSA's
    /// (`issuer_der`) beside it in every token that carries certificates.
    pub fn with_issuer(mut self, issuer_der: &[u8]) -> Result<Self> {
        let issuer = Certificate::from_der(issuer_der).map_err(cert_err)?;
        if issuer.tbs_certificate.subject != self.cert.tbs_certificate.issuer {
            return Err(Error::Certificate(
                "the TSA certificate was not issued by the CA given as its issuer".into(),
            ));
        }
        self.issuer = Some(issuer);
        Ok(self)
    }

    /// The TSA certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The policy of the tokens.
    pub fn policy(&self) -> ObjectIdentifier {
        self.policy
    }

    /// A DER `TimeStampResp` for the DER `TimeStampReq` in `body`, stamped now.
    pub fn respond(&self, store: &dyn KeyStore, body: &[u8]) -> Vec<u8> {
        self.respond_at(store, body, OffsetDateTime::now_utc())
    }

    /// As [`Responder::respond`], stamped `now`.
    pub fn respond_at(&self, store: &dyn KeyStore, body: &[u8], now: OffsetDateTime) -> Vec<u8> {
        let answer = match self.token(store, body, now) {
            Ok(token) => Response {
                status: StatusInfo {
                    status: 0,
                    status_string: None,
                    fail_info: None,
                },
                time_stamp_token: Some(token),
            },
            Err(Refusal(failure, text)) => Response {
                status: StatusInfo {
                    status: 2,
                    status_string: Some(vec![text]),
                    fail_info: fail_bits(failure),
                },
                time_stamp_token: None,
            },
        };
        answer.to_der().unwrap_or_else(|_| SYSTEM_FAILURE.to_vec())
    }

    fn token(
        &self,
        store: &dyn KeyStore,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<ContentInfo, Refusal> {
        let req = check_request(body, self.policy)?;
        if now > self.not_after {
            return Err(Refusal(
                FailInfo::TimeNotAvailable,
                "the TSA certificate has expired: it must be renewed".into(),
            ));
        }
        let system = |e: &dyn std::fmt::Display| {
            tracing::error!("time-stamp not issued: {e}");
            Refusal(FailInfo::SystemFailure, "the TSA could not sign".into())
        };
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: self.policy,
            message_imprint: req.message_imprint,
            serial_number: serial().map_err(|e| system(&e))?,
            gen_time: generalized(now).map_err(|e| system(&e))?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: req.nonce,
            tsa: Some(GeneralName::DirectoryName(
                self.cert.tbs_certificate.subject.clone(),
            )),
            extensions: None,
        };
        self.sign(store, &tst, req.cert_req).map_err(|e| system(&e))
    }

    /// The CMS SignedData over `tst`, signed through hsm-shim.
    fn sign(&self, store: &dyn KeyStore, tst: &TstInfo, cert_req: bool) -> Result<ContentInfo> {
        let e = |e: der::Error| Error::Timestamp(format!("encoding a token: {e}"));
        let handle = store.info(self.key)?.handle();
        let (digest_oid, sig_oid) = match handle.kind() {
            KeyKind::EcdsaP256 => (rfc5912::ID_SHA_256, rfc5912::ECDSA_WITH_SHA_256),
            KeyKind::EcdsaP384 => (rfc5912::ID_SHA_384, rfc5912::ECDSA_WITH_SHA_384),
            other => {
                return Err(Error::InvalidInput(format!(
                    "a {other} key cannot sign time-stamps"
                )));
            }
        };
        let tst_der = tst.to_der().map_err(e)?;
        let mut attrs = SetOfVec::new();
        attrs
            .insert(
                attribute(
                    rfc5911::ID_CONTENT_TYPE,
                    Any::encode_from(&ID_CT_TST_INFO).map_err(e)?,
                )
                .map_err(e)?,
            )
            .map_err(e)?;
        attrs
            .insert(
                attribute(
                    rfc5911::ID_MESSAGE_DIGEST,
                    Any::encode_from(&OctetString::new(digest(digest_oid, &tst_der)?).map_err(e)?)
                        .map_err(e)?,
                )
                .map_err(e)?,
            )
            .map_err(e)?;
        attrs.insert(self.signing_certificate.clone()).map_err(e)?;
        let signature = store.sign(&handle, &attrs.to_der().map_err(e)?)?.bytes;
        let digest_alg = AlgorithmIdentifierOwned {
            oid: digest_oid,
            parameters: None,
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.cert.tbs_certificate.issuer.clone(),
                serial_number: self.cert.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: digest_alg.clone(),
            signed_attrs: Some(attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: sig_oid,
                parameters: None,
            },
            signature: OctetString::new(signature).map_err(e)?,
            unsigned_attrs: None,
        };
        let mut digest_algorithms = SetOfVec::new();
        digest_algorithms.insert(digest_alg).map_err(e)?;
        let certificates = if cert_req {
            Some(
                CertificateSet::try_from(
                    std::iter::once(&self.cert)
                        .chain(self.issuer.as_ref())
                        .map(|c| CertificateChoices::Certificate(c.clone()))
                        .collect::<Vec<_>>(),
                )
                .map_err(e)?,
            )
        } else {
            None
        };
        let sd = SignedData {
            // Version 3: the content type is not id-data (RFC 5652 §5.1).
            version: CmsVersion::V3,
            digest_algorithms,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).map_err(e)?).map_err(e)?,
                ),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer]).map_err(e)?,
        };
        Ok(ContentInfo {
            content_type: rfc5911::ID_SIGNED_DATA,
            content: Any::encode_from(&sd).map_err(e)?,
        })
    }
}

/// A request the TSA answers, or why not: bounded, DER, v1, a SHA-2 imprint of the right
/// length, no policy but the TSA's own, no extensions.
fn check_request(body: &[u8], policy: ObjectIdentifier) -> Result<TimeStampReq, Refusal> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Refusal(
            FailInfo::BadRequest,
            format!("request larger than {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    let req = TimeStampReq::from_der(body).map_err(|e| {
        Refusal(
            FailInfo::BadDataFormat,
            format!("not a DER TimeStampReq: {e}"),
        )
    })?;
    let alg = &req.message_imprint.hash_algorithm;
    let len = if alg.oid == rfc5912::ID_SHA_256 {
        32
    } else if alg.oid == rfc5912::ID_SHA_384 {
        48
    } else if alg.oid == rfc5912::ID_SHA_512 {
        64
    } else {
        return Err(Refusal(
            FailInfo::BadAlg,
            format!(
                "hash algorithm {} not accepted: SHA-256, SHA-384 or SHA-512",
                alg.oid
            ),
        ));
    };
    // Absent or NULL parameters only (RFC 5754 allows both).
    if alg
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty())
    {
        return Err(Refusal(
            FailInfo::BadAlg,
            "hash algorithm with parameters".into(),
        ));
    }
    if req.message_imprint.hashed_message.as_bytes().len() != len {
        return Err(Refusal(
            FailInfo::BadDataFormat,
            "the message imprint's length does not match its hash algorithm".into(),
        ));
    }
    if let Some(p) = req.req_policy {
        if p != policy {
            return Err(Refusal(
                FailInfo::UnacceptedPolicy,
                format!("policy {p} not offered; this TSA's policy is {policy}"),
            ));
        }
    }
    if req.extensions.as_ref().is_some_and(|x| !x.is_empty()) {
        return Err(Refusal(
            FailInfo::UnacceptedExtension,
            "request extensions are not supported".into(),
        ));
    }
    if req.nonce.as_ref().is_some_and(|n| n.as_bytes().len() > 64) {
        return Err(Refusal(
            FailInfo::BadRequest,
            "nonce longer than 64 bytes".into(),
        ));
    }
    Ok(req)
}

/// PKIFailureInfo as a DER named-bit BIT STRING: only the one bit, trailing zeros dropped.
fn fail_bits(f: FailInfo) -> Option<BitString> {
    let bit = f as usize;
    let mut bytes = vec![0u8; bit / 8 + 1];
    bytes[bit / 8] = 0x80 >> (bit % 8);
    let unused = u8::try_from(7 - bit % 8).unwrap_or(0);
    BitString::new(unused, bytes).ok()
}

/// A unique serial: 16 random bytes, positive, no leading zero byte.
fn serial() -> Result<Int> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::Timestamp("no randomness for a serial".into()))?;
    b[0] = (b[0] & 0x7f) | 0x01;
    Int::new(&b).map_err(|e| Error::Timestamp(e.to_string()))
}
