//! The access log: every action and decision, appended to a Merkle tree (keymgr's `merkle`)
//! in the same transaction as the action, each new tree head signed by the node's audit key.
//! Heads are also appended to a file beside the database so that rewriting the whole table is
//! caught by comparing heads: each transaction's last head is written there before the
//! transaction commits and marked committed after, so the file never lacks a head the database
//! has (a crash anywhere included), and `verify` fails when it does or when the file is gone.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyId, KeyStore};
use keymgr::merkle::{self, Frontier, Hash};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::{Store, Tx};
use crate::{Error, Result};

/// One log entry. The field order is the canonical JSON order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub at: String,
    /// `official:NIP`, `application:ID`, `node:ID`, `operator` or `anonymous`.
    pub actor: String,
    pub action: String,
    pub document: Option<String>,
    pub classification: Option<String>,
    /// `allow`, `deny` or `error`.
    pub decision: String,
    pub reason: String,
    pub policies: Vec<String>,
    pub policy_version: String,
    pub client: Option<String>,
}

impl Entry {
    /// An entry stamped now for an event that is not a policy decision (login, step-up,
    /// administration, an integrity incident).
    pub fn event(
        actor: String,
        action: &str,
        decision: &str,
        reason: String,
        policy_version: &str,
        client: Option<String>,
    ) -> Self {
        Entry {
            at: crate::now_rfc3339(),
            actor,
            action: action.into(),
            document: None,
            classification: None,
            decision: decision.into(),
            reason,
            policies: vec![],
            policy_version: policy_version.into(),
            client,
        }
    }

    /// An entry stamped now for a policy decision.
    pub fn decided(
        actor: String,
        action: &str,
        level: Option<policies::Level>,
        d: &policies::Decision,
        client: Option<String>,
    ) -> Self {
        Entry {
            classification: level.map(|l| l.as_str().to_owned()),
            policies: d.policies.clone(),
            ..Entry::event(
                actor,
                action,
                if d.allowed { "allow" } else { "deny" },
                d.reason.clone(),
                &d.policy_version,
                client,
            )
        }
    }

    /// The same entry about a letter.
    #[must_use]
    pub fn about(self, document: &str) -> Self {
        Entry {
            document: Some(document.to_owned()),
            ..self
        }
    }

    /// The entry as it is written: every field cut to its bound and control characters
    /// replaced, so that no request can make an entry larger than [`MAX_ENTRY`] bytes (the
    /// handlers validate what they take from outside first; this is the backstop).
    /// Whether the entry already keeps every bound of [`Entry::bounded`] (checked, not copied).
    fn is_bounded(&self) -> bool {
        let fits = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
        fits(&self.at, 40)
            && fits(&self.actor, 160)
            && fits(&self.action, 48)
            && self.document.as_deref().is_none_or(|d| fits(d, 96))
            && self.classification.as_deref().is_none_or(|c| fits(c, 24))
            && fits(&self.decision, 8)
            && fits(&self.reason, 768)
            && self.policies.len() <= 8
            && self.policies.iter().all(|p| fits(p, 64))
            && fits(&self.policy_version, 80)
            && self.client.as_deref().is_none_or(|c| fits(c, 64))
    }

    #[must_use]
    pub fn bounded(&self) -> Self {
        Entry {
            at: clip(&self.at, 40),
            actor: clip(&self.actor, 160),
            action: clip(&self.action, 48),
            document: self.document.as_deref().map(|d| clip(d, 96)),
            classification: self.classification.as_deref().map(|c| clip(c, 24)),
            decision: clip(&self.decision, 8),
            reason: clip(&self.reason, 768),
            policies: self.policies.iter().take(8).map(|p| clip(p, 64)).collect(),
            policy_version: clip(&self.policy_version, 80),
            client: self.client.as_deref().map(|c| clip(c, 64)),
        }
    }
}

/// The most bytes one access log entry takes, whatever a request carried.
pub const MAX_ENTRY: usize = 4096;

