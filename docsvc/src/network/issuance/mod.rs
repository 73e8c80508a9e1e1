//! No certificate outside keymgr's issuance log. After each witnessing round this node
//! gathers its peers' cosigned checkpoints of the issuance log ([`cosigned`]) and trusts the
//! one `[witness] issuance_witnesses` of them vouch for. A node, official or application
//! certificate, or an official's key binding, is then taken only with keymgr's inclusion proof
//! (`/log/certificates/{sha256}?size=N`) against that checkpoint: one minted with keymgr's keys
//! but never logged is refused, whoever presents it, and is an integrity incident.
//!
//! Each peer's cosignature is checked with the note key this node pinned for that peer when
//! it first witnessed it; a peer's word about keymgr counts only once. Without
//! `[witness] issuance_log` nothing is checked (a development network).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keymgr::note::{self, Verifier};
use keymgr::tlog::{ABSENT_ORIGIN, Inclusion, ORIGIN};

use super::witness::ISSUANCE_LOG;
use crate::node::Node;
use crate::store::witnessed;
use crate::{Error, Result};

mod cosigned;
pub use cosigned::gather;

/// Where the trusted checkpoint is kept, under the data directory.
pub(crate) const SAVED: &str = "network/issuance-checkpoint";

/// How long one peer may take to show its cosignature.
const PER_PEER: std::time::Duration = std::time::Duration::from_secs(15);
/// The largest inclusion proof read from keymgr (an entry and 64 hashes, with room).
const MAX_PROOF: usize = 64 * 1024;

/// How long keymgr may take to answer for a certificate.
const ASK_KEYMGR: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the certificate `der` is in keymgr's issuance log, proven against the trusted
/// checkpoint. `Ok(Err(why))` is a refusal (keymgr has no entry for it in the cosigned tree,
/// or its proof does not hold), logged here as an integrity incident and counted (someone
/// holds keymgr's keys and used them outside its log); what cannot be established now (no
/// cosigned checkpoint yet, keymgr unreachable or slow) is [`Error::Busy`], answered 503 so a
/// sending node retries, never taken as good. Always `Ok` when no issuance log is set.
pub async fn require(node: &Node, der: &[u8]) -> Result<std::result::Result<(), String>> {
    // On every mutual-TLS call: nothing to hash or parse on a node that follows no log.
    if !node.config.witness.follows_issuance_log() {
        return Ok(Ok(()));
    }
    let sha = crate::crypto::sha256(der);
    let issued_at = || {
        x509_parser::parse_x509_certificate(der)
            .ok()
            .map(|(_, c)| c.validity().not_before.to_datetime())
    };
    require_sha(node, sha, Issued::Certificate, &issued_at).await
}

/// Whether an official's key binding (an age recipient keymgr signed for them) is in keymgr's
/// issuance log, as [`require`] for certificates: found by the hash of what it signs.
pub async fn require_binding(
    node: &Node,
    binding: &keymgr::issue::KeyBinding,
) -> Result<std::result::Result<(), String>> {
    if !node.config.witness.follows_issuance_log() {
        return Ok(Ok(()));
    }
    let sha = keymgr::issue::binding_digest(binding);
    let issued_at = || crate::parse_time(&binding.not_before);
    require_sha(node, sha, Issued::Binding, &issued_at).await
}

/// What a hash names: its entry in the log says which field names it.
#[derive(Clone, Copy)]
enum Issued {
    Certificate,
    Binding,
}

impl Issued {
    fn what(self) -> &'static str {
        match self {
            Issued::Certificate => "certificate",
            Issued::Binding => "key binding",
        }
    }
}

