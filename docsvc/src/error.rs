//! docsvc's one error type. Each error has a stable problem type and an HTTP status; nothing
//! secret goes into a message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from a client or an operator.
    #[error("{0}")]
    Invalid(String),
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    /// The policy refused; both languages are kept for the caller.
    #[error("{reason}")]
    Forbidden {
        alasan: String,
        reason: String,
        policies: Vec<String>,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too large: {0}")]
    TooLarge(String),
    /// A client too slow to send its request (its body under the minimum rate).
    #[error("too slow: {0}")]
    TooSlow(String),
    /// A secret locked after too many wrong entries; the message says until when.
    #[error("{0}")]
    Locked(String),
    #[error("the node is sealed: the key custodians must unseal it first")]
    Sealed,
    /// Stored data failed a check: tampering or corruption, named.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// A signature that does not verify, or a CMS structure we cannot read.
    #[error("signature: {0}")]
    Signature(String),
    /// The access log could not be written: the action fails closed.
    #[error("the access log is unavailable: {0}")]
    LogUnavailable(String),
    /// The disk under the database is full: the action fails closed until space is freed.
    #[error("the node's storage is full: {0}")]
    StorageFull(String),
    #[error("database: {0}")]
    Database(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Policy(#[from] policies::Error),
    #[error(transparent)]
    Keystore(#[from] hsm_shim::Error),
    #[error(transparent)]
    Keymgr(#[from] keymgr::Error),
    /// A letter destroyed after its retention: only its signed destruction record remains.
    #[error("gone: {0}")]
    Gone(String),
    /// Ciphertext that no key this node still holds can open.
    #[error("no key to open it: {0}")]
    KeyUnavailable(String),
    /// A certificate's revocation status cannot be established (no current CRL of its
    /// issuer): refused, never taken as good, until the operator installs a fresh CRL.
    #[error("revocation status unknown: {0}")]
    RevocationUnknown(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid(_) | Error::Signature(_) => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::TooLarge(_) => 413,
            Error::TooSlow(_) => 408,
            Error::Locked(_) => 429,
            Error::Gone(_) => 410,
            Error::Sealed
            | Error::LogUnavailable(_)
            | Error::StorageFull(_)
            | Error::RevocationUnknown(_)
            | Error::Keystore(hsm_shim::Error::Sealed { .. }) => 503,
            Error::Integrity(_)
            | Error::KeyUnavailable(_)
            | Error::Database(_)
            | Error::Io { .. }
            | Error::Policy(_)
            | Error::Keystore(_)
            | Error::Keymgr(_)
            | Error::Internal(_) => 500,
        }
    }

    /// The stable problem type (RFC 9457 `type`), relative to the node's base URL.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid-request",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden { .. } => "policy-denied",
            Error::NotFound(_) => "not-found",
            Error::Conflict(_) => "conflict",
            Error::TooLarge(_) => "too-large",
            Error::TooSlow(_) => "request-timeout",
            Error::Locked(_) => "locked",
            Error::Gone(_) => "destroyed",
            Error::KeyUnavailable(_) => "key-unavailable",
            Error::Sealed | Error::Keystore(hsm_shim::Error::Sealed { .. }) => "sealed",
            Error::Integrity(_) => "integrity",
            Error::Signature(_) => "bad-signature",
            Error::LogUnavailable(_) => "log-unavailable",
            Error::StorageFull(_) => "storage-full",
            Error::RevocationUnknown(_) => "revocation-unknown",
            Error::Database(_)
            | Error::Io { .. }
            | Error::Policy(_)
            | Error::Keystore(_)
            | Error::Keymgr(_)
            | Error::Internal(_) => "internal",
        }
    }
}
