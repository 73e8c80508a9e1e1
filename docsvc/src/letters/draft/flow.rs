//! A draft's way to signature: revised by its author, submitted, initialled (paraf) or returned
//! (koreksi) by each reviewer in turn, signed by its signer into a letter.

use serde::Serialize;
use zeroize::Zeroizing;

use super::{allowed, checked_reviews, level, load, meta, next, reviewers};
use crate::crypto::signature::Kind;
use crate::letters::documents::{self, Created, Ingest, NewLetter, entry, sign_as};
use crate::letters::render::Naskah;
use crate::letters::sealed;
use crate::node::Node;
use crate::officials::Caller;
use crate::store::Tx;
use crate::store::drafts::{self as rows, Draft, Review, Version};
use crate::{Error, Result};

/// The longest koreksi, in characters.
const MAX_COMMENT: usize = 4000;

/// Seals `isi` as `d`'s version `d.version`, inside `tx`.
pub(super) async fn add_version(node: &Node, tx: &mut Tx, d: &Draft, isi: &str) -> Result<()> {
    let s = sealed::seal(node, level(d)?, isi.as_bytes())?;
    let v = Version {
        draft_id: d.id.clone(),
        version: d.version,
        body: s.cipher,
        body_sha256: s.sha256,
        key_id: s.key_id,
        at: crate::now_micros(),
        mac: String::new(),
    };
    rows::insert_version(tx, &node.store, &v).await
}

/// The current version of `d` as stored, its MAC checked.
async fn current(node: &Node, d: &Draft) -> Result<Version> {
    let v = rows::version(&node.store, &d.id, d.version)
        .await?
        .ok_or_else(|| {
            Error::Integrity(format!("draft {}: version {} missing", d.id, d.version))
        })?;
    if !rows::version_holds(&node.store, &v)? {
        return Err(node
            .store
            .integrity()
            .incident(
                &format!("draft:{}", d.id),
                &format!(
                    "version {} of draft {} does not carry the node's MAC",
                    v.version, d.id
                ),
            )
            .await);
    }
    Ok(v)
}

/// The current body of `d`, decrypted.
pub(super) async fn body(node: &Node, d: &Draft) -> Result<Zeroizing<String>> {
    let v = current(node, d).await?;
    let plain = sealed::open(node, v.body, &v.body_sha256).await?;
    Ok(Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()))
}

fn not_now(d: &Draft, what: &str) -> Error {
    Error::Conflict(format!(
        "draft {} is {}: it cannot be {what} now",
        d.id, d.state
    ))
}

fn refused(alasan: &str, reason: &str) -> Error {
    Error::Forbidden {
        alasan: alasan.into(),
        reason: reason.into(),
        policies: vec!["konsep".into()],
    }
}

