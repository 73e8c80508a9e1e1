//! RFC 3161 from the client's side, and the types both sides share: a `TimeStampReq` built,
//! a `TimeStampResp` read (a rejection named with its status text and failure bits), and a
//! token inspected: its TSTInfo, and the TSA's signature checked with the certificate the
//! token carries (bound by the ESS signing-certificate-v2 attribute). Whether that certificate
//! is to be trusted (its chain, revocation) is for the caller, who knows its roots;
//! [`check_tsa_certificate`] checks its profile.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{BitString, GeneralizedTime, Int, OctetString};
use der::{Any, Decode, Encode, Sequence};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion, TstInfo};

use crate::{Error, Result};

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-aa-signingCertificateV2` (RFC 5035).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-aa-signatureTimeStampToken` (RFC 3161 appendix A): a token over a SignerInfo's
/// signature value, as an unsigned attribute of that SignerInfo.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// The largest token read (a token carries one certificate).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// `ESSCertIDv2` (RFC 5035): the hash algorithm defaults to SHA-256, and DER then omits it
/// (`None` here).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// `SigningCertificateV2`; the policies that may follow are not used by sandi.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// `PKIStatusInfo` with the failure bits kept as a BIT STRING.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct StatusInfo {
    pub status: u8,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct Response {
    pub status: StatusInfo,
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<ContentInfo>,
}

fn bad(what: impl Into<String>) -> Error {
    Error::Timestamp(what.into())
}

fn der_err(e: der::Error) -> Error {
    bad(format!("malformed: {e}"))
}

/// The digest of `data` with one of the message-imprint algorithms (SHA-256/384/512).
pub fn digest(alg: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>> {
    let d = if alg == rfc5912::ID_SHA_256 {
        &ring::digest::SHA256
    } else if alg == rfc5912::ID_SHA_384 {
        &ring::digest::SHA384
    } else if alg == rfc5912::ID_SHA_512 {
        &ring::digest::SHA512
    } else {
        return Err(bad(format!("unsupported hash algorithm {alg}")));
    };
    Ok(ring::digest::digest(d, data).as_ref().to_vec())
}

/// A DER `TimeStampReq` for `hashed` (made with `alg`), with `nonce` and asking for the
/// TSA's certificate in the token.
pub fn request(alg: ObjectIdentifier, hashed: &[u8], nonce: &[u8]) -> Result<Vec<u8>> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg,
                parameters: None,
            },
            hashed_message: OctetString::new(hashed).map_err(der_err)?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce).map_err(der_err)?),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(der_err)
}

/// The token of a DER `TimeStampResp`; a rejection is an error with the TSA's own words.
pub fn read_response(der: &[u8]) -> Result<Vec<u8>> {
    let resp = Response::from_der(der).map_err(der_err)?;
    let granted = resp.status.status == 0 || resp.status.status == 1;
    match (granted, resp.time_stamp_token) {
        (true, Some(token)) => token.to_der().map_err(der_err),
        (true, None) => Err(bad("granted without a token")),
        (false, _) => Err(bad(format!(
            "refused by the TSA (status {}): {}",
            resp.status.status,
            resp.status.status_string.unwrap_or_default().join("; ")
        ))),
    }
}

/// What a token says, once its signature has been checked against the certificate it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub gen_time: OffsetDateTime,
    pub policy: ObjectIdentifier,
    /// The token's serial number (big-endian).
    pub serial: Vec<u8>,
    pub imprint_algorithm: ObjectIdentifier,
    pub imprint: Vec<u8>,
    pub nonce: Option<Vec<u8>>,
    /// The TSA certificate (DER) that signed the token.
    pub tsa_certificate: Vec<u8>,
    /// Any other certificates the token carries (DER; keymgr's TSA adds the CA that issued its
    /// certificate). No signature covers them: a verifier must hold each to be one it trusts.
    pub other_certificates: Vec<Vec<u8>>,
}

