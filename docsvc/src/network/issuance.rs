//! No certificate outside keymgr's issuance log. After each witnessing round this node
//! collects its peers' cosignatures of the issuance log's checkpoint (`GET
//! /network/v1/witnessed`); a checkpoint that it witnessed itself and that at least
//! `[witness] issuance_witnesses` peers cosigned, byte for byte, becomes the one certificates
//! are checked against. A node, official or application certificate is then taken only with
//! keymgr's inclusion proof (`/log/certificates/{sha256}?size=N`) against that checkpoint: one
//! minted with keymgr's keys but never logged is refused, whoever presents it.
//!
//! Each peer's cosignature is checked with the note key this node pinned for that peer when
//! it first witnessed it; a peer's word about keymgr counts only once. Without
//! `[witness] issuance_log` nothing is checked (a development network).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use keymgr::note::{self, Verifier};
use keymgr::tlog::{Inclusion, ORIGIN};

use super::witness::{CosignedDoc, ISSUANCE_LOG, witness_key};
use crate::node::Node;
use crate::node::issuance::Trusted;
use crate::store::witnessed;
use crate::{Error, Result};

/// The largest list of cosigned checkpoints read from a peer.
const MAX_WITNESSED: usize = 256 * 1024;
/// How long one peer may take to show its cosignature.
const PER_PEER: std::time::Duration = std::time::Duration::from_secs(15);
/// The largest inclusion proof read from keymgr (an entry and 64 hashes, with room).
const MAX_PROOF: usize = 64 * 1024;

/// Collects the peers' cosignatures of the issuance log's checkpoint this node witnessed;
/// trusts it once enough peers cosigned it. Returns the size trusted now, if any.
pub async fn gather(node: &Node) -> Result<Option<u64>> {
    let Some((_, log_key)) = node.config.witness.issuance_log()? else {
        return Ok(None);
    };
    let Some(own) = witnessed::get(&node.store, ISSUANCE_LOG).await? else {
        return Ok(None);
    };
    if !witnessed::holds(&node.store, &own)? || own.incident.is_some() {
        return Ok(None);
    }
    let opened = note::open(&log_key, &own.cosigned, ORIGIN)?;
    let mut lines = format!("{}\n{}", opened.text, opened.sig_line);
    lines.extend(opened.other_lines.iter().map(String::as_str));
    let mut witnesses = Vec::new();
    let peers = match node.network.current(&node.store).await? {
        Some(d) => d.nodes.clone(),
        None => Vec::new(),
    };
    for peer in peers
        .iter()
        .filter(|n| n.status == "active" && n.id != node.config.node_id)
    {
        let Some((key, false)) = witness_key(node, &peer.id).await? else {
            continue;
        };
        // A peer that does not answer, or answers nonsense, is simply not counted.
        let asked = tokio::time::timeout(
            PER_PEER,
            cosignature_of(node, &peer.id, &key, &log_key, &opened.text),
        )
        .await;
        let Ok(Ok(Some(line))) = asked else {
            continue;
        };
        lines.push_str(&line);
        witnesses.push(peer.id.clone());
    }
    if witnesses.len() < node.config.witness.issuance_witnesses {
        return Ok(node.issuance.trusted().map(|t| t.size));
    }
    if node.issuance.trusted().is_none_or(|t| t.size < opened.size) {
        // Kept for the next start (checked again then): nodes restarted together would
        // otherwise refuse each other until a round gathered cosignatures.
        crate::node::write_new(&saved_path(node), lines.as_bytes())?;
    }
    node.issuance.trust(Trusted {
        size: opened.size,
        root: opened.root,
        note: lines,
        witnesses,
    });
    Ok(node.issuance.trusted().map(|t| t.size))
}

fn saved_path(node: &Node) -> std::path::PathBuf {
    node.layout.dir().join("network/issuance-checkpoint")
}

/// The checkpoint saved by an earlier run, if its cosignatures by peers pinned here still
/// reach the threshold (a file anyone could write is trusted only for what it proves).
async fn saved(node: &Node, log_key: &Verifier) -> Result<Option<Trusted>> {
    let Ok(text) = std::fs::read_to_string(saved_path(node)) else {
        return Ok(None);
    };
    let Ok(opened) = note::open(log_key, &text, ORIGIN) else {
        return Ok(None);
    };
    let mut witnesses = Vec::new();
    for w in witnessed::all(&node.store).await? {
        if w.node == ISSUANCE_LOG {
            continue;
        }
        if let Some((key, false)) = witness_key(node, &w.node).await?
            && opened.cosigned_by(&key).is_some()
        {
            witnesses.push(w.node);
        }
    }
    if witnesses.len() < node.config.witness.issuance_witnesses {
        return Ok(None);
    }
    Ok(Some(Trusted {
        size: opened.size,
        root: opened.root,
        note: text,
        witnesses,
    }))
}

