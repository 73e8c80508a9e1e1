//! `/api/v1/me/recipient/confirm`: the second step of registering a personal age recipient.
//! See [`crate::officials::recipient`].

use axum::extract::State;
use axum::http::StatusCode;

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::responses::{BadInput, NotLoggedIn};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::officials::recipient::{self, Confirm};

#[utoipa::path(
    post, path = "/api/v1/me/recipient/confirm", tag = "session",
    request_body = Confirm,
    responses(
        (status = 204, description = "registered"),
        (status = 403,
            description = "a wrong or expired answer (the challenge is used up), or CSRF",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        (status = 409, description = "no pending challenge", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn confirm_recipient(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(c): Body2<Confirm>,
) -> ApiResult<StatusCode> {
    recipient::confirm(&node, &auth.caller(), &c).await?;
    Ok(StatusCode::NO_CONTENT)
}
