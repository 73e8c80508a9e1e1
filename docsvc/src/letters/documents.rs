//! Letters: create (policy, encrypt, sign, store, log in one transaction), open (policy,
//! integrity, decrypt as a stream), and list what an official may see.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use hsm_shim::{HandleIdentity, KeyStore, age_recipient};
use policies::{Action, Context, Decision, Document, Level, Principal};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::crypto::envelope::{self, MANIFEST_FORMAT, Manifest, Part, Urgency};
use crate::crypto::signature::{self, Kind, Verified};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::{Error, Result, now_rfc3339};

/// A new letter's metadata, as a client sends it.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLetter {
    pub nomor: String,
    pub perihal: String,
    /// sifat: biasa, terbatas, rahasia, sangat_rahasia.
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    /// derajat: biasa, segera, sangat_segera, kilat.
    pub urgency: Urgency,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub copies: Vec<String>,
    /// The letter's date, YYYY-MM-DD; today when absent.
    #[serde(default)]
    pub dated: Option<String>,
}

/// What a caller may see about a letter in a list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub id: String,
    pub nomor: String,
    pub perihal: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub urgency: String,
    pub originator: String,
    pub created_at: String,
    /// `sent`, `awaiting_approval` or `received` (from another node).
    pub state: String,
    /// Whether the caller has opened it.
    pub read: bool,
}

fn text_field(what: &str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} must be 1-{max} characters without control characters"
        )));
    }
    Ok(())
}

pub(crate) fn entry(
    caller: &Caller,
    action: &str,
    doc: Option<&str>,
    level: Option<Level>,
    d: &Decision,
) -> Entry {
    let e = Entry::decided(caller.actor(), action, level, d, caller.client.clone());
    match doc {
        Some(id) => e.about(id),
        None => e,
    }
}

pub(crate) fn forbidden(d: &Decision) -> Error {
    Error::Forbidden {
        alasan: d.alasan.clone(),
        reason: d.reason.clone(),
        policies: d.policies.clone(),
    }
}

