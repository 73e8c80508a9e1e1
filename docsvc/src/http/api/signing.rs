//! `/api/v1/sign` and `/api/v1/verify`: the signing API for applications (mutual TLS).

use axum::Json;
use axum::extract::State;

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, Application};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{BadInput, NotLoggedIn, Refused, Unavailable};

#[utoipa::path(
    post, path = "/api/v1/sign", tag = "signing",
    request_body = crate::signing::SignRequest,
    responses(
        (status = 200, body = crate::signing::SignResponse),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn sign(
    State(node): State<App>,
    auth: Actor<Application>,
    Body2(req): Body2<crate::signing::SignRequest>,
) -> ApiResult<Json<crate::signing::SignResponse>> {
    Ok(Json(
        crate::signing::sign(&node, &auth.who, auth.client, &req).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/verify", tag = "signing",
    request_body = crate::signing::VerifyRequest,
    responses(
        (status = 200, body = crate::signing::VerifyResponse),
        BadInput, NotLoggedIn, Unavailable,
    )
)]
pub(super) async fn verify(
    State(node): State<App>,
    auth: Actor<Application>,
    Body2(req): Body2<crate::signing::VerifyRequest>,
) -> ApiResult<Json<crate::signing::VerifyResponse>> {
    Ok(Json(
        crate::signing::verify(&node, &auth.who, auth.client, &req).await?,
    ))
}
