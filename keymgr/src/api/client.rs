//! A small HTTPS client for the API's open operations, for `keymgr unseal --url`: the server
//! must chain to the given root CA certificate; one request per connection.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::{Error, Result};

fn client_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Publication(format!("calling the online CA: {what}: {e}"))
}

/// Posts a JSON body to `url` + `path` over HTTPS (the server verified against `root_der`) and
/// returns the status and the JSON answer.
pub async fn post_json(
    url: &str,
    root_der: &[u8],
    path: &str,
    body: &[u8],
) -> Result<(u16, serde_json::Value)> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Error::InvalidInput("the URL must be https://HOST:PORT".into()))?
        .trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (
            h,
            p.parse::<u16>()
                .map_err(|_| Error::InvalidInput(format!("bad port in {url}")))?,
        ),
        _ => (rest, 443),
    };
    let host = host.trim_matches(['[', ']']);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(root_der.to_vec()))
        .map_err(|e| client_error("the root certificate", e))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| client_error("TLS", e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::InvalidInput(format!("{host}: {e}")))?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| client_error(&format!("connecting to {host}:{port}"), e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| client_error("TLS handshake", e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| client_error("HTTP", e))?;
    let driver = tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header("host", host)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| client_error("the request", e))?;
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sender.send_request(request),
    )
    .await
    .map_err(|_| client_error("the answer", "timed out"))?
    .map_err(|e| client_error("the answer", e))?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), super::MAX_BODY)
        .collect()
        .await
        .map_err(|e| client_error("the answer's body", e))?
        .to_bytes();
    driver.abort();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}
