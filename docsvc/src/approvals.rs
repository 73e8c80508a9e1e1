//! The second approvals of letters held by dual control, read back and checked: each is a
//! signature of the approval kind by the approver it names, over the letter's manifest. A
//! letter signature, a destruction record or an application's signature is not an approval.

use sqlx::Row;
use time::OffsetDateTime;

use crate::documents::load_checked;
use crate::node::Node;
use crate::signature::{self, Content, Kind};
use crate::{Error, Result};

/// One checked approval.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Approval {
    pub nip: String,
    pub at: String,
    pub signer: signature::Verified,
}

/// The approvals of letter `id`, each checked; any that does not verify is an integrity
/// incident for the whole list.
pub async fn checked(node: &Node, id: &str) -> Result<Vec<Approval>> {
    let letter = load_checked(node, id).await?;
    let manifest = letter.manifest.canonical()?;
    let rows = sqlx::query(
        "SELECT nip, at, signature FROM approvals WHERE document_id = $1 ORDER BY at, nip",
    )
    .bind(id)
    .fetch_all(node.store.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let nip: String = row.try_get("nip")?;
        let cms: Vec<u8> = row.try_get("signature")?;
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
        out.push(Approval {
            nip,
            at: row.try_get("at")?,
            signer,
        });
    }
    Ok(out)
}
