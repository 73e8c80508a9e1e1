//! A signed tree head: what the audit key signs over, and a head as the database keeps it.

use keymgr::merkle::Hash;
use serde::{Deserialize, Serialize};

use crate::store::audit_log::StoredHead;

/// A signed tree head.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TreeHead {
    pub size: u64,
    pub root: String,
    pub at: String,
    pub key_id: String,
    pub signature: String,
}

impl From<StoredHead> for TreeHead {
    fn from(h: StoredHead) -> Self {
        TreeHead {
            size: u64::try_from(h.size).unwrap_or(0),
            root: h.root,
            at: h.at,
            key_id: h.key_id,
            signature: h.signature,
        }
    }
}

/// The bytes the audit key signs for a head.
pub(super) fn head_message(size: u64, root: &str, at: &str) -> Vec<u8> {
    format!("sandi-audit-head-v1\0{size}\0{root}\0{at}").into_bytes()
}

/// A stored hash, in the one encoding the node writes (lowercase hex), so that no other
/// spelling of the same bytes passes as the stored value.
pub(super) fn hex32(s: &str) -> Option<Hash> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}
