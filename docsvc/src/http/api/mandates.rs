//! `/api/v1/mandates`: a head grants (with the PIN step-up), lists and revokes mandates for
//! another official to sign on their behalf (a.n., Plt., Plh.). See [`crate::letters::mandate`].

use axum::Json;
use axum::extract::{Path, State};

use super::Body2;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::responses::{BadInput, NotLoggedIn};
use crate::http::problem::{ApiResult, PROBLEM_JSON, ProblemDoc};
use crate::letters::mandate::{self, MandateView, NewMandate};

#[utoipa::path(
    post, path = "/api/v1/mandates", tag = "letters",
    request_body = NewMandate,
    responses(
        (status = 200, body = MandateView),
        (status = 403, description = "refused: the PIN step-up is needed, the delegate may not \
            sign at that level, or CSRF", body = ProblemDoc, content_type = PROBLEM_JSON),
        (status = 409, description = "another Plt. or Plh. runs on some of those days",
            body = ProblemDoc, content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn grant_mandate(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Body2(n): Body2<NewMandate>,
) -> ApiResult<Json<MandateView>> {
    Ok(Json(mandate::grant(&node, &auth.caller(), &n).await?))
}

#[utoipa::path(
    get, path = "/api/v1/mandates", tag = "letters",
    responses((status = 200, description = "the mandates the caller gave or holds, newest first",
        body = Vec<MandateView>), BadInput, NotLoggedIn)
)]
pub(super) async fn list_mandates(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<MandateView>>> {
    Ok(Json(mandate::list(&node, &auth.official.nip).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/mandates/{id}", tag = "letters",
    params(("id" = String, Path, description = "the mandate id")),
    responses(
        (status = 200, body = MandateView),
        (status = 403, description = "refused by CSRF", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        (status = 404, description = "no such mandate given by the caller", body = ProblemDoc,
            content_type = PROBLEM_JSON),
        BadInput, NotLoggedIn,
    )
)]
pub(super) async fn revoke_mandate(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<MandateView>> {
    Ok(Json(mandate::revoke(&node, &auth.caller(), &id).await?))
}
