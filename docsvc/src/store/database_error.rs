//! How a database error becomes docsvc's [`Error`]: here, beside the only code that talks to
//! the database.

use crate::Error;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // SQLITE_FULL (13) and PostgreSQL's disk_full (53100): the operator's problem, not a
        // bug, and over once space is freed.
        if let sqlx::Error::Database(d) = &e {
            if matches!(d.code().as_deref(), Some("13" | "53100")) {
                return Error::StorageFull(d.message().to_owned());
            }
        }
        Error::Database(e.to_string())
    }
}
