//! The log's writer: appends entries to the tree inside the caller's transaction, signs the
//! new head, and publishes it to the heads file around the commit.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyId, KeyStore};
use keymgr::merkle::{self, Frontier, Hash};

use super::head::{head_message, hex32};
use super::{Entry, TreeHead, log_err};
use crate::store::Tx;
use crate::store::audit_log::{self, StoredHead};
use crate::store::script::Script;
use crate::{Error, Result};

/// Rows per INSERT statement (three parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 256;

/// The node's access log.
#[derive(Clone)]
pub struct AuditLog {
    keys: Arc<dyn KeyStore>,
    key: KeyId,
    heads_file: PathBuf,
    /// Heads committed by this process: log entries over heads is the mean group-commit batch.
    heads: Arc<std::sync::atomic::AtomicU64>,
    /// The checkpoint note key, found or made once the keystore is open.
    note: Arc<std::sync::Mutex<Option<super::checkpoint::NoteKey>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("key", &self.key)
            .field("heads_file", &self.heads_file)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    pub fn new(keys: Arc<dyn KeyStore>, key: KeyId, heads_file: PathBuf) -> Self {
        AuditLog {
            keys,
            key,
            heads_file,
            heads: Arc::default(),
            note: Arc::default(),
        }
    }

    /// Finds or makes the checkpoint note key (the keystore must be open); once per process,
    /// under a lock so that a request and the unseal never make two.
    pub fn note_key(&self, node_id: &str) -> Result<super::checkpoint::NoteKey> {
        let mut held = self.note.lock().map_err(|_| Error::Invariant {
            what: "the note key's lock is not poisoned",
        })?;
        if let Some(k) = held.as_ref() {
            return Ok(k.clone());
        }
        let k = super::checkpoint::load_or_create(self.keys.as_ref(), node_id, self.dir())?;
        *held = Some(k.clone());
        Ok(k)
    }

    /// The newest head as a signed checkpoint (see [`super::checkpoint::latest`]).
    pub async fn checkpoint(&self, store: &crate::store::Store, node_id: &str) -> Result<String> {
        let key = self.note_key(node_id)?;
        super::checkpoint::latest(
            store,
            self.keys.as_ref(),
            &key,
            &self.public_key()?,
            self.dir(),
        )
        .await
    }

    /// This node's cosignature line, as the witness `sandi/<node>/witness`, over another
    /// log's checkpoint `text` (see [`super::checkpoint::cosignature`]).
    pub fn cosign(&self, node_id: &str, text: &str, time: u64) -> Result<String> {
        let key = self.note_key(node_id)?;
        super::checkpoint::cosignature(
            self.keys.as_ref(),
            &key,
            &format!("sandi/{node_id}/witness"),
            text,
            time,
        )
    }

    /// The data directory: the heads file's.
    fn dir(&self) -> &std::path::Path {
        self.heads_file
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
    }