/// A letter being created: metadata checked and allowed, parts being encrypted.
pub struct Ingest<'a> {
    node: &'a Node,
    caller: Caller,
    id: String,
    letter: NewLetter,
    dated: String,
    recipients: Vec<Official>,
    copies: Vec<Official>,
    /// Addressees on other nodes (`NIP@node`), with keys proved by their bindings.
    remote: Vec<crate::network::RemoteOfficial>,
    age_recipients: Vec<age::x25519::Recipient>,
    /// The key ids behind `age_recipients`, stored for `docsvc rewrap`.
    wrapped_to: Vec<String>,
    parts: Vec<Part>,
    decisions: Vec<(&'static str, Decision)>,
    /// Dual control: the policy holds sending until a second official approves.
    awaiting_approval: bool,
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Signs `bytes` as `official`, a signature of `kind` (CMS detached, with the Signing CA in
/// the chain) using their key in the node's keystore.
pub(crate) fn sign_as(
    node: &Node,
    official: &Official,
    kind: Kind,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    let cert = official.certificate.clone().ok_or_else(|| {
        Error::Invalid(format!(
            "official {} has no signing certificate yet: the key custodians must issue one",
            official.nip
        ))
    })?;
    crate::node::revocation::require_good(node, &cert, "signing certificate")?;
    let key = node.handle(official.signing_key.ok_or_else(|| {
        Error::Invalid(format!("official {} has no signing key", official.nip))
    })?)?;
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let cms = signature::sign_detached(
        kind,
        signature::Content::Bytes(bytes),
        hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
        &cert,
        std::slice::from_ref(&node.signing_ca_der),
        OffsetDateTime::now_utc(),
        |msg| Ok(keys.sign(&key, msg)?.bytes),
    )?;
    Metrics::inc(&node.metrics.signatures);
    Ok(cms)
}

/// The policy's view of a letter on node `here`. Only this node's officials are bare NIPs
/// (as their principals are): `NIP@here` is this node's `NIP`, while an official of another
/// node stays `NIP@node`, and a bare NIP in a letter from another node is that node's
/// official. So no official registered here, whatever NIP they are given, is taken for
/// another node's addressee or originator.
pub(crate) fn policy_document(m: &Manifest, agencies: Vec<String>, here: &str) -> Document {
    let principal = |a: &String| -> String {
        match crate::network::remote_address(a) {
            Some((nip, node)) if node == here => nip.to_owned(),
            Some(_) => a.clone(),
            None if m.node == here => a.clone(),
            None => format!("{a}@{}", m.node),
        }
    };
    let plain = |list: &[String]| -> Vec<String> { list.iter().map(principal).collect() };
    Document {
        id: m.id.clone(),
        classification: m.classification,
        originator: principal(&m.originator),
        recipients: plain(&m.recipients),
        copies: plain(&m.copies),
        grants: vec![],
        agency: m.agency.clone(),
        agencies,
        compartments: vec![],
    }
}

/// Whom a letter of `level` is encrypted to: each of `officials` cleared for the level (by
/// their current encryption key, once each) and the level's current archive key. Returns the
/// key ids (what `documents.wrapped_to` records) and the age recipients.
pub(crate) fn wrap_set(
    node: &Node,
    officials: &[&Official],
    level: Level,
) -> Result<(Vec<String>, Vec<age::x25519::Recipient>)> {
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let mut ids = Vec::new();
    let mut recipients = Vec::new();
    for o in officials.iter().filter(|o| o.clearance >= level) {
        let id = o
            .encryption_key
            .ok_or_else(|| Error::Invalid(format!("official {} has no encryption key", o.nip)))?;
        if ids.contains(&id.to_string()) {
            continue;
        }
        recipients.push(age_recipient(keys, &node.handle(id)?)?);
        ids.push(id.to_string());
    }
    let archive = node.keys.get().archive(level)?;
    recipients.push(age_recipient(keys, &node.handle(archive)?)?);
    ids.push(archive.to_string());
    Ok((ids, recipients))
}

/// The keys of officials of other nodes among what a letter is wrapped to (recorded by value,
/// `age1…`): kept by every rewrap so that a letter still to be delivered stays readable there.
pub(crate) fn remote_keys(wrapped_to: &[String]) -> Vec<(String, age::x25519::Recipient)> {
    wrapped_to
        .iter()
        .filter(|k| k.starts_with("age1"))
        .filter_map(|k| k.parse().ok().map(|r| (k.clone(), r)))
        .collect()
}

/// The identities that open a letter of `level` inside the node: every archive key of the
/// level it still holds, the current one first.
pub(crate) fn archive_identities(node: &Node, level: Level) -> Result<Vec<HandleIdentity>> {
    let mut out = Vec::new();
    for id in node.keys.get().archive_all(level)? {
        // A destroyed or missing key opens nothing; the others may.
        if let Ok(h) = node.handle(id) {
            if let Ok(i) = HandleIdentity::new(Arc::clone(&node.keystore) as Arc<dyn KeyStore>, h) {
                out.push(i);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::KeyUnavailable(format!(
            "no archive key of level {} is left on this node",
            level.as_str()
        )));
    }
    Ok(out)
}

type Addressees = (
    Vec<Official>,
    Vec<Official>,
    Vec<crate::network::RemoteOfficial>,
);

/// [`addressees`], with a refusal by another node (it may not hold the level) logged here too.
async fn addressees_logged(node: &Node, caller: &Caller, letter: &NewLetter) -> Result<Addressees> {
    match addressees(node, letter).await {
        Ok(a) => Ok(a),
        Err(Error::Forbidden {
            alasan,
            reason,
            policies,
        }) => {
            // Another node refused to hold a letter of this level: logged here as there.
            let d = Decision {
                allowed: false,
                policies,
                alasan,
                reason,
                policy_version: node.policy.current().version().to_owned(),
            };
            Metrics::inc(&node.metrics.denials);
            log_alone(
                node,
                &entry(caller, "send", None, Some(letter.classification), &d),
            )
            .await?;
            Err(forbidden(&d))
        }
        Err(e) => Err(e),
    }
}

/// The recipients and copy-holders, each an active official of this node cleared for the
/// letter's level.
async fn addressees(
    node: &Node,
    letter: &NewLetter,
) -> Result<(
    Vec<Official>,
    Vec<Official>,
    Vec<crate::network::RemoteOfficial>,
)> {
    let mut recipients = Vec::new();
    let mut copies = Vec::new();
    let mut remote = Vec::new();
    for (list, out) in [
        (&letter.recipients, &mut recipients),
        (&letter.copies, &mut copies),
    ] {
        for nip in list {
            if let Some((nip, peer)) = crate::network::remote_address(nip) {
                if peer == node.config.node_id {
                    return Err(Error::Invalid(format!(
                        "{nip}@{peer}: officials of this node are addressed by NIP alone"
                    )));
                }
                let r =
                    crate::network::remote_official(node, peer, nip, letter.classification).await?;
                if r.card.clearance < letter.classification {
                    return Err(Error::Invalid(format!(
                        "{} ({nip}@{peer}) has clearance {} and cannot receive a {} letter",
                        r.card.name,
                        r.card.clearance.as_str(),
                        letter.classification.as_str()
                    )));
                }
                remote.push(r);
                continue;
            }
            let o = directory::get(&node.store, nip).await?.ok_or_else(|| {
                Error::Invalid(format!("no official with NIP {nip:?} on this node"))
            })?;
            if o.status != policies::Status::Active {
                return Err(Error::Invalid(format!("official {nip} is not active")));
            }
            // Addressing someone who could never open it helps nobody and leaks the
            // subject line: refuse before anything is stored.
            if o.clearance < letter.classification {
                return Err(Error::Invalid(format!(
                    "{} ({nip}) has clearance {} and cannot receive a {} letter",
                    o.name,
                    o.clearance.as_str(),
                    letter.classification.as_str()
                )));
            }
            out.push(o);
        }
    }
    Ok((recipients, copies, remote))
}

impl<'a> Ingest<'a> {
    /// Checks the metadata and asks the policy whether this official may create and sign
    /// this letter; a refusal is logged and returned.
    pub async fn begin(node: &'a Node, caller: Caller, letter: NewLetter) -> Result<Self> {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        text_field("nomor", &letter.nomor, 100)?;
        text_field("perihal", &letter.perihal, 500)?;
        if letter.recipients.is_empty() {
            return Err(Error::Invalid(
                "a letter needs at least one recipient".into(),
            ));
        }
        if letter.recipients.len() + letter.copies.len() > 500 {
            return Err(Error::Invalid(
                "at most 500 recipients and copy-holders".into(),
            ));
        }
        let dated = match &letter.dated {
            Some(d) => {
                time::Date::parse(
                    d,
                    &time::macros::format_description!("[year]-[month]-[day]"),
                )
                .map_err(|_| Error::Invalid(format!("dated {d:?} must be YYYY-MM-DD")))?;
                d.clone()
            }
            None => now_rfc3339()[..10].to_owned(),
        };
        let (recipients, copies, remote) = addressees_logged(node, &caller, &letter).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut ingest = Ingest {
            node,
            caller,
            id,
            dated,
            recipients,
            copies,
            remote,
            age_recipients: Vec::new(),
            wrapped_to: Vec::new(),
            parts: Vec::new(),
            decisions: Vec::new(),
            awaiting_approval: false,
            letter,
        };
        let draft = ingest.manifest(String::new());
        let doc = policy_document(&draft, ingest.agencies(), &node.config.node_id);
        let policy = node.policy.current();
        let principal = Principal::Official(ingest.caller.official.person());
        let ctx = Context {
            step_up: ingest.caller.stepped_up,
            ..Context::default()
        };
        for (name, action) in [("create", Action::Create), ("sign", Action::Sign)] {
            let d = policy.decide(&principal, action, &doc, &ctx)?;
            if !d.allowed {
                Metrics::inc(&node.metrics.denials);
                log_alone(
                    node,
                    &entry(
                        &ingest.caller,
                        name,
                        Some(&ingest.id),
                        Some(draft.classification),
                        &d,
                    ),
                )
                .await?;
                return Err(forbidden(&d));
            }
            ingest.decisions.push((name, d));
        }
        // Sending: refused only for want of a second approval means the letter is stored and
        // waits; refused for anything else means it is not created at all.
        let send = policy.decide(&principal, Action::Send, &doc, &ctx)?;
        if !send.allowed {
            if send.policies.iter().all(|p| p == DUAL_CONTROL) && !send.policies.is_empty() {
                ingest.awaiting_approval = true;
            } else {
                Metrics::inc(&node.metrics.denials);
                log_alone(
                    node,
                    &entry(
                        &ingest.caller,
                        "send",
                        Some(&ingest.id),
                        Some(draft.classification),
                        &send,
                    ),
                )
                .await?;
                return Err(forbidden(&send));
            }
        }
        ingest.decisions.push(("send", send));
        ingest.remote_nodes_may_receive(&draft, &doc).await?;
        ingest.wrap(draft.classification)?;
        Ok(ingest)
    }

    /// Each destination node must be accredited for the letter (policy action `receive`); a
    /// refusal is logged and nothing is stored.
    async fn remote_nodes_may_receive(&mut self, draft: &Manifest, doc: &Document) -> Result<()> {
        let mut nodes: Vec<&keymgr::directory::NodeEntry> =
            self.remote.iter().map(|r| &r.node).collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.dedup_by(|a, b| a.id == b.id);
        let policy = self.node.policy.current();
        for n in nodes {
            let accreditation: Level = n
                .accreditation
                .parse()
                .map_err(|e: String| Error::Invalid(format!("node {}: {e}", n.id)))?;
            let d = policy.decide(
                &Principal::Node {
                    id: n.id.clone(),
                    accreditation,
                    status: policies::Status::Active,
                },
                Action::Receive,
                doc,
                &Context::default(),
            )?;
            if !d.allowed {
                Metrics::inc(&self.node.metrics.denials);
                let mut e = entry(
                    &self.caller,
                    "send",
                    Some(&self.id),
                    Some(draft.classification),
                    &d,
                );
                e.reason = format!("to node {}: {}", n.id, d.reason);
                log_alone(self.node, &e).await?;
                return Err(forbidden(&d));
            }
        }
        Ok(())
    }

    /// Each recipient, each copy-holder, the originator and the level's archive key.
    fn wrap(&mut self, level: Level) -> Result<()> {
        let everyone: Vec<&Official> = self
            .recipients
            .iter()
            .chain(&self.copies)
            .chain(std::iter::once(&self.caller.official))
            .collect();
        (self.wrapped_to, self.age_recipients) = wrap_set(self.node, &everyone, level)?;
        // Officials of other nodes: their keys as their bindings prove them, recorded by
        // value so that a rewrap here keeps them.
        for r in &self.remote {
            let key = r.recipient.to_string();
            if !self.wrapped_to.contains(&key) {
                self.wrapped_to.push(key);
                self.age_recipients.push(r.recipient.clone());
            }
        }
        Ok(())
    }

    fn agencies(&self) -> Vec<String> {
        let mut a: Vec<String> = self
            .recipients
            .iter()
            .chain(&self.copies)
            .map(|o| o.agency.clone())
            .chain(self.remote.iter().map(|r| r.card.agency.clone()))
            .chain(std::iter::once(self.caller.official.agency.clone()))
            .collect();
        a.sort();
        a.dedup();
        a
    }

    fn manifest(&self, created_at: String) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            id: self.id.clone(),
            node: self.node.config.node_id.clone(),
            nomor: self.letter.nomor.trim().to_owned(),
            perihal: self.letter.perihal.trim().to_owned(),
            classification: self.letter.classification,
            urgency: self.letter.urgency,
            originator: self.caller.official.nip.clone(),
            originator_name: self.caller.official.name.clone(),
            agency: self.caller.official.agency.clone(),
            recipients: self.letter.recipients.clone(),
            copies: self.letter.copies.clone(),
            dated: self.dated.clone(),
            created_at,
            parts: self.parts.clone(),
            policy_version: self.node.policy.current().version().to_owned(),
            reclassified: None,
        }
    }

    /// Encrypts and stores one part (the body first, then attachments) from a stream.
    pub async fn add_part<S, E>(&mut self, name: &str, media_type: &str, mut body: S) -> Result<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        text_field("part name", name, 200)?;
        text_field("media type", media_type, 200)?;
        if self.parts.len() >= 100 {
            return Err(Error::Invalid("at most 100 attachments".into()));
        }
        let part = i64::try_from(self.parts.len()).map_err(|e| Error::Internal(e.to_string()))?;
        if part == 0 {
            // Recorded before the first chunk: a crash from here on leaves something the
            // sweep recognises as abandoned.
            sqlx::query("INSERT INTO uploads (document_id, started_at) VALUES ($1, $2)")
                .bind(&self.id)
                .bind(now_rfc3339())
                .execute(self.node.store.pool())
                .await?;
        }
        let (plain_tx, mut chunk_rx, task) = envelope::encrypt_part(&self.age_recipients)?;
        // Hashing here, encrypting on the blocking thread and writing on the database's own
        // thread: three stages that run side by side.
        let feed = async move {
            let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
            let mut size = 0u64;
            while let Some(block) = body.next().await {
                match block {
                    Ok(b) => {
                        hash.update(&b);
                        size += b.len() as u64;
                        if plain_tx.send(Ok(b)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let e = format!("reading the upload: {e}");
                        let _ = plain_tx.send(Err(Error::Invalid(e.clone()))).await;
                        return Err(Error::Invalid(e));
                    }
                }
            }
            Ok::<_, Error>((hex::encode(hash.finish()), size))
        };
        let store = &self.node.store;
        let id = self.id.clone();
        // Chunks commit in groups: one durable write per 16 MiB, not per chunk.
        let sink = async move {
            let mut seq = 0i64;
            let mut tx = None;
            while let Some(chunk) = chunk_rx.recv().await {
                if tx.is_none() {
                    tx = Some(store.begin().await?);
                }
                if let Some(t) = tx.as_mut() {
                    sqlx::query(
                        "INSERT INTO chunks (document_id, part, seq, data) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&id)
                    .bind(part)
                    .bind(seq)
                    .bind(chunk)
                    .execute(&mut **t)
                    .await?;
                }
                seq += 1;
                if seq % 16 == 0 {
                    if let Some(t) = tx.take() {
                        t.commit().await?;
                    }
                }
            }
            if let Some(t) = tx.take() {
                t.commit().await?;
            }
            Ok::<(), Error>(())
        };
        let (feed_result, sink_result) = tokio::join!(feed, sink);
        let sealed = task
            .await
            .map_err(|e| Error::Internal(format!("encryption task: {e}")))?;
        let (sha256, size) = feed_result?;
        sink_result?;
        let sealed = sealed?;
        self.parts.push(Part {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size,
            sha256,
            payload_nonce: sealed.payload_nonce,
        });
        Ok(())
    }

    /// Removes what was stored for an ingest that will not finish.
    pub async fn abort(self) {
        for sql in [
            "DELETE FROM chunks WHERE document_id = $1",
            "DELETE FROM uploads WHERE document_id = $1",
        ] {
            // Best effort: what is left is swept once the upload counts as abandoned.
            let _ = sqlx::query(sql)
                .bind(&self.id)
                .execute(self.node.store.pool())
                .await;
        }
    }

    /// Signs the manifest with the official's key and commits the letter, its addressees and
    /// its log entries in one transaction.
    pub async fn finish(self) -> Result<Created> {
        let result = self.commit().await;
        if result.is_err() {
            self.abort().await;
        }
        result
    }

    async fn commit(&self) -> Result<Created> {
        if self.parts.is_empty() {
            return Err(Error::Invalid("a letter needs a body".into()));
        }
        let node = self.node;
        let manifest = self.manifest(now_rfc3339());
        let bytes = manifest.canonical()?;
        let cms = sign_as(node, &self.caller.official, Kind::Manifest, &bytes)?;

        let mut tx = node.store.begin().await?;
        sqlx::query(
            "INSERT INTO documents (id, nomor, perihal, classification, urgency, originator, agency, \
             manifest, signature, state, created_at, policy_version, wrapped_to) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&manifest.id)
        .bind(&manifest.nomor)
        .bind(&manifest.perihal)
        .bind(manifest.classification.as_str())
        .bind(manifest.urgency.as_str())
        .bind(&manifest.originator)
        .bind(&manifest.agency)
        .bind(bytes)
        .bind(cms)
        .bind(if self.awaiting_approval { AWAITING } else { SENT })
        .bind(&manifest.created_at)
        .bind(&manifest.policy_version)
        .bind(serde_json::to_string(&self.wrapped_to).map_err(|e| Error::Internal(e.to_string()))?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO addressees (document_id, nip, role) VALUES ($1, $2, 'originator')",
        )
        .bind(&manifest.id)
        .bind(&manifest.originator)
        .execute(&mut *tx)
        .await?;
        if !self.awaiting_approval {
            deliver(&mut tx, &manifest).await?;
        }
        sqlx::query("DELETE FROM uploads WHERE document_id = $1")
            .bind(&manifest.id)
            .execute(&mut *tx)
            .await?;
        let mut last = None;
        for (name, d) in &self.decisions {
            last = Some(
                node.audit
                    .append(
                        &mut tx,
                        &entry(
                            &self.caller,
                            name,
                            Some(&manifest.id),
                            Some(manifest.classification),
                            d,
                        ),
                    )
                    .await?,
            );
        }
        match last {
            Some(head) => node.audit.commit(tx, &head).await?,
            None => tx.commit().await?,
        }
        Metrics::inc(&node.metrics.documents_created);
        Ok(Created {
            state: if self.awaiting_approval {
                AWAITING
            } else {
                SENT
            }
            .to_owned(),
            manifest,
        })
    }
}

/// Removes the chunks of uploads abandoned for longer than `minutes` (a client that went away
/// mid-upload, a crash of the node) and chunks that belong to no letter and no upload.
/// Returns how many chunks were removed.
pub async fn sweep_abandoned(node: &Node, minutes: i64) -> Result<u64> {
    let cutoff = crate::rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(minutes));
    let stale = sqlx::query("SELECT document_id FROM uploads WHERE started_at < $1")
        .bind(&cutoff)
        .fetch_all(node.store.reader())
        .await?;
    let mut removed = 0;
    for r in stale {
        let id: String = r.try_get("document_id")?;
        let mut tx = node.store.begin().await?;
        removed += sqlx::query(
            "DELETE FROM chunks WHERE document_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM documents WHERE id = $1)",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM uploads WHERE document_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    removed += sqlx::query(
        "DELETE FROM chunks WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = chunks.document_id) \
         AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.document_id = chunks.document_id)",
    )
    .execute(node.store.pool())
    .await?
    .rows_affected();
    Ok(removed)
}

/// The policy that holds a letter for a second approval.
pub(crate) const DUAL_CONTROL: &str = "dual-control";
pub const SENT: &str = "sent";
pub const AWAITING: &str = "awaiting_approval";
pub const DESTROYED: &str = "destroyed";

/// A stored letter and whether it went out or waits for approval.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub state: String,
    #[serde(flatten)]
    pub manifest: Manifest,
}

/// Where a letter stands with one destination node.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub node: String,
    /// `queued`, `sent`, `delivered`, `failed` (retrying) or `dead` (given up; an operator may
    /// retry).
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// When the destination node says it received the letter (from its signed receipt, which
    /// the sender checked).
    pub receipt_at: Option<String>,
}

/// The delivery of a letter to each destination node.
pub async fn deliveries(node: &Node, id: &str) -> Result<Vec<Delivery>> {
    let rows = sqlx::query(
        "SELECT node_id, state, attempts, next_attempt_at, last_error, updated_at, receipt \
         FROM outbox WHERE document_id = $1 ORDER BY node_id",
    )
    .bind(id)
    .fetch_all(node.store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                node: r.try_get("node_id")?,
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_error: r.try_get("last_error")?,
                updated_at: r.try_get("updated_at")?,
                receipt_at: r
                    .try_get::<Option<Vec<u8>>, _>("receipt")?
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["receipt"]["received_at"].as_str().map(str::to_owned)),
            })
        })
        .collect()
}

