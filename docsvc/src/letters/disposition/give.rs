//! Giving a disposisi: who may give one (an addressee of the letter in their agency, or the
//! holder of a disposisi on it), to whom (officials of the same agency the policy lets read the
//! letter), signed with the giver's PIN, stored with the node's MAC and logged.

use policies::{Action, Context, Decision, Principal};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{INSTRUCTIONS, sealed};
use crate::crypto::signature::Kind;
use crate::letters::documents::{
    self, AWAITING, Checked, addressed_agencies, entry, forbidden, policy_document, sign_as,
    signature_allowed,
};
use crate::node::Node;
use crate::node::numbering::Day;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::dispositions::{self as rows, Disposition};
use crate::{Error, Result};

/// At most this many officials in one disposisi.
const MAX_TO: usize = 20;
/// The note's longest, in characters.
const MAX_NOTE: usize = 2000;

/// A disposisi to give.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDisposition {
    /// The NIPs of the officials of the giver's agency it goes to.
    pub to: Vec<String>,
    /// `diketahui`, `ditindaklanjuti`, `dijawab` or `dihadiri`.
    pub instruction: String,
    /// The due day, `YYYY-MM-DD` (WIB), today or later.
    #[serde(default)]
    pub due: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// An official of the giver's agency, and whether the policy lets a disposisi reach them.
#[derive(Clone, Debug, serde::Serialize, ToSchema)]
pub struct Candidate {
    pub nip: String,
    pub name: String,
    pub position: String,
    pub allowed: bool,
    /// Why not, in Indonesian and English (the policy's reason).
    pub alasan: Option<String>,
    pub reason: Option<String>,
}

fn check(n: &NewDisposition) -> Result<Option<String>> {
    if n.to.is_empty() || n.to.len() > MAX_TO {
        return Err(Error::invalid(
            "to",
            format!("a disposisi goes to 1-{MAX_TO} officials"),
        ));
    }
    if n.to.iter().any(|nip| {
        nip.is_empty() || nip.len() > 32 || !nip.bytes().all(|b| b.is_ascii_alphanumeric())
    }) {
        return Err(Error::invalid(
            "to",
            "each of `to` is the NIP of an official here",
        ));
    }
    if !INSTRUCTIONS.contains(&n.instruction.as_str()) {
        return Err(Error::invalid(
            "instruction",
            format!("one of {}", INSTRUCTIONS.join(", ")),
        ));
    }
    if n.note.chars().count() > MAX_NOTE
        || n.note
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(Error::invalid(
            "note",
            format!("at most {MAX_NOTE} characters, without control characters"),
        ));
    }
    let Some(due) = n.due.as_deref().map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let day = time::Date::parse(
        due,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| Error::invalid("due", "the due day must be YYYY-MM-DD"))?;
    if day < Day::today().0 {
        return Err(Error::invalid("due", "the due day has passed"));
    }
    Ok(Some(day.to_string()))
}

/// Whether the caller may give a disposisi on the letter, and under which of theirs: `Ok(None)`
/// for an addressee (the head of the chain), `Ok(Some(parent))` for a holder.
async fn standing(node: &Node, caller: &Caller, checked: &Checked) -> Result<Option<String>> {
    let m = &checked.manifest;
    let doc = policy_document(m, vec![], &node.config.node_id);
    let me = &caller.official.nip;
    if doc.recipients.contains(me) || doc.copies.contains(me) {
        return Ok(None);
    }
    if let Some(d) = super::held(node, &m.id, &caller.official)
        .await?
        .into_iter()
        .next()
    {
        return Ok(Some(d.id));
    }
    Err(not_yours())
}

fn not_yours() -> Error {
    Error::Forbidden {
        alasan: "ditolak: disposisi diberikan oleh penerima surat atau pemegang disposisinya"
            .into(),
        reason: "denied: a disposisi is given by an addressee of the letter or a holder of one"
            .into(),
        policies: vec!["disposisi".into()],
    }
}