/// `s` with control characters replaced, cut at a character boundary to at most `max` bytes
/// (saying so when it was cut).
fn clip(s: &str, max: usize) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    if s.len() <= max && !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    if s.len() <= max {
        return clean(s);
    }
    let marker = format!("…[{} bytes cut]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    clean(&format!("{}{marker}", &s[..end]))
}

/// A signed tree head.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TreeHead {
    pub size: u64,
    pub root: String,
    pub at: String,
    pub key_id: String,
    pub signature: String,
}

fn head_message(size: u64, root: &str, at: &str) -> Vec<u8> {
    format!("sandi-audit-head-v1\0{size}\0{root}\0{at}").into_bytes()
}

fn log_err(e: impl std::fmt::Display) -> Error {
    Error::LogUnavailable(e.to_string())
}

/// A stored hash, in the one encoding the node writes (lowercase hex), so that no other
/// spelling of the same bytes passes as the stored value.
fn hex32(s: &str) -> Option<Hash> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

/// The node's access log.
#[derive(Clone)]
pub struct AuditLog {
    keys: Arc<dyn KeyStore>,
    key: KeyId,
    heads_file: PathBuf,
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
        }
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
        let last = entries
            .last()
            .ok_or_else(|| Error::Internal("nothing to append".into()))?;
        // Taking the row lock first serialises appenders across processes (PostgreSQL) and
        // makes SQLite take its write lock before reading.
        sqlx::query("UPDATE audit_state SET size = size WHERE id = 1")
            .execute(&mut **tx)
            .await
            .map_err(log_err)?;
        let row = sqlx::query("SELECT size, frontier FROM audit_state WHERE id = 1")
            .fetch_one(&mut **tx)
            .await
            .map_err(log_err)?;
        let size: i64 = row.try_get("size").map_err(log_err)?;
        let frontier_json: String = row.try_get("frontier").map_err(log_err)?;
        let nodes: Vec<(u32, String)> = serde_json::from_str(&frontier_json).map_err(log_err)?;
        let mut frontier = Frontier {
            size: u64::try_from(size).map_err(log_err)?,
            nodes: nodes
                .iter()
                .map(|(h, r)| hex32(r).map(|r| (*h, r)))
                .collect::<Option<_>>()
                .ok_or_else(|| Error::Integrity("audit frontier is not hex".into()))?,
        };
        let mut seq = size;
        // Many rows per statement: one round trip to the database for a whole group commit.
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
            let values: Vec<String> = (0..rows.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (seq, entry, leaf_hash) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (seq, text, leaf) in rows {
                q = q.bind(seq).bind(text).bind(leaf);
            }
            q.execute(&mut **tx).await.map_err(log_err)?;
        }
        let new_nodes: Vec<(u32, String)> = frontier
            .nodes
            .iter()
            .map(|(h, r)| (*h, hex::encode(r)))
            .collect();
        sqlx::query("UPDATE audit_state SET size = $1, frontier = $2 WHERE id = 1")
            .bind(seq)
            .bind(serde_json::to_string(&new_nodes).map_err(log_err)?)
            .execute(&mut **tx)
            .await
            .map_err(log_err)?;
        let head = self.sign_head(frontier.size, &frontier.root(), &last.at)?;
        sqlx::query(
            "INSERT INTO audit_heads (size, root, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(i64::try_from(head.size).map_err(log_err)?)
        .bind(&head.root)
        .bind(&head.at)
        .bind(&head.key_id)
        .bind(&head.signature)
        .execute(&mut **tx)
        .await
        .map_err(log_err)?;
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

fn row_head(row: &sqlx::any::AnyRow) -> Result<TreeHead> {
    Ok(TreeHead {
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        root: row.try_get("root")?,
        at: row.try_get("at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

type Pending = (Entry, tokio::sync::oneshot::Sender<Result<()>>);

/// Group commit for entries that stand alone (reads, refusals, signing API calls): callers
/// wait until their entry is durably committed, and one transaction and one signed head serve
/// every entry that arrived meanwhile.
#[derive(Clone, Debug)]
pub struct Batcher {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

/// Most entries in one group commit.
const BATCH: usize = 1024;
/// Rows per INSERT statement (three parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 256;

/// Integrity incidents found by the store are written here, like any other entry.
impl crate::store::integrity::IncidentLog for Batcher {
    fn record<'a>(
        &'a self,
        subject: &'a str,
        what: &'a str,
        policy_version: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(self.append(Entry::event(
            subject.to_owned(),
            "integrity",
            "deny",
            format!("integrity incident: {what}"),
            policy_version,
            None,
        )))
    }
}

impl Batcher {
    pub fn spawn(store: Store, log: AuditLog) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH);
        tokio::spawn(async move {
            let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let entries: Vec<Entry> = batch.iter().map(|(e, _)| e.clone()).collect();
                let result = commit_batch(&store, &log, &entries).await;
                for (_, done) in batch.drain(..) {
                    let _ = done.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(Error::LogUnavailable(e.to_string())),
                    });
                }
            }
        });
        Batcher { tx }
    }

    /// Appends `entry` and returns once it is committed; an error means it is not in the log
    /// and the action it records must not go ahead.
    pub async fn append(&self, entry: Entry) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((entry, done))
            .await
            .map_err(|_| Error::LogUnavailable("the log writer stopped".into()))?;
        wait.await
            .map_err(|_| Error::LogUnavailable("the log writer stopped".into()))?
    }
}

