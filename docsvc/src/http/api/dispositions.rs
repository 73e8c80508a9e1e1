//! Disposisi on the API: a letter's chain and whom it may go to
//! (`/api/v1/documents/{id}/dispositions`, `.../disposition-candidates`), the caller's own
//! (`/api/v1/dispositions`), reports back with files (`/api/v1/dispositions/{id}/reports`,
//! multipart) and a report's file.

use axum::Json;
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{
    BadInput, Conflict, NoSuchLetter, NotLoggedIn, Refused, TooLarge, Unavailable,
};
use crate::letters::disposition::{
    self, Candidate, NewDisposition, NewReport, Received, ReportFile, Shown,
};
use crate::letters::{documents, incidents};
use crate::{Error, Result};

#[derive(Serialize, ToSchema)]
pub(crate) struct Given {
    /// One disposisi per official it went to.
    pub ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Reported {
    pub id: String,
}

async fn readable(
    node: &crate::node::Node,
    auth: &Actor<SignedIn>,
    id: &str,
) -> Result<documents::Checked> {
    let checked = incidents::load_checked(node, &auth.caller(), id).await?;
    documents::authorise(node, &auth.caller(), policies::Action::Read, &checked).await?;
    Ok(checked)
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/dispositions", tag = "dispositions",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the letter's disposisi, oldest first, with their notes, \
            states and reports", body = Vec<Shown>),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn letter_dispositions(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Shown>>> {
    let checked = readable(&node, &auth, &id).await?;
    Ok(Json(
        disposition::chain(&node, &auth.caller(), &checked).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/documents/{id}/dispositions", tag = "dispositions",
    params(("id" = String, Path, description = "the letter id")),
    request_body = NewDisposition,
    responses(
        (status = 201, description = "given: signed by the caller (after the PIN step-up), \
            one per official", body = Given),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Unavailable,
    )
)]
pub(super) async fn give_disposition(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Json(n): Json<NewDisposition>,
) -> ApiResult<(StatusCode, Json<Given>)> {
    let caller = auth.caller();
    let checked = incidents::load_checked(&node, &caller, &id).await?;
    let ids = disposition::dispose(&node, &caller, &checked, &n).await?;
    Ok((StatusCode::CREATED, Json(Given { ids })))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/disposition-candidates", tag = "dispositions",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the officials of the caller's agency, each with whether \
            the policy lets a disposisi of this letter reach them, and why not", body = Vec<Candidate>),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn disposition_candidates(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Candidate>>> {
    let checked = readable(&node, &auth, &id).await?;
    Ok(Json(
        disposition::candidates(&node, &auth.caller(), &checked).await?,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/dispositions", tag = "dispositions",
    responses(
        (status = 200, description = "the newest 200 disposisi the caller received", body = Vec<Received>),
        NotLoggedIn, Unavailable,
    )
)]
pub(super) async fn my_dispositions(
    State(node): State<App>,
    auth: Actor<SignedIn>,
) -> ApiResult<Json<Vec<Received>>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        disposition::received(&node, &auth.caller().official).await?,
    ))
}

/// The most a report's form may send: its files, and 16 small fields.
pub(crate) const REPORT_FORM: usize = disposition::MAX_BYTES + 16 * SMALL_FIELD;
const SMALL_FIELD: usize = 32 * 1024;
const MAX_PARTS: usize = 16;

/// `req`'s body as a multipart form, cut off past [`REPORT_FORM`] bytes.
pub(crate) async fn bounded_form(node: &App, req: Request) -> Result<Multipart> {
    let (budget, req) = crate::http::limits::budgeted(req);
    budget.limit(REPORT_FORM);
    <Multipart as axum::extract::FromRequest<App>>::from_request(req, node)
        .await
        .map_err(|r| Error::invalid("form", r.body_text()))
}

/// A check of a form's first field (name, value), made before the rest is read.
pub(crate) type FirstField<'a> = &'a (dyn Fn(&str, &str) -> Result<()> + Sync);

/// Reads a report's form: `text`, `done` (`true`/`on`), up to five `file` parts, and other
/// small text fields (the web page's `csrf` and `pin`), returned by name. With `first`, the
/// form's first part must be the field `first` checks, and is checked before anything else
/// is read.
pub(crate) async fn report_form(
    form: &mut Multipart,
    first: Option<FirstField<'_>>,
) -> Result<(NewReport, Vec<(String, Zeroizing<String>)>)> {
    let mut n = NewReport {
        text: String::new(),
        done: false,
        files: Vec::new(),
    };
    let mut other: Vec<(String, Zeroizing<String>)> = Vec::new();
    let mut total = 0usize;
    let mut parts = 0usize;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| crate::http::limits::form_error(&e))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Error::invalid("form", "too many parts"));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && (parts > 1 || first.is_none()) {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let media_type = field.content_type().unwrap_or("").to_owned();
            let left = disposition::MAX_BYTES.saturating_sub(total);
            let bytes =
                crate::http::limits::read_field(&mut field, left, "the report's files").await?;
            total += bytes.len();
            if bytes.is_empty() && file_name.is_empty() {
                continue; // an empty file input
            }
            if n.files.len() == disposition::MAX_FILES {
                return Err(Error::invalid("file", "at most five files"));
            }
            n.files.push(ReportFile {
                name: if file_name.is_empty() {
                    "lampiran".into()
                } else {
                    file_name
                },
                media_type,
                bytes: Zeroizing::new(bytes),
            });
            continue;
        }
        let raw =
            Zeroizing::new(crate::http::limits::read_field(&mut field, SMALL_FIELD, &name).await?);
        let value = Zeroizing::new(
            std::str::from_utf8(&raw)
                .map_err(|_| Error::invalid("form", format!("{name} is not UTF-8")))?
                .to_owned(),
        );
        if parts == 1 {
            if let Some(check) = first {
                check(&name, &value)?;
            }
        }
        let repeated = |n: &str| other.iter().any(|(k, _)| k == n);
        match name.as_str() {
            "text" if n.text.is_empty() => n.text = value.to_string(),
            "done" if !n.done => n.done = matches!(value.as_str(), "true" | "on" | "1"),
            "text" | "done" => return Err(Error::invalid("form", format!("{name} twice"))),
            _ if repeated(&name) => return Err(Error::invalid("form", format!("{name} twice"))),
            _ => other.push((name, value)),
        }
    }
    if let (0, Some(check)) = (parts, first) {
        // Not even the token: refused as a form without it.
        check("", "")?;
    }
    Ok((n, other))
}

