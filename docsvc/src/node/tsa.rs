//! Time-stamps for this node's signatures, from the TSA at `[pki] tsa_url` (keymgr's
//! `POST /tsa`, RFC 3161 over plain HTTP: the token is signed, so the transport need not be).
//! A signature that gets no time-stamp is not handed out: the action fails closed with
//! [`Error::TimestampUnavailable`] (503 `timestamp-unavailable`), in the operator's log, the
//! access log and `docsvc_timestamp_unavailable_total`.

use std::sync::RwLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};

use crate::audit::Entry;
use crate::crypto::timestamp;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::{Error, Result};

/// The longest a signature waits for its time-stamp.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the TSA (a token with one certificate is a few KiB).
const MAX_ANSWER: usize = 64 * 1024;

/// Where this node's time-stamps come from. The URL is `node.toml`'s, or the development TSA's
/// that `docsvc serve --dev-unseal` starts in process (set once it listens).
#[derive(Debug)]
pub struct Tsa {
    url: RwLock<Option<String>>,
}

impl Tsa {
    pub fn new(url: Option<String>) -> Self {
        Tsa {
            url: RwLock::new(url),
        }
    }

    pub fn url(&self) -> Option<String> {
        self.url
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set_url(&self, url: String) {
        *self
            .url
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url);
    }
}

/// `cms_der` with a time-stamp token over its signature from the node's TSA, or
/// `TimestampUnavailable` (logged and counted).
pub async fn stamp(node: &Node, cms_der: Vec<u8>) -> Result<Vec<u8>> {
    let token = token(node, What::Signature(&cms_der)).await?;
    timestamp::attach(&cms_der, &token)
}

/// A time-stamp token (DER) from the node's TSA over the SHA-256 digest `sha256` (a PDF's
/// document time-stamp), or `TimestampUnavailable` (logged and counted).
pub async fn stamp_digest(node: &Node, sha256: &[u8]) -> Result<Vec<u8>> {
    token(node, What::Digest(sha256)).await
}

/// What a token is asked for.
#[derive(Clone, Copy)]
enum What<'a> {
    /// The signature value of a CMS.
    Signature(&'a [u8]),
    /// A SHA-256 digest.
    Digest(&'a [u8]),
}

async fn token(node: &Node, what: What<'_>) -> Result<Vec<u8>> {
    let result = match node.tsa.url() {
        None => Err("no TSA is configured ([pki] tsa_url in node.toml)".to_owned()),
        Some(url) => ask(&url, what, &node.trust).await,
    };
    result.map_err(|why| unavailable(node, why))
}

async fn ask(
    url: &str,
    what: What<'_>,
    trust: &crate::crypto::signature::Trust,
) -> std::result::Result<Vec<u8>, String> {
    let (req, nonce) = match what {
        What::Signature(cms) => timestamp::request_for(cms),
        What::Digest(d) => timestamp::request_over(d),
    }
    .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(TIMEOUT, post(url, req))
        .await
        .map_err(|_| format!("the TSA at {url} did not answer within {TIMEOUT:?}"))??;
    let now = time::OffsetDateTime::now_utc();
    let granted = match what {
        What::Signature(cms) => timestamp::token_from(&answer, cms, &nonce, now),
        What::Digest(d) => timestamp::token_over(&answer, d, &nonce, now),
    }
    .map_err(|e| format!("the TSA at {url}: {e}"))?;
    crate::crypto::signature::check_chain(&granted.tsa_certificate, trust, granted.gen_time)
        .map_err(|e| format!("the TSA at {url}: its certificate: {e}"))?;
    Ok(granted.token)
}

/// One `POST` of a DER request to the TSA; its DER answer, bounded.
async fn post(url: &str, body: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("tsa_url {url:?} is not a URL: {e}"))?;
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!("tsa_url {url:?} must be an http:// URL"));
    };
    let host = authority.as_str().to_owned();
    let fail = |what: &str| {
        let host = host.clone();
        let what = what.to_owned();
        move |e: &dyn std::fmt::Display| format!("the TSA at {host}: {what}: {e}")
    };
    let tcp = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .map_err(|e| fail("connecting")(&e))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| fail("the HTTP handshake")(&e))?;
    tokio::spawn(conn);
    let req = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header("host", &host)
        .header("content-type", "application/timestamp-query")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail("building the request")(&e))?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| fail("sending the request")(&e))?;
    if resp.status() != hyper::StatusCode::OK {
        return Err(format!("the TSA at {host} answered HTTP {}", resp.status()));
    }
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !kind.starts_with("application/timestamp-reply") {
        return Err(format!(
            "the TSA at {host} answered {kind:?}, not application/timestamp-reply"
        ));
    }
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| fail("reading the answer")(&*e))?
        .to_bytes();
    Ok(body.to_vec())
}

fn unavailable(node: &Node, why: String) -> Error {
    tracing::error!("no time-stamp for a signature, refused: {why}");
    Metrics::inc(&node.metrics.timestamp_unavailable);
    let entry = Entry::event(
        "tsa".into(),
        "timestamp",
        "deny",
        why.clone(),
        node.policy.current().version(),
        None,
    );
    let log = node.log.clone();
    tokio::spawn(async move {
        if let Err(e) = log.append(entry).await {
            tracing::error!("the time-stamp refusal could not be logged: {e}");
        }
    });
    Error::TimestampUnavailable(why)
}
