//! The access log's checkpoints (C2SP signed notes) and RFC 9162 proofs: for auditors on
//! `/api/v1/audit`, and for peer nodes, which witness each other, on `/network/v1/log`. A
//! peer's read is not logged (witnesses poll; a checkpoint holds only a size and a root), an
//! auditor's is, like every read of the log.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::Error;
use crate::audit::Entry;
use crate::audit::checkpoint::{self, Consistency, Inclusion};
use crate::http::App;
use crate::http::actor::{Actor, Peer, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{BadInput, NotLoggedIn, Refused, Unavailable};
use crate::network::witness::CosignedDoc;
use crate::node::Node;

/// The content type of a signed note.
const NOTE: &str = "text/plain; charset=utf-8";

/// Only auditors read the log's checkpoints and proofs on the API; each read is logged.
async fn auditor(node: &Node, auth: &Actor<SignedIn>, what: String) -> Result<(), Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let allowed = auth.official.has_role("auditor");
    crate::node::log_alone(
        node,
        &Entry::event(
            format!("official:{}", auth.official.nip),
            "audit_read",
            if allowed { "allow" } else { "deny" },
            if allowed {
                what
            } else {
                format!("{what}: only auditors read the log's checkpoints")
            },
            node.policy.current().version(),
            auth.client.clone(),
        ),
    )
    .await?;
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden {
            alasan: "ditolak: hanya auditor yang membaca checkpoint log akses".into(),
            reason: "denied: only auditors read the access log's checkpoints".into(),
            policies: vec![],
        })
    }
}

async fn signed_checkpoint(node: &Node) -> Result<String, Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    node.audit
        .checkpoint(&node.store, &node.config.node_id)
        .await
}

fn vkey(node: &Node) -> Result<String, Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    Ok(format!(
        "{}\n",
        node.audit.note_key(&node.config.node_id)?.vkey()
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct Sizes {
    /// The earlier tree size (at least 1).
    first: u64,
    /// The later tree size (at most the log's).
    second: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct Leaf {
    /// The entry's index (its sequence number).
    index: u64,
    /// The tree size to prove it in.
    size: u64,
}

#[utoipa::path(
    get, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses(
        (status = 200, description = "the log's latest checkpoint, a C2SP signed note", content_type = "text/plain", body = String),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn audit_checkpoint(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<impl IntoResponse> {
    auditor(&node, &auth, "access log checkpoint".into()).await?;
    Ok((
        [(header::CONTENT_TYPE, NOTE)],
        signed_checkpoint(&node).await?,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/audit/note-key", tag = "audit",
    responses(
        (status = 200, description = "the checkpoints' verifier key (name+hash+key)", content_type = "text/plain", body = String),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn audit_note_key(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<impl IntoResponse> {
    auditor(&node, &auth, "access log note key".into()).await?;
    Ok(([(header::CONTENT_TYPE, NOTE)], vkey(&node)?))
}

#[utoipa::path(
    get, path = "/api/v1/audit/consistency", tag = "audit",
    params(Sizes),
    responses(
        (status = 200, description = "RFC 9162 consistency proof, base64 hashes", body = Consistency),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn audit_consistency(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Query(q): Query<Sizes>,
) -> ApiResult<Json<Consistency>> {
    let what = format!("access log consistency {} -> {}", q.first, q.second);
    auditor(&node, &auth, what).await?;
    Ok(Json(
        checkpoint::consistency(&node.store, q.first, q.second).await?,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/audit/inclusion", tag = "audit",
    params(Leaf),
    responses(
        (status = 200, description = "RFC 9162 inclusion proof with the entry, base64 hashes", body = Inclusion),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn audit_inclusion(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Query(q): Query<Leaf>,
) -> ApiResult<Json<Inclusion>> {
    let what = format!("access log inclusion of {} in {}", q.index, q.size);
    auditor(&node, &auth, what).await?;
    Ok(Json(
        checkpoint::inclusion(&node.store, q.index, q.size).await?,
    ))
}

#[utoipa::path(
    get, path = "/network/v1/log/checkpoint", tag = "network",
    responses(
        (status = 200, description = "this node's latest access log checkpoint", content_type = "text/plain", body = String),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn network_checkpoint(
    State(node): State<App>,
    _peer: Actor<Peer>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        [(header::CONTENT_TYPE, NOTE)],
        signed_checkpoint(&node).await?,
    ))
}

#[utoipa::path(
    get, path = "/network/v1/log/note-key", tag = "network",
    responses(
        (status = 200, description = "the checkpoints' verifier key", content_type = "text/plain", body = String),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn network_note_key(
    State(node): State<App>,
    _peer: Actor<Peer>,
) -> ApiResult<impl IntoResponse> {
    Ok(([(header::CONTENT_TYPE, NOTE)], vkey(&node)?))
}

#[utoipa::path(
    get, path = "/network/v1/log/consistency", tag = "network",
    params(Sizes),
    responses(
        (status = 200, description = "RFC 9162 consistency proof", body = Consistency),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn network_consistency(
    State(node): State<App>,
    _peer: Actor<Peer>,
    Query(q): Query<Sizes>,
) -> ApiResult<Json<Consistency>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        checkpoint::consistency(&node.store, q.first, q.second).await?,
    ))
}

/// A peer's log as this node last witnessed it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct WitnessedDoc {
    node: String,
    size: i64,
    /// The peer's checkpoint with this node's cosignature (C2SP signed note).
    cosigned: String,
    seen_at: String,
    /// The split view seen, if any.
    incident: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/audit/witnessed", tag = "audit",
    responses(
        (status = 200, description = "the peers' access logs as this node last witnessed them", body = Vec<WitnessedDoc>),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn audit_witnessed(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<WitnessedDoc>>> {
    auditor(&node, &auth, "witnessed checkpoints of peers".into()).await?;
    Ok(Json(
        crate::network::witness::held(&node)
            .await?
            .into_iter()
            .map(|w| WitnessedDoc {
                node: w.node,
                size: w.size,
                cosigned: w.cosigned,
                seen_at: w.seen_at,
                incident: w.incident,
            })
            .collect(),
    ))
}

#[utoipa::path(
    get, path = "/network/v1/witnessed", tag = "network",
    responses(
        (status = 200, description = "the logs this node witnessed, each with its cosignature", body = Vec<CosignedDoc>),
        NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn network_witnessed(
    State(node): State<App>,
    _peer: Actor<Peer>,
) -> ApiResult<Json<Vec<CosignedDoc>>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        crate::network::witness::held(&node)
            .await?
            .into_iter()
            .map(|w| CosignedDoc {
                split_view: w.incident.is_some(),
                node: w.node,
                size: w.size,
                cosigned: w.cosigned,
            })
            .collect(),
    ))
}
