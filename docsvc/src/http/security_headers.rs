//! Headers every response of the node carries, whatever answered it (the API, the web UI, an
//! error, a 404): no MIME sniffing, HTTPS only (HSTS), no referrer leaving the node, and a
//! CSP that lets a response render nothing unless it set its own (the UI's pages and letter
//! content do).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// One year; the node is only ever served over TLS.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// For responses that did not choose a policy (JSON, problem documents, metrics): nothing
/// loads, nothing runs, no one frames it.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// The middleware: outermost, so that it sees every response.
pub async fn add(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CSP));
    resp
}
