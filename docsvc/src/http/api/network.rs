//! `/network/v1`: what peer nodes ask of this one (mutual TLS with node certificates): hello,
//! an official's key binding, and letters delivered.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::audit::Entry;
use crate::http::App;
use crate::http::actor::{Actor, Peer};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, NoSuchLetter, NotLoggedIn, Refused, TooLarge, Unavailable,
};
use crate::officials::directory;
use crate::schema::LevelDoc;

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Hello {
    /// This node's id.
    node: String,
    /// The caller, as the network directory names it.
    peer: String,
    directory_version: u64,
}

#[utoipa::path(
    get, path = "/network/v1/hello", tag = "network",
    responses(
        (status = 200, description = "the peer is a node of the network", body = Hello),
        NotLoggedIn, Refused,
    )
)]
pub(super) async fn network_hello(
    State(node): State<App>,
    peer: Actor<Peer>,
) -> ApiResult<Json<Hello>> {
    let version = node
        .network
        .current(&node.store)
        .await?
        .map_or(0, |d| d.version);
    Ok(Json(Hello {
        node: node.config.node_id.clone(),
        peer: peer.who.id,
        directory_version: version,
    }))
}

#[utoipa::path(
    post, path = "/network/v1/letters", tag = "network",
    request_body(content = Vec<u8>, content_type = "application/vnd.sandi.envelope"),
    responses(
        (status = 200, description = "stored (or already here): the signed receipt",
            body = crate::transmit::SignedReceipt),
        BadInput, NotLoggedIn, Refused, Conflict, TooLarge, Unavailable,
    )
)]
pub(super) async fn network_letters(
    State(node): State<App>,
    peer: Actor<Peer>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<crate::transmit::SignedReceipt>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    // Streamed: checked as it comes, the header first (see `receive`).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = Box::pin(body.into_data_stream());
    Ok(Json(
        crate::transmit::receive::deliver(&node, &peer.who, peer.client, declared, body).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LookupQuery {
    /// The level of the letter the key is wanted for: refused (403, logged) if this node may
    /// not hold it.
    #[serde(rename = "for")]
    #[param(value_type = Option<LevelDoc>, rename = "for")]
    level: Option<policies::Level>,
}

#[utoipa::path(
    get, path = "/network/v1/officials/{nip}", tag = "network",
    params(("nip" = String, Path, description = "the official's NIP"), LookupQuery),
    responses(
        (status = 200, description = "the official and their key binding",
            body = crate::network::OfficialCard),
        NotLoggedIn, Refused, NoSuchLetter,
    )
)]
pub(super) async fn network_official(
    State(node): State<App>,
    peer: Actor<Peer>,
    Path(nip): Path<String>,
    Query(q): Query<LookupQuery>,
) -> ApiResult<Json<crate::network::OfficialCard>> {
    crate::http::limits::check_nip(&nip)?;
    if let Some(level) = q.level {
        // Asked ahead of a letter of this level: this node says now whether it may hold it.
        let d = node
            .policy
            .current()
            .decide(
                &policies::Principal::Node {
                    id: node.config.node_id.clone(),
                    accreditation: crate::transmit::receive::own_accreditation(&node).await?,
                    status: policies::Status::Active,
                },
                policies::Action::Receive,
                &policies::Document {
                    id: format!("lookup:{nip}"),
                    classification: level,
                    originator: String::new(),
                    recipients: vec![nip.clone()],
                    copies: vec![],
                    grants: vec![],
                    agency: String::new(),
                    agencies: vec![],
                    compartments: vec![],
                },
                &policies::Context::default(),
            )
            .map_err(Error::from)?;
        if !d.allowed {
            // A refusal on /network/v1: counted, not logged one by one (see `refusals`).
            let key = format!("node:{}", peer.id);
            let entry = Entry::event(
                key.clone(),
                "receive",
                "deny",
                format!("a {} letter for {nip}: {}", level.as_str(), d.reason),
                &d.policy_version,
                peer.client.clone(),
            );
            crate::node::refusals::refused(&node, &key, "receive", entry).await?;
            return Err(Error::Forbidden {
                alasan: d.alasan,
                reason: d.reason,
                policies: d.policies,
            }
            .into());
        }
    }
    let o = directory::get(&node.store, &nip)
        .await?
        .filter(|o| o.status == policies::Status::Active)
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let binding = directory::key_binding(&node.store, &nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("a key binding for official {nip}")))?;
    let binding = serde_json::from_str(&binding)
        .map_err(|e| Error::Integrity(format!("key binding of {nip}: {e}")))?;
    crate::node::log_alone(
        &node,
        &Entry::event(
            format!("node:{}", peer.id),
            "key_lookup",
            "allow",
            format!("official {nip}"),
            node.policy.current().version(),
            peer.client,
        ),
    )
    .await?;
    Ok(Json(crate::network::OfficialCard {
        nip: o.nip,
        name: o.name,
        agency: o.agency,
        clearance: o.clearance,
        binding,
    }))
}