    /// Heads (so commits) this process has committed to the log.
    pub fn heads_committed(&self) -> u64 {
        self.heads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends `entry` inside `tx` and signs the new head; returns the head. If anything here
    /// fails the caller's transaction must not commit (fail closed).
    pub async fn append(&self, tx: &mut Tx, entry: &Entry) -> Result<TreeHead> {
        self.append_many(tx, std::slice::from_ref(entry)).await
    }

    /// Appends `entries` in order inside `tx` and signs one head over all of them (group
    /// commit: one signature and one durable commit for many requests).
    pub async fn append_many(&self, tx: &mut Tx, entries: &[Entry]) -> Result<TreeHead> {
        // Whatever stops the log being written (a full disk, a database refusing writes) is
        // "the log is unavailable" to the caller: 503, the action not done.
        self.append_rows(tx, entries).await.map_err(|e| match e {
            Error::Database(why) => Error::LogUnavailable(why),
            other => other,
        })
    }

    async fn append_rows(&self, tx: &mut Tx, entries: &[Entry]) -> Result<TreeHead> {
        let last = entries.last().ok_or(Error::Invariant {
            what: "an append carries at least one entry",
        })?;
        let state = audit_log::lock_state(tx).await.map_err(log_err)?;
        let nodes: Vec<(u32, String)> = serde_json::from_str(&state.frontier).map_err(log_err)?;
        let mut frontier = Frontier {
            size: u64::try_from(state.size).map_err(log_err)?,
            nodes: nodes
                .iter()
                .map(|(h, r)| hex32(r).map(|r| (*h, r)))
                .collect::<Option<_>>()
                .ok_or_else(|| Error::Integrity("audit frontier is not hex".into()))?,
        };
        let mut seq = state.size;
        // The rows, the new state and the head in one script: one trip to the database (on
        // SQLite) after the state's lock. Many rows per statement.
        let mut script = Script::new();
        for group in entries.chunks(ROWS_PER_INSERT) {
            let mut rows = Vec::with_capacity(group.len());
            for entry in group {
                let text = if entry.is_bounded() {
                    serde_json::to_string(entry)
                } else {
                    serde_json::to_string(&entry.bounded())
                }
                .map_err(log_err)?;
                let leaf = merkle::leaf_hash(text.as_bytes());
                frontier.push(leaf);
                rows.push((seq, text, hex::encode(leaf)));
                seq += 1;
            }
            audit_log::push_entries(&mut script, rows);
        }
        let new_nodes: Vec<(u32, String)> = frontier
            .nodes
            .iter()
            .map(|(h, r)| (*h, hex::encode(r)))
            .collect();
        audit_log::push_state(
            &mut script,
            seq,
            serde_json::to_string(&new_nodes).map_err(log_err)?,
        );
        let head = self.sign_head(frontier.size, &frontier.root(), &last.at)?;
        audit_log::push_head(
            &mut script,
            &StoredHead {
                size: i64::try_from(head.size).map_err(log_err)?,
                root: head.root.clone(),
                at: head.at.clone(),
                key_id: head.key_id.clone(),
                signature: head.signature.clone(),
            },
        );
        script.run(tx).await.map_err(log_err)?;
        Ok(head)
    }

    fn sign_head(&self, size: u64, root: &Hash, at: &str) -> Result<TreeHead> {
        let root = hex::encode(root);
        let handle = self.keys.info(self.key).map_err(log_err)?.handle();
        let sig = self
            .keys
            .sign(&handle, &head_message(size, &root, at))
            .map_err(log_err)?;
        Ok(TreeHead {
            size,
            root,
            at: at.to_owned(),
            key_id: self.key.to_string(),
            signature: B64.encode(sig.bytes),
        })
    }

    /// Appends `entry` as the last step of `tx`, commits, and publishes the new head: an
    /// action and its log entry land together or not at all.
    pub async fn commit_with(&self, mut tx: Tx, entry: &Entry) -> Result<()> {
        let head = self.append(&mut tx, entry).await?;
        self.commit(tx, &head).await
    }

    /// Commits `tx`, whose last append made `head`, with the head in the file beside the
    /// database: written there before the commit (a head the file cannot take is a log that
    /// cannot be written, and nothing commits), marked committed after. A crash between the two
    /// leaves a head the file has and the database has too, or one the database never got:
    /// `verify` tells them apart by the mark and by the database.
    pub async fn commit(&self, tx: Tx, head: &TreeHead) -> Result<()> {
        self.write_line(&serde_json::json!({ "pending": head }))?;
        tx.commit().await?;
        self.heads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mark = serde_json::json!({ "committed": head.size, "root": head.root });
        if let Err(e) = self.write_line(&mark) {
            // The head is in the file already; verify takes it as committed since the
            // database holds it.
            tracing::warn!("heads file: the commit mark of size {}: {e}", head.size);
        }
        Ok(())
    }

    /// Appends one line in one write (atomic among the processes of a node), 0600.
    fn write_line(&self, value: &serde_json::Value) -> Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut line = serde_json::to_vec(value).map_err(log_err)?;
        line.push(b'\n');
        opts.open(&self.heads_file)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| {
                if e.raw_os_error() == Some(28) {
                    Error::StorageFull(format!("{}: {e}", self.heads_file.display()))
                } else {
                    Error::LogUnavailable(format!("{}: {e}", self.heads_file.display()))
                }
            })
    }

    /// The audit key's public key (SubjectPublicKeyInfo DER).
    pub fn public_key(&self) -> Result<Vec<u8>> {
        let handle = self.keys.info(self.key)?.handle();
        Ok(self.keys.public_key(&handle)?)
    }
}