/// Puts a letter in its recipients' and copy-holders' inboxes.
async fn deliver(tx: &mut crate::store::Tx, manifest: &Manifest) -> Result<()> {
    let mut addressed: Vec<(&str, &str)> = manifest
        .recipients
        .iter()
        .map(|n| (n.as_str(), "recipient"))
        .chain(manifest.copies.iter().map(|n| (n.as_str(), "copy")))
        .collect();
    addressed.sort_unstable();
    addressed.dedup();
    let mut nodes: Vec<&str> = addressed
        .iter()
        .filter_map(|(a, _)| crate::network::remote_address(a).map(|(_, n)| n))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let now = now_rfc3339();
    for n in nodes {
        sqlx::query(
            "INSERT INTO outbox (document_id, node_id, state, attempts, next_attempt_at, updated_at) \
             VALUES ($1, $2, 'queued', 0, $3, $3)",
        )
        .bind(&manifest.id)
        .bind(n)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    addressed.retain(|(a, _)| crate::network::remote_address(a).is_none());
    for (nip, role) in addressed {
        sqlx::query("INSERT INTO addressees (document_id, nip, role) VALUES ($1, $2, $3)")
            .bind(&manifest.id)
            .bind(nip)
            .bind(role)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Whether `o` may give the second approval for `m`: an approver of the originating agency,
/// cleared for the level, who is not the originator.
pub fn may_approve(o: &Official, m: &Manifest) -> bool {
    o.nip != m.originator
        && o.has_role("approver")
        && o.agency == m.agency
        && o.clearance >= m.classification
        && o.status == policies::Status::Active
}

/// The second approval of a letter held by dual control: signed by the approver, and the
/// letter goes out in the same transaction.
pub async fn approve(node: &Node, caller: &Caller, id: &str) -> Result<Created> {
    let checked = load_checked(node, id).await?;
    let m = &checked.manifest;
    let refuse = |alasan: &str, reason: &str| Error::Forbidden {
        alasan: alasan.into(),
        reason: reason.into(),
        policies: vec![DUAL_CONTROL.into()],
    };
    if !may_approve(&caller.official, m) {
        return Err(refuse(
            "ditolak: persetujuan kedua hanya oleh pejabat penyetuju instansi pembuat, selain pembuat naskah",
            "denied: the second approval is given by an approver of the originating agency other than the originator",
        ));
    }
    if checked.state != AWAITING {
        return Err(Error::Conflict(format!(
            "letter {id} is not waiting for approval"
        )));
    }
    if !caller.stepped_up {
        return Err(refuse(
            "ditolak: persetujuan memerlukan verifikasi PIN",
            "denied: approving needs the signing PIN",
        ));
    }
    let originator = directory::get(&node.store, &m.originator)
        .await?
        .ok_or_else(|| Error::Integrity(format!("letter {id}: originator unknown")))?;
    let doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    let send = node.policy.current().decide(
        &Principal::Official(originator.person()),
        Action::Send,
        &doc,
        &Context {
            step_up: true,
            approvers: vec![caller.official.nip.clone()],
            ..Context::default()
        },
    )?;
    if !send.allowed {
        return Err(forbidden(&send));
    }
    let cms = sign_as(node, &caller.official, Kind::Approval, &m.canonical()?)?;
    let mut tx = node.store.begin().await?;
    let moved = sqlx::query("UPDATE documents SET state = $1 WHERE id = $2 AND state = $3")
        .bind(SENT)
        .bind(id)
        .bind(AWAITING)
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "letter {id} was approved meanwhile"
        )));
    }
    sqlx::query("INSERT INTO approvals (document_id, nip, at, signature) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(&caller.official.nip)
        .bind(now_rfc3339())
        .bind(cms)
        .execute(&mut *tx)
        .await?;
    deliver(&mut tx, m).await?;
    let approved = Decision {
        allowed: true,
        policies: vec![],
        alasan: "disetujui sebagai pejabat kedua".into(),
        reason: "approved as the second official".into(),
        policy_version: send.policy_version.clone(),
    };
    node.audit
        .append(
            &mut tx,
            &entry(
                caller,
                "approve",
                Some(id),
                Some(m.classification),
                &approved,
            ),
        )
        .await?;
    let head = node
        .audit
        .append(
            &mut tx,
            &entry(caller, "send", Some(id), Some(m.classification), &send),
        )
        .await?;
    node.audit.commit(tx, &head).await?;
    Ok(Created {
        state: SENT.into(),
        manifest: checked.manifest,
    })
}

