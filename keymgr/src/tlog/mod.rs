//! The transparency log: every ceremony step, issuance, rotation and revocation appended to a
//! Merkle log (see [`crate::merkle`]) whose heads are signed by the log key. A head is signed
//! after every append: one entry, or the entries of one group commit of issuance, so a
//! verifier that recomputes the tree names the first entry (or the batch) that was changed.
//! Each head names its key and key version, so heads signed by a retired log key stay
//! verifiable.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyHandle, KeyId, KeyKind, KeyStore, SignatureAlgorithm, verify_signature};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ca::{CaState, Home};
use crate::merkle::{self, Hash};
use crate::transcript::{Transcript, now_text};
use crate::{Error, Result};

mod checkpoint;
pub use checkpoint::{ABSENT_ORIGIN, Consistency, Inclusion, NOTE_KEY_LABEL, ORIGIN};

const HEAD_CONTEXT: &[u8] = b"sandi log tree head v1\0";

/// One append at a time in this process, and what this process knows of each log it appended
/// to (by directory): see [`Held`].
static APPEND: std::sync::Mutex<std::collections::BTreeMap<PathBuf, Held>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// What this process last appended to a log: the frontier after it, with the entries' length
/// it matches, and the log keys it saw in the keys file. The next append takes the frontier
/// from here while the entries are still that long (no other process appended since), instead
/// of reading and parsing the frontier file, and reads the keys file only for a key not seen.
/// The frontier file is still written after every append: checkpoints and other processes
/// read it.
#[derive(Default)]
struct Held {
    frontier: Option<(u64, merkle::Frontier)>,
    keys: Vec<KeyId>,
}

/// One log entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    pub index: usize,
    pub time: String,
    pub kind: String,
    pub data: Value,
}

/// A signed tree head.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    pub size: usize,
    pub root: String,
    pub time: String,
    pub key: KeyId,
    pub key_version: u32,
    pub algorithm: SignatureAlgorithm,
    pub signature: String,
}

/// A public key that signed heads, current or retired.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LogKey {
    key: KeyId,
    version: u32,
    spki: String,
}

#[derive(Serialize, Deserialize)]
struct SavedFrontier {
    frontier: merkle::Frontier,
    entries_len: u64,
}

/// What a successful verification saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSummary {
    pub entries: usize,
    pub heads: usize,
}

/// The log in a CA home.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
}

fn head_message(size: usize, root: &str, time: &str, key: KeyId, version: u32) -> Vec<u8> {
    let mut m = HEAD_CONTEXT.to_vec();
    m.extend_from_slice(format!("{size}\0{root}\0{time}\0{key}\0{version}").as_bytes());
    m
}

fn append_line(path: &std::path::Path, line: &str) -> Result<()> {
    append_text(path, &format!("{line}\n"))
}

/// Appends whole lines (`text` ends with a newline) and syncs them to disk.
fn append_text(path: &std::path::Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("appending to", path, e))
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

impl Log {
    pub fn open(home: &Home) -> Result<Self> {
        let dir = home.log_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        Ok(Log { dir })
    }

    fn entries_path(&self) -> PathBuf {
        self.dir.join("entries.jsonl")
    }
    fn heads_path(&self) -> PathBuf {
        self.dir.join("heads.jsonl")
    }
    fn keys_path(&self) -> PathBuf {
        self.dir.join("keys.json")
    }
    fn frontier_path(&self) -> PathBuf {
        self.dir.join("frontier.json")
    }

    /// The tree's right edge, kept beside the entries with the entries file's length, so an
    /// append costs O(log n). Rebuilt from the entries when it is missing or does not match
    /// them (an append interrupted between the two writes). Also returns the entries' length.
    fn frontier(&self) -> Result<(merkle::Frontier, u64)> {
        let len = std::fs::metadata(self.entries_path()).map_or(0, |m| m.len());
        if let Ok(bytes) = std::fs::read(self.frontier_path())
            && let Ok(saved) = serde_json::from_slice::<SavedFrontier>(&bytes)
            && saved.entries_len == len
        {
            return Ok((saved.frontier, len));
        }
        let mut f = merkle::Frontier::default();
        for l in read_lines(&self.entries_path())? {
            f.push(merkle::leaf_hash(l.as_bytes()));
        }
        Ok((f, len))
    }

    fn save_frontier(&self, frontier: &merkle::Frontier, entries_len: u64) -> Result<()> {
        let saved = SavedFrontier {
            frontier: frontier.clone(),
            entries_len,
        };
        // Not synced: it is derived from the entries (synced before it) and checked against
        // their length when read, so one lost or torn in a crash is rebuilt, not trusted.
        let path = self.frontier_path();
        let tmp = self
            .dir
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(&saved).map_err(|e| Error::InvalidInput(e.to_string()))?,
        )
        .map_err(|e| Error::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming into place", &path, e))
    }

