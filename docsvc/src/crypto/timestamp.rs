//! RFC 3161 time-stamps on CMS signatures: a token over the signature value (RFC 3161
//! appendix A), kept as the `id-aa-signatureTimeStampToken` unsigned attribute of the
//! SignerInfo (as CAdES does), so that it is stored and travels inside the signature itself.
//! A token proves that the signature existed at its `genTime`, by the word of sandi's TSA
//! (keymgr), not of this node's clock. The request, response and token formats are keymgr's
//! ([`keymgr::tsa::token`]); this module ties them to a signature.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo};
use const_oid::db::rfc5912;
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode};
use keymgr::tsa::token::{self, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, Token};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;

use crate::{Error, Result};

fn bad(what: impl Into<String>) -> Error {
    Error::Signature(what.into())
}

fn der_err(e: der::Error) -> Error {
    bad(format!("malformed CMS: {e}"))
}

/// What a verified time-stamp says, shown with a verified signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Stamp {
    /// When the TSA saw the signature (RFC 3339).
    pub gen_time: String,
    /// The TSA certificate's subject.
    pub tsa: String,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA policy the token was issued under.
    pub policy: String,
    #[serde(skip)]
    pub at: OffsetDateTime,
    /// The TSA certificate (DER).
    #[serde(skip)]
    pub tsa_der: Vec<u8>,
    /// The token's other certificates (DER), which no signature covers: each must be a
    /// trusted CA's own (checked with the chain, `signature::when_valid`).
    #[serde(skip)]
    pub others: Vec<Vec<u8>>,
}

impl Stamp {
    /// The TSA certificate chains to sandi's root at the token's time, and every other
    /// certificate the token carries is a trusted CA's (nothing signs the token's set).
    pub fn check_trusted(&self, trust: &crate::crypto::signature::Trust) -> Result<()> {
        crate::crypto::signature::check_chain(&self.tsa_der, trust, self.at)
            .map_err(|e| bad(format!("the time-stamp's TSA certificate: {e}")))?;
        if self.others.iter().any(|c| !trust.is_ca(c)) {
            return Err(bad(
                "the time-stamp carries a certificate that is neither the TSA's nor a trusted CA's",
            ));
        }
        Ok(())
    }
}

fn signed_data(cms_der: &[u8]) -> Result<SignedData> {
    ContentInfo::from_der(cms_der)
        .map_err(der_err)?
        .content
        .decode_as()
        .map_err(der_err)
}

fn only_signer(sd: &SignedData) -> Result<&SignerInfo> {
    match sd.signer_infos.0.as_slice() {
        [si] => Ok(si),
        _ => Err(bad("expected exactly one signer")),
    }
}

/// A request to time-stamp the signature value of `cms_der`: the DER `TimeStampReq` and its
/// nonce.
pub fn request_for(cms_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let sd = signed_data(cms_der)?;
    let si = only_signer(&sd)?;
    request_over(&token::digest(
        rfc5912::ID_SHA_256,
        si.signature.as_bytes(),
    )?)
}

/// A request to time-stamp the SHA-256 digest `sha256` (a PDF's document time-stamp): the DER
/// `TimeStampReq` and its nonce.
pub fn request_over(sha256: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut nonce = vec![0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| Error::NoRandomness)?;
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    let req = token::request(rfc5912::ID_SHA_256, sha256, &nonce)?;
    Ok((req, nonce))
}

/// A time-stamp token the TSA granted, with what the caller still checks: that the TSA's
/// certificate chains to sandi's root at `gen_time`.
#[derive(Debug)]
pub struct Granted {
    pub token: Vec<u8>,
    pub tsa_certificate: Vec<u8>,
    pub gen_time: OffsetDateTime,
}

/// The token of the TSA's answer `resp_der` to [`request_for`]`(cms_der)`: granted, over this
/// signature value, with our nonce, by a certificate of the TSA profile, stamped within
/// [`CLOCK_SKEW`] of `now`. Checked before the token is attached, so that an answer from
/// anyone else on the (plain HTTP) path fails closed instead of yielding a signature no one
/// can verify.
pub fn token_from(
    resp_der: &[u8],
    cms_der: &[u8],
    nonce: &[u8],
    now: OffsetDateTime,
) -> Result<Granted> {
    let sd = signed_data(cms_der)?;
    let signature = only_signer(&sd)?.signature.as_bytes();
    granted(resp_der, nonce, now, |t| t.covers(signature))
}

/// As [`token_from`], for an answer to [`request_over`]`(sha256)`: the token's imprint is
/// that SHA-256 digest.
pub fn token_over(
    resp_der: &[u8],
    sha256: &[u8],
    nonce: &[u8],
    now: OffsetDateTime,
) -> Result<Granted> {
    granted(resp_der, nonce, now, |t| imprints(t, sha256))
}

/// Whether token `t`'s imprint is the SHA-256 digest `sha256`.
pub fn imprints(t: &Token, sha256: &[u8]) -> bool {
    t.imprint_algorithm == rfc5912::ID_SHA_256
        && bool::from(subtle::ConstantTimeEq::ct_eq(t.imprint.as_slice(), sha256))
}

