//! CMS (RFC 5652) detached SignedData: what docsvc signs manifests and application requests
//! with, and what `openssl cms -verify` checks. Written as DER by hand (read back with
//! RustCrypto's `cms` types) so that the private key stays in hsm-shim: only the signed
//! attributes go out to be signed.

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{OctetString, UtcTime};
use der::{Any, Decode, Encode, Tagged as _};
use hsm_shim::SignatureAlgorithm;
use spki::AlgorithmIdentifierOwned;
use std::sync::Arc;

use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_parser::time::ASN1Time;

pub use super::kind::{KIND_ARC, Kind};
use super::remembered::Remembered;
use super::{sha256, sha256_hex};
use crate::{Error, Result};

fn bad(what: impl Into<String>) -> Error {
    Error::Signature(what.into())
}

fn der_err(e: der::Error) -> Error {
    bad(format!("malformed CMS: {e}"))
}

/// What is signed: the bytes themselves, or their digest (by the hash the signer's key signs
/// with: SHA-256 for P-256, SHA-384 for P-384) when the caller keeps the bytes.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    Bytes(&'a [u8]),
    Sha256([u8; 32]),
    Sha384([u8; 48]),
}

impl Content<'_> {
    fn digest(&self, alg: ObjectIdentifier) -> Result<Vec<u8>> {
        let given = match self {
            Content::Bytes(b) => return digest(alg, b),
            Content::Sha256(d) if alg == rfc5912::ID_SHA_256 => return Ok(d.to_vec()),
            Content::Sha384(d) if alg == rfc5912::ID_SHA_384 => return Ok(d.to_vec()),
            Content::Sha256(_) => "SHA-256",
            Content::Sha384(_) => "SHA-384",
        };
        let wanted = if alg == rfc5912::ID_SHA_384 {
            "SHA-384 (`sha384`)"
        } else if alg == rfc5912::ID_SHA_256 {
            "SHA-256 (`sha256`)"
        } else {
            "the content itself"
        };
        Err(bad(format!(
            "the signature's digest algorithm ({alg}) is not {given}, which was given: give the \
             content, or its {wanted}"
        )))
    }
}

/// The digest and signature algorithms for a key: the hash its signature algorithm names
/// (RFC 5753 section 2.1.1; `openssl cms -verify` hashes the signed attributes with the
/// digest algorithm), so SHA-384 for a P-384 key.
fn algorithms(alg: SignatureAlgorithm) -> Result<(ObjectIdentifier, ObjectIdentifier)> {
    match alg {
        SignatureAlgorithm::EcdsaP256Sha256 => {
            Ok((rfc5912::ID_SHA_256, rfc5912::ECDSA_WITH_SHA_256))
        }
        SignatureAlgorithm::EcdsaP384Sha384 => {
            Ok((rfc5912::ID_SHA_384, rfc5912::ECDSA_WITH_SHA_384))
        }
        SignatureAlgorithm::Ed25519 => Err(bad("Ed25519 signing keys are not used for CMS")),
    }
}

fn digest(alg: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>> {
    let d = if alg == rfc5912::ID_SHA_256 {
        &ring::digest::SHA256
    } else if alg == rfc5912::ID_SHA_384 {
        &ring::digest::SHA384
    } else {
        return Err(bad(format!("unsupported digest algorithm {alg}")));
    };
    Ok(ring::digest::digest(d, data).as_ref().to_vec())
}

/// The signed attributes as the DER SET OF that is signed (RFC 5652 §5.4): each
/// `(attrType, value)` an Attribute with the one value (whole DER), in DER's SET OF order.
pub(crate) fn signed_attributes(attrs: &[(ObjectIdentifier, &[u8])]) -> Result<Vec<u8>> {
    let mut each = Vec::with_capacity(attrs.len());
    for (oid, value) in attrs {
        let mut body = oid.to_der().map_err(der_err)?;
        wrap(der::Tag::Set, value, &mut body)?;
        let mut attr = Vec::with_capacity(body.len() + 4);
        wrap(der::Tag::Sequence, &body, &mut attr)?;
        each.push(attr);
    }
    // DER orders a SET OF by the elements' encodings.
    each.sort_unstable();
    let mut out = Vec::with_capacity(each.iter().map(Vec::len).sum::<usize>() + 4);
    wrap(der::Tag::Set, &each.concat(), &mut out)?;
    Ok(out)
}

/// An OCTET STRING, whole.
pub(crate) fn octet_string(value: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len() + 4);
    wrap(der::Tag::OctetString, value, &mut out)?;
    Ok(out)
}