/// A letter loaded and checked: its manifest matches its row, its signature verifies.
#[derive(Debug)]
pub struct Checked {
    pub manifest: Manifest,
    pub signature: Vec<u8>,
    pub verified: Verified,
    /// The signer's certificate against the CRL, at signing time.
    pub signature_status: crate::crypto::revocation::SignatureStatus,
    /// `sent` or `awaiting_approval`.
    pub state: String,
}

/// Loads a letter and checks everything that can be checked without decrypting: the manifest
/// is canonical and agrees with the row, the CMS signature verifies and is the originator's.
pub async fn load_checked(node: &Node, id: &str) -> Result<Checked> {
    let row = sqlx::query(
        "SELECT id, nomor, perihal, classification, urgency, originator, agency, manifest, signature, state \
         FROM documents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(node.store.reader())
    .await?
    .ok_or_else(|| Error::NotFound(format!("letter {id}")))?;
    let bytes: Vec<u8> = row.try_get("manifest")?;
    let sig: Vec<u8> = row.try_get("signature")?;
    let manifest =
        Manifest::parse(&bytes).map_err(|e| Error::Integrity(format!("letter {id}: {e}")))?;
    let columns = [
        ("id", row.try_get::<String, _>("id")?, manifest.id.clone()),
        ("nomor", row.try_get("nomor")?, manifest.nomor.clone()),
        ("perihal", row.try_get("perihal")?, manifest.perihal.clone()),
        (
            "classification",
            row.try_get("classification")?,
            manifest.classification.as_str().to_owned(),
        ),
        (
            "urgency",
            row.try_get("urgency")?,
            manifest.urgency.as_str().to_owned(),
        ),
        (
            "originator",
            row.try_get("originator")?,
            manifest.originator.clone(),
        ),
        ("agency", row.try_get("agency")?, manifest.agency.clone()),
    ];
    for (name, stored, signed) in columns {
        if stored != signed {
            return Err(Error::Integrity(format!(
                "letter {id}: the stored {name} differs from the signed manifest"
            )));
        }
    }
    let state: String = row.try_get("state")?;
    if state == DESTROYED {
        return Err(Error::Gone(format!(
            "letter {id} was destroyed after its retention; its destruction record remains"
        )));
    }
    let verified = signature::verify_detached(
        &sig,
        Kind::Manifest,
        signature::Content::Bytes(&bytes),
        &node.trust,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| Error::Integrity(format!("letter {id}: {e}")))?;
    // The first version is signed by its originator; a reclassified one by whoever
    // reclassified it, as the manifest says.
    let signer = manifest
        .reclassified
        .as_ref()
        .map_or(manifest.originator.as_str(), |r| r.by.as_str());
    if verified.nip.as_deref() != Some(signer) {
        return Err(Error::Integrity(format!(
            "letter {id}: signed by someone other than its originator"
        )));
    }
    let signature_status =
        crate::node::revocation::letter_signature_status(node, id, &manifest.created_at, &verified)
            .await?;
    Ok(Checked {
        state,
        manifest,
        signature: sig,
        verified,
        signature_status,
    })
}

fn agencies_of(m: &Manifest, officials: &[Official]) -> Vec<String> {
    let mut a: Vec<String> = officials
        .iter()
        .filter(|o| m.recipients.contains(&o.nip) || m.copies.contains(&o.nip))
        .map(|o| o.agency.clone())
        .chain(std::iter::once(m.agency.clone()))
        .collect();
    a.sort();
    a.dedup();
    a
}

pub(crate) async fn addressed_agencies(node: &Node, m: &Manifest) -> Result<Vec<String>> {
    let mut officials = Vec::new();
    // Only this node's own addressees: a bare NIP in another node's letter is not ours.
    let local = m.node == node.config.node_id;
    for nip in m.recipients.iter().chain(&m.copies).filter(|_| local) {
        if let Some(o) = directory::get(&node.store, nip).await? {
            officials.push(o);
        }
    }
    Ok(agencies_of(m, &officials))
}

/// Asks the policy about `action` on a checked letter and logs the decision; a refusal is
/// returned as `Forbidden`.
/// What the policy says of `action` on a checked letter, without logging it: for offering
/// only what would be allowed (a download link, a print button, a PIN prompt). Anything done
/// goes through [`authorise`].
pub async fn decide(
    node: &Node,
    caller: &Caller,
    action: Action,
    checked: &Checked,
    step_up: bool,
) -> Result<Decision> {
    let m = &checked.manifest;
    if checked.state == AWAITING
        && caller.official.nip != m.originator
        && !may_approve(&caller.official, m)
    {
        // Held by dual control: nothing has left the originator yet.
        return Err(Error::NotFound(format!("letter {}", m.id)));
    }
    let mut doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    crate::letters::approvals::required(node, checked, &doc).await?;
    if checked.state == AWAITING && may_approve(&caller.official, m) {
        // The second official reviews what they approve: an explicit grant while it waits.
        doc.grants.push(caller.official.nip.clone());
    }
    Ok(node.policy.current().decide(
        &Principal::Official(caller.official.person()),
        action,
        &doc,
        &Context {
            step_up,
            ..Context::default()
        },
    )?)
}

pub async fn authorise(
    node: &Node,
    caller: &Caller,
    action: Action,
    checked: &Checked,
) -> Result<Decision> {
    let m = &checked.manifest;
    let d = decide(node, caller, action, checked, caller.stepped_up).await?;
    log_alone(
        node,
        &entry(
            caller,
            action.as_str(),
            Some(&m.id),
            Some(m.classification),
            &d,
        ),
    )
    .await?;
    if d.allowed {
        Ok(d)
    } else {
        Metrics::inc(&node.metrics.denials);
        Err(forbidden(&d))
    }
}

/// Opens part `part` of a checked letter as a stream of plaintext, decrypted inside the node
/// with the level's archive key. The stream ends with an error if the content does not match
/// the signed hash.
pub async fn open_part(
    node: &Node,
    checked: &Checked,
    part: usize,
) -> Result<impl Stream<Item = Result<bytes::Bytes>> + Send + 'static + use<>> {
    let m = &checked.manifest;
    let p = m
        .parts
        .get(part)
        .ok_or_else(|| Error::NotFound(format!("part {part} of letter {}", m.id)))?
        .clone();
    let part_i = i64::try_from(part).map_err(|e| Error::Internal(e.to_string()))?;
    let count: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM chunks WHERE document_id = $1 AND part = $2")
            .bind(&m.id)
            .bind(part_i)
            .fetch_one(node.store.reader())
            .await?
            .try_get("n")?;
    let first: Option<Vec<u8>> =
        sqlx::query("SELECT data FROM chunks WHERE document_id = $1 AND part = $2 AND seq = 0")
            .bind(&m.id)
            .bind(part_i)
            .fetch_optional(node.store.reader())
            .await?
            .map(|r| r.try_get("data"))
            .transpose()?;
    let nonce = first
        .as_deref()
        .and_then(envelope::payload_nonce)
        .map(hex::encode);
    if nonce.as_deref() != Some(p.payload_nonce.as_str()) {
        return Err(Error::Integrity(format!(
            "letter {}: the stored ciphertext is not the one the manifest signs",
            m.id
        )));
    }
    let identities = archive_identities(node, m.classification)?;
    let (cipher_tx, plain_rx) = envelope::decrypt_part(identities, p.sha256.clone());
    let pool = node.store.reader().clone();
    let id = m.id.clone();
    tokio::spawn(async move {
        for seq in 0..count {
            let chunk = sqlx::query(
                "SELECT data FROM chunks WHERE document_id = $1 AND part = $2 AND seq = $3",
            )
            .bind(&id)
            .bind(part_i)
            .bind(seq)
            .fetch_optional(&pool)
            .await
            .map_err(Error::from)
            .and_then(|r| {
                r.ok_or_else(|| Error::Integrity(format!("letter {id}: chunk {seq} is missing")))
                    .and_then(|r| r.try_get::<Vec<u8>, _>("data").map_err(Error::from))
            });
            let stop = chunk.is_err();
            if cipher_tx.send(chunk).await.is_err() || stop {
                break;
            }
        }
    });
    Metrics::inc(&node.metrics.documents_read);
    Ok(tokio_stream_from(plain_rx))
}