/// What else a step writes beside the draft's row.
enum Extra<'a> {
    Version(&'a str),
    Review(&'a Review),
    Shred,
    Nothing,
}

/// Moves `was` to `now` with its log entry in one transaction (and a new version's body).
async fn commit(
    node: &Node,
    caller: &Caller,
    was: &Draft,
    now: &mut Draft,
    extra: Extra<'_>,
    action: &str,
    words: (String, String),
) -> Result<()> {
    let mut tx = node.store.begin().await?;
    if !rows::update(&mut tx, &node.store, was, now).await? {
        return Err(Error::Conflict(format!(
            "draft {} changed meanwhile",
            was.id
        )));
    }
    match extra {
        Extra::Version(isi) => add_version(node, &mut tx, now, isi).await?,
        Extra::Review(r) => rows::insert_review(&mut tx, &node.store, r).await?,
        // Signed: the words are the letter's now.
        Extra::Shred => rows::shred_versions(&mut tx, &now.id).await?,
        Extra::Nothing => {}
    }
    let d = allowed(node, words.0, words.1);
    node.audit
        .commit_with(
            tx,
            &entry(caller, action, Some(&now.id), Some(level(now)?), &d),
        )
        .await?;
    Ok(())
}

/// The author's new version of a draft being written or returned: a new body (and subject);
/// the paraf of earlier versions do not carry over.
pub async fn revise(
    node: &Node,
    caller: &Caller,
    id: &str,
    perihal: Option<&str>,
    isi: &str,
) -> Result<i64> {
    let d = load(node, caller, id).await?;
    if d.author != caller.official.nip {
        let e = refused(
            "ditolak: hanya penyusun yang mengubah konsep",
            "denied: only its author revises a draft",
        );
        return Err(super::logged(node, caller, "draft_revise", id, e).await);
    }
    if d.state != "konsep" && d.state != "returned" {
        return Err(not_now(&d, "revised"));
    }
    if isi.chars().count() > super::MAX_ISI {
        return Err(Error::invalid(
            "isi",
            format!("a draft's body is at most {} characters", super::MAX_ISI),
        ));
    }
    if rows::version_count(&node.store, id).await? >= super::MAX_VERSIONS {
        return Err(Error::Conflict(format!(
            "draft {id} has {} versions, the most one takes: write a new draft",
            super::MAX_VERSIONS
        )));
    }
    let m = meta(&d)?;
    Naskah {
        isi: isi.to_owned(),
        tempat: m.tempat,
        lampiran: m.lampiran,
        jenis: m.jenis,
        acara: m.acara,
    }
    .check()?;
    let mut now = d.clone();
    if let Some(p) = perihal {
        documents::text_field("perihal", p, 500)?;
        now.perihal = p.trim().into();
    }
    now.version += 1;
    now.state = "konsep".into();
    now.updated_at = crate::now_micros();
    let words = (
        format!("konsep versi {}", now.version),
        format!("draft version {}", now.version),
    );
    commit(
        node,
        caller,
        &d,
        &mut now,
        Extra::Version(isi),
        "draft_revise",
        words,
    )
    .await?;
    Ok(now.version)
}

/// The author sends the draft to its first reviewer (or, with none, to its signer).
pub async fn submit(node: &Node, caller: &Caller, id: &str) -> Result<()> {
    let d = load(node, caller, id).await?;
    if d.author != caller.official.nip {
        let e = refused(
            "ditolak: hanya penyusun yang mengajukan konsep",
            "denied: only its author submits a draft",
        );
        return Err(super::logged(node, caller, "draft_submit", id, e).await);
    }
    if d.state != "konsep" {
        return Err(not_now(&d, "submitted"));
    }
    let mut now = d.clone();
    now.state = if reviewers(&d)?.is_empty() {
        "ready"
    } else {
        "review"
    }
    .into();
    now.updated_at = crate::now_micros();
    let words = ("konsep diajukan".into(), "draft submitted".into());
    commit(
        node,
        caller,
        &d,
        &mut now,
        Extra::Nothing,
        "draft_submit",
        words,
    )
    .await
}

/// The draft `id` with its reviews, when it is `caller`'s turn to review it.
async fn my_turn(node: &Node, caller: &Caller, id: &str) -> Result<(Draft, Vec<Review>)> {
    let d = load(node, caller, id).await?;
    if d.state != "review" {
        return Err(not_now(&d, "reviewed"));
    }
    let reviews = checked_reviews(node, &d).await?;
    if next(&d, &reviews)?.as_deref() != Some(caller.official.nip.as_str()) {
        let e = refused(
            "ditolak: paraf diberikan berurutan; belum giliran Anda",
            "denied: reviewers initial in order; it is not your turn",
        );
        return Err(super::logged(node, caller, "paraf", id, e).await);
    }
    Ok((d, reviews))
}

#[derive(Serialize)]
struct ParafStatement<'a> {
    r#type: &'static str,
    id: &'a str,
    draft: &'a str,
    version: i64,
    body_sha256: &'a str,
    perihal: &'a str,
    classification: &'a str,
    urgency: &'a str,
    meta: &'a str,
    author: &'a str,
    reviewers: &'a str,
    signer: &'a str,
    nip: &'a str,
    at: &'a str,
}

