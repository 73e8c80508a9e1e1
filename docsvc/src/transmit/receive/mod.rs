//! The receiving side of transmission: a peer's delivery (`POST /network/v1/letters`), read
//! as it comes.
//!
//! The peer is authenticated before its body is touched (the `NodeAuthed` extractor). Then the
//! envelope's header (manifest, signature, part count; each bounded) is read and everything
//! that does not need the content is checked: the manifest names the peer, the letter is not
//! already here, the signature chain and its revocation, the signer's key against this node's
//! handling table for the level, the policy's `receive` decision, an addressee on this node. A refusal there is answered before the rest of the body is read.
//! The parts then stream into a spool while each is checked (the signed payload nonce, the
//! content decrypted chunk by chunk against its signed hash): memory up to 256 KiB, a private
//! file past that. Only a letter that passed everything is stored, from the spool, in one
//! transaction. Memory per delivery is a few chunks whatever the letter's size; the spool file
//! is removed in every case.

mod incoming;
mod spool;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use policies::{Action, Context, Level, Principal};
use time::OffsetDateTime;

pub use incoming::{BodyStream, Incoming, decode};

pub use self::incoming::MAX_BODY;
use self::incoming::{Header, read_approval, read_header, too_large};
use self::spool::Spool;
pub use self::spool::remove_stale_files;
use crate::audit::Entry;
use crate::crypto::envelope::{self, CHUNK, Manifest};
use crate::crypto::sha256_hex;
use crate::crypto::signature::{self, Content};
use crate::letters::documents;
use crate::letters::register::Agenda;
use crate::node::Node;
use crate::officials::directory::{self, Official};
use crate::store::content::{self, LetterWriter};
use crate::store::script::{Savepoint, Script};
use crate::store::{deliveries, documents as rows, recipients};
use crate::transmit::{MAX_ENVELOPE, RECEIPT_FORMAT, Receipt, SignedReceipt};
use crate::{Error, Result, now_rfc3339};

/// After an early answer (a refusal before the body's end) to an authenticated peer, the rest
/// of its body (within the envelope limit and this time) is read and dropped, a block at a
/// time: a sender still writing then sees the answer, not a reset connection (which it would
/// take for a network error and retry). Memory stays flat; the drain holds only the connection.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Receives a peer's delivery from its body: see the module's description. Over
/// [`MAX_ENVELOPE`] it is a 413, declared or read.
pub async fn deliver(
    node: &Arc<Node>,
    peer: &keymgr::directory::NodeEntry,
    client: Option<String>,
    declared_length: Option<u64>,
    body: BodyStream,
) -> Result<SignedReceipt> {
    if declared_length.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut inc = Incoming::new(body);
    // Before the body is read: past its share a peer waits holding only its connection.
    let result = match node.deliveries.take(&peer.id).await {
        Ok(turn) => {
            let result = receive(node, peer, client, &mut inc).await;
            drop(turn);
            result
        }
        Err(e) => {
            tracing::warn!(peer = %peer.id, "a delivery waited past its peer's share: busy");
            Err(e)
        }
    };
    if result.is_err() && !inc.ended {
        // Answered before the end of the body: the rest is dropped in the background.
        tokio::spawn(inc.discard(DRAIN_TIME));
    }
    result
}

