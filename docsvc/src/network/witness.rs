//! Nodes witness each other's access logs: each round, for every other active node of the
//! directory, fetch its note key (pinned at first sight) and newest checkpoint, check the
//! signature, and check it extends the one witnessed before (same size: same root; larger:
//! an RFC 9162 consistency proof the peer serves; smaller: never). A checkpoint that passes
//! is cosigned (C2SP tlog-cosignature) and kept; one that does not is a split view: an
//! integrity incident logged, counted, kept on the peer's row (which stays as it was, the
//! evidence) and shown on `/readyz` and the auditors' page. A peer that cannot be reached is
//! only late, not an incident.
//!
//! keymgr's issuance log (`[witness] issuance_log`) is witnessed the same way in the same
//! round, under the name [`ISSUANCE_LOG`], fetched from keymgr's publication over plain HTTP
//! (everything is checked against the key pinned in `node.toml`, nothing trusted for where it
//! came from).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use keymgr::note::Verifier;

use crate::audit::Entry;
use crate::audit::checkpoint::{self, Opened};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::store::witnessed::{self, Witnessed};
use crate::{Error, Result};

/// The largest note key or checkpoint read from a peer.
const MAX_NOTE: usize = 4096;
/// The largest consistency proof read (64 hashes of base64, with room to spare).
const MAX_PROOF: usize = 16 * 1024;
/// How long one peer may take to be witnessed.
const PER_PEER: Duration = Duration::from_secs(15);
/// The name keymgr's issuance log is witnessed under (no node id has an `@`).
pub const ISSUANCE_LOG: &str = "@keymgr";

/// A log as this node last witnessed it, for its peers: the checkpoint with this node's
/// cosignature, so that witnesses compare what they were shown and count cosignatures.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CosignedDoc {
    /// The witnessed log: a node's id, or `@keymgr` for keymgr's issuance log.
    pub node: String,
    pub size: i64,
    /// The checkpoint: its body, the log's signature and this node's cosignature (the last
    /// one that extended the one before, under a split view).
    pub cosigned: String,
    /// This node saw the log contradict this checkpoint since.
    #[serde(default)]
    pub split_view: bool,
}

/// What one round found of one peer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub node: String,
    /// `witnessed`, `split_view` or `unreachable`.
    pub state: &'static str,
    pub size: Option<u64>,
    pub detail: String,
}

/// One round over every other active node of the directory.
pub async fn round(node: &Node) -> Result<Vec<Outcome>> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let mut names = Vec::new();
    if node.config.witness.issuance_log()?.is_some() {
        names.push(ISSUANCE_LOG.to_owned());
    }
    if let Some(directory) = node.network.current(&node.store).await? {
        names.extend(
            directory
                .nodes
                .iter()
                .filter(|n| n.status == "active" && n.id != node.config.node_id)
                .map(|n| n.id.clone()),
        );
    }
    let mut out = Vec::new();
    for peer in &names {
        // A peer that never answers delays the round by at most this, not forever.
        let checked = tokio::time::timeout(PER_PEER, witness(node, peer)).await;
        out.push(match checked {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => outcome(peer, "unreachable", None, e.to_string()),
            Err(_) => outcome(peer, "unreachable", None, "no answer in time".into()),
        });
    }
    // The peers' cosignatures of keymgr's checkpoint, now that this node witnessed it too.
    if let Err(e) = super::issuance::gather(node).await {
        tracing::warn!("issuance log: no cosignatures gathered: {e}");
    }
    if out.iter().all(|o| o.state == "witnessed") {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        node.metrics.witnessed_at.set(now);
    }
    Ok(out)
}

/// Where a witnessed log is read: a peer over mutual TLS, or keymgr's publication.
enum Source {
    Peer(super::client::Client),
    Keymgr(String),
}

