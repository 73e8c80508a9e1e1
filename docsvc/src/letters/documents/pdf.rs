//! A letter's signed PDF as its readers get it: the first part, as the manifest binds it,
//! and, once a letter held by dual control is approved, the approver's signature appended to
//! it as an incremental update (kept beside the approval, checked on every read: a database
//! writer cannot put another signature, or anything else, after the letter).

use futures_util::StreamExt as _;

use super::{Checked, SignedBy, Stamped, check_pdf, open_part};
use crate::node::Node;
use crate::{Error, Result};

/// The largest first part read whole as a PDF (a rendered letter is far smaller).
const MAX_PDF: u64 = 64 << 20;
/// The largest approval update: a signature dictionary with its reserved `/Contents`, the
/// field, its look, then the document time-stamp's with the DSS (CA certificates and CRLs,
/// which grow with the revocations of one city's network).
const MAX_UPDATE: usize = 8 << 20;

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
    // A letter from another node: its approval came with it, given by an official there.
    let originator = checked
        .manifest
        .originator
        .split('@')
        .next()
        .unwrap_or_default();
    let received = checked.manifest.node != node.config.node_id;
    let found = match updates.pop() {
        // Approvals are given on the letter's own node.
        Some(_) if received => {
            return Err(Error::Integrity(format!(
                "letter {id}: approved here, but it came from node {}",
                checked.manifest.node
            )));
        }
        Some((nip, update)) => Some((Some(nip), update)),
        None if received => crate::store::approvals::received_update_of(&node.store, id)
            .await?
            .map(|u| (None, u)),
        None => None,
    };
    let Some((nip, update)) = found else {
        // Approved, and rendered with the approver's field, but no update to fill it: a
        // database writer took the approver's signature out of the letter. A letter from
        // another node reaches this one only once approved; since sandi time-stamps its PDFs
        // (and sends approvals with their letters), its approval must have come with it.
        let approved = !crate::store::approvals::approvals_of(&node.store, id)
            .await?
            .is_empty();
        let missing = |pdf: &Vec<u8>| {
            crate::letters::render::approval::has_slot(pdf)
                && (approved
                    || (received
                        && crate::crypto::pades::embedded(pdf)
                            .is_ok_and(|f| f.iter().any(|e| e.timestamp))))
        };
        if (approved || received)
            && original_pdf(node, checked)
                .await?
                .is_some_and(|p| missing(&p))
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
    // A letter signed before sandi time-stamped its PDFs may carry an approval made then;
    // once the letter's own revision is time-stamped, so must its approval be.
    let stamped = if crate::crypto::pades::embedded(&pdf)?
        .iter()
        .any(|e| e.timestamp)
    {
        Stamped::Required
    } else {
        Stamped::Optional
    };
    // The update fills the letter's empty approval field, and that field only stays empty
    // before it.
    if !crate::letters::render::approval::has_slot(&pdf) {
        return Err(incident(
            "an approval signs a PDF with no approval field".into(),
        ));
    }
    pdf.extend_from_slice(&update);
    if crate::letters::render::approval::has_slot(&pdf) {
        return Err(incident(
            "its approval does not fill the approval field".into(),
        ));
    }
    let signer = nip.as_deref().map_or(
        SignedBy::Other {
            not: originator,
            agency: &checked.manifest.agency,
        },
        SignedBy::Is,
    );
    let approver = check_pdf(node, &pdf, Some(before), signer, stamped)
        .map_err(|e| incident(format!("the approval in its PDF does not check: {e}")))?;
    // Given on another node: its approver's certificate must be one keymgr logged (503 while
    // that cannot be established).
    if received && let Err(why) = crate::network::issuance::require(node, &approver).await? {
        return Err(incident(format!("the approver's {why}")));
    }
    Ok(Some(pdf))
}

/// The PDF a reader gets for the first part: approved when it is, else as stored.
pub async fn letter_pdf(node: &Node, checked: &Checked) -> Result<Option<Vec<u8>>> {
    match approved_pdf(node, checked).await? {
        Some(pdf) => Ok(Some(pdf)),
        None => original_pdf(node, checked).await,
    }
}
