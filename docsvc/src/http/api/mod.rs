//! The HTTP API under `/api/v1`, health and metrics (the serve loop is `server`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use hsm_shim::CustodianShare;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Entry;
use crate::letters::documents::{self, Ingest, Mailbox, NewLetter};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::officials::session::{self, Session};
use crate::schema::LevelDoc;
use crate::{Error, Result};

mod delegations;
mod official_changes;
mod recipient;

/// `__Host-`: the browser keeps it only if Secure, for this host alone (no Domain) and Path=/.
pub const SESSION_COOKIE: &str = "__Host-sandi_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Shared state of the server.
pub type App = Arc<Node>;

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
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

type ApiResult<T> = std::result::Result<T, Problem>;

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

/// `POST /api/v1/documents`: the parts, in this order.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documentation of the form; the handler reads it as a stream
pub struct DocumentForm {
    /// JSON, the letter's metadata.
    metadata: NewLetter,
    /// The letter's body (a PDF, typically).
    #[schema(value_type = String, format = Binary)]
    body: Vec<u8>,
    /// Attachments, any number.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    attachment: Option<Vec<Vec<u8>>>,
}

/// The connection a request came over: the peer address and client certificate, if any.
#[derive(Clone, Debug)]
pub struct Conn {
    pub peer: SocketAddr,
    pub client_cert: Option<Vec<u8>>,
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// An official with a valid session; state-changing methods also need the CSRF header.
#[derive(Debug)]
pub struct Authed {
    pub official: Official,
    pub session: Session,
    pub token: String,
    pub client: Option<String>,
}

impl Authed {
    pub fn caller(&self) -> Caller {
        Caller {
            official: self.official.clone(),
            stepped_up: self.session.stepped_up(),
            client: self.client.clone(),
        }
    }
}

impl FromRequestParts<App> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, node: &App) -> ApiResult<Self> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or_else(|| Error::Unauthenticated("log in first".into()))?;
        let (session, official) = session::lookup(
            &node.store,
            &token,
            node.config.session_minutes,
            node.config.session_absolute_hours,
        )
        .await?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !session::csrf_ok(&session, presented) {
                return Err(Error::Forbidden {
                    alasan: "ditolak: token CSRF tidak ada atau salah".into(),
                    reason: "denied: the CSRF token is missing or wrong".into(),
                    policies: vec![],
                }
                .into());
            }
        }
        let client = parts
            .extensions
            .get::<Conn>()
            .map(|c| c.peer.ip().to_string());
        Ok(Authed {
            official,
            session,
            token,
            client,
        })
    }
}

/// An application authenticated by its client certificate, checked on every request (not
/// only at the handshake): registered and active, issued by the Network CA, valid now, not
/// revoked.
#[derive(Debug)]
pub struct AppAuthed {
    pub app: crate::officials::applications::Application,
    pub client: Option<String>,
}

impl FromRequestParts<App> for AppAuthed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, node: &App) -> ApiResult<Self> {
        let conn = parts.extensions.get::<Conn>().cloned();
        let der = conn
            .as_ref()
            .and_then(|c| c.client_cert.clone())
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "this endpoint needs a client certificate (mutual TLS)".into(),
                )
            })?;
        let now = time::OffsetDateTime::now_utc();
        crate::crypto::signature::check_chain(&der, &node.network_trust, now)
            .map_err(|e| Error::Unauthenticated(format!("client certificate: {e}")))?;
        if let crate::crypto::revocation::Status::Revoked { at } =
            crate::node::revocation::require(node, &der, "application certificate")?
        {
            return Err(Error::Unauthenticated(format!(
                "the client certificate was revoked at {at}"
            ))
            .into());
        }
        let app = crate::officials::applications::by_certificate(&node.store, &der)
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("no application is registered with this certificate".into())
            })?;
        if app.status != policies::Status::Active {
            return Err(Error::Unauthenticated(format!(
                "the application is {}",
                app.status.as_str()
            ))
            .into());
        }
        Ok(AppAuthed {
            app,
            client: conn.map(|c| c.peer.ip().to_string()),
        })
    }
}

/// A peer node on `/network/v1`, checked on every request: a client certificate from the
/// Network CA, not revoked, listed as active in the current network directory. A refusal is
/// logged, once per certificate and window and counted after (see `refusals`).
#[derive(Debug)]
pub struct NodeAuthed {
    pub peer: keymgr::directory::NodeEntry,
    pub client: Option<String>,
}

