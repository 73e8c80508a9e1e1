//! docsvc: the sandi document service. Classifies, encrypts (age), signs (CMS), stores (sqlx
//! on SQLite or PostgreSQL) and logs (Merkle access log) classified letters; serves officials
//! and applications over HTTPS. The `docsvc` binary is a thin CLI over this library.
#![forbid(unsafe_code)]

pub mod audit;
pub mod crypto;
pub mod dev;
mod error;
pub mod http;
pub mod letters;
pub mod logging;
pub mod metrics;
pub mod network;
pub mod node;
pub mod officials;
pub mod ops;
pub mod private_files;
pub mod schema;
pub mod signing;
pub mod store;
pub mod transmit;

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

/// Now, to the microsecond, fixed width (so it sorts as text): steps taken within one second
/// (a disposisi and its report, a draft's paraf) keep their order.
pub fn now_micros() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}
