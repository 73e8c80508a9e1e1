//! The issuance log's heads in the ecosystem's format, so that nodes (and any witness or
//! monitor written for Certificate Transparency) can follow keymgr: C2SP `tlog-checkpoint`s
//! signed with an Ed25519 note key of the online keystore (`issuance-log-note`, named in
//! `log/note.key`, its verifier key in `log/note.vkey`), RFC 9162 consistency proofs between
//! any two sizes, and a certificate's inclusion proof found by its SHA-256.
//!
//! A checkpoint is signed only for the newest head the log key signed (checked against the
//! keystore's own public key, not the log's key list) whose root the entries on disk give
//! again, and never for a size below one signed before (`log/checkpoint.size`): the note key
//! never vouches for a tree the log did not commit, nor for a log cut back.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyStore, verify_signature};
use serde::{Deserialize, Serialize};

use super::{APPEND, Log, TreeHead, head_message, read_lines};
use crate::merkle::{self, Hash};
use crate::note::{self, NoteKey};
use crate::{Error, Result};

/// The note key's label in the online keystore.
pub const NOTE_KEY_LABEL: &str = "issuance-log-note";
/// The issuance log's origin line (and its note key's name).
pub const ORIGIN: &str = "sandi/keymgr/issuance-log";

/// The first line of keymgr's signed statement that a hash is not in its first N entries
/// (a 404 of `/log/certificates/{sha256}`): the checkpoint's shape, the hash where the root is.
pub const ABSENT_ORIGIN: &str = "sandi/keymgr/issuance-log/absent";

/// An RFC 9162 consistency proof, hashes in base64 as the checkpoint's root is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<String>,
}

/// A certificate's entry in the log and the proof that it is in the tree of `size`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inclusion {
    pub index: u64,
    pub size: u64,
    /// The entry as logged (one JSON line): the leaf's data, naming the certificate's hash.
    pub entry: String,
    pub proof: Vec<String>,
}

fn log_error(reason: impl Into<String>) -> Error {
    Error::Log {
        entry: 0,
        reason: reason.into(),
    }
}

impl Log {
    fn note_key_file(&self) -> PathBuf {
        self.dir.join("note.key")
    }

    /// The log's note key, made at first use; its verifier key is kept in `log/note.vkey`
    /// for operators to hand to witnesses.
    pub fn note_key(&self, store: &dyn KeyStore) -> Result<NoteKey> {
        let key = note::load_or_create(store, NOTE_KEY_LABEL, ORIGIN, &self.note_key_file())?;
        let vkey_path = self.dir.join("note.vkey");
        let vkey = format!("{}\n", key.vkey());
        if std::fs::read_to_string(&vkey_path).ok().as_deref() != Some(vkey.as_str()) {
            crate::ca::write_file(&vkey_path, vkey.as_bytes())?;
        }
        Ok(key)
    }

    /// The newest signed head's size and root, once the keystore's own key for it verifies
    /// its signature and the entries give its root again. An empty log: size 0 and the hash
    /// of nothing.
    fn committed_head(&self, store: &dyn KeyStore) -> Result<(u64, Hash)> {
        let Some(last) = read_lines(&self.heads_path())?.pop() else {
            return Ok((0, note::empty_root()));
        };
        let head: TreeHead = serde_json::from_str(&last)
            .map_err(|_| log_error("the newest tree head is not readable"))?;
        let spki = store.public_key(&store.info(head.key)?.handle())?;
        let sig = B64.decode(&head.signature).unwrap_or_default();
        let msg = head_message(
            head.size,
            &head.root,
            &head.time,
            head.key,
            head.key_version,
        );
        if verify_signature(&spki, head.algorithm, &msg, &sig).is_err() {
            return Err(log_error(
                "the newest tree head is not signed by the log key",
            ));
        }
        let (frontier, _) = self.frontier()?;
        let size = u64::try_from(head.size).map_err(|_| log_error("log too large"))?;
        if frontier.size != size || hex::encode(frontier.root()) != head.root {
            return Err(log_error(format!(
                "the entries on disk do not give the newest signed head ({size} entries)"
            )));
        }
        Ok((size, frontier.root()))
    }

    /// The newest head as a checkpoint signed with the note key.
    pub fn checkpoint(&self, store: &dyn KeyStore) -> Result<String> {
        let key = self.note_key(store)?;
        let _one = APPEND
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (size, root) = self.committed_head(store)?;
        let high = self.dir.join("checkpoint.size");
        let before: u64 = std::fs::read_to_string(&high)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if size < before {
            return Err(log_error(format!(
                "the log has {size} entries, but a checkpoint of {before} was signed: the log \
                 was cut back"
            )));
        }
        if size > before {
            crate::ca::write_file(&high, format!("{size}\n").as_bytes())?;
        }
        key.checkpoint(store, size, &root)
    }

