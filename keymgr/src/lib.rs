//! keymgr: the sandi network's certificate authority, key ceremonies, issuance, rotation and
//! revocation, over hsm-shim. The `keymgr` binary is a thin CLI over this library.
#![forbid(unsafe_code)]

pub mod api;
pub mod berita_acara;
pub mod ca;
pub mod ca_cache;
pub mod ceremony;
pub mod countersign;
pub mod directory;
mod error;
mod group_commit;
pub mod inventory;
pub mod issue;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod ocsp;
pub mod oid_arc;
pub mod online;
pub mod publication;
pub mod publish;
mod records;
pub mod revoke;
pub mod shares;
mod sign_pool;
mod signer;
mod store;
pub mod tlog;
pub mod transcript;
pub mod tsa;

pub use error::{Error, Result};
pub use signer::{HsmSigner, Keys};
