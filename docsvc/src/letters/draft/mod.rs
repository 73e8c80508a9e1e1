//! Drafts (konsep) and paraf: an official writes a draft, names the reviewers who initial it in
//! order and the official who signs it; each reviewer initials it (paraf, a signature over the
//! version's hash, with the PIN) or returns it with a correction (koreksi); a corrected draft
//! is a new version, initialled again from the first reviewer; only a draft initialled by every
//! reviewer on its current version is signed, which makes the letter. Drafts are encrypted and
//! classified like letters, seen only by their author, reviewers and signer while the policy
//! lets them read the level, and every step is logged.

mod flow;

use policies::{Action, Context, Decision, Document, Level, Principal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use self::flow::{koreksi, paraf, revise, sign, submit};
use crate::crypto::envelope::Urgency;
use crate::letters::documents::{self, entry};
use crate::letters::render::{Acara, Jenis};
use crate::letters::{mandate, sealed};
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::drafts::{self as rows, Draft, Review};
use crate::{Error, Result};

/// At most this many reviewers on one draft.
const MAX_REVIEWERS: usize = 10;
/// A draft's body, at most, in characters: its forms fit the node's 64 KiB request cap.
pub const MAX_ISI: usize = 20_000;
/// At most this many versions of one draft.
pub(crate) const MAX_VERSIONS: i64 = 50;

/// A new draft.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDraft {
    pub perihal: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub urgency: Urgency,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub copies: Vec<String>,
    /// The archive classification code the register's number starts with.
    #[serde(default)]
    pub kode: Option<String>,
    /// The body (isi surat), rendered into the letter's PDF when it is signed.
    pub isi: String,
    #[serde(default)]
    pub tempat: Option<String>,
    #[serde(default)]
    pub lampiran: Option<String>,
    /// Which naskah dinas it becomes (surat dinas when absent).
    #[serde(default)]
    pub jenis: Jenis,
    /// A surat undangan's event.
    #[serde(default)]
    pub acara: Option<Acara>,
    /// The NIPs of the officials who initial it, in order (none: it goes straight to the signer).
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// The NIP of the official who signs it.
    pub signer: String,
}

/// What a draft's row keeps beside its body (JSON in `meta`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Meta {
    pub recipients: Vec<String>,
    pub copies: Vec<String>,
    pub kode: Option<String>,
    pub tempat: Option<String>,
    pub lampiran: Option<String>,
    #[serde(default)]
    pub jenis: Jenis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acara: Option<Acara>,
}

/// A draft as its author, reviewers and signer see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DraftView {
    pub id: String,
    pub author: String,
    pub signer: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub urgency: String,
    pub perihal: String,
    pub recipients: Vec<String>,
    pub copies: Vec<String>,
    pub kode: Option<String>,
    pub tempat: Option<String>,
    pub lampiran: Option<String>,
    pub jenis: Jenis,
    pub acara: Option<Acara>,
    pub reviewers: Vec<String>,
    pub version: i64,
    /// `konsep`, `review`, `returned`, `ready` or `signed`.
    pub state: String,
    /// Whose turn it is (a reviewer's paraf, or the signer's signature).
    pub next: Option<String>,
    pub letter_id: Option<String>,
    /// The current version's body.
    pub isi: String,
    pub reviews: Vec<ReviewView>,
    /// `an`, `plt` or `plh` when the viewer may sign it on its signer's behalf, under a
    /// mandate of theirs that runs today.
    pub signs_for: Option<String>,
}

/// A paraf or a koreksi.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub nip: String,
    pub version: i64,
    /// `paraf` or `koreksi`.
    pub action: String,
    pub comment: String,
    pub at: String,
}

/// A draft in its list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DraftLine {
    pub id: String,
    pub perihal: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub state: String,
    pub version: i64,
    pub author: String,
    pub signer: String,
    pub next: Option<String>,
    pub updated_at: String,
}

pub(crate) fn level(d: &Draft) -> Result<Level> {
    d.classification
        .parse()
        .map_err(|e: String| Error::Integrity(format!("draft {}: {e}", d.id)))
}

pub(crate) fn reviewers(d: &Draft) -> Result<Vec<String>> {
    serde_json::from_str(&d.reviewers)
        .map_err(|e| Error::Integrity(format!("draft {}: reviewers: {e}", d.id)))
}

pub(crate) fn meta(d: &Draft) -> Result<Meta> {
    serde_json::from_str(&d.meta).map_err(|e| Error::Integrity(format!("draft {}: {e}", d.id)))
}

/// The policy's view of a draft: its author writes it, its reviewers and signer are granted it.
fn document(d: &Draft, level: Level, people: &[String]) -> Document {
    Document {
        id: d.id.clone(),
        classification: level,
        originator: d.author.clone(),
        recipients: vec![],
        copies: vec![],
        grants: people.to_vec(),
        agency: d.agency.clone(),
        agencies: vec![d.agency.clone()],
        compartments: vec![],
    }
}

