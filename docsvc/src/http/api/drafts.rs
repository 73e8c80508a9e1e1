//! `/api/v1/drafts`: drafts (konsep) written, revised, submitted, initialled (paraf, with the
//! PIN step-up), returned (koreksi) and signed into letters.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, NoSuchLetter, NotLoggedIn, Refused, Unavailable,
};
use crate::letters::documents::Created;
use crate::letters::draft::{self, DraftLine, DraftView, NewDraft};
use crate::{Error, Result};

#[derive(Serialize, ToSchema)]
pub(crate) struct Made {
    pub id: String,
}

/// A new version of a draft.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Revision {
    pub isi: String,
    #[serde(default)]
    pub perihal: Option<String>,
}

/// A correction (koreksi).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Correction {
    pub comment: String,
}

fn unsealed(node: &App) -> Result<()> {
    if node.is_sealed() {
        Err(Error::Sealed)
    } else {
        Ok(())
    }
}

#[utoipa::path(
    post, path = "/api/v1/drafts", tag = "drafts", request_body = NewDraft,
    responses(
        (status = 201, description = "written: version 1, state `konsep`", body = Made),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn create_draft(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Json(n): Json<NewDraft>,
) -> ApiResult<(StatusCode, Json<Made>)> {
    unsealed(&node)?;
    let id = draft::create(&node, &auth.caller(), &n).await?;
    Ok((StatusCode::CREATED, Json(Made { id })))
}

#[utoipa::path(
    get, path = "/api/v1/drafts", tag = "drafts",
    responses(
        (status = 200, description = "the drafts the caller wrote, reviews or signs, newest \
            first, with whose turn it is", body = Vec<DraftLine>),
        NotLoggedIn, Unavailable,
    )
)]
pub(super) async fn list_drafts(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<DraftLine>>> {
    unsealed(&node)?;
    Ok(Json(draft::list(&node, &auth.caller()).await?))
}

#[utoipa::path(
    get, path = "/api/v1/drafts/{id}", tag = "drafts",
    params(("id" = String, Path, description = "the draft id")),
    responses(
        (status = 200, description = "the draft, its current body and its reviews", body = DraftView),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn get_draft(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<DraftView>> {
    unsealed(&node)?;
    Ok(Json(draft::view(&node, &auth.caller(), &id).await?))
}

#[utoipa::path(
    put, path = "/api/v1/drafts/{id}", tag = "drafts",
    params(("id" = String, Path, description = "the draft id")),
    request_body = Revision,
    responses(
        (status = 200, description = "the new version's number", body = i64),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Unavailable,
    )
)]
pub(super) async fn revise_draft(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Json(r): Json<Revision>,
) -> ApiResult<Json<i64>> {
    unsealed(&node)?;
    let v = draft::revise(&node, &auth.caller(), &id, r.perihal.as_deref(), &r.isi).await?;
    Ok(Json(v))
}

/// One step of a draft's way, by name.
#[utoipa::path(
    post, path = "/api/v1/drafts/{id}/{step}", tag = "drafts",
    params(
        ("id" = String, Path, description = "the draft id"),
        ("step" = String, Path, description = "`submit` (its author), `paraf` (the reviewer \
            whose turn it is, after the PIN step-up) or `sign` (its signer, after the PIN \
            step-up: the letter is made and sent)"),
    ),
    responses(
        (status = 200, description = "done; `sign` answers the letter made", body = Option<Created>),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Unavailable,
    )
)]
pub(super) async fn draft_step(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path((id, step)): Path<(String, String)>,
) -> ApiResult<Json<Option<Created>>> {
    unsealed(&node)?;
    let caller = auth.caller();
    Ok(Json(match step.as_str() {
        "submit" => draft::submit(&node, &caller, &id).await.map(|()| None)?,
        "paraf" => draft::paraf(&node, &caller, &id).await.map(|()| None)?,
        "sign" => Some(draft::sign(&node, &caller, &id).await?),
        _ => return Err(Error::invalid("step", "submit, paraf or sign").into()),
    }))
}

#[utoipa::path(
    post, path = "/api/v1/drafts/{id}/koreksi", tag = "drafts",
    params(("id" = String, Path, description = "the draft id")),
    request_body = Correction,
    responses(
        (status = 204, description = "returned to its author"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Unavailable,
    )
)]
pub(super) async fn correct_draft(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Json(c): Json<Correction>,
) -> ApiResult<StatusCode> {
    unsealed(&node)?;
    draft::koreksi(&node, &auth.caller(), &id, &c.comment).await?;
    Ok(StatusCode::NO_CONTENT)
}