impl Token {
    /// Whether the token's imprint is the hash of `data`.
    pub fn covers(&self, data: &[u8]) -> bool {
        digest(self.imprint_algorithm, data).is_ok_and(|d| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                d.as_slice(),
                self.imprint.as_slice(),
            ))
        })
    }
}

fn one_attr(attrs: &[x509_cert::attr::Attribute], oid: ObjectIdentifier) -> Result<&Any> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (Some(a), None) if a.values.len() == 1 => {
            a.values.get(0).ok_or_else(|| bad("empty attribute"))
        }
        (None, _) => Err(bad(format!("signed attribute {oid} missing"))),
        _ => Err(bad(format!("signed attribute {oid} must appear once"))),
    }
}

fn verify_ecdsa(spki: &[u8], sig_oid: ObjectIdentifier, msg: &[u8], sig: &[u8]) -> Result<()> {
    use ring::signature as s;
    let algs: [&'static dyn s::VerificationAlgorithm; 2] = if sig_oid == rfc5912::ECDSA_WITH_SHA_256
    {
        [&s::ECDSA_P256_SHA256_ASN1, &s::ECDSA_P384_SHA256_ASN1]
    } else if sig_oid == rfc5912::ECDSA_WITH_SHA_384 {
        [&s::ECDSA_P384_SHA384_ASN1, &s::ECDSA_P256_SHA384_ASN1]
    } else {
        return Err(bad(format!("unsupported signature algorithm {sig_oid}")));
    };
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| bad(format!("TSA public key: {e}")))?;
    let key = info.subject_public_key.data.as_ref();
    if algs
        .iter()
        .any(|a| s::UnparsedPublicKey::new(*a, key).verify(msg, sig).is_ok())
    {
        Ok(())
    } else {
        Err(bad("the TSA's signature does not verify"))
    }
}

use x509_parser::prelude::FromDer as _;

/// Parses a token and checks it against itself: one signer, whose certificate is in the token
/// and named by the ESS signing-certificate-v2 attribute, the content type and message digest
/// of the TSTInfo, the signature. DER only: the token must re-encode to its own bytes.
pub fn inspect(token_der: &[u8]) -> Result<Token> {
    if token_der.len() > MAX_TOKEN_BYTES {
        return Err(bad("token too large"));
    }
    let info = ContentInfo::from_der(token_der).map_err(der_err)?;
    if info.to_der().map_err(der_err)? != token_der {
        return Err(bad("token not DER-encoded"));
    }
    if info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(bad("token is not a SignedData"));
    }
    let sd: SignedData = info.content.decode_as().map_err(der_err)?;
    if sd.version != CmsVersion::V3 || sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad("token does not hold a TSTInfo"));
    }
    let tst_der = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("token without TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(der_err)?
        .as_bytes()
        .to_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(der_err)?;
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(bad("token must have exactly one signer"));
    };
    // What no signature covers must be exactly what goes with the signer's.
    let algs: Vec<_> = sd.digest_algorithms.iter().collect();
    if si.version != CmsVersion::V1
        || algs.len() != 1
        || algs[0] != &si.digest_alg
        || sd.crls.is_some()
        || si.unsigned_attrs.is_some()
    {
        return Err(bad("token's SignedData is not as a TSA makes it"));
    }
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(bad("token signer must be named by issuer and serial"));
    };
    let cert = tsa_cert(&sd, sid)?;
    let cert_der = cert.to_der().map_err(der_err)?;
    check_signer(si, &tst_der, &cert_der, cert)?;
    let mut other_certificates = Vec::new();
    for c in sd.certificates.iter().flat_map(|set| set.0.iter()) {
        let CertificateChoices::Certificate(c) = c else {
            return Err(bad("token carries a certificate of another format"));
        };
        let der = c.to_der().map_err(der_err)?;
        if der != cert_der {
            other_certificates.push(der);
        }
    }
    let secs = i64::try_from(tst.gen_time.to_unix_duration().as_secs())
        .map_err(|_| bad("genTime out of range"))?;
    Ok(Token {
        gen_time: OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|_| bad("genTime out of range"))?,
        policy: tst.policy,
        serial: tst.serial_number.as_bytes().to_vec(),
        imprint_algorithm: tst.message_imprint.hash_algorithm.oid,
        imprint: tst.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        tsa_certificate: cert_der,
        other_certificates,
    })
}