impl Source {
    /// `what` under the log's base (`note-key`, `checkpoint`, `consistency?…`), as text.
    async fn get(&mut self, what: &str, max: usize) -> Result<String> {
        let body = match self {
            Source::Peer(client) => {
                let path = format!("/network/v1/log/{what}");
                let (status, _, body) = client
                    .call_limited("GET", &path, &[], Bytes::new(), max)
                    .await?;
                if status != 200 {
                    return Err(Error::invalid("peer", format!("{path} answered {status}")));
                }
                body.to_vec()
            }
            Source::Keymgr(base) => {
                crate::node::distribution::get(&format!("{base}/log/{what}"), "*/*", max).await?
            }
        };
        String::from_utf8(body).map_err(|_| Error::invalid("peer", format!("{what}: not UTF-8")))
    }
}

async fn witness(node: &Node, peer: &str) -> Result<Outcome> {
    let (mut source, origin, vkey) = if peer == ISSUANCE_LOG {
        let Some((url, key)) = node.config.witness.issuance_log()? else {
            return Err(Error::invalid("peer", "no issuance log is set"));
        };
        let vkey = keymgr::note::vkey(&key.name, &key.public);
        (Source::Keymgr(url.to_owned()), key.name, vkey)
    } else {
        let (_, client) = super::connect_witnessing(node, peer).await?;
        let mut source = Source::Peer(client);
        let vkey = source.get("note-key", MAX_NOTE).await?;
        (source, checkpoint::origin(peer), vkey)
    };
    let signed = source.get("checkpoint", MAX_NOTE).await?;
    let held = match witnessed::get(&node.store, peer).await? {
        Some(w) if !witnessed::holds(&node.store, &w)? => {
            return Err(node
                .store
                .integrity()
                .incident(
                    &format!("node:{peer}"),
                    &format!("the witnessed checkpoint of {peer} was changed in the database"),
                )
                .await);
        }
        other => other,
    };
    let pinned = held.as_ref().map_or(vkey.trim(), |w| w.vkey.as_str());
    let verifier = checkpoint::parse_vkey(pinned)?;
    if held.as_ref().is_some_and(|w| w.incident.is_some()) {
        // A split view stays until an operator has dealt with it; nothing more is cosigned.
        return Ok(outcome(
            peer,
            "split_view",
            None,
            "a split view was seen before".into(),
        ));
    }
    if vkey.trim() != pinned {
        return split(
            node,
            peer,
            held,
            format!("its note key changed to {}", vkey.trim()),
            &signed,
        )
        .await;
    }
    if verifier.name != origin {
        return Err(Error::invalid(
            "peer",
            format!("{peer}'s note key is named {}, not {origin}", verifier.name),
        ));
    }
    // A bad signature by the pinned key is the peer's (or the path's) error, not a fork.
    let opened = checkpoint::open(&verifier, &signed, &origin)?;
    if let Some(w) = &held {
        if let Some(why) = contradiction(&mut source, w, &opened).await? {
            // keymgr's publication is plain HTTP: only two checkpoints it signed for one size
            // prove a fork there; an older one replayed, or a bent proof, may be the path's.
            if peer == ISSUANCE_LOG && u64::try_from(w.size).ok() != Some(opened.size) {
                return Err(Error::invalid(
                    "peer",
                    format!("keymgr's log: {why} (not taken as a fork: unauthenticated path)"),
                ));
            }
            return split(node, peer, held, why, &signed).await;
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let line = node.audit.cosign(
        &node.config.node_id,
        &opened.text,
        u64::try_from(now.unix_timestamp()).unwrap_or(0),
    )?;
    let size = opened.size;
    witnessed::put(
        &node.store,
        &Witnessed {
            node: peer.to_owned(),
            vkey: pinned.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            root: B64.encode(opened.root),
            // Only what was checked: the body, the log's own signature, this witness's.
            cosigned: format!("{}\n{}{line}", opened.text, opened.sig_line),
            seen_at: crate::now_rfc3339(),
            incident: None,
            mac: String::new(),
        },
    )
    .await?;
    Ok(outcome(
        peer,
        "witnessed",
        Some(size),
        format!("{size} entries, consistent"),
    ))
}

/// Why `opened` does not extend the checkpoint witnessed before, `w`, if it does not (a
/// larger log proves it with the peer's consistency proof).
async fn contradiction(
    source: &mut Source,
    w: &Witnessed,
    opened: &Opened,
) -> Result<Option<String>> {
    let old = u64::try_from(w.size).unwrap_or(0);
    let old_root = B64
        .decode(&w.root)
        .map_err(|_| Error::Integrity(format!("the witnessed root of {} is not base64", w.node)))?;
    if opened.size < old {
        return Ok(Some(format!(
            "its log went back from {old} to {} entries",
            opened.size
        )));
    }
    if opened.size == old && opened.root.as_slice() != old_root.as_slice() {
        return Ok(Some(format!("two different roots for size {old}")));
    }
    if opened.size > old && old > 0 {
        let path = format!("consistency?first={old}&second={}", opened.size);
        let proof: checkpoint::Consistency =
            serde_json::from_str(&source.get(&path, MAX_PROOF).await?)
                .map_err(|e| Error::invalid("peer", format!("consistency proof: {e}")))?;
        if !consistent(old, &old_root, opened, &proof) {
            return Ok(Some(format!(
                "its checkpoint of {} entries does not extend the one of {old} witnessed before",
                opened.size
            )));
        }
    }
    Ok(None)
}

pub(super) fn consistent(
    old: u64,
    old_root: &[u8],
    new: &Opened,
    proof: &checkpoint::Consistency,
) -> bool {
    let Ok(old_root) = <[u8; 32]>::try_from(old_root) else {
        return false;
    };
    let hashes: Option<Vec<[u8; 32]>> = proof
        .proof
        .iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        })
        .collect();
    let (Some(hashes), Ok(m), Ok(n)) = (hashes, usize::try_from(old), usize::try_from(new.size))
    else {
        return false;
    };
    proof.first == old
        && proof.second == new.size
        && keymgr::merkle::verify_consistency(m, n, &old_root, &new.root, &hashes)
}

