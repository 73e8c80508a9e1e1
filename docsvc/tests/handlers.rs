//! The HTTP layer driven without a socket: the router of a quickstart node (opened as a library
//! and unsealed) answers requests handed to it with `tower::ServiceExt::oneshot`, as the server
//! would after TLS. Fast checks of what every route must do, beside the end-to-end suites that
//! start the real binary.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use docsvc::http::api::{CSRF_HEADER, Conn, SESSION_COOKIE, router};
use docsvc::node::{Layout, Node};
use tower::ServiceExt as _;

const BUDI: &str = "197501012000031001";
/// What a problem document may be at most: a refusal never carries a request back whole.
const MAX_PROBLEM: usize = 4096;

struct Fixture {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    budi_password: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("quickstart");
    let budi_password = out
        .officials
        .iter()
        .find(|o| o.nip == BUDI)
        .expect("Budi is a dev official")
        .password
        .to_string();
    let node = Arc::new(Node::open(Layout::new(dir.path())).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    Fixture {
        _dir: dir,
        node,
        budi_password,
    }
}

fn app(f: &Fixture) -> Router {
    router(Arc::clone(&f.node))
}

/// A request as the serve loop hands it on: with the connection it came over.
fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path).extension(Conn {
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 40_000)),
        client_cert: None,
    })
}

async fn send(app: Router, req: Request<Body>) -> (Response<Body>, Vec<u8>) {
    let resp = app.oneshot(req).await.expect("the router answers");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a bounded body")
        .to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}

fn json(v: &serde_json::Value) -> Body {
    Body::from(serde_json::to_vec(v).expect("json"))
}

/// An RFC 9457 problem document of `status`, small, with its content type.
fn assert_problem(resp: &Response<Body>, body: &[u8], status: StatusCode) -> serde_json::Value {
    assert_eq!(resp.status(), status, "{}", String::from_utf8_lossy(body));
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert!(body.len() <= MAX_PROBLEM, "problem of {} bytes", body.len());
    let p: serde_json::Value = serde_json::from_slice(body).expect("problem JSON");
    assert_eq!(p["status"], status.as_u16());
    assert!(p["type"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
    p
}

async fn login(app: Router, nip: &str, password: &str) -> (Response<Body>, Vec<u8>) {
    let req = request(Method::POST, "/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(json(&serde_json::json!({"nip": nip, "password": password})))
        .expect("request");
    send(app, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_official_logs_in_lists_and_logs_out() {
    let f = fixture().await;
    let (resp, body) = login(app(&f), BUDI, &f.budi_password).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    assert!(
        cookie.starts_with(&format!("{SESSION_COOKIE}=")),
        "{cookie}"
    );
    let session: serde_json::Value = serde_json::from_slice(&body).expect("login JSON");
    assert_eq!(session["nip"], BUDI);
    let csrf = session["csrf"].as_str().expect("csrf").to_owned();

    let list = request(Method::GET, "/api/v1/documents")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(app(&f), list).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let letters: serde_json::Value = serde_json::from_slice(&body).expect("list JSON");
    assert!(letters.is_array(), "{letters}");

    // A state change without the CSRF header is refused; with it, the session ends.
    let no_csrf = request(Method::DELETE, "/api/v1/session")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(app(&f), no_csrf).await;
    assert_problem(&resp, &body, StatusCode::FORBIDDEN);
    let logout = request(Method::DELETE, "/api/v1/session")
        .header(header::COOKIE, &cookie)
        .header(CSRF_HEADER, &csrf)
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(app(&f), logout).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let again = request(Method::GET, "/api/v1/documents")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(app(&f), again).await;
    assert_problem(&resp, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_a_malformed_nip_are_refused_without_echo() {
    let f = fixture().await;
    let (resp, body) = login(app(&f), BUDI, "not the password").await;
    assert_problem(&resp, &body, StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get(header::SET_COOKIE).is_none());

    let hostile = format!("<script>{}</script>", "9".repeat(2000));
    let (resp, body) = login(app(&f), &hostile, "x").await;
    assert_problem(&resp, &body, StatusCode::BAD_REQUEST);
    assert!(
        !String::from_utf8_lossy(&body).contains("<script>"),
        "the NIP is not repeated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_letter_route_wants_a_caller_first() {
    let f = fixture().await;
    for (method, path) in [
        (Method::GET, "/api/v1/documents"),
        (
            Method::GET,
            "/api/v1/documents/00000000-0000-0000-0000-000000000000",
        ),
        (Method::GET, "/api/v1/documents/x/content"),
        (Method::POST, "/api/v1/documents/x/approve"),
        (Method::GET, "/api/v1/me"),
        (Method::GET, "/api/v1/admin/officials"),
        (Method::GET, "/api/v1/admin/officials/x/csr"),
        (Method::POST, "/api/v1/sign"),
    ] {
        let req = request(method.clone(), path)
            .body(Body::empty())
            .expect("request");
        let (resp, body) = send(app(&f), req).await;
        let p = assert_problem(&resp, &body, StatusCode::UNAUTHORIZED);
        assert!(
            p["detail"].is_string() || p["title"].is_string(),
            "{method} {path}: {p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_problems_with_the_security_headers() {
    let f = fixture().await;
    let req = request(Method::GET, "/api/v1/nothing-here")
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(app(&f), req).await;
    assert_problem(&resp, &body, StatusCode::NOT_FOUND);
    let h = resp.headers();
    assert_eq!(
        h.get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_some());
    assert!(h.get(header::REFERRER_POLICY).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_routes() {
    let f = fixture().await;
    let req = request(Method::GET, "/api/v1/openapi.json")
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(app(&f), req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("OpenAPI JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in ["/api/v1/session", "/api/v1/documents", "/api/v1/sign"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}
