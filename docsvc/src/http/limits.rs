//! Bounds on what a client can make the node read, hold or write to its log.
//!
//! Every request body is capped whatever its framing (Content-Length, chunked, HTTP/2 DATA
//! frames): the cap wraps the body stream itself. Small requests (JSON, forms: login, step-up,
//! unseal, administration, everything else) are read in full, up to [`SMALL_BODY`], before any
//! handler runs. Only the letter upload and a peer node's delivery take large bodies, and their
//! handlers read them only after the caller is authenticated (and, for an upload, after the
//! policy allowed the letter).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::extract::multipart::Field;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use hyper::body::Body as _;

use crate::http::problem::Problem;
use crate::{Error, Result};

/// The largest body of any request but a letter upload or delivery: 64 KiB.
pub const SMALL_BODY: usize = 64 * 1024;

/// The routes that take large bodies: the letter upload, a peer node's delivery, a PDF
/// handed to the public verification page (which bounds it itself, after its rate limit) and
/// a disposisi report with its files (bounded by its form reader, after the session).
pub fn is_large(method: &Method, path: &str) -> bool {
    let report = (path.starts_with("/api/v1/dispositions/")
        || path.starts_with("/ui/dispositions/"))
        && path.ends_with("/reports");
    method == Method::POST
        && (report
            || matches!(
                path,
                "/api/v1/documents" | "/network/v1/letters" | "/verifikasi"
            ))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A problem that also closes the connection: what the client still sends is not read.
pub fn closing(e: Error) -> Response {
    let mut resp = Problem(e).into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn too_large() -> Response {
    closing(Error::TooLarge(format!(
        "a request body here is at most {} KiB",
        SMALL_BODY / 1024
    )))
}

/// Middleware: reads the body of every request but the large routes in full, up to
/// [`SMALL_BODY`] whatever its framing, before any extractor or handler runs; over that it is
/// a 413 and the connection is closed, with the rest unread. A request refused early (no
/// session) then leaves nothing unread, and an HTTP/2 client gets the problem document
/// instead of a reset stream. Large routes pass through: their handlers authenticate first.
pub async fn bound_bodies(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // A large route's body that declares itself small is read like any small one: a request
    // refused before its body is read (no session, no CSRF token, not multipart) then leaves
    // nothing unread, and the client sees the answer instead of a reset connection.
    let small_declared = declared_length(&parts.headers).is_some_and(|n| n <= SMALL_BODY as u64);
    if is_large(&parts.method, parts.uri.path()) && !small_declared {
        // The handler may answer without reading the body (no session): the body is kept
        // until the answer is sent, so that an HTTP/2 client sees the answer and then a
        // NO_ERROR reset of its upload, not a cancelled stream.
        let kept = Arc::new(Mutex::new(body));
        let req = Request::from_parts(parts, Body::new(Shared(Arc::clone(&kept))));
        return keeping(next.run(req).await, kept);
    }
    if declared_length(&parts.headers).is_some_and(|n| n > SMALL_BODY as u64) {
        return keeping(too_large(), Arc::new(Mutex::new(body)));
    }
    let mut body = body;
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    if read.len() + d.len() > SMALL_BODY {
                        return keeping(too_large(), Arc::new(Mutex::new(body)));
                    }
                    read.extend_from_slice(&d);
                }
            }
            Err(e) => return closing(body_error(&e)),
        }
    }
    next.run(Request::from_parts(parts, Body::from(read))).await
}

/// What a failed body read answers: 408 for a client under the minimum rate, else 400.
pub fn body_error(e: &axum::Error) -> Error {
    if crate::http::server::is_too_slow(e) {
        Error::TooSlow("the request body arrived too slowly".into())
    } else {
        Error::invalid("body", format!("reading the body: {e}"))
    }
}

/// A request body the middleware keeps a hold of.
struct Shared(Arc<Mutex<Body>>);

impl hyper::body::Body for Shared {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>> {
        let mut body = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Pin::new(&mut *body).poll_frame(cx)
    }
}

