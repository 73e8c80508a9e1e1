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

use hsm_shim::{KeyId, KeyKind, KeyStore};
use keymgr::merkle::{self, Hash};
use serde::Serialize;

use super::head::{head_message, hex32};
use crate::store::Store;
use crate::store::audit_log;
use crate::{Error, Result};

/// The note key's label in the node's keystore.
pub const NOTE_KEY_LABEL: &str = "node-checkpoint";
/// The signature type byte of an Ed25519 note key (C2SP signed-note).
const ED25519_TYPE: u8 = 0x01;
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The log's origin line: unique to this node's access log.
pub fn origin(node_id: &str) -> String {
    format!("sandi/{node_id}/access-log")
}

/// The note key: its name (the origin), raw Ed25519 public key, and key id.
#[derive(Clone, Debug)]
pub struct NoteKey {
    pub id: KeyId,
    pub name: String,
    pub public: [u8; 32],
}

impl NoteKey {
    pub fn key_hash(&self) -> [u8; 4] {
        key_hash(&self.name, &self.public)
    }

    pub fn vkey(&self) -> String {
        vkey(&self.name, &self.public)
    }
}

/// A note key's 4-byte hash: SHA-256(name || "\n" || type || public key)[..4].
fn key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(name.as_bytes());
    d.update(b"\n");
    d.update(&[ED25519_TYPE]);
    d.update(public);
    let h = d.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(&h.as_ref()[..4]);
    out
}

/// The verifier key as witnesses and `note` tools read it: `name+hash+base64(type||key)`.
fn vkey(name: &str, public: &[u8; 32]) -> String {
    let mut k = vec![ED25519_TYPE];
    k.extend_from_slice(public);
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, public)),
        B64.encode(k)
    )
}

/// The file naming the note key's id: written once (create-new), so that every process of a
/// node, and every restart, signs with the same key.
fn key_file(dir: &Path) -> PathBuf {
    dir.join("audit-note.key")
}

/// Finds the note key named in the data directory `dir`, or makes it and names it there. Two
/// processes racing to make it both try to name theirs; the first name written wins and the
/// other key is destroyed.
pub fn load_or_create(keys: &dyn KeyStore, node_id: &str, dir: &Path) -> Result<NoteKey> {
    let named = |text: &str| -> Result<KeyId> {
        text.trim()
            .parse()
            .map_err(|_| Error::Integrity(format!("{}: not a key id", key_file(dir).display())))
    };
    let id = match std::fs::read_to_string(key_file(dir)) {
        Ok(text) => named(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let made = keys.generate(KeyKind::Ed25519, NOTE_KEY_LABEL)?;
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(key_file(dir))
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, format!("{}\n", made.id()).as_bytes())?;
                    f.sync_all()
                });
            match written {
                Ok(()) => made.id(),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = keys.destroy(&made);
                    named(
                        &std::fs::read_to_string(key_file(dir))
                            .map_err(|e| Error::io("reading", key_file(dir), e))?,
                    )?
                }
                Err(e) => return Err(Error::io("writing", key_file(dir), e)),
            }
        }
        Err(e) => return Err(Error::io("reading", key_file(dir), e)),
    };
    let info = keys.info(id)?;
    if info.kind != KeyKind::Ed25519 || info.state != hsm_shim::KeyState::Active {
        return Err(Error::Integrity(format!(
            "the checkpoint note key {id} is not an active Ed25519 key"
        )));
    }
    let spki = keys.public_key(&info.handle())?;
    let public: [u8; 32] = spki
        .strip_prefix(&SPKI_ED25519_PREFIX[..])
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| Error::Integrity("the note key is not an Ed25519 key".into()))?;
    Ok(NoteKey {
        id,
        name: origin(node_id),
        public,
    })
}

/// The checkpoint body for `size` and `root` (C2SP tlog-checkpoint: origin, size, base64
/// root, each on its own line).
pub fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// The root of the empty tree: the hash of nothing (RFC 9162 2.1.1).
fn empty_root() -> Hash {
    let mut root = [0u8; 32];
    root.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b"").as_ref());
    root
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

/// A signed note of `text` by the key named `name` whose public key is `public`; `sign`
/// makes the Ed25519 signature over the text.
pub fn signed_note(
    text: &str,
    name: &str,
    public: &[u8; 32],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<String> {
    let mut line = key_hash(name, public).to_vec();
    line.extend_from_slice(&sign(text.as_bytes())?);
    Ok(format!("{text}\n\u{2014} {name} {}\n", B64.encode(line)))
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
    let handle = keys.info(note.id)?.handle();
    signed_note(
        &body(&note.name, size, &root),
        &note.name,
        &note.public,
        |m| Ok(keys.sign(&handle, m)?.bytes),
    )
}

/// Another log's verifier key, parsed (`name+hash+base64(type||key)`, Ed25519 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub public: [u8; 32],
}

/// Parses a verifier key; its hash must match its name and key.
pub fn parse_vkey(text: &str) -> Result<Verifier> {
    let bad = |why: &str| Error::invalid("note key", format!("verifier key: {why}"));
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+hash+key"));
    };
    let raw = B64.decode(data).map_err(|_| bad("the key is not base64"))?;
    let Some((&ED25519_TYPE, key)) = raw.split_first() else {
        return Err(bad("not an Ed25519 key"));
    };
    let public = <[u8; 32]>::try_from(key).map_err(|_| bad("not an Ed25519 key"))?;
    if name.is_empty() || hex::encode(key_hash(name, &public)) != hash {
        return Err(bad("its hash does not match its name and key"));
    }
    Ok(Verifier {
        name: name.to_owned(),
        public,
    })
}

