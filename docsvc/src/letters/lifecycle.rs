//! What happens to a letter after it is sent: reclassification (a new signed version, the old
//! one kept) and destruction after retention (the ciphertext goes, a signed record stays).

use policies::{Action, Context, Decision, Level, Principal};
use serde::{Deserialize, Serialize};

use crate::crypto::envelope::{self, Manifest, Reclassified};
use crate::crypto::sha256_hex;
use crate::crypto::signature::Kind;
use crate::letters::documents::{
    self, AWAITING, Checked, Created, DESTROYED, addressed_agencies, entry, forbidden,
    policy_document, sign_as, signature_allowed, wrap_set,
};
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::{content, documents as rows};
use crate::{Error, Result, now_rfc3339};

/// A reclassification request: the new sifat and the written reason.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReclassifyRequest {
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    #[serde(default)]
    pub reason: Option<String>,
}

async fn refuse(node: &Node, caller: &Caller, action: &str, m: &Manifest, d: &Decision) -> Error {
    crate::metrics::Metrics::inc(&node.metrics.denials);
    match log_alone(
        node,
        &entry(caller, action, Some(&m.id), Some(m.classification), d),
    )
    .await
    {
        Ok(()) => forbidden(d),
        Err(e) => e,
    }
}

/// The officials a letter is addressed to and its originator, as the directory has them now.
/// Officials of other nodes (`NIP@node`) are not here, except as `NIP@this-node` on a letter
/// this node received.
pub(crate) async fn people(node: &Node, m: &Manifest) -> Result<Vec<Official>> {
    let mut out = Vec::new();
    for addr in std::iter::once(&m.originator)
        .chain(&m.recipients)
        .chain(&m.copies)
    {
        let nip = match crate::network::remote_address(addr) {
            Some((nip, peer)) if peer == node.config.node_id => nip,
            Some(_) => continue,
            None => addr.as_str(),
        };
        if let Some(o) = directory::get(&node.store, nip).await? {
            out.push(o);
        }
    }
    Ok(out)
}

/// The age header of each part of `m` re-wrapped to `recipients`, opened with the archive
/// keys of `from` (the level the ciphertext is wrapped for now).
pub(crate) async fn rewrapped_heads(
    node: &Node,
    m: &Manifest,
    from: Level,
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<(i64, Vec<u8>)>> {
    let identities = documents::archive_identities(node, from)?;
    let mut out = Vec::new();
    for part in 0..m.parts.len() {
        let part = i64::try_from(part).map_err(|_| Error::OutOfRange {
            what: "a part index",
        })?;
        let first = content::head(&node.store, &m.id, part)
            .await?
            .ok_or_else(|| Error::Integrity(format!("letter {}: part {part} is missing", m.id)))?;
        let head =
            envelope::rewrap_header(&first, &identities, recipients).map_err(|e| match e {
                Error::Integrity(why) => Error::Integrity(format!("letter {}: {why}", m.id)),
                other => other,
            })?;
        out.push((part, head));
    }
    Ok(out)
}

pub(crate) async fn write_heads(
    tx: &mut crate::store::Tx,
    id: &str,
    heads: &[(i64, Vec<u8>)],
) -> Result<()> {
    for (part, head) in heads {
        content::set_head(tx, id, *part, head).await?;
    }
    Ok(())
}

/// Changes a sent letter's classification: the policy decides (lowering needs a written
/// reason), the caller signs a new version of the manifest that names the old level, the
/// reason and the previous version's hash, the age headers are re-wrapped for the new level's
/// archive key and the addressees cleared for it, and the previous version is kept. One
/// transaction.
pub async fn reclassify(
    node: &Node,
    caller: &Caller,
    checked: Checked,
    req: &ReclassifyRequest,
) -> Result<Created> {
    let old = &checked.manifest;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.chars().count() > 1000 || reason.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "reason must be at most 1000 characters without control characters",
        ));
    }
    if req.classification == old.classification {
        let level = old.classification.as_str();
        return Err(Error::invalid(
            "classification",
            format!("letter {} is already {level}", old.id),
        ));
    }
    if checked.state == AWAITING {
        return Err(Error::Conflict(format!(
            "letter {} waits for its second approval: reclassify it after it is sent",
            old.id
        )));
    }
    let policy = node.policy.current();
    let principal = Principal::Official(caller.official.person());
    let doc = policy_document(
        old,
        addressed_agencies(node, old).await?,
        &node.config.node_id,
    );
    let ctx = Context {
        step_up: caller.stepped_up,
        new_classification: Some(req.classification),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        ..Context::default()
    };
    let d = policy.decide(&principal, Action::Reclassify, &doc, &ctx)?;
    if !d.allowed {
        return Err(refuse(node, caller, "reclassify", old, &d).await);
    }
    let mut new = old.clone();
    new.classification = req.classification;
    new.policy_version = policy.version().to_owned();
    let version = old.reclassified.as_ref().map_or(1, |r| r.version) + 1;
    new.reclassified = Some(Reclassified {
        version,
        from: old.classification,
        reason: reason.to_owned(),
        by: caller.official.nip.clone(),
        at: now_rfc3339(),
        previous_sha256: sha256_hex(&old.canonical()?),
    });
    let sign = may_sign_version(node, caller, &new, doc.agencies.clone()).await?;
    let (wrapped_to, recipients) = wrapping(node, &old.id, &new).await?;
    let heads = rewrapped_heads(node, old, old.classification, &recipients).await?;
    let bytes = new.canonical()?;
    let level = new.classification;
    let cms = sign_as(node, &caller.official, Kind::Manifest, level, &bytes).await?;

    let mut tx = node.store.begin().await?;
    store_version(&mut tx, &checked, &new, &bytes, &cms, &wrapped_to).await?;
    write_heads(&mut tx, &old.id, &heads).await?;
    node.audit
        .append(
            &mut tx,
            &entry(
                caller,
                "reclassify",
                Some(&old.id),
                Some(old.classification),
                &d,
            ),
        )
        .await?;
    node.audit
        .commit_with(
            tx,
            &entry(
                caller,
                "sign",
                Some(&old.id),
                Some(new.classification),
                &sign,
            ),
        )
        .await?;
    // The disposisi's notes and reports now go under the new level's archive key (they still
    // open meanwhile: every level's archive key is tried).
    if let Err(e) =
        crate::letters::disposition::reseal_letter(node, &new.id, new.classification).await
    {
        // The reclassification stands; the next `docsvc rewrap` seals them again.
        tracing::error!(document = %new.id, "disposisi not sealed again: {e}");
    }
    Ok(Created {
        state: checked.state,
        manifest: new,
    })
}