    fn leaves(&self) -> Result<Vec<Hash>> {
        Ok(read_lines(&self.entries_path())?
            .iter()
            .map(|l| merkle::leaf_hash(l.as_bytes()))
            .collect())
    }

    fn keys(&self) -> Result<Vec<LogKey>> {
        let path = self.keys_path();
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Log {
                entry: 0,
                reason: format!("{}: {e}", path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    /// Records the log key's public key (once per key version).
    fn remember_key(&self, store: &dyn KeyStore, key: &KeyHandle, version: u32) -> Result<()> {
        let mut keys = self.keys()?;
        if keys.iter().any(|k| k.key == key.id()) {
            return Ok(());
        }
        keys.push(LogKey {
            key: key.id(),
            version,
            spki: B64.encode(store.public_key(key)?),
        });
        let json =
            serde_json::to_vec_pretty(&keys).map_err(|e| Error::InvalidInput(e.to_string()))?;
        crate::ca::write_file(&self.keys_path(), &json)
    }

    /// Appends an entry and signs the new head with the log key.
    pub fn append(
        &self,
        store: &dyn KeyStore,
        log_key: KeyId,
        kind: &str,
        data: Value,
    ) -> Result<usize> {
        self.append_batch(store, log_key, vec![(kind.to_owned(), data)])
    }

    /// Appends entries together: one write and one sync of the entries, one signed head for
    /// them all (the group commit of issuance). Returns the index of the first; the others
    /// follow it in order. Nothing is appended for an empty batch.
    pub fn append_batch(
        &self,
        store: &dyn KeyStore,
        log_key: KeyId,
        items: Vec<(String, Value)>,
    ) -> Result<usize> {
        // One append at a time in this process: the online CA's requests and its CRL upkeep
        // append concurrently, and the frontier file must follow the entries file.
        let mut logs = APPEND
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let info = store.info(log_key)?;
        if info.kind != KeyKind::EcdsaP256 {
            return Err(Error::InvalidInput(
                "the log key must be ECDSA P-256".into(),
            ));
        }
        let handle = info.handle();
        let known = logs.entry(self.dir.clone()).or_default();
        if !known.keys.contains(&info.id) {
            self.remember_key(store, &handle, info.version)?;
            known.keys.push(info.id);
        }
        let entries_len = std::fs::metadata(self.entries_path()).map_or(0, |m| m.len());
        let mut frontier = match known.frontier.take() {
            Some((len, f)) if len == entries_len => f,
            _ => self.frontier()?.0,
        };
        let first = usize::try_from(frontier.size).map_err(|_| Error::Log {
            entry: 0,
            reason: "log too large".into(),
        })?;
        if items.is_empty() {
            known.frontier = Some((entries_len, frontier));
            return Ok(first);
        }
        let mut lines = String::new();
        for (n, (kind, data)) in items.into_iter().enumerate() {
            let entry = LogEntry {
                index: first + n,
                time: now_text(),
                kind,
                data,
            };
            let line =
                serde_json::to_string(&entry).map_err(|e| Error::InvalidInput(e.to_string()))?;
            frontier.push(merkle::leaf_hash(line.as_bytes()));
            lines.push_str(&line);
            lines.push('\n');
        }
        append_text(&self.entries_path(), &lines)?;
        let size = usize::try_from(frontier.size).map_err(|_| Error::Log {
            entry: first,
            reason: "log too large".into(),
        })?;
        let root = hex::encode(frontier.root());
        let time = now_text();
        let sig = store.sign(
            &handle,
            &head_message(size, &root, &time, info.id, info.version),
        )?;
        // Remembered, and saved, only when the entries grew by exactly these lines: another
        // process's append in between would make the pair (length, frontier) a lie, and a file
        // left behind is rebuilt from the entries.
        let after = std::fs::metadata(self.entries_path()).map_or(0, |m| m.len());
        if after == entries_len.saturating_add(lines.len() as u64) {
            self.save_frontier(&frontier, after)?;
            known.frontier = Some((after, frontier));
        }
        let head = TreeHead {
            size,
            root,
            time,
            key: info.id,
            key_version: info.version,
            algorithm: sig.algorithm,
            signature: B64.encode(sig.bytes),
        };
        append_line(
            &self.heads_path(),
            &serde_json::to_string(&head).map_err(|e| Error::InvalidInput(e.to_string()))?,
        )?;
        Ok(first)
    }

    /// Appends every step of a ceremony transcript.
    pub(crate) fn append_transcript(
        &self,
        store: &dyn KeyStore,
        state: &CaState,
        t: &Transcript,
    ) -> Result<()> {
        for e in &t.entries {
            self.append(
                store,
                state.log_key,
                "ceremony",
                serde_json::json!({ "ceremony": t.ceremony, "transcript": t.id, "seq": e.seq,
                                    "step": e.step, "hash": e.hash }),
            )?;
        }
        Ok(())
    }

    /// Rotates the log key: the next version signs new heads; the old key is deactivated (it
    /// signs nothing more) and its public key stays in the log's key list, so the heads it
    /// signed keep verifying. Returns the new key.
    pub fn rotate_key(&self, home: &Home, store: &dyn KeyStore) -> Result<hsm_shim::KeyInfo> {
        let mut state = home.load_state()?;
        let old = store.info(state.log_key)?;
        let new = store.generate(KeyKind::EcdsaP256, &old.label)?;
        let new_info = store.info(new.id())?;
        self.remember_key(store, &new, new_info.version)?;
        // The rotation is announced under the old key, then the old key retires.
        self.append(
            store,
            old.id,
            "log-key-rotated",
            serde_json::json!({ "from": { "key": old.id, "version": old.version },
                                "to": { "key": new_info.id, "version": new_info.version },
                                "spki_sha256": crate::transcript::sha256_hex(&store.public_key(&new)?) }),
        )?;
        store.set_state(&old.handle(), hsm_shim::KeyState::Deactivated)?;
        state.log_key = new_info.id;
        home.save_state(&state)?;
        Ok(new_info)
    }

    /// The key versions that signed the heads, in order of first use.
    pub fn head_key_versions(&self) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for line in read_lines(&self.heads_path())? {
            if let Ok(h) = serde_json::from_str::<TreeHead>(&line)
                && !out.contains(&h.key_version)
            {
                out.push(h.key_version);
            }
        }
        Ok(out)
    }

    /// Recomputes the tree and checks every head; names the first entry that does not match.
    pub fn verify(&self) -> Result<LogSummary> {
        let lines = read_lines(&self.entries_path())?;
        for (i, l) in lines.iter().enumerate() {
            let e: LogEntry = serde_json::from_str(l).map_err(|_| Error::Log {
                entry: i,
                reason: "not a readable entry".into(),
            })?;
            if e.index != i {
                return Err(Error::Log {
                    entry: i,
                    reason: format!("out of place (says it is entry {})", e.index),
                });
            }
        }
        let leaves: Vec<Hash> = lines
            .iter()
            .map(|l| merkle::leaf_hash(l.as_bytes()))
            .collect();
        let keys = self.keys()?;
        let heads = read_lines(&self.heads_path())?;
        let mut last_size = 0;
        for (n, h) in heads.iter().enumerate() {
            let head: TreeHead = serde_json::from_str(h).map_err(|_| Error::Log {
                entry: last_size,
                reason: format!("tree head {n} is not readable"),
            })?;
            if head.size < last_size {
                return Err(Error::Log {
                    entry: head.size,
                    reason: format!("tree head {n} shrinks the log"),
                });
            }
            let key = keys
                .iter()
                .find(|k| k.key == head.key && k.version == head.key_version)
                .ok_or(Error::Log {
                    entry: head.size.saturating_sub(1),
                    reason: format!("tree head {n} names an unknown log key"),
                })?;
            let spki = B64.decode(&key.spki).map_err(|_| Error::Log {
                entry: 0,
                reason: "a log key is not base64".into(),
            })?;
            let sig = B64.decode(&head.signature).unwrap_or_default();
            let msg = head_message(
                head.size,
                &head.root,
                &head.time,
                head.key,
                head.key_version,
            );
            if verify_signature(&spki, head.algorithm, &msg, &sig).is_err() {
                return Err(Error::Log {
                    entry: head.size.saturating_sub(1),
                    reason: format!("tree head {n}'s signature does not verify"),
                });
            }
            if head.size > leaves.len() {
                return Err(Error::Log {
                    entry: leaves.len(),
                    reason: format!(
                        "entries missing: a signed head covers {} entries",
                        head.size
                    ),
                });
            }
            if hex::encode(merkle::root(&leaves[..head.size])) != head.root {
                // The first entry this head covers that the one before did not: the exact
                // entry for a head per entry, the batch's first for a group commit.
                let first = last_size.min(head.size.saturating_sub(1));
                let reason = if head.size - first > 1 {
                    format!(
                        "the recomputed tree does not match the signed head (entries {first} to {})",
                        head.size - 1
                    )
                } else {
                    "the recomputed tree does not match the signed head".into()
                };
                return Err(Error::Log {
                    entry: first,
                    reason,
                });
            }
            last_size = head.size;
        }
        if last_size != leaves.len() {
            return Err(Error::Log {
                entry: last_size,
                reason: "entries after the last signed head".into(),
            });
        }
        Ok(LogSummary {
            entries: leaves.len(),
            heads: heads.len(),
        })
    }

    /// An inclusion proof for entry `index` in the current tree.
    pub fn inclusion_proof(&self, index: usize) -> Result<(Hash, Vec<Hash>, Hash)> {
        let leaves = self.leaves()?;
        let proof = merkle::inclusion_proof(&leaves, index).ok_or(Error::Log {
            entry: index,
            reason: "no such entry".into(),
        })?;
        Ok((leaves[index], proof, merkle::root(&leaves)))
    }
}
