//! `/api/v1/admin/officials`: administrators list and register officials, fetch a certificate
//! request for an official's signing key, install their certificates and change their status
//! (clearance changes: `official_changes`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, NoSuchLetter, NotLoggedIn, Refused, Unavailable,
};
use crate::officials::directory::Official;

#[utoipa::path(
    get, path = "/api/v1/admin/officials", tag = "admin",
    responses((status = 200, body = Vec<Official>), NotLoggedIn, Refused)
)]
pub(super) async fn admin_list(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<Official>>> {
    Ok(Json(
        crate::officials::admin::list(&node, &auth.official, auth.client.clone()).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/admin/officials", tag = "admin",
    request_body = crate::officials::admin::NewOfficialRequest,
    responses(
        (status = 201, body = crate::officials::admin::Registered),
        BadInput, NotLoggedIn, Refused, Conflict, Unavailable,
    )
)]
pub(super) async fn admin_register(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<crate::officials::admin::NewOfficialRequest>,
) -> ApiResult<(StatusCode, Json<crate::officials::admin::Registered>)> {
    let r =
        crate::officials::admin::register(&node, &auth.official, auth.client.clone(), req).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(
    put, path = "/api/v1/admin/officials/{nip}/certificate", tag = "admin",
    params(("nip" = String, Path, description = "the official's NIP")),
    request_body(content = String, content_type = "application/x-pem-file"),
    responses(
        (status = 204, description = "installed"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter,
    )
)]
pub(super) async fn admin_certificate(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(nip): Path<String>,
    body: String,
) -> ApiResult<StatusCode> {
    crate::officials::admin::install_certificate(
        &node,
        &auth.official,
        auth.client.clone(),
        &nip,
        &body,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/admin/officials/{nip}/csr", tag = "admin",
    params(("nip" = String, Path, description = "the official's NIP")),
    responses(
        (status = 200, description = "a certificate request (PEM) for the official's current signing key, for `keymgr issue official --csr`",
            body = String, content_type = "application/x-pem-file"),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn admin_csr(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(nip): Path<String>,
) -> ApiResult<([(axum::http::HeaderName, &'static str); 1], String)> {
    let pem =
        crate::officials::admin::csr(&node, &auth.official, auth.client.clone(), &nip).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
        pem,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusRequest {
    status: String,
}

#[utoipa::path(
    put, path = "/api/v1/admin/officials/{nip}/status", tag = "admin",
    params(("nip" = String, Path, description = "the official's NIP")),
    request_body = StatusRequest,
    responses((status = 204, description = "changed"), BadInput, NotLoggedIn, Refused, NoSuchLetter)
)]
pub(super) async fn admin_status(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(nip): Path<String>,
    Body2(req): Body2<StatusRequest>,
) -> ApiResult<StatusCode> {
    crate::officials::admin::set_status(
        &node,
        &auth.official,
        auth.client.clone(),
        &nip,
        &req.status,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