    /// The leaf hashes of the first `n` entries, `n` at most the newest signed head's size.
    fn leaves_upto(&self, n: u64) -> Result<Vec<Hash>> {
        let signed = read_lines(&self.heads_path())?
            .pop()
            .and_then(|l| serde_json::from_str::<TreeHead>(&l).ok())
            .map_or(0, |h| h.size);
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= signed)
            .ok_or_else(|| {
                Error::InvalidInput(format!("the log's signed size is {signed}, not {n}"))
            })?;
        let mut leaves = self.leaves()?;
        if leaves.len() < n {
            return Err(log_error(format!("entries missing below {n}")));
        }
        leaves.truncate(n);
        Ok(leaves)
    }

    /// The consistency proof from size `first` to size `second` (`0 < first <= second`, both
    /// signed sizes at most).
    pub fn consistency(&self, first: u64, second: u64) -> Result<Consistency> {
        if first == 0 || first > second {
            return Err(Error::InvalidInput(format!(
                "no consistency proof from {first} to {second} entries"
            )));
        }
        let leaves = self.leaves_upto(second)?;
        let m = usize::try_from(first).map_err(|_| log_error("log too large"))?;
        let proof = merkle::consistency_proof(&leaves, m).ok_or_else(|| {
            Error::InvalidInput("no consistency proof between these sizes".into())
        })?;
        Ok(Consistency {
            first,
            second,
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        })
    }

    /// keymgr's signed word that the certificate (or binding) `sha256` is not among the first
    /// `size` entries: the statement [`ABSENT_ORIGIN`] / `size` / the hash, signed with the note
    /// key, so that a 404 on the unauthenticated publication cannot be forged. Only made after
    /// [`Log::certificate_inclusion`] found none.
    pub fn absence(&self, store: &dyn KeyStore, sha256: &str, size: u64) -> Result<String> {
        match self.certificate_inclusion(sha256, size) {
            Err(Error::NotInLog(_)) => self.sign_absence(store, sha256, size),
            Ok(_) => Err(Error::InvalidInput("it is in the log".into())),
            Err(e) => Err(e),
        }
    }

    /// [`Log::absence`]'s statement, for a caller that has just found no entry for `sha256`
    /// among the first `size` (the log is not read again).
    pub(crate) fn sign_absence(
        &self,
        store: &dyn KeyStore,
        sha256: &str,
        size: u64,
    ) -> Result<String> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(sha256, &mut hash)
            .map_err(|_| Error::InvalidInput("a SHA-256 is 64 hex digits".into()))?;
        self.note_key(store)?
            .statement(store, ABSENT_ORIGIN, size, &hash)
    }

    /// The entry that issued the certificate whose DER hashes to `certificate_sha256` (hex),
    /// or the key binding whose signed message does (`issue::binding_sha256`), and its
    /// inclusion proof in the tree of `size` entries.
    pub fn certificate_inclusion(&self, certificate_sha256: &str, size: u64) -> Result<Inclusion> {
        let wanted = certificate_sha256.to_ascii_lowercase();
        if wanted.len() != 64 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidInput(
                "a certificate's SHA-256 is 64 hex digits".into(),
            ));
        }
        let leaves = self.leaves_upto(size)?;
        let lines = read_lines(&self.entries_path())?;
        let found = lines.iter().take(leaves.len()).enumerate().find(|(_, l)| {
            serde_json::from_str::<super::LogEntry>(l).is_ok_and(|e| {
                let field = match e.kind.as_str() {
                    "issued" | "rotated" => "certificate_sha256",
                    "key-binding" => "binding_sha256",
                    _ => return false,
                };
                e.data.get(field).and_then(|v| v.as_str()) == Some(wanted.as_str())
            })
        });
        let Some((index, entry)) = found else {
            return Err(Error::NotInLog(format!(
                "no certificate of SHA-256 {wanted} in its first {size} entries"
            )));
        };
        if merkle::leaf_hash(entry.as_bytes()) != leaves[index] {
            return Err(log_error(format!(
                "entry {index} changed while it was read"
            )));
        }
        let proof = merkle::inclusion_proof(&leaves, index)
            .ok_or_else(|| log_error(format!("no inclusion proof for entry {index}")))?;
        Ok(Inclusion {
            index: index as u64,
            size,
            entry: entry.clone(),
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        })
    }
}
