//! `audit verify`: the whole log recomputed from its entries, every stored head and every head
//! of the heads file checked against it, the first bad entry or head named.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keymgr::merkle::{self, Frontier, Hash};
use serde::{Deserialize, Serialize};

use super::head::head_message;
use super::{Entry, TreeHead};
use crate::store::Store;
use crate::store::audit_log::{self, StoredEntry};
use crate::{Error, Result};

/// What `audit verify` found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub entries: u64,
    pub heads_checked: u64,
    pub file_heads_checked: u64,
    /// Heads in the file whose transaction never committed (a crash or a failed commit).
    pub uncommitted_heads: u64,
    pub root: String,
}

/// A line of the heads file: a head written before its transaction commits, the mark written
/// after it did, or (files of earlier versions) a bare head written after the commit.
#[derive(Deserialize)]
#[serde(untagged)]
enum Published {
    Committed { committed: u64, root: String },
    Pending { pending: TreeHead },
    Legacy(TreeHead),
}

/// The heads file's heads that stand for committed transactions (in size order), and how many
/// never committed. A head counts as committed if it is a bare head, if its mark is in the
/// file, or if the database holds it (a crash between commit and mark).
fn published_heads(path: &std::path::Path, stored: &[TreeHead]) -> Result<(Vec<TreeHead>, u64)> {
    let text = match std::fs::read_to_string(path) {
        // A log with no head yet has had nothing to publish.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && stored.is_empty() => {
            Ok(String::new())
        }
        r => r,
    };
    let text = text.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Integrity(format!(
                "the heads file {} is missing: the database holds {} signed heads, the newest \
                 for size {}, that must also be there; the log cannot be checked against it",
                path.display(),
                stored.len(),
                stored.last().map_or(0, |h| h.size)
            ))
        } else {
            Error::Integrity(format!("the heads file {}: {e}", path.display()))
        }
    })?;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        lines.push(serde_json::from_str::<Published>(line).map_err(|_| {
            Error::Integrity(format!("{}:{}: not a tree head", path.display(), n + 1))
        })?);
    }
    let marks: std::collections::HashSet<(u64, &str)> = lines
        .iter()
        .filter_map(|l| match l {
            Published::Committed { committed, root } => Some((*committed, root.as_str())),
            _ => None,
        })
        .collect();
    let in_db: std::collections::HashSet<(u64, &str)> =
        stored.iter().map(|h| (h.size, h.root.as_str())).collect();
    let mut heads = Vec::new();
    let mut uncommitted = 0u64;
    for l in &lines {
        match l {
            Published::Legacy(h) => heads.push(h.clone()),
            Published::Pending { pending: h } => {
                let key = (h.size, h.root.as_str());
                if marks.contains(&key) || in_db.contains(&key) {
                    heads.push(h.clone());
                } else {
                    uncommitted += 1;
                }
            }
            Published::Committed { .. } => {}
        }
    }
    heads.sort_by_key(|h| h.size);
    Ok((heads, uncommitted))
}

/// Every entry's leaf hash, each recomputed from the entry and checked.
async fn checked_leaves(store: &Store) -> Result<Vec<Hash>> {
    let rows = audit_log::entries(store).await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let StoredEntry {
            seq,
            entry,
            leaf_hash: stored,
        } = row;
        let seq = *seq;
        if usize::try_from(seq).ok() != Some(i) {
            return Err(Error::Integrity(format!(
                "audit entry {i} is missing (next stored entry is {seq})"
            )));
        }
        let leaf = merkle::leaf_hash(entry.as_bytes());
        if hex::encode(leaf) != *stored {
            return Err(Error::Integrity(format!(
                "audit entry {seq} was changed: its hash does not match"
            )));
        }
        if serde_json::from_str::<Entry>(entry).is_err() {
            return Err(Error::Integrity(format!(
                "audit entry {seq} is not a log entry"
            )));
        }
        leaves.push(leaf);
    }
    Ok(leaves)
}

