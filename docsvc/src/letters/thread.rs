//! Replies and forwards: a new letter names, in its signed manifest, the letter it answers or
//! passes on; each shows the other. Naming a letter needs the right to read it, and a thread
//! shows each reader only the letters the policy lets them read (a forward gives its recipients
//! no access to the letter it passes on).

use policies::{Action, Level};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::envelope::Reference;
use crate::letters::documents::{self, Checked};
use crate::node::Node;
use crate::officials::Caller;
use crate::store::documents as rows;
use crate::{Error, Result};

/// At most this many answers are shown on a letter.
const MAX_ANSWERS: i64 = 20;

/// The letter a new one answers or passes on, as its writer names it.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReference {
    /// `reply` or `forward`.
    pub kind: String,
    /// The letter's id.
    pub id: String,
}

/// A letter of a thread, as one reader sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Linked {
    pub id: String,
    /// `reply` or `forward`: how the later letter of the two refers to the earlier.
    pub kind: String,
    pub nomor: String,
    /// Absent where the reader may not open it.
    pub perihal: Option<String>,
    pub originator_name: Option<String>,
    pub dated: Option<String>,
    /// Whether the reader may open it.
    pub readable: bool,
}

/// A letter's place in its thread.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Thread {
    /// The letter it answers or passes on.
    pub refers: Option<Linked>,
    /// The letters that answer it or pass it on, which the reader may open, oldest first.
    pub answers: Vec<Linked>,
}

/// The reference a new letter by `caller` carries: a letter the caller may read, named by its
/// id and nomor. Anything else is one refusal, so that it tells nothing of letters they cannot
/// read.
pub async fn reference(
    node: &Node,
    caller: &Caller,
    given: Option<&NewReference>,
) -> Result<Option<Reference>> {
    let Some(given) = given else {
        return Ok(None);
    };
    if given.kind != "reply" && given.kind != "forward" {
        return Err(Error::invalid("refers", "refers.kind is reply or forward"));
    }
    let unknown = || Error::invalid("refers", "no letter you may read has this id");
    if given.id.is_empty() || given.id.len() > 64 {
        return Err(unknown());
    }
    let checked = match documents::load_checked(node, &given.id).await {
        Ok(c) => c,
        Err(Error::NotFound(_) | Error::Gone(_) | Error::Integrity(_)) => {
            return Err(unknown());
        }
        Err(e) => return Err(e),
    };
    // Only a letter that went out: one held for approval is not named anywhere yet.
    let out = checked.state == documents::SENT || checked.state == "received";
    if !out || !readable(node, caller, &checked).await? {
        return Err(unknown());
    }
    Ok(Some(Reference {
        kind: given.kind.clone(),
        id: given.id.clone(),
        nomor: checked.manifest.nomor.clone(),
    }))
}

async fn readable(node: &Node, caller: &Caller, checked: &Checked) -> Result<bool> {
    // Whether it may be read at all: the PIN step-up is asked when it is opened.
    match documents::decide(node, caller, Action::Read, checked, true).await {
        Ok(d) => Ok(d.allowed),
        // Held for approval and not theirs to see.
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn linked(checked: &Checked, kind: &str, readable: bool) -> Linked {
    let m = &checked.manifest;
    Linked {
        id: m.id.clone(),
        kind: kind.into(),
        nomor: m.nomor.clone(),
        perihal: readable.then(|| m.perihal.clone()),
        originator_name: readable.then(|| m.originator_name.clone()),
        dated: readable.then(|| m.dated.clone()),
        readable,
    }
}

/// The thread of a letter `caller` opened: the letter it names (shown by its nomor alone where
/// they may not read it or it is not on this node) and the answers they may read.
pub async fn thread(node: &Node, caller: &Caller, checked: &Checked) -> Result<Thread> {
    let m = &checked.manifest;
    let refers = match &m.refers {
        None => None,
        Some(r) => {
            // Named as this letter's signer named it; more only where the reader may open it.
            let by_name = Linked {
                id: r.id.clone(),
                kind: r.kind.clone(),
                nomor: r.nomor.clone(),
                perihal: None,
                originator_name: None,
                dated: None,
                readable: false,
            };
            Some(match documents::load_checked(node, &r.id).await {
                Ok(c) if readable(node, caller, &c).await.unwrap_or(false) => {
                    linked(&c, &r.kind, true)
                }
                Ok(_) | Err(Error::NotFound(_) | Error::Gone(_)) => by_name,
                Err(Error::Integrity(why)) => {
                    incident(node, caller, &r.id, why).await?;
                    by_name
                }
                Err(e) => return Err(e),
            })
        }
    };
    let mut answers = Vec::new();
    let me = &caller.official.nip;
    for id in rows::referring(&node.store, &m.id, me, MAX_ANSWERS).await? {
        // A letter that does not check, or whose signed manifest names another letter (the
        // column changed in the database), is no answer of this one.
        let c = match documents::load_checked(node, &id).await {
            Ok(c) => c,
            Err(Error::Integrity(why)) => {
                incident(node, caller, &id, why).await?;
                continue;
            }
            Err(_) => continue,
        };
        let Some(kind) = c
            .manifest
            .refers
            .as_ref()
            .filter(|r| r.id == m.id)
            .map(|r| r.kind.clone())
        else {
            continue;
        };
        // One answer that cannot be judged (its approval row gone, say) hides only itself.
        if readable(node, caller, &c).await.unwrap_or(false) {
            answers.push(linked(&c, &kind, true));
        }
    }
    Ok(Thread { refers, answers })
}

/// Logs an integrity failure a thread came upon as an incident about that letter.
async fn incident(node: &Node, caller: &Caller, id: &str, why: String) -> Result<()> {
    crate::node::log_alone(
        node,
        &crate::audit::Entry::event(
            caller.actor(),
            "integrity_incident",
            "error",
            why,
            node.policy.current().version(),
            caller.client.clone(),
        )
        .about(id),
    )
    .await
}

/// What the compose page fills in for a reply or forward of letter `id`.
#[derive(Clone, Debug)]
pub struct Prefill {
    pub kind: String,
    pub id: String,
    pub nomor: String,
    pub perihal: String,
    /// The letter's level: where the form starts.
    pub classification: Level,
    /// A reply goes to the originator (`NIP@node` when on another node); a forward to whom
    /// the writer chooses.
    pub to: String,
}

/// The compose page's start for a reply to or forward of letter `id`, which `caller` may read.
pub async fn prefill(node: &Node, caller: &Caller, kind: &str, id: &str) -> Result<Prefill> {
    let given = NewReference {
        kind: kind.into(),
        id: id.into(),
    };
    let r = reference(node, caller, Some(&given))
        .await?
        .ok_or_else(|| Error::invalid("refers", "no letter"))?;
    let m = documents::load_checked(node, id).await?.manifest;
    let to = if kind == "forward" {
        String::new()
    } else if m.node == node.config.node_id {
        m.originator.clone()
    } else {
        format!("{}@{}", m.originator, m.node)
    };
    Ok(Prefill {
        // A forward's recipients may not read the original: its subject is not carried over.
        perihal: if kind == "forward" {
            String::new()
        } else {
            m.perihal
        },
        classification: m.classification,
        kind: r.kind,
        id: r.id,
        nomor: r.nomor,
        to,
    })
}