pub(crate) fn utc_time(t: OffsetDateTime) -> Result<UtcTime> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| bad("signing time before 1970"))?;
    UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(der_err)
}

/// Signs `content` as a detached CMS SignedData of `kind` (its content type). `sign` signs the DER of the signed
/// attributes with the key of `signer_der` (an hsm-shim handle); `chain` are the issuing CA
/// certificates to include.
pub fn sign_detached(
    kind: Kind,
    content: Content<'_>,
    algorithm: SignatureAlgorithm,
    signer_der: &[u8],
    chain: &[Vec<u8>],
    signing_time: OffsetDateTime,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let (digest_oid, sig_oid) = algorithms(algorithm)?;
    let message_digest = content.digest(digest_oid)?;

    let content_type = kind.oid().to_der().map_err(der_err)?;
    let digest = octet_string(&message_digest)?;
    // PAdES names its signer by the certificate's hash (ESS signing-certificate-v2) and keeps
    // the claimed time in the signature dictionary (`/M`), not in a signing-time attribute.
    let claim = if kind == Kind::Pdf {
        (
            ID_AA_SIGNING_CERTIFICATE_V2,
            signing_certificate_v2(signer_der)?,
        )
    } else {
        (
            rfc5911::ID_SIGNING_TIME,
            utc_time(signing_time)?.to_der().map_err(der_err)?,
        )
    };
    let to_sign = signed_attributes(&[
        (rfc5911::ID_CONTENT_TYPE, &content_type),
        (rfc5911::ID_MESSAGE_DIGEST, &digest),
        (claim.0, &claim.1),
    ])?;
    let signature = sign(&to_sign)?;

    assemble(
        kind.oid(),
        None,
        digest_oid,
        sig_oid,
        signer_der,
        chain,
        &to_sign,
        &signature,
    )
}

/// id-aa-signingCertificateV2 (RFC 5035).
const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 } with one ESSCertIDv2
/// ::= SEQUENCE { certHash OCTET STRING } (hashAlgorithm left at its default, SHA-256).
fn signing_certificate_v2(signer_der: &[u8]) -> Result<Vec<u8>> {
    let hash = octet_string(&sha256(signer_der))?;
    let mut id = Vec::new();
    wrap(der::Tag::Sequence, &hash, &mut id)?;
    let mut certs = Vec::new();
    wrap(der::Tag::Sequence, &id, &mut certs)?;
    let mut whole = Vec::new();
    wrap(der::Tag::Sequence, &certs, &mut whole)?;
    Ok(whole)
}

