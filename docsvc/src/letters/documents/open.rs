//! Opening a letter: loaded and checked against its signature, the policy asked (and the
//! decision logged), then each part decrypted inside the node as a stream, or re-encrypted to
//! the official's own key for export.

use futures_util::{Stream, StreamExt};
use policies::{Action, Context, Decision, Principal};
use time::OffsetDateTime;

use super::{
    AWAITING, DESTROYED, archive_identities, entry, forbidden, may_approve, policy_document,
};
use crate::crypto::envelope::{self, Manifest};
use crate::crypto::signature::{self, Kind, Verified};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::{content, documents as rows};
use crate::{Error, Result};

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
    let row = rows::document(&node.store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("letter {id}")))?;
    let bytes = row.manifest;
    let sig = row.signature;
    let manifest =
        Manifest::parse(&bytes).map_err(|e| Error::Integrity(format!("letter {id}: {e}")))?;
    let columns = [
        ("id", row.id, manifest.id.clone()),
        ("nomor", row.nomor, manifest.nomor.clone()),
        ("perihal", row.perihal, manifest.perihal.clone()),
        (
            "classification",
            row.classification,
            manifest.classification.as_str().to_owned(),
        ),
        ("urgency", row.urgency, manifest.urgency.as_str().to_owned()),
        ("originator", row.originator, manifest.originator.clone()),
        ("agency", row.agency, manifest.agency.clone()),
    ];
    for (name, stored, signed) in columns {
        if stored != signed {
            return Err(Error::Integrity(format!(
                "letter {id}: the stored {name} differs from the signed manifest"
            )));
        }
    }
    let state = row.state;
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
    // `NIP@node` is another node's official, never in this directory (a NIP is 18 digits).
    let ours = |nip: &&String| local && crate::network::remote_address(nip).is_none();
    for nip in m.recipients.iter().chain(&m.copies).filter(ours) {
        if let Some(o) = directory::get(&node.store, nip).await? {
            officials.push(o);
        }
    }
    Ok(agencies_of(m, &officials))
}

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
    if checked.state != AWAITING
        && crate::letters::disposition::granted(node, &m.id, &caller.official).await?
    {
        // A disposisi passed the letter to them (a MAC-checked row, in their agency).
        doc.grants.push(caller.official.nip.clone());
    }
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

/// Asks the policy about `action` on a checked letter and logs the decision; a refusal is
/// returned as `Forbidden`.
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

/// Waits for one of official `nip`'s reading turns (`[limits] max_reads_per_official`), to be
/// held until what they read is sent ([`crate::node::shares::Turn::held_by`]). Taken before
/// the letter is checked or the reading logged: past their share an official's read waits
/// holding only its connection, then is answered 503, and nothing was read.
pub async fn reading_turn(node: &Node, nip: &str) -> Result<crate::node::shares::Turn> {
    node.reads.take(nip).await.inspect_err(|_| {
        tracing::warn!(official = %nip, "a read waited past its official's share: busy");
    })
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
    let part_i = i64::try_from(part).map_err(|_| Error::OutOfRange {
        what: "a part index",
    })?;
    let mut source = content::open_part(&node.store, &m.id, part_i).await?;
    let first = match source.as_mut() {
        Some(s) => s.next().await?,
        None => None,
    };
    let nonce = first
        .as_deref()
        .and_then(envelope::payload_nonce)
        .map(hex::encode);
    let (Some(mut source), Some(first), true) = (
        source,
        first,
        nonce.as_deref() == Some(p.payload_nonce.as_str()),
    ) else {
        return Err(Error::Integrity(format!(
            "letter {}: the stored ciphertext is not the one the manifest signs",
            m.id
        )));
    };
    let identities = archive_identities(node, m.classification)?;
    let (cipher_tx, plain_rx) =
        envelope::decrypt_part(identities, p.sha256.clone(), &envelope::READING).await?;
    tokio::spawn(async move {
        let mut piece = Ok(Some(first));
        loop {
            let chunk = match piece {
                Ok(Some(c)) => Ok(c),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            let stop = chunk.is_err();
            if cipher_tx.send(chunk).await.is_err() || stop {
                break;
            }
            piece = source.next().await;
        }
    });
    Metrics::inc(&node.metrics.documents_read);
    // A failure here comes after the response's status: the operator's log is where it is
    // seen (a part that fails its check is an integrity incident).
    let letter = m.id.clone();
    Ok(tokio_stream_from(plain_rx).inspect(move |item| {
        if let Err(e) = item {
            tracing::warn!(document = %letter, part, "reading a part failed: {e}");
        }
    }))
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
    // The turn to encrypt first: a reading turn is never held while waiting for it.
    let turn = envelope::EncryptionTurn::take().await?;
    let mut plain = Box::pin(open_part(node, checked, part).await?);
    let (plain_tx, chunk_rx, task) = envelope::encrypt_part(&turn, std::slice::from_ref(&to))?;
    drop(turn);
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
            Err(e) => Err(Error::Task {
                what: "export",
                detail: e.to_string(),
            }),
        };
        let _ = done_tx.send(result);
    });
    // After the last chunk, a failure becomes an error in the response body, so the client
    // sees a broken transfer rather than a short file.
    let outcome = futures_util::stream::once(async move {
        match done_rx.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(_) => Some(Err(Error::Task {
                what: "export",
                detail: "vanished without an answer".into(),
            })),
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