fn outcome(peer: &str, state: &'static str, size: Option<u64>, detail: String) -> Outcome {
    Outcome {
        node: peer.to_owned(),
        state,
        size,
        detail,
    }
}

/// A split view: kept on the peer's row first (with the checkpoint that contradicted it, as
/// evidence), then logged as an integrity incident and counted.
pub(super) async fn split(
    node: &Node,
    peer: &str,
    held: Option<Witnessed>,
    why: String,
    contradicting: &str,
) -> Result<Outcome> {
    let reason = if peer == ISSUANCE_LOG {
        // keymgr forked its log: no checkpoint of it is trusted any more (fail closed).
        node.issuance.distrust();
        let _ = std::fs::remove_file(node.layout.dir().join(super::issuance::SAVED));
        format!("split view of keymgr's issuance log: {why}")
    } else {
        format!("split view of node {peer}'s access log: {why}")
    };
    tracing::error!("{reason}");
    if let Some(mut w) = held {
        w.incident = Some(format!(
            "{reason} ({}); the checkpoint received:\n{contradicting}",
            crate::now_rfc3339()
        ));
        witnessed::put(&node.store, &w).await?;
    }
    Metrics::inc(&node.metrics.split_views);
    crate::node::log_alone(
        node,
        &Entry::event(
            format!("node:{peer}"),
            "witness_split_view",
            "deny",
            reason.clone(),
            node.policy.current().version(),
            None,
        ),
    )
    .await?;
    Ok(outcome(peer, "split_view", None, reason))
}

