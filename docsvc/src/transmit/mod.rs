//! Letters between nodes: the delivery worker sends each queued letter as stored (manifest,
//! signature, age ciphertext — re-encrypted to no one) over mutual TLS, with retries and
//! backoff; the receiving node checks everything, stores the letter once and answers with a
//! signed receipt (tanda terima), which is checked here. The receiving side is `receive`.

pub mod receive;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::crypto::{receipt, sha256_hex};
use crate::letters::documents::{self, Checked};
use crate::node::Node;
use crate::store::outbox::{self, Attempt};
use crate::store::script::Script;
use crate::{Error, Result, now_rfc3339};

pub(crate) const MAGIC: &[u8] = b"SANDI-ENVELOPE-1\n";
/// An envelope that also carries, after its parts, the PDF update of the letter's second
/// approval (dual control): a letter without one still travels as version 1.
pub(crate) const MAGIC_V2: &[u8] = b"SANDI-ENVELOPE-2\n";
/// The largest approval update carried (as `letters::documents` bounds it when reading).
pub const MAX_APPROVAL_UPDATE: usize = 8 << 20;
/// The largest letter carried between nodes, in one request streamed from the content store
/// (above the 2 GiB a node accepts from its officials by default). Larger ones wait in `dead`
/// with this reason rather than being cut.
pub const MAX_ENVELOPE: usize = 4 << 30;

/// A letter as it travels.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    /// The ciphertext of each part, in manifest order.
    pub parts: Vec<Vec<u8>>,
    /// The PDF update of the letter's second approval, when it has one (version 2).
    pub approval: Option<Vec<u8>>,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = head(
            &self.manifest,
            &self.signature,
            self.parts.len(),
            self.approval.is_some(),
        );
        for p in &self.parts {
            out.extend_from_slice(&(p.len() as u64).to_be_bytes());
            out.extend_from_slice(p);
        }
        if let Some(a) = &self.approval {
            out.extend_from_slice(&approval_trailer(a));
        }
        out
    }

    /// Reads an envelope held in memory, as a delivery is read (see `receive::decode`).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        receive::decode(bytes)
    }
}

/// What a receipt's signed bytes say they are: the only kind a node's receipt key signs.
pub const RECEIPT_FORMAT: &str = "sandi-receipt-v1";

/// The tanda terima: which letter, which content, received by which node, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub format: String,
    pub document_id: String,
    /// SHA-256 (hex) of the signed manifest received.
    pub manifest_sha256: String,
    pub received_by: String,
    pub received_at: String,
}

/// A receipt signed by the receiving node with the key of its Network CA certificate, as a CMS
/// SignedData that carries the receipt's bytes (`crypto::receipt`): `openssl cms -verify`
/// checks it against the sandi root.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// What the CMS carries, for reading; only the signed bytes count.
    pub receipt: Receipt,
    /// The CMS SignedData (DER, base64), with the receipt's JSON as its content and the
    /// receiving node's certificate.
    pub cms: String,
}

/// An envelope's start: the magic (version 2 when an approval follows the parts), the
/// manifest, the signature and how many parts follow.
fn head(manifest: &[u8], signature: &[u8], parts: usize, approval: bool) -> Vec<u8> {
    let mut out = if approval { MAGIC_V2 } else { MAGIC }.to_vec();
    for field in [manifest, signature] {
        out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&u32::try_from(parts).unwrap_or(0).to_be_bytes());
    out
}

