//! CRLs from their distribution points: the node fetches each CRL URL on a schedule (plain
//! HTTP, as RFC 5280 §4.2.1.13 has it) and offers what it gets to its CRL cache, which keeps it
//! only if a trusted CA signed it and its number is higher than the one held. No one copies
//! CRLs to nodes by hand; a revocation reaches every node within one refresh.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};

use crate::crypto::revocation::Offer;
use crate::node::Node;
use crate::{Error, Result};

/// A CRL larger than this is not read: sandi's CRLs list revoked serials of one city's network.
pub const MAX_CRL: usize = 16 << 20;

/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The URLs the node fetches: `[pki] crl_urls`, or else the CRL Distribution Points of its own
/// certificate and, with an online CA (`[ca] publication_url`), both issuing CAs' CRLs where
/// keymgr publishes them (the Signing CA's CRL is named in officials' certificates only, and
/// a node must hold it to accept any of them).
pub fn crl_urls(node: &Node) -> Vec<String> {
    if !node.config.pki.crl_urls.is_empty() {
        return node.config.pki.crl_urls.clone();
    }
    let mut urls: Vec<String> = crate::node::read_pem_certs(&node.layout.tls_chain())
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .map(|leaf| distribution_points(&leaf))
        .unwrap_or_default();
    if let Some(base) = node
        .config
        .ca
        .as_ref()
        .and_then(|ca| ca.publication_url.as_deref())
    {
        let base = base.trim_end_matches('/');
        // The root's CRL is signed only in ceremonies; held, it goes into signed PDFs'
        // long-term validation data (a node is ready without it).
        for name in ["network-ca", "signing-ca", "root"] {
            let url = format!("{base}/crl/{name}.crl");
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}

/// The `http://` URIs of a certificate's CRL Distribution Points.
pub fn distribution_points(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for point in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                    for name in names {
                        if let GeneralName::URI(uri) = name
                            && uri.starts_with("http://")
                        {
                            out.push((*uri).to_owned());
                        }
                    }
                }
            }
        }
    }
    out
}

/// Fetches every CRL URL once and offers each CRL to the cache.
pub async fn refresh(node: &Node) -> Vec<(String, Result<Offer>)> {
    let mut out = Vec::new();
    for url in crl_urls(node) {
        let result = match tokio::time::timeout(FETCH_TIMEOUT, fetch(&url)).await {
            Ok(Ok(der)) => node.crls.offer(der),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::invalid(
                "CRL URL",
                format!("{url}: no answer within {} s", FETCH_TIMEOUT.as_secs()),
            )),
        };
        out.push((url, result));
    }
    out
}

/// Fetches the CRLs now and then every `[pki] crl_refresh_secs`, for as long as the node runs.
pub fn spawn(node: Arc<Node>) {
    tokio::spawn(async move {
        loop {
            for (url, result) in refresh(&node).await {
                match result {
                    Ok(Offer::Installed { number }) => {
                        tracing::info!(%url, %number, "newer CRL fetched and in force");
                    }
                    Ok(Offer::NotNewer { .. }) => {}
                    Err(e) => tracing::warn!(%url, "CRL not fetched: {e}"),
                }
            }
            tokio::time::sleep(node.config.pki.crl_refresh()).await;
        }
    });
}

/// `http://host[:port]/path` only: CRLs are signed, so they travel over plain HTTP, and
/// nothing else is fetched this way.
fn split_url(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| Error::invalid("CRL URL", format!("{url:?}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are fetched"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') || url.len() > 2048 {
        return Err(bad("no host, or user information, or too long"));
    }
    let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.contains(']')
    }) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((
        authority,
        if path.is_empty() { "/" } else { path }.to_owned(),
    ))
}

/// One GET over HTTP/1.1, the body read up to [`MAX_CRL`].
async fn fetch(url: &str) -> Result<Vec<u8>> {
    get(url, "application/pkix-crl", MAX_CRL).await
}

/// One GET of a signed publication (a CRL, a CA certificate) over plain HTTP/1.1, the body
/// read up to `max` bytes.
pub(crate) async fn get(url: &str, accept: &str, max: usize) -> Result<Vec<u8>> {
    let (status, body) = get_status(url, accept, max).await?;
    if status != 200 {
        return Err(Error::invalid(
            "CRL URL",
            format!("{url}: answered {status}"),
        ));
    }
    Ok(body)
}

/// One GET over plain HTTP/1.1: the status, and the body (read up to `max` bytes) when it is
/// 200 or 404 (keymgr signs its 404s for the issuance log; empty otherwise).
pub(crate) async fn get_status(url: &str, accept: &str, max: usize) -> Result<(u16, Vec<u8>)> {
    let (authority, path) = split_url(url)?;
    let failed = |e: &dyn std::fmt::Display| Error::invalid("CRL URL", format!("{url}: {e}"));
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| failed(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, &authority)
        .header(hyper::header::ACCEPT, accept)
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    let status = response.status();
    if status != hyper::StatusCode::OK && status != hyper::StatusCode::NOT_FOUND {
        conn.abort();
        return Ok((status.as_u16(), Vec::new()));
    }
    let body = Limited::new(response.into_body(), max)
        .collect()
        .await
        .map_err(|e| failed(&e))?
        .to_bytes();
    conn.abort();
    Ok((status.as_u16(), body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_are_fetched() {
        assert_eq!(
            split_url("http://pki.example:8180/crl/network-ca.crl").expect("url"),
            ("pki.example:8180".into(), "/crl/network-ca.crl".into())
        );
        assert_eq!(
            split_url("http://pki.example/crl/a.crl").expect("url"),
            ("pki.example:80".into(), "/crl/a.crl".into())
        );
        for refused in [
            "https://pki.example/a.crl",
            "file:///etc/passwd",
            "http:///a.crl",
            "http://user@pki.example/a.crl",
        ] {
            assert!(split_url(refused).is_err(), "{refused}");
        }
    }
}