/// Receives a letter from `peer`: checks the sender, the letter's id, the signature chain and
/// its revocation, this node's accreditation (policy `receive`), the ciphertext against the
/// manifest and the content against its signed hash; stores it once (the same letter twice is
/// one letter; the peer's own letter again with other content is an incident) and signs a
/// receipt.
async fn receive(
    node: &Arc<Node>,
    peer: &keymgr::directory::NodeEntry,
    client: Option<String>,
    inc: &mut Incoming,
) -> Result<SignedReceipt> {
    let head = read_header(inc).await?;
    let m = Manifest::parse(&head.manifest)
        .map_err(|e| Error::invalid("envelope", format!("the envelope's manifest: {e}")))?;
    let manifest_sha = sha256_hex(&head.manifest);
    // Before anything else, so that a peer can speak only of its own letters.
    if m.node != peer.id {
        let why = format!(
            "letter {} comes from node {}, not {}",
            m.id, m.node, peer.id
        );
        return Err(refuse(node, peer, client, &m.id, why).await);
    }
    if let Some(Err(why)) = m.refers.as_ref().map(|r| r.check(&m.id)) {
        return Err(refuse(node, peer, client, &m.id, why).await);
    }
    match held(node, &peer.id, &m.id, &manifest_sha).await? {
        Held::No => {}
        Held::Same => {
            // Already here: the same receipt again. The rest is read (and dropped) so that
            // the sender sees the answer whatever the letter's size.
            inc.skip_rest().await?;
            return sign_receipt(node, &m.id, &manifest_sha, None).await;
        }
        Held::OtherContent => return Err(incident(node, &peer.id, &m.id).await?),
        Held::NotFromPeer => {
            let why = format!(
                "letter {} is already held here and did not come from node {}",
                m.id, peer.id
            );
            let key = format!("node:{}", peer.id);
            crate::node::refusals::refused(
                node,
                &key,
                "receive",
                deny(node, peer, client, &m.id, &why),
            )
            .await?;
            return Err(Error::Conflict(format!("letter {} is already here", m.id)));
        }
    }
    let (local, d) = match checked(node, &m, &head).await? {
        Ok(ok) => ok,
        Err(why) => return Err(refuse(node, peer, client, &m.id, why).await),
    };
    let mut spool = Spool::create(&node.layout);
    let identities = || addressee_identities(node, &local);
    let (mut lengths, mut keys) = (Vec::with_capacity(m.parts.len()), Vec::new());
    for (i, part) in m.parts.iter().enumerate() {
        match spool_part(inc, &mut spool, identities()?, part).await {
            Ok(Ok((len, key))) => {
                lengths.push(len);
                keys.push(key);
            }
            Ok(Err(why)) => {
                let why = format!("part {i}: {why}");
                return Err(refuse(node, peer, client, &m.id, why).await);
            }
            Err(e) => return Err(e),
        }
    }
    let approval = read_approval(inc, &head).await?;
    if !inc.at_end().await? {
        return Err(Error::invalid(
            "envelope",
            "not a sandi envelope: bytes after its last part",
        ));
    }
    let actor = format!("node:{}", peer.id);
    let letter = Spooled {
        m: &m,
        head: &head,
        lengths: &lengths,
        keys: &keys,
        approval: approval.as_deref(),
    };
    let logged = Entry::event(
        actor,
        "receive",
        "allow",
        d.reason.clone(),
        &d.policy_version,
        client,
    )
    .about(&m.id);
    let received_at = store_received(node, &letter, &mut spool, &local, logged).await?;
    // The file keys go as soon as the letter is stored.
    drop(keys);
    drop(spool);
    sign_receipt(node, &m.id, &manifest_sha, Some(received_at)).await
}

/// Whether a letter with this id is here already, and whence.
enum Held {
    No,
    /// Received from this peer with this very manifest.
    Same,
    /// Received from this peer with another manifest.
    OtherContent,
    /// A letter of this node, or received from another node.
    NotFromPeer,
}

async fn held(node: &Node, peer: &str, id: &str, manifest_sha: &str) -> Result<Held> {
    if !rows::exists(&node.store, id).await? {
        return Ok(Held::No);
    }
    let Some(row) = deliveries::received(&node.store, id).await? else {
        return Ok(Held::NotFromPeer);
    };
    Ok(if row.from_node != peer {
        Held::NotFromPeer
    } else if row.manifest_sha256 == manifest_sha {
        Held::Same
    } else {
        Held::OtherContent
    })
}