/// A version 2 envelope's end: the approval update's length and its bytes.
fn approval_trailer(update: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(update.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(update);
    out
}

/// The PDF update of letter `id`'s approval, to travel with it: none for most letters. Only
/// one is ever made (`letters::documents` refuses a letter with more).
async fn approval_of(node: &Node, id: &str) -> Result<Option<Vec<u8>>> {
    let mut updates = crate::store::approvals::pdf_updates_of(&node.store, id).await?;
    match updates.pop() {
        None => Ok(None),
        Some((_, u)) if updates.is_empty() && u.len() <= MAX_APPROVAL_UPDATE => Ok(Some(u)),
        // Not sent without it: the receiver would hold the letter with its approval missing.
        Some(_) => Err(Error::Integrity(format!(
            "letter {id}: its approval's PDF update is not one of at most {} MiB",
            MAX_APPROVAL_UPDATE >> 20
        ))),
    }
}

/// A letter over [`MAX_ENVELOPE`] is not transmitted.
fn within_limit(m: &crate::crypto::envelope::Manifest) -> Result<()> {
    let total = m.parts.iter().fold(0u64, |t, p| t.saturating_add(p.size));
    if usize::try_from(total).map_or(true, |t| t > MAX_ENVELOPE) {
        return Err(Error::TooLarge(format!(
            "letter {} is over {} MiB: it is not transmitted",
            m.id,
            MAX_ENVELOPE >> 20
        )));
    }
    Ok(())
}

/// A stored letter as the worker sends it: the envelope's length, and its bytes streamed from
/// the content store (the head, then each part's length and its ciphertext piece by piece), so
/// that the sender holds a few pieces whatever the letter's size. A part that reads other
/// than its length ends the stream with an error, which aborts the request.
pub async fn envelope_stream(
    node: &Node,
    checked: &Checked,
) -> Result<(
    u64,
    impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + use<>,
)> {
    let m = &checked.manifest;
    within_limit(m)?;
    let approval = approval_of(node, &m.id).await?;
    let start = head(
        &m.canonical()?,
        &checked.signature,
        m.parts.len(),
        approval.is_some(),
    );
    let end = approval.as_deref().map(approval_trailer);
    // Opened here, each with its length: the envelope's length is sent first.
    let mut sources = Vec::with_capacity(m.parts.len());
    for part in 0..m.parts.len() {
        let index = i64::try_from(part).map_err(|_| Error::OutOfRange {
            what: "a part index",
        })?;
        // Tried again later, as when a part failed mid-stream (a file not opened now may be
        // tomorrow): not a refusal for good.
        let unread = |why: String| Error::Task {
            what: "reading a letter's content",
            detail: why,
        };
        let source = crate::store::content::open_part(&node.store, &m.id, index)
            .await
            .map_err(|e| unread(e.to_string()))?
            .ok_or_else(|| unread(format!("letter {}: part {part} is missing", m.id)))?;
        sources.push(source);
    }
    let length = sources
        .iter()
        .try_fold(start.len() as u64, |n, s| {
            n.checked_add(8)?.checked_add(s.length())
        })
        .and_then(|n| n.checked_add(end.as_ref().map_or(0, |e| e.len() as u64)))
        .ok_or(Error::OutOfRange {
            what: "an envelope's length",
        })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let id = m.id.clone();
    tokio::spawn(async move {
        if tx.send(Ok(start.into())).await.is_err() {
            return;
        }
        for (part, source) in sources.into_iter().enumerate() {
            let sent = send_part(&id, part, source, &tx).await;
            if let Err(e) = sent {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        }
        if let Some(end) = end {
            let _ = tx.send(Ok(end.into())).await;
        }
    });
    let blocks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|block| (block, rx))
    });
    Ok((length, blocks))
}

/// One part of a streamed envelope: its length, then its ciphertext, which must be as long.
async fn send_part(
    id: &str,
    part: usize,
    mut source: crate::store::content::PartSource,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
) -> Result<()> {
    let gone = || Error::Task {
        what: "sending a letter",
        detail: "the connection went away".into(),
    };
    let len = source.length();
    tx.send(Ok(len.to_be_bytes().to_vec().into()))
        .await
        .map_err(|_| gone())?;
    let mut sent = 0u64;
    while let Some(piece) = source.next().await? {
        sent += piece.len() as u64;
        if sent > len {
            break;
        }
        tx.send(Ok(piece.into())).await.map_err(|_| gone())?;
    }
    if sent != len {
        return Err(Error::Integrity(format!(
            "letter {id}: part {part} changed while it was sent"
        )));
    }
    Ok(())
}

/// Reads a stored letter back into an envelope held whole in memory (tests and tools; the
/// worker streams it with [`envelope_stream`]).
pub async fn envelope_of(node: &Node, checked: &Checked) -> Result<Envelope> {
    let m = &checked.manifest;
    within_limit(m)?;
    let mut parts = Vec::new();
    for part in 0..m.parts.len() {
        let part = i64::try_from(part).map_err(|_| Error::OutOfRange {
            what: "a part index",
        })?;
        parts.push(crate::store::content::part_bytes(&node.store, &m.id, part).await?);
    }
    Ok(Envelope {
        manifest: m.canonical()?,
        signature: checked.signature.clone(),
        parts,
        approval: approval_of(node, &m.id).await?,
    })
}