/// A CMS ContentInfo of SignedData ([`version_for`] its content type) with one signer named
/// by issuer and serial, its signed attributes (`signed_attrs`, the DER SET OF that
/// `signature` covers) and signature, and the signer's certificate followed by `chain`.
/// `econtent` is the content carried, if any. Written as DER directly: the certificates,
/// the signer's issuer and serial and the attributes go in as the bytes they came as, so a
/// signing call parses and encodes again only the few fixed fields around them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    econtent_type: ObjectIdentifier,
    econtent: Option<Any>,
    digest_oid: ObjectIdentifier,
    sig_oid: ObjectIdentifier,
    signer_der: &[u8],
    chain: &[Vec<u8>],
    signed_attrs: &[u8],
    signature: &[u8],
) -> Result<Vec<u8>> {
    let algorithm = |oid| {
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
        .to_der()
        .map_err(der_err)
    };
    let digest_alg = algorithm(digest_oid)?;
    let signer_info = signer_info(
        signer_der,
        &digest_alg,
        signed_attrs,
        &algorithm(sig_oid)?,
        signature,
    )?;
    // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
    //   certificates [0] IMPLICIT CertificateSet OPTIONAL, crls [1] OPTIONAL, signerInfos }
    let mut certs: Vec<&[u8]> = std::iter::once(signer_der)
        .chain(chain.iter().map(Vec::as_slice))
        .collect();
    // Each must be one whole DER SEQUENCE: a stray byte would end up inside the structure
    // (a header read, not a parse: the signer's was chain-checked when it was installed and
    // its first fields read above, the CAs' are our own).
    for c in &certs {
        let element = der::AnyRef::from_der(c).map_err(der_err)?;
        if element.tag() != der::Tag::Sequence {
            return Err(bad("malformed CMS: a certificate is not a DER SEQUENCE"));
        }
    }
    certs.sort_unstable();
    // A SET OF holds each once (the signer may also be in `chain`).
    certs.dedup();
    let certs_len: usize = certs.iter().map(|c| c.len()).sum();
    let mut fields = Vec::with_capacity(certs_len + signer_info.len() + 128);
    version_for(econtent_type)
        .encode_to_vec(&mut fields)
        .map_err(der_err)?;
    wrap(der::Tag::Set, &digest_alg, &mut fields)?;
    EncapsulatedContentInfo {
        econtent_type,
        econtent,
    }
    .encode_to_vec(&mut fields)
    .map_err(der_err)?;
    wrap(
        der::Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber::N0,
        },
        &certs.concat(),
        &mut fields,
    )?;
    // signerInfos: a SET OF with the one SignerInfo.
    wrap(der::Tag::Set, &signer_info, &mut fields)?;
    let mut signed_data = Vec::with_capacity(fields.len() + 8);
    wrap(der::Tag::Sequence, &fields, &mut signed_data)?;
    // ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }
    let mut info = rfc5911::ID_SIGNED_DATA.to_der().map_err(der_err)?;
    wrap(
        der::Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber::N0,
        },
        &signed_data,
        &mut info,
    )?;
    let mut out = Vec::with_capacity(info.len() + 8);
    wrap(der::Tag::Sequence, &info, &mut out)?;
    Ok(out)
}

/// SignerInfo ::= SEQUENCE { version 1, sid IssuerAndSerialNumber, digestAlgorithm,
///   signedAttrs [0] IMPLICIT SET OF Attribute, signatureAlgorithm, signature OCTET STRING }.
/// The issuer and serial are the signer certificate's own DER; the attributes are the SET OF
/// that was signed, its tag changed to [0] (RFC 5652 §5.4: the signature covers them as a SET OF).
fn signer_info(
    signer_der: &[u8],
    digest_alg: &[u8],
    signed_attrs: &[u8],
    sig_alg: &[u8],
    signature: &[u8],
) -> Result<Vec<u8>> {
    let f = super::tbs::read(signer_der).ok_or_else(|| bad("the signer certificate is not DER"))?;
    // The serial is read as an INTEGER here (minimal, at most RFC 5280's 20 octets and a sign
    // octet), so a certificate that slipped through makes an error, not a malformed CMS. The
    // issuer goes in as the certificate carries it: the bytes a verifier matches it against.
    let serial = der::asn1::IntRef::from_der(f.serial).map_err(der_err)?;
    if serial.as_bytes().len() > 21 {
        return Err(bad(
            "the signer certificate's serial is longer than RFC 5280 allows",
        ));
    }
    let attrs = der::AnyRef::from_der(signed_attrs).map_err(der_err)?;
    if attrs.tag() != der::Tag::Set {
        return Err(bad("malformed CMS: the signed attributes are not a SET OF"));
    }
    let mut sid = Vec::with_capacity(f.issuer.len() + f.serial.len());
    sid.extend_from_slice(f.issuer);
    sid.extend_from_slice(f.serial);
    let mut body = Vec::with_capacity(sid.len() + signed_attrs.len() + signature.len() + 64);
    CmsVersion::V1.encode_to_vec(&mut body).map_err(der_err)?;
    wrap(der::Tag::Sequence, &sid, &mut body)?;
    body.extend_from_slice(digest_alg);
    wrap(
        der::Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber::N0,
        },
        attrs.value(),
        &mut body,
    )?;
    body.extend_from_slice(sig_alg);
    wrap(der::Tag::OctetString, signature, &mut body)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    wrap(der::Tag::Sequence, &body, &mut out)?;
    Ok(out)
}

