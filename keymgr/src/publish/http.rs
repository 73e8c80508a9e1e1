//! The routes and the limits around them: every request counted, anything larger than the
//! limit refused before its body is read, unknown paths 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use super::Publisher;
use crate::ca::Ca;
use crate::ocsp::{Answer, Outcome};
use crate::publication;

/// Requests counted since the start, by what they asked for and how they ended.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    ca_certificates: AtomicU64,
    crls: AtomicU64,
    ocsp: AtomicU64,
    ocsp_cached: AtomicU64,
    ocsp_signed: AtomicU64,
    ocsp_refused: AtomicU64,
    too_large: AtomicU64,
    timed_out: AtomicU64,
    not_found: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Every request, whatever became of it.
    pub requests: u64,
    pub ca_certificates: u64,
    pub crls: u64,
    /// OCSP requests answered; of them kept answers, freshly signed ones, and unsuccessful
    /// statuses (malformedRequest, unauthorized, tryLater, internalError).
    pub ocsp: u64,
    pub ocsp_cached: u64,
    pub ocsp_signed: u64,
    pub ocsp_refused: u64,
    /// Refused unread for their size (413/414).
    pub too_large: u64,
    /// Not complete within the request deadline (408).
    pub timed_out: u64,
    pub not_found: u64,
}

impl Stats {
    pub(super) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            ca_certificates: get(&self.ca_certificates),
            crls: get(&self.crls),
            ocsp: get(&self.ocsp),
            ocsp_cached: get(&self.ocsp_cached),
            ocsp_signed: get(&self.ocsp_signed),
            ocsp_refused: get(&self.ocsp_refused),
            too_large: get(&self.too_large),
            timed_out: get(&self.timed_out),
            not_found: get(&self.not_found),
        }
    }
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

type Shared = Arc<Publisher>;

/// How long one request may take, its body included.
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn routes(p: Shared) -> Router {
    // The paths the certificates' CRL Distribution Points and AIA point at.
    let mut router = Router::new();
    for ca in [Ca::Root, Ca::Network, Ca::Signing] {
        let paths = publication::paths(ca);
        router = router
            .route(
                paths.certificate,
                get(move |s: State<Shared>| async move { ca_cert(&s, ca) }),
            )
            .route(
                paths.crl,
                get(move |s: State<Shared>| async move { crl(&s, ca) }),
            );
        if let Some(ocsp) = paths.ocsp {
            router = router
                .route(
                    ocsp,
                    post(move |s: State<Shared>, h: HeaderMap, b: Bytes| ocsp_post(s, ca, h, b)),
                )
                .route(
                    &format!("{ocsp}/{{*request}}"),
                    get(move |s: State<Shared>, r: Path<String>| ocsp_get(s, ca, r)),
                );
        }
    }
    router.with_state(p)
}

/// The limits and counting around `app` (the public routes and the caller's), and the 404.
pub(super) fn with_limits(app: Router, p: &Shared) -> Router {
    let limit = p.options().max_request_bytes;
    let counted = Arc::clone(p);
    app.fallback(move || {
        let p = Arc::clone(&counted);
        async move { not_found(&p) }
    })
    .layer(DefaultBodyLimit::max(limit))
    .layer(middleware::from_fn_with_state(Arc::clone(p), guard))
}

/// Counts the request and refuses, unread, one whose URL or declared body is over the limit.
/// A body sent without a length is cut off at the limit by `DefaultBodyLimit`.
async fn guard(State(p): State<Shared>, req: Request, next: Next) -> Response {
    inc(&p.stats.requests);
    let limit = p.options().max_request_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if req.uri().to_string().len() > limit {
        inc(&p.stats.too_large);
        return (StatusCode::URI_TOO_LONG, "request URL too long\n").into_response();
    }
    if declared.is_some_and(|n| n > limit as u64) {
        inc(&p.stats.too_large);
        let mut r = (StatusCode::PAYLOAD_TOO_LARGE, "request too large\n").into_response();
        // The body is not read: the connection cannot be reused.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    // A body trickled in slowly holds a connection no longer than this.
    let Ok(response) = tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await else {
        inc(&p.stats.timed_out);
        return (StatusCode::REQUEST_TIMEOUT, "request took too long\n").into_response();
    };
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        inc(&p.stats.too_large);
    }
    response
}

fn not_found(p: &Publisher) -> Response {
    inc(&p.stats.not_found);
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn der(content_type: &'static str, body: Bytes) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

fn ca_cert(p: &Publisher, ca: Ca) -> Response {
    inc(&p.stats.ca_certificates);
    match p.cert(ca) {
        Some(body) => der("application/pkix-cert", body),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn crl(p: &Publisher, ca: Ca) -> Response {
    inc(&p.stats.crls);
    match p.crl(ca) {
        Some((_, body)) => der("application/pkix-crl", body),
        // The root's CRL exists only after a root ceremony revoked something.
        None => (StatusCode::NOT_FOUND, "no CRL\n").into_response(),
    }
}

async fn ocsp_post(State(p): State<Shared>, ca: Ca, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if content_type.is_some_and(|t| t != "application/ocsp-request") {
        inc(&p.stats.ocsp);
        inc(&p.stats.ocsp_refused);
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an OCSP request is application/ocsp-request\n",
        )
            .into_response();
    }
    ocsp(&p, ca, &body).await
}

/// RFC 6960 appendix A.1: the base64 of the DER request, URL-encoded, as the last path
/// segment(s). The path is already percent-decoded; URL-safe base64 and missing padding are
/// taken too, since clients differ.
async fn ocsp_get(State(p): State<Shared>, ca: Ca, Path(encoded): Path<String>) -> Response {
    let normal: String = encoded
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    match base64::engine::general_purpose::STANDARD_NO_PAD.decode(normal) {
        Ok(body) => ocsp(&p, ca, &body).await,
        Err(_) => ocsp(&p, ca, &[]).await,
    }
}

async fn ocsp(p: &Publisher, ca: Ca, body: &[u8]) -> Response {
    inc(&p.stats.ocsp);
    let Some(responder) = p.responder(ca) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let Answer {
        der: body,
        outcome,
        max_age,
    } = responder.respond(body).await;
    match outcome {
        Outcome::Cached => inc(&p.stats.ocsp_cached),
        Outcome::Signed => inc(&p.stats.ocsp_signed),
        _ => inc(&p.stats.ocsp_refused),
    }
    let mut response = der("application/ocsp-response", body);
    // RFC 5019 §6: a nonce-less answer may be cached by HTTP caches until it goes stale.
    let cache_control = max_age.and_then(|age| {
        HeaderValue::from_str(&format!(
            "max-age={age}, public, no-transform, must-revalidate"
        ))
        .ok()
    });
    if let Some(v) = cache_control {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}
