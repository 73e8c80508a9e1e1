//! Which checkpoint of keymgr's issuance log this node trusts: after each witnessing round it
//! asks every peer for the checkpoint of keymgr's log it cosigned last (`GET
//! /network/v1/witnessed`). Each peer's checkpoint (keymgr's signature and the peer's
//! cosignature checked with the keys pinned here) must lie on one chain with the one this node
//! witnessed: the same, or tied to it by keymgr's consistency proof, larger or smaller (rounds
//! need not line up while keymgr's log grows). With `issuance_witnesses` = k such peers, the
//! trusted checkpoint is the k-th largest of theirs (no larger than this node's own): every
//! peer counted saw that tree or one extending it. A peer that cosigned another checkpoint of
//! this node's size has seen keymgr fork its log: a split view, after which nothing is trusted
//! (fail closed).

use keymgr::note::{self, Opened, Verifier};
use keymgr::tlog::ORIGIN;

use super::{ASK_KEYMGR, MAX_PROOF, PER_PEER};
use crate::audit::checkpoint::Consistency;
use crate::network::witness::{self, CosignedDoc, ISSUANCE_LOG, witness_key};
use crate::node::Node;
use crate::node::issuance::Trusted;
use crate::store::witnessed;
use crate::{Error, Result};

/// What this node keeps in `network/issuance-checkpoint` (checked again on reading: a file
/// anyone could write is trusted only for what it proves).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Saved {
    /// The checkpoint certificates are checked against, with the cosignatures of it.
    pub(super) checkpoint: String,
    /// The checkpoint this node witnessed, the anchor of the chain.
    pub(super) own: String,
    /// Every peer's cosigned checkpoint counted, with the proof that ties it to `own`.
    pub(super) views: Vec<View>,
}

/// A peer's cosigned checkpoint (keymgr's signature and that peer's cosignature only) and
/// keymgr's consistency proof between it and this node's own (none when the same size).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct View {
    pub(super) cosigned: String,
    pub(super) consistency: Option<Consistency>,
}

/// Collects the peers' cosigned checkpoints and trusts the one enough of them vouch for.
/// Returns the size trusted now, if any.
pub async fn gather(node: &Node) -> Result<Option<u64>> {
    let Some((url, log_key)) = node.config.witness.issuance_log()? else {
        return Ok(None);
    };
    let Some(own_row) = witnessed::get(&node.store, ISSUANCE_LOG).await? else {
        return Ok(None);
    };
    if !witnessed::holds(&node.store, &own_row)? || own_row.incident.is_some() {
        return Ok(None);
    }
    let own = note::open(&log_key, &own_row.cosigned, ORIGIN)?;
    let peers = match node.network.current(&node.store).await? {
        Some(d) => d.nodes.clone(),
        None => Vec::new(),
    };
    let mut views = Vec::new();
    for peer in peers
        .iter()
        .filter(|n| n.status == "active" && n.id != node.config.node_id)
    {
        let Some((key, false)) = witness_key(node, &peer.id).await? else {
            continue;
        };
        // A peer that does not answer, or answers nonsense, is simply not counted.
        let asked = tokio::time::timeout(PER_PEER, seen_by(node, &peer.id, &key, &log_key, &own));
        match asked.await {
            Ok(Ok(Some(Seen::View(theirs)))) => {
                if let Some(view) = tied(url, &own, &log_key, theirs).await {
                    views.push(view);
                }
            }
            Ok(Ok(Some(Seen::Fork(theirs)))) => {
                let why = format!(
                    "node {} cosigned another checkpoint of {} entries signed by keymgr",
                    peer.id, own.size
                );
                witness::split(node, ISSUANCE_LOG, Some(own_row), why, &theirs).await?;
                return Ok(None);
            }
            _ => {}
        }
    }
    let mut saved = Saved {
        checkpoint: String::new(),
        own: own_row.cosigned.clone(),
        views,
    };
    let Some(trusted) = choose(node, &log_key, &saved).await? else {
        return Ok(node.issuance.trusted().map(|t| t.size));
    };
    if node
        .issuance
        .trusted()
        .is_none_or(|t| t.size < trusted.size)
    {
        // Kept for the next start (checked again then): nodes restarted together would
        // otherwise refuse each other until a round gathered cosignatures.
        saved.checkpoint.clone_from(&trusted.note);
        let json = serde_json::to_vec_pretty(&saved).map_err(|_| Error::Invariant {
            what: "the trusted checkpoint is JSON",
        })?;
        crate::node::write_new(&saved_path(node), &json)?;
    }
    node.issuance.trust(trusted);
    Ok(node.issuance.trusted().map(|t| t.size))
}

