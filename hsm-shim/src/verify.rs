//! Signature verification against a public key, for callers that hold only the SPKI.

use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, UnparsedPublicKey,
    VerificationAlgorithm,
};

use crate::key::{KeyKind, SignatureAlgorithm, raw_from_spki};
use crate::{Error, Result};

/// Verifies `signature` over `message` with the SubjectPublicKeyInfo `spki`.
pub fn verify_signature(
    spki: &[u8],
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let (kind, alg): (KeyKind, &'static dyn VerificationAlgorithm) = match algorithm {
        SignatureAlgorithm::Ed25519 => (KeyKind::Ed25519, &ED25519),
        SignatureAlgorithm::EcdsaP256Sha256 => (KeyKind::EcdsaP256, &ECDSA_P256_SHA256_ASN1),
        SignatureAlgorithm::EcdsaP384Sha384 => (KeyKind::EcdsaP384, &ECDSA_P384_SHA384_ASN1),
    };
    let raw = raw_from_spki(kind, spki)?;
    UnparsedPublicKey::new(alg, raw)
        .verify(message, signature)
        .map_err(|_| Error::InvalidInput("the signature does not verify".into()))
}
