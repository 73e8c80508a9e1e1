//! What the peers hold of this node's own access log: each peer's latest cosigned checkpoint
//! of it (`GET /network/v1/witnessed` there), its cosignature checked with the witness key
//! this node pinned for that peer. `docsvc audit verify --peers` compares each with the log
//! recomputed here: a log rewritten, forked or cut back since a peer witnessed it no longer
//! gives the root that peer cosigned.

use keymgr::merkle::Hash;

use super::witness::witness_key;
use crate::audit::checkpoint;
use crate::node::Node;
use crate::{Error, Result};

/// One peer's word on this node's log: the size and root it cosigned, or why there is none.
#[derive(Debug)]
pub struct HeldBy {
    pub peer: String,
    pub cosigned: std::result::Result<(u64, Hash), String>,
    /// The peer answered, but with a checkpoint of this log that fails under the keys pinned
    /// here: counted against the log (a key swapped in the database, or a forged answer).
    pub bad: bool,
}

/// Every active peer's cosigned checkpoint of this node's log.
pub async fn held_by_peers(node: &Node) -> Result<Vec<HeldBy>> {
    let vkey_path = node.layout.dir().join("audit-note.vkey");
    let own = checkpoint::parse_vkey(
        &std::fs::read_to_string(&vkey_path).map_err(|e| Error::io("reading", &vkey_path, e))?,
    )?;
    let origin = checkpoint::origin(&node.config.node_id);
    let Some(directory) = node.network.current(&node.store).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for peer in directory
        .nodes
        .iter()
        .filter(|n| n.status == "active" && n.id != node.config.node_id)
    {
        let (cosigned, bad) = match held_by(node, &peer.id, &own, &origin).await {
            Ok(Answer::Vouches(size, root)) => (Ok((size, root)), false),
            Ok(Answer::Silent(why)) => (Err(why), false),
            Ok(Answer::Bad(why)) => (Err(why), true),
            Err(e) => (Err(format!("not asked: {e}")), false),
        };
        out.push(HeldBy {
            peer: peer.id.clone(),
            cosigned,
            bad,
        });
    }
    Ok(out)
}

enum Answer {
    Vouches(u64, Hash),
    /// No word: never witnessed here, or it holds nothing of this log.
    Silent(String),
    /// A checkpoint of this log that does not verify.
    Bad(String),
}

async fn held_by(
    node: &Node,
    peer: &str,
    own: &checkpoint::Verifier,
    origin: &str,
) -> Result<Answer> {
    // A peer under a split view still vouches for what it cosigned before.
    let Some((key, _)) = witness_key(node, peer).await? else {
        return Ok(Answer::Silent(
            "this node never witnessed it, so has no witness key of it".into(),
        ));
    };
    let doc = match super::witness::witnessed_of(node, peer, &node.config.node_id).await? {
        Ok(doc) => doc,
        Err(why) => return Ok(Answer::Silent(why)),
    };
    let opened = match checkpoint::open(own, &doc.cosigned, origin) {
        Ok(o) => o,
        Err(e) => return Ok(Answer::Bad(format!("its checkpoint does not open: {e}"))),
    };
    if opened.cosigned_by(&key).is_none() {
        return Ok(Answer::Bad(
            "its checkpoint has no valid cosignature under the key pinned for it".into(),
        ));
    }
    Ok(Answer::Vouches(opened.size, opened.root))
}