/// The SignedData version (RFC 5652 §5.1) for one signer named by issuer and serial and
/// X.509 certificates only: 1 for id-data content (PAdES), else 3.
fn version_for(econtent_type: ObjectIdentifier) -> CmsVersion {
    if econtent_type == rfc5911::ID_DATA {
        CmsVersion::V1
    } else {
        CmsVersion::V3
    }
}

/// Appends `body` to `out` as the content of a DER element tagged `tag`.
fn wrap(tag: der::Tag, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    der::Header::new(tag, der::Length::try_from(body.len()).map_err(der_err)?)
        .map_err(der_err)?
        .encode_to_vec(out)
        .map_err(der_err)?;
    out.extend_from_slice(body);
    Ok(())
}

/// The largest CMS signature verified: with its chain and time-stamp a signature is a few KiB.
const MAX_CMS: usize = 64 * 1024;

/// What a verified signature says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Verified {
    /// The signer certificate (DER).
    #[serde(skip)]
    pub signer_der: Vec<u8>,
    pub subject: String,
    /// The NIP (subject serialNumber) for an official's certificate.
    pub nip: Option<String>,
    pub serial: String,
    pub signing_time: Option<String>,
    /// SHA-256 of the signer certificate, hex.
    pub certificate_sha256: String,
    /// The TSA's time-stamp over the signature, verified; letter signatures, approvals and
    /// destruction records always carry one.
    pub timestamp: Option<crate::crypto::timestamp::Stamp>,
    /// When the signer's certificate (and its chain) was judged valid, RFC 3339: the
    /// time-stamp's `genTime` when there is one, else the time of verifying.
    pub checked_at: String,
    /// `timestamp` or `verification_time`: which time `checked_at` is.
    pub checked_at_source: String,
}

/// The certificates a signature must chain to.
#[derive(Clone, Debug)]
pub struct Trust {
    root_der: Vec<u8>,
    /// The issuing CAs accepted for signers (the Signing CA, and the Network CA for
    /// applications).
    issuers: Vec<Vec<u8>>,
    /// Chains already verified, by the leaf's SHA-256: the time window in which the whole
    /// chain is valid. Verifying a chain costs a P-384 signature check, so each leaf pays once.
    verified: Arc<Remembered<Window>>,
    /// Signatures already checked, by the SHA-256 of the whole CMS: their time-stamp. What is
    /// checked once for those bytes (the signer's signature over its attributes, the TSA's over
    /// the signature) depends on nothing else, and costs two P-384 checks; a letter's signature
    /// is checked again on every read and before every delivery.
    signatures: Arc<Remembered<Checked>>,
}

/// What a checked signature came with: its time-stamp, verified (none for an application's).
#[derive(Clone, Debug)]
struct Checked {
    stamp: Option<crate::crypto::timestamp::Stamp>,
}

/// When a verified chain is valid: from, until.
type Window = (ASN1Time, ASN1Time);

/// Verified chains kept before the cache starts over.
const VERIFIED_MAX: usize = 100_000;
/// Checked signatures kept before that cache starts over (each holds its TSA certificate).
const SIGNATURES_MAX: usize = 16_384;

impl Trust {
    pub fn new(root_der: Vec<u8>, issuers: Vec<Vec<u8>>) -> Self {
        Trust {
            root_der,
            issuers,
            verified: Arc::new(Remembered::new(VERIFIED_MAX)),
            signatures: Arc::new(Remembered::new(SIGNATURES_MAX)),
        }
    }

    /// How many checked signatures this trust remembers.
    pub fn remembered_signatures(&self) -> usize {
        self.signatures.len()
    }

    /// Whether `der` is the root's or a trusted issuing CA's certificate.
    pub fn is_ca(&self, der: &[u8]) -> bool {
        der == self.root_der || self.issuers.iter().any(|i| i == der)
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn issuers(&self) -> &[Vec<u8>] {
        &self.issuers
    }
}

fn find_attr(attrs: &[Attribute], oid: ObjectIdentifier) -> Result<&Any> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let a = found
        .next()
        .ok_or_else(|| bad(format!("signed attribute {oid} missing")))?;
    if found.next().is_some() || a.values.len() != 1 {
        return Err(bad(format!("signed attribute {oid} must appear once")));
    }
    a.values.get(0).ok_or_else(|| bad("empty attribute"))
}

