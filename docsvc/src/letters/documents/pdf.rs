//! A letter's signed PDF as its readers get it: the first part, as the manifest binds it,
//! and, once a letter held by dual control is approved, the approver's signature appended to
//! it as an incremental update (kept beside the approval, checked on every read: a database
//! writer cannot put another signature, or anything else, after the letter).

use futures_util::StreamExt as _;

use super::{Checked, check_pdf, open_part};
use crate::node::Node;
use crate::{Error, Result};

/// The largest first part read whole as a PDF (a rendered letter is far smaller).
const MAX_PDF: u64 = 64 << 20;
/// The largest approval update: a signature dictionary with its reserved `/Contents`, the
/// field, its look and a cross-reference section.
const MAX_UPDATE: usize = 64 << 10;

/// The letter's first part when it is a PDF, read whole and checked against the manifest;
/// `None` for a letter whose first part is something else.
pub async fn original_pdf(node: &Node, checked: &Checked) -> Result<Option<Vec<u8>>> {
    let Some(part) = checked.manifest.parts.first() else {
        return Ok(None);
    };
    if part.media_type != "application/pdf" || part.size > MAX_PDF {
        return Ok(None);
    }
    let mut pdf = Vec::new();
    let mut stream = std::pin::pin!(open_part(node, checked, 0).await?);
    while let Some(b) = stream.next().await {
        pdf.extend_from_slice(&b?);
    }
    Ok(Some(pdf))
}

/// The letter's PDF with its approval appended, checked: `None` when no approval of it
/// carries a PDF signature (most letters).
pub async fn approved_pdf(node: &Node, checked: &Checked) -> Result<Option<Vec<u8>>> {
    let id = &checked.manifest.id;
    let mut updates = crate::store::approvals::pdf_updates_of(&node.store, id).await?;
    if updates.len() > 1 {
        return Err(Error::Integrity(format!(
            "letter {id}: more than one approval signs its PDF"
        )));
    }
    let Some((nip, update)) = updates.pop() else {
        // Approved, and rendered with the approver's field, but no update to fill it: a
        // database writer took the approver's signature out of the letter.
        let approved = !crate::store::approvals::approvals_of(&node.store, id)
            .await?
            .is_empty();
        if approved
            && original_pdf(node, checked)
                .await?
                .is_some_and(|pdf| crate::letters::render::approval::has_slot(&pdf))
        {
            return Err(Error::Integrity(format!(
                "letter {id}: approved, but its PDF's approval signature is missing"
            )));
        }
        return Ok(None);
    };
    let incident = |why: String| Error::Integrity(format!("letter {id}: {why}"));
    if update.len() > MAX_UPDATE {
        return Err(incident("its approval's PDF update is too large".into()));
    }
    let mut pdf = original_pdf(node, checked)
        .await?
        .ok_or_else(|| incident("an approval signs a PDF the letter does not have".into()))?;
    let before = pdf.len();
    pdf.extend_from_slice(&update);
    check_pdf(node, &pdf, Some(before), &nip)
        .map_err(|e| incident(format!("the approval in its PDF does not check: {e}")))?;
    Ok(Some(pdf))
}

/// The PDF a reader gets for the first part: approved when it is, else as stored.
pub async fn letter_pdf(node: &Node, checked: &Checked) -> Result<Option<Vec<u8>>> {
    match approved_pdf(node, checked).await? {
        Some(pdf) => Ok(Some(pdf)),
        None => original_pdf(node, checked).await,
    }
}
