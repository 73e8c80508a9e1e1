//! `/api/v1/documents/{id}/thread`: the letter a letter answers or passes on, and the letters
//! that answer it or pass it on, as far as the caller may read them.

use axum::Json;
use axum::extract::{Path, State};

use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{NoSuchLetter, NotLoggedIn, Refused, Unavailable};
use crate::letters::thread::{self, Thread};
use crate::letters::{documents, incidents};

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/thread", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the letter it answers or passes on (by its nomor alone \
            where the caller may not read it) and the answers the caller may read", body = Thread),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn document_thread(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Thread>> {
    let caller = auth.caller();
    let checked = incidents::load_checked(&node, &caller, &id).await?;
    documents::authorise(&node, &caller, policies::Action::Read, &checked).await?;
    Ok(Json(thread::thread(&node, &caller, &checked).await?))
}