fn saved_path(node: &Node) -> std::path::PathBuf {
    node.layout.dir().join(super::SAVED)
}

/// The checkpoint saved by an earlier run, if the peers pinned here that vouch for it still
/// reach the threshold and no split view of keymgr's log is held.
pub(super) async fn saved(node: &Node, log_key: &Verifier) -> Result<Option<Trusted>> {
    // Read at most every so often while nothing is trusted, not on every request.
    if !node.issuance.may_read_saved() {
        return Ok(None);
    }
    let Ok(bytes) = std::fs::read(saved_path(node)) else {
        return Ok(None);
    };
    let Ok(kept) = serde_json::from_slice::<Saved>(&bytes) else {
        return Ok(None);
    };
    if witnessed::get(&node.store, ISSUANCE_LOG)
        .await?
        .is_some_and(|w| w.incident.is_some())
    {
        return Ok(None);
    }
    choose(node, log_key, &kept).await
}

/// The checkpoint `kept`'s views vouch for: each view must open under keymgr's key and lie on
/// one chain with `kept.own`; a peer counts once, by the key pinned for it. With k the
/// threshold, the k-th largest view's size (at most own's) is trusted, with every peer whose
/// view is at least that large as its witnesses.
async fn choose(node: &Node, log_key: &Verifier, kept: &Saved) -> Result<Option<Trusted>> {
    let Ok(own) = note::open(log_key, &kept.own, ORIGIN) else {
        return Ok(None);
    };
    // Only peers the current directory lists as active count: not one removed since.
    let active: Vec<String> = match node.network.current(&node.store).await? {
        Some(d) => d
            .nodes
            .iter()
            .filter(|n| n.status == "active" && n.id != node.config.node_id)
            .map(|n| n.id.clone())
            .collect(),
        None => Vec::new(),
    };
    let mut counted: Vec<(String, Opened)> = Vec::new();
    for w in witnessed::all(&node.store).await? {
        if !active.contains(&w.node) {
            continue;
        }
        let Some((key, false)) = witness_key(node, &w.node).await? else {
            continue;
        };
        let vouched = kept.views.iter().find_map(|v| {
            let theirs = note::open(log_key, &v.cosigned, ORIGIN).ok()?;
            (theirs.cosigned_by(&key).is_some() && on_chain(&own, &theirs, v.consistency.as_ref()))
                .then_some(theirs)
        });
        if let Some(theirs) = vouched {
            counted.push((w.node, theirs));
        }
    }
    Ok(pick(&own, counted, node.config.witness.issuance_witnesses))
}

/// The checkpoint `k` of the `counted` peers' views (each on one chain with `own`) vouch for:
/// the k-th largest, no larger than `own`, with the cosignatures of exactly it.
fn pick(own: &Opened, mut counted: Vec<(String, Opened)>, k: usize) -> Option<Trusted> {
    if k == 0 || counted.len() < k {
        return None;
    }
    counted.sort_by_key(|c| std::cmp::Reverse(c.1.size));
    let chosen = if counted[k - 1].1.size >= own.size {
        own
    } else {
        &counted[k - 1].1
    };
    let mut note = format!("{}\n{}", chosen.text, chosen.sig_line);
    let mut witnesses = Vec::new();
    for (peer, theirs) in counted.iter().filter(|c| c.1.size >= chosen.size) {
        if theirs.text == chosen.text {
            for line in &theirs.other_lines {
                note.push_str(line);
            }
        }
        witnesses.push(peer.clone());
    }
    if chosen.text == own.text {
        for line in &own.other_lines {
            note.push_str(line);
        }
    }
    Some(Trusted {
        size: chosen.size,
        root: chosen.root,
        note,
        witnesses,
    })
}

