//! `/api/v1/admin/...`: clearance changes and the second approval of registrations and raised
//! clearances. See [`crate::officials::changes`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::responses::{BadInput, NotLoggedIn};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::officials::changes::{self, Change, ClearanceRequest};

#[utoipa::path(
    put, path = "/api/v1/admin/officials/{nip}/clearance", tag = "admin",
    params(("nip" = String, Path, description = "the official's NIP")),
    request_body = ClearanceRequest,
    responses(
        (status = 202, description = "a raise, pending a second approval", body = Change),
        (status = 204, description = "lowered"),
        (status = 403,
            description = "not an administrator, above the administrator's own clearance, or CSRF",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        (status = 404, description = "no such official", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn admin_clearance(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(nip): Path<String>,
    Body2(req): Body2<ClearanceRequest>,
) -> ApiResult<Response> {
    let pending = crate::officials::admin::set_clearance(
        &node,
        &auth.official,
        auth.client.clone(),
        &nip,
        req.clearance,
    )
    .await?;
    Ok(match pending {
        Some(c) => (StatusCode::ACCEPTED, Json(c)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[utoipa::path(
    get, path = "/api/v1/admin/changes", tag = "admin",
    responses(
        (status = 200, body = Vec<Change>),
        (status = 403, description = "not an administrator", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn admin_changes(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<Change>>> {
    Ok(Json(
        crate::officials::admin::pending(&node, &auth.official).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/admin/changes/{id}/approve", tag = "admin",
    params(("id" = String, Path, description = "the change id")),
    responses(
        (status = 200, body = Change),
        (status = 403,
            description = "not a second pengelola_sandi cleared for it with the PIN step-up, or CSRF",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        (status = 404, description = "no such change", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        (status = 409, description = "already decided", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn approve_change(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Change>> {
    Ok(Json(
        changes::decide(&node, &auth.caller(), &id, true).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/admin/changes/{id}/reject", tag = "admin",
    params(("id" = String, Path, description = "the change id")),
    responses(
        (status = 200, body = Change),
        (status = 403,
            description = "not a second pengelola_sandi with the PIN step-up, or CSRF",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        (status = 404, description = "no such change", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        (status = 409, description = "already decided", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn reject_change(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Change>> {
    Ok(Json(
        changes::decide(&node, &auth.caller(), &id, false).await?,
    ))
}
