//! The inventory's records: a certificate as issued and its lifecycle state, with timestamps and
//! serials spelled as they are stored. Plain data, below both the inventory and its store.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ca::Ca;
use crate::{Error, Result};

/// A certificate's lifecycle state in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    Active,
    /// A newer version was issued; still valid until it expires (the overlap window).
    Superseded,
    Revoked,
}

impl CertState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CertState::Active => "active",
            CertState::Superseded => "superseded",
            CertState::Revoked => "revoked",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(CertState::Active),
            "superseded" => Ok(CertState::Superseded),
            "revoked" => Ok(CertState::Revoked),
            other => Err(Error::Database(format!(
                "unknown certificate state {other:?}"
            ))),
        }
    }
}

/// One issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertRecord {
    /// Hex, lowercase, no separators.
    pub serial: String,
    /// The logical subject across versions: `node:<id>`, `official:<nip>`, `app:<name>`, `ca:network`.
    pub subject_id: String,
    pub profile: String,
    pub version: i64,
    pub subject: String,
    pub issuer: Ca,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub key_id: Option<String>,
    pub certificate_sha256: String,
    #[serde(skip)]
    pub der: Vec<u8>,
    pub state: CertState,
    pub issued_at: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// The request it was issued from (JSON), so that it can be renewed.
    pub request: String,
}

impl CertRecord {
    pub fn state_str(&self) -> &'static str {
        self.state.as_str()
    }
}

/// RFC 3339 in UTC at second precision: sorts as text.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| Error::Database(format!("bad timestamp {s:?}")))
}

/// Serials are stored as lowercase hex without separators.
pub fn normalise_serial(s: &str) -> String {
    s.trim().to_lowercase().replace(':', "")
}