/// The roots of the log's first `sizes` entries, recomputed from the entries (each `None`
/// past the log's end).
pub async fn roots_at(store: &Store, sizes: &[u64]) -> Result<Vec<Option<Hash>>> {
    let leaves = checked_leaves(store).await?;
    Ok(sizes
        .iter()
        .map(|n| {
            usize::try_from(*n)
                .ok()
                .filter(|n| *n <= leaves.len())
                .map(|n| merkle::root(&leaves[..n]))
        })
        .collect())
}

/// Recomputes the whole log and checks every stored head and every head in `heads_file`
/// against it; names the first bad entry or head. `audit_spki` is the audit key's public key.
pub async fn verify(
    store: &Store,
    audit_spki: &[u8],
    heads_file: Option<&std::path::Path>,
) -> Result<Report> {
    let leaves = checked_leaves(store).await?;
    let stored: Vec<TreeHead> = audit_log::heads(store)
        .await?
        .into_iter()
        .map(TreeHead::from)
        .collect();
    let mut checked = 0u64;
    let mut frontier = Frontier::default();
    let check = |head: &TreeHead, frontier: &mut Frontier, origin: &str| -> Result<()> {
        let size = usize::try_from(head.size).unwrap_or(usize::MAX);
        if size > leaves.len() {
            return Err(Error::Integrity(format!(
                "{origin} head for size {} is beyond the log ({} entries): entries were deleted",
                head.size,
                leaves.len()
            )));
        }
        while frontier.size < head.size {
            let i = usize::try_from(frontier.size).unwrap_or(usize::MAX);
            frontier.push(leaves[i]);
        }
        if hex::encode(frontier.root()) != head.root {
            return Err(Error::Integrity(format!(
                "{origin} head for size {} does not match the entries: an entry up to {} was changed or replaced",
                head.size,
                head.size.saturating_sub(1)
            )));
        }
        let sig = B64.decode(&head.signature).map_err(|_| {
            Error::Integrity(format!("{origin} head {} signature unreadable", head.size))
        })?;
        hsm_shim::verify_signature(
            audit_spki,
            hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
            &head_message(head.size, &head.root, &head.at),
            &sig,
        )
        .map_err(|_| {
            Error::Integrity(format!(
                "{origin} head for size {} is not signed by this node's audit key",
                head.size
            ))
        })?;
        Ok(())
    };
    for head in &stored {
        check(head, &mut frontier, "stored")?;
        checked += 1;
    }
    if frontier.size != leaves.len() as u64 {
        return Err(Error::Integrity(format!(
            "audit entries after {} have no signed head",
            frontier.size
        )));
    }
    let mut file_checked = 0u64;
    let mut uncommitted = 0u64;
    if let Some(path) = heads_file {
        let (published, never) = published_heads(path, &stored)?;
        uncommitted = never;
        // In size order (processes of one node publish out of order), each head against
        // one recomputation that moves forward: linear in the log, not quadratic.
        let mut f = Frontier::default();
        for head in &published {
            check(head, &mut f, "published")?;
            file_checked += 1;
        }
        // Each transaction's last head went to the file before it committed, so the newest
        // head of the database is there unless the file lost heads.
        if let Some(newest) = stored.last() {
            if !published
                .iter()
                .any(|h| h.size == newest.size && h.root == newest.root)
            {
                return Err(Error::Integrity(format!(
                    "the heads file {} holds fewer heads than the database: its newest is for \
                     size {}, the database's for size {}; heads were removed from the file or \
                     never written to it",
                    path.display(),
                    published.last().map_or(0, |h| h.size),
                    newest.size
                )));
            }
        }
    }
    Ok(Report {
        entries: leaves.len() as u64,
        heads_checked: checked,
        file_heads_checked: file_checked,
        uncommitted_heads: uncommitted,
        root: hex::encode(merkle::root(&leaves)),
    })
}
