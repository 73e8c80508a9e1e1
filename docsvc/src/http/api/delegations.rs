//! `/api/v1/me/delegations`: an official grants (with the PIN step-up), lists and revokes their
//! own consents for applications to sign with their key. See [`crate::officials::delegation`].

use axum::Json;
use axum::extract::{Path, State};

use super::{ApiResult, App, Authed, Body2, ProblemDoc};
use crate::officials::delegation::{self, Delegation, Grant};

#[utoipa::path(post, path = "/api/v1/me/delegations", tag = "session", request_body = Grant, responses((status = 200, body = Delegation), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused: the PIN step-up is needed, or CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn grant_delegation(
    State(node): State<App>,
    auth: Authed,
    Body2(g): Body2<Grant>,
) -> ApiResult<Json<Delegation>> {
    Ok(Json(delegation::grant(&node, &auth.caller(), &g).await?))
}

#[utoipa::path(get, path = "/api/v1/me/delegations", tag = "session", responses((status = 200, body = Vec<Delegation>), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn list_delegations(
    State(node): State<App>,
    auth: Authed,
) -> ApiResult<Json<Vec<Delegation>>> {
    Ok(Json(delegation::list(&node, &auth.official.nip).await?))
}

#[utoipa::path(delete, path = "/api/v1/me/delegations/{id}", tag = "session", params(("id" = String, Path, description = "the delegation id")), responses((status = 200, body = Delegation), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such delegation of the caller's", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn revoke_delegation(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Delegation>> {
    Ok(Json(delegation::revoke(&node, &auth.caller(), &id).await?))
}
