//! The second approvals of letters held by dual control, read back and checked: each is a
//! signature of the approval kind by the approver it names, over the letter's manifest. A
//! letter signature, a destruction record or an application's signature is not an approval.

use time::OffsetDateTime;

use policies::{Action, Context, Document, Principal};

use crate::crypto::revocation::SignatureStatus;
use crate::crypto::signature::{self, Content, Kind};
use crate::letters::documents::{Checked, DUAL_CONTROL, SENT, load_checked};
use crate::node::Node;
use crate::{Error, Result, officials::directory};

/// One checked approval.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Approval {
    pub nip: String,
    pub at: String,
    pub signer: signature::Verified,
    /// The approver's certificate against the current CRL at the time of approving: an
    /// approval signed after its certificate was revoked does not count.
    pub revocation: SignatureStatus,
}

/// The approvals of letter `id`, each checked; any that does not verify is an integrity
/// incident for the whole list.
pub async fn checked(node: &Node, id: &str) -> Result<Vec<Approval>> {
    let letter = load_checked(node, id).await?;
    let manifest = letter.manifest.canonical()?;
    let rows = crate::store::approvals::approvals_of(&node.store, id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let nip = row.nip;
        let cms = row.signature;
        let signer = signature::verify_detached(
            &cms,
            Kind::Approval,
            Content::Bytes(&manifest),
            &node.trust,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| Error::Integrity(format!("approval of letter {id} by {nip}: {e}")))?;
        if signer.nip.as_deref() != Some(nip.as_str()) {
            return Err(Error::Integrity(format!(
                "approval of letter {id}: not signed by {nip}, the approver it names"
            )));
        }
        let at = row.at;
        let revocation = crate::node::revocation::signature_status(node, &signer, Some(&at))?;
        out.push(Approval {
            nip,
            at,
            signer,
            revocation,
        });
    }
    Ok(out)
}

/// A letter of this node past `awaiting_approval` has the second approval its policy asks
/// for: checked, by an approver whose certificate was not revoked before approving. A letter
/// a database writer moved on without one is an integrity incident (logged) and goes nowhere.
/// `doc` is the letter as the policy sees it.
pub async fn required(node: &Node, letter: &Checked, doc: &Document) -> Result<()> {
    let m = &letter.manifest;
    let policy = node.policy.current();
    // Most letters are of a level without dual control: no lookup, no decision on their reads.
    if letter.state != SENT
        || m.node != node.config.node_id
        || !policy.handling().get(m.classification).dual_control
    {
        return Ok(());
    }
    let Some(originator) = directory::get(&node.store, &m.originator).await? else {
        return Ok(());
    };
    let decide = |approvers: Vec<String>| {
        policy.decide(
            &Principal::Official(originator.person()),
            Action::Send,
            doc,
            &Context {
                step_up: true,
                approvers,
                ..Context::default()
            },
        )
    };
    let alone = decide(vec![])?;
    // Only what dual control alone holds back needs an approval; any other refusal (the
    // originator suspended since) is not this check's to make.
    if alone.allowed
        || alone.policies.is_empty()
        || alone.policies.iter().any(|p| p != DUAL_CONTROL)
    {
        return Ok(());
    }
    let approvers = match checked(node, &m.id).await {
        Ok(a) => a
            .into_iter()
            .filter(|a| a.revocation.is_valid())
            .map(|a| a.nip)
            .collect(),
        Err(Error::Integrity(_)) => vec![],
        Err(e) => return Err(e),
    };
    if decide(approvers)?.allowed {
        return Ok(());
    }
    Err(node
        .store
        .integrity()
        .incident(
            &format!("document:{}", m.id),
            &format!(
                "letter {} is past awaiting_approval without a valid second approval (moved on in the database)",
                m.id
            ),
        )
        .await)
}