/// A new review of `d`'s current version by `caller`, its comment sealed as `s`.
fn review(d: &Draft, caller: &Caller, action: &str, s: sealed::Sealed) -> Review {
    Review {
        id: uuid::Uuid::new_v4().to_string(),
        draft_id: d.id.clone(),
        version: d.version,
        nip: caller.official.nip.clone(),
        action: action.into(),
        comment: s.cipher,
        comment_sha256: s.sha256,
        key_id: s.key_id,
        at: crate::now_micros(),
        signature: None,
        mac: String::new(),
    }
}

/// The reviewer's paraf on the current version: their signature (with the PIN) over its hash
/// and everything it will become; the last one makes the draft ready to sign.
pub async fn paraf(node: &Node, caller: &Caller, id: &str) -> Result<()> {
    let (d, reviews) = my_turn(node, caller, id).await?;
    if !caller.stepped_up {
        return Err(refused(
            "ditolak: paraf ditandatangani dengan PIN",
            "denied: a paraf is signed with the PIN",
        ));
    }
    let lvl = level(&d)?;
    documents::signature_allowed(node, caller, "paraf", Some(id), lvl).await?;
    let v = current(node, &d).await?;
    let mut r = review(&d, caller, "paraf", sealed::seal(node, lvl, b"")?);
    let statement = serde_json::to_vec(&ParafStatement {
        r#type: "paraf",
        id: &r.id,
        draft: &d.id,
        version: d.version,
        body_sha256: &v.body_sha256,
        perihal: &d.perihal,
        classification: &d.classification,
        urgency: &d.urgency,
        meta: &d.meta,
        author: &d.author,
        reviewers: &d.reviewers,
        signer: &d.signer,
        nip: &r.nip,
        at: &r.at,
    })
    .map_err(|e| Error::encode("a paraf", e))?;
    r.signature = Some(sign_as(node, &caller.official, Kind::Disposition, lvl, &statement).await?);
    let mut now = d.clone();
    let left = reviewers(&d)?
        .iter()
        .filter(|nip| {
            **nip != r.nip
                && !reviews
                    .iter()
                    .any(|x| x.version == d.version && x.action == "paraf" && &x.nip == *nip)
        })
        .count();
    if left == 0 {
        now.state = "ready".into();
    }
    now.updated_at = r.at.clone();
    let words = (
        format!("paraf versi {}", d.version),
        format!("paraf on version {}", d.version),
    );
    commit(
        node,
        caller,
        &d,
        &mut now,
        Extra::Review(&r),
        "paraf",
        words,
    )
    .await
}

/// The reviewer returns the draft to its author with a correction (koreksi).
pub async fn koreksi(node: &Node, caller: &Caller, id: &str, comment: &str) -> Result<()> {
    if comment.trim().is_empty()
        || comment.chars().count() > MAX_COMMENT
        || comment
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(Error::invalid(
            "comment",
            format!("a koreksi says what to change: 1-{MAX_COMMENT} characters"),
        ));
    }
    let (d, _) = my_turn(node, caller, id).await?;
    let r = review(
        &d,
        caller,
        "koreksi",
        sealed::seal(node, level(&d)?, comment.as_bytes())?,
    );
    let mut now = d.clone();
    now.state = "returned".into();
    now.updated_at = r.at.clone();
    let words = (
        format!("koreksi versi {}", d.version),
        format!("returned with a correction, version {}", d.version),
    );
    commit(
        node,
        caller,
        &d,
        &mut now,
        Extra::Review(&r),
        "koreksi",
        words,
    )
    .await
}

