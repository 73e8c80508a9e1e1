//! Cryptography over the node's keys: age envelopes, CMS signatures and receipts and their
//! verification, revocation (CRLs), RFC 3161 time-stamps on signatures and TLS.

pub mod envelope;
mod kind;
pub mod pades;
pub mod receipt;
mod remembered;
pub mod revocation;
pub mod signature;
pub mod tbs;
pub mod timestamp;
pub mod tls;