async fn require_sha(
    node: &Node,
    sha: [u8; 32],
    issued: Issued,
    // When it was issued: read only when keymgr says it is absent (`logged_since`).
    issued_at: &(dyn Fn() -> Option<time::OffsetDateTime> + Sync),
) -> Result<std::result::Result<(), String>> {
    if node.issuance.is_logged(&sha) {
        return Ok(Ok(()));
    }
    let what = issued.what();
    let Some((url, log_key)) = node.config.witness.issuance_log()? else {
        return Ok(Ok(()));
    };
    let short = &hex::encode(sha)[..16];
    let not_logged = || {
        Ok(Err(format!(
            "{what} {short} is not in keymgr's issuance log"
        )))
    };
    if node.issuance.missing_lately(&sha) {
        return not_logged();
    }
    if node.issuance.trusted().is_none()
        && !node.is_sealed()
        && let Some(t) = cosigned::saved(node, &log_key).await?
    {
        node.issuance.trust(t);
    }
    let Some(trusted) = node.issuance.trusted() else {
        return Err(Error::Busy(format!(
            "no checkpoint of keymgr's issuance log is cosigned by {} peer(s) yet",
            node.config.witness.issuance_witnesses
        )));
    };
    let busy = || {
        Error::Busy(format!(
            "{what} {short} was logged after the checkpoint the peers cosigned; it is taken \
             once they cosign a newer one"
        ))
    };
    if node
        .issuance
        .pending(&sha)
        .is_some_and(|at| at > trusted.size)
    {
        // Proven in a newer tree already: nothing to ask keymgr until the trust moves on.
        return Err(busy());
    }
    let Some(proof) = ask(url, &log_key, &sha, trusted.size).await? else {
        // keymgr signed it absent from the tree the peers cosigned: logged since (taken once
        // they cosign a newer checkpoint, so 503 meanwhile), or never (refused).
        let at = (issued, issued_at());
        if let Some(size) = logged_since(node, (url, &log_key), &sha, at, trusted.size).await? {
            node.issuance.logged_at(sha, size);
            return Err(busy());
        }
        node.issuance.not_found(sha);
        let why = format!("{what} {short} is not in keymgr's issuance log");
        return outside_the_log(node, &sha, why).await;
    };
    // A proof that does not hold may be the unauthenticated path's doing: not proven (503),
    // never a refusal; only keymgr's signed word refuses.
    proves(&proof, &sha, issued, trusted.size, &trusted.root).map_err(|why| {
        unknown(&format!(
            "its proof for {what} {short} does not hold: {why}"
        ))
    })?;
    node.issuance.found(sha);
    Ok(Ok(()))
}

/// How long before this node witnessed keymgr's log a certificate must have been issued for
/// its absence there to mean it was never logged (keymgr logs before it hands a certificate
/// out, and dates certificates a minute back for clocks that disagree).
const ISSUED_BEFORE_WITNESSED: time::Duration = time::Duration::minutes(5);

/// What cannot be learnt from keymgr now: 503, retried, never taken as good.
fn unknown(why: &str) -> Error {
    Error::Busy(format!("keymgr's issuance log: {why}"))
}

/// keymgr's entry and inclusion proof for `sha` in its tree of `size` entries; `None` when
/// keymgr has none there: a 404 carrying keymgr's signed word for exactly this hash and size
/// (a bare 404 may be the unauthenticated path's, so it proves nothing).
async fn ask(
    url: &str,
    log_key: &Verifier,
    sha: &[u8; 32],
    size: u64,
) -> Result<Option<Inclusion>> {
    let path = format!("{url}/log/certificates/{}?size={size}", hex::encode(sha));
    let asked = tokio::time::timeout(
        ASK_KEYMGR,
        crate::node::distribution::get_status(&path, "application/json", MAX_PROOF),
    )
    .await;
    let body = match asked {
        Ok(Ok((200, body))) => body,
        Ok(Ok((404, body))) => {
            let said = String::from_utf8(body)
                .ok()
                .and_then(|text| note::open(log_key, &text, ABSENT_ORIGIN).ok());
            return match said {
                Some(s) if s.size == size && &s.root == sha => Ok(None),
                _ => Err(unknown("a 404 without keymgr's signed word for it")),
            };
        }
        Ok(Ok((status, _))) => return Err(unknown(&format!("answered {status}"))),
        Ok(Err(e)) => return Err(unknown(&e.to_string())),
        Err(_) => return Err(unknown("no answer in time")),
    };
    serde_json::from_slice::<Inclusion>(&body)
        .map(Some)
        .map_err(|_| unknown("its answer is not an inclusion proof"))
}

/// Whether `sha`, signed absent from the trusted tree of `size`, was logged since: `Some(n)`
/// when proven in the tree of `n` this node last witnessed itself; `None` when keymgr signs it
/// absent there too and it was issued well before this node witnessed that tree: never logged.
/// A certificate issued since may have been logged after it: 503 until the next round. Only
/// checkpoints this node witnessed are used: keymgr's newest one over the plain-HTTP path could
/// be an older one replayed.
async fn logged_since(
    node: &Node,
    (url, log_key): (&str, &Verifier),
    sha: &[u8; 32],
    (issued, issued_at): (Issued, Option<time::OffsetDateTime>),
    size: u64,
) -> Result<Option<u64>> {
    let w = match witnessed::get(&node.store, ISSUANCE_LOG).await? {
        Some(w) if witnessed::holds(&node.store, &w)? => w,
        Some(_) => {
            return Err(unknown(
                "the witnessed checkpoint was changed in the database",
            ));
        }
        None => return Err(unknown("it was never witnessed here")),
    };
    let own = note::open(log_key, &w.cosigned, ORIGIN)
        .map_err(|_| unknown("the checkpoint witnessed here does not open"))?;
    if own.size > size
        && let Some(proof) = ask(url, log_key, sha, own.size).await?
    {
        return proves(&proof, sha, issued, own.size, &own.root)
            .map(|()| Some(own.size))
            .map_err(|why| unknown(&why));
    }
    let seen = crate::parse_time(&w.seen_at)
        .ok_or_else(|| unknown("the time it was witnessed here does not parse"))?;
    match issued_at {
        Some(at) if at + ISSUED_BEFORE_WITNESSED < seen => Ok(None),
        _ => Err(Error::Busy(format!(
            "{} {} was issued after keymgr's log was last witnessed here; it is asked about \
             again after the next witnessing round",
            issued.what(),
            &hex::encode(sha)[..16]
        ))),
    }
}

