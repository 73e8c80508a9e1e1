//! Disposisi (tata naskah dinas): an addressee of a letter passes it down inside their agency
//! with an instruction, a due day and a note; whoever receives one may pass it further down,
//! and reports back (tindak lanjut) until it is done. A disposisi is a grant of access to the
//! letter, given only to officials the policy lets read it; it is signed by whoever gives it,
//! carries the node's MAC (a database writer cannot add a reader), and is logged.

mod give;
mod report;
mod sealed;

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

pub use self::give::{Candidate, NewDisposition, candidates, dispose, may_give};
pub use self::report::{MAX_BYTES, MAX_FILES, NewReport, ReportFile, file, report};
use crate::node::Node;
use crate::node::numbering::Day;
use crate::officials::directory::Official;
use crate::store::dispositions::{self as rows, Disposition, Report};
use crate::{Error, Result};

/// What a disposisi asks, in the words of the form.
pub const INSTRUCTIONS: [&str; 4] = ["diketahui", "ditindaklanjuti", "dijawab", "dihadiri"];

/// A disposisi as its chain shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Shown {
    pub id: String,
    pub parent_id: Option<String>,
    pub from: String,
    pub to: String,
    /// One of `diketahui`, `ditindaklanjuti`, `dijawab`, `dihadiri`.
    pub instruction: String,
    /// `YYYY-MM-DD` (WIB), if any.
    pub due: Option<String>,
    pub note: String,
    pub at: String,
    /// `unread`, `read`, `in_progress` or `done`.
    pub state: String,
    /// Past its due day and not done.
    pub overdue: bool,
    pub reports: Vec<ShownReport>,
}

/// A report (tindak lanjut) as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShownReport {
    pub id: String,
    pub nip: String,
    /// `progress` or `done`.
    pub state: String,
    pub at: String,
    pub text: String,
    pub files: Vec<FileInfo>,
}

/// An attached file, named.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FileInfo {
    pub name: String,
    pub media_type: String,
    pub size: usize,
}

/// A disposisi someone received, for their list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Received {
    pub id: String,
    pub document_id: String,
    pub nomor: String,
    /// Empty where the reader is no longer cleared for the letter's level.
    pub perihal: String,
    pub from: String,
    pub instruction: String,
    pub due: Option<String>,
    pub at: String,
    pub state: String,
    pub overdue: bool,
    /// Not done, and due today or within [`SOON_DAYS`] days.
    pub due_soon: bool,
}

/// A disposisi due within this many days (WIB) is announced as due soon.
pub const SOON_DAYS: i64 = 2;

fn state_of(d: &Disposition, reports: &[&Report]) -> &'static str {
    if reports.iter().any(|r| r.state == "done") {
        "done"
    } else if !reports.is_empty() {
        "in_progress"
    } else if d.read_at.is_some() {
        "read"
    } else {
        "unread"
    }
}

fn overdue(due: Option<&str>, state: &str) -> bool {
    let today = Day::today().0.to_string();
    state != "done" && due.is_some_and(|d| d < today.as_str())
}

/// The last day a due day counts as soon: today and the next [`SOON_DAYS`].
fn soon_horizon() -> String {
    Day::today()
        .0
        .saturating_add(time::Duration::days(SOON_DAYS))
        .to_string()
}

fn due_soon(due: Option<&str>, state: &str) -> bool {
    let today = Day::today().0.to_string();
    let horizon = soon_horizon();
    state != "done" && due.is_some_and(|d| today.as_str() <= d && d <= horizon.as_str())
}

/// `agency`'s disposisi of letter `id`, each with the node's MAC; a row without is an
/// integrity incident.
async fn checked(node: &Node, id: &str, agency: &str) -> Result<Vec<Disposition>> {
    let all = rows::of_letter(&node.store, id, Some(agency)).await?;
    if all.len() > usize::try_from(rows::MAX_PER_LETTER).unwrap_or(usize::MAX) {
        return Err(Error::Conflict(format!(
            "letter {id} has more than {} disposisi",
            rows::MAX_PER_LETTER
        )));
    }
    for d in &all {
        if !rows::holds(&node.store, d)? {
            return Err(forged(node, id, &d.id).await);
        }
    }
    Ok(all)
}