/// Whether `theirs` and `own` are one tree or one a prefix of the other by `proof`.
fn on_chain(own: &Opened, theirs: &Opened, proof: Option<&Consistency>) -> bool {
    if theirs.size == own.size {
        return theirs.root == own.root;
    }
    let Some(proof) = proof else {
        return false;
    };
    let (small, large) = if theirs.size < own.size {
        (theirs, own)
    } else {
        (own, theirs)
    };
    witness::consistent(small.size, &small.root, large, proof)
}

/// What a peer showed of keymgr's log.
enum Seen {
    /// A checkpoint keymgr signed with the peer's valid cosignature (only these lines).
    View(String),
    /// Another checkpoint keymgr signed for this node's size, which the peer cosigned.
    Fork(String),
}

/// The peer's view tied to `own` by keymgr's consistency proof (asked of keymgr when the sizes
/// differ), if it holds. A proof that fails is not a fork here: keymgr's publication is
/// unauthenticated; the peer is only not counted.
async fn tied(url: &str, own: &Opened, log_key: &Verifier, theirs: String) -> Option<View> {
    let opened = note::open(log_key, &theirs, ORIGIN).ok()?;
    let consistency = if opened.size == own.size {
        None
    } else if opened.size == 0 || own.size == 0 {
        return None;
    } else {
        let (first, second) = (opened.size.min(own.size), opened.size.max(own.size));
        let path = format!("{url}/log/consistency?first={first}&second={second}");
        let asked = tokio::time::timeout(
            ASK_KEYMGR,
            crate::node::distribution::get(&path, "application/json", MAX_PROOF),
        )
        .await;
        let Ok(Ok(body)) = asked else {
            return None;
        };
        Some(serde_json::from_slice(&body).ok()?)
    };
    on_chain(own, &opened, consistency.as_ref()).then_some(View {
        cosigned: theirs,
        consistency,
    })
}

/// What `peer`'s `/network/v1/witnessed` shows of keymgr's log.
async fn seen_by(
    node: &Node,
    peer: &str,
    key: &Verifier,
    log_key: &Verifier,
    own: &Opened,
) -> Result<Option<Seen>> {
    let Ok(doc) = witness::witnessed_of(node, peer, ISSUANCE_LOG).await? else {
        return Ok(None);
    };
    Ok(compare(own, key, log_key, &doc))
}

/// How the peer's cosigned checkpoint `doc` (keymgr's signature and the peer's cosignature
/// both checked) stands to `own`.
fn compare(own: &Opened, key: &Verifier, log_key: &Verifier, doc: &CosignedDoc) -> Option<Seen> {
    let theirs = note::open(log_key, &doc.cosigned, ORIGIN).ok()?;
    let prefix = format!("\u{2014} {} ", key.name);
    let line = theirs
        .other_lines
        .iter()
        .find(|l| l.starts_with(&prefix) && single_cosigned(&theirs, key, l))?;
    let alone = format!("{}\n{}{line}", theirs.text, theirs.sig_line);
    if theirs.size == own.size && theirs.root != own.root {
        return Some(Seen::Fork(alone));
    }
    // A peer holding a split view of keymgr's log: its word is not counted.
    (!doc.split_view).then_some(Seen::View(alone))
}

/// Whether `line` alone is a valid cosignature by `key` of `opened`'s text.
fn single_cosigned(opened: &Opened, key: &Verifier, line: &str) -> bool {
    let mut alone = opened.clone();
    alone.other_lines = vec![line.to_owned()];
    alone.cosigned_by(key).is_some()
}

#[cfg(test)]
mod tests;