/// The digest algorithm that goes with an ECDSA signature algorithm.
fn algorithms_of(sig_oid: ObjectIdentifier) -> Option<ObjectIdentifier> {
    if sig_oid == rfc5912::ECDSA_WITH_SHA_256 {
        Some(rfc5912::ID_SHA_256)
    } else if sig_oid == rfc5912::ECDSA_WITH_SHA_384 {
        Some(rfc5912::ID_SHA_384)
    } else {
        None
    }
}

pub(crate) fn verify_raw(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    sig_oid: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let alg: &dyn ring::signature::VerificationAlgorithm = if sig_oid == rfc5912::ECDSA_WITH_SHA_256
    {
        &ring::signature::ECDSA_P256_SHA256_ASN1
    } else if sig_oid == rfc5912::ECDSA_WITH_SHA_384 {
        &ring::signature::ECDSA_P384_SHA384_ASN1
    } else {
        return Err(bad(format!("unsupported signature algorithm {sig_oid}")));
    };
    ring::signature::UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(message, signature)
        .map_err(|_| bad("the signature does not match the content"))
}

/// Verifies a detached CMS signature of `kind` over `content`: its content type, exactly one
/// signer, the message digest, the signature, and the signer's chain to the root through one
/// of `trust.issuers`, all valid at `at`. A signature of any other kind is refused.
pub fn verify_detached(
    cms_der: &[u8],
    kind: Kind,
    content: Content<'_>,
    trust: &Trust,
    at: OffsetDateTime,
) -> Result<Verified> {
    // Bounded before it is parsed: DER SETs are sorted as they are decoded.
    if cms_der.len() > MAX_CMS {
        return Err(bad("the signature is larger than any sandi makes"));
    }
    let info = ContentInfo::from_der(cms_der).map_err(der_err)?;
    if info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(bad("not a SignedData"));
    }
    let signed_data: SignedData = info.content.decode_as().map_err(der_err)?;
    if signed_data.encap_content_info.econtent.is_some() {
        return Err(bad("expected a detached signature"));
    }
    let [si] = signed_data.signer_infos.0.as_slice() else {
        return Err(bad("expected exactly one signer"));
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(bad("signer must be named by issuer and serial number"));
    };
    let mut certs: Vec<&Certificate> = Vec::new();
    for c in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
        // Nothing signs the certificate set: what is in it must be exactly what is expected.
        let CertificateChoices::Certificate(c) = c else {
            return Err(bad("the signature carries a certificate of another format"));
        };
        certs.push(c);
    }
    let signer_cert = certs
        .iter()
        .find(|c| {
            c.tbs_certificate.issuer == sid.issuer
                && c.tbs_certificate.serial_number == sid.serial_number
        })
        .ok_or_else(|| bad("the signer certificate is not in the signature"))?;
    let signer_der = signer_cert.to_der().map_err(der_err)?;
    strict_envelope(cms_der, &info, &signed_data, si, &certs, &signer_der, trust)?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("signed attributes missing"))?;
    let attr_list: Vec<Attribute> = attrs.iter().cloned().collect();
    check_kind(&signed_data, &attr_list, kind)?;
    let md: OctetString = find_attr(&attr_list, rfc5911::ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(der_err)?;
    let expected = content.digest(si.digest_alg.oid)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        md.as_bytes(),
        expected.as_slice(),
    )) {
        return Err(bad("the content does not match the signed digest"));
    }
    let signed_at = signed_at(&attr_list)?;
    let signing_time = signed_at.map(crate::rfc3339);

    let (_, leaf) = x509_parser::parse_x509_certificate(&signer_der)
        .map_err(|e| bad(format!("signer certificate: {e}")))?;
    // The signed attributes are hashed by the digest algorithm (what openssl does) and by
    // the signature algorithm's hash (what ring does): one hash, or the two disagree.
    if algorithms_of(si.signature_algorithm.oid) != Some(si.digest_alg.oid) {
        return Err(bad(format!(
            "the digest algorithm {} is not the hash of the signature algorithm {}",
            si.digest_alg.oid, si.signature_algorithm.oid
        )));
    }
    let (stamp, fresh) =
        checked_once(cms_der, &leaf, si, &attrs.to_der().map_err(der_err)?, trust)?;
    let checked_at = when_valid(kind, stamp.as_ref(), signed_at, trust, at)?;
    check_chain(&signer_der, trust, checked_at)?;
    // Remembered only once the signer and the TSA chain to sandi's root: a caller's self-made
    // signatures, refused, take no room.
    if let Some(whole) = fresh {
        trust.signatures.insert(
            whole,
            Checked {
                stamp: stamp.clone(),
            },
        );
    }

    let nip = leaf
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned);
    Ok(Verified {
        subject: leaf.subject().to_string(),
        nip,
        serial: leaf.tbs_certificate.raw_serial_as_string(),
        signing_time,
        certificate_sha256: sha256_hex(&signer_der),
        signer_der,
        checked_at: crate::rfc3339(checked_at),
        checked_at_source: if stamp.is_some() {
            "timestamp"
        } else {
            "verification_time"
        }
        .into(),
        timestamp: stamp,
    })
}