/// Part `part` of a checked letter re-encrypted to an age recipient (the official's personal
/// key), streamed: the copy an official takes away opens with the standard `age` tool. If the
/// content fails its check the age file is left without its final chunk, so no tool accepts it.
pub async fn export_part(
    node: &Node,
    checked: &Checked,
    part: usize,
    to: age::x25519::Recipient,
) -> Result<impl Stream<Item = Result<bytes::Bytes>> + Send + 'static + use<>> {
    let mut plain = Box::pin(open_part(node, checked, part).await?);
    let (plain_tx, chunk_rx, task) = envelope::encrypt_part(std::slice::from_ref(&to))?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<()>>();
    tokio::spawn(async move {
        while let Some(block) = plain.next().await {
            let failed = block.is_err();
            if plain_tx.send(block).await.is_err() || failed {
                break;
            }
        }
        drop(plain_tx);
        let result = match task.await {
            Ok(r) => r.map(|_| ()),
            Err(e) => Err(Error::Internal(format!("export task: {e}"))),
        };
        let _ = done_tx.send(result);
    });
    // After the last chunk, a failure becomes an error in the response body, so the client
    // sees a broken transfer rather than a short file.
    let outcome = futures_util::stream::once(async move {
        match done_rx.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(_) => Some(Err(Error::Internal("export task vanished".into()))),
        }
    })
    .filter_map(|x| async move { x });
    Ok(tokio_stream_from(chunk_rx)
        .map(|c| Ok(bytes::Bytes::from(c)))
        .chain(outcome))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mailbox {
    /// Kotak masuk: letters addressed to the caller (recipient or copy).
    Inbox,
    /// Kotak keluar: letters the caller originated.
    Outbox,
    /// Letters of the caller's agency waiting for a second approval the caller may give.
    Approvals,
}