#[utoipa::path(
    post, path = "/api/v1/dispositions/{id}/reports", tag = "dispositions",
    params(("id" = String, Path, description = "the disposisi id")),
    request_body(content_type = "multipart/form-data", description = "`text`, `done` \
        (`true` when the instruction is carried out) and up to five `file` parts, 4 MiB together"),
    responses(
        (status = 201, description = "reported, signed by the caller (after the PIN step-up)", body = Reported),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, TooLarge, Unavailable,
    )
)]
pub(super) async fn report_disposition(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<Reported>)> {
    let caller = auth.caller();
    // Whose it is, before a byte of the body is read.
    let letter = disposition::letter_of(&node, &caller, &id).await?;
    let checked = incidents::load_checked(&node, &caller, &letter).await?;
    let mut form = bounded_form(&node, req).await?;
    let (n, _) = report_form(&mut form, None).await?;
    let id = disposition::report(&node, &caller, &checked, &id, n).await?;
    Ok((StatusCode::CREATED, Json(Reported { id })))
}

#[utoipa::path(
    get, path = "/api/v1/disposition-reports/{id}/files/{n}", tag = "dispositions",
    params(
        ("id" = String, Path, description = "the report id"),
        ("n" = usize, Path, description = "the file's place in the report, from 0"),
    ),
    responses(
        (status = 200, description = "the file, as a download (the export logged)"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn report_file(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path((id, n)): Path<(String, usize)>,
) -> ApiResult<Response> {
    let turn = documents::reading_turn(&node, &auth.official.nip).await?;
    let caller = auth.caller();
    let letter = disposition::letter_of_report(&node, &id).await?;
    let checked = incidents::load_checked(&node, &caller, &letter).await?;
    let f = disposition::file(&node, &caller, &checked, &id, n).await?;
    let mut headers = HeaderMap::new();
    crate::letters::content::set_headers(&mut headers, &f.media_type, &f.name, true);
    let resp = (headers, f.bytes.to_vec()).into_response();
    Ok(crate::http::holding(turn, resp))
}
