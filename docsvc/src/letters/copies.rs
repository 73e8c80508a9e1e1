//! Numbered copies (salinan) of letters the node rendered and signed: each print or download
//! is a copy of the signed PDF stamped "Salinan ke-N dari M" with the reader's name, NIP and
//! time on every page, where the policy lets the reader print the letter. A letter has as
//! many numbered copies as it has holders (its recipients and tembusan, and the originator's
//! archive copy: M, from the signed manifest). Each copy is in the register and in the access
//! log with its number; the originator and auditors read the register.

use policies::Action;

use super::documents::{self, Checked};
use super::render::copy::{CopyMark, numbered_copy};
use crate::crypto::pades;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::officials::Caller;
use crate::store::copies::{self, CopyRow};
use crate::{Error, Result};

/// A numbered copy made.
#[derive(Debug)]
pub struct Copy {
    pub number: i64,
    pub of: i64,
    pub pdf: Vec<u8>,
}

/// How many numbered copies letter `c` has: one for each recipient and tembusan holder, and
/// the originator's archive copy.
pub fn count(c: &Checked) -> i64 {
    i64::try_from(c.manifest.recipients.len() + c.manifest.copies.len() + 1).unwrap_or(i64::MAX)
}

/// The signed PDF of a letter the node rendered or signed from an upload (its first part,
/// with its approval when it has one), read whole; `None` for a letter whose first part is
/// no PDF or one with no signature (a file kept as it was sent). A PDF that carries a
/// signature but not as sandi makes them (first by the originator, then only by its
/// approver) is refused, not shown as it is.
async fn rendered_pdf(node: &Node, checked: &Checked) -> Result<Option<Vec<u8>>> {
    let (pdf, approved) = match documents::approved_pdf(node, checked).await? {
        Some(pdf) => (pdf, true),
        None => match documents::original_pdf(node, checked).await? {
            Some(pdf) => (pdf, false),
            None => return Ok(None),
        },
    };
    let found = match pades::embedded(&pdf) {
        Ok(found) if !found.is_empty() => found,
        _ => return Ok(None),
    };
    // The document time-stamps between and after the signatures sign nothing of their own.
    let signatures: Vec<&pades::Embedded> = found.iter().filter(|e| !e.timestamp).collect();
    let Some(first) = signatures.first() else {
        return Ok(None);
    };
    let v = pades::verify(&pdf, first, &node.trust, time::OffsetDateTime::now_utc())?;
    let originator = checked.manifest.originator.split('@').next();
    let whole = found.last().is_some_and(|e| e.covers_whole);
    if signatures.len() != 1 + usize::from(approved) || !whole || v.nip.as_deref() != originator {
        return Err(Error::invalid(
            "copy",
            "the letter's PDF is not signed as sandi signs letters",
        ));
    }
    Ok(Some(pdf))
}

/// The font name every page of a letter signed since numbered copies is given.
const COPY_FONT: &[u8] = b"/SandiF1 ";

fn not_rendered() -> Error {
    Error::invalid(
        "copy",
        "numbered copies are made of letters the node rendered and signed as PDF",
    )
}

/// The next numbered copy of letter `id` for `caller`: the policy's `print` decision (a
/// refusal is logged and returned), then the copy registered and logged with its number in
/// one transaction, refused once all M copies are made.
pub async fn make(node: &Node, caller: &Caller, id: &str) -> Result<Copy> {
    let checked = documents::load_checked(node, id).await?;
    make_of(node, caller, &checked, Action::Print)
        .await?
        .ok_or_else(not_rendered)
}

/// A download of the first part of a letter the node rendered: the next numbered copy, as
/// [`make`] but under the policy's `export` decision. `None` for a letter whose first part
/// is not one sandi rendered (downloaded as it is, after its own `export` decision).
pub async fn download(node: &Node, caller: &Caller, checked: &Checked) -> Result<Option<Copy>> {
    make_of(node, caller, checked, Action::Export).await
}

