//! `/api/v1/session` and `/api/v1/me`: an official logs in and out, steps up with the PIN, reads
//! who they are and registers their personal age recipient.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Body2;
use crate::Error;
use crate::http::App;
use crate::http::actor::{Actor, Conn, SignedIn, session_cookie};
use crate::http::problem::responses::{BadInput, NotLoggedIn, Refused, TooLarge, Unavailable};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::officials::credentials::{self, LoggedIn};
use crate::officials::directory::Official;
use crate::officials::session;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    nip: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct LoginResponse {
    nip: String,
    name: String,
    csrf: String,
    expires_at: String,
}

#[utoipa::path(
    post, path = "/api/v1/session", tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in; the session cookie is set", body = LoginResponse),
        BadInput, NotLoggedIn, TooLarge, Unavailable,
    )
)]
pub(super) async fn login(
    State(node): State<App>,
    conn: Option<axum::Extension<Conn>>,
    Body2(req): Body2<LoginRequest>,
) -> ApiResult<Response> {
    let password = zeroize::Zeroizing::new(req.password);
    // Validated before it is used or logged: a NIP is 18 digits.
    crate::http::limits::check_nip(&req.nip)?;
    // Sealed answers alike for every NIP: the lookup below would tell known ones apart.
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let client = conn.map(|c| c.peer.ip().to_string());
    let LoggedIn {
        official,
        token,
        session: s,
    } = credentials::log_in(&node, &req.nip, &password, client, "logged in").await??;
    let mut resp = Json(LoginResponse {
        nip: official.nip,
        name: official.name,
        csrf: s.csrf,
        expires_at: crate::rfc3339(s.expires_at),
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, node.config.session_minutes * 60),
    );
    Ok(resp)
}

#[utoipa::path(
    delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "logged out"), NotLoggedIn, Refused)
)]
pub(super) async fn logout(State(node): State<App>, auth: Actor<SignedIn>) -> ApiResult<Response> {
    session::end(&node.store, &auth.token).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StepUpRequest {
    pin: String,
}

#[utoipa::path(
    post, path = "/api/v1/session/step-up", tag = "session",
    request_body = StepUpRequest,
    responses(
        (status = 200, description = "PIN accepted for five minutes"),
        (status = 429,
            description = "the PIN is locked after 5 wrong entries (problem type locked, saying until when)",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn, Refused,
    )
)]
pub(super) async fn step_up(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<StepUpRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let pin = zeroize::Zeroizing::new(req.pin);
    let until = credentials::step_up(
        &node,
        &auth.official.nip,
        &auth.session,
        &pin,
        auth.client.clone(),
    )
    .await?
    .ok_or_else(|| Error::Unauthenticated("wrong signing PIN (PIN salah)".into()))?;
    Ok(Json(json!({ "step_up_until": crate::rfc3339(until) })))
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = Official), NotLoggedIn)
)]
pub(super) async fn me(auth: Actor<SignedIn>) -> Json<Official> {
    Json(auth.who.official)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RecipientRequest {
    recipient: String,
}

#[utoipa::path(
    put, path = "/api/v1/me/recipient", tag = "session",
    request_body = RecipientRequest,
    responses(
        (status = 202,
            description = "a challenge encrypted to the recipient; registered once answered at /api/v1/me/recipient/confirm",
            body = crate::officials::recipient::Challenge),
        BadInput, NotLoggedIn, Refused,
    )
)]
pub(super) async fn set_recipient(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<RecipientRequest>,
) -> ApiResult<(StatusCode, Json<crate::officials::recipient::Challenge>)> {
    // Registered only with proof of possession: see `recipient`.
    let begin = crate::officials::recipient::Begin {
        recipient: req.recipient,
    };
    let challenge = crate::officials::recipient::begin(&node, &auth.caller(), &begin).await?;
    Ok((StatusCode::ACCEPTED, Json(challenge)))
}
