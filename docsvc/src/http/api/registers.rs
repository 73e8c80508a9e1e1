//! `/api/v1/registers/{book}`: the agency's registers of outgoing numbers (`keluar`) and of
//! incoming letters (`agenda`), for its secretariat; JSON, or CSV with `format=csv`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Error;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::ApiResult;
use crate::http::problem::responses::{BadInput, NotLoggedIn, Refused, Unavailable};
use crate::letters::register::{self, Ask, Line};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterQuery {
    /// The register's year; this year (WIB) when absent.
    year: Option<i64>,
    /// Words the register's number, the letter's nomor or its perihal contains.
    q: Option<String>,
    /// Lines before this sequence number (the previous page's last `seq`).
    before: Option<i64>,
    /// At most this many lines (1-1000, default 100).
    limit: Option<i64>,
    /// `csv` for a spreadsheet; JSON otherwise.
    format: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/registers/{book}", tag = "registers",
    params(("book" = String, Path, description = "`keluar` or `agenda`"), RegisterQuery),
    responses(
        (status = 200, description = "the lines of the caller's agency's register, newest \
            first; only its secretariat (role `sekretaris`) reads it", body = Vec<Line>),
        BadInput, NotLoggedIn, Refused, Unavailable,
    )
)]
pub(super) async fn register_lines(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(book): Path<String>,
    Query(q): Query<RegisterQuery>,
) -> ApiResult<Response> {
    let book = register::book(&book)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(Error::invalid("format", "format is json or csv").into()),
    };
    if q.year.is_some_and(|y| !(2000..=9999).contains(&y)) {
        return Err(Error::invalid("year", "year is 2000-9999").into());
    }
    let caller = auth.caller();
    let lines = register::read(
        &node,
        &caller.official,
        caller.client.clone(),
        &caller.official.agency,
        book,
        &Ask {
            year: q.year,
            search: q.q.unwrap_or_default(),
            before: q.before,
            limit: q.limit,
        },
    )
    .await?;
    if csv {
        let name = format!("attachment; filename=\"register-{book}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            register::csv(&lines),
        )
            .into_response());
    }
    Ok(Json(lines).into_response())
}