async fn forged(node: &Node, letter: &str, row: &str) -> Error {
    node.store
        .integrity()
        .incident(
            &format!("disposition:{row}"),
            &format!(
                "disposisi {row} of letter {letter} does not carry the node's MAC \
                 (changed or forged in the database)"
            ),
        )
        .await
}

/// Whether a disposisi of letter `id` passed it to `official` while in their present agency:
/// access the policy adds to the letter's addressing. A row without the node's MAC grants
/// nothing and is an integrity incident.
pub async fn granted(node: &Node, id: &str, official: &Official) -> Result<bool> {
    let mut granted = false;
    for d in rows::to_official_on(&node.store, id, &official.nip).await? {
        if !rows::holds(&node.store, &d)? {
            let _ = forged(node, id, &d.id).await;
            continue;
        }
        granted |= d.agency == official.agency;
    }
    Ok(granted)
}

/// The disposisi `official` holds on letter `id` in their present agency (MAC-checked),
/// newest first.
pub(crate) async fn held(node: &Node, id: &str, official: &Official) -> Result<Vec<Disposition>> {
    let mut mine: Vec<Disposition> = checked(node, id, &official.agency)
        .await?
        .into_iter()
        .filter(|d| d.to_nip == official.nip)
        .collect();
    mine.reverse();
    Ok(mine)
}

/// Whether disposisi `id` has a report, with the node's MAC, that says it is done.
async fn done(node: &Node, letter: &str, id: &str) -> Result<bool> {
    let mut done = false;
    for r in rows::reports_of(&node.store, id).await? {
        if !rows::report_holds(&node.store, &r)? {
            return Err(forged(node, letter, &r.id).await);
        }
        done |= r.state == "done";
    }
    Ok(done)
}