/// The signer's signature over its attributes, and the TSA's time-stamp over it: a function
/// of the CMS bytes alone, so checked once for those bytes (see `Trust::signatures`); the
/// content's digest, and the times and chain, are checked on every call by the caller. Also
/// returns, for a signature checked here and now, the key to remember it by.
fn checked_once(
    cms_der: &[u8],
    leaf: &x509_parser::certificate::X509Certificate<'_>,
    si: &SignerInfo,
    signed_attrs_der: &[u8],
    trust: &Trust,
) -> Result<(Option<crate::crypto::timestamp::Stamp>, Option<[u8; 32]>)> {
    let whole = sha256(cms_der);
    if let Some(checked) = trust.signatures.get(&whole) {
        return Ok((checked.stamp, None));
    }
    verify_raw(
        leaf.public_key(),
        si.signature_algorithm.oid,
        signed_attrs_der,
        si.signature.as_bytes(),
    )?;
    Ok((crate::crypto::timestamp::of_signer(si)?, Some(whole)))
}

/// The signed signing-time attribute, if there is one.
fn signed_at(attrs: &[Attribute]) -> Result<Option<OffsetDateTime>> {
    if !attrs.iter().any(|a| a.oid == rfc5911::ID_SIGNING_TIME) {
        return Ok(None);
    }
    let t: UtcTime = find_attr(attrs, rfc5911::ID_SIGNING_TIME)?
        .decode_as()
        .map_err(der_err)?;
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    Ok(OffsetDateTime::from_unix_timestamp(secs).ok())
}

/// How far a signing time may run ahead of the time-stamp over the signature: the signer's
/// clock and the TSA's may disagree a little, but a signature is not made after it was seen.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The time at which a signature's certificates are judged: its time-stamp's `genTime`, whose
/// TSA certificate must chain to the root and be valid then; `at` for a signature without one,
/// which only an application's signature may be.
fn when_valid(
    kind: Kind,
    stamp: Option<&crate::crypto::timestamp::Stamp>,
    signed_at: Option<OffsetDateTime>,
    trust: &Trust,
    at: OffsetDateTime,
) -> Result<OffsetDateTime> {
    let Some(stamp) = stamp else {
        return if kind == Kind::Api {
            Ok(at)
        } else {
            Err(bad(format!(
                "a {} signature must carry a time-stamp token from the TSA",
                kind.as_str()
            )))
        };
    };
    stamp.check_trusted(trust)?;
    if signed_at.is_some_and(|t| t > stamp.at + CLOCK_SKEW) {
        return Err(bad(
            "the signing time is after the time-stamp over the signature",
        ));
    }
    Ok(stamp.at)
}

