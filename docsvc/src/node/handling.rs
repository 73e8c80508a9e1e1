//! The handling table's signature columns applied: every signature on a letter of a level,
//! made here or received, is by a key the level's table accepts (`policies::HandlingTable::
//! check_signature`). One check for every path that makes or takes a letter's signature:
//! create, approve, reclassify, destroy, the signing API and a receiving node.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, SECP_256_R_1, SECP_384_R_1};
use der::Decode as _;
use policies::{Level, SignatureAlgorithm, WeakSignature};

use crate::node::Node;
use crate::{Error, Result};

/// The name a refusal gives for the rule it applied (as a Cedar policy's id).
pub const SIGNATURE_RULE: &str = "handling-signature";

/// The signature algorithm of a certificate's key: ECDSA on P-256 or P-384, the only keys a
/// letter is signed with (CMS here, verified by ring).
pub fn key_algorithm(cert_der: &[u8]) -> Result<SignatureAlgorithm> {
    let spki = crate::crypto::tbs::read(cert_der)
        .and_then(|f| spki::SubjectPublicKeyInfoRef::from_der(f.spki).ok())
        .ok_or_else(|| Error::Signature("signer certificate: not DER".into()))?;
    let curve = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    match (spki.algorithm.oid, curve) {
        (ID_EC_PUBLIC_KEY, Some(SECP_256_R_1)) => Ok(SignatureAlgorithm::EcdsaP256),
        (ID_EC_PUBLIC_KEY, Some(SECP_384_R_1)) => Ok(SignatureAlgorithm::EcdsaP384),
        (alg, _) => Err(Error::Signature(format!(
            "the signer's key ({alg}) is not an ECDSA P-256 or P-384 key"
        ))),
    }
}

/// Why a signature by `cert_der`'s key is too weak for a letter of `level` under the table
/// in force, or `None` when it is strong enough.
pub fn weakness(node: &Node, level: Level, cert_der: &[u8]) -> Result<Option<WeakSignature>> {
    let algorithm = key_algorithm(cert_der)?;
    Ok(node
        .policy
        .current()
        .handling()
        .check_signature(level, algorithm)
        .err())
}

/// Refuses, with the table's reason, to sign a letter of `level` with the key of `cert_der`
/// (the signing key of `whose`, e.g. "official 1975…") when the table asks for a stronger one.
pub fn require(node: &Node, level: Level, cert_der: &[u8], whose: &str) -> Result<()> {
    match weakness(node, level, cert_der)? {
        None => Ok(()),
        Some(w) => {
            let needed = node
                .policy
                .current()
                .handling()
                .get(level)
                .signature_algorithm
                .name();
            Err(Error::Forbidden {
                alasan: format!(
                    "ditolak: {}; {whose} memerlukan kunci tanda tangan {needed} yang baru",
                    w.alasan
                ),
                reason: format!(
                    "denied: {}; {whose} needs a new {needed} signing key",
                    w.reason
                ),
                policies: vec![SIGNATURE_RULE.into()],
            })
        }
    }
}
