//! The online CA's HTTPS API (`keymgr serve --api-listen`), mutual TLS: nodes and operators
//! present client certificates from the Network CA; only the seal status, unsealing, node
//! enrolment (by its one-time token) and this document are open to anyone.
//!
//! ```text
//! GET  /api/v1/sys/status                         {sealed, threshold, received}
//! POST /api/v1/sys/unseal                         {share}            one custodian's share
//! POST /api/v1/enrol/node                         {token, csr_pem}   -> certificate + chain
//! POST /api/v1/nodes/renew                 node   {csr_pem}
//! POST /api/v1/officials/certificate       node   {nip, name, agency, clearance, csr_pem}
//! POST /api/v1/officials/binding           node   {nip, age_recipient}
//! POST /api/v1/applications/certificate    node   {name, agency, csr_pem}
//! GET  /api/v1/directory                 node/operator  the current signed network directory
//! POST /api/v1/directory/proposals         operator   a directory input
//! GET  /api/v1/directory/proposals/{id}    operator
//! POST /api/v1/directory/proposals/{id}/approve  operator (not the proposer) {input_sha256}
//! GET  /api/v1/openapi.json
//! ```
//!
//! Every error is an RFC 9457 problem document; bodies are bounded ([`MAX_BODY`]).

pub mod client;
mod openapi;
pub(crate) mod problem;
mod server;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

pub use problem::PROBLEM_JSON;
pub use server::{Running, ServerFiles, start};

use crate::ca::{self, Ca};
use crate::directory::DirectoryInput;
use crate::issue::Issued;
use crate::online::{ApplicationApply, Caller, OfficialApply, OnlineCa};
use problem::Problem;

/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The client certificate (DER) the connection presented, if any.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerCert(pub(crate) Option<Arc<Vec<u8>>>);

type Shared = Arc<OnlineCa>;
type ApiResult = Result<Response, Problem>;

/// The API's routes over an online CA (without the connection's client certificate, which the
/// server adds per connection).
pub fn routes(ca: Arc<OnlineCa>) -> Router {
    Router::new()
        .route("/api/v1/sys/status", get(status))
        .route("/api/v1/sys/unseal", post(unseal))
        .route("/api/v1/enrol/node", post(enrol_node))
        .route("/api/v1/nodes/renew", post(renew_node))
        .route("/api/v1/officials/certificate", post(official_certificate))
        .route("/api/v1/officials/binding", post(official_binding))
        .route(
            "/api/v1/applications/certificate",
            post(application_certificate),
        )
        .route("/api/v1/directory", get(directory))
        .route("/api/v1/directory/proposals", post(propose))
        .route("/api/v1/directory/proposals/{id}", get(proposal))
        .route("/api/v1/directory/proposals/{id}/approve", post(approve))
        .route("/api/v1/openapi.json", get(openapi_json))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "not-found", "no such operation").into_response()
        })
        .with_state(ca)
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes.
async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, Problem> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("request bodies are at most {MAX_BODY} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("the body is not the JSON this operation takes: {e}"),
        )
    })
}

/// A PEM certificate request's DER.
fn csr_der(pem: &str) -> crate::Result<Vec<u8>> {
    if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----") {
        return Err(crate::Error::Csr(
            "csr_pem holds no PEM CERTIFICATE REQUEST".into(),
        ));
    }
    ca::pem_to_der(pem).ok_or_else(|| crate::Error::Csr("csr_pem is not valid PEM".into()))
}

/// Who is calling: a node or an operator, or a 401/403 problem (logged once unsealed).
async fn caller(ca: &OnlineCa, peer: &PeerCert, route: &str) -> Result<Caller, Problem> {
    let Some(der) = &peer.0 else {
        return Err(Problem::unauthenticated());
    };
    ca.identify(der).await.map_err(|e| {
        ca.refused(route, None, &e);
        Problem::from(e)
    })
}

/// The answer to an authenticated request: its value, or its refusal, logged.
fn finish<T: serde::Serialize>(
    ca: &OnlineCa,
    route: &str,
    who: &Caller,
    r: crate::Result<T>,
) -> ApiResult {
    match r {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => {
            if !matches!(e, crate::Error::Sealed { .. }) {
                ca.refused(route, Some(who), &e);
            }
            Err(e.into())
        }
    }
}

/// A certificate and its chain up to the root.
fn certificate(ca: &OnlineCa, issued: &Issued) -> crate::Result<serde_json::Value> {
    let issuing_ca = issued.record.issuer;
    let mut chain = ca::der_to_pem(&ca.home().cert_der(issuing_ca)?);
    chain.push_str(&ca::der_to_pem(&ca.home().cert_der(Ca::Root)?));
    Ok(json!({
        "certificate_pem": issued.certificate_pem(),
        "chain_pem": chain,
        "serial": issued.record.serial,
        "not_after": issued.record.not_after,
    }))
}