/// The peer sent its own letter again with other content: logged as an incident, refused.
async fn incident(node: &Node, peer: &str, id: &str) -> Result<Error> {
    crate::node::log_alone(
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
    Ok(Error::Conflict(format!(
        "letter {id} is already here with other content"
    )))
}

/// Everything a received letter must pass before its content is read; `Ok(Err(why))` is a
/// refusal.
async fn checked(
    node: &Node,
    m: &Manifest,
    head: &Header,
) -> Result<std::result::Result<(Vec<(Official, &'static str)>, policies::Decision), String>> {
    let now = OffsetDateTime::now_utc();
    let v = match signature::verify_detached(
        &head.signature,
        signature::Kind::Manifest,
        Content::Bytes(&head.manifest),
        &node.trust,
        now,
    ) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("signature: {e}"))),
    };
    // Judged at the signature's time-stamp: revoked before it, refused. Unknown is an error,
    // not a refusal: the sender keeps the letter and retries (503).
    match crate::node::revocation::signature_status(node, &v, None) {
        Ok(crate::crypto::revocation::SignatureStatus::RevokedBeforeSigning {
            revoked_at, ..
        }) => {
            return Ok(Err(format!(
                "the signer's certificate was revoked at {revoked_at}, before the letter was \
                 signed"
            )));
        }
        Ok(_) => {}
        Err(e @ Error::Integrity(_)) => return Ok(Err(format!("signature: {e}"))),
        Err(e) => return Err(e),
    }
    // The signer's certificate must be one keymgr logged (when an issuance log is followed).
    // Not proven is 503, retried, never a final refusal: a certificate issued since the
    // peers last cosigned keymgr's log is proven a round later, and the letter is not lost.
    if let Err(why) = crate::network::issuance::require(node, &v.signer_der).await? {
        return Err(Error::Busy(format!("the signer's {why}")));
    }
    let signer = m
        .reclassified
        .as_ref()
        .map_or(m.originator.as_str(), |r| r.by.as_str());
    if v.nip.as_deref() != Some(signer) {
        return Ok(Err("signed by someone other than its originator".into()));
    }
    // Signed for a head: their mandate, carried in the manifest, is checked here too.
    if let Err(why) = crate::letters::mandate::check_carried(node, m, &v.checked_at).await? {
        return Ok(Err(why));
    }
    // This node's handling table for the letter's level, whatever the sender's said.
    if let Some(weak) = crate::node::handling::weakness(node, m.classification, &v.signer_der)? {
        return Ok(Err(weak.reason));
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
    if head.parts != m.parts.len() {
        return Ok(Err("the envelope's parts do not match the manifest".into()));
    }
    // The sender carries at most this much whole; the ciphertext is only a little larger.
    let total = m.parts.iter().fold(0u64, |t, p| t.saturating_add(p.size));
    if total > MAX_ENVELOPE as u64 {
        return Err(too_large());
    }
    Ok(Ok((local, d)))
}