/// What the policy says of `who` reading draft `d` (with the PIN given, or not).
fn may_read(node: &Node, d: &Draft, who: &Official, step_up: bool) -> Result<Decision> {
    let mut people = reviewers(d)?;
    people.push(d.signer.clone());
    Ok(node.policy.current().decide(
        &Principal::Official(who.person()),
        Action::Read,
        &document(d, level(d)?, &people),
        &Context {
            step_up,
            ..Context::default()
        },
    )?)
}

/// Draft `id` for `caller`: its MAC holds, they are its author, a reviewer or its signer in
/// its agency, and the policy lets them read its level. Anything else is not found (logged
/// where the policy refused).
pub(crate) async fn load(node: &Node, caller: &Caller, id: &str) -> Result<Draft> {
    let missing = || Error::NotFound(format!("draft {id}"));
    let d = rows::get(&node.store, id).await?.ok_or_else(missing)?;
    if !rows::draft_holds(&node.store, &d)? {
        return Err(node
            .store
            .integrity()
            .incident(
                &format!("draft:{id}"),
                &format!("draft {id} does not carry the node's MAC"),
            )
            .await);
    }
    let me = &caller.official;
    if !involved(node, &d, me).await? || d.agency != me.agency {
        return Err(missing());
    }
    // The level's handling asks for the PIN to open, as a letter's does.
    let read = may_read(node, &d, me, caller.stepped_up)?;
    if !read.allowed {
        let e = entry(caller, "draft_read", Some(id), Some(level(&d)?), &read);
        crate::node::log_alone(node, &e).await?;
        return Err(documents::forbidden(&read));
    }
    Ok(d)
}

/// Whether `me` is the author, a reviewer or the signer of `d`; or signs for its signer under
/// a mandate that runs today, while it is ready to sign (or being signed): a mandate opens
/// what waits for the head's signature, not the head's past drafts.
async fn involved(node: &Node, d: &Draft, me: &Official) -> Result<bool> {
    if d.author == me.nip || d.signer == me.nip || reviewers(d)?.contains(&me.nip) {
        return Ok(true);
    }
    Ok(["ready", "signing"].contains(&d.state.as_str())
        && mandate::running(node, me, &d.signer, level(d)?)
            .await?
            .is_some())
}

/// The reviews of `d`, each with the node's MAC.
pub(crate) async fn checked_reviews(node: &Node, d: &Draft) -> Result<Vec<Review>> {
    let all = rows::reviews(&node.store, &d.id).await?;
    for r in &all {
        if !rows::review_holds(&node.store, r)? || r.draft_id != d.id {
            return Err(node
                .store
                .integrity()
                .incident(
                    &format!("draft:{}", d.id),
                    &format!("a review of draft {} does not carry the node's MAC", d.id),
                )
                .await);
        }
    }
    Ok(all)
}

/// Whose turn it is on `d`: the first reviewer without a paraf on its current version, then
/// the signer once it is ready.
pub(crate) fn next(d: &Draft, reviews: &[Review]) -> Result<Option<String>> {
    Ok(match d.state.as_str() {
        "review" => reviewers(d)?.into_iter().find(|nip| {
            !reviews
                .iter()
                .any(|r| r.version == d.version && r.action == "paraf" && &r.nip == nip)
        }),
        "ready" => Some(d.signer.clone()),
        _ => None,
    })
}

/// A decision that lets `caller` do `action` with draft `d`, for the log.
pub(crate) fn allowed(node: &Node, alasan: String, reason: String) -> Decision {
    Decision {
        allowed: true,
        policies: vec![],
        alasan,
        reason,
        policy_version: node.policy.current().version().to_owned(),
    }
}

/// Logs a refusal of `caller` doing `action` with draft `id` (a `Forbidden` error), as the
/// policy's refusals are; other errors pass as they are.
pub(crate) async fn logged(
    node: &Node,
    caller: &Caller,
    action: &str,
    id: &str,
    e: Error,
) -> Error {
    refusal_logged(node, caller, action, (Some(id), None), e).await
}

/// Logs a refusal (a `Forbidden` error) of `caller` doing `action`, about a row and at a level
/// where there are ones, as the policy's refusals are; other errors pass as they are.
pub(crate) async fn refusal_logged(
    node: &Node,
    caller: &Caller,
    action: &str,
    (about, level): (Option<&str>, Option<Level>),
    e: Error,
) -> Error {
    if let Error::Forbidden {
        alasan,
        reason,
        policies,
    } = &e
    {
        let d = Decision {
            allowed: false,
            policies: policies.clone(),
            alasan: alasan.clone(),
            reason: reason.clone(),
            policy_version: node.policy.current().version().to_owned(),
        };
        if let Err(le) =
            crate::node::log_alone(node, &entry(caller, action, about, level, &d)).await
        {
            return le;
        }
    }
    e
}

