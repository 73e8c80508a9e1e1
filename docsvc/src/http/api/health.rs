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
pub(super) async fn metrics(State(node): State<App>, headers: axum::http::HeaderMap) -> Response {
    let m = &node.metrics;
    m.sealed.set(i64::from(node.is_sealed()));
    m.set_log_lines_dropped(crate::logging::dropped_lines());
    crate::node::revocation::set_metrics(&node);
    // What the database says: left as it was if it does not answer (the node's other metrics
    // and /readyz say so).
    if let Ok(states) = crate::transmit::deliveries_by_state(&node).await {
        m.deliveries.clear();
        // Every state present, at 0 when empty: an alert on `dead` sees a series.
        for state in ["queued", "sent", "delivered", "failed", "dead"] {
            m.deliveries
                .get_or_create(&crate::metrics::StateLabel {
                    state: state.to_owned(),
                })
                .set(0);
        }
        for (state, n) in states {
            m.deliveries
                .get_or_create(&crate::metrics::StateLabel { state })
                .set(n);
        }
    }
    if !node.is_sealed()
        && let Ok(held) = crate::network::witness::held(&node).await
    {
        let split = held.iter().filter(|w| w.incident.is_some()).count();
        m.split_views_held
            .set(i64::try_from(split).unwrap_or(i64::MAX));
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        m.render(openmetrics),
    )
        .into_response()
}
