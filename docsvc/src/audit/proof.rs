//! Inclusion proofs: an entry and the path that ties it to the current signed head.

use keymgr::merkle::{self, Hash};
use serde::Serialize;

use super::head::hex32;
use super::{Entry, TreeHead};
use crate::store::Store;
use crate::store::audit_log;
use crate::{Error, Result};

/// An inclusion proof for entry `seq` against the current tree.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Proof {
    pub seq: u64,
    pub size: u64,
    pub leaf_hash: String,
    pub root: String,
    pub path: Vec<String>,
    pub head: TreeHead,
}

/// The entry at `seq`, if there is one.
pub async fn entry_at(store: &Store, seq: u64) -> Result<Option<Entry>> {
    let seq = i64::try_from(seq).map_err(|_| Error::NotFound(format!("log entry {seq}")))?;
    audit_log::entry_text(store, seq)
        .await?
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| Error::Integrity(format!("audit entry {seq}: {e}")))
        })
        .transpose()
}

pub async fn proof(store: &Store, seq: u64) -> Result<Proof> {
    let leaves: Vec<Hash> = audit_log::leaf_hashes(store)
        .await?
        .iter()
        .map(|h| hex32(h))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Integrity("an audit leaf hash is not hex".into()))?;
    let index = usize::try_from(seq).map_err(|_| Error::NotFound(format!("audit entry {seq}")))?;
    let path = merkle::inclusion_proof(&leaves, index)
        .ok_or_else(|| Error::NotFound(format!("audit entry {seq}")))?;
    let head: TreeHead =
        audit_log::head_of_size(store, i64::try_from(leaves.len()).unwrap_or(i64::MAX))
            .await?
            .into();
    Ok(Proof {
        seq,
        size: leaves.len() as u64,
        leaf_hash: hex::encode(leaves[index]),
        root: hex::encode(merkle::root(&leaves)),
        path: path.iter().map(hex::encode).collect(),
        head,
    })
}
