//! What a node publishes over plain HTTP for anyone who checks a sandi certificate: the CA
//! certificates and the CRLs in force here (RFC 5280 §4.2.1.13: fetched over HTTP, DER, as
//! `application/pkix-cert` and `application/pkix-crl`). Both are public and signed, so the
//! listener asks no one who they are; it answers GET only, reads no body, and knows six paths.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::App;

/// The router of the publication listener (`[pki] publish_listen`).
pub fn router(node: App) -> Router {
    Router::new()
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .with_state(node)
}

fn der(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=60"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn ca_certificate(State(node): State<App>, Path(file): Path<String>) -> Response {
    let cert = match file.as_str() {
        "root.crt" => node.trust.root_der(),
        "network-ca.crt" => &node.network_ca_der,
        "signing-ca.crt" => &node.signing_ca_der,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    der("application/pkix-cert", cert.to_vec())
}

async fn crl(State(node): State<App>, Path(file): Path<String>) -> Response {
    let ca = match file.as_str() {
        "root.crl" => node.trust.root_der(),
        "network-ca.crl" => &node.network_ca_der,
        "signing-ca.crl" => &node.signing_ca_der,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match node.crls.current_der(ca) {
        Some(crl) => der("application/pkix-crl", crl),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