/// A certificate or binding found outside the log: an integrity incident, logged in the access
/// log and counted, then refused. Asked again only after `REASK`, so this is bounded.
async fn outside_the_log(
    node: &Node,
    sha: &[u8; 32],
    why: String,
) -> Result<std::result::Result<(), String>> {
    crate::metrics::Metrics::inc(&node.metrics.integrity_incidents);
    let subject = format!("certificate:{}", &hex::encode(sha)[..16]);
    match node.store.integrity().incident(&subject, &why).await {
        Error::Integrity(_) => Ok(Err(why)),
        // The access log could not be written: refused all the same, as that error.
        other => Err(other),
    }
}

/// Checks that `proof` puts an entry issuing the certificate (or binding) `sha` in the tree of
/// `size` entries whose root is `root`.
fn proves(
    proof: &Inclusion,
    sha: &[u8; 32],
    issued: Issued,
    size: u64,
    root: &[u8; 32],
) -> std::result::Result<(), String> {
    if proof.size != size {
        return Err(format!("it is for size {}, not {size}", proof.size));
    }
    let entry: serde_json::Value =
        serde_json::from_str(&proof.entry).map_err(|_| "its entry is not JSON".to_owned())?;
    let field = match (issued, entry.get("kind").and_then(|k| k.as_str())) {
        (Issued::Certificate, Some("issued" | "rotated")) => "/data/certificate_sha256",
        (Issued::Binding, Some("key-binding")) => "/data/binding_sha256",
        _ => return Err(format!("its entry issues no {}", issued.what())),
    };
    if entry.pointer(field).and_then(|v| v.as_str()) != Some(hex::encode(sha).as_str()) {
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
    if keymgr::merkle::verify_inclusion(&leaf, index, size, &hashes, root) {
        Ok(())
    } else {
        Err("the path does not lead to the witnessed root".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keymgr::merkle;

    /// An inclusion proof counts only for an entry that issues exactly this certificate or key
    /// binding (by its own field), in the tree of exactly this size and root.
    #[test]
    fn a_proof_counts_only_for_an_entry_issuing_this_hash() {
        let sha = [7u8; 32];
        let named = hex::encode(sha);
        let entries = [
            format!(
                r#"{{"kind":"issued","data":{{"certificate_sha256":"{}"}}}}"#,
                "ab".repeat(32)
            ),
            format!(r#"{{"kind":"key-binding","data":{{"binding_sha256":"{named}"}}}}"#),
            format!(r#"{{"kind":"revoked","data":{{"certificate_sha256":"{named}"}}}}"#),
            format!(r#"{{"kind":"key-binding","data":{{"certificate_sha256":"{named}"}}}}"#),
        ];
        let leaves: Vec<[u8; 32]> = entries
            .iter()
            .map(|e| merkle::leaf_hash(e.as_bytes()))
            .collect();
        let root = merkle::root(&leaves);
        let proof = |i: usize| Inclusion {
            index: i as u64,
            size: leaves.len() as u64,
            entry: entries[i].clone(),
            proof: merkle::inclusion_proof(&leaves, i)
                .expect("a proof")
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
        };
        let size = leaves.len() as u64;
        assert_eq!(
            proves(&proof(1), &sha, Issued::Binding, size, &root),
            Ok(())
        );
        assert!(
            proves(&proof(1), &sha, Issued::Certificate, size, &root).is_err(),
            "a binding's entry issues no certificate"
        );
        assert_eq!(
            proves(&proof(0), &[0xab; 32], Issued::Certificate, size, &root),
            Ok(())
        );
        assert!(
            proves(&proof(1), &[8u8; 32], Issued::Binding, size, &root).is_err(),
            "another hash"
        );
        assert!(
            proves(&proof(2), &sha, Issued::Binding, size, &root).is_err(),
            "a revocation issues nothing"
        );
        assert!(
            proves(&proof(3), &sha, Issued::Binding, size, &root).is_err(),
            "a binding by another field"
        );
        assert!(
            proves(&proof(1), &sha, Issued::Binding, size, &[0u8; 32]).is_err(),
            "another root"
        );
        assert!(
            proves(&proof(1), &sha, Issued::Binding, size + 1, &root).is_err(),
            "another size"
        );
        let mut moved = proof(1);
        moved.entry.clone_from(&entries[0]);
        assert!(
            proves(&moved, &[0xab; 32], Issued::Certificate, size, &root).is_err(),
            "the path of another leaf"
        );
    }
}
