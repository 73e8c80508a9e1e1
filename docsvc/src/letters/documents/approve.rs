//! The second approval of a letter held by dual control, and who may give it.

use crate::letters::register;
use policies::{Action, Context, Decision, Principal};

use super::ingest::deliver;
use super::{
    AWAITING, Checked, Created, DUAL_CONTROL, SENT, addressed_agencies, entry, forbidden,
    load_checked, original_pdf, policy_document, sign_as, sign_pdf, signature_allowed,
};
use crate::crypto::envelope::Manifest;
use crate::crypto::signature::Kind;
use crate::letters::render::approval::{self, Approver};
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::{approvals, documents as rows};
use crate::{Error, Result, now_rfc3339};

/// Whether `o` may give the second approval for `m`: an approver of the originating agency,
/// cleared for the level, who is not the originator.
pub fn may_approve(o: &Official, m: &Manifest) -> bool {
    o.nip != m.originator
        && o.has_role("approver")
        && o.agency == m.agency
        && o.clearance >= m.classification
        && o.status == policies::Status::Active
}

/// Refuses an approval by anyone who may not give it, of a letter not waiting, or without
/// the PIN.
fn may_approve_now(caller: &Caller, checked: &Checked) -> Result<()> {
    let (m, id) = (&checked.manifest, &checked.manifest.id);
    let refuse = |alasan: &str, reason: &str| Error::Forbidden {
        alasan: alasan.into(),
        reason: reason.into(),
        policies: vec![DUAL_CONTROL.into()],
    };
    if !may_approve(&caller.official, m) {
        return Err(refuse(
            "ditolak: persetujuan kedua hanya oleh pejabat penyetuju instansi pembuat, selain pembuat naskah",
            "denied: the second approval is given by an approver of the originating agency other than the originator",
        ));
    }
    if checked.state != AWAITING {
        return Err(Error::Conflict(format!(
            "letter {id} is not waiting for approval"
        )));
    }
    if !caller.stepped_up {
        return Err(refuse(
            "ditolak: persetujuan memerlukan verifikasi PIN",
            "denied: approving needs the signing PIN",
        ));
    }
    Ok(())
}

/// The second approval of a letter held by dual control: signed by the approver, and the
/// letter goes out in the same transaction.
pub async fn approve(node: &Node, caller: &Caller, id: &str) -> Result<Created> {
    let checked = load_checked(node, id).await?;
    let m = &checked.manifest;
    may_approve_now(caller, &checked)?;
    let originator = directory::get(&node.store, &m.originator)
        .await?
        .ok_or_else(|| Error::Integrity(format!("letter {id}: originator unknown")))?;
    let doc = policy_document(m, addressed_agencies(node, m).await?, &node.config.node_id);
    let send = node.policy.current().decide(
        &Principal::Official(originator.person()),
        Action::Send,
        &doc,
        &Context {
            step_up: true,
            approvers: vec![caller.official.nip.clone()],
            ..Context::default()
        },
    )?;
    if !send.allowed {
        return Err(forbidden(&send));
    }
    signature_allowed(node, caller, "approve", Some(id), m.classification).await?;
    let cms = sign_as(
        node,
        &caller.official,
        Kind::Approval,
        m.classification,
        &m.canonical()?,
    )
    .await?;
    let pdf_update = approval_pdf(node, &checked, &caller.official).await?;
    let agencies = register::local_agencies(node, m.recipients.iter().chain(&m.copies)).await?;
    let mut tx = node.store.begin().await?;
    if !rows::move_state(&mut tx, id, AWAITING, SENT).await? {
        return Err(Error::Conflict(format!(
            "letter {id} was approved meanwhile"
        )));
    }
    approvals::insert_approval(
        &mut tx,
        id,
        &caller.official.nip,
        &now_rfc3339(),
        &cms,
        pdf_update.as_deref(),
    )
    .await?;
    deliver(&mut tx, m).await?;
    register::enter_agenda(&mut tx, node, agencies.iter().map(String::as_str), m).await?;
    let approved = Decision {
        allowed: true,
        policies: vec![],
        alasan: "disetujui sebagai pejabat kedua".into(),
        reason: "approved as the second official".into(),
        policy_version: send.policy_version.clone(),
    };
    node.audit
        .append(
            &mut tx,
            &entry(
                caller,
                "approve",
                Some(id),
                Some(m.classification),
                &approved,
            ),
        )
        .await?;
    let head = node
        .audit
        .append(
            &mut tx,
            &entry(caller, "send", Some(id), Some(m.classification), &send),
        )
        .await?;
    node.audit.commit(tx, &head).await?;
    Ok(Created {
        state: SENT.into(),
        manifest: checked.manifest,
    })
}

/// For a letter the node rendered with an approval field: the approver's PAdES signature in
/// that field, as the update appended to the signed letter (stored beside the approval; the
/// letter's own bytes stay as the manifest binds them). `None` for a letter sent as a file.
async fn approval_pdf(
    node: &Node,
    checked: &Checked,
    approver: &Official,
) -> Result<Option<Vec<u8>>> {
    let Some(original) = original_pdf(node, checked).await? else {
        return Ok(None);
    };
    if !approval::has_slot(&original) {
        return Ok(None);
    }
    let prepared = approval::update(
        &original,
        &Approver {
            name: &approver.name,
            nip: &approver.nip,
            at: time::OffsetDateTime::now_utc(),
        },
    )?;
    let level = checked.manifest.classification;
    let signed = sign_pdf(node, approver, level, prepared, Some(original.len())).await?;
    Ok(Some(signed[original.len()..].to_vec()))
}
