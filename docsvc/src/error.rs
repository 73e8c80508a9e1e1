//! docsvc's one error type. Each error has a stable problem type and an HTTP status, both
//! decided here and nowhere else; nothing secret goes into a message.

use std::path::PathBuf;

/// What a docsvc operation can refuse or fail with. Each variant says what failed and on
/// what; the client reads the message as the problem's `detail`, except for problem type
/// "internal" (those stay in the operator's log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input from a client or an operator: `what` names the input concerned (a field, a
    /// file, a header); `reason` is the whole message the client reads.
    #[error("{reason}")]
    InvalidInput { what: &'static str, reason: String },
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
    /// The same work is under way already, or too much of it: the caller tries again later
    /// (503, so that a peer's delivery worker retries rather than giving up).
    #[error("busy: {0}")]
    Busy(String),
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
    /// No time-stamp could be had from the TSA for a signature: the action that needed it
    /// fails closed (nothing is stored) until the TSA answers again.
    #[error("no time-stamp from the TSA: {0}")]
    TimestampUnavailable(String),
    /// Serialising a value the node built itself failed (serde_json, toml).
    #[error("encoding {what}: {detail}")]
    Encode { what: &'static str, detail: String },
    /// An integer that does not fit the type it is stored or computed in.
    #[error("{what} is out of range")]
    OutOfRange { what: &'static str },
    /// age could not set up or finish an encryption or decryption.
    #[error("{op} with age: {detail}")]
    Age { op: &'static str, detail: String },
    /// A cryptographic step other than age refused its inputs (HKDF, argon2, a CSR, TLS).
    #[error("{op}: {detail}")]
    Crypto { op: &'static str, detail: String },
    /// A spawned task failed or vanished before it answered.
    #[error("{what} task: {detail}")]
    Task { what: &'static str, detail: String },
    /// The operating system gave no random bytes.
    #[error("the system's random number generator failed")]
    NoRandomness,
    /// A key or certificate the node should hold is not there.
    #[error("no {what}")]
    MissingKey { what: String },
    /// A row written in this very operation could not be read back.
    #[error("{what} {id} vanished after it was written")]
    Vanished { what: &'static str, id: String },
    /// Something the code guarantees did not hold: a bug.
    #[error("broken invariant: {what}")]
    Invariant { what: &'static str },
    /// A step of an HTTP exchange with another node (`peer`, its address) failed.
    #[error("{op} with {peer}: {detail}")]
    Exchange {
        op: &'static str,
        peer: String,
        detail: String,
    },
    /// The online CA (`keymgr serve`) answered with a problem: what it said, as it said it.
    #[error("the online CA refused ({status} {problem}): {detail}")]
    CaRefused {
        status: u16,
        problem: String,
        detail: String,
    },
    /// A development tool (`bench`, `soak`) could not set up or run its measurement.
    #[error("{tool}: {detail}")]
    Tool { tool: &'static str, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input named by `what`; `reason` is the whole message the client reads.
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Serialising `what` failed.
    pub fn encode(what: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Encode {
            what,
            detail: e.to_string(),
        }
    }

    /// age failed while `op`.
    pub fn age(op: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Age {
            op,
            detail: e.to_string(),
        }
    }

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
            Error::InvalidInput { .. } | Error::Signature(_) => 400,
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
            | Error::Busy(_)
            | Error::RevocationUnknown(_)
            | Error::TimestampUnavailable(_)
            | Error::Keystore(hsm_shim::Error::Sealed { .. }) => 503,
            Error::Integrity(_)
            | Error::KeyUnavailable(_)
            | Error::Database(_)
            | Error::Io { .. }
            | Error::Policy(_)
            | Error::Keystore(_)
            | Error::Keymgr(_)
            | Error::Encode { .. }
            | Error::OutOfRange { .. }
            | Error::Age { .. }
            | Error::Crypto { .. }
            | Error::Task { .. }
            | Error::NoRandomness
            | Error::MissingKey { .. }
            | Error::Vanished { .. }
            | Error::Invariant { .. }
            | Error::Exchange { .. }
            | Error::Tool { .. } => 500,
            Error::CaRefused { .. } => 502,
        }
    }

    /// The stable problem type (RFC 9457 `type`), relative to the node's base URL.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid-request",
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
            Error::Busy(_) => "busy",
            Error::RevocationUnknown(_) => "revocation-unknown",
            Error::TimestampUnavailable(_) => "timestamp-unavailable",
            Error::Database(_)
            | Error::Io { .. }
            | Error::Policy(_)
            | Error::Keystore(_)
            | Error::Keymgr(_)
            | Error::Encode { .. }
            | Error::OutOfRange { .. }
            | Error::Age { .. }
            | Error::Crypto { .. }
            | Error::Task { .. }
            | Error::NoRandomness
            | Error::MissingKey { .. }
            | Error::Vanished { .. }
            | Error::Invariant { .. }
            | Error::Exchange { .. }
            | Error::Tool { .. } => "internal",
            Error::CaRefused { .. } => "ca-refused",
        }
    }
}
#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn invalid_input_reads_as_its_reason_alone() {
        let e = Error::invalid("nomor", "nomor must be 1-100 characters");
        assert_eq!(e.to_string(), "nomor must be 1-100 characters");
        assert_eq!((e.status(), e.problem_type()), (400, "invalid-request"));
    }

    #[test]
    fn typed_internal_errors_answer_500_internal() {
        for e in [
            Error::encode("a manifest", "boom"),
            Error::OutOfRange {
                what: "a part index",
            },
            Error::age("encrypting a part", "boom"),
            Error::Crypto {
                op: "hashing a secret",
                detail: "boom".into(),
            },
            Error::Task {
                what: "export",
                detail: "boom".into(),
            },
            Error::NoRandomness,
            Error::MissingKey {
                what: "node certificate".into(),
            },
            Error::Vanished {
                what: "change",
                id: "c1".into(),
            },
            Error::Invariant { what: "a bug" },
            Error::Exchange {
                op: "sending a request",
                peer: "127.0.0.1:1".into(),
                detail: "boom".into(),
            },
            Error::Tool {
                tool: "bench",
                detail: "boom".into(),
            },
        ] {
            assert_eq!((e.status(), e.problem_type()), (500, "internal"), "{e}");
        }
    }
}