impl FromRequestParts<App> for NodeAuthed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, node: &App) -> ApiResult<Self> {
        let conn = parts.extensions.get::<Conn>().cloned();
        let client = conn.as_ref().map(|c| c.peer.ip().to_string());
        let Some(der) = conn.as_ref().and_then(|c| c.client_cert.clone()) else {
            return Err(Error::Unauthenticated(
                "the network API needs a node certificate (mutual TLS)".into(),
            )
            .into());
        };
        match crate::network::peer_of(node, &der).await? {
            Ok(peer) => Ok(NodeAuthed { peer, client }),
            Err(why) => {
                let actor = format!(
                    "node-certificate:{}",
                    &crate::network::fingerprint(&der)[..16]
                );
                // Counted, not logged one by one: a refused node may try again at once.
                let entry = Entry::event(
                    actor.clone(),
                    "network_connect",
                    "deny",
                    why.clone(),
                    node.policy.current().version(),
                    client,
                );
                crate::node::refusals::refused(node, &actor, "network_connect", entry).await?;
                Err(Error::Forbidden {
                    alasan: format!("ditolak: simpul tidak dikenal jaringan sandi ({why})"),
                    reason: format!("denied: not a node of the sandi network ({why})"),
                    policies: vec!["network-directory".into()],
                }
                .into())
            }
        }
    }
}

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
            .map_err(|e| Error::Invalid(format!("invalid JSON body: {e}")).into())
    }
}

#[utoipa::path(get, path = "/healthz", tag = "node", responses((status = 200, description = "the process is alive", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "node", responses((status = 200, description = "unsealed and the database answers"), (status = 503, description = "sealed, the access log cannot be written, or a CRL is missing or stale", body = ProblemDoc, content_type = "application/problem+json")))]
async fn readyz(State(node): State<App>) -> ApiResult<Json<serde_json::Value>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    if !node.store.ping().await {
        return Err(Error::LogUnavailable("the database does not answer".into()).into());
    }
    let crls = crate::node::revocation::readiness(&node)?;
    Ok(Json(json!({ "ready": true, "crls": crls })))
}

#[utoipa::path(get, path = "/metrics", tag = "node", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(node): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(node.is_sealed()) + &crate::node::revocation::render_metrics(&node),
    )
        .into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
struct SealStatus {
    sealed: bool,
    provided: usize,
    threshold: usize,
}