/// The token's signer: the signed content type and message digest of the TSTInfo, the ESS
/// attribute naming `cert`, and the signature with `cert`'s key.
fn check_signer(
    si: &cms::signed_data::SignerInfo,
    tst_der: &[u8],
    cert_der: &[u8],
    cert: &Certificate,
) -> Result<()> {
    let attrs: Vec<x509_cert::attr::Attribute> = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("token without signed attributes"))?
        .iter()
        .cloned()
        .collect();
    let ct: ObjectIdentifier = one_attr(&attrs, rfc5911::ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(der_err)?;
    if ct != ID_CT_TST_INFO {
        return Err(bad("token's signed content type is not TSTInfo"));
    }
    let md: OctetString = one_attr(&attrs, rfc5911::ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(der_err)?;
    if md.as_bytes() != digest(si.digest_alg.oid, tst_der)? {
        return Err(bad("token's message digest does not match its TSTInfo"));
    }
    let ess: SigningCertificateV2 = one_attr(&attrs, ID_AA_SIGNING_CERTIFICATE_V2)?
        .decode_as()
        .map_err(der_err)?;
    let first = ess
        .certs
        .first()
        .ok_or_else(|| bad("signing-certificate-v2 names no certificate"))?;
    let alg = first
        .hash_algorithm
        .as_ref()
        .map_or(rfc5912::ID_SHA_256, |a| a.oid);
    if first.cert_hash.as_bytes() != digest(alg, cert_der)? {
        return Err(bad(
            "signing-certificate-v2 does not name the certificate that signed the token",
        ));
    }
    let signed = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("token without signed attributes"))?
        .to_der()
        .map_err(der_err)?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(der_err)?;
    verify_ecdsa(
        &spki,
        si.signature_algorithm.oid,
        &signed,
        si.signature.as_bytes(),
    )?;
    Ok(())
}

fn tsa_cert<'a>(sd: &'a SignedData, sid: &IssuerAndSerialNumber) -> Result<&'a Certificate> {
    sd.certificates
        .as_ref()
        .and_then(|set| {
            set.0.iter().find_map(|c| match c {
                CertificateChoices::Certificate(c)
                    if c.tbs_certificate.issuer == sid.issuer
                        && c.tbs_certificate.serial_number == sid.serial_number =>
                {
                    Some(c)
                }
                _ => None,
            })
        })
        .ok_or_else(|| bad("the TSA certificate is not in the token"))
}

/// The TSA certificate profile, as a verifier checks it (RFC 3161 §2.3): the extended key
/// usage is present, critical, and `id-kp-timeStamping` alone; not a CA.
pub fn check_tsa_certificate(der: &[u8]) -> Result<()> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| bad(format!("TSA certificate: {e}")))?;
    let eku = cert
        .extended_key_usage()
        .map_err(|e| bad(format!("TSA certificate: {e}")))?
        .ok_or_else(|| bad("the TSA certificate has no extended key usage"))?;
    let only_ts = eku.value.time_stamping
        && !eku.value.any
        && !eku.value.server_auth
        && !eku.value.client_auth
        && !eku.value.code_signing
        && !eku.value.email_protection
        && !eku.value.ocsp_signing
        && eku.value.other.is_empty();
    if !eku.critical || !only_ts {
        return Err(bad(
            "the certificate is not a TSA's: its extended key usage must be timeStamping alone, critical",
        ));
    }
    if cert.is_ca() {
        return Err(bad("a CA certificate cannot sign time-stamps"));
    }
    Ok(())
}

/// `genTime` as DER's GeneralizedTime (whole seconds).
pub(crate) fn generalized(t: OffsetDateTime) -> Result<GeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| bad("time before 1970"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(der_err)
}