/// Whether the caller may give a disposisi on the letter now (what its page offers).
pub async fn may_give(node: &Node, caller: &Caller, checked: &Checked) -> Result<bool> {
    if checked.state == AWAITING {
        return Ok(false);
    }
    match standing(node, caller, checked).await {
        Ok(_) => Ok(true),
        // A forged row of theirs (an incident already logged) offers nothing.
        // As a letter past the most disposisi it takes: shown, not given further.
        Err(Error::Forbidden { .. } | Error::Integrity(_) | Error::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What the policy says of `who` reading the letter were a disposisi to reach them.
async fn reach(node: &Node, checked: &Checked, who: &Official) -> Result<Decision> {
    let m = &checked.manifest;
    let mut doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    doc.grants.push(who.nip.clone());
    Ok(node.policy.current().decide(
        &Principal::Official(who.person()),
        Action::Read,
        &doc,
        // Whether they step up is asked when they open it; here, whether they may at all.
        &Context {
            step_up: true,
            ..Context::default()
        },
    )?)
}

/// The officials of the caller's agency a disposisi could go to, each with the policy's word.
pub async fn candidates(node: &Node, caller: &Caller, checked: &Checked) -> Result<Vec<Candidate>> {
    if !may_give(node, caller, checked).await? {
        return Err(not_yours());
    }
    let me = &caller.official;
    let mut out = Vec::new();
    for o in directory::list(&node.store).await? {
        if o.agency != me.agency || o.nip == me.nip || o.status != policies::Status::Active {
            continue;
        }
        let d = reach(node, checked, &o).await?;
        out.push(Candidate {
            nip: o.nip,
            name: o.name,
            position: o.position,
            allowed: d.allowed,
            alasan: (!d.allowed).then_some(d.alasan),
            reason: (!d.allowed).then_some(d.reason),
        });
    }
    Ok(out)
}

/// One disposisi to each of `to`, its note sealed once, each signed by the caller.
async fn signed(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    parent: Option<String>,
    due: Option<String>,
    n: &NewDisposition,
    to: &[Official],
) -> Result<Vec<Disposition>> {
    let m = &checked.manifest;
    let sealed_note = sealed::seal(node, m.classification, n.note.as_bytes())?;
    let at = crate::now_micros();
    let mut made = Vec::with_capacity(to.len());
    for o in to {
        let mut d = Disposition {
            id: uuid::Uuid::new_v4().to_string(),
            document_id: m.id.clone(),
            parent_id: parent.clone(),
            agency: caller.official.agency.clone(),
            from_nip: caller.official.nip.clone(),
            to_nip: o.nip.clone(),
            instruction: n.instruction.clone(),
            due: due.clone(),
            note: Some(sealed_note.cipher.clone()),
            note_sha256: sealed_note.sha256.clone(),
            key_id: sealed_note.key_id.clone(),
            at: at.clone(),
            signature: Vec::new(),
            mac: String::new(),
            read_at: None,
        };
        d.signature = sign_as(
            node,
            &caller.official,
            Kind::Disposition,
            m.classification,
            &sealed::statement(&d)?,
        )
        .await?;
        made.push(d);
    }
    Ok(made)
}

/// Logs a refused disposisi and returns the refusal.
async fn refused(node: &Node, caller: &Caller, checked: &Checked, d: Decision) -> Error {
    let m = &checked.manifest;
    let e = entry(caller, "dispose", Some(&m.id), Some(m.classification), &d);
    match crate::node::log_alone(node, &e).await {
        Ok(()) => forbidden(&d),
        Err(e) => e,
    }
}

/// [`standing`], a refusal logged.
async fn standing_logged(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
) -> Result<Option<String>> {
    match standing(node, caller, checked).await {
        Err(Error::Forbidden {
            alasan,
            reason,
            policies,
        }) => {
            let d = Decision {
                allowed: false,
                alasan,
                reason,
                policies,
                policy_version: node.policy.current().version().to_owned(),
            };
            Err(refused(node, caller, checked, d).await)
        }
        r => r,
    }
}

/// The officials of `nips`, each of the caller's agency and one the policy lets read the
/// letter; the first that is not refuses the whole disposisi (logged, with the policy's reason).
async fn reachable(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    nips: &[String],
) -> Result<Vec<Official>> {
    let mut to: Vec<Official> = Vec::new();
    for nip in nips {
        let o = directory::get(&node.store, nip)
            .await?
            .filter(|o| o.agency == caller.official.agency && o.nip != caller.official.nip)
            .ok_or_else(|| {
                Error::invalid(
                    "to",
                    format!("{nip} is not another official of your agency on this node"),
                )
            })?;
        let d = reach(node, checked, &o).await?;
        if !d.allowed {
            return Err(refused(node, caller, checked, d).await);
        }
        if !to.iter().any(|t| t.nip == o.nip) {
            to.push(o);
        }
    }
    Ok(to)
}

/// Gives a disposisi on letter `checked` to each of `n.to`: one row each, signed by the caller
/// (who must have stepped up with the PIN), in one transaction with its log entry. An official
/// the policy would not let read the letter is refused with the policy's reason, and nothing is
/// given.
pub async fn dispose(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    n: &NewDisposition,
) -> Result<Vec<String>> {
    let m = &checked.manifest;
    let due = check(n)?;
    if checked.state == AWAITING {
        return Err(Error::Conflict(format!(
            "letter {} waits for its approval",
            m.id
        )));
    }
    let parent = standing_logged(node, caller, checked).await?;
    if !caller.stepped_up {
        return Err(Error::Forbidden {
            alasan: "ditolak: disposisi ditandatangani dengan PIN".into(),
            reason: "denied: a disposisi is signed with the PIN".into(),
            policies: vec!["pin-to-sign".into()],
        });
    }
    // The giver reads what they pass on: a refusal is logged as the disposisi's.
    let read = documents::decide(node, caller, Action::Read, checked, true).await?;
    if !read.allowed {
        return Err(refused(node, caller, checked, read).await);
    }
    let to = reachable(node, caller, checked, &n.to).await?;
    signature_allowed(node, caller, "dispose", Some(&m.id), m.classification).await?;
    let made = signed(node, caller, checked, parent, due, n, &to).await?;
    let whom = to
        .iter()
        .map(|o| o.nip.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let given = Decision {
        alasan: format!("disposisi {} kepada {whom}", n.instruction),
        reason: format!("disposisi {} to {whom}", n.instruction),
        ..read
    };
    let mut tx = node.store.begin().await?;
    let given_here = rows::count_on(
        &mut tx,
        node.store.backend(),
        &m.id,
        &caller.official.agency,
    )
    .await?;
    if given_here + i64::try_from(made.len()).unwrap_or(i64::MAX) > rows::MAX_PER_LETTER {
        return Err(Error::Conflict(format!(
            "letter {} has {} disposisi, the most one letter takes",
            m.id,
            rows::MAX_PER_LETTER
        )));
    }
    for d in &made {
        rows::insert(&mut tx, &node.store, d).await?;
    }
    node.audit
        .commit_with(
            tx,
            &entry(
                caller,
                "dispose",
                Some(&m.id),
                Some(m.classification),
                &given,
            ),
        )
        .await?;
    Ok(made.into_iter().map(|d| d.id).collect())
}
