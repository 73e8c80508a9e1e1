//! The one error type of hsm-shim.

use std::path::PathBuf;

use crate::key::{KeyId, KeyKind, Operation};

/// Everything a key store operation can refuse or fail with.
///
/// Messages say what happened in words an operator can act on and never carry key material,
/// share bytes or PINs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key store is sealed: no key can be used until a quorum of custodian shares unseals it.
    #[error("the keystore is sealed: {provided} of {threshold} custodian shares given")]
    Sealed { provided: usize, threshold: usize },

    /// No key with this id exists (or it was destroyed).
    #[error("no key with id {0}")]
    UnknownKey(KeyId),

    /// The key's kind does not allow the requested operation (usage is bound to the kind).
    #[error("key {id} is a {kind} key and cannot be used to {operation}")]
    WrongKeyUsage {
        id: KeyId,
        kind: KeyKind,
        operation: Operation,
    },

    /// The key exists but its lifecycle state forbids the operation.
    #[error("key {id} is {state} and cannot be used to {operation}")]
    KeyNotUsable {
        id: KeyId,
        state: crate::key::KeyState,
        operation: Operation,
    },

    /// A stored key file failed authentication: edited, swapped, truncated or not ours.
    #[error("key file {path} is corrupted or was tampered with: {reason}")]
    CorruptKeyFile { path: PathBuf, reason: &'static str },

    /// The keystore metadata is unreadable or inconsistent.
    #[error("keystore metadata {path} is invalid: {reason}")]
    CorruptKeystore { path: PathBuf, reason: String },

    /// A share could not be parsed (typing error, truncated, bad checksum).
    #[error("custodian share is malformed: {0}")]
    MalformedShare(&'static str),

    /// A well-formed share that does not match this keystore's commitment for that custodian.
    #[error(
        "custodian share #{index} does not match this keystore's commitment (wrong or corrupted share)"
    )]
    WrongShare { index: u8 },

    /// A share made for another keystore.
    #[error(
        "custodian share belongs to keystore {share_keystore}, not to this keystore {keystore}"
    )]
    ShareForOtherKeystore {
        share_keystore: uuid::Uuid,
        keystore: uuid::Uuid,
    },

    /// The same custodian's share was given twice.
    #[error("custodian share #{index} was already given")]
    DuplicateShare { index: u8 },

    /// The quorum parameters make no sense or are too weak.
    #[error("invalid quorum: {0}")]
    InvalidQuorum(String),

    /// Dev-mode unsealing was asked of a production keystore, or the dev unseal file is bad.
    #[error("dev unseal refused: {0}")]
    DevMode(&'static str),

    /// The backend cannot perform this (for example X25519 on SoftHSM2).
    #[error("the {backend} backend does not support {what}")]
    Unsupported { backend: &'static str, what: String },

    /// The token refused the PIN.
    #[error("the token refused the PIN")]
    WrongPin,

    /// The token's PIN could not be read from where the configuration says it is (a missing
    /// or unsafe PIN file, an unset environment variable), or the configuration holds the PIN
    /// itself. The message names the source, never the PIN.
    #[error("the token's PIN is not available: {0}")]
    PinSource(String),

    /// The token or PKCS#11 module could not be found or used.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),

    /// Input that is not what the operation takes (bad length, bad public key, bad label).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// Decryption or unwrapping failed authentication.
    #[error("unwrap failed: the wrapped data is corrupted or was wrapped under another key")]
    UnwrapFailed,

    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The cryptographic library refused an operation that should not fail.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
