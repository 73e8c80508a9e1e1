//! `/api/v1/me/recipient/confirm`: the second step of registering a personal age recipient.
//! See [`crate::officials::recipient`].

use axum::extract::State;
use axum::http::StatusCode;

use super::{ApiResult, App, Authed, Body2, ProblemDoc};
use crate::officials::recipient::{self, Confirm};

#[utoipa::path(post, path = "/api/v1/me/recipient/confirm", tag = "session", request_body = Confirm, responses((status = 204, description = "registered"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "a wrong or expired answer (the challenge is used up), or CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "no pending challenge", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn confirm_recipient(
    State(node): State<App>,
    auth: Authed,
    Body2(c): Body2<Confirm>,
) -> ApiResult<StatusCode> {
    recipient::confirm(&node, &auth.caller(), &c).await?;
    Ok(StatusCode::NO_CONTENT)
}
