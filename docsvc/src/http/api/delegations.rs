//! `/api/v1/me/delegations`: an official grants (with the PIN step-up), lists and revokes their
//! own consents for applications to sign with their key. See [`crate::officials::delegation`].

use axum::Json;
use axum::extract::{Path, State};

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::responses::{BadInput, NotLoggedIn};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::officials::delegation::{self, Delegation, Grant};

#[utoipa::path(
    post, path = "/api/v1/me/delegations", tag = "session",
    request_body = Grant,
    responses(
        (status = 200, body = Delegation),
        (status = 403, description = "refused: the PIN step-up is needed, or CSRF",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn grant_delegation(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(g): Body2<Grant>,
) -> ApiResult<Json<Delegation>> {
    Ok(Json(delegation::grant(&node, &auth.caller(), &g).await?))
}

#[utoipa::path(
    get, path = "/api/v1/me/delegations", tag = "session",
    responses((status = 200, body = Vec<Delegation>), BadInput, NotLoggedIn)
)]
pub(super) async fn list_delegations(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<Delegation>>> {
    Ok(Json(delegation::list(&node, &auth.official.nip).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/me/delegations/{id}", tag = "session",
    params(("id" = String, Path, description = "the delegation id")),
    responses(
        (status = 200, body = Delegation),
        (status = 403, description = "refused by CSRF", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        (status = 404, description = "no such delegation of the caller's", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn revoke_delegation(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Delegation>> {
    Ok(Json(delegation::revoke(&node, &auth.caller(), &id).await?))
}