fn check_fields(n: &NewDraft) -> Result<()> {
    documents::text_field("perihal", &n.perihal, 500)?;
    if n.isi.chars().count() > MAX_ISI {
        return Err(Error::invalid(
            "isi",
            format!("a draft's body is at most {MAX_ISI} characters"),
        ));
    }
    crate::letters::render::Naskah {
        isi: n.isi.clone(),
        tempat: n.tempat.clone(),
        lampiran: n.lampiran.clone(),
        jenis: n.jenis,
        acara: n.acara.clone(),
    }
    .check()?;
    let bad = |a: &String| a.is_empty() || a.len() > 100 || a.chars().any(char::is_control);
    if n.recipients.is_empty()
        || n.recipients.len() + n.copies.len() > 500
        || n.recipients.iter().chain(&n.copies).any(bad)
    {
        return Err(Error::invalid(
            "recipients",
            "1-500 addressees, each a NIP or NIP@node",
        ));
    }
    if let Some(k) = n.kode.as_deref().filter(|k| !k.trim().is_empty()) {
        crate::node::numbering::check_kode(k.trim()).map_err(|e| Error::invalid("kode", e))?;
    }
    let nip_ok =
        |s: &String| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !n.reviewers.iter().all(nip_ok) || !nip_ok(&n.signer) {
        return Err(Error::invalid(
            "reviewers",
            "reviewers and signer are officials' NIPs",
        ));
    }
    Ok(())
}

fn check_people(node: &Node, author: &Official, n: &NewDraft) -> Result<()> {
    if n.reviewers.len() > MAX_REVIEWERS {
        return Err(Error::invalid(
            "reviewers",
            format!("at most {MAX_REVIEWERS} reviewers"),
        ));
    }
    let mut all: Vec<&String> = n.reviewers.iter().collect();
    all.push(&n.signer);
    all.push(&author.nip);
    let count = all.len();
    all.sort();
    all.dedup();
    if all.len() != count {
        return Err(Error::invalid(
            "reviewers",
            "the author, each reviewer and the signer are different officials",
        ));
    }
    if !documents::creatable(node, author)?.contains(&n.classification) {
        return Err(Error::Forbidden {
            alasan: "ditolak: Anda tidak boleh membuat naskah setingkat ini".into(),
            reason: "denied: you may not write a draft at this level".into(),
            policies: vec!["no-read-up".into()],
        });
    }
    Ok(())
}

/// Writes a new draft (version 1, state `konsep`), after checking that each reviewer and the
/// signer is an active official of the author's agency whom the policy lets read the level,
/// and that the signer may sign it.
pub async fn create(node: &Node, caller: &Caller, n: &NewDraft) -> Result<String> {
    let me = &caller.official;
    check_fields(n)?;
    check_people(node, me, n)?;
    let now = crate::now_micros();
    let id = uuid::Uuid::new_v4().to_string();
    let d = Draft {
        id: id.clone(),
        agency: me.agency.clone(),
        author: me.nip.clone(),
        signer: n.signer.clone(),
        classification: n.classification.as_str().into(),
        urgency: n.urgency.as_str().into(),
        perihal: n.perihal.trim().into(),
        meta: serde_json::to_string(&Meta {
            recipients: n.recipients.clone(),
            copies: n.copies.clone(),
            kode: n.kode.clone(),
            tempat: n.tempat.clone(),
            lampiran: n.lampiran.clone(),
            jenis: n.jenis,
            acara: n.acara.clone(),
        })
        .map_err(|e| Error::encode("a draft", e))?,
        reviewers: serde_json::to_string(&n.reviewers).map_err(|e| Error::encode("a draft", e))?,
        version: 1,
        state: "konsep".into(),
        letter_id: None,
        created_at: now.clone(),
        updated_at: now,
        mac: String::new(),
    };
    let mut people = n.reviewers.clone();
    people.push(n.signer.clone());
    for nip in &people {
        let o = directory::get(&node.store, nip)
            .await?
            .filter(|o| o.agency == me.agency && o.status == policies::Status::Active)
            .ok_or_else(|| {
                Error::invalid(
                    "reviewers",
                    format!("{nip} is no active official of your agency"),
                )
            })?;
        // Whether they may read it at all: the PIN is asked when they open it.
        let read = may_read(node, &d, &o, true)?;
        if !read.allowed {
            let e = documents::forbidden(&read);
            return Err(logged(node, caller, "draft_create", &id, e).await);
        }
    }
    let signer = directory::get(&node.store, &n.signer).await?;
    if !signer.is_some_and(|s| {
        documents::creatable(node, &s).is_ok_and(|l| l.contains(&n.classification))
    }) {
        return Err(Error::invalid(
            "signer",
            "the signer may not sign a letter at this level",
        ));
    }
    let mut tx = node.store.begin().await?;
    rows::insert(&mut tx, &node.store, &d).await?;
    flow::add_version(node, &mut tx, &d, &n.isi).await?;
    let logged = allowed(node, "konsep dibuat".into(), "draft written".into());
    node.audit
        .commit_with(
            tx,
            &entry(
                caller,
                "draft_create",
                Some(&id),
                Some(n.classification),
                &logged,
            ),
        )
        .await?;
    Ok(id)
}