#[utoipa::path(get, path = "/api/v1/sys/seal-status", tag = "sys", responses((status = 200, body = SealStatus)))]
async fn seal_status(State(node): State<App>) -> Json<SealStatus> {
    let p = node.keystore.progress();
    Json(SealStatus {
        sealed: !p.unsealed,
        provided: p.provided,
        threshold: p.threshold,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UnsealRequest {
    /// One custodian's share, as `keymgr` printed it (`sandi-share-v1.…`).
    #[schema(pattern = r"^\s*sandi-share-v1\.")]
    share: String,
}

#[utoipa::path(post, path = "/api/v1/sys/unseal", tag = "sys", request_body = UnsealRequest, responses((status = 200, body = SealStatus), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json")))]
async fn unseal(
    State(node): State<App>,
    Body2(req): Body2<UnsealRequest>,
) -> ApiResult<Json<SealStatus>> {
    let share = zeroize::Zeroizing::new(req.share);
    // A share that does not parse or does not belong to this keystore is the caller's error.
    let share = CustodianShare::parse(share.trim()).map_err(|e| Error::Invalid(e.to_string()))?;
    let p = node
        .keystore
        .submit_share(share)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if p.unsealed {
        node.after_unseal()?;
        tracing::info!("keystore unsealed");
    }
    Ok(Json(SealStatus {
        sealed: !p.unsealed,
        provided: p.provided,
        threshold: p.threshold,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    nip: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoginResponse {
    nip: String,
    name: String,
    csrf: String,
    expires_at: String,
}

pub(crate) fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest, responses((status = 200, description = "logged in; the session cookie is set", body = LoginResponse), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 413, description = "body too large", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn login(
    State(node): State<App>,
    conn: Option<axum::Extension<Conn>>,
    Body2(req): Body2<LoginRequest>,
) -> ApiResult<Response> {
    let password = zeroize::Zeroizing::new(req.password);
    // Validated before it is used or logged: a NIP is 18 digits.
    crate::http::limits::check_nip(&req.nip)?;
    // Sealed answers alike for every NIP: the lookup below would tell known ones apart.
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let client = conn.map(|c| c.peer.ip().to_string());
    let result = directory::login(&node.store, &req.nip, &password).await;
    let entry = |decision: &str, reason: String| {
        Entry::event(
            format!("official:{}", req.nip),
            "login",
            decision,
            reason,
            node.policy.current().version(),
            client.clone(),
        )
    };
    let official = match result {
        Ok(o) => o,
        Err(e) => {
            if !node.is_sealed() {
                crate::node::log_alone(&node, &entry("deny", e.to_string())).await?;
            }
            return Err(e.into());
        }
    };
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let (token, s) =
        session::create(&node.store, &official.nip, node.config.session_minutes).await?;
    crate::node::log_alone(&node, &entry("allow", "logged in".into())).await?;
    let mut resp = Json(LoginResponse {
        nip: official.nip.clone(),
        name: official.name.clone(),
        csrf: s.csrf.clone(),
        expires_at: crate::rfc3339(s.expires_at),
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, node.config.session_minutes * 60),
    );
    Ok(resp)
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204, description = "logged out"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
async fn logout(State(node): State<App>, auth: Authed) -> ApiResult<Response> {
    session::end(&node.store, &auth.token).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StepUpRequest {
    pin: String,
}

#[utoipa::path(post, path = "/api/v1/session/step-up", tag = "session", request_body = StepUpRequest, responses((status = 200, description = "PIN accepted for five minutes"), (status = 429, description = "the PIN is locked after 5 wrong entries (problem type locked, saying until when)", body = ProblemDoc, content_type = "application/problem+json"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
async fn step_up(
    State(node): State<App>,
    auth: Authed,
    Body2(req): Body2<StepUpRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let pin = zeroize::Zeroizing::new(req.pin);
    if !crate::officials::lockout::check_pin(&node, &auth.official.nip, &pin, auth.client.clone())
        .await?
    {
        return Err(Error::Unauthenticated("wrong signing PIN (PIN salah)".into()).into());
    }
    let until = session::step_up(&node.store, &auth.session).await?;
    Ok(Json(json!({ "step_up_until": crate::rfc3339(until) })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(rename = "box")]
    mailbox: Option<Mailbox>,
    limit: Option<i64>,
    /// Search: words the nomor or perihal contains (case-insensitive).
    q: Option<String>,
    /// Only letters of this classification.
    #[param(value_type = Option<LevelDoc>)]
    classification: Option<policies::Level>,
}

#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", params(ListQuery), responses((status = 200, body = Vec<documents::Summary>), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn list_documents(
    State(node): State<App>,
    auth: Authed,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<documents::Summary>>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        documents::list(
            &node,
            &auth.caller(),
            q.mailbox.unwrap_or(Mailbox::Inbox),
            &documents::Filter {
                text: q.q.filter(|t| !t.trim().is_empty()),
                classification: q.classification,
                limit: q.limit.unwrap_or(100),
            },
        )
        .await?,
    ))
}

/// `POST /api/v1/documents`: multipart with a `metadata` JSON part first, then a `body` file
/// part, then any `attachment` parts. Each file streams through encryption into the store.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", request_body(content = DocumentForm, content_type = "multipart/form-data"), responses((status = 201, body = documents::Created), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 413, description = "body too large", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn create_document(
    State(node): State<App>,
    // Checked before anything of the body is read: without a session it is 401 at once.
    auth: Authed,
    req: Request,
) -> ApiResult<Response> {
    let (budget, req) = crate::http::limits::budgeted(req);
    let mut form = <Multipart as axum::extract::FromRequest<App>>::from_request(req, &node)
        .await
        .map_err(|r| Problem(Error::Invalid(r.body_text())))?;
    match ingest_form(&node, &auth, &mut form).await {
        Ok(manifest) => Ok((StatusCode::CREATED, Json(manifest)).into_response()),
        Err(e) => {
            // What the official is still sending is read so that they see the answer: all of
            // it (up to the node's cap) once the policy let them write the letter (a full
            // disk, say), at most 1 MiB after a refusal; past that the connection is closed.
            let refused = matches!(
                e,
                Error::Forbidden { .. } | Error::Unauthenticated(_) | Error::TooLarge(_)
            );
            let limit = if refused {
                1 << 20
            } else {
                usize::try_from(node.config.max_body_mib.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX)
            };
            if crate::http::limits::drain_form(&mut form, &budget, limit).await {
                Err(e.into())
            } else {
                Ok(crate::http::limits::closing(e))
            }
        }
    }
}

async fn ingest_form(
    node: &Node,
    auth: &Authed,
    form: &mut Multipart,
) -> Result<documents::Created> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        Error::Invalid(format!("reading the form: {}", e.body_text()))
    };
    let mut first = form
        .next_field()
        .await
        .map_err(bad)?
        .ok_or_else(|| Error::Invalid("empty form: send a metadata part first".into()))?;
    if first.name() != Some("metadata") {
        return Err(Error::Invalid(
            "the first part must be `metadata` (JSON)".into(),
        ));
    }
    let meta = crate::http::limits::read_field(&mut first, 256 * 1024, "metadata").await?;
    // The form's next part can be read only once this one is let go.
    drop(first);
    let letter: NewLetter = serde_json::from_slice(&meta)
        .map_err(|e| Error::Invalid(format!("invalid metadata: {e}")))?;
    let mut ingest = Ingest::begin(node, auth.caller(), letter).await?;
    let result: Result<()> = async {
        let mut n = 0usize;
        while let Some(field) = form.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_owned();
            match (n, name.as_str()) {
                (0, "body") | (1.., "attachment") => {}
                (0, _) => return Err(Error::Invalid("the second part must be `body`".into())),
                _ => return Err(Error::Invalid(format!("unexpected part {name:?}"))),
            }
            let file = field
                .file_name()
                .map_or_else(|| format!("part-{n}"), str::to_owned);
            let media = crate::letters::content::stored_type(field.content_type()).to_owned();
            ingest
                .add_part(&file, &media, field.map(|r| r.map_err(|e| e.body_text())))
                .await?;
            n += 1;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        ingest.abort().await;
        return Err(e);
    }
    ingest.finish().await
}

#[derive(Serialize, utoipa::ToSchema)]
struct DocumentView {
    manifest: crate::crypto::envelope::Manifest,
    signature: SignatureView,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SignatureView {
    /// The signature, chain and revocation at signing time all check out.
    valid: bool,
    revocation: crate::crypto::revocation::SignatureStatus,
    signer: String,
    nip: Option<String>,
    serial: String,
    signing_time: Option<String>,
    certificate_sha256: String,
}

#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, body = DocumentView), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn get_document(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentView>> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let v = &checked.verified;
    Ok(Json(DocumentView {
        signature: SignatureView {
            valid: checked.signature_status.is_valid(),
            revocation: checked.signature_status.clone(),
            signer: v.subject.clone(),
            nip: v.nip.clone(),
            serial: v.serial.clone(),
            signing_time: v.signing_time.clone(),
            certificate_sha256: v.certificate_sha256.clone(),
        },
        manifest: checked.manifest,
    }))
}

/// Loads and checks a letter and asks the policy; an integrity failure is logged as an
/// incident. A letter the caller may not see is "not found" unless the caller is addressed.
async fn checked_for(
    node: &Node,
    auth: &Authed,
    id: &str,
    action: policies::Action,
) -> Result<documents::Checked> {
    let checked = loaded(node, auth, id).await?;
    documents::authorise(node, &auth.caller(), action, &checked).await?;
    Ok(checked)
}

/// Loads and checks a letter; an integrity failure is logged as an incident and named.
async fn loaded(node: &Node, auth: &Authed, id: &str) -> Result<documents::Checked> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let checked = match documents::load_checked(node, id).await {
        Ok(c) => c,
        Err(Error::Integrity(why)) => {
            tracing::warn!(document = id, "integrity failure: {why}");
            crate::node::log_alone(
                node,
                &Entry::event(
                    format!("official:{}", auth.official.nip),
                    "integrity_incident",
                    "error",
                    why.clone(),
                    node.policy.current().version(),
                    auth.client.clone(),
                )
                .about(id),
            )
            .await?;
            return Err(Error::Integrity(why));
        }
        Err(e) => return Err(e),
    };
    Ok(checked)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ContentQuery {
    part: Option<usize>,
    /// Download as a file: a plaintext export, which the handling table may forbid.
    #[serde(default)]
    download: bool,
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents", params(("id" = String, Path, description = "the letter id"), ContentQuery), responses((status = 200, description = "the plaintext, with the classification in `sandi-classification` and, where the level's handling asks for it, the reader's name, NIP and time in `sandi-watermark`", body = Vec<u8>, content_type = "application/octet-stream"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn get_content(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
) -> ApiResult<Response> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    documents::mark_read(&node, &auth.official.nip, &id).await?;
    if q.download {
        documents::authorise(&node, &auth.caller(), policies::Action::Export, &checked).await?;
    }
    let part = q.part.unwrap_or(0);
    let p = checked
        .manifest
        .parts
        .get(part)
        .ok_or_else(|| Error::NotFound(format!("part {part}")))?
        .clone();
    let stream = documents::open_part(&node, &checked, part).await?;
    let handling = node
        .policy
        .current()
        .handling()
        .get(checked.manifest.classification)
        .clone();
    let label = handling.label_id;
    let mut resp = Response::new(Body::from_stream(stream));
    if handling.watermark {
        // The level's handling asks for the reader on every view: whoever renders the content
        // (the web UI, a viewer) shows this over it.
        let o = &auth.official;
        let mark = format!("{} | NIP {} | {}", o.name, o.nip, crate::now_rfc3339());
        resp.headers_mut().insert(
            "sandi-watermark",
            HeaderValue::from_str(&mark).unwrap_or(HeaderValue::from_static("")),
        );
    }
    let h = resp.headers_mut();
    crate::letters::content::set_headers(h, &p.media_type, &p.name, q.download);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(p.size));
    h.insert(
        "sandi-classification",
        HeaderValue::from_str(&label).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    part: Option<usize>,
}

/// An age file of one part, encrypted to the caller's registered personal age key.
#[utoipa::path(get, path = "/api/v1/documents/{id}/export", tag = "documents", params(("id" = String, Path, description = "the letter id"), ExportQuery), responses((status = 200, description = "an age file for the caller's personal key", body = Vec<u8>, content_type = "application/octet-stream"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn export_document(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let recipient: age::x25519::Recipient = auth
        .official
        .personal_recipient
        .as_deref()
        .ok_or_else(|| {
            Error::Invalid("register your personal age key first (PUT /api/v1/me/recipient)".into())
        })?
        .parse()
        .map_err(|e| Error::Invalid(format!("the registered age key is unusable: {e}")))?;
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let part = q.part.unwrap_or(0);
    let p = checked
        .manifest
        .parts
        .get(part)
        .ok_or_else(|| Error::NotFound(format!("part {part}")))?
        .clone();
    crate::node::log_alone(
        &node,
        &Entry {
            classification: Some(checked.manifest.classification.as_str().into()),
            ..Entry::event(
                format!("official:{}", auth.official.nip),
                "export_encrypted",
                "allow",
                format!("encrypted to {recipient}"),
                node.policy.current().version(),
                auth.client.clone(),
            )
            .about(&id)
        },
    )
    .await?;
    let stream = documents::export_part(&node, &checked, part, recipient).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "attachment; filename=\"{}.age\"",
            crate::letters::content::safe_file_name(&p.name)
        ))
        .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RecipientRequest {
    recipient: String,
}

#[utoipa::path(put, path = "/api/v1/me/recipient", tag = "session", request_body = RecipientRequest, responses((status = 202, description = "a challenge encrypted to the recipient; registered once answered at /api/v1/me/recipient/confirm", body = crate::officials::recipient::Challenge), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
async fn set_recipient(
    State(node): State<App>,
    auth: Authed,
    Body2(req): Body2<RecipientRequest>,
) -> ApiResult<(StatusCode, Json<crate::officials::recipient::Challenge>)> {
    // Registered only with proof of possession: see `recipient`.
    let begin = crate::officials::recipient::Begin {
        recipient: req.recipient,
    };
    let challenge = crate::officials::recipient::begin(&node, &auth.caller(), &begin).await?;
    Ok((StatusCode::ACCEPTED, Json(challenge)))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = Official), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json")))]
async fn me(auth: Authed) -> Json<Official> {
    Json(auth.official)
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/manifest", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, description = "the signed manifest, canonical bytes", body = crate::crypto::envelope::Manifest), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn get_manifest(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let bytes = checked.manifest.canonical()?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/signature", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, description = "CMS detached SignedData (DER) with the chain", body = Vec<u8>, content_type = "application/pkcs7-signature"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn get_signature(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/pkcs7-signature")],
        checked.signature,
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/approve", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, body = documents::Created), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "conflict", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn approve_document(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<documents::Created>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(documents::approve(&node, &auth.caller(), &id).await?))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/deliveries", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, description = "the letter's delivery to each destination node", body = Vec<documents::Delivery>), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn document_deliveries(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<documents::Delivery>>> {
    checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok(Json(documents::deliveries(&node, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/reclassify", tag = "documents", params(("id" = String, Path, description = "the letter id")), request_body = crate::letters::lifecycle::ReclassifyRequest, responses((status = 200, description = "the new signed version", body = documents::Created), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "conflict", body = ProblemDoc, content_type = "application/problem+json"), (status = 410, description = "the letter was destroyed after its retention", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn reclassify_document(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    Body2(req): Body2<crate::letters::lifecycle::ReclassifyRequest>,
) -> ApiResult<Json<documents::Created>> {
    let checked = loaded(&node, &auth, &id).await?;
    Ok(Json(
        crate::letters::lifecycle::reclassify(&node, &auth.caller(), checked, &req).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/versions", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, description = "earlier signed versions, oldest first", body = Vec<crate::letters::lifecycle::Version>), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 410, description = "the letter was destroyed after its retention", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn document_versions(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<crate::letters::lifecycle::Version>>> {
    checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok(Json(crate::letters::lifecycle::versions(&node, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/documents/{id}/destroy", tag = "documents", params(("id" = String, Path, description = "the letter id")), request_body = crate::letters::lifecycle::DestroyRequest, responses((status = 200, description = "destroyed; the signed destruction record", body = crate::letters::lifecycle::Destruction), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "conflict", body = ProblemDoc, content_type = "application/problem+json"), (status = 410, description = "the letter was destroyed after its retention", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn destroy_document(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    Body2(req): Body2<crate::letters::lifecycle::DestroyRequest>,
) -> ApiResult<Json<crate::letters::lifecycle::Destruction>> {
    let checked = loaded(&node, &auth, &id).await?;
    Ok(Json(
        crate::letters::lifecycle::destroy(&node, &auth.caller(), &checked, &req).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/destruction", tag = "documents", params(("id" = String, Path, description = "the letter id")), responses((status = 200, description = "the signed destruction record", body = crate::letters::lifecycle::Destruction), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json"), (status = 500, description = "stored data failed its integrity check", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn destruction_record(
    State(node): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::letters::lifecycle::Destruction>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        crate::letters::lifecycle::destruction_record(&node, &auth.caller(), &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/sign", tag = "signing", request_body = crate::signing::SignRequest, responses((status = 200, body = crate::signing::SignResponse), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn sign(
    State(node): State<App>,
    auth: AppAuthed,
    Body2(req): Body2<crate::signing::SignRequest>,
) -> ApiResult<Json<crate::signing::SignResponse>> {
    Ok(Json(
        crate::signing::sign(&node, &auth.app, auth.client, &req).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/verify", tag = "signing", request_body = crate::signing::VerifyRequest, responses((status = 200, body = crate::signing::VerifyResponse), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn verify(
    State(node): State<App>,
    auth: AppAuthed,
    Body2(req): Body2<crate::signing::VerifyRequest>,
) -> ApiResult<Json<crate::signing::VerifyResponse>> {
    Ok(Json(
        crate::signing::verify(&node, &auth.app, auth.client, &req).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/officials", tag = "admin", responses((status = 200, body = Vec<Official>), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
async fn admin_list(State(node): State<App>, auth: Authed) -> ApiResult<Json<Vec<Official>>> {
    Ok(Json(
        crate::officials::admin::list(&node, &auth.official, auth.client.clone()).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/officials", tag = "admin", request_body = crate::officials::admin::NewOfficialRequest, responses((status = 201, body = crate::officials::admin::Registered), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "conflict", body = ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "sealed, or the access log cannot be written", body = ProblemDoc, content_type = "application/problem+json")))]
async fn admin_register(
    State(node): State<App>,
    auth: Authed,
    Body2(req): Body2<crate::officials::admin::NewOfficialRequest>,
) -> ApiResult<(StatusCode, Json<crate::officials::admin::Registered>)> {
    let r =
        crate::officials::admin::register(&node, &auth.official, auth.client.clone(), req).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(put, path = "/api/v1/admin/officials/{nip}/certificate", tag = "admin", params(("nip" = String, Path, description = "the official's NIP")), request_body(content = String, content_type = "application/x-pem-file"), responses((status = 204, description = "installed"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json")))]
async fn admin_certificate(
    State(node): State<App>,
    auth: Authed,
    Path(nip): Path<String>,
    body: String,
) -> ApiResult<StatusCode> {
    crate::officials::admin::install_certificate(
        &node,
        &auth.official,
        auth.client.clone(),
        &nip,
        &body,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    status: String,
}

#[utoipa::path(put, path = "/api/v1/admin/officials/{nip}/status", tag = "admin", params(("nip" = String, Path, description = "the official's NIP")), request_body = StatusRequest, responses((status = 204, description = "changed"), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json")))]
async fn admin_status(
    State(node): State<App>,
    auth: Authed,
    Path(nip): Path<String>,
    Body2(req): Body2<StatusRequest>,
) -> ApiResult<StatusCode> {
    crate::officials::admin::set_status(
        &node,
        &auth.official,
        auth.client.clone(),
        &nip,
        &req.status,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct Hello {
    /// This node's id.
    node: String,
    /// The caller, as the network directory names it.
    peer: String,
    directory_version: u64,
}

#[utoipa::path(get, path = "/network/v1/hello", tag = "network", responses((status = 200, description = "the peer is a node of the network", body = Hello), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json")))]
async fn network_hello(State(node): State<App>, peer: NodeAuthed) -> ApiResult<Json<Hello>> {
    let version = node
        .network
        .current(&node.store)
        .await?
        .map_or(0, |d| d.version);
    Ok(Json(Hello {
        node: node.config.node_id.clone(),
        peer: peer.peer.id,
        directory_version: version,
    }))
}

#[utoipa::path(post, path = "/network/v1/letters", tag = "network", request_body(content = Vec<u8>, content_type = "application/vnd.sandi.envelope"), responses((status = 200, description = "stored (or already here): the signed receipt", body = crate::transmit::SignedReceipt), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "conflict", body = ProblemDoc, content_type = "application/problem+json"), (status = 413, description = "body too large", body = ProblemDoc, content_type = "application/problem+json")))]
async fn network_letters(
    State(node): State<App>,
    peer: NodeAuthed,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<crate::transmit::SignedReceipt>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    // Streamed: checked as it comes, the header first (see `receive`).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = Box::pin(body.into_data_stream());
    Ok(Json(
        crate::transmit::receive::deliver(&node, &peer.peer, peer.client, declared, body).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    /// The level of the letter the key is wanted for: refused (403, logged) if this node may
    /// not hold it.
    #[serde(rename = "for")]
    #[param(value_type = Option<LevelDoc>, rename = "for")]
    level: Option<policies::Level>,
}

#[utoipa::path(get, path = "/network/v1/officials/{nip}", tag = "network", params(("nip" = String, Path, description = "the official's NIP"), LookupQuery), responses((status = 200, description = "the official and their key binding", body = crate::network::OfficialCard), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json")))]
async fn network_official(
    State(node): State<App>,
    peer: NodeAuthed,
    Path(nip): Path<String>,
    Query(q): Query<LookupQuery>,
) -> ApiResult<Json<crate::network::OfficialCard>> {
    crate::http::limits::check_nip(&nip)?;
    if let Some(level) = q.level {
        // Asked ahead of a letter of this level: this node says now whether it may hold it.
        let d = node
            .policy
            .current()
            .decide(
                &policies::Principal::Node {
                    id: node.config.node_id.clone(),
                    accreditation: crate::transmit::receive::own_accreditation(&node).await?,
                    status: policies::Status::Active,
                },
                policies::Action::Receive,
                &policies::Document {
                    id: format!("lookup:{nip}"),
                    classification: level,
                    originator: String::new(),
                    recipients: vec![nip.clone()],
                    copies: vec![],
                    grants: vec![],
                    agency: String::new(),
                    agencies: vec![],
                    compartments: vec![],
                },
                &policies::Context::default(),
            )
            .map_err(Error::from)?;
        if !d.allowed {
            // A refusal on /network/v1: counted, not logged one by one (see `refusals`).
            let key = format!("node:{}", peer.peer.id);
            let entry = Entry::event(
                key.clone(),
                "receive",
                "deny",
                format!("a {} letter for {nip}: {}", level.as_str(), d.reason),
                &d.policy_version,
                peer.client.clone(),
            );
            crate::node::refusals::refused(&node, &key, "receive", entry).await?;
            return Err(Error::Forbidden {
                alasan: d.alasan,
                reason: d.reason,
                policies: d.policies,
            }
            .into());
        }
    }
    let o = directory::get(&node.store, &nip)
        .await?
        .filter(|o| o.status == policies::Status::Active)
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let binding = directory::key_binding(&node.store, &nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("a key binding for official {nip}")))?;
    let binding = serde_json::from_str(&binding)
        .map_err(|e| Error::Integrity(format!("key binding of {nip}: {e}")))?;
    crate::node::log_alone(
        &node,
        &Entry::event(
            format!("node:{}", peer.peer.id),
            "key_lookup",
            "allow",
            format!("official {nip}"),
            node.policy.current().version(),
            peer.client,
        ),
    )
    .await?;
    Ok(Json(crate::network::OfficialCard {
        nip: o.nip,
        name: o.name,
        agency: o.agency,
        clearance: o.clearance,
        binding,
    }))
}

#[utoipa::path(get, path = "/api/v1/audit/proof/{seq}", tag = "audit", params(("seq" = u64, Path, description = "the entry's sequence number")), responses((status = 200, body = crate::audit::Proof), (status = 400, description = "bad input", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "not logged in, session expired, or no valid client certificate", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "refused by the policy (with its reasons) or by CSRF", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "no such letter, or not visible to the caller", body = ProblemDoc, content_type = "application/problem+json")))]
async fn audit_proof(
    State(node): State<App>,
    auth: Authed,
    Path(seq): Path<u64>,
) -> ApiResult<Json<crate::audit::Proof>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let entry = crate::audit::entry_at(&node.store, seq)
        .await?
        .ok_or_else(|| Error::NotFound(format!("log entry {seq}")))?;
    // Auditors read the whole log; an official reads the entries they caused and those
    // about letters they originated.
    let me = format!("official:{}", auth.official.nip);
    let own_letter = match &entry.document {
        Some(id) => sqlx::query("SELECT originator FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(node.store.reader())
            .await
            .map_err(Error::from)?
            .and_then(|r| sqlx::Row::try_get::<String, _>(&r, "originator").ok())
            .is_some_and(|o| o == auth.official.nip),
        None => false,
    };
    if !(auth.official.has_role("auditor") || entry.actor == me || own_letter) {
        crate::node::log_alone(
            &node,
            &Entry::event(
                me,
                "audit_read",
                "deny",
                format!(
                    "log entry {seq}: only auditors, its actor and the letter's originator read it"
                ),
                node.policy.current().version(),
                auth.client.clone(),
            ),
        )
        .await?;
        return Err(Error::Forbidden {
            alasan: "ditolak: hanya auditor, pelaku, atau pembuat naskah yang membaca entri log ini"
                .into(),
            reason: "denied: only auditors, the entry's actor or the letter's originator read this log entry"
                .into(),
            policies: vec![],
        }
        .into());
    }
    let proof = crate::audit::proof(&node.store, seq).await?;
    let read = format!("log entry {seq}: inclusion proof at size {}", proof.size);
    let e = Entry::event(
        me,
        "audit_read",
        "allow",
        read,
        node.policy.current().version(),
        auth.client.clone(),
    );
    crate::node::log_alone(&node, &e).await?;
    Ok(Json(proof))
}

async fn count(State(node): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    Metrics::inc(&node.metrics.requests);
    if resp.status().is_client_error() {
        Metrics::inc(&node.metrics.client_errors);
    } else if resp.status().is_server_error() {
        Metrics::inc(&node.metrics.server_errors);
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
        Error::Invalid(text)
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
    // Used by a query parameter, which does not register its schema by itself.
    components(schemas(Mailbox))
)]
struct ApiDoc;

/// The routes and the OpenAPI document made from the same annotations, so that the document
/// lists exactly what the server serves.
fn routes() -> (Router<App>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(seal_status))
        .routes(routes!(unseal))
        .routes(routes!(login, logout))
        .routes(routes!(step_up))
        .routes(routes!(me))
        .routes(routes!(set_recipient))
        .routes(routes!(recipient::confirm_recipient))
        .routes(routes!(
            delegations::grant_delegation,
            delegations::list_delegations
        ))
        .routes(routes!(delegations::revoke_delegation))
        .routes(routes!(list_documents, create_document))
        .routes(routes!(get_document))
        .routes(routes!(get_content))
        .routes(routes!(get_manifest))
        .routes(routes!(get_signature))
        .routes(routes!(approve_document))
        .routes(routes!(reclassify_document))
        .routes(routes!(document_deliveries))
        .routes(routes!(document_versions))
        .routes(routes!(destroy_document))
        .routes(routes!(destruction_record))
        .routes(routes!(export_document))
        .routes(routes!(admin_list, admin_register))
        .routes(routes!(admin_certificate))
        .routes(routes!(admin_status))
        .routes(routes!(official_changes::admin_clearance))
        .routes(routes!(official_changes::admin_changes))
        .routes(routes!(official_changes::approve_change))
        .routes(routes!(official_changes::reject_change))
        .routes(routes!(sign))
        .routes(routes!(verify))
        .routes(routes!(audit_proof))
        .routes(routes!(network_hello))
        .routes(routes!(network_official))
        .routes(routes!(network_letters))
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
        .layer(middleware::from_fn(crate::http::security_headers::add))
        .with_state(node)
}
