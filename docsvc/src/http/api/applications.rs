//! `/api/v1/admin/applications`: administrators register an application with its own
//! certificate request and install the certificates keymgr issued for it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, NoSuchLetter, NotLoggedIn, Refused, Unavailable,
};
use crate::officials::application_admin::{
    self, By, Certificates, NewApplicationRequest, RegisteredApplication,
};

#[utoipa::path(
    post, path = "/api/v1/admin/applications", tag = "admin",
    request_body = NewApplicationRequest,
    responses(
        (status = 201, description = "registered, suspended until its certificates are installed; the request for its signing key", body = RegisteredApplication),
        BadInput, NotLoggedIn, Refused, Conflict, Unavailable,
    )
)]
pub(super) async fn admin_register_application(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<NewApplicationRequest>,
) -> ApiResult<(StatusCode, Json<RegisteredApplication>)> {
    let r = application_admin::register(&node, By::Admin(&auth.official), auth.client.clone(), req)
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(
    put, path = "/api/v1/admin/applications/{id}/certificates", tag = "admin",
    params(("id" = String, Path, description = "the application's id")),
    request_body = Certificates,
    responses(
        (status = 204, description = "installed; the application is active"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict,
    )
)]
pub(super) async fn admin_application_certificates(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Body2(certs): Body2<Certificates>,
) -> ApiResult<StatusCode> {
    application_admin::install_certificates(
        &node,
        By::Admin(&auth.official),
        auth.client.clone(),
        &id,
        &certs,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplicationStatus {
    /// `active`, `suspended` or `revoked`.
    status: String,
}

#[utoipa::path(
    put, path = "/api/v1/admin/applications/{id}/status", tag = "admin",
    params(("id" = String, Path, description = "the application's id")),
    request_body = ApplicationStatus,
    responses(
        (status = 204, description = "changed; its next call is judged by the new status"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict,
    )
)]
pub(super) async fn admin_application_status(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Body2(req): Body2<ApplicationStatus>,
) -> ApiResult<StatusCode> {
    application_admin::set_status(
        &node,
        By::Admin(&auth.official),
        auth.client.clone(),
        &id,
        &req.status,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