/// How long a delivery stays `sent` (on its way, no receipt yet) before another attempt may
/// take it over: longer than the largest envelope takes to cross.
const SENT_LEASE: time::Duration = time::Duration::minutes(10);

/// Deliveries in flight at once (and connections kept a peer, `network::KEPT_PER_PEER`).
/// Measured with `docsvc bench --only network` (stop 55, 20 KiB letters): 16 gave 529–544
/// letters/s, 24 550, 32 565–569, 48 and 64 519–531 (more waiting on the receiver's commit
/// than overlapping).
const IN_FLIGHT: usize = 32;

/// Delivers what is due, once; returns how many deliveries were tried.
pub async fn deliver_due(node: &Node) -> Result<usize> {
    let now = now_rfc3339();
    // `sent` rows whose lease ran out belong to a process that died waiting for the receipt.
    let due = outbox::due(&node.store, &now).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let lease = crate::rfc3339(OffsetDateTime::now_utc() + SENT_LEASE);
    // All claims in one transaction (one durable write) and one script (one trip to SQLite)
    // for the batch. Claimed by one process only: several processes of one node share the
    // outbox.
    let mut claims = Script::new();
    for r in &due {
        outbox::push_claim(&mut claims, r, &lease, &now);
    }
    let mut tx = node.store.begin().await?;
    let claimed = outbox::claimed(&claims.run(&mut tx).await?)?;
    tx.commit().await?;
    let jobs: Vec<_> = due
        .into_iter()
        .filter(|r| claimed.contains(&(r.document_id.clone(), r.node_id.clone())))
        .map(|r| (r.document_id, r.node_id, r.attempts))
        .collect();
    let n = jobs.len();
    // Several deliveries in flight (each waits mostly on the peer), their outcomes recorded as
    // they come in group commits: whatever finished while one commit was written goes into the
    // next, one transaction and one signed head for all of them.
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<Attempted>();
    let deliveries =
        futures_util::StreamExt::collect::<Vec<()>>(futures_util::StreamExt::buffer_unordered(
            futures_util::stream::iter(
                jobs.into_iter()
                    .map(|job| attempt(node, job, done.clone()))
                    .collect::<Vec<_>>(),
            ),
            IN_FLIGHT,
        ));
    // Only the deliveries' own senders keep the recorder going.
    drop(done);
    let recording = async {
        let mut failed = None;
        while let Some(first) = finished.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = finished.try_recv() {
                batch.push(more);
            }
            // A batch not recorded stays `sent` until its lease ends, then goes again; the
            // receiver answers a letter it holds with the same receipt.
            if let Err(e) = record(node, batch).await {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    };
    let (_, recorded) = tokio::join!(deliveries, recording);
    recorded?;
    Ok(n)
}

/// Tries one claimed delivery and hands its outcome to the recorder.
async fn attempt(
    node: &Node,
    (id, peer, attempts): (String, String, i64),
    done: tokio::sync::mpsc::UnboundedSender<Attempted>,
) {
    let outcome = deliver_one(node, &id, &peer).await;
    // The recorder outlives every delivery: it ends when the last sender is dropped.
    let _ = done.send(Attempted {
        id,
        peer,
        attempts: attempts + 1,
        outcome,
    });
}

/// One delivery tried: which letter to which node, its attempt number and what it came to.
struct Attempted {
    id: String,
    peer: String,
    attempts: i64,
    outcome: Outcome,
}

/// What one attempt came to.
enum Outcome {
    Delivered(SignedReceipt),
    /// Worth trying again (the peer is down, a network error).
    Retry(String),
    /// Refused for good (policy, integrity): retrying changes nothing.
    Refused(String),
}

async fn deliver_one(node: &Node, id: &str, peer: &str) -> Outcome {
    let checked = match documents::load_checked(node, id).await {
        Ok(c) => c,
        Err(e @ Error::RevocationUnknown(_)) => return Outcome::Retry(e.to_string()),
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    // Held by dual control: nothing leaves without its second approval, whatever the row says.
    let doc = match documents::addressed_agencies(node, &checked.manifest).await {
        Ok(a) => documents::policy_document(&checked.manifest, a, &node.config.node_id),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    if let Err(e) = crate::letters::approvals::required(node, &checked, &doc).await {
        return Outcome::Refused(e.to_string());
    }
    let (entry, status, body) = match send(node, &checked, peer).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if status != 200 {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let why = format!(
            "{peer} answered {status}: {}",
            v["detail"].as_str().unwrap_or("no detail")
        );
        return if status >= 500 {
            Outcome::Retry(why)
        } else {
            Outcome::Refused(why)
        };
    }
    let manifest = match checked.manifest.canonical() {
        Ok(m) => m,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    match check_receipt(node, &body, id, &sha256_hex(&manifest), &entry) {
        Ok(r) => Outcome::Delivered(r),
        Err(e) => Outcome::Refused(format!("receipt from {peer}: {e}")),
    }
}

/// Sends the envelope to `peer` on a kept connection, or a new one: its directory entry and
/// the answer. A kept connection the peer closed meanwhile costs one more try on a new one.
async fn send(
    node: &Node,
    checked: &Checked,
    peer: &str,
) -> std::result::Result<(keymgr::directory::NodeEntry, u16, bytes::Bytes), Outcome> {
    let crate::network::Reusable {
        mut entry,
        mut client,
        mut kept,
        own,
    } = crate::network::connect_reusing(node, peer)
        .await
        .map_err(|e| Outcome::Retry(e.to_string()))?;
    loop {
        let (length, blocks) = match envelope_stream(node, checked).await {
            Ok(e) => e,
            Err(e @ (Error::Database(_) | Error::Task { .. })) => {
                return Err(Outcome::Retry(e.to_string()));
            }
            Err(e) => return Err(Outcome::Refused(e.to_string())),
        };
        let length = length.to_string();
        // The answer is a receipt or a problem: a few KiB.
        let answer = client
            .call_streamed(
                "POST",
                "/network/v1/letters",
                &[
                    ("content-type", "application/vnd.sandi.envelope"),
                    ("content-length", &length),
                ],
                blocks,
                1 << 20,
            )
            .await;
        match answer {
            Ok((status, _, body)) => {
                crate::network::keep(node, peer, entry.clone(), client, own);
                return Ok((entry, status, body));
            }
            Err(e) if !kept => return Err(Outcome::Retry(e.to_string())),
            Err(e) => {
                tracing::debug!(peer, "a kept connection failed ({e}); trying a new one");
                (entry, client) = crate::network::connect(node, peer)
                    .await
                    .map_err(|e| Outcome::Retry(e.to_string()))?;
                kept = false;
            }
        }
    }
}

/// A receipt counts only if the node the directory lists signed it (a certificate from the
/// Network CA naming it, for the key the directory pins: any of its renewed certificates), for
/// this letter and this manifest.
fn check_receipt(
    node: &Node,
    body: &[u8],
    id: &str,
    manifest_sha256: &str,
    peer: &keymgr::directory::NodeEntry,
) -> Result<SignedReceipt> {
    let r: SignedReceipt = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("receipt", format!("unreadable receipt: {e}")))?;
    let cms = B64
        .decode(&r.cms)
        .map_err(|_| Error::invalid("receipt", "receipt is not base64"))?;
    let opened = receipt::open(&cms, &node.network_trust, OffsetDateTime::now_utc())?;
    if let Err(why) = peer.certifies(&opened.signer_der) {
        return Err(Error::invalid(
            "receipt",
            format!(
                "signed by a certificate the directory does not list for {}: {why}",
                peer.id
            ),
        ));
    }
    let bytes = opened.content;
    let receipt: Receipt = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid("receipt", format!("unreadable receipt: {e}")))?;
    if receipt.format != RECEIPT_FORMAT {
        return Err(Error::invalid(
            "receipt",
            format!(
                "not a receipt: the signed bytes are of kind {:?}",
                receipt.format
            ),
        ));
    }
    if receipt != r.receipt
        || receipt.document_id != id
        || receipt.manifest_sha256 != manifest_sha256
        || receipt.received_by != peer.id
    {
        return Err(Error::invalid(
            "receipt",
            "the receipt is for another letter, content or node",
        ));
    }
    Ok(r)
}

/// The next attempt after `attempts` failures: exponential (2 s doubling, at most 10 min)
/// with jitter, so that many senders do not retry in step.
fn backoff(attempts: i64) -> time::Duration {
    let base = 2i64
        .saturating_pow(u32::try_from(attempts.clamp(1, 20)).unwrap_or(20))
        .min(600);
    let mut jitter = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut jitter);
    let jitter_ms = i64::from(u16::from_be_bytes(jitter)) % (base * 250).max(1);
    time::Duration::seconds(base) + time::Duration::milliseconds(jitter_ms)
}

/// Records tried deliveries in one transaction, each on its outbox row and with its own log
/// entry, under one signed head.
async fn record(node: &Node, batch: Vec<Attempted>) -> Result<()> {
    let now = now_rfc3339();
    let mut entries = Vec::with_capacity(batch.len());
    // One script for the batch's rows (one trip to SQLite), written before the log's lock
    // is taken, as everywhere else.
    let mut attempts_made = Script::new();
    for Attempted {
        id,
        peer,
        attempts,
        outcome,
    } in batch
    {
        let (state, next, error, receipt, decision, reason) = match outcome {
            Outcome::Delivered(r) => {
                let json = serde_json::to_vec(&r).map_err(|e| Error::encode("a receipt", e))?;
                (
                    "delivered",
                    now.clone(),
                    None,
                    Some(json),
                    "allow",
                    format!("delivered to {peer}, receipt of {}", r.receipt.received_at),
                )
            }
            Outcome::Retry(why) if attempts < node.config.delivery_attempts => (
                "failed",
                crate::rfc3339(OffsetDateTime::now_utc() + backoff(attempts)),
                Some(why.clone()),
                None,
                "error",
                format!("attempt {attempts} to {peer}: {why}"),
            ),
            Outcome::Retry(why) | Outcome::Refused(why) => (
                "dead",
                now.clone(),
                Some(why.clone()),
                None,
                "deny",
                format!("given up after attempt {attempts} to {peer}: {why}"),
            ),
        };
        outbox::push_attempt(
            &mut attempts_made,
            Attempt {
                id: &id,
                node_id: &peer,
                state,
                attempts,
                next_attempt_at: &next,
                last_error: error,
                receipt,
                updated_at: &now,
            },
        );
        entries.push(
            Entry::event(
                format!("node:{}", node.config.node_id),
                "transmit",
                decision,
                reason,
                node.policy.current().version(),
                None,
            )
            .about(&id),
        );
    }
    let mut tx = node.store.begin().await?;
    attempts_made.run(&mut tx).await?;
    let head = node.audit.append_many(&mut tx, &entries).await?;
    node.audit.commit(tx, &head).await
}

/// One outbox row, for operators.
#[derive(Debug, Serialize)]
pub struct Queued {
    pub document_id: String,
    pub delivery: documents::Delivery,
}

/// The outbox: every delivery not yet delivered (or all with `all`).
pub async fn outbox(node: &Node, all: bool) -> Result<Vec<Queued>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in outbox::letters(&node.store, all).await? {
        if !seen.insert(id.clone()) {
            continue;
        }
        for d in documents::deliveries(node, &id).await? {
            if all || d.state != "delivered" {
                out.push(Queued {
                    document_id: id.clone(),
                    delivery: d,
                });
            }
        }
    }
    Ok(out)
}