/// Draft `id` as `caller` sees it, its current body decrypted.
pub async fn view(node: &Node, caller: &Caller, id: &str) -> Result<DraftView> {
    let d = load(node, caller, id).await?;
    let reviews = checked_reviews(node, &d).await?;
    // Once signed, the words are the letter's: the draft keeps only its history.
    let isi = if d.state == "signed" {
        String::new()
    } else {
        flow::body(node, &d).await?.to_string()
    };
    let m = meta(&d)?;
    let signs_for = if d.state == "ready" && d.signer != caller.official.nip {
        mandate::running(node, &caller.official, &d.signer, level(&d)?)
            .await?
            .map(|m| m.kind)
    } else {
        None
    };
    let mut shown = Vec::with_capacity(reviews.len());
    for r in &reviews {
        let comment = sealed::open(node, r.comment.clone(), &r.comment_sha256).await?;
        shown.push(ReviewView {
            nip: r.nip.clone(),
            version: r.version,
            action: r.action.clone(),
            comment: String::from_utf8_lossy(&comment).into_owned(),
            at: r.at.clone(),
        });
    }
    Ok(DraftView {
        next: next(&d, &reviews)?,
        classification: level(&d)?,
        reviewers: reviewers(&d)?,
        id: d.id,
        author: d.author,
        signer: d.signer,
        urgency: d.urgency,
        perihal: d.perihal,
        recipients: m.recipients,
        copies: m.copies,
        kode: m.kode,
        tempat: m.tempat,
        lampiran: m.lampiran,
        jenis: m.jenis,
        acara: m.acara,
        version: d.version,
        state: d.state,
        letter_id: d.letter_id,
        isi,
        reviews: shown,
        signs_for,
    })
}

/// The drafts `caller` wrote, reviews or signs, newest first; rows without the node's MAC or
/// above their clearance are left out (a forged row is an incident when opened).
pub async fn list(node: &Node, caller: &Caller) -> Result<Vec<DraftLine>> {
    let me = &caller.official;
    let mut out = Vec::new();
    let mut all = rows::of_official(&node.store, &me.nip, &me.agency).await?;
    // The heads' drafts ready to sign, for whom a mandate lets `me` sign.
    for (head, _) in mandate::heads(node, me).await? {
        all.extend(rows::to_sign(&node.store, &head, &me.agency).await?);
    }
    all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
    all.dedup_by(|a, b| a.id == b.id);
    for d in all {
        // The MAC first: nothing of a forged row is read (it is an incident when opened).
        if !rows::draft_holds(&node.store, &d)? {
            continue;
        }
        if !involved(node, &d, me).await? || !may_read(node, &d, me, true)?.allowed {
            continue;
        }
        let Ok(reviews) = checked_reviews(node, &d).await else {
            continue;
        };
        out.push(DraftLine {
            next: next(&d, &reviews)?,
            classification: level(&d)?,
            id: d.id,
            perihal: d.perihal,
            state: d.state,
            version: d.version,
            author: d.author,
            signer: d.signer,
            updated_at: d.updated_at,
        });
    }
    Ok(out)
}

/// How many drafts wait for `official`: their paraf is next, or their signature.
pub async fn waiting(node: &Node, official: &Official) -> Result<i64> {
    let mut n = 0;
    let mut all = rows::waiting_candidates(&node.store, &official.nip).await?;
    for (head, max) in mandate::heads(node, official).await? {
        let ready = rows::to_sign(&node.store, &head, &official.agency).await?;
        all.extend(
            ready
                .into_iter()
                .filter(|d| d.state == "ready" && level(d).is_ok_and(|l| l <= max)),
        );
    }
    for d in all {
        if d.agency != official.agency
            || !rows::draft_holds(&node.store, &d)?
            || !may_read(node, &d, official, true)?.allowed
        {
            continue;
        }
        let mut reviews = rows::reviews(&node.store, &d.id).await?;
        reviews.retain(|r| rows::review_holds(&node.store, r).unwrap_or(false));
        let turn = next(&d, &reviews)?;
        if turn.as_deref() == Some(official.nip.as_str())
            || (turn.as_deref() == Some(d.signer.as_str()) && d.signer != official.nip)
        {
            n += 1;
        }
    }
    Ok(n)
}
