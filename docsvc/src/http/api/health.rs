//! Whether the node lives and serves: `/healthz`, `/readyz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Error;
use crate::http::App;
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};

#[utoipa::path(
    get, path = "/healthz", tag = "node",
    responses((status = 200, description = "the process is alive", body = String))
)]
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(
    get, path = "/readyz", tag = "node",
    responses(
        (status = 200, description = "unsealed and the database answers"),
        (status = 503,
            description = "sealed, the access log cannot be written, or a CRL is missing or stale",
            body = ProblemDoc, content_type = PROBLEM_JSON),
    )
)]
pub(super) async fn readyz(State(node): State<App>) -> ApiResult<Json<serde_json::Value>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    if !node.store.ping().await {
        return Err(Error::LogUnavailable("the database does not answer".into()).into());
    }
    let crls = crate::node::revocation::readiness(&node)?;
    // Split views seen of peers' logs: the node still serves, its operators must know (how
    // many only: which peers, and the evidence, are the auditors').
    let split_views = crate::network::witness::held(&node)
        .await?
        .iter()
        .filter(|w| w.incident.is_some())
        .count();
    Ok(Json(
        json!({ "ready": true, "crls": crls, "witness": { "split_views": split_views } }),
    ))
}

#[utoipa::path(
    get, path = "/metrics", tag = "node",
    responses(
        (status = 200, description = "Prometheus text format", body = String,
            content_type = "text/plain"),
    )
)]
pub(super) async fn metrics(State(node): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(node.is_sealed()) + &crate::node::revocation::render_metrics(&node),
    )
        .into_response()
}