/// The signer signs a draft every reviewer initialled on its current version: the letter is
/// made from it (numbered, rendered, signed and sent as any letter), and the draft records it.
/// The letter's id is written on the draft first (state `signing`), so that a retry after a
/// failure or a crash finds the letter made, or makes it under that id, never a second one.
pub async fn sign(node: &Node, caller: &Caller, id: &str) -> Result<Created> {
    let d = load(node, caller, id).await?;
    // The named signer, or an official who signs on their behalf under a mandate of theirs.
    let for_head = d.signer != caller.official.nip;
    let may = !for_head
        || crate::letters::mandate::running(node, &caller.official, &d.signer, level(&d)?)
            .await?
            .is_some();
    if !may || !caller.stepped_up {
        let e = refused(
            "ditolak: konsep ditandatangani oleh penanda tangan yang ditunjuk atau atas namanya \
             dengan mandat, dengan PIN",
            "denied: a draft is signed by its named signer or on their behalf under a mandate, \
             with the PIN",
        );
        return Err(super::logged(node, caller, "draft_sign", id, e).await);
    }
    let reviews = checked_reviews(node, &d).await?;
    // The paraf themselves, not the state, say whether it is ready.
    let initialled = reviewers(&d)?.iter().all(|nip| {
        reviews
            .iter()
            .any(|r| r.version == d.version && r.action == "paraf" && &r.nip == nip)
    });
    let retry = d.state == "signing" && d.letter_id.is_some();
    if !(d.state == "ready" || retry) || !initialled {
        return Err(not_now(&d, "signed"));
    }
    let mut signing = d.clone();
    if !retry {
        signing.state = "signing".into();
        signing.letter_id = Some(uuid::Uuid::new_v4().to_string());
        signing.updated_at = crate::now_micros();
        let words = ("konsep ditandatangani".into(), "draft being signed".into());
        commit(
            node,
            caller,
            &d,
            &mut signing,
            Extra::Nothing,
            "draft_sign",
            words,
        )
        .await?;
    }
    let letter_id = signing.letter_id.clone().unwrap_or_default();
    let created = match documents::load_checked(node, &letter_id).await {
        // Made before a failure: recorded now, not made again.
        Ok(c) => Created {
            state: c.state,
            manifest: c.manifest,
        },
        Err(Error::NotFound(_)) => {
            let m = meta(&d)?;
            let letter = NewLetter {
                nomor: String::new(),
                kode: m.kode.clone(),
                perihal: d.perihal.clone(),
                classification: level(&d)?,
                urgency: serde_json::from_value(serde_json::Value::String(d.urgency.clone()))
                    .map_err(|e| Error::Integrity(format!("draft {id}: {e}")))?,
                recipients: m.recipients.clone(),
                copies: m.copies.clone(),
                dated: None,
                refers: None,
                on_behalf: for_head.then(|| d.signer.clone()),
            };
            let naskah = Naskah {
                isi: body(node, &d).await?.to_string(),
                tempat: m.tempat,
                lampiran: m.lampiran,
                jenis: m.jenis,
                acara: m.acara,
            };
            make_letter(node, caller, letter, &naskah, letter_id).await?
        }
        Err(e) => return Err(e),
    };
    let mut now = signing.clone();
    now.state = "signed".into();
    now.updated_at = crate::now_micros();
    let words = (
        format!("ditandatangani sebagai surat {}", created.manifest.nomor),
        format!("signed as letter {}", created.manifest.nomor),
    );
    commit(
        node,
        caller,
        &signing,
        &mut now,
        Extra::Shred,
        "draft_sign",
        words,
    )
    .await?;
    Ok(created)
}

/// The letter made from a draft's words, as the compose page's would be.
async fn make_letter(
    node: &Node,
    caller: &Caller,
    letter: NewLetter,
    naskah: &Naskah,
    id: String,
) -> Result<Created> {
    let mut ingest = Ingest::begin_as(node, caller.clone(), letter, id).await?;
    if let Err(e) = ingest.add_rendered(naskah).await {
        ingest.abort().await;
        return Err(e);
    }
    ingest.finish().await
}