/// Letters waiting for a second approval that the caller may give.
async fn approvals(node: &Node, caller: &Caller, limit: i64) -> Result<Vec<Summary>> {
    let o = &caller.official;
    if !o.has_role("approver") {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT id, nomor, perihal, classification, urgency, originator, created_at, state, \
         EXISTS (SELECT 1 FROM reads r WHERE r.nip = $3 AND r.document_id = documents.id) AS seen \
         FROM documents \
         WHERE state = $1 AND agency = $2 AND originator <> $3 ORDER BY created_at DESC, id LIMIT $4",
    )
    .bind(AWAITING)
    .bind(&o.agency)
    .bind(&o.nip)
    .bind(limit.clamp(1, 1000))
    .fetch_all(node.store.reader())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let classification: Level = r
            .try_get::<String, _>("classification")?
            .parse()
            .map_err(Error::Database)?;
        if classification > o.clearance {
            continue;
        }
        out.push(Summary {
            id: r.try_get("id")?,
            nomor: r.try_get("nomor")?,
            perihal: r.try_get("perihal")?,
            classification,
            urgency: r.try_get("urgency")?,
            originator: r.try_get("originator")?,
            created_at: r.try_get("created_at")?,
            state: r.try_get("state")?,
            read: seen(&r)?,
        });
    }
    Ok(out)
}

