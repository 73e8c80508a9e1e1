//! The access log's heads in the ecosystem's format, so that witnesses and monitors written
//! for Certificate Transparency and the Go checksum database can follow a node: C2SP
//! `tlog-checkpoint` bodies signed as C2SP `signed-note`s with an Ed25519 note key of the
//! node's own (`node-checkpoint` in its keystore, made at the first unseal), and RFC 9162
//! consistency and inclusion proofs between any sizes the log has had.
//!
//! A checkpoint is only signed for the newest head the node's audit key signed (checked here),
//! never for a size below one signed before (`audit-checkpoint.size` beside the log keeps the
//! largest): the note key never vouches for a tree the log did not commit, nor for a log cut
//! back. The entries behind a head are not reread to sign it; witnesses check them through
//! consistency proofs. Proofs read the leaf hashes up to the size asked for and hash them off
//! the async threads, at most [`PROOFS_AT_ONCE`] at a time in a process.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::{Path, PathBuf};

use hsm_shim::KeyStore;
use keymgr::merkle::{self, Hash};
use keymgr::note::{self, empty_root};
pub use keymgr::note::{Opened, Verifier, body, open, parse_vkey};
use serde::Serialize;

use super::head::{head_message, hex32};
use crate::store::Store;
use crate::store::audit_log;
use crate::{Error, Result};

/// The note key's label in the node's keystore.
pub const NOTE_KEY_LABEL: &str = "node-checkpoint";
/// The log's origin line: unique to this node's access log.
pub fn origin(node_id: &str) -> String {
    format!("sandi/{node_id}/access-log")
}

pub use keymgr::note::NoteKey;

/// The file naming the note key's id: written once (create-new), so that every process of a
/// node, and every restart, signs with the same key.
fn key_file(dir: &Path) -> PathBuf {
    dir.join("audit-note.key")
}

/// Finds the note key named in the data directory `dir`, or makes it and names it there. Two
/// processes racing to make it both try to name theirs; the first name written wins and the
/// other key is destroyed.
pub fn load_or_create(keys: &dyn KeyStore, node_id: &str, dir: &Path) -> Result<NoteKey> {
    Ok(note::load_or_create(
        keys,
        NOTE_KEY_LABEL,
        &origin(node_id),
        &key_file(dir),
    )?)
}

/// A stored head's size and root, once the audit key's signature over it holds.
fn signed_head(head: &audit_log::StoredHead, audit_spki: &[u8]) -> Result<(u64, Hash)> {
    let size =
        u64::try_from(head.size).map_err(|_| Error::Integrity("a head of negative size".into()))?;
    let signed = B64.decode(&head.signature).ok().is_some_and(|sig| {
        hsm_shim::verify_signature(
            audit_spki,
            hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
            &head_message(size, &head.root, &head.at),
            &sig,
        )
        .is_ok()
    });
    let root = hex32(&head.root).filter(|_| signed).ok_or_else(|| {
        Error::Integrity(format!(
            "the access log's head for size {size} is not signed by this node's audit key"
        ))
    })?;
    Ok((size, root))
}

/// The newest head as a signed checkpoint, once the audit key's signature over it holds
/// (`audit_spki`) and it is no smaller than any checkpoint signed before (`dir`).
pub async fn latest(
    store: &Store,
    keys: &dyn KeyStore,
    note: &NoteKey,
    audit_spki: &[u8],
    dir: &Path,
) -> Result<String> {
    // An empty log: size 0, the hash of the empty string (RFC 9162 2.1.1).
    let (size, root) = if let Some(head) = audit_log::newest_head(store).await? {
        signed_head(&head, audit_spki)?
    } else {
        (0, empty_root())
    };
    let high = dir.join("audit-checkpoint.size");
    let before: u64 = std::fs::read_to_string(&high)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if size < before {
        return Err(Error::Integrity(format!(
            "the access log has {size} entries, but this node signed a checkpoint of {before}: \
             the log was cut back"
        )));
    }
    if size > before {
        let tmp = high.with_extension("tmp");
        std::fs::write(&tmp, format!("{size}\n"))
            .and_then(|()| std::fs::rename(&tmp, &high))
            .map_err(|e| Error::io("writing", &high, e))?;
    }
    Ok(note.checkpoint(keys, size, &root)?)
}

/// This node's cosignature line over a checkpoint's `text` at `time` (seconds since the
/// epoch), as a witness named `name`, with the note key (C2SP tlog-cosignature/v1).
pub fn cosignature(
    keys: &dyn KeyStore,
    key: &NoteKey,
    name: &str,
    text: &str,
    time: u64,
) -> Result<String> {
    Ok(key.cosign(keys, name, text, time)?)
}