/// A response body that holds the request's body until the response is sent.
struct Keeping {
    inner: Body,
    _request: Arc<Mutex<Body>>,
}

impl hyper::body::Body for Keeping {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn keeping(resp: Response, request: Arc<Mutex<Body>>) -> Response {
    resp.map(|inner| {
        Body::new(Keeping {
            inner,
            _request: request,
        })
    })
}

/// Reads one form field in full, refusing it (413) once it passes `max` bytes.
/// A form that could not be read: over the route's body limit (413), or malformed (400).
pub fn form_error(e: &axum::extract::multipart::MultipartError) -> Error {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge(format!("reading the form: {}", e.body_text()))
    } else {
        Error::invalid("form", format!("reading the form: {}", e.body_text()))
    }
}

pub async fn read_field(field: &mut Field<'_>, max: usize, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(&e))? {
        if out.len() + chunk.len() > max {
            return Err(Error::TooLarge(format!(
                "{what} over {} KiB",
                max.div_ceil(1024)
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What is left to read of a request body; unbounded until [`Budget::limit`] is called.
#[derive(Clone, Debug)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    /// From now on at most `bytes` more are read; past that the body fails.
    pub fn limit(&self, bytes: usize) {
        self.0.store(bytes as u64, Ordering::SeqCst);
    }
}

/// A body that fails once its [`Budget`] is spent.
struct Budgeted {
    inner: Body,
    left: Arc<AtomicU64>,
}

impl hyper::body::Body for Budgeted {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            let n = f.data_ref().map_or(0, |d| d.len() as u64);
            let left = self.left.load(Ordering::SeqCst);
            if n > left {
                return Poll::Ready(Some(Err(axum::Error::new(
                    "no more of this request body is read",
                ))));
            }
            self.left.store(left - n, Ordering::SeqCst);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// `req` with a body whose reading can be cut short later (after a refusal).
pub fn budgeted(req: Request) -> (Budget, Request) {
    let left = Arc::new(AtomicU64::new(u64::MAX));
    let req = req.map(|inner| {
        Body::new(Budgeted {
            inner,
            left: Arc::clone(&left),
        })
    });
    (Budget(left), req)
}

/// After a refused upload: reads what the client is still sending, up to `budget` bytes, so
/// that it sees the answer (an HTTP/2 client whose upload is cut off sees a reset stream);
/// `false` when there was more, and the connection is to be closed instead.
pub async fn drain_form(
    form: &mut axum::extract::Multipart,
    limit: &Budget,
    budget: usize,
) -> bool {
    limit.limit(budget);
    loop {
        match form.next_field().await {
            Ok(Some(mut field)) => loop {
                match field.chunk().await {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return false,
                }
            },
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// A NIP from outside, before it is used or logged: exactly 18 ASCII digits. The answer does
/// not repeat what was sent.
pub fn check_nip(nip: &str) -> Result<()> {
    if nip.len() == 18 && nip.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid("nip", "a NIP is exactly 18 digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_deliveries_and_pdfs_to_verify_are_large() {
        assert!(is_large(&Method::POST, "/api/v1/documents"));
        assert!(is_large(&Method::POST, "/network/v1/letters"));
        assert!(is_large(&Method::POST, "/verifikasi"));
        assert!(!is_large(&Method::GET, "/verifikasi"));
        assert!(!is_large(&Method::GET, "/api/v1/documents"));
        assert!(!is_large(&Method::POST, "/api/v1/session"));
        assert!(!is_large(&Method::POST, "/ui/login"));
        assert!(!is_large(&Method::POST, "/api/v1/documents/x/destroy"));
    }

    #[test]
    fn a_nip_is_18_digits() {
        assert!(check_nip("197501012000031001").is_ok());
        for bad in [
            "",
            "19750101200003100",
            "1975010120000310011",
            "19750101200003100a",
            "١٩٧٥٠١٠١٢٠٠٠٠٣١٠٠١",
            "197501012000031001\n",
        ] {
            assert!(check_nip(bad).is_err(), "{bad:?}");
        }
    }
}
