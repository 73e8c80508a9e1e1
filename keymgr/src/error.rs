//! The one error type of keymgr.

use std::path::PathBuf;

/// What a keymgr operation can refuse or fail with. Messages name the file, the custodian or
/// the certificate concerned and never carry shares, passphrases or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key store refused or failed (sealed, wrong share, corrupted key file, ...).
    #[error(transparent)]
    Keystore(#[from] hsm_shim::Error),

    /// The ceremony's roles break the rules (a person in two roles, no witness, ...).
    #[error("ceremony roles: {0}")]
    Roles(String),

    /// A custodian's share file could not be opened with what was given.
    #[error("share file {path}: wrong passphrase or identity")]
    WrongPassphrase { path: PathBuf },

    /// A share file that is damaged, not a share file, or not ours.
    #[error("share file {path}: {reason}")]
    ShareFile { path: PathBuf, reason: String },

    /// A share file from a different ceremony (another CA).
    #[error("share file {path} belongs to ceremony {found}, not to this CA's ceremony {expected}")]
    ShareFromOtherCeremony {
        path: PathBuf,
        found: uuid::Uuid,
        expected: uuid::Uuid,
    },

    /// The same custodian's share was given twice.
    #[error("share file {path}: custodian #{index}'s share was already given")]
    DuplicateShare { path: PathBuf, index: u8 },

    /// Fewer valid shares than the threshold.
    #[error("quorum not met: {provided} of {threshold} shares given; nothing was done")]
    QuorumNotMet { provided: usize, threshold: usize },

    /// A root ceremony needs the root keystore, and it is not where it was looked for.
    #[error("the root keystore is not at {}: bring its removable media and give --root-home", .0.display())]
    RootKeystoreAway(PathBuf),

    /// The CA home has not been initialised by a ceremony.
    #[error("{0} holds no CA: run `keymgr ceremony init` first")]
    NotInitialised(PathBuf),

    /// A ceremony would overwrite an existing CA.
    #[error("{0} already holds a CA")]
    AlreadyInitialised(PathBuf),

    /// A transcript that does not verify; `entry` names the first bad entry.
    #[error("transcript {}: {reason}", entry.map_or_else(|| "signature".to_string(), |e| format!("entry {e}")))]
    Transcript {
        entry: Option<usize>,
        reason: String,
    },

    /// A countersignature on a ceremony transcript that is refused, and why.
    #[error("countersignature of {signer} refused: {refusal}")]
    Countersignature {
        signer: String,
        #[source]
        refusal: crate::countersign::Refusal,
    },

    /// A transcript that not everyone on its roster has validly countersigned (who, and why).
    #[error("the transcript is not countersigned by everyone on its roster: {0}")]
    NotCountersigned(String),

    /// The transparency log does not verify; `entry` names the first bad entry.
    #[error("log entry {entry}: {reason}")]
    Log { entry: usize, reason: String },

    /// A certificate request whose signature does not match, or that cannot be parsed.
    #[error("certificate request rejected: {0}")]
    Csr(String),

    /// No certificate with this serial number.
    #[error("no certificate with serial {0}")]
    UnknownSerial(String),

    /// No entry of the issuance log issued this certificate.
    #[error("not in the issuance log: {0}")]
    NotInLog(String),

    /// The issuing CA's certificate has expired (or is not yet valid).
    #[error("the {ca} certificate is not valid now (valid until {not_after})")]
    CaExpired { ca: String, not_after: String },

    /// The inventory database refused or failed.
    #[error("inventory database: {0}")]
    Database(String),

    /// Certificate building or signing failed.
    #[error("certificate: {0}")]
    Certificate(String),

    /// A time-stamp request, response or token that is malformed, refused or does not verify.
    #[error("time-stamp: {0}")]
    Timestamp(String),

    /// Input that makes no sense (bad name, bad NIP, bad SAN, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The publication service (CA certificates, CRLs, OCSP over HTTP) could not start or run.
    #[error("publication service: {0}")]
    Publication(String),

    /// The online CA is sealed: the custodians have not all given their shares since it
    /// started, so nothing is signed yet.
    #[error("the online CA is sealed: {provided} of {threshold} shares given")]
    Sealed { provided: usize, threshold: usize },

    /// The caller may not do this (not a node, not an operator, another node's agency, ...).
    #[error("not permitted: {0}")]
    NotPermitted(String),

    /// An enrolment token that is unknown, already used or expired: nothing was issued.
    #[error("enrolment refused: {0}")]
    Enrolment(String),

    /// The request conflicts with what is recorded (a proposal already approved, approved by
    /// its own proposer, ...).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The group commit of issuance failed: no certificate of the batch was handed out.
    #[error("issuance not committed, no certificate handed out: {0}")]
    NotCommitted(String),

    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

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

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Certificate(e.to_string())
    }
}