async fn commit_batch(store: &Store, log: &AuditLog, entries: &[Entry]) -> Result<()> {
    let mut tx = store.begin().await.map_err(log_err)?;
    let head = log.append_many(&mut tx, entries).await?;
    log.commit(tx, &head).await.map_err(|e| match e {
        Error::Database(why) => Error::LogUnavailable(why),
        other => other,
    })
}

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
    let rows = sqlx::query("SELECT seq, entry, leaf_hash FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let seq: i64 = row.try_get("seq")?;
        if usize::try_from(seq).ok() != Some(i) {
            return Err(Error::Integrity(format!(
                "audit entry {i} is missing (next stored entry is {seq})"
            )));
        }
        let entry: String = row.try_get("entry")?;
        let stored: String = row.try_get("leaf_hash")?;
        let leaf = merkle::leaf_hash(entry.as_bytes());
        if hex::encode(leaf) != stored {
            return Err(Error::Integrity(format!(
                "audit entry {seq} was changed: its hash does not match"
            )));
        }
        if serde_json::from_str::<Entry>(&entry).is_err() {
            return Err(Error::Integrity(format!(
                "audit entry {seq} is not a log entry"
            )));
        }
        leaves.push(leaf);
    }
    Ok(leaves)
}

/// Recomputes the whole log and checks every stored head and every head in `heads_file`
/// against it; names the first bad entry or head. `audit_spki` is the audit key's public key.
pub async fn verify(
    store: &Store,
    audit_spki: &[u8],
    heads_file: Option<&std::path::Path>,
) -> Result<Report> {
    let leaves = checked_leaves(store).await?;
    let heads =
        sqlx::query("SELECT size, root, at, key_id, signature FROM audit_heads ORDER BY size")
            .fetch_all(store.pool())
            .await?;
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
    for row in &heads {
        check(&row_head(row)?, &mut frontier, "stored")?;
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
        let stored: Vec<TreeHead> = heads.iter().map(row_head).collect::<Result<_>>()?;
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

/// Where an export starts.
#[derive(Clone, Copy, Debug)]
pub enum Since {
    Start,
    Seq(u64),
    Time(time::OffsetDateTime),
}

/// Writes entries as JSON lines (`seq`, `leaf_hash` and the entry's fields), reading the log in
/// pages so that a long log streams; returns how many were written.
pub async fn export(store: &Store, since: Since, out: &mut dyn Write) -> Result<u64> {
    let mut next = match since {
        Since::Seq(s) => i64::try_from(s).unwrap_or(i64::MAX),
        Since::Start | Since::Time(_) => 0,
    };
    let mut written = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, entry, leaf_hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 1000",
        )
        .bind(next)
        .fetch_all(store.reader())
        .await?;
        let Some(last) = rows.last() else {
            return Ok(written);
        };
        next = last.try_get::<i64, _>("seq")? + 1;
        for row in &rows {
            let entry: Entry = serde_json::from_str(&row.try_get::<String, _>("entry")?)
                .map_err(|e| Error::Integrity(format!("audit entry: {e}")))?;
            if let Since::Time(t) = since {
                if crate::parse_time(&entry.at).is_some_and(|at| at < t) {
                    continue;
                }
            }
            let mut line =
                serde_json::to_value(&entry).map_err(|e| Error::Internal(e.to_string()))?;
            line["seq"] = serde_json::json!(row.try_get::<i64, _>("seq")?);
            line["leaf_hash"] = serde_json::json!(row.try_get::<String, _>("leaf_hash")?);
            serde_json::to_writer(&mut *out, &line).map_err(|e| Error::Internal(e.to_string()))?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("writing", "the export", e))?;
            written += 1;
        }
    }
}

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
    sqlx::query("SELECT entry FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(store.reader())
        .await?
        .map(|r| {
            serde_json::from_str(&r.try_get::<String, _>("entry")?)
                .map_err(|e| Error::Integrity(format!("audit entry {seq}: {e}")))
        })
        .transpose()
}

