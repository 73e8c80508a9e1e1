//! `/api/v1/enrol`, `/api/v1/me/password`, `/api/v1/me/pin` and
//! `/api/v1/admin/officials/{nip}/reset`: officials set and change their own secrets; an
//! administrator resets them (a new enrolment code) but never sets or learns them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::Body2;
use crate::Error;
use crate::http::App;
use crate::http::actor::{Actor, Conn, SignedIn};
use crate::http::problem::responses::{
    BadInput, NoSuchLetter, NotLoggedIn, Refused, TooLarge, Unavailable,
};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::officials::enrolment::{self, Code};
use crate::officials::lockout::Secret;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrolRequest {
    nip: String,
    /// The one-time code the administrator handed over (groups of four hex digits).
    code: String,
    /// The password the official chooses: 10 to 256 characters.
    password: String,
    /// The signing PIN the official chooses: 6 to 32 digits, not the password.
    pin: String,
}

#[utoipa::path(
    post, path = "/api/v1/enrol", tag = "session",
    request_body = EnrolRequest,
    responses(
        (status = 204, description = "enrolled: the official logs in with their own password"),
        (status = 401,
            description = "wrong NIP or code, or the code was used or has expired (counted as a failed login)",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, TooLarge, Unavailable,
    )
)]
pub(super) async fn enrol(
    State(node): State<App>,
    conn: Option<axum::Extension<Conn>>,
    Body2(req): Body2<EnrolRequest>,
) -> ApiResult<StatusCode> {
    let (code, password, pin) = (
        Zeroizing::new(req.code),
        Zeroizing::new(req.password),
        Zeroizing::new(req.pin),
    );
    crate::http::limits::check_nip(&req.nip)?;
    let client = conn.map(|c| c.peer.ip().to_string());
    enrolment::enrol(&node, &req.nip, &code, &password, &pin, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeRequest {
    /// The secret as it is now.
    current: String,
    /// The new one.
    new: String,
}

async fn change(
    node: &App,
    auth: &Actor<SignedIn>,
    which: Secret,
    req: ChangeRequest,
) -> ApiResult<StatusCode> {
    let (current, new) = (Zeroizing::new(req.current), Zeroizing::new(req.new));
    enrolment::change(
        node,
        &auth.official.nip,
        which,
        &current,
        &new,
        auth.client.clone(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put, path = "/api/v1/me/password", tag = "session",
    request_body = ChangeRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 429, description = "the password is locked after 5 wrong entries",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn, Refused,
    )
)]
pub(super) async fn change_password(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<ChangeRequest>,
) -> ApiResult<StatusCode> {
    change(&node, &auth, Secret::Password, req).await
}

#[utoipa::path(
    put, path = "/api/v1/me/pin", tag = "session",
    request_body = ChangeRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 429, description = "the signing PIN is locked after 5 wrong entries",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn, Refused,
    )
)]
pub(super) async fn change_pin(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(req): Body2<ChangeRequest>,
) -> ApiResult<StatusCode> {
    change(&node, &auth, Secret::Pin, req).await
}

#[utoipa::path(
    post, path = "/api/v1/admin/officials/{nip}/reset", tag = "admin",
    params(("nip" = String, Path, description = "the official's NIP")),
    responses(
        (status = 200, description = "the official's secrets no longer work and their sessions ended; a new one-time enrolment code", body = Code),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn admin_reset(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(nip): Path<String>,
) -> ApiResult<Json<Code>> {
    crate::http::limits::check_nip(&nip)
        .map_err(|_| Error::NotFound(format!("official {nip:.18}")))?;
    Ok(Json(
        crate::officials::admin::reset(&node, &auth.official, auth.client.clone(), &nip).await?,
    ))
}