/// Whether `caller` may sign the new version `new` of a reclassified letter: the policy's
/// signing rules (PIN, clearance for the new level) apply to it as to a new letter, and so
/// does the new level's handling table (raising to RAHASIA asks what a RAHASIA letter asks).
async fn may_sign_version(
    node: &Node,
    caller: &Caller,
    new: &Manifest,
    agencies: Vec<String>,
) -> Result<Decision> {
    let sign = node.policy.current().decide(
        &Principal::Official(caller.official.person()),
        Action::Sign,
        &policy_document(new, agencies, &node.config.node_id),
        &Context {
            step_up: caller.stepped_up,
            ..Context::default()
        },
    )?;
    if !sign.allowed {
        return Err(refuse(node, caller, "sign", new, &sign).await);
    }
    signature_allowed(node, caller, "sign", Some(&new.id), new.classification).await?;
    Ok(sign)
}

/// Whom the new version is wrapped to: the addressees cleared for its level, its archive key,
/// and the officials of other nodes it was already wrapped to.
async fn wrapping(
    node: &Node,
    id: &str,
    new: &Manifest,
) -> Result<(Vec<String>, Vec<age::x25519::Recipient>)> {
    let everyone = people(node, new).await?;
    let refs: Vec<&Official> = everyone.iter().collect();
    let (mut wrapped_to, mut recipients) = wrap_set(node, &refs, new.classification)?;
    let stored = rows::wrapped_to(&node.store, id).await?;
    let stored: Vec<String> = serde_json::from_str(&stored).unwrap_or_default();
    for (key, r) in documents::remote_keys(&stored) {
        wrapped_to.push(key);
        recipients.push(r);
    }
    Ok((wrapped_to, recipients))
}

