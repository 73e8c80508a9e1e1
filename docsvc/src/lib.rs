//! docsvc: the sandi document service. Classifies, encrypts (age), signs (CMS), stores (sqlx
//! on SQLite or PostgreSQL) and logs (Merkle access log) classified letters; serves officials
//! and applications over HTTPS. The `docsvc` binary is a thin CLI over this library.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod applications;
pub mod approvals;
pub mod audit;
pub mod backup;
mod backup_files;
mod backup_schema;
pub mod backup_seal;
pub mod bench;
pub mod client;
pub mod content;
pub mod delegation;
pub mod directory;
pub mod documents;
pub mod envelope;
mod error;
pub mod http_limits;
pub mod integrity;
pub mod lifecycle;
pub mod lockout;
pub mod metrics;
pub mod network;
pub mod node;
pub mod official_changes;
mod official_row;
pub mod private_files;
pub mod quickstart;
pub mod receive;
pub mod recipient;
pub mod refusals;
pub mod revocation;
pub mod rewrap;
pub mod security_headers;
pub mod server;
pub mod session;
pub mod signature;
pub mod signing;
pub mod soak;
pub mod store;
pub mod tls;
pub mod tls_reissue;
pub mod transmit;
pub mod web;

pub use error::{Error, Result};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A time as RFC 3339, whole seconds, UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}
