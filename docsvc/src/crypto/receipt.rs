//! Receipts (tanda terima) as CMS SignedData (RFC 5652) with the receipt's bytes inside
//! (encapsulated, not detached), signed by the receiving node with the key of its Network CA
//! certificate: what `openssl cms -verify` checks, as it checks letters. The content type is
//! sandi's receipt kind, bound by the signed content-type attribute, so a node's key (which
//! signs nothing else but TLS handshakes) never has a receipt taken for anything else.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use hsm_shim::SignatureAlgorithm;
use time::OffsetDateTime;

use super::sha256;
use super::signature::{self, Trust};
use crate::{Error, Result};

/// The CMS content type of a receipt, beside the letter kinds of [`signature::KIND_ARC`].
pub const RECEIPT_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.3640695297.1.4");

/// Receipts larger than this are not read: a receipt is a few hundred bytes and a certificate
/// chain.
pub const MAX_RECEIPT: usize = 16 * 1024;

fn bad(what: impl Into<String>) -> Error {
    Error::Signature(format!("receipt: {}", what.into()))
}

fn der_err(e: der::Error) -> Error {
    bad(format!("malformed CMS: {e}"))
}

/// Signs `content` (the receipt's bytes) as a CMS SignedData that carries it, with the signer's
/// certificate and `chain` (its Network CA), so that the sandi root alone verifies it. `sign`
/// signs the DER of the signed attributes with the key of `signer_der` (the node's, in
/// hsm-shim).
pub fn sign(
    content: &[u8],
    algorithm: SignatureAlgorithm,
    signer_der: &[u8],
    chain: &[Vec<u8>],
    signing_time: OffsetDateTime,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let sig_oid = match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => rfc5912::ECDSA_WITH_SHA_256,
        SignatureAlgorithm::EcdsaP384Sha384 => rfc5912::ECDSA_WITH_SHA_384,
        SignatureAlgorithm::Ed25519 => return Err(bad("a node key is ECDSA")),
    };
    let content_type = RECEIPT_OID.to_der().map_err(der_err)?;
    let digest = signature::octet_string(&sha256(content))?;
    let time = signature::utc_time(signing_time)?
        .to_der()
        .map_err(der_err)?;
    // The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4).
    let signed_attrs = signature::signed_attributes(&[
        (rfc5911::ID_CONTENT_TYPE, &content_type),
        (rfc5911::ID_MESSAGE_DIGEST, &digest),
        (rfc5911::ID_SIGNING_TIME, &time),
    ])?;
    let signature = sign(&signed_attrs)?;
    let econtent =
        Any::encode_from(&OctetString::new(content).map_err(der_err)?).map_err(der_err)?;
    signature::assemble(
        RECEIPT_OID,
        Some(econtent),
        rfc5912::ID_SHA_256,
        sig_oid,
        signer_der,
        chain,
        &signed_attrs,
        &signature,
    )
}

/// A receipt whose signature checked out: the bytes it carries and who signed them.
#[derive(Debug)]
pub struct Opened {
    pub content: Vec<u8>,
    /// The signer's certificate (DER), chained to the root through the Network CA.
    pub signer_der: Vec<u8>,
}

/// Opens a receipt: DER as signed, the receipt content type (declared and signed), exactly one
/// signer whose certificate it carries, the digest of the content it carries, the signature,
/// and the signer's chain through one of `trust`'s issuers, valid at `at`. Which node must have
/// signed is the caller's to check.
pub fn open(cms_der: &[u8], trust: &Trust, at: OffsetDateTime) -> Result<Opened> {
    if cms_der.len() > MAX_RECEIPT {
        return Err(bad(format!("over {MAX_RECEIPT} bytes")));
    }
    let info = ContentInfo::from_der(cms_der).map_err(der_err)?;
    if info.content_type != rfc5911::ID_SIGNED_DATA || info.to_der().map_err(der_err)? != cms_der {
        return Err(bad("not a DER SignedData"));
    }
    let sd: SignedData = info.content.decode_as().map_err(der_err)?;
    if sd.encap_content_info.econtent_type != RECEIPT_OID {
        return Err(bad("not of the receipt content type"));
    }
    let content: OctetString = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("it carries no receipt"))?
        .decode_as()
        .map_err(der_err)?;
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(bad("expected exactly one signer"));
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(bad("the signer must be named by issuer and serial number"));
    };
    if si.digest_alg.oid != rfc5912::ID_SHA_256 || si.unsigned_attrs.is_some() {
        return Err(bad("unexpected digest algorithm or unsigned attributes"));
    }
    let signer = sd
        .certificates
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
        .ok_or_else(|| bad("the signer's certificate is not in it"))?;
    let signer_der = signer.to_der().map_err(der_err)?;
    // Nothing rides along unchecked: every certificate is the signer's or a trusted CA's.
    for c in sd.certificates.iter().flat_map(|set| set.0.iter()) {
        let known = match c {
            CertificateChoices::Certificate(c) => {
                let der = c.to_der().map_err(der_err)?;
                der == signer_der || der == trust.root_der() || trust.issuers().contains(&der)
            }
            CertificateChoices::Other(_) => false,
        };
        if !known {
            return Err(bad(
                "it carries a certificate that is neither the signer's nor a CA's",
            ));
        }
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("signed attributes missing"))?;
    let one = |oid: ObjectIdentifier| -> Result<&Any> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => {
                a.values.get(0).ok_or_else(|| bad("empty attribute"))
            }
            _ => Err(bad(format!("signed attribute {oid} must appear once"))),
        }
    };
    let ct: ObjectIdentifier = one(rfc5911::ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(der_err)?;
    if ct != RECEIPT_OID {
        return Err(bad(format!("its signed content type is {ct}")));
    }
    let md: OctetString = one(rfc5911::ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(der_err)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        md.as_bytes(),
        sha256(content.as_bytes()).as_slice(),
    )) {
        return Err(bad("the receipt does not match its signed digest"));
    }
    let (_, leaf) = x509_parser::parse_x509_certificate(&signer_der)
        .map_err(|e| bad(format!("signer certificate: {e}")))?;
    signature::verify_raw(
        leaf.public_key(),
        si.signature_algorithm.oid,
        &attrs.to_der().map_err(der_err)?,
        si.signature.as_bytes(),
    )?;
    signature::check_chain(&signer_der, trust, at)?;
    Ok(Opened {
        content: content.as_bytes().to_vec(),
        signer_der,
    })
}
