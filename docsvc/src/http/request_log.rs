//! One line per request for operators (`DOCSVC_LOG_FORMAT=json` makes every line JSON): the
//! request's id (also answered as `x-request-id`, so a caller's report finds its line), the
//! method, the route as declared (`/api/v1/documents/{id}`, never the path as sent nor its
//! query, which may carry a search for a perihal), the status, the duration and who called, as
//! the actor extractor established it. Never a body, header, cookie or letter. This is not the
//! access log, which is the evidence and is signed; these lines are for watching the node.
//! The duration also goes to the route's latency histogram on `/metrics`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The response header carrying the request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// Where the actor extractor leaves who called, for the request's line.
#[derive(Clone, Debug, Default)]
pub struct Caller(Arc<OnceLock<String>>);

impl Caller {
    /// Records who called (the first authentication of the request counts).
    pub fn set(&self, who: String) {
        let _ = self.0.set(who);
    }
}

/// What kind of error a response answered (`integrity`, `log-unavailable`, …, the problem
/// type), left on the response for its line and the node's counters.
#[derive(Clone, Copy, Debug)]
pub struct Failure(pub &'static str);

/// Marks `resp` as answering `e`.
pub fn mark(resp: &mut Response, e: &crate::Error) {
    resp.extensions_mut().insert(Failure(e.problem_type()));
}

/// A fresh request id: 16 random hex digits.
fn request_id() -> String {
    let mut b = [0u8; 8];
    // Without randomness the id is only less unique; the request still runs.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    hex::encode(b)
}

/// The middleware: the route is known here because it wraps each route (`Router::layer`).
pub async fn line(State(node): State<crate::http::App>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let caller = Caller::default();
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let actor = caller.0.get().map_or("-", String::as_str);
    let status = resp.status().as_u16();
    let problem = resp.extensions().get::<Failure>().map_or("-", |f| f.0);
    let seconds = started.elapsed().as_secs_f64();
    node.metrics
        .observe(method.as_str(), &route, status, seconds);
    let duration_ms = seconds * 1000.0;
    tracing::info!(
        target: "docsvc::request",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        duration_ms,
        actor,
        problem,
        "request"
    );
    resp
}
