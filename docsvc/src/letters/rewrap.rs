//! Key rotation reaching the letters: rotate an archive key or an official's encryption key,
//! then re-wrap each affected letter's age headers to the current keys. The encrypted bodies
//! are not touched, so the signed content hashes and payload nonces stay valid.

use hsm_shim::{KeyKind, KeyState, KeyStore};
use policies::Level;

use crate::audit::Entry;
use crate::crypto::envelope::Manifest;
use crate::letters::documents::{self, DESTROYED};
use crate::letters::lifecycle::{rewrapped_heads, write_heads};
use crate::node::{Layout, Node, NodeKeys};
use crate::officials::directory::{self, Official};
use crate::store::documents as rows;
use crate::{Error, Result};

/// Makes a new archive key for `level` current; the old one is kept (deactivated: it still
/// decrypts, never encrypts) until `docsvc rewrap` has moved every letter off it.
pub fn rotate_archive(node: &Node, level: Level) -> Result<hsm_shim::KeyId> {
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let mut nk: NodeKeys = (*node.keys.get()).clone();
    let old = nk.archive(level)?;
    let new = keys
        .generate(
            KeyKind::X25519,
            &format!("archive-{}", level.as_str().replace('_', "-")),
        )?
        .id();
    for (l, k) in &mut nk.archive {
        if *l == level {
            *k = new;
        }
    }
    nk.retired_archive.push((level, old));
    nk.save(&node.layout)?;
    keys.set_state(&node.handle(old)?, KeyState::Deactivated)?;
    Ok(new)
}

/// Gives an official a new encryption key; the old one is deactivated (decrypt only).
pub async fn rotate_official(node: &Node, nip: &str) -> Result<hsm_shim::KeyId> {
    let o = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let new = keys
        .generate(KeyKind::X25519, &format!("official-{nip}-encryption"))?
        .id();
    directory::set_encryption_key(&node.store, nip, new).await?;
    if let Some(old) = o.encryption_key {
        keys.set_state(&node.handle(old)?, KeyState::Deactivated)?;
    }
    Ok(new)
}

/// Where a rewrap run stands.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    /// Letters (not destroyed) in the store.
    pub total: u64,
    pub examined: u64,
    /// Letters re-wrapped in this run.
    pub rewrapped: u64,
    /// Letters already on the current keys.
    pub current: u64,
    /// Letters no key this node holds can open, with the reason: reported, never dropped.
    pub unopenable: Vec<(String, String)>,
}

/// The keys a letter should be wrapped to now, and the age recipients for them.
async fn wanted(node: &Node, m: &Manifest) -> Result<(Vec<String>, Vec<age::x25519::Recipient>)> {
    let people = crate::letters::lifecycle::people(node, m).await?;
    let refs: Vec<&Official> = people.iter().collect();
    documents::wrap_set(node, &refs, m.classification)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Re-wraps every letter whose headers are not on the current keys, `batch` letters per
/// page, each letter in its own transaction with its log entry: a crash loses at most the
/// letter in hand, and the next run picks up where this one stopped (letters already on the
/// current keys are skipped). `report` is called after each page.
pub async fn run(node: &Node, batch: u32, report: &mut dyn FnMut(&Progress)) -> Result<Progress> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let mut p = Progress::default();
    let total = rows::count_except(&node.store, DESTROYED).await?;
    p.total = u64::try_from(total).unwrap_or_default();
    let mut after = String::new();
    loop {
        let page =
            rows::page_after(&node.store, &after, DESTROYED, i64::from(batch.max(1))).await?;
        if page.is_empty() {
            break;
        }
        for r in page {
            let id = r.id;
            after.clone_from(&id);
            p.examined += 1;
            let stored: Vec<String> = serde_json::from_str(&r.wrapped_to).unwrap_or_default();
            let outcome = match Manifest::parse(&r.manifest) {
                Ok(m) => match one(node, &m, stored).await {
                    // Its disposisi's notes and reports follow it to the current archive key.
                    Ok(moved) => {
                        crate::letters::disposition::reseal_letter(node, &id, m.classification)
                            .await
                            .map(|_| moved)
                    }
                    e => e,
                },
                Err(e) => Err(e),
            };
            match outcome {
                Ok(true) => p.rewrapped += 1,
                Ok(false) => p.current += 1,
                Err(e @ (Error::KeyUnavailable(_) | Error::Integrity(_))) => {
                    let why = e.to_string();
                    tracing::error!(document = %id, "cannot rewrap: {why}");
                    crate::node::log_alone(
                        node,
                        &Entry::event(
                            "operator:rewrap".into(),
                            "rewrap",
                            "error",
                            why.clone(),
                            node.policy.current().version(),
                            None,
                        )
                        .about(&id),
                    )
                    .await?;
                    p.unopenable.push((id, why));
                }
                Err(e) => return Err(e),
            }
        }
        report(&p);
    }
    Ok(p)
}

/// Re-wraps one letter if it is not on the current keys; `Ok(true)` if it was.
async fn one(node: &Node, m: &Manifest, stored: Vec<String>) -> Result<bool> {
    let (mut ids, mut recipients) = wanted(node, m).await?;
    for (key, r) in documents::remote_keys(&stored) {
        ids.push(key);
        recipients.push(r);
    }
    if sorted(ids.clone()) == sorted(stored) {
        return Ok(false);
    }
    let heads = rewrapped_heads(node, m, m.classification, &recipients).await?;
    let mut tx = node.store.begin().await?;
    write_heads(&mut tx, &m.id, &heads).await?;
    let wrapped_to =
        serde_json::to_string(&ids).map_err(|e| Error::encode("the wrapped-to key list", e))?;
    rows::set_wrapped_to(&mut tx, &m.id, &wrapped_to).await?;
    node.audit
        .commit_with(
            tx,
            &Entry::event(
                "operator:rewrap".into(),
                "rewrap",
                "allow",
                format!("age headers re-wrapped to {} current keys", ids.len()),
                node.policy.current().version(),
                None,
            )
            .about(&m.id),
        )
        .await?;
    Ok(true)
}

/// Keys that `rotate` retired and that no letter is wrapped to any more: what keymgr (or
/// `docsvc keys destroy-retired`) may now destroy.
pub async fn retired_unused(node: &Node, layout: &Layout) -> Result<Vec<hsm_shim::KeyId>> {
    let nk = NodeKeys::load(layout)?;
    let mut used = std::collections::HashSet::new();
    for wrapped_to in rows::all_wrapped_to(&node.store, DESTROYED).await? {
        let ids: Vec<String> = serde_json::from_str(&wrapped_to).unwrap_or_default();
        used.extend(ids);
    }
    // Disposisi notes and reports are encrypted to the archive key current when written.
    used.extend(crate::store::dispositions::key_ids(&node.store).await?);
    used.extend(crate::store::drafts::key_ids(&node.store).await?);
    Ok(nk
        .retired_archive
        .iter()
        .map(|(_, k)| *k)
        .filter(|k| !used.contains(&k.to_string()))
        .collect())
}