/// `peer`'s valid cosignature line of exactly `text`, if its `/network/v1/witnessed` holds one.
async fn cosignature_of(
    node: &Node,
    peer: &str,
    key: &Verifier,
    log_key: &Verifier,
    text: &str,
) -> Result<Option<String>> {
    let (_, mut client) = super::connect(node, peer).await?;
    let (status, _, body) = client
        .call_limited(
            "GET",
            "/network/v1/witnessed",
            &[],
            Bytes::new(),
            MAX_WITNESSED,
        )
        .await?;
    if status != 200 {
        return Ok(None);
    }
    let docs: Vec<CosignedDoc> = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("peer", format!("/network/v1/witnessed: {e}")))?;
    let Some(doc) = docs
        .into_iter()
        .find(|d| d.node == ISSUANCE_LOG && !d.split_view)
    else {
        return Ok(None);
    };
    let theirs = note::open(log_key, &doc.cosigned, ORIGIN)?;
    if theirs.text != text {
        return Ok(None);
    }
    let prefix = format!("\u{2014} {} ", key.name);
    Ok(theirs.cosigned_by(key).and_then(|_| {
        theirs
            .other_lines
            .iter()
            .find(|l| l.starts_with(&prefix) && single_cosigned(&theirs, key, l))
            .cloned()
    }))
}

/// Whether `line` alone is a valid cosignature by `key` of `opened`'s text.
fn single_cosigned(opened: &note::Opened, key: &Verifier, line: &str) -> bool {
    let mut alone = opened.clone();
    alone.other_lines = vec![line.to_owned()];
    alone.cosigned_by(key).is_some()
}

/// How long keymgr may take to answer for a certificate.
const ASK_KEYMGR: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the certificate `der` is in keymgr's issuance log, proven against the trusted
/// checkpoint. `Ok(Err(why))` is a refusal (keymgr has no entry for it in the cosigned tree,
/// or its proof does not hold), for the caller to log; what cannot be established now (no
/// cosigned checkpoint yet, keymgr unreachable or slow) is [`Error::Busy`], answered 503 so a
/// sending node retries, never taken as good. Always `Ok` when no issuance log is set.
pub async fn require(node: &Node, der: &[u8]) -> Result<std::result::Result<(), String>> {
    let Some((url, log_key)) = node.config.witness.issuance_log()? else {
        return Ok(Ok(()));
    };
    let sha: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .try_into()
        .map_err(|_| Error::Invariant {
            what: "SHA-256 is 32 bytes",
        })?;
    if node.issuance.is_logged(&sha) {
        return Ok(Ok(()));
    }
    let not_logged = || {
        Ok(Err(format!(
            "certificate {} is not in keymgr's issuance log",
            &hex::encode(sha)[..16]
        )))
    };
    if node.issuance.missing_lately(&sha) {
        return not_logged();
    }
    if node.issuance.trusted().is_none()
        && !node.is_sealed()
        && let Some(t) = saved(node, &log_key).await?
    {
        node.issuance.trust(t);
    }
    let Some(trusted) = node.issuance.trusted() else {
        return Err(Error::Busy(format!(
            "no checkpoint of keymgr's issuance log is cosigned by {} peer(s) yet",
            node.config.witness.issuance_witnesses
        )));
    };
    let path = format!(
        "{url}/log/certificates/{}?size={}",
        hex::encode(sha),
        trusted.size
    );
    let unknown = |why: String| Error::Busy(format!("keymgr's issuance log: {why}"));
    let asked = tokio::time::timeout(
        ASK_KEYMGR,
        crate::node::distribution::get_status(&path, "application/json", MAX_PROOF),
    )
    .await;
    let body = match asked {
        Ok(Ok((200, body))) => body,
        Ok(Ok((404, _))) => {
            node.issuance.not_found(sha);
            return not_logged();
        }
        Ok(Ok((status, _))) => return Err(unknown(format!("answered {status}"))),
        Ok(Err(e)) => return Err(unknown(e.to_string())),
        Err(_) => return Err(unknown("no answer in time".into())),
    };
    let Ok(proof) = serde_json::from_slice::<Inclusion>(&body) else {
        return Err(unknown("its answer is not an inclusion proof".into()));
    };
    if let Err(why) = proves(&proof, &sha, &trusted) {
        tracing::error!("keymgr's inclusion proof does not hold: {why}");
        node.issuance.not_found(sha);
        return Ok(Err(format!(
            "keymgr's proof for certificate {} does not hold: {why}",
            &hex::encode(sha)[..16]
        )));
    }
    node.issuance.found(sha);
    Ok(Ok(()))
}

/// Checks that `proof` puts an entry issuing the certificate `sha` in the trusted tree.
fn proves(proof: &Inclusion, sha: &[u8; 32], trusted: &Trusted) -> std::result::Result<(), String> {
    if proof.size != trusted.size {
        return Err(format!(
            "it is for size {}, not {}",
            proof.size, trusted.size
        ));
    }
    let entry: serde_json::Value =
        serde_json::from_str(&proof.entry).map_err(|_| "its entry is not JSON".to_owned())?;
    let kind = entry.get("kind").and_then(|k| k.as_str());
    let named = entry
        .pointer("/data/certificate_sha256")
        .and_then(|v| v.as_str());
    if !matches!(kind, Some("issued" | "rotated")) || named != Some(hex::encode(sha).as_str()) {
        return Err("its entry does not issue this certificate".into());
    }
    let hashes: Option<Vec<[u8; 32]>> = proof
        .proof
        .iter()
        .map(|h| B64.decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect();
    let (Some(hashes), Ok(index), Ok(size)) = (
        hashes,
        usize::try_from(proof.index),
        usize::try_from(proof.size),
    ) else {
        return Err("its hashes or sizes do not parse".into());
    };
    let leaf = keymgr::merkle::leaf_hash(proof.entry.as_bytes());
    if keymgr::merkle::verify_inclusion(&leaf, index, size, &hashes, &trusted.root) {
        Ok(())
    } else {
        Err("the path does not lead to the witnessed root".into())
    }
}