/// Seals the notes and reports of letter `id` again to the current archive key of `level`
/// where they are under another (after a reclassification or a key rotation); how many. Only
/// rows with the node's MAC are touched, and each gets a new one.
pub async fn reseal_letter(node: &Node, id: &str, level: policies::Level) -> Result<u64> {
    let mut n = 0;
    for mut d in rows::of_letter(&node.store, id, None).await? {
        if !rows::holds(&node.store, &d)? {
            continue;
        }
        let cipher = d.note.take().unwrap_or_default();
        if let Some((c, k)) = sealed::reseal(node, level, cipher, &d.note_sha256, &d.key_id).await?
        {
            let old = std::mem::replace(&mut d.key_id, k);
            d.note = Some(c);
            rows::set_note(&node.store, &d, &old).await?;
            n += 1;
        }
    }
    let mut after = String::new();
    loop {
        let page = rows::reports_to_reseal(&node.store, id, &after).await?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.id);
        for mut r in page {
            if !rows::report_holds(&node.store, &r)? {
                continue;
            }
            let body = r.body.take().unwrap_or_default();
            let files = r.files.take().unwrap_or_default();
            let Some((b, k)) = sealed::reseal(node, level, body, &r.body_sha256, &r.key_id).await?
            else {
                continue;
            };
            let (f, _) = sealed::reseal(node, level, files, &r.files_sha256, &r.key_id)
                .await?
                .unwrap_or_default();
            let old = std::mem::replace(&mut r.key_id, k);
            r.body = Some(b);
            r.files = Some(f);
            rows::set_report(&node.store, &r, &old).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// How far down its chain each disposisi is (0 for one given by an addressee).
fn depths(all: &[Disposition]) -> HashMap<String, usize> {
    let parent: HashMap<&str, Option<&str>> = all
        .iter()
        .map(|d| (d.id.as_str(), d.parent_id.as_deref()))
        .collect();
    all.iter()
        .map(|d| {
            let mut depth = 0;
            let mut at = d.parent_id.as_deref();
            // Bounded: a cycle (only a database writer makes one) stops at the table's size.
            while let Some(p) = at.filter(|_| depth < all.len()) {
                depth += 1;
                at = parent.get(p).copied().flatten();
            }
            (d.id.clone(), depth)
        })
        .collect()
}

/// The chain of disposisi inside the caller's agency on a letter they were allowed to read,
/// oldest first, with notes and reports decrypted. Another agency's disposisi are its own
/// business: not shown.
pub async fn chain(
    node: &Node,
    caller: &crate::officials::Caller,
    checked_letter: &crate::letters::documents::Checked,
) -> Result<Vec<Shown>> {
    let m = &checked_letter.manifest;
    let agency = &caller.official.agency;
    let mut all = checked(node, &m.id, agency).await?;
    if all.is_empty() {
        return Ok(Vec::new());
    }
    // Times are whole seconds: a disposisi passed on within the second it came is still shown
    // after it, ordered by how far down the chain it is.
    let depths = depths(&all);
    all.sort_by(|a, b| (depths[&a.id], &a.at, &a.id).cmp(&(depths[&b.id], &b.at, &b.id)));
    let mut reports: HashMap<String, Vec<Report>> = HashMap::new();
    for r in rows::reports_of_letter(&node.store, &m.id, agency).await? {
        if !rows::report_holds(&node.store, &r)? {
            return Err(forged(node, &m.id, &r.id).await);
        }
        if all.iter().any(|d| d.id == r.disposition_id) {
            reports.entry(r.disposition_id.clone()).or_default().push(r);
        }
    }
    let mut out = Vec::with_capacity(all.len());
    for d in all {
        let mine: Vec<Report> = reports.remove(&d.id).unwrap_or_default();
        let refs: Vec<&Report> = mine.iter().collect();
        let state = state_of(&d, &refs);
        let plain_note =
            sealed::open(node, d.note.clone().unwrap_or_default(), &d.note_sha256).await?;
        let mut shown_reports = Vec::with_capacity(mine.len());
        for r in mine {
            shown_reports.push(report::shown(node, r).await?);
        }
        out.push(Shown {
            overdue: overdue(d.due.as_deref(), state),
            state: state.into(),
            note: String::from_utf8_lossy(&plain_note).into_owned(),
            id: d.id,
            parent_id: d.parent_id,
            from: d.from_nip,
            to: d.to_nip,
            instruction: d.instruction,
            due: d.due,
            at: d.at,
            reports: shown_reports,
        });
    }
    Ok(out)
}

/// The newest 200 disposisi `official` received, with their letters' numbers and states. A
/// row without the node's MAC is an integrity incident, and the list is refused.
pub async fn received(node: &Node, official: &Official) -> Result<Vec<Received>> {
    let list = rows::to_official(&node.store, &official.nip, 200).await?;
    let mut reports: HashMap<String, Vec<Report>> = HashMap::new();
    for r in rows::report_states(&node.store, &official.nip, 200).await? {
        if !rows::report_holds(&node.store, &r)? {
            return Err(forged(node, "?", &r.id).await);
        }
        reports.entry(r.disposition_id.clone()).or_default().push(r);
    }
    let mut out = Vec::with_capacity(list.len());
    for l in list {
        let d = &l.disposition;
        if !rows::holds(&node.store, d)? {
            return Err(forged(node, &d.document_id, &d.id).await);
        }
        let refs: Vec<&Report> = reports
            .get(&d.id)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let state = state_of(d, &refs);
        let cleared = l
            .classification
            .parse::<policies::Level>()
            .is_ok_and(|lvl| lvl <= official.clearance);
        out.push(Received {
            overdue: overdue(d.due.as_deref(), state),
            due_soon: due_soon(d.due.as_deref(), state),
            state: state.into(),
            id: d.id.clone(),
            document_id: d.document_id.clone(),
            nomor: l.nomor,
            perihal: if cleared { l.perihal } else { String::new() },
            from: d.from_nip.clone(),
            instruction: d.instruction.clone(),
            due: d.due.clone(),
            at: d.at.clone(),
        });
    }
    Ok(out)
}

/// How many disposisi wait for `nip`: unread, or not done and past due or due soon (within
/// [`SOON_DAYS`] days).
pub async fn waiting(node: &Node, nip: &str) -> Result<i64> {
    rows::waiting(&node.store, nip, &soon_horizon()).await
}

/// Notes that `nip` opened letter `id` through the disposisi passed to them.
pub async fn mark_read(node: &Node, nip: &str, id: &str) -> Result<()> {
    rows::mark_read(&node.store, id, nip, &crate::now_rfc3339()).await
}

/// The letter of disposisi `id`, for the official it went to (anyone else: not found).
pub async fn letter_of(node: &Node, caller: &crate::officials::Caller, id: &str) -> Result<String> {
    rows::get(&node.store, id)
        .await?
        .filter(|d| d.to_nip == caller.official.nip)
        .map(|d| d.document_id)
        .ok_or_else(|| Error::NotFound(format!("disposisi {id} to you")))
}

/// The letter of the disposisi report `id` (whether the caller may see it is the letter's
/// policy's word).
pub async fn letter_of_report(node: &Node, id: &str) -> Result<String> {
    let missing = || Error::NotFound(format!("report {id}"));
    let r = rows::get_report(&node.store, id)
        .await?
        .ok_or_else(missing)?;
    Ok(rows::get(&node.store, &r.disposition_id)
        .await?
        .ok_or_else(missing)?
        .document_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(read: bool, due: Option<&str>) -> Disposition {
        Disposition {
            id: "d".into(),
            document_id: "l".into(),
            parent_id: None,
            agency: "dinkes".into(),
            from_nip: "1".into(),
            to_nip: "2".into(),
            instruction: "dijawab".into(),
            due: due.map(str::to_owned),
            note: None,
            note_sha256: String::new(),
            key_id: String::new(),
            at: String::new(),
            signature: Vec::new(),
            mac: String::new(),
            read_at: read.then(|| "2026-01-01T00:00:00Z".to_owned()),
        }
    }

    fn report(state: &str) -> Report {
        Report {
            id: "r".into(),
            disposition_id: "d".into(),
            nip: "2".into(),
            state: state.into(),
            body: None,
            body_sha256: String::new(),
            files: None,
            files_sha256: String::new(),
            key_id: String::new(),
            at: String::new(),
            signature: Vec::new(),
            mac: String::new(),
        }
    }

    /// A disposisi moves unread, read, in progress, done; a done one is never overdue, an open
    /// one is once its day has passed (and not on the day itself).
    #[test]
    fn states_follow_reading_and_reports() {
        let (p, d) = (report("progress"), report("done"));
        assert_eq!(state_of(&row(false, None), &[]), "unread");
        assert_eq!(state_of(&row(true, None), &[]), "read");
        assert_eq!(state_of(&row(true, None), &[&p]), "in_progress");
        assert_eq!(state_of(&row(false, None), &[&p, &d]), "done");
        assert!(overdue(Some("2001-01-01"), "read"));
        assert!(!overdue(Some("2001-01-01"), "done"));
        assert!(!overdue(None, "unread"));
        let today = Day::today().0.to_string();
        assert!(!overdue(Some(&today), "unread"));
        assert!(due_soon(Some(&today), "read"));
        assert!(due_soon(Some(&soon_horizon()), "in_progress"));
        assert!(!due_soon(Some(&soon_horizon()), "done"));
        assert!(!due_soon(Some("2001-01-01"), "read"), "overdue, not soon");
        assert!(!due_soon(Some("2999-01-01"), "read"));
        assert!(!due_soon(None, "unread"));
    }
}
