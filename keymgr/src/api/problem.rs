//! Problem documents (RFC 9457): how every error of the online CA's API answers.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Error;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the API answers it.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            kind,
            detail: detail.into(),
        }
    }

    pub(crate) fn unauthenticated() -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this operation needs a client certificate from the Network CA (a node's or an operator's)",
        )
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let (status, kind) = match &e {
            Error::Sealed { .. } => (StatusCode::SERVICE_UNAVAILABLE, "sealed"),
            Error::NotPermitted(_) => (StatusCode::FORBIDDEN, "not-permitted"),
            Error::Enrolment(_) => (StatusCode::FORBIDDEN, "enrolment-refused"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Csr(_) => (StatusCode::UNPROCESSABLE_ENTITY, "csr-rejected"),
            Error::InvalidInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-input"),
            Error::Keystore(
                hsm_shim::Error::MalformedShare(_)
                | hsm_shim::Error::WrongShare { .. }
                | hsm_shim::Error::ShareForOtherKeystore { .. }
                | hsm_shim::Error::DuplicateShare { .. },
            ) => (StatusCode::UNPROCESSABLE_ENTITY, "share-refused"),
            Error::UnknownSerial(_) | Error::NotInLog(_) => (StatusCode::NOT_FOUND, "not-found"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let detail = if status.is_server_error() && kind == "internal" {
            // The operator's terminal has the detail; the client gets no internals.
            tracing::error!(error = %e, "internal error");
            eprintln!("keymgr serve: internal error: {e}");
            "internal error; the operator's log has the details".to_owned()
        } else {
            e.to_string()
        };
        Problem::new(status, kind, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("urn:sandi:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        resp
    }
}