pub async fn proof(store: &Store, seq: u64) -> Result<Proof> {
    let rows = sqlx::query("SELECT leaf_hash FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await?;
    let leaves: Vec<Hash> = rows
        .iter()
        .map(|r| {
            r.try_get::<String, _>("leaf_hash")
                .ok()
                .and_then(|h| hex32(&h))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Integrity("an audit leaf hash is not hex".into()))?;
    let index = usize::try_from(seq).map_err(|_| Error::NotFound(format!("audit entry {seq}")))?;
    let path = merkle::inclusion_proof(&leaves, index)
        .ok_or_else(|| Error::NotFound(format!("audit entry {seq}")))?;
    let row =
        sqlx::query("SELECT size, root, at, key_id, signature FROM audit_heads WHERE size = $1")
            .bind(i64::try_from(leaves.len()).unwrap_or(i64::MAX))
            .fetch_one(store.pool())
            .await?;
    Ok(Proof {
        seq,
        size: leaves.len() as u64,
        leaf_hash: hex::encode(leaves[index]),
        root: hex::encode(merkle::root(&leaves)),
        path: path.iter().map(hex::encode).collect(),
        head: row_head(&row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst an entry can be: every field huge and full of characters JSON escapes.
    #[test]
    fn no_entry_passes_its_bound() {
        for filler in ["\"", "\\", "\u{0}", "€", "a"] {
            let huge = filler.repeat(100_000);
            let e = Entry {
                at: huge.clone(),
                actor: huge.clone(),
                action: huge.clone(),
                document: Some(huge.clone()),
                classification: Some(huge.clone()),
                decision: huge.clone(),
                reason: huge.clone(),
                policies: vec![huge.clone(); 100],
                policy_version: huge.clone(),
                client: Some(huge.clone()),
            };
            let text = serde_json::to_string(&e.bounded()).expect("json");
            assert!(text.len() < MAX_ENTRY, "{filler:?}: {} bytes", text.len());
        }
        let small = Entry::event(
            "official:1".into(),
            "login",
            "deny",
            "why".into(),
            "v1",
            None,
        );
        assert_eq!(small.bounded(), small);
        assert!(small.is_bounded());
        assert!(
            !Entry {
                reason: "a\u{0}b".into(),
                ..small
            }
            .is_bounded()
        );
    }
}