/// Keeps the previous version and puts the new one in its place, if no one changed the letter
/// meanwhile.
async fn store_version(
    tx: &mut crate::store::Tx,
    checked: &Checked,
    new: &Manifest,
    bytes: &[u8],
    cms: &[u8],
    wrapped_to: &[String],
) -> Result<()> {
    let old = &checked.manifest;
    let version = new.reclassified.as_ref().map_or(1, |r| r.version);
    let version = i64::try_from(version).map_err(|_| Error::OutOfRange {
        what: "a letter's version",
    })?;
    rows::insert_version(
        tx,
        &rows::OldVersion {
            id: &old.id,
            version: version - 1,
            classification: old.classification.as_str(),
            manifest: &old.canonical()?,
            signature: &checked.signature,
            superseded_at: &now_rfc3339(),
        },
    )
    .await?;
    let wrapped_to = serde_json::to_string(wrapped_to)
        .map_err(|e| Error::encode("the wrapped-to key list", e))?;
    let replaced = rows::replace_version(
        tx,
        &rows::NewVersion {
            id: &old.id,
            version,
            classification: new.classification.as_str(),
            manifest: bytes,
            signature: cms,
            policy_version: &new.policy_version,
            wrapped_to: &wrapped_to,
        },
        DESTROYED,
    )
    .await?;
    if !replaced {
        return Err(Error::Conflict(format!(
            "letter {} changed meanwhile: load it again",
            old.id
        )));
    }
    Ok(())
}

/// An earlier signed version of a letter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: u64,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub superseded_at: String,
    pub manifest: Manifest,
    /// The exact signed bytes of that version's manifest (canonical JSON), base64.
    pub manifest_bytes: String,
    /// Its CMS signature (DER, base64).
    pub signature: String,
}

/// The earlier versions of a checked letter, oldest first; each must still be canonical.
pub async fn versions(node: &Node, id: &str) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    for r in rows::versions(&node.store, id).await? {
        let v = r.version;
        out.push(Version {
            version: u64::try_from(v).map_err(|e| Error::Database(e.to_string()))?,
            classification: r.classification.parse().map_err(Error::Database)?,
            superseded_at: r.superseded_at,
            manifest: Manifest::parse(&r.manifest)
                .map_err(|e| Error::Integrity(format!("letter {id}, version {v}: {e}")))?,
            manifest_bytes: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                &r.manifest,
            ),
            signature: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                r.signature,
            ),
        });
    }
    Ok(out)
}

/// What a destruction record says (berita acara pemusnahan), canonical JSON, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestructionRecord {
    pub format: String,
    pub document_id: String,
    pub nomor: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub dated: String,
    /// SHA-256 (hex) of the last signed manifest.
    pub manifest_sha256: String,
    pub retention_years: u32,
    /// When this node stored the letter, from which its retention counted (records made
    /// before retention counted from it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_from: Option<String>,
    pub retention_ended: String,
    pub destroyed_at: String,
    pub destroyed_by: String,
    pub destroyed_by_name: String,
    pub reason: String,
}

/// A request to destroy a letter whose retention has ended.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyRequest {
    pub reason: String,
}

/// A destruction record and its CMS signature.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Destruction {
    pub record: DestructionRecord,
    /// The exact signed bytes of `record` (canonical JSON), base64.
    pub record_bytes: String,
    /// CMS detached SignedData over `record_bytes` (DER, base64).
    pub signature: String,
}

/// When this node stored a letter: the time it wrote the letter it created, or received the
/// letter from another node. Never the letter's own date (`dated`), which its sender chose, nor
/// the creation time another node wrote into a letter it sent.
async fn stored_at(node: &Node, id: &str) -> Result<time::OffsetDateTime> {
    let row = rows::stored_times(&node.store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("letter {id}")))?;
    let at = row.received_at.unwrap_or(row.created_at);
    crate::parse_time(&at)
        .ok_or_else(|| Error::Integrity(format!("letter {id}: bad storage time {at:?}")))
}

/// The day a letter's retention ends: the day this node stored it plus the retention of its
/// level.
fn retention_end(stored: time::OffsetDateTime, years: u32) -> Result<time::Date> {
    let from = stored.date();
    let out_of_range = || Error::OutOfRange {
        what: "the year a retention ends",
    };
    let years = i32::try_from(years).map_err(|_| out_of_range())?;
    let year = from.year() + years;
    time::Date::from_calendar_date(year, from.month(), from.day())
        .or_else(|_| time::Date::from_calendar_date(year, from.month(), 28))
        .map_err(|_| out_of_range())
}

