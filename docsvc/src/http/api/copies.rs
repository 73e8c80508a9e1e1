//! `/api/v1/documents/{id}/copies`: numbered copies (salinan) of a signed letter, and their
//! register.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};

use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, Corrupted, NoSuchLetter, NotLoggedIn, Refused, Unavailable,
};
use crate::letters::copies;
use crate::store::copies::CopyRow;

/// The header naming a copy's number and how many the letter has: `N/M`.
const COPY_HEADER: HeaderName = HeaderName::from_static("sandi-copy");

#[utoipa::path(
    post, path = "/api/v1/documents/{id}/copies", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the next numbered copy of the signed PDF, stamped \
            \"Salinan ke-N dari M\" with the caller's name, NIP and time on every page; \
            `sandi-copy: N/M`", content_type = "application/pdf", body = Vec<u8>),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Corrupted, Unavailable,
    )
)]
pub(super) async fn make_copy(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    // Held until the copy is sent: one official's slow downloads take only their own turns.
    let turn = crate::letters::documents::reading_turn(&node, &auth.official.nip).await?;
    let copy = copies::make(&node, &auth.caller(), &id).await?;
    let resp = (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"salinan-{}.pdf\"", copy.number),
            ),
            (COPY_HEADER, format!("{}/{}", copy.number, copy.of)),
        ],
        copy.pdf,
    )
        .into_response();
    Ok(crate::http::holding(turn, resp))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/copies", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the register of the letter's numbered copies, for its \
            originator and auditors", body = Vec<CopyRow>),
        NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn copy_register(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<CopyRow>>> {
    Ok(Json(copies::register(&node, &auth.caller(), &id).await?))
}