async fn status(State(ca): State<Shared>) -> Response {
    Json(ca.status()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsealBody {
    /// One custodian's share of the online keystore (`sandi-share-v1.…`).
    share: String,
}

async fn unseal(State(ca): State<Shared>, body: Body) -> ApiResult {
    let req: UnsealBody = read_json(body).await?;
    let share = zeroize::Zeroizing::new(req.share);
    let s = ca.submit_share(share.trim())?;
    if !s.sealed {
        println!("unsealed by the custodians over the API");
    }
    Ok(Json(s).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolBody {
    token: String,
    csr_pem: String,
}

async fn enrol_node(State(ca): State<Shared>, body: Body) -> ApiResult {
    let req: EnrolBody = read_json(body).await?;
    let token = zeroize::Zeroizing::new(req.token);
    let issued = ca.enrol_node(&token, &csr_der(&req.csr_pem)?).await?;
    Ok(Json(certificate(&ca, &issued)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsrBody {
    csr_pem: String,
}

async fn renew_node(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "nodes/renew";
    let who = caller(&ca, &peer, ROUTE).await?;
    let req: CsrBody = read_json(body).await?;
    let r = async {
        let issued = ca.renew_node(&who, &csr_der(&req.csr_pem)?).await?;
        certificate(&ca, &issued)
    };
    finish(&ca, ROUTE, &who, r.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficialBody {
    nip: String,
    name: String,
    agency: String,
    clearance: String,
    csr_pem: String,
}

async fn official_certificate(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "officials/certificate";
    let who = caller(&ca, &peer, ROUTE).await?;
    let req: OfficialBody = read_json(body).await?;
    let apply = OfficialApply {
        nip: req.nip,
        name: req.name,
        agency: req.agency,
        clearance: req.clearance,
    };
    let r = async {
        let issued = ca
            .issue_official(&who, &apply, &csr_der(&req.csr_pem)?)
            .await?;
        certificate(&ca, &issued)
    };
    finish(&ca, ROUTE, &who, r.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingBody {
    nip: String,
    age_recipient: String,
}

async fn official_binding(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "officials/binding";
    let who = caller(&ca, &peer, ROUTE).await?;
    let req: BindingBody = read_json(body).await?;
    let r = ca
        .bind_official(&who, &req.nip, &req.age_recipient)
        .await
        .map(|b| json!({ "binding": b }));
    finish(&ca, ROUTE, &who, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationBody {
    name: String,
    agency: String,
    csr_pem: String,
}

async fn application_certificate(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "applications/certificate";
    let who = caller(&ca, &peer, ROUTE).await?;
    let req: ApplicationBody = read_json(body).await?;
    let apply = ApplicationApply {
        name: req.name,
        agency: req.agency,
    };
    let r = async {
        let issued = ca
            .issue_application(&who, &apply, &csr_der(&req.csr_pem)?)
            .await?;
        certificate(&ca, &issued)
    };
    finish(&ca, ROUTE, &who, r.await)
}

async fn directory(State(ca): State<Shared>, Extension(peer): Extension<PeerCert>) -> ApiResult {
    caller(&ca, &peer, "directory").await?;
    match ca.current_directory()? {
        Some(d) => Ok(Json(d).into_response()),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-directory",
            "no directory version has been signed through the online CA yet",
        )),
    }
}

async fn propose(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "directory/proposals";
    let who = caller(&ca, &peer, ROUTE).await?;
    let input: DirectoryInput = read_json(body).await?;
    let r = ca.propose_directory(&who, input).await;
    finish(&ca, ROUTE, &who, r).map(|mut resp| {
        *resp.status_mut() = StatusCode::CREATED;
        resp
    })
}

async fn proposal(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    Path(id): Path<String>,
) -> ApiResult {
    const ROUTE: &str = "directory/proposals/{id}";
    let who = caller(&ca, &peer, ROUTE).await?;
    if !matches!(who, Caller::Operator { .. }) {
        return finish::<()>(
            &ca,
            ROUTE,
            &who,
            Err(crate::Error::NotPermitted(
                "only operators read proposals".into(),
            )),
        );
    }
    let r = ca.proposal(&id).await;
    finish(&ca, ROUTE, &who, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// The SHA-256 of the input the operator reviewed, as the proposal gave it.
    input_sha256: String,
}

async fn approve(
    State(ca): State<Shared>,
    Extension(peer): Extension<PeerCert>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    const ROUTE: &str = "directory/proposals/{id}/approve";
    let who = caller(&ca, &peer, ROUTE).await?;
    let req: ApproveBody = read_json(body).await?;
    let r = ca.approve_directory(&who, &id, &req.input_sha256).await;
    finish(&ca, ROUTE, &who, r)
}

async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document().to_string(),
    )
        .into_response()
}