/// Destroys a letter after its retention: the policy decides (the persandian officer or the
/// originator), the caller signs a destruction record with the PIN, and in one transaction the
/// ciphertext and its wrapped keys are deleted, the record is stored and the log written.
pub async fn destroy(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    req: &DestroyRequest,
) -> Result<Destruction> {
    let m = &checked.manifest;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 || reason.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "a destruction needs a reason of 1-1000 characters without control characters",
        ));
    }
    let policy = node.policy.current();
    let doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    let d = policy.decide(
        &Principal::Official(caller.official.person()),
        Action::Destroy,
        &doc,
        &Context {
            step_up: caller.stepped_up,
            ..Context::default()
        },
    )?;
    if !d.allowed {
        return Err(refuse(node, caller, "destroy", m, &d).await);
    }
    if !caller.stepped_up {
        let pin = Decision {
            allowed: false,
            policies: vec!["pin-to-sign".into()],
            alasan: "ditolak: berita acara pemusnahan ditandatangani dengan PIN".into(),
            reason: "denied: the destruction record is signed with the signing PIN".into(),
            policy_version: policy.version().to_owned(),
        };
        return Err(refuse(node, caller, "destroy", m, &pin).await);
    }
    signature_allowed(node, caller, "destroy", Some(&m.id), m.classification).await?;
    let years = policy.handling().get(m.classification).retention_years;
    let stored = stored_at(node, &m.id).await?;
    let ends = retention_end(stored, years)?;
    let today = time::OffsetDateTime::now_utc().date();
    if today < ends {
        return Err(Error::Conflict(format!(
            "letter {} is kept until {ends}: {years} years for {}, counted from {} when this node \
             stored it (not from the letter's date {}); it can be destroyed from {ends}",
            m.id,
            m.classification.as_str(),
            crate::rfc3339(stored),
            m.dated,
        )));
    }
    let record = DestructionRecord {
        format: "sandi-destruction-v1".into(),
        document_id: m.id.clone(),
        nomor: m.nomor.clone(),
        classification: m.classification,
        dated: m.dated.clone(),
        manifest_sha256: sha256_hex(&m.canonical()?),
        retention_years: years,
        retention_from: Some(crate::rfc3339(stored)),
        retention_ended: ends.to_string(),
        destroyed_at: now_rfc3339(),
        destroyed_by: caller.official.nip.clone(),
        destroyed_by_name: caller.official.name.clone(),
        reason: reason.to_owned(),
    };
    let bytes =
        serde_json::to_vec(&record).map_err(|e| Error::encode("a destruction record", e))?;
    let cms = sign_as(
        node,
        &caller.official,
        Kind::Destruction,
        m.classification,
        &bytes,
    )
    .await?;
    let mut tx = node.store.begin().await?;
    if !rows::mark_destroyed(&mut tx, &m.id, DESTROYED).await? {
        return Err(Error::Conflict(format!(
            "letter {} is already destroyed",
            m.id
        )));
    }
    let files = content::delete(&mut tx, &m.id).await?;
    crate::store::dispositions::shred(&mut tx, &m.id).await?;
    rows::insert_destruction(&mut tx, &m.id, &bytes, &cms, &record.destroyed_at).await?;
    node.audit
        .commit_with(
            tx,
            &entry(caller, "destroy", Some(&m.id), Some(m.classification), &d),
        )
        .await?;
    // Its headers are gone with the commit, so the file cannot be decrypted; now it goes too.
    content::remove_files(&node.store, &files).await;
    Ok(destruction(record, &bytes, &cms))
}

fn destruction(record: DestructionRecord, bytes: &[u8], cms: &[u8]) -> Destruction {
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    Destruction {
        record,
        record_bytes: b64(bytes),
        signature: b64(cms),
    }
}

/// The destruction record of a letter, for the persandian officer, auditors and the
/// originator; checked against its signature before it is shown.
pub async fn destruction_record(node: &Node, caller: &Caller, id: &str) -> Result<Destruction> {
    let row = rows::destruction(&node.store, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("destruction record of letter {id}")))?;
    let o = &caller.official;
    if !(o.nip == row.originator || o.has_role("pengelola_sandi") || o.has_role("auditor")) {
        return Err(Error::NotFound(format!(
            "destruction record of letter {id}"
        )));
    }
    let bytes = row.record;
    let cms = row.signature;
    let record: DestructionRecord = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Integrity(format!("destruction record of {id}: {e}")))?;
    let verified = crate::crypto::signature::verify_detached(
        &cms,
        Kind::Destruction,
        crate::crypto::signature::Content::Bytes(&bytes),
        &node.trust,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| Error::Integrity(format!("destruction record of {id}: {e}")))?;
    if verified.nip.as_deref() != Some(record.destroyed_by.as_str()) {
        return Err(Error::Integrity(format!(
            "destruction record of {id}: not signed by the official it names"
        )));
    }
    Ok(destruction(record, &bytes, &cms))
}

