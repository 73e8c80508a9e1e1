//! Cryptography over the node's keys: age envelopes, CMS signatures and receipts and their
//! verification, revocation (CRLs), RFC 3161 time-stamps on signatures and TLS.

pub mod envelope;
mod kind;
pub mod pades;
mod payload;
pub mod receipt;
mod remembered;
pub mod revocation;
pub mod signature;
pub mod tbs;
pub mod timestamp;
pub mod tls;

/// SHA-256 of `bytes`: what certificates, bindings and answers are found and compared by.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// [`sha256`] as lowercase hex, as the database and the logs name things.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}
