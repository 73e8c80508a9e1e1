//! The HTTP API under `/api/v1` and `/network/v1`, health and metrics: the router, the OpenAPI
//! document made from the handlers' annotations, and the JSON body extractor the handlers
//! share. One module per resource; who may call is [`crate::http::actor`], how errors answer
//! [`crate::http::problem`]. The serve loop is `server`.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::Error;
use crate::http::problem::{ApiResult, Problem, ProblemDoc};
use crate::letters::documents::Mailbox;
use crate::metrics::Metrics;

pub use crate::http::App;
pub use crate::http::actor::{CSRF_HEADER, Conn, SESSION_COOKIE};

mod admin;
mod applications;
mod audit;
mod checkpoints;
mod copies;
mod delegations;
pub(crate) mod dispositions;
mod drafts;
mod enrolment;
mod health;
mod letters;
mod mandates;
mod network;
mod official_changes;
mod recipient;
mod registers;
mod session;
mod signing;
mod sys;
mod threads;

/// JSON bodies with a problem response for anything malformed (unknown fields, wrong types,
/// bad UTF-8), instead of axum's plain-text rejection.
#[derive(Debug)]
pub struct Body2<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body2<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> ApiResult<Self> {
        // JSON requests are small; anything over 1 MiB is refused, not buffered.
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .map_err(|_| Error::TooLarge("a JSON request body is at most 1 MiB".into()))?;
        serde_json::from_slice(&bytes)
            .map(Body2)
            .map_err(|e| Error::invalid("JSON body", format!("invalid JSON body: {e}")).into())
    }
}

async fn count(State(node): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    Metrics::inc(&node.metrics.requests);
    if resp.status().is_client_error() {
        Metrics::inc(&node.metrics.client_errors);
    } else if resp.status().is_server_error() {
        Metrics::inc(&node.metrics.server_errors);
    }
    match resp.extensions().get::<crate::http::request_log::Failure>() {
        Some(crate::http::request_log::Failure("integrity")) => {
            Metrics::inc(&node.metrics.integrity_incidents);
        }
        Some(crate::http::request_log::Failure("log-unavailable")) => {
            Metrics::inc(&node.metrics.log_unavailable);
        }
        _ => {}
    }
    resp
}

/// axum's extractors refuse a query, path or body that does not parse with a plain-text
/// answer; every error of this API is an RFC 9457 problem document, so those are rewritten.
async fn problem_for_rejections(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/") || req.uri().path().starts_with("/network/");
    let resp = next.run(req).await;
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !api || !plain || !resp.status().is_client_error() {
        return resp;
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Problem(if status == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge(text)
    } else {
        Error::invalid("request", text)
    })
    .into_response()
}

async fn not_found() -> Problem {
    Problem(Error::NotFound("no such endpoint".into()))
}

#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "sandi docsvc",
    description = "Classified letters: classify, encrypt, sign, store, log. Officials use a session \
cookie with a CSRF token (`x-csrf-token`) on every change and a PIN step-up; applications use \
mutual TLS with a Network CA client certificate. Errors are RFC 9457 problem documents."
    ),
    // Mailbox: used by a query parameter, which does not register its schema by itself;
    // ProblemDoc: named by the shared problem responses, which do not register it either.
    components(schemas(Mailbox, ProblemDoc))
)]
struct ApiDoc;

/// The routes and the OpenAPI document made from the same annotations, so that the document
/// lists exactly what the server serves.
fn routes() -> (Router<App>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(sys::seal_status))
        .routes(routes!(sys::unseal))
        .routes(routes!(session::login, session::logout))
        .routes(routes!(session::step_up))
        .routes(routes!(session::me))
        .routes(routes!(session::set_recipient))
        .routes(routes!(enrolment::enrol))
        .routes(routes!(enrolment::change_password))
        .routes(routes!(enrolment::change_pin))
        .routes(routes!(recipient::confirm_recipient))
        .routes(routes!(
            delegations::grant_delegation,
            delegations::list_delegations
        ))
        .routes(routes!(delegations::revoke_delegation))
        .routes(routes!(letters::list_documents, letters::create_document))
        .routes(routes!(letters::get_document))
        .routes(routes!(letters::get_content))
        .routes(routes!(letters::get_manifest))
        .routes(routes!(letters::get_signature))
        .routes(routes!(letters::approve_document))
        .routes(routes!(letters::reclassify_document))
        .routes(routes!(letters::document_deliveries))
        .routes(routes!(letters::document_versions))
        .routes(routes!(letters::destroy_document))
        .routes(routes!(letters::destruction_record))
        .routes(routes!(letters::export_document))
        .routes(routes!(copies::make_copy, copies::copy_register))
        .routes(routes!(admin::admin_list, admin::admin_register))
        .routes(routes!(admin::admin_certificate))
        .routes(routes!(admin::admin_csr))
        .routes(routes!(admin::admin_status))
        .routes(routes!(enrolment::admin_reset))
        .routes(routes!(applications::admin_register_application))
        .routes(routes!(applications::admin_application_certificates))
        .routes(routes!(applications::admin_application_status))
        .routes(routes!(official_changes::admin_clearance))
        .routes(routes!(official_changes::admin_changes))
        .routes(routes!(official_changes::approve_change))
        .routes(routes!(official_changes::reject_change))
        .routes(routes!(signing::sign))
        .routes(routes!(signing::verify))
        .routes(routes!(audit::audit_proof))
        .routes(routes!(checkpoints::audit_checkpoint))
        .routes(routes!(checkpoints::audit_note_key))
        .routes(routes!(checkpoints::audit_consistency))
        .routes(routes!(checkpoints::audit_inclusion))
        .routes(routes!(checkpoints::audit_witnessed))
        .routes(routes!(registers::register_lines))
        .routes(routes!(
            dispositions::letter_dispositions,
            dispositions::give_disposition
        ))
        .routes(routes!(dispositions::disposition_candidates))
        .routes(routes!(dispositions::my_dispositions))
        .routes(routes!(dispositions::report_disposition))
        .routes(routes!(dispositions::report_file))
        .routes(routes!(threads::document_thread))
        .routes(routes!(drafts::create_draft, drafts::list_drafts))
        .routes(routes!(drafts::get_draft, drafts::revise_draft))
        .routes(routes!(drafts::draft_step))
        .routes(routes!(drafts::correct_draft))
        .routes(routes!(mandates::grant_mandate, mandates::list_mandates))
        .routes(routes!(mandates::revoke_mandate))
        .routes(routes!(network::network_hello))
        .routes(routes!(network::network_official))
        .routes(routes!(network::network_letters))
        .routes(routes!(checkpoints::network_checkpoint))
        .routes(routes!(checkpoints::network_note_key))
        .routes(routes!(checkpoints::network_consistency))
        .routes(routes!(checkpoints::network_witnessed))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of the API, as `/api/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The router.
pub fn router(node: App) -> Router {
    let max_body =
        usize::try_from(node.config.max_body_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let (routes, doc) = routes();
    let doc = Arc::new(doc);
    routes
        .merge(crate::http::web::routes())
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(crate::http::limits::bound_bodies))
        .layer(middleware::from_fn(problem_for_rejections))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(Arc::clone(&node), count))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&node),
            crate::http::request_log::line,
        ))
        .layer(middleware::from_fn(crate::http::security_headers::add))
        .with_state(node)
}