/// An RFC 9162 proof: hashes in base64, as the checkpoint's root is.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Consistency {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<String>,
}

/// The consistency proof from size `first` to size `second` (`0 < first <= second <= size`).
pub async fn consistency(store: &Store, first: u64, second: u64) -> Result<Consistency> {
    let _turn = PROOFS.acquire().await.map_err(|_| Error::Sealed)?;
    let (m, n) = sizes("first", first, second, logged(store).await?)?;
    let leaves = leaves(store, n).await?;
    let proof = tokio::task::spawn_blocking(move || merkle::consistency_proof(&leaves, m))
        .await
        .map_err(|e| Error::Database(e.to_string()))?
        .ok_or_else(|| Error::invalid("first", "no consistency proof between these sizes"))?;
    Ok(Consistency {
        first,
        second,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    })
}

/// An inclusion proof of entry `index` in the tree of size `size`, with the entry's bytes
/// (the leaf is their RFC 9162 hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inclusion {
    pub index: u64,
    pub size: u64,
    /// The entry as stored (JSON text): the leaf's data.
    pub entry: String,
    pub proof: Vec<String>,
}

/// The proof that entry `index` is in the tree of size `size`.
pub async fn inclusion(store: &Store, index: u64, size: u64) -> Result<Inclusion> {
    let _turn = PROOFS.acquire().await.map_err(|_| Error::Sealed)?;
    let (_, n) = sizes("size", 1, size, logged(store).await?)?;
    let i = usize::try_from(index)
        .ok()
        .filter(|i| *i < n)
        .ok_or_else(|| {
            Error::invalid(
                "index",
                format!("the tree of size {size} has no entry {index}"),
            )
        })?;
    let leaves = leaves(store, n).await?;
    let leaf = leaves[i];
    let proof = tokio::task::spawn_blocking(move || merkle::inclusion_proof(&leaves, i))
        .await
        .map_err(|e| Error::Database(e.to_string()))?
        .ok_or_else(|| Error::invalid("index", "no inclusion proof for this entry"))?;
    let entry = audit_log::entry_text(store, i64::try_from(index).unwrap_or(i64::MAX))
        .await?
        .ok_or_else(|| Error::Integrity(format!("access log entry {index} is missing")))?;
    if merkle::leaf_hash(entry.as_bytes()) != leaf {
        return Err(Error::Integrity(format!(
            "access log entry {index} does not match its leaf hash"
        )));
    }
    Ok(Inclusion {
        index,
        size,
        entry,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    })
}

/// Proofs computed at once in this process: each holds up to the whole log's leaf hashes.
pub const PROOFS_AT_ONCE: usize = 2;
static PROOFS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PROOFS_AT_ONCE);

/// How many entries the log has, by its newest signed head.
async fn logged(store: &Store) -> Result<usize> {
    Ok(audit_log::newest_head(store)
        .await?
        .map_or(0, |h| usize::try_from(h.size).unwrap_or(0)))
}

/// Two sizes as indexes: `0 < first <= second <= have`; `what` names the field a bad first
/// size came in.
fn sizes(what: &'static str, first: u64, second: u64, have: usize) -> Result<(usize, usize)> {
    let m = usize::try_from(first).unwrap_or(usize::MAX);
    let n = usize::try_from(second).unwrap_or(usize::MAX);
    if m == 0 || m > n {
        return Err(Error::invalid(
            what,
            "sizes must satisfy 0 < first <= second",
        ));
    }
    if n > have {
        return Err(Error::invalid(
            "second",
            format!("the log has {have} entries, not {second}"),
        ));
    }
    Ok((m, n))
}

/// The first `n` leaf hashes; fewer stored is an integrity incident (the heads say more).
async fn leaves(store: &Store, n: usize) -> Result<Vec<Hash>> {
    let leaves: Vec<Hash> =
        audit_log::leaf_hashes_upto(store, i64::try_from(n).unwrap_or(i64::MAX))
            .await?
            .iter()
            .map(|h| hex32(h))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Integrity("an access log leaf hash is not hex".into()))?;
    if leaves.len() != n {
        return Err(Error::Integrity(format!(
            "the access log holds {} of the {n} entries its head signed",
            leaves.len()
        )));
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_three_lines() {
        let b = body("o", 5, &[0u8; 32]);
        assert_eq!(b, format!("o\n5\n{}\n", B64.encode([0u8; 32])));
        assert!(sizes("first", 0, 1, 1).is_err());
        assert!(sizes("first", 2, 1, 5).is_err());
        assert!(sizes("first", 1, 6, 5).is_err());
        assert_eq!(sizes("first", 1, 5, 5).expect("fine"), (1, 5));
    }
}