/// A checkpoint opened: its text (the signed body) and what it says.
#[derive(Clone, Debug)]
pub struct Opened {
    pub text: String,
    /// The signature line by the log's key that verified (with its newline).
    pub sig_line: String,
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Opens a signed checkpoint: one signature line by `v` must verify over the text, whose
/// origin must be `origin`.
pub fn open(v: &Verifier, note: &str, origin: &str) -> Result<Opened> {
    let bad = |why: String| Error::invalid("checkpoint", why);
    let at = note
        .rfind("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures".into()))?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    let hash = key_hash(&v.name, &v.public);
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, v.public);
    let signed = sigs.split('\n').find(|line| {
        line.strip_prefix("\u{2014} ")
            .and_then(|l| l.split_once(' '))
            .filter(|(name, _)| *name == v.name)
            .and_then(|(_, sig)| B64.decode(sig).ok())
            .is_some_and(|sig| {
                sig.len() == 68
                    && sig[..4] == hash
                    && key.verify(text.as_bytes(), &sig[4..]).is_ok()
            })
    });
    let Some(sig_line) = signed else {
        return Err(bad(format!("no valid signature by {}", v.name)));
    };
    let mut lines = text.split('\n');
    let (Some(o), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(bad("fewer than three lines".into()));
    };
    if o != origin {
        return Err(bad(format!("origin {o:?}, not {origin:?}")));
    }
    let size: u64 = size
        .parse()
        .ok()
        .filter(|_| size.bytes().all(|b| b.is_ascii_digit()))
        .filter(|_| size == "0" || !size.starts_with('0'))
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| bad("the size is not a decimal".into()))?;
    let root = B64
        .decode(root)
        .ok()
        .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
        .ok_or_else(|| bad("the root is not 32 bytes of base64".into()))?;
    if size == 0 && root != empty_root() {
        return Err(bad("an empty log's root is not the hash of nothing".into()));
    }
    Ok(Opened {
        text: text.to_owned(),
        sig_line: format!("{sig_line}\n"),
        origin: o.to_owned(),
        size,
        root,
    })
}

/// The signature type byte of a witness cosignature (C2SP tlog-cosignature).
const COSIGNATURE_TYPE: u8 = 0x04;

/// This node's cosignature line over a checkpoint's `text` at `time` (seconds since the
/// epoch), as a witness named `name` with the note key (C2SP tlog-cosignature v1: the key
/// hash with type 0x04, then the time, big-endian, then the Ed25519 signature over
/// `cosignature/v1`, the time line and the text).
pub fn cosignature(
    keys: &dyn KeyStore,
    note: &NoteKey,
    name: &str,
    text: &str,
    time: u64,
) -> Result<String> {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(name.as_bytes());
    d.update(b"\n");
    d.update(&[COSIGNATURE_TYPE]);
    d.update(&note.public);
    let message = format!("cosignature/v1\ntime {time}\n{text}");
    let sig = keys.sign(&keys.info(note.id)?.handle(), message.as_bytes())?;
    let mut line = d.finish().as_ref()[..4].to_vec();
    line.extend_from_slice(&time.to_be_bytes());
    line.extend_from_slice(&sig.bytes);
    Ok(format!("\u{2014} {name} {}\n", B64.encode(line)))
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
    fn the_key_hash_and_vkey_follow_the_note_format() {
        let name = "sandi/dinkes/access-log";
        let v = vkey(name, &[7u8; 32]);
        let parts: Vec<&str> = v.split('+').collect();
        assert_eq!(parts[0], name);
        assert_eq!(parts[1], hex::encode(key_hash(name, &[7u8; 32])));
        let raw = B64.decode(parts[2]).expect("base64");
        assert_eq!(raw[0], 0x01);
        assert_eq!(&raw[1..], &[7u8; 32]);
        // Another name, another key hash: a key cannot be reused under two origins unseen.
        assert_ne!(
            key_hash("sandi/bappeda/access-log", &[7u8; 32]),
            key_hash(name, &[7u8; 32])
        );
    }

    #[test]
    fn a_body_is_three_lines() {
        let b = body("o", 5, &[0u8; 32]);
        assert_eq!(b, format!("o\n5\n{}\n", B64.encode([0u8; 32])));
        assert!(sizes("first", 0, 1, 1).is_err());
        assert!(sizes("first", 2, 1, 5).is_err());
        assert!(sizes("first", 1, 6, 5).is_err());
        assert_eq!(sizes("first", 1, 5, 5).expect("fine"), (1, 5));
    }

    /// The Go note package's published example (golang.org/x/mod/sumdb/note): its signer key,
    /// signed through [`signed_note`], gives its verifier key and its note byte for byte, so
    /// Go's witnesses and verifiers read our checkpoints.
    #[test]
    fn the_go_note_example_byte_for_byte() {
        let skey = B64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .expect("base64");
        assert_eq!(skey[0], ED25519_TYPE);
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&skey[1..]).expect("seed");
        let public: [u8; 32] = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .try_into()
            .expect("32 bytes");
        assert_eq!(
            vkey("PeterNeumann", &public),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = signed_note(text, "PeterNeumann", &public, |m| {
            Ok(pair.sign(m).as_ref().to_vec())
        })
        .expect("signed");
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
    }
}
