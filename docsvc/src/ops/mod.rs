//! Operations on a node's data directory: sealed backups and their restore, and re-issuing the
//! node's TLS key.

pub mod backup;
mod backup_content;
mod backup_files;
mod backup_schema;
pub mod backup_seal;
pub mod tls_reissue;
