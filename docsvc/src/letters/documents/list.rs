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

impl Mailbox {
    pub fn as_str(self) -> &'static str {
        match self {
            Mailbox::Inbox => "inbox",
            Mailbox::Outbox => "outbox",
            Mailbox::Approvals => "approvals",
        }
    }
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

/// What waits for `official` on every page: unread letters in their inbox, and letters
/// waiting for a second approval they may give.
pub async fn waiting(node: &Node, official: &Official) -> Result<(i64, i64)> {
    let levels: Vec<&str> = if official.has_role("approver") {
        Level::ALL
            .iter()
            .filter(|l| **l <= official.clearance)
            .map(|l| l.as_str())
            .collect()
    } else {
        Vec::new()
    };
    recipients::waiting(
        &node.store,
        &official.nip,
        &official.agency,
        AWAITING,
        &levels,
    )
    .await
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
    /// derajat: biasa, segera, sangat_segera, kilat.
    pub urgency: Option<String>,
    /// The letter's state (`sent`, `awaiting_approval`, `received`, ...).
    pub state: Option<String>,
    /// Stored on or after this day (UTC).
    pub from: Option<time::Date>,
    /// Stored on or before this day (UTC).
    pub to: Option<time::Date>,
    /// Only letters the caller has not opened.
    pub unread: bool,
    /// The previous page's `next`: the letters after it.
    pub after: Option<String>,
    pub limit: i64,
}

/// One page of a mailbox, and the cursor of the next when there may be one.
#[derive(Debug)]
pub struct Page {
    pub letters: Vec<Summary>,
    pub next: Option<String>,
}

/// The cursor after a listed letter: its stored time and id.
fn cursor(created_at: &str, id: &str) -> String {
    format!("{created_at}~{id}")
}

/// A cursor as given back: (created_at, id), each short and printable.
fn parse_cursor(c: &str) -> Result<(&str, &str)> {
    // The id (a UUID) has no `~`; a received letter's stored time is another node's word.
    c.rsplit_once('~')
        .filter(|(t, id)| {
            (1..=200).contains(&t.len())
                && (1..=64).contains(&id.len())
                && !c.chars().any(char::is_control)
        })
        .ok_or_else(|| Error::invalid("after", "after is the `next` cursor of a previous page"))
}

/// A filter word: a state or an urgency, short, lower-case letters and `_`.
fn word<'a>(what: &'static str, v: Option<&'a String>) -> Result<Option<&'a str>> {
    match v.map(String::as_str).filter(|w| !w.is_empty()) {
        Some(w) if w.len() <= 32 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
            Ok(Some(w))
        }
        Some(_) => Err(Error::invalid(
            what,
            format!("{what} is a word like `segera`"),
        )),
        None => Ok(None),
    }
}

/// Lists the letters in a mailbox that the caller may read (after step-up, if the level needs
/// it), newest first, matching `filter`; nothing the policy would refuse is listed, not even
/// its subject.
pub async fn list(node: &Node, caller: &Caller, mailbox: Mailbox, filter: &Filter) -> Result<Page> {
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
        Mailbox::Approvals => {
            return Ok(Page {
                letters: approvals(node, caller, filter.limit).await?,
                next: None,
            });
        }
    };
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let until = filter.to.and_then(time::Date::next_day).map(day);
    let from = filter.from.map(day);
    let limit = filter.limit.clamp(1, 1000);
    let urgency = word("urgency", filter.urgency.as_ref())?;
    let state = word("state", filter.state.as_ref())?;
    let limit_n = usize::try_from(limit).unwrap_or(1);
    // Read in batches of at least 100, at most 20 of them per page.
    let batch = limit.clamp(100, 1000);
    let batch_n = usize::try_from(batch).unwrap_or(100);
    // Pages are filled from the letters the caller may read, and the cursor names the last
    // one shown: a refused letter shapes neither the page nor the cursor. Between batches the
    // position is kept as read, never parsed again (a received letter's time is another
    // node's word).
    let mut out: Vec<Summary> = Vec::new();
    let mut after: Option<(String, String)> = filter
        .after
        .as_deref()
        .map(parse_cursor)
        .transpose()?
        .map(|(t, id)| (t.to_owned(), id.to_owned()));
    let mut batches = 0;
    let exhausted = loop {
        let search = Search {
            text: filter.text.as_deref(),
            classification: filter.classification.map(Level::as_str),
            urgency,
            state,
            from: from.as_deref(),
            until: until.as_deref(),
            after: after.as_ref().map(|(t, id)| (t.as_str(), id.as_str())),
            unread: filter.unread,
            limit: batch,
        };
        let rows = recipients::mailbox(&node.store, &caller.official.nip, side, &search).await?;
        let full = rows.len() == batch_n;
        after = rows
            .last()
            .map(|r| (r.letter.created_at.clone(), r.letter.id.clone()));
        out.extend(readable(node, caller, rows).await?);
        batches += 1;
        if !full {
            break true;
        }
        if out.len() >= limit_n || batches == 20 {
            break false;
        }
    };
    let next = if out.len() > limit_n || (out.len() == limit_n && !exhausted) {
        out.truncate(limit_n);
        out.last().map(|s| cursor(&s.created_at, &s.id))
    } else if !exhausted {
        // A short page after 20 batches of letters this caller may not read: go on from
        // where the reading stopped.
        after.map(|(t, id)| cursor(&t, &id))
    } else {
        None
    };
    Ok(Page { letters: out, next })
}

/// The rows the policy lets the caller read (after step-up, if the level needs it).
async fn readable(
    node: &Node,
    caller: &Caller,
    rows: Vec<recipients::MailboxRow>,
) -> Result<Vec<Summary>> {
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