/// Puts a dead (or failing) delivery back in the queue for the next round, logged.
pub async fn retry(node: &Node, id: &str, peer: &str, operator: &str) -> Result<()> {
    let mut tx = node.store.begin().await?;
    if !outbox::requeue(&mut tx, id, peer, &now_rfc3339()).await? {
        return Err(Error::NotFound(format!(
            "no dead or failing delivery of {id} to {peer}"
        )));
    }
    node.audit
        .commit_with(
            tx,
            &Entry::event(
                format!("operator:{operator}"),
                "transmit_retry",
                "allow",
                format!("delivery to {peer} queued again"),
                node.policy.current().version(),
                None,
            )
            .about(id),
        )
        .await
}

/// Runs the delivery worker until the process ends.
pub fn spawn_worker(node: Arc<Node>) {
    tokio::spawn(async move {
        loop {
            if !node.is_sealed() {
                match deliver_due(&node).await {
                    Ok(_) => {}
                    Err(e) => tracing::error!("delivery worker: {e}"),
                }
                // Counts of refusals whose window has closed reach the log here at the latest.
                if let Err(e) = crate::node::refusals::flush(&node).await {
                    tracing::error!("logging counted refusals: {e}");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

/// How many deliveries stand in each state (`queued`, `sent`, `delivered`, `failed`, `dead`).
pub async fn deliveries_by_state(node: &Node) -> Result<Vec<(String, i64)>> {
    outbox::count_by_state(&node.store).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receipt is taken only for the letter, the content and the node it was asked of: one
    /// for an unknown letter, another manifest or another node is refused, and so is one whose
    /// signed bytes were changed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receipt_counts_only_for_its_letter_content_and_node() {
        let root = tempfile::tempdir().expect("tempdir");
        let two = crate::dev::bench::two_nodes(root.path())
            .await
            .expect("two nodes");
        let a = crate::dev::bench::serve_node(&two.a_dir, two.la)
            .await
            .expect("hub");
        let b = crate::dev::bench::serve_node(&two.b_dir, two.lb)
            .await
            .expect("bappeda");
        let budi = crate::officials::directory::get(&a.node.store, &two.hub.officials[0].nip)
            .await
            .expect("read")
            .expect("Budi");
        crate::dev::bench::letter_to_bappeda(&a.node, &budi, 0)
            .await
            .expect("letter");
        while deliver_due(&a.node).await.expect("deliver") > 0 {}
        let ids = outbox::letters(&a.node.store, true).await.expect("outbox");
        let id = ids.first().expect("outbox row").clone();
        let row = outbox::deliveries_of(&a.node.store, &id)
            .await
            .expect("deliveries")
            .into_iter()
            .next()
            .expect("outbox row");
        assert_eq!(row.state, "delivered");
        let body: Vec<u8> = row.receipt.expect("receipt");
        let checked = documents::load_checked(&a.node, &id).await.expect("letter");
        let sha = sha256_hex(&checked.manifest.canonical().expect("manifest"));
        let directory = a
            .node
            .network
            .current(&a.node.store)
            .await
            .expect("directory")
            .expect("a directory");
        let bappeda = directory.by_id("bappeda").expect("bappeda").clone();
        let hub = directory.by_id("hub").expect("hub").clone();

        let ok = check_receipt(&a.node, &body, &id, &sha, &bappeda).expect("its own receipt");
        assert_eq!(ok.receipt.document_id, id);
        let refused = |body: &[u8], id: &str, sha: &str, peer| {
            check_receipt(&a.node, body, id, sha, peer)
                .expect_err("refused")
                .to_string()
        };
        let unknown = uuid::Uuid::new_v4().to_string();
        assert!(refused(&body, &unknown, &sha, &bappeda).contains("another letter"));
        assert!(refused(&body, &id, &"00".repeat(32), &bappeda).contains("another letter"));
        // Signed by bappeda's key, but said to come from the hub: not the hub's certificate.
        assert!(refused(&body, &id, &sha, &hub).contains("does not list for hub"));
        // The receipt inside the CMS changed to name another letter (same length, so the DER
        // still parses): its signed digest no longer matches.
        let mut forged: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let cms = B64
            .decode(forged["cms"].as_str().expect("cms"))
            .expect("b64");
        let at = cms
            .windows(id.len())
            .position(|w| w == id.as_bytes())
            .expect("the receipt names its letter");
        let mut changed = cms.clone();
        changed[at..at + id.len()].copy_from_slice(unknown.as_bytes());
        forged["cms"] = B64.encode(&changed).into();
        forged["receipt"]["document_id"] = unknown.clone().into();
        let forged = serde_json::to_vec(&forged).expect("json");
        assert!(
            refused(&forged, &unknown, &sha, &bappeda).contains("does not match its signed digest")
        );
        // Any one byte of the signature changed: refused.
        let mut flipped = cms.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        v["cms"] = B64.encode(&flipped).into();
        let flipped = serde_json::to_vec(&v).expect("json");
        assert!(check_receipt(&a.node, &flipped, &id, &sha, &bappeda).is_err());
        for s in [a, b] {
            let _ = s.stop.send(());
            let _ = s.task.await;
        }
    }
}