/// The `seen` column of a list query (a boolean on PostgreSQL, an integer on SQLite).
fn seen(r: &sqlx::any::AnyRow) -> Result<bool> {
    Ok(r.try_get::<bool, _>("seen")
        .or_else(|_| r.try_get::<i64, _>("seen").map(|n| n != 0))?)
}

/// A letter `official` is about to write at `level`, addressed to no one yet, as the policy
/// sees it.
pub fn draft(official: &Official, level: Level) -> Document {
    Document {
        id: "draft".into(),
        classification: level,
        originator: official.nip.clone(),
        recipients: vec![],
        copies: vec![],
        grants: vec![],
        agency: official.agency.clone(),
        agencies: vec![official.agency.clone()],
        compartments: vec![],
    }
}

/// The classifications `official` may write and sign a letter at (with the PIN), lowest
/// first: what the compose page offers. The policy decides again on the letter itself.
pub fn creatable(node: &Node, official: &Official) -> Result<Vec<Level>> {
    let policy = node.policy.current();
    let principal = Principal::Official(official.person());
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut out = Vec::new();
    for level in Level::ALL {
        let doc = draft(official, level);
        let allowed = [Action::Create, Action::Sign]
            .into_iter()
            .map(|a| policy.decide(&principal, a, &doc, &ctx).map(|d| d.allowed))
            .collect::<std::result::Result<Vec<bool>, _>>()?;
        if allowed.iter().all(|a| *a) {
            out.push(level);
        }
    }
    Ok(out)
}

