//! What a caller may know about a key: its id, kind, usage, lifecycle and public half.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A key's stable identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub uuid::Uuid);

impl KeyId {
    pub(crate) fn random() -> Self {
        KeyId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl std::str::FromStr for KeyId {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        uuid::Uuid::parse_str(s)
            .map(KeyId)
            .map_err(|_| crate::Error::InvalidInput(format!("{s:?} is not a key id")))
    }
}

/// An opaque reference to a key inside a key store. It holds no key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyHandle {
    id: KeyId,
    kind: KeyKind,
}

impl KeyHandle {
    pub(crate) fn new(id: KeyId, kind: KeyKind) -> Self {
        KeyHandle { id, kind }
    }
    pub fn id(&self) -> KeyId {
        self.id
    }
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

/// The kinds of key a store can hold. The kind fixes the usage and the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    /// X25519 for age recipients.
    X25519,
    /// AES-256 key-wrapping key (AES-256-GCM with a random nonce).
    Aes256Wrap,
}

impl KeyKind {
    pub const ALL: [KeyKind; 5] = [
        KeyKind::Ed25519,
        KeyKind::EcdsaP256,
        KeyKind::EcdsaP384,
        KeyKind::X25519,
        KeyKind::Aes256Wrap,
    ];

    pub fn usage(self) -> KeyUsage {
        match self {
            KeyKind::Ed25519 | KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => KeyUsage::Sign,
            KeyKind::X25519 => KeyUsage::Agree,
            KeyKind::Aes256Wrap => KeyUsage::Wrap,
        }
    }

    /// The one signature algorithm a signing key of this kind produces.
    pub fn signature_algorithm(self) -> Option<SignatureAlgorithm> {
        match self {
            KeyKind::Ed25519 => Some(SignatureAlgorithm::Ed25519),
            KeyKind::EcdsaP256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            KeyKind::EcdsaP384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            KeyKind::X25519 | KeyKind::Aes256Wrap => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::EcdsaP256 => "ecdsa_p256",
            KeyKind::EcdsaP384 => "ecdsa_p384",
            KeyKind::X25519 => "x25519",
            KeyKind::Aes256Wrap => "aes256_wrap",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::Error::InvalidInput(format!("unknown key kind {s:?}")))
    }
}

/// What a key may be used for; derived from its kind and enforced by every backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsage {
    Sign,
    Agree,
    Wrap,
}

/// An operation on a key, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Sign,
    Agree,
    Wrap,
    Unwrap,
    ExportPublic,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Sign => "sign",
            Operation::Agree => "perform key agreement",
            Operation::Wrap => "wrap",
            Operation::Unwrap => "unwrap",
            Operation::ExportPublic => "export its public key",
        })
    }
}

impl Operation {
    pub(crate) fn needs(self) -> Option<KeyUsage> {
        match self {
            Operation::Sign => Some(KeyUsage::Sign),
            Operation::Agree => Some(KeyUsage::Agree),
            Operation::Wrap | Operation::Unwrap => Some(KeyUsage::Wrap),
            Operation::ExportPublic => None,
        }
    }
}

/// A key's lifecycle state (NIST SP 800-57 vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    PreActive,
    Active,
    Suspended,
    /// Kept to verify or decrypt old data; new signatures and wraps are refused.
    Deactivated,
    Compromised,
    Destroyed,
}

impl KeyState {
    /// Whether the state allows the operation: only active keys create new signatures or
    /// wraps; deactivated keys still agree and unwrap so old documents stay readable.
    pub(crate) fn allows(self, op: Operation) -> bool {
        match self {
            KeyState::Active => true,
            KeyState::Deactivated => matches!(
                op,
                Operation::Agree | Operation::Unwrap | Operation::ExportPublic
            ),
            KeyState::PreActive | KeyState::Suspended | KeyState::Compromised => {
                op == Operation::ExportPublic
            }
            KeyState::Destroyed => false,
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyState::PreActive => "pre-active",
            KeyState::Active => "active",
            KeyState::Suspended => "suspended",
            KeyState::Deactivated => "deactivated",
            KeyState::Compromised => "compromised",
            KeyState::Destroyed => "destroyed",
        })
    }
}

/// The attributes a store lists for a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: KeyId,
    pub label: String,
    pub kind: KeyKind,
    pub version: u32,
    pub usage: KeyUsage,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub state: KeyState,
}

impl KeyInfo {
    pub fn handle(&self) -> KeyHandle {
        KeyHandle::new(self.id, self.kind)
    }
}

/// The signature algorithm bound to a signing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    Ed25519,
    /// ECDSA over P-256 with SHA-256; the signature is DER (X.509/CMS form).
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384; the signature is DER.
    EcdsaP384Sha384,
}

/// A signature together with the algorithm that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub algorithm: SignatureAlgorithm,
    pub bytes: Vec<u8>,
}

/// Secret bytes handed in or out of a store (a data key to wrap, an unwrapped data key).
/// Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {}])", self.0.len())
    }
}

/// An X25519 shared secret. Zeroized on drop; never printed.
pub struct SharedSecret(pub(crate) Zeroizing<[u8; 32]>);

impl SharedSecret {
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

// SubjectPublicKeyInfo prefixes: the DER of everything before the raw public key, fixed per
// algorithm (RFC 8410 for the Edwards/Montgomery keys, RFC 5480 for ECDSA, uncompressed points).
const SPKI_ED25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const SPKI_X25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

fn spki_prefix_and_len(kind: KeyKind) -> Option<(&'static [u8], usize)> {
    match kind {
        KeyKind::Ed25519 => Some((SPKI_ED25519, 32)),
        KeyKind::X25519 => Some((SPKI_X25519, 32)),
        KeyKind::EcdsaP256 => Some((SPKI_P256, 65)),
        KeyKind::EcdsaP384 => Some((SPKI_P384, 97)),
        KeyKind::Aes256Wrap => None,
    }
}

/// Wraps a raw public key (32-byte Edwards/Montgomery key or uncompressed EC point) in a
/// SubjectPublicKeyInfo.
pub fn spki_from_raw(kind: KeyKind, raw: &[u8]) -> crate::Result<Vec<u8>> {
    let (prefix, len) = spki_prefix_and_len(kind).ok_or(crate::Error::InvalidInput(format!(
        "a {kind} key has no public key"
    )))?;
    if raw.len() != len {
        return Err(crate::Error::InvalidInput(format!(
            "a {kind} public key is {len} bytes, not {}",
            raw.len()
        )));
    }
    let mut out = Vec::with_capacity(prefix.len() + len);
    out.extend_from_slice(prefix);
    out.extend_from_slice(raw);
    Ok(out)
}

/// The raw public key inside a SubjectPublicKeyInfo of the given kind.
pub fn raw_from_spki(kind: KeyKind, spki: &[u8]) -> crate::Result<&[u8]> {
    let (prefix, len) = spki_prefix_and_len(kind).ok_or(crate::Error::InvalidInput(format!(
        "a {kind} key has no public key"
    )))?;
    match spki.strip_prefix(prefix) {
        Some(raw) if raw.len() == len => Ok(raw),
        _ => Err(crate::Error::InvalidInput(format!(
            "not a {kind} SubjectPublicKeyInfo"
        ))),
    }
}

/// PEM for a SubjectPublicKeyInfo, as `openssl pkey -pubin` reads it.
pub fn spki_pem(spki: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}
