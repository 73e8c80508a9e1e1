//! Listing letters: the mailboxes (inbox, outbox, letters awaiting the caller's approval),
//! each showing only what the policy lets the caller read; the levels an official may write
//! at; and the unread state.

use policies::{Action, Context, Document, Level, Principal};
use serde::Deserialize;

use super::{AWAITING, Summary};
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::Official;
use crate::store::recipients::{self, Listed, Search, Side};
use crate::{Error, Result, now_rfc3339};

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mailbox {
    /// Kotak masuk: letters addressed to the caller (recipient or copy).
    Inbox,
    /// Kotak keluar: letters the caller originated.
    Outbox,
    /// Letters of the caller's agency waiting for a second approval the caller may give.
    Approvals,
}

/// Letters waiting for a second approval that the caller may give.
async fn approvals(node: &Node, caller: &Caller, limit: i64) -> Result<Vec<Summary>> {
    let o = &caller.official;
    if !o.has_role("approver") {
        return Ok(Vec::new());
    }
    let rows = recipients::awaiting_approval(
        &node.store,
        AWAITING,
        &o.agency,
        &o.nip,
        limit.clamp(1, 1000),
    )
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let classification = level_of(&r)?;
        if classification > o.clearance {
            continue;
        }
        out.push(summary(r, classification));
    }
    Ok(out)
}

/// The stored classification of a listed letter.
fn level_of(r: &Listed) -> Result<Level> {
    r.classification.parse().map_err(Error::Database)
}

fn summary(r: Listed, classification: Level) -> Summary {
    Summary {
        id: r.id,
        nomor: r.nomor,
        perihal: r.perihal,
        classification,
        urgency: r.urgency,
        originator: r.originator,
        created_at: r.created_at,
        state: r.state,
        read: r.seen,
    }
}

/// A letter `official` is about to write at `level`, addressed to no one yet, as the policy
/// sees it.
pub fn draft(official: &Official, level: Level) -> Document {
    Document {
        id: "draft".into(),
        classification: level,
        originator: official.nip.clone(),
        recipients: vec![],
        copies: vec![],
        grants: vec![],
        agency: official.agency.clone(),
        agencies: vec![official.agency.clone()],
        compartments: vec![],
    }
}

/// The classifications `official` may write and sign a letter at (with the PIN), lowest
/// first: what the compose page offers. The policy decides again on the letter itself.
pub fn creatable(node: &Node, official: &Official) -> Result<Vec<Level>> {
    let policy = node.policy.current();
    let principal = Principal::Official(official.person());
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut out = Vec::new();
    for level in Level::ALL {
        let doc = draft(official, level);
        let allowed = [Action::Create, Action::Sign]
            .into_iter()
            .map(|a| policy.decide(&principal, a, &doc, &ctx).map(|d| d.allowed))
            .collect::<std::result::Result<Vec<bool>, _>>()?;
        if allowed.iter().all(|a| *a) {
            out.push(level);
        }
    }
    Ok(out)
}

/// Notes that `nip` opened letter `id` (the first time only): the inbox's unread state.
pub async fn mark_read(node: &Node, nip: &str, id: &str) -> Result<()> {
    recipients::mark_read(&node.store, id, nip, &now_rfc3339()).await
}

/// What to look for in a mailbox.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Words that the nomor or perihal must contain (case-insensitive).
    pub text: Option<String>,
    pub classification: Option<Level>,
    pub limit: i64,
}

/// Lists the letters in a mailbox that the caller may read (after step-up, if the level needs
/// it), newest first, matching `filter`; nothing the policy would refuse is listed, not even
/// its subject.
pub async fn list(
    node: &Node,
    caller: &Caller,
    mailbox: Mailbox,
    filter: &Filter,
) -> Result<Vec<Summary>> {
    if let Some(t) = &filter.text {
        if t.chars().count() > 200 {
            return Err(Error::invalid(
                "search text",
                "search text is at most 200 characters",
            ));
        }
    }
    let side = match mailbox {
        Mailbox::Inbox => Side::Addressed,
        Mailbox::Outbox => Side::Originated,
        Mailbox::Approvals => return approvals(node, caller, filter.limit).await,
    };
    let search = Search {
        text: filter.text.as_deref(),
        classification: filter.classification.map(Level::as_str),
        limit: filter.limit.clamp(1, 1000),
    };
    let rows = recipients::mailbox(&node.store, &caller.official.nip, side, &search).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.letter.id.clone()).collect();
    let addressed = recipients::addressees_of(&node.store, &ids).await?;
    let policy = node.policy.current();
    let principal = policy.prepare_principal(&Principal::Official(caller.official.person()))?;
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut out = Vec::new();
    for r in rows {
        let id = r.letter.id.clone();
        let by_role = |role: &str| -> Vec<String> {
            addressed
                .get(&id)
                .map(|v| {
                    v.iter()
                        .filter(|(_, r)| r == role)
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let classification = level_of(&r.letter)?;
        let doc = Document {
            id: id.clone(),
            classification,
            originator: r.letter.originator.clone(),
            recipients: by_role("recipient"),
            copies: by_role("copy"),
            grants: vec![],
            agency: r.agency.clone(),
            agencies: vec![r.agency],
            compartments: vec![],
        };
        let d = policy.decide_prepared(
            &principal,
            Action::Read,
            &policy.prepare_document(&doc)?,
            &ctx,
        )?;
        if d.allowed {
            out.push(summary(r.letter, classification));
        }
    }
    Ok(out)
}