fn granted(
    resp_der: &[u8],
    nonce: &[u8],
    now: OffsetDateTime,
    over_ours: impl FnOnce(&Token) -> bool,
) -> Result<Granted> {
    let token_der = token::read_response(resp_der)?;
    let t = token::inspect(&token_der)?;
    if !over_ours(&t) {
        return Err(bad("the TSA stamped something other than what was asked"));
    }
    if t.nonce.as_deref() != Some(nonce) {
        return Err(bad("the TSA's answer does not carry our nonce"));
    }
    token::check_tsa_certificate(&t.tsa_certificate)
        .map_err(|e| bad(format!("the TSA's certificate: {e}")))?;
    if (t.gen_time - now).abs() > CLOCK_SKEW {
        return Err(bad(format!(
            "the TSA's time {} is not now ({})",
            crate::rfc3339(t.gen_time),
            crate::rfc3339(now)
        )));
    }
    Ok(Granted {
        token: token_der,
        tsa_certificate: t.tsa_certificate,
        gen_time: t.gen_time,
    })
}

/// How far the TSA's clock may be from ours when it answers.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// `cms_der` with `token_der` as its signer's signature time-stamp (an unsigned attribute:
/// the signer's signature is unchanged).
pub fn attach(cms_der: &[u8], token_der: &[u8]) -> Result<Vec<u8>> {
    let info = ContentInfo::from_der(cms_der).map_err(der_err)?;
    let mut sd: SignedData = info.content.decode_as().map_err(der_err)?;
    let mut signers: Vec<SignerInfo> = sd.signer_infos.0.into_vec();
    let [si] = signers.as_mut_slice() else {
        return Err(bad("expected exactly one signer"));
    };
    let mut values = SetOfVec::new();
    values
        .insert(Any::from_der(token_der).map_err(der_err)?)
        .map_err(der_err)?;
    let mut attrs = SetOfVec::new();
    attrs
        .insert(Attribute {
            oid: ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
            values,
        })
        .map_err(der_err)?;
    si.unsigned_attrs = Some(attrs);
    sd.signer_infos = cms::signed_data::SignerInfos::try_from(signers).map_err(der_err)?;
    ContentInfo {
        content_type: info.content_type,
        content: Any::encode_from(&sd).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

/// The signer's time-stamp token, if it has one, inspected and checked to be over this
/// signer's signature and signed by a certificate of the TSA profile. The unsigned attributes
/// may hold that and nothing else. Whether the TSA's certificate chains to sandi's root is the
/// caller's to check, at the token's time.
pub(crate) fn of_signer(si: &SignerInfo) -> Result<Option<Stamp>> {
    let Some(attrs) = &si.unsigned_attrs else {
        return Ok(None);
    };
    let [attr] = attrs.as_slice() else {
        return Err(bad("unexpected unsigned data in the signature"));
    };
    if attr.oid != ID_AA_SIGNATURE_TIME_STAMP_TOKEN || attr.values.len() != 1 {
        return Err(bad("unexpected unsigned data in the signature"));
    }
    let token_der = attr
        .values
        .get(0)
        .ok_or_else(|| bad("empty time-stamp attribute"))?
        .to_der()
        .map_err(der_err)?;
    let t: Token =
        token::inspect(&token_der).map_err(|e| bad(format!("the signature's time-stamp: {e}")))?;
    if !t.covers(si.signature.as_bytes()) {
        return Err(bad(
            "the time-stamp is not over this signature (its imprint differs)",
        ));
    }
    stamp_of(&t, "the signature's time-stamp").map(Some)
}

/// A document time-stamp (a PDF's `/DocTimeStamp`, ETSI.RFC3161): the token `token_der`
/// inspected, its imprint the SHA-256 digest `sha256` of the bytes it covers, signed by a
/// certificate of the TSA profile. Whether that certificate chains to sandi's root at the
/// token's time is the caller's to check.
pub fn of_document(token_der: &[u8], sha256: &[u8]) -> Result<Stamp> {
    let t = token::inspect(token_der).map_err(|e| bad(format!("the time-stamp: {e}")))?;
    if !imprints(&t, sha256) {
        return Err(bad(
            "the document time-stamp is not over these bytes (its imprint differs)",
        ));
    }
    stamp_of(&t, "the document time-stamp")
}

/// What a checked token says, its TSA certificate of the TSA profile.
fn stamp_of(t: &Token, what: &str) -> Result<Stamp> {
    token::check_tsa_certificate(&t.tsa_certificate).map_err(|e| bad(format!("{what}: {e}")))?;
    let (_, tsa) = x509_parser::parse_x509_certificate(&t.tsa_certificate)
        .map_err(|e| bad(format!("TSA certificate: {e}")))?;
    Ok(Stamp {
        gen_time: crate::rfc3339(t.gen_time),
        tsa: tsa.subject().to_string(),
        serial: hex::encode(&t.serial),
        policy: t.policy.to_string(),
        at: t.gen_time,
        tsa_der: t.tsa_certificate.clone(),
        others: t.other_certificates.clone(),
    })
}