/// The signature is of `kind`: its content type and the signed content-type attribute that
/// binds it are the kind's own.
fn check_kind(signed_data: &SignedData, attrs: &[Attribute], kind: Kind) -> Result<()> {
    let ct: ObjectIdentifier = find_attr(attrs, rfc5911::ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(der_err)?;
    if ct != kind.oid() || signed_data.encap_content_info.econtent_type != kind.oid() {
        return Err(bad(format!(
            "the signature is not of the kind expected here ({}): its signed content type is {ct}",
            kind.as_str()
        )));
    }
    Ok(())
}

/// Everything in a signature outside what the signer's signature covers must be exactly what
/// it should be, so that no byte of a stored signature can change unnoticed: DER as encoded,
/// the versions, the digest algorithm list and content type that go with the signer's, and no
/// certificate but the signer's and the trusted CAs' own.
#[allow(clippy::too_many_arguments)]
fn strict_envelope(
    cms_der: &[u8],
    info: &ContentInfo,
    signed_data: &SignedData,
    si: &SignerInfo,
    certs: &[&Certificate],
    signer_der: &[u8],
    trust: &Trust,
) -> Result<()> {
    if info.to_der().map_err(der_err)? != cms_der {
        return Err(bad("not DER-encoded as signed"));
    }
    if signed_data.version != version_for(signed_data.encap_content_info.econtent_type)
        || si.version != CmsVersion::V1
    {
        return Err(bad("unexpected CMS version"));
    }
    let algs: Vec<&AlgorithmIdentifierOwned> = signed_data.digest_algorithms.iter().collect();
    if algs.len() != 1 || algs[0].oid != si.digest_alg.oid || algs[0].parameters.is_some() {
        return Err(bad("the digest algorithms do not match the signer's"));
    }
    // Unsigned attributes: a time-stamp token alone, checked by `timestamp::of_signer`.
    if signed_data.crls.is_some() {
        return Err(bad("unexpected unsigned data in the signature"));
    }
    for c in certs {
        let der = c.to_der().map_err(der_err)?;
        let known = der == signer_der || der == trust.root_der || trust.issuers.contains(&der);
        if !known {
            return Err(bad(
                "the signature carries a certificate that is neither the signer's nor a trusted CA's",
            ));
        }
    }
    Ok(())
}

fn valid_at(c: &x509_parser::certificate::X509Certificate<'_>, at: OffsetDateTime) -> bool {
    let t = ASN1Time::from(at);
    c.validity().not_before <= t && t <= c.validity().not_after
}

/// Checks that `leaf_der` was issued by one of `trust.issuers`, which was issued by the root,
/// every certificate valid at `at`.
pub fn check_chain(leaf_der: &[u8], trust: &Trust, at: OffsetDateTime) -> Result<()> {
    let key = sha256(leaf_der);
    let now = ASN1Time::from(at);
    let cached = trust.verified.get(&key);
    if let Some((from, until)) = cached {
        return if from <= now && now <= until {
            Ok(())
        } else {
            Err(bad("a certificate of the chain is not valid at this time"))
        };
    }
    let window = verify_chain(leaf_der, trust, at)?;
    trust.verified.insert(key, window);
    Ok(())
}

/// The full check behind [`check_chain`]; returns when the chain is valid.
fn verify_chain(
    leaf_der: &[u8],
    trust: &Trust,
    at: OffsetDateTime,
) -> Result<(ASN1Time, ASN1Time)> {
    let (_, leaf) = x509_parser::parse_x509_certificate(leaf_der)
        .map_err(|e| bad(format!("signer certificate: {e}")))?;
    let (_, root) = x509_parser::parse_x509_certificate(&trust.root_der)
        .map_err(|e| bad(format!("root certificate: {e}")))?;
    if !valid_at(&leaf, at) {
        return Err(bad("the signer certificate is not valid at this time"));
    }
    for issuer_der in &trust.issuers {
        let Ok((_, issuer)) = x509_parser::parse_x509_certificate(issuer_der) else {
            continue;
        };
        if leaf.issuer() != issuer.subject()
            || leaf.verify_signature(Some(issuer.public_key())).is_err()
        {
            continue;
        }
        if !valid_at(&issuer, at) {
            return Err(bad("the issuing CA certificate is not valid at this time"));
        }
        issuer
            .verify_signature(Some(root.public_key()))
            .map_err(|_| bad("the issuing CA is not certified by the sandi root"))?;
        let from = leaf.validity().not_before.max(issuer.validity().not_before);
        let until = leaf.validity().not_after.min(issuer.validity().not_after);
        return Ok((from, until));
    }
    Err(bad("the signer certificate is not issued by a sandi CA"))
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