/// The levels `caller` may reclassify letter `checked` to, with the PIN and a reason, as the
/// policy says now: what the page offers (the reclassification decides again).
pub async fn reclassify_targets(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
) -> Result<Vec<Level>> {
    let m = &checked.manifest;
    if checked.state == AWAITING || checked.state == DESTROYED {
        return Ok(vec![]);
    }
    let policy = node.policy.current();
    let principal = Principal::Official(caller.official.person());
    let doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    let mut out = Vec::new();
    for level in Level::ALL {
        let ctx = Context {
            step_up: true,
            new_classification: Some(level),
            reason: Some("-".into()),
            ..Context::default()
        };
        if level != m.classification
            && policy
                .decide(&principal, Action::Reclassify, &doc, &ctx)?
                .allowed
        {
            out.push(level);
        }
    }
    Ok(out)
}

/// Whether the policy lets `caller` destroy letter `checked` with the PIN: what the page
/// offers (the destruction decides again, and checks the retention).
pub async fn may_destroy(node: &Node, caller: &Caller, checked: &Checked) -> Result<bool> {
    let m = &checked.manifest;
    if checked.state == DESTROYED || checked.state == AWAITING {
        return Ok(false);
    }
    let doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let principal = Principal::Official(caller.official.person());
    Ok(node
        .policy
        .current()
        .decide(&principal, Action::Destroy, &doc, &ctx)?
        .allowed)
}

/// A letter past its retention, as the persandian officer's list shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PastRetention {
    pub id: String,
    pub nomor: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub agency: String,
    pub stored_at: String,
    pub retention_ended: String,
}

/// At most this many letters a level on the retention list.
const PAST_RETENTION_SHOWN: i64 = 100;

/// The letters past their level's retention that this node still holds, for the persandian
/// officer (role `pengelola_sandi`), who destroys them: numbers, levels, agencies and dates,
/// never a perihal. The list is logged before it is shown.
pub async fn past_retention(node: &Node, caller: &Caller) -> Result<Vec<PastRetention>> {
    let policy = node.policy.current();
    if !caller.official.has_role("pengelola_sandi") {
        log_alone(
            node,
            &crate::audit::Entry::event(
                caller.actor(),
                "retention_list",
                "deny",
                "the retention list is the persandian officer's".into(),
                policy.version(),
                caller.client.clone(),
            ),
        )
        .await?;
        return Err(Error::Forbidden {
            alasan: "ditolak: daftar retensi untuk pengelola sandi".into(),
            reason: "denied: the retention list is the persandian officer's".into(),
            policies: vec!["pengelola-sandi-destroys".into()],
        });
    }
    let today = time::OffsetDateTime::now_utc().date();
    let mut out = Vec::new();
    for level in Level::ALL {
        let years = policy.handling().get(level).retention_years;
        let back = i32::try_from(years).map_err(|_| Error::OutOfRange {
            what: "a retention in years",
        })?;
        // Stored before this day `years` ago: the retention ended by today.
        let cutoff = time::Date::from_calendar_date(today.year() - back, today.month(), 1)
            .map(|d| d.replace_day(today.day()).unwrap_or(d))
            .map_err(|_| Error::OutOfRange {
                what: "the day a retention starts",
            })?;
        let cutoff = format!("{cutoff}T00:00:00Z");
        for r in
            rows::stored_before(&node.store, level.as_str(), &cutoff, PAST_RETENTION_SHOWN).await?
        {
            let stored = crate::parse_time(&r.stored).ok_or_else(|| {
                Error::Integrity(format!("letter {}: bad storage time {:?}", r.id, r.stored))
            })?;
            out.push(PastRetention {
                retention_ended: retention_end(stored, years)?.to_string(),
                classification: level,
                id: r.id,
                nomor: r.nomor,
                agency: r.agency,
                stored_at: r.stored,
            });
        }
    }
    log_alone(
        node,
        &crate::audit::Entry::event(
            caller.actor(),
            "retention_list",
            "allow",
            format!("{} letters past their retention listed", out.len()),
            policy.version(),
            caller.client.clone(),
        ),
    )
    .await?;
    Ok(out)
}