/// Notes that `nip` opened letter `id` (the first time only): the inbox's unread state.
pub async fn mark_read(node: &Node, nip: &str, id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO reads (document_id, nip, first_read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (nip, document_id) DO NOTHING",
    )
    .bind(id)
    .bind(nip)
    .bind(now_rfc3339())
    .execute(node.store.pool())
    .await?;
    Ok(())
}

/// What to look for in a mailbox.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Words that the nomor or perihal must contain (case-insensitive).
    pub text: Option<String>,
    pub classification: Option<Level>,
    pub limit: i64,
}

/// `text` as a LIKE pattern that matches it literally anywhere.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Lists the letters in a mailbox that the caller may read (after step-up, if the level needs
/// it), newest first, matching `filter`; nothing the policy would refuse is listed, not even
/// its subject.
pub async fn list(
    node: &Node,
    caller: &Caller,
    mailbox: Mailbox,
    filter: &Filter,
) -> Result<Vec<Summary>> {
    if let Some(t) = &filter.text {
        if t.chars().count() > 200 {
            return Err(Error::Invalid(
                "search text is at most 200 characters".into(),
            ));
        }
    }
    let roles = match mailbox {
        Mailbox::Inbox => "('recipient', 'copy')",
        Mailbox::Outbox => "('originator')",
        Mailbox::Approvals => return approvals(node, caller, filter.limit).await,
    };
    let rows = sqlx::query(&format!(
        "SELECT d.id, d.nomor, d.perihal, d.classification, d.urgency, d.originator, d.agency, \
         d.created_at, d.state, \
         EXISTS (SELECT 1 FROM reads r WHERE r.nip = $1 AND r.document_id = d.id) AS seen \
         FROM documents d \
         WHERE EXISTS (SELECT 1 FROM addressees a WHERE a.document_id = d.id AND a.nip = $1 \
         AND a.role IN {roles}) AND d.state <> 'destroyed' \
         AND ($2 = '' OR LOWER(d.perihal) LIKE $2 ESCAPE '\\' OR LOWER(d.nomor) LIKE $2 ESCAPE '\\') \
         AND ($3 = '' OR d.classification = $3) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $4"
    ))
    .bind(&caller.official.nip)
    .bind(filter.text.as_deref().map(like_pattern).unwrap_or_default())
    .bind(filter.classification.map(Level::as_str).unwrap_or_default())
    .bind(filter.limit.clamp(1, 1000))
    .fetch_all(node.store.reader())
    .await?;
    let addressed = addressees_of(node, &rows).await?;
    let policy = node.policy.current();
    let principal = policy.prepare_principal(&Principal::Official(caller.official.person()))?;
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut out = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        let by_role = |role: &str| -> Vec<String> {
            addressed
                .get(&id)
                .map(|v| {
                    v.iter()
                        .filter(|(_, r)| r == role)
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let classification: Level = r
            .try_get::<String, _>("classification")?
            .parse()
            .map_err(Error::Database)?;
        let agency: String = r.try_get("agency")?;
        let doc = Document {
            id: id.clone(),
            classification,
            originator: r.try_get("originator")?,
            recipients: by_role("recipient"),
            copies: by_role("copy"),
            grants: vec![],
            agency: agency.clone(),
            agencies: vec![agency],
            compartments: vec![],
        };
        let d = policy.decide_prepared(
            &principal,
            Action::Read,
            &policy.prepare_document(&doc)?,
            &ctx,
        )?;
        if d.allowed {
            out.push(Summary {
                id,
                nomor: r.try_get("nomor")?,
                perihal: r.try_get("perihal")?,
                classification,
                urgency: r.try_get("urgency")?,
                originator: doc.originator,
                created_at: r.try_get("created_at")?,
                state: r.try_get("state")?,
                read: seen(&r)?,
            });
        }
    }
    Ok(out)
}

/// The addressees (NIP, role) of each listed letter, in one query.
async fn addressees_of(
    node: &Node,
    rows: &[sqlx::any::AnyRow],
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>> {
    let mut out: std::collections::HashMap<String, Vec<(String, String)>> =
        std::collections::HashMap::new();
    if rows.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<std::result::Result<_, _>>()?;
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT document_id, nip, role FROM addressees WHERE document_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(node.store.reader()).await? {
        out.entry(r.try_get("document_id")?)
            .or_default()
            .push((r.try_get("nip")?, r.try_get("role")?));
    }
    Ok(out)
}