/// A reader's view of the first part of a letter the node rendered, where the level's
/// handling asks for a watermark: the PDF written anew with the reader's name, NIP and time
/// burned into every page (not a numbered copy, not in the register: the read is logged as
/// reads are). `None` where the part is shown as it is.
pub async fn view(node: &Node, caller: &Caller, checked: &Checked) -> Result<Option<Vec<u8>>> {
    let level = checked.manifest.classification;
    if !node.policy.current().handling().get(level).watermark {
        return Ok(None);
    }
    let Some(pdf) = rendered_pdf(node, checked).await? else {
        return Ok(None);
    };
    // A letter signed before copies had fonts of their own names is shown as it was then.
    if !pdf.windows(COPY_FONT.len()).any(|w| w == COPY_FONT) {
        return Ok(None);
    }
    let o = &caller.official;
    let at = crate::now_rfc3339();
    let mark = CopyMark {
        number: None,
        reader_name: &o.name,
        reader_nip: &o.nip,
        at: &at,
    };
    Ok(Some(numbered_copy(&pdf, &mark)?))
}

/// The next numbered copy under `action` (print or export); `None` for a letter whose first
/// part is not one sandi rendered.
async fn make_of(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    action: Action,
) -> Result<Option<Copy>> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let m = &checked.manifest;
    let id = m.id.as_str();
    let d = documents::decide(node, caller, action, checked, caller.stepped_up).await?;
    if !d.allowed {
        Metrics::inc(&node.metrics.denials);
        let e = documents::entry(
            caller,
            action.as_str(),
            Some(id),
            Some(m.classification),
            &d,
        );
        crate::node::log_alone(node, &e).await?;
        return Err(documents::forbidden(&d));
    }
    let Some(pdf) = rendered_pdf(node, checked).await? else {
        return Ok(None);
    };
    let of = count(checked);
    let official = &caller.official;
    // Two makers may race for one number: the loser meets the primary key and tries again.
    for _ in 0..3 {
        let mut tx = node.store.begin().await?;
        let number = copies::next_number(&mut tx, id).await?;
        if number > of {
            return Err(Error::Conflict(format!(
                "all {of} numbered copies of this letter are made"
            )));
        }
        let row = CopyRow {
            number,
            nip: official.nip.clone(),
            name: official.name.clone(),
            made_at: crate::now_rfc3339(),
        };
        let copy = numbered_copy(
            &pdf,
            &CopyMark {
                number: Some((number, of)),
                reader_name: &official.name,
                reader_nip: &official.nip,
                at: &row.made_at,
            },
        )?;
        if copies::insert(&mut tx, id, &row).await.is_err() {
            continue;
        }
        let mut e = documents::entry(
            caller,
            action.as_str(),
            Some(id),
            Some(m.classification),
            &d,
        );
        e.reason = format!("{}; numbered copy {number} of {of}", e.reason);
        let head = node.audit.append(&mut tx, &e).await?;
        node.audit.commit(tx, &head).await?;
        return Ok(Some(Copy {
            number,
            of,
            pdf: copy,
        }));
    }
    Err(Error::Conflict(
        "another copy of this letter was being made: try again".into(),
    ))
}

/// The register of letter `id`'s numbered copies, for its originator and auditors (logged).
pub async fn register(node: &Node, caller: &Caller, id: &str) -> Result<Vec<CopyRow>> {
    let checked = documents::load_checked(node, id).await?;
    let m = &checked.manifest;
    let allowed = caller.official.nip == m.originator || caller.official.has_role("auditor");
    let d = policies::Decision {
        allowed,
        policies: vec!["copy-register".into()],
        alasan: if allowed {
            "diizinkan: pembuat surat atau auditor".into()
        } else {
            "ditolak: daftar salinan hanya untuk pembuat surat dan auditor".into()
        },
        reason: if allowed {
            "allowed: the originator or an auditor".into()
        } else {
            "denied: the copy register is for the originator and auditors".into()
        },
        policy_version: node.policy.current().version().to_owned(),
    };
    let e = documents::entry(
        caller,
        "copy_register",
        Some(id),
        Some(m.classification),
        &d,
    );
    crate::node::log_alone(node, &e).await?;
    if !allowed {
        Metrics::inc(&node.metrics.denials);
        return Err(documents::forbidden(&d));
    }
    copies::list(&node.store, id).await
}
