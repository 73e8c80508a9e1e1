//! Problem documents (RFC 9457): how every error of the API answers, their schema, and the
//! problem responses the OpenAPI document names, each written once here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::Error;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details response (RFC 9457).
#[derive(Debug)]
pub struct Problem(pub Error);

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem(e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = if status.is_server_error() && e.problem_type() == "internal" {
            // The operator's log has the detail; the client gets no internals.
            tracing::error!(error = %e, "internal error");
            "internal error; the operator's log has the details".to_owned()
        } else {
            e.to_string()
        };
        let mut body = json!({
            "type": format!("urn:sandi:problem:{}", e.problem_type()),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Error::Forbidden {
            alasan,
            reason,
            policies,
        } = &e
        {
            body["alasan"] = json!(alasan);
            body["reason"] = json!(reason);
            body["policies"] = json!(policies);
        }
        let mut resp = (status, Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        crate::http::request_log::mark(&mut resp, &e);
        resp
    }
}

/// A handler's answer: its value, or a problem document.
pub type ApiResult<T> = Result<T, Problem>;

/// The problem document every error answers with (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// Stable per error: `urn:sandi:problem:…`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For a policy refusal: the reason in Indonesian.
    pub alasan: Option<String>,
    /// For a policy refusal: the reason in English.
    pub reason: Option<String>,
    /// For a policy refusal: the policies that decided.
    pub policies: Option<Vec<String>>,
}

/// The problem responses most operations list, named once: an operation's `responses(...)`
/// names them beside its own, e.g. `responses((status = 200, body = X), BadInput, NotLoggedIn)`.
/// Each documents a [`ProblemDoc`] body of type [`PROBLEM_JSON`].
pub mod responses {
    use super::{PROBLEM_JSON, ProblemDoc};

    /// 400.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(status = 400, description = "bad input", content_type = PROBLEM_JSON)]
    pub struct BadInput(pub ProblemDoc);

    /// 401.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 401,
        description = "not logged in, session expired, or no valid client certificate",
        content_type = PROBLEM_JSON
    )]
    pub struct NotLoggedIn(pub ProblemDoc);

    /// 403, where the policy or the CSRF check may refuse.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 403,
        description = "refused by the policy (with its reasons) or by CSRF",
        content_type = PROBLEM_JSON
    )]
    pub struct Refused(pub ProblemDoc);

    /// 404 of a letter.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 404,
        description = "no such letter, or not visible to the caller",
        content_type = PROBLEM_JSON
    )]
    pub struct NoSuchLetter(pub ProblemDoc);

    /// 409.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(status = 409, description = "conflict", content_type = PROBLEM_JSON)]
    pub struct Conflict(pub ProblemDoc);

    /// 410.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 410,
        description = "the letter was destroyed after its retention",
        content_type = PROBLEM_JSON
    )]
    pub struct Destroyed(pub ProblemDoc);

    /// 413.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(status = 413, description = "body too large", content_type = PROBLEM_JSON)]
    pub struct TooLarge(pub ProblemDoc);

    /// 500 of stored data.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 500,
        description = "stored data failed its integrity check",
        content_type = PROBLEM_JSON
    )]
    pub struct Corrupted(pub ProblemDoc);

    /// 503.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 503,
        description = "sealed, the access log cannot be written, a CRL is not current, the TSA gives no time-stamp, or busy (the node, or the caller's share of it: `busy`, try again shortly)",
        content_type = PROBLEM_JSON
    )]
    pub struct Unavailable(pub ProblemDoc);
}