/// The witness key a peer cosigns with: its pinned note key, named `sandi/<peer>/witness`, and
/// whether this node holds a split view of the peer's log. The row's MAC is checked when the
/// node is open; a sealed node (`audit verify --peers`) reads the key unchecked, which is
/// safe there: the peer's answer comes over mutual TLS pinned by the directory, and a key
/// swapped in the database only makes its genuine cosignature fail.
pub(crate) async fn witness_key(node: &Node, peer: &str) -> Result<Option<(Verifier, bool)>> {
    let Some(w) = witnessed::get(&node.store, peer).await? else {
        return Ok(None);
    };
    if !node.is_sealed() && !witnessed::holds(&node.store, &w)? {
        return Ok(None);
    }
    let v = checkpoint::parse_vkey(&w.vkey)?;
    Ok(Some((
        Verifier {
            name: format!("sandi/{peer}/witness"),
            public: v.public,
        },
        w.incident.is_some(),
    )))
}

/// The largest list of cosigned checkpoints read from a peer.
const MAX_WITNESSED: usize = 256 * 1024;

/// What `peer` last cosigned of `log` (a node's id, or [`ISSUANCE_LOG`]), from its
/// `GET /network/v1/witnessed`; `Ok(Err(why))` when it shows none.
pub(crate) async fn witnessed_of(
    node: &Node,
    peer: &str,
    log: &str,
) -> Result<std::result::Result<CosignedDoc, String>> {
    let (_, mut client) = super::connect_witnessing(node, peer).await?;
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
        return Ok(Err(format!("it answered {status}")));
    }
    let docs: Vec<CosignedDoc> = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("peer", format!("/network/v1/witnessed: {e}")))?;
    Ok(docs
        .into_iter()
        .find(|d| d.node == log)
        .ok_or_else(|| format!("it holds no checkpoint of {log}")))
}

/// Every peer as last witnessed, MACs checked (a changed row is reported as such).
pub async fn held(node: &Node) -> Result<Vec<Witnessed>> {
    let mut out = Vec::new();
    for mut w in witnessed::all(&node.store).await? {
        if !witnessed::holds(&node.store, &w)? {
            w.incident = Some("this row was changed in the database".into());
        }
        out.push(w);
    }
    Ok(out)
}

/// Witnesses every `[witness] seconds` while the node runs (a round waits for the unseal).
pub fn spawn(node: Arc<Node>) {
    let every = node.config.witness.seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if node.is_sealed() {
                continue;
            }
            match round(&node).await {
                Ok(found) => {
                    for o in found.iter().filter(|o| o.state != "witnessed") {
                        tracing::warn!(peer = %o.node, state = o.state, "witness: {}", o.detail);
                    }
                }
                Err(e) => tracing::warn!("witness round: {e}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use keymgr::merkle;

    fn opened(size: u64, root: [u8; 32]) -> Opened {
        Opened {
            text: String::new(),
            sig_line: String::new(),
            other_lines: Vec::new(),
            origin: String::new(),
            size,
            root,
        }
    }

    /// A checkpoint extends the one witnessed only through a proof for exactly those sizes
    /// that ties both roots: a forked tree of the same size does not pass.
    #[test]
    fn only_a_true_extension_is_consistent() {
        let leaves: Vec<[u8; 32]> = (0..11u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let mut forked = leaves.clone();
        forked[2] = merkle::leaf_hash(b"rewritten");
        let proof = |of: &[[u8; 32]], m: usize| checkpoint::Consistency {
            first: m as u64,
            second: of.len() as u64,
            proof: merkle::consistency_proof(of, m)
                .expect("a proof")
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
        };
        let old_root = merkle::root(&leaves[..5]);
        let new = opened(11, merkle::root(&leaves));
        assert!(consistent(5, &old_root, &new, &proof(&leaves, 5)));
        let fork = opened(11, merkle::root(&forked));
        assert!(!consistent(5, &old_root, &fork, &proof(&forked, 5)));
        // A proof for other sizes, or one hash changed, does not pass either.
        assert!(!consistent(5, &old_root, &new, &proof(&leaves, 4)));
        let mut bent = proof(&leaves, 5);
        bent.proof[0] = B64.encode([9u8; 32]);
        assert!(!consistent(5, &old_root, &new, &bent));
    }
}
