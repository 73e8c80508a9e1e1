//! Letters between nodes: the delivery worker sends each queued letter as stored (manifest,
//! signature, age ciphertext — re-encrypted to no one) over mutual TLS, with retries and
//! backoff; the receiving node checks everything, stores the letter once and answers with a
//! signed receipt (tanda terima).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use policies::{Action, Context, Level, Principal};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::directory::{self, Official};
use crate::documents::{self, Checked};
use crate::envelope::{self, CHUNK, Manifest};
use crate::node::Node;
use crate::signature::{self, Content};
use crate::{Error, Result, now_rfc3339};

const MAGIC: &[u8] = b"SANDI-ENVELOPE-1\n";
/// Letters are carried whole in one request for now; larger ones wait in `dead` with this
/// reason rather than being cut.
pub const MAX_ENVELOPE: usize = 256 << 20;

/// A letter as it travels.
#[derive(Debug)]
pub struct Envelope {
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    /// The ciphertext of each part, in manifest order.
    pub parts: Vec<Vec<u8>>,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for field in [&self.manifest, &self.signature] {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field);
        }
        out.extend_from_slice(&u32::try_from(self.parts.len()).unwrap_or(0).to_be_bytes());
        for p in &self.parts {
            out.extend_from_slice(&(p.len() as u64).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<Self> {
        let bad = || Error::Invalid("not a sandi envelope".into());
        b = b.strip_prefix(MAGIC).ok_or_else(bad)?;
        let mut take = |n: usize| -> Result<&[u8]> {
            if b.len() < n {
                return Err(bad());
            }
            let (head, rest) = b.split_at(n);
            b = rest;
            Ok(head)
        };
        let mut fields = Vec::new();
        for _ in 0..2 {
            let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
            fields.push(take(n)?.to_vec());
        }
        let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?);
        if count > 100 {
            return Err(bad());
        }
        let mut parts = Vec::new();
        for _ in 0..count {
            let n = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad())?);
            let n = usize::try_from(n).map_err(|_| bad())?;
            parts.push(take(n)?.to_vec());
        }
        if !b.is_empty() {
            return Err(bad());
        }
        let signature = fields.pop().ok_or_else(bad)?;
        let manifest = fields.pop().ok_or_else(bad)?;
        Ok(Envelope {
            manifest,
            signature,
            parts,
        })
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

/// A receipt signed with the receiving node's key (the key of its Network CA certificate).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedReceipt {
    pub receipt: Receipt,
    /// The exact signed bytes, base64.
    pub receipt_bytes: String,
    /// ECDSA P-256 / SHA-256 signature (ASN.1 DER, base64) over `receipt_bytes`.
    pub signature: String,
    /// The receiving node's certificate (DER, base64).
    pub certificate: String,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
}

/// Reads a stored letter back into an envelope.
async fn envelope_of(node: &Node, checked: &Checked) -> Result<Envelope> {
    let m = &checked.manifest;
    let total: u64 = m.parts.iter().map(|p| p.size).sum();
    if usize::try_from(total).map_or(true, |t| t > MAX_ENVELOPE) {
        return Err(Error::TooLarge(format!(
            "letter {} is over {} MiB: it is not transmitted whole",
            m.id,
            MAX_ENVELOPE >> 20
        )));
    }
    let mut parts = Vec::new();
    for part in 0..m.parts.len() {
        let rows = sqlx::query(
            "SELECT data FROM chunks WHERE document_id = $1 AND part = $2 ORDER BY seq",
        )
        .bind(&m.id)
        .bind(i64::try_from(part).map_err(|e| Error::Internal(e.to_string()))?)
        .fetch_all(node.store.reader())
        .await?;
        let mut bytes = Vec::new();
        for r in rows {
            bytes.extend_from_slice(&r.try_get::<Vec<u8>, _>("data")?);
        }
        parts.push(bytes);
    }
    Ok(Envelope {
        manifest: m.canonical()?,
        signature: checked.signature.clone(),
        parts,
    })
}

/// How long a delivery stays `sent` (on its way, no receipt yet) before another attempt may
/// take it over: longer than the largest envelope takes to cross.
const SENT_LEASE: time::Duration = time::Duration::minutes(10);

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;

