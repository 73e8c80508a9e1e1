//! `/api/v1/audit`: inclusion proofs of access-log entries.

use axum::Json;
use axum::extract::{Path, State};

use crate::Error;
use crate::audit::Entry;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{BadInput, NoSuchLetter, NotLoggedIn, Refused};
use crate::store::views;

#[utoipa::path(
    get, path = "/api/v1/audit/proof/{seq}", tag = "audit",
    params(("seq" = u64, Path, description = "the entry's sequence number")),
    responses(
        (status = 200, body = crate::audit::Proof),
        BadInput, NotLoggedIn, Refused, NoSuchLetter,
    )
)]
pub(super) async fn audit_proof(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(seq): Path<u64>,
) -> ApiResult<Json<crate::audit::Proof>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let entry = crate::audit::entry_at(&node.store, seq)
        .await?
        .ok_or_else(|| Error::NotFound(format!("log entry {seq}")))?;
    // Auditors read the whole log; an official reads the entries they caused and those
    // about letters they originated.
    let me = format!("official:{}", auth.official.nip);
    let own_letter = match &entry.document {
        Some(id) => views::originator(&node.store, id)
            .await?
            .is_some_and(|o| o == auth.official.nip),
        None => false,
    };
    if !(auth.official.has_role("auditor") || entry.actor == me || own_letter) {
        crate::node::log_alone(
            &node,
            &Entry::event(
                me,
                "audit_read",
                "deny",
                format!(
                    "log entry {seq}: only auditors, its actor and the letter's originator read it"
                ),
                node.policy.current().version(),
                auth.client.clone(),
            ),
        )
        .await?;
        return Err(Error::Forbidden {
            alasan: "ditolak: hanya auditor, pelaku, atau pembuat naskah yang membaca entri log ini"
                .into(),
            reason: "denied: only auditors, the entry's actor or the letter's originator read this log entry"
                .into(),
            policies: vec![],
        }
        .into());
    }
    let proof = crate::audit::proof(&node.store, seq).await?;
    let read = format!("log entry {seq}: inclusion proof at size {}", proof.size);
    let e = Entry::event(
        me,
        "audit_read",
        "allow",
        read,
        node.policy.current().version(),
        auth.client.clone(),
    );
    crate::node::log_alone(&node, &e).await?;
    Ok(Json(proof))
}