/// Reads one part into the spool while checking it: its length, then the first chunk's
/// payload nonce against the manifest, then the whole content, decrypted chunk by chunk with
/// an addressee's key, against its signed hash. Returns its length; `Ok(Err(why))` is a
/// refusal.
async fn spool_part(
    inc: &mut Incoming,
    spool: &mut Spool,
    identities: Vec<hsm_shim::HandleIdentity>,
    part: &envelope::Part,
) -> Result<std::result::Result<(u64, age_core::format::FileKey), String>> {
    let len = inc.u64().await?;
    if len > MAX_BODY {
        return Err(too_large());
    }
    let piece = |left: u64| usize::try_from(left.min(CHUNK as u64)).map_err(|_| too_large());
    // The first chunk holds the age header and the payload nonce the manifest signs.
    let first = inc.exact(piece(len)?).await?;
    let nonce = envelope::payload_nonce(&first).map(hex::encode);
    if nonce.as_deref() != Some(part.payload_nonce.as_str()) {
        return Ok(Err(
            "the ciphertext is not the one the manifest signs".into()
        ));
    }
    // Unwrapped once here, and used again to re-wrap the header for this node when stored;
    // off the async workers, since a header may carry many stanzas to try.
    let (unwrapped, first) = tokio::task::spawn_blocking(move || {
        (envelope::unwrap_file_key(&first, &identities), first)
    })
    .await
    .map_err(|e| Error::Task {
        what: "unwrapping a part's file key",
        detail: e.to_string(),
    })?;
    let file_key = match unwrapped {
        Ok(k) => k,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let known = vec![envelope::KnownFileKey::new(&file_key)];
    let (tx, mut rx) =
        envelope::decrypt_part(known, part.sha256.clone(), &envelope::CHECKING).await?;
    // The feeder owns `tx`: when it stops, early or not, the decryptor sees the end.
    let feed = async move {
        let mut next = first;
        let mut left = len;
        loop {
            spool.write(&next).await?;
            left -= next.len() as u64;
            if tx.send(Ok(next)).await.is_err() {
                // The decryptor stopped before the end: its error says why.
                return Ok(false);
            }
            if left == 0 {
                return Ok::<_, Error>(true);
            }
            next = inc.exact(piece(left)?).await?;
        }
    };
    let check = async move {
        while let Some(block) = rx.recv().await {
            block?;
        }
        Ok::<(), Error>(())
    };
    let (whole, content) = tokio::join!(feed, check);
    let whole = whole?;
    if let Err(e) = content {
        return Ok(Err(e.to_string()));
    }
    if !whole {
        return Ok(Err("the ciphertext goes on past its end".into()));
    }
    Ok(Ok((len, file_key)))
}

/// Logs a refused delivery (counted, see `refusals`) and answers 403 with the reason.
async fn refuse(
    node: &Node,
    peer: &keymgr::directory::NodeEntry,
    client: Option<String>,
    id: &str,
    why: String,
) -> Error {
    let entry = deny(node, peer, client, id, &why);
    let key = format!("node:{}", peer.id);
    if let Err(e) = crate::node::refusals::refused(node, &key, "receive", entry).await {
        return e;
    }
    Error::Forbidden {
        alasan: format!("ditolak: {why}"),
        reason: format!("denied: {why}"),
        policies: vec![],
    }
}

fn deny(
    node: &Node,
    peer: &keymgr::directory::NodeEntry,
    client: Option<String>,
    id: &str,
    why: &str,
) -> Entry {
    Entry::event(
        format!("node:{}", peer.id),
        "receive",
        "deny",
        why.to_owned(),
        node.policy.current().version(),
        client,
    )
    .about(id)
}

/// The accreditation this node holds in the directory.
pub(crate) async fn own_accreditation(node: &Node) -> Result<Level> {
    let d =
        node.network.current(&node.store).await?.ok_or_else(|| {
            Error::invalid("network directory", "this node has no network directory")
        })?;
    d.by_id(&node.config.node_id)
        .ok_or_else(|| {
            Error::invalid(
                "network directory",
                "this node is not in its own network directory",
            )
        })?
        .accreditation
        .parse()
        .map_err(|e: String| Error::invalid("network directory", e))
}

/// This node's officials a letter is addressed to, by plain NIP.
async fn local_addressees(node: &Node, m: &Manifest) -> Result<Vec<(Official, &'static str)>> {
    let mine = format!("@{}", node.config.node_id);
    let mut out = Vec::new();
    for (list, role) in [(&m.recipients, "recipient"), (&m.copies, "copy")] {
        for a in list {
            if let Some(nip) = a.strip_suffix(&mine) {
                let o = directory::get(&node.store, nip).await?.ok_or_else(|| {
                    Error::invalid(
                        "recipients",
                        format!("no official {nip} on node {}", node.config.node_id),
                    )
                })?;
                out.push((o, role));
            }
        }
    }
    Ok(out)
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

/// A checked delivery: its manifest, header and the length of each part in the spool.
struct Spooled<'a> {
    m: &'a Manifest,
    head: &'a Header,
    lengths: &'a [u64],
    /// Each part's file key, unwrapped while it was checked.
    keys: &'a [age_core::format::FileKey],
    /// The PDF update of the letter's approval, checked on every read here as on its node.
    approval: Option<&'a [u8]>,
}

async fn store_received(
    node: &Arc<Node>,
    letter: &Spooled<'_>,
    spool: &mut Spool,
    local: &[(Official, &str)],
    logged: Entry,
) -> Result<String> {
    let cutoff = crate::rfc3339(
        OffsetDateTime::now_utc() - time::Duration::minutes(node.config.abandoned_upload_minutes),
    );
    content::clear_unfinished(&node.store, &letter.m.id, &cutoff).await?;
    let mut writer = LetterWriter::start(&node.store, &letter.m.id, &now_rfc3339());
    let written = store_with(node, letter, spool, local, &mut writer).await;
    let stored = match written {
        Ok(wrapped_to) => {
            // Committed with whatever other deliveries are ready (one transaction and one
            // signed head for all of them); each letter keeps its own rows and log entry.
            let writer = Arc::new(writer);
            let received_at = now_rfc3339();
            let work = received_rows(
                letter,
                local,
                wrapped_to,
                (Arc::clone(&writer), received_at.clone()),
                logged,
            );
            let committed = node
                .received
                .commit(node, &node.store, &node.audit, work)
                .await;
            match (committed, Arc::try_unwrap(writer)) {
                (Ok(()), _) => return Ok(received_at),
                // Maybe committed: what it wrote is left for the sweep, never removed.
                (Err(e), _) if crate::audit::grouped::is_unsettled(&e) => (Err(e), None),
                (Err(e), Ok(writer)) => (Err(e), Some(writer)),
                // Still shared (never, once answered): swept once the upload counts as abandoned.
                (Err(e), Err(_)) => (Err(e), None),
            }
        }
        Err(e) => (Err(e), Some(writer)),
    };
    if let (_, Some(writer)) = stored {
        writer.abort().await;
    }
    stored.0
}

async fn store_with(
    node: &Node,
    letter: &Spooled<'_>,
    spool: &mut Spool,
    local: &[(Official, &str)],
    writer: &mut LetterWriter,
) -> Result<String> {
    let m = letter.m;
    // Re-wrapped here for this node's archive key and its addressees' keys, so that it opens
    // like any letter of this node; the encrypted body stays as signed.
    let officials: Vec<&Official> = local.iter().map(|(o, _)| o).collect();
    let (wrapped_to, recipients) = documents::wrap_set(node, &officials, m.classification)?;
    spool.rewind().await?;
    let mut again = ring::digest::Context::new(&ring::digest::SHA256);
    for (part_index, &len) in letter.lengths.iter().enumerate() {
        let part = i64::try_from(part_index).map_err(|_| Error::OutOfRange {
            what: "a part index",
        })?;
        let mut left = len;
        let mut seq = 0i64;
        while left > 0 {
            let n = usize::try_from(left.min(CHUNK as u64)).map_err(|_| Error::OutOfRange {
                what: "a chunk length",
            })?;
            let data = spool.read(n, &mut again).await?;
            if seq == 0 {
                let key = letter.keys.get(part_index).ok_or(Error::Invariant {
                    what: "every spooled part has its file key",
                })?;
                let first = envelope::rewrap_header_with(&data, key, &recipients)?;
                let header_len = envelope::header_len(&first)?;
                writer.begin_part(part, first, header_len).await?;
            } else {
                writer.write(data).await?;
            }
            left -= n as u64;
            seq += 1;
        }
    }
    // What is stored is what was checked, byte for byte.
    if again.finish().as_ref() != spool.written.clone().finish().as_ref() {
        return Err(Error::Integrity(
            "the spooled delivery changed between its check and its storing".into(),
        ));
    }
    let wrapped_to = serde_json::to_string(&wrapped_to)
        .map_err(|e| Error::encode("the wrapped-to key list", e))?;
    writer.seal().await?;
    Ok(wrapped_to)
}

/// A received letter's rows, as the receiving group commit writes them: its content, its
/// document row, where it came from, its addressees, its agenda entries and its approval.
fn received_rows(
    letter: &Spooled<'_>,
    local: &[(Official, &str)],
    wrapped_to: String,
    (writer, received_at): (Arc<LetterWriter>, String),
    logged: Entry,
) -> crate::audit::grouped::Work<Node> {
    let m = letter.m.clone();
    let (manifest, signature) = (letter.head.manifest.clone(), letter.head.signature.clone());
    let addressees: Vec<(String, String, String)> = local
        .iter()
        .map(|(o, role)| (o.nip.clone(), (*role).to_owned(), o.agency.clone()))
        .collect();
    let approval = letter.approval.map(<[u8]>::to_vec);
    Box::new(
        move |node: &Node, tx: &mut crate::store::Tx, sp: &mut Savepoint| {
            Box::pin(async move {
                // Two trips to the database on SQLite (see `store::script`): the rows and the
                // agenda numbers, then the agenda entries (their MAC covers the number).
                let mut s = Script::new();
                if !writer.record_held(&mut s) {
                    sp.open(tx).await?;
                    writer.record(tx).await?;
                }
                rows::push_document(
                    &mut s,
                    &rows::NewDocument {
                        id: &m.id,
                        nomor: &m.nomor,
                        perihal: &m.perihal,
                        classification: m.classification.as_str(),
                        urgency: m.urgency.as_str(),
                        originator: &m.originator,
                        agency: &m.agency,
                        manifest: &manifest,
                        signature: &signature,
                        created_at: &m.created_at,
                        policy_version: &m.policy_version,
                        wrapped_to: &wrapped_to,
                        refers_to: m.refers.as_ref().map(|r| r.id.as_str()),
                    },
                    "received",
                );
                deliveries::push_received(
                    &mut s,
                    &m.id,
                    &m.node,
                    &sha256_hex(&manifest),
                    &received_at,
                );
                for (nip, role, _) in &addressees {
                    recipients::push_addressee(&mut s, &m.id, nip, role);
                }
                if let Some(update) = &approval {
                    crate::store::approvals::push_received_update(&mut s, &m.id, update);
                }
                let agencies = addressees.iter().map(|(_, _, agency)| agency.as_str());
                let agenda = Agenda::take(&mut s, agencies, &m);
                let numbers = sp.run(tx, s).await?;
                let mut s = Script::new();
                agenda.enter(&mut s, node, &numbers)?;
                sp.finish(tx, s).await?;
                Ok(logged)
            })
        },
    )
}

/// Signs a receipt for `id` with this node's certificate (its TLS key, in hsm-shim), as CMS.
/// `received_at` is the time just stored with it, or `None` to read it (a letter received
/// earlier).
async fn sign_receipt(
    node: &Node,
    id: &str,
    manifest_sha: &str,
    received_at: Option<String>,
) -> Result<SignedReceipt> {
    let received_at = match received_at {
        Some(at) => Some(at),
        None => deliveries::received_at(&node.store, id).await?,
    };
    let receipt = Receipt {
        format: RECEIPT_FORMAT.into(),
        document_id: id.to_owned(),
        manifest_sha256: manifest_sha.to_owned(),
        received_by: node.config.node_id.clone(),
        received_at: received_at.unwrap_or_else(now_rfc3339),
    };
    let bytes = serde_json::to_vec(&receipt).map_err(|e| Error::encode("a receipt", e))?;
    let chain = crate::node::read_pem_certs(&node.layout.tls_chain())?;
    let leaf = chain.first().ok_or_else(|| Error::MissingKey {
        what: "node certificate".into(),
    })?;
    let keys: &dyn hsm_shim::KeyStore = node.tls_keystore.as_ref();
    let info = keys.info(node.keys.get().tls)?;
    let handle = info.handle();
    let cms = crate::crypto::receipt::sign(
        &bytes,
        info.kind
            .signature_algorithm()
            .ok_or_else(|| Error::MissingKey {
                what: "a node signing key".into(),
            })?,
        leaf,
        std::slice::from_ref(&node.network_ca_der),
        OffsetDateTime::now_utc(),
        |attrs| Ok(keys.sign(&handle, attrs)?.bytes),
    )?;
    Ok(SignedReceipt {
        receipt,
        cms: B64.encode(cms),
    })
}