/// Delivers what is due, once; returns how many deliveries were tried.
pub async fn deliver_due(node: &Node) -> Result<usize> {
    let now = now_rfc3339();
    // `sent` rows whose lease ran out belong to a process that died waiting for the receipt.
    let due = sqlx::query(
        "SELECT document_id, node_id, attempts, state, next_attempt_at FROM outbox \
         WHERE state IN ('queued', 'failed', 'sent') AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT 50",
    )
    .bind(&now)
    .fetch_all(node.store.reader())
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let lease = crate::rfc3339(OffsetDateTime::now_utc() + SENT_LEASE);
    let mut jobs = Vec::with_capacity(due.len());
    // All claims in one transaction: one durable write for the batch.
    let mut tx = node.store.begin().await?;
    for r in due {
        let id: String = r.try_get("document_id")?;
        let peer: String = r.try_get("node_id")?;
        let attempts: i64 = r.try_get("attempts")?;
        let state: String = r.try_get("state")?;
        let next: String = r.try_get("next_attempt_at")?;
        // Claimed by one process only: several processes of one node share the outbox.
        let claimed = sqlx::query(
            "UPDATE outbox SET state = 'sent', next_attempt_at = $1, updated_at = $2 \
             WHERE document_id = $3 AND node_id = $4 AND state = $5 AND next_attempt_at = $6",
        )
        .bind(&lease)
        .bind(&now)
        .bind(&id)
        .bind(&peer)
        .bind(&state)
        .bind(&next)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            jobs.push((id, peer, attempts));
        }
    }
    tx.commit().await?;
    let n = jobs.len();
    // Several deliveries in flight: each waits mostly on the peer.
    let results: Vec<Result<()>> =
        futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(
            futures_util::stream::iter(jobs.into_iter().map(|(id, peer, attempts)| async move {
                let outcome = deliver_one(node, &id, &peer).await;
                record(node, &id, &peer, attempts + 1, outcome).await
            })),
            IN_FLIGHT,
        ))
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(n)
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
    if let Err(e) = crate::approvals::required(node, &checked, &doc).await {
        return Outcome::Refused(e.to_string());
    }
    let env = match envelope_of(node, &checked).await {
        Ok(e) => e,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let (entry, mut client) = match crate::network::connect(node, peer).await {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let answer = client
        .call(
            "POST",
            "/network/v1/letters",
            &[("content-type", "application/vnd.sandi.envelope")],
            bytes::Bytes::from(env.encode()),
        )
        .await;
    let (status, _, body) = match answer {
        Ok(a) => a,
        Err(e) => return Outcome::Retry(e.to_string()),
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
    match check_receipt(node, &body, id, &sha256_hex(&env.manifest), &entry) {
        Ok(r) => Outcome::Delivered(r),
        Err(e) => Outcome::Refused(format!("receipt from {peer}: {e}")),
    }
}

/// A receipt counts only if the node the directory lists signed it, for this letter and this
/// manifest.
fn check_receipt(
    node: &Node,
    body: &[u8],
    id: &str,
    manifest_sha256: &str,
    peer: &keymgr::directory::NodeEntry,
) -> Result<SignedReceipt> {
    let r: SignedReceipt = serde_json::from_slice(body)
        .map_err(|e| Error::Invalid(format!("unreadable receipt: {e}")))?;
    let bytes = B64
        .decode(&r.receipt_bytes)
        .map_err(|_| Error::Invalid("receipt is not base64".into()))?;
    let sig = B64
        .decode(&r.signature)
        .map_err(|_| Error::Invalid("receipt signature is not base64".into()))?;
    let cert = B64
        .decode(&r.certificate)
        .map_err(|_| Error::Invalid("receipt certificate is not base64".into()))?;
    signature::check_chain(&cert, &node.network_trust, OffsetDateTime::now_utc())?;
    let spki = keymgr::ca::spki_of_cert(&cert)?;
    hsm_shim::verify_signature(
        &spki,
        hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
        &bytes,
        &sig,
    )
    .map_err(|_| Error::Invalid("the receipt's signature does not verify".into()))?;
    if crate::network::fingerprint(&cert) != peer.certificate_sha256 {
        return Err(Error::Invalid(format!(
            "signed by a certificate the directory does not list for {}",
            peer.id
        )));
    }
    let receipt: Receipt = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("unreadable receipt: {e}")))?;
    if receipt.format != RECEIPT_FORMAT {
        return Err(Error::Invalid(format!(
            "not a receipt: the signed bytes are of kind {:?}",
            receipt.format
        )));
    }
    if receipt != r.receipt
        || receipt.document_id != id
        || receipt.manifest_sha256 != manifest_sha256
        || receipt.received_by != peer.id
    {
        return Err(Error::Invalid(
            "the receipt is for another letter, content or node".into(),
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

async fn record(node: &Node, id: &str, peer: &str, attempts: i64, outcome: Outcome) -> Result<()> {
    let now = now_rfc3339();
    let (state, next, error, receipt, decision, reason) = match outcome {
        Outcome::Delivered(r) => {
            let json = serde_json::to_vec(&r).map_err(|e| Error::Internal(e.to_string()))?;
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
    let mut tx = node.store.begin().await?;
    sqlx::query(
        "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
         receipt = COALESCE($5, receipt), updated_at = $6 WHERE document_id = $7 AND node_id = $8",
    )
    .bind(state)
    .bind(attempts)
    .bind(&next)
    .bind(error)
    .bind(receipt)
    .bind(&now)
    .bind(id)
    .bind(peer)
    .execute(&mut *tx)
    .await?;
    node.audit
        .commit_with(
            tx,
            &Entry::event(
                format!("node:{}", node.config.node_id),
                "transmit",
                decision,
                reason,
                node.policy.current().version(),
                None,
            )
            .about(id),
        )
        .await
}

/// One outbox row, for operators.
#[derive(Debug, Serialize)]
pub struct Queued {
    pub document_id: String,
    pub delivery: documents::Delivery,
}

/// The outbox: every delivery not yet delivered (or all with `all`).
pub async fn outbox(node: &Node, all: bool) -> Result<Vec<Queued>> {
    let rows = sqlx::query(
        "SELECT document_id FROM outbox WHERE $1 OR state <> 'delivered' ORDER BY updated_at",
    )
    .bind(all)
    .fetch_all(node.store.reader())
    .await?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        let id: String = r.try_get("document_id")?;
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
    let moved = sqlx::query(
        "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE document_id = $2 AND node_id = $3 AND state IN ('dead', 'failed')",
    )
    .bind(now_rfc3339())
    .bind(id)
    .bind(peer)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
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
                if let Err(e) = crate::refusals::flush(&node).await {
                    tracing::error!("logging counted refusals: {e}");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

/// This node's officials a letter is addressed to, by plain NIP.
async fn local_addressees(node: &Node, m: &Manifest) -> Result<Vec<(Official, &'static str)>> {
    let mine = format!("@{}", node.config.node_id);
    let mut out = Vec::new();
    for (list, role) in [(&m.recipients, "recipient"), (&m.copies, "copy")] {
        for a in list {
            if let Some(nip) = a.strip_suffix(&mine) {
                let o = directory::get(&node.store, nip).await?.ok_or_else(|| {
                    Error::Invalid(format!("no official {nip} on node {}", node.config.node_id))
                })?;
                out.push((o, role));
            }
        }
    }
    Ok(out)
}

/// Receives a letter from `peer`: checks the sender, this node's accreditation (policy
/// `receive`), the signature chain and its revocation, the manifest, the ciphertext against
/// the manifest and the content against its signed hash; stores it once (the same letter
/// twice is one letter; the same id with other content is an incident) and signs a receipt.
pub async fn receive(
    node: &Node,
    peer: &keymgr::directory::NodeEntry,
    client: Option<String>,
    body: &[u8],
) -> Result<SignedReceipt> {
    let env = Envelope::decode(body)?;
    let m = Manifest::parse(&env.manifest)?;
    let manifest_sha = sha256_hex(&env.manifest);
    if let Some(existing) = stored_receipt(node, &peer.id, &m.id, &manifest_sha).await? {
        return existing;
    }
    match checked(node, peer, &m, &env).await? {
        Ok((local, d)) => {
            let actor = format!("node:{}", peer.id);
            store_received(node, &m, &env, &local, &actor, client, &d).await?;
            sign_receipt(node, &m.id, &manifest_sha).await
        }
        Err(why) => refuse(node, peer, client.as_deref(), &m.id, why).await,
    }
}

/// Everything a received letter must pass; `Ok(Err(why))` is a refusal.
async fn checked(
    node: &Node,
    peer: &keymgr::directory::NodeEntry,
    m: &Manifest,
    env: &Envelope,
) -> Result<std::result::Result<(Vec<(Official, &'static str)>, policies::Decision), String>> {
    if m.node != peer.id {
        return Ok(Err(format!(
            "letter {} comes from node {}, not {}",
            m.id, m.node, peer.id
        )));
    }
    let now = OffsetDateTime::now_utc();
    let v = match signature::verify_detached(
        &env.signature,
        signature::Kind::Manifest,
        Content::Bytes(&env.manifest),
        &node.trust,
        now,
    ) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("signature: {e}"))),
    };
    // Unknown is an error, not a refusal: the sender keeps the letter and retries (503).
    if let crate::revocation::Status::Revoked { at } =
        crate::revocation::require(node, &v.signer_der, "signer's certificate")?
    {
        return Ok(Err(format!("the signer's certificate was revoked at {at}")));
    }
    let signer = m
        .reclassified
        .as_ref()
        .map_or(m.originator.as_str(), |r| r.by.as_str());
    if v.nip.as_deref() != Some(signer) {
        return Ok(Err("signed by someone other than its originator".into()));
    }
    let d = node.policy.current().decide(
        &Principal::Node {
            id: node.config.node_id.clone(),
            accreditation: own_accreditation(node).await?,
            status: policies::Status::Active,
        },
        Action::Receive,
        &documents::policy_document(m, vec![m.agency.clone()], &node.config.node_id),
        &Context::default(),
    )?;
    if !d.allowed {
        return Ok(Err(d.reason));
    }
    let local = match local_addressees(node, m).await {
        Ok(l) if !l.is_empty() => l,
        Ok(_) => {
            return Ok(Err(format!(
                "letter {} has no addressee on this node",
                m.id
            )));
        }
        Err(e) => return Ok(Err(e.to_string())),
    };
    if env.parts.len() != m.parts.len() {
        return Ok(Err("the envelope's parts do not match the manifest".into()));
    }
    // Each part: the signed payload nonce, then the whole content against its signed hash,
    // decrypted with an addressee's key here.
    for (i, (c, p)) in env.parts.iter().zip(&m.parts).enumerate() {
        if envelope::payload_nonce(c).map(hex::encode).as_deref() != Some(p.payload_nonce.as_str())
        {
            return Ok(Err(format!(
                "part {i}: the ciphertext is not the one the manifest signs"
            )));
        }
        if let Err(e) = check_content(addressee_identities(node, &local)?, c, &p.sha256).await {
            return Ok(Err(format!("part {i}: {e}")));
        }
    }
    Ok(Ok((local, d)))
}

/// Logs a refused delivery and answers 403 with the reason.
async fn refuse(
    node: &Node,
    peer: &keymgr::directory::NodeEntry,
    client: Option<&str>,
    id: &str,
    why: String,
) -> Result<SignedReceipt> {
    // Counted, not logged one by one: a refused peer may send again at once.
    let entry = Entry::event(
        format!("node:{}", peer.id),
        "receive",
        "deny",
        why.clone(),
        node.policy.current().version(),
        client.map(str::to_owned),
    )
    .about(id);
    crate::refusals::refused(node, &format!("node:{}", peer.id), "receive", entry).await?;
    Err(Error::Forbidden {
        alasan: format!("ditolak: {why}"),
        reason: format!("denied: {why}"),
        policies: vec![],
    })
}

/// The accreditation this node holds in the directory.
pub(crate) async fn own_accreditation(node: &Node) -> Result<Level> {
    let d = node
        .network
        .current(&node.store)
        .await?
        .ok_or_else(|| Error::Invalid("this node has no network directory".into()))?;
    d.by_id(&node.config.node_id)
        .ok_or_else(|| Error::Invalid("this node is not in its own network directory".into()))?
        .accreditation
        .parse()
        .map_err(|e: String| Error::Invalid(e))
}

fn addressee_identities(
    node: &Node,
    local: &[(Official, &str)],
) -> Result<Vec<hsm_shim::HandleIdentity>> {
    let mut out = Vec::new();
    for (o, _) in local {
        if let Some(k) = o.encryption_key {
            out.push(hsm_shim::HandleIdentity::new(
                Arc::clone(&node.keystore) as Arc<dyn hsm_shim::KeyStore>,
                node.handle(k)?,
            )?);
        }
    }
    Ok(out)
}

async fn check_content(
    identities: Vec<hsm_shim::HandleIdentity>,
    cipher: &[u8],
    sha256: &str,
) -> Result<()> {
    let (tx, mut rx) = envelope::decrypt_part(identities, sha256.to_owned());
    let chunks: Vec<Vec<u8>> = cipher.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    let feed = async move {
        for c in chunks {
            if tx.send(Ok(c)).await.is_err() {
                break;
            }
        }
    };
    let drain = async move {
        while let Some(block) = rx.recv().await {
            block?;
        }
        Ok::<(), Error>(())
    };
    let ((), result) = tokio::join!(feed, drain);
    result
}

/// The receipt already given for this letter, if it is here: the same content again gets the
/// same receipt; other content under the same id is refused as an incident.
async fn stored_receipt(
    node: &Node,
    peer: &str,
    id: &str,
    manifest_sha: &str,
) -> Result<Option<Result<SignedReceipt>>> {
    let Some(row) = sqlx::query("SELECT manifest FROM documents WHERE id = $1")
        .bind(id)
        .fetch_optional(node.store.reader())
        .await?
    else {
        return Ok(None);
    };
    let stored: Vec<u8> = row.try_get("manifest")?;
    let stored_sha = stored_manifest_sha(node, id, &stored).await?;
    if stored_sha == manifest_sha {
        return Ok(Some(sign_receipt(node, id, manifest_sha).await));
    }
    documents::log_alone(
        node,
        &Entry::event(
            format!("node:{peer}"),
            "integrity_incident",
            "error",
            format!("letter {id} received again with other content"),
            node.policy.current().version(),
            None,
        )
        .about(id),
    )
    .await?;
    Ok(Some(Err(Error::Conflict(format!(
        "letter {id} is already here with other content"
    )))))
}

/// The hash of the manifest as it was received (kept beside the letter).
async fn stored_manifest_sha(node: &Node, id: &str, stored: &[u8]) -> Result<String> {
    let received: Option<String> =
        sqlx::query("SELECT manifest_sha256 FROM received WHERE document_id = $1")
            .bind(id)
            .fetch_optional(node.store.reader())
            .await?
            .map(|r| r.try_get("manifest_sha256"))
            .transpose()?;
    Ok(received.unwrap_or_else(|| sha256_hex(stored)))
}

#[allow(clippy::too_many_arguments)]
async fn store_received(
    node: &Node,
    m: &Manifest,
    env: &Envelope,
    local: &[(Official, &str)],
    actor: &str,
    client: Option<String>,
    d: &policies::Decision,
) -> Result<()> {
    // Re-wrapped here for this node's archive key and its addressees' keys, so that it opens
    // like any letter of this node; the encrypted body stays as signed.
    let officials: Vec<&Official> = local.iter().map(|(o, _)| o).collect();
    let (wrapped_to, recipients) = documents::wrap_set(node, &officials, m.classification)?;
    let identities = addressee_identities(node, local)?;
    let mut tx = node.store.begin().await?;
    for (part, cipher) in env.parts.iter().enumerate() {
        let part = i64::try_from(part).map_err(|e| Error::Internal(e.to_string()))?;
        let first_len = cipher.len().min(CHUNK);
        let head = envelope::rewrap_header(&cipher[..first_len], &identities, &recipients)?;
        let chunks =
            std::iter::once(head).chain(cipher[first_len..].chunks(CHUNK).map(<[u8]>::to_vec));
        for (seq, data) in chunks.enumerate() {
            sqlx::query(
                "INSERT INTO chunks (document_id, part, seq, data) VALUES ($1, $2, $3, $4)",
            )
            .bind(&m.id)
            .bind(part)
            .bind(i64::try_from(seq).map_err(|e| Error::Internal(e.to_string()))?)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO documents (id, nomor, perihal, classification, urgency, originator, agency, \
         manifest, signature, state, created_at, policy_version, wrapped_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'received', $10, $11, $12)",
    )
    .bind(&m.id)
    .bind(&m.nomor)
    .bind(&m.perihal)
    .bind(m.classification.as_str())
    .bind(m.urgency.as_str())
    .bind(&m.originator)
    .bind(&m.agency)
    .bind(&env.manifest)
    .bind(&env.signature)
    .bind(&m.created_at)
    .bind(&m.policy_version)
    .bind(serde_json::to_string(&wrapped_to).map_err(|e| Error::Internal(e.to_string()))?)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO received (document_id, from_node, manifest_sha256, received_at) VALUES ($1, $2, $3, $4)")
        .bind(&m.id)
        .bind(&m.node)
        .bind(sha256_hex(&env.manifest))
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await?;
    for (o, role) in local {
        sqlx::query("INSERT INTO addressees (document_id, nip, role) VALUES ($1, $2, $3)")
            .bind(&m.id)
            .bind(&o.nip)
            .bind(*role)
            .execute(&mut *tx)
            .await?;
    }
    node.audit
        .commit_with(
            tx,
            &Entry::event(
                actor.to_owned(),
                "receive",
                "allow",
                d.reason.clone(),
                &d.policy_version,
                client,
            )
            .about(&m.id),
        )
        .await
}

/// Signs a receipt for `id` with this node's certificate (its TLS key, in hsm-shim).
async fn sign_receipt(node: &Node, id: &str, manifest_sha: &str) -> Result<SignedReceipt> {
    let received_at: Option<String> =
        sqlx::query("SELECT received_at FROM received WHERE document_id = $1")
            .bind(id)
            .fetch_optional(node.store.reader())
            .await?
            .map(|r| r.try_get("received_at"))
            .transpose()?;
    let receipt = Receipt {
        format: RECEIPT_FORMAT.into(),
        document_id: id.to_owned(),
        manifest_sha256: manifest_sha.to_owned(),
        received_by: node.config.node_id.clone(),
        received_at: received_at.unwrap_or_else(now_rfc3339),
    };
    let bytes = serde_json::to_vec(&receipt).map_err(|e| Error::Internal(e.to_string()))?;
    let chain = crate::node::read_pem_certs(&node.layout.tls_chain())?;
    let leaf = chain
        .first()
        .ok_or_else(|| Error::Internal("no node certificate".into()))?;
    let keys: &dyn hsm_shim::KeyStore = node.tls_keystore.as_ref();
    let handle = keys.info(node.keys.get().tls)?.handle();
    let sig = keys.sign(&handle, &bytes)?;
    Ok(SignedReceipt {
        receipt,
        receipt_bytes: B64.encode(&bytes),
        signature: B64.encode(sig.bytes),
        certificate: B64.encode(leaf),
    })
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
        let two = crate::bench::two_nodes(root.path())
            .await
            .expect("two nodes");
        let a = crate::bench::serve_node(&two.a_dir, two.la)
            .await
            .expect("hub");
        let b = crate::bench::serve_node(&two.b_dir, two.lb)
            .await
            .expect("bappeda");
        let budi = directory::get(&a.node.store, &two.hub.officials[0].nip)
            .await
            .expect("read")
            .expect("Budi");
        crate::bench::letter_to_bappeda(&a.node, &budi, 0)
            .await
            .expect("letter");
        while deliver_due(&a.node).await.expect("deliver") > 0 {}
        let row = sqlx::query("SELECT document_id, state, receipt FROM outbox")
            .fetch_one(a.node.store.reader())
            .await
            .expect("outbox row");
        let id: String = row.try_get("document_id").expect("id");
        assert_eq!(
            row.try_get::<String, _>("state").expect("state"),
            "delivered"
        );
        let body: Vec<u8> = row.try_get("receipt").expect("receipt");
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
        // The signed receipt changed to name another letter: the signature no longer verifies.
        let mut forged: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let bytes = B64
            .decode(forged["receipt_bytes"].as_str().expect("bytes"))
            .expect("b64");
        let text = String::from_utf8(bytes)
            .expect("utf-8")
            .replace(&id, &unknown);
        forged["receipt_bytes"] = B64.encode(text).into();
        forged["receipt"]["document_id"] = unknown.clone().into();
        let forged = serde_json::to_vec(&forged).expect("json");
        assert!(refused(&forged, &unknown, &sha, &bappeda).contains("does not verify"));
        for s in [a, b] {
            let _ = s.stop.send(());
            let _ = s.task.await;
        }
    }
}
