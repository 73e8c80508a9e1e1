//! A small HTTPS client (hyper over rustls, HTTP/1.1 keep-alive) for the CLI commands that
//! talk to a running node (`docsvc unseal`) and for `docsvc bench`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// A step of an exchange with the node at `peer` failed.
fn exchange<E: std::fmt::Display>(op: &'static str, peer: &str) -> impl FnOnce(E) -> Error {
    let peer = peer.to_owned();
    move |e| Error::Exchange {
        op,
        peer,
        detail: e.to_string(),
    }
}

/// The client's TLS configuration could not be built from its files.
fn tls(e: impl std::fmt::Display) -> Error {
    Error::Crypto {
        op: "loading the TLS client configuration",
        detail: e.to_string(),
    }
}

/// A request body: whole, or streamed.
type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// One keep-alive HTTPS connection.
pub struct Client {
    send: SendRequest<Body>,
    host: String,
    opened: std::time::Instant,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Connects to `addr`, checking the server certificate for `server_name`.
pub async fn connect_named(
    addr: std::net::SocketAddr,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Client> {
    connect_checked(addr, server_name, tls, None).await
}

/// What the server's certificate (DER) must pass beyond the TLS checks.
pub type CertCheck<'a> = &'a (dyn Fn(&[u8]) -> Result<()> + Sync);

/// Connects like [`connect_named`] and then requires the server's certificate to pass `check`
/// before anything is sent: a node talks only to the peer the directory names.
pub async fn connect_pinned(
    addr: std::net::SocketAddr,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
    check: CertCheck<'_>,
) -> Result<Client> {
    connect_checked(addr, server_name, tls, Some(check)).await
}

async fn connect_checked(
    addr: std::net::SocketAddr,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
    pinned: Option<CertCheck<'_>>,
) -> Result<Client> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::invalid("peer address", format!("connecting to {addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(exchange("setting TCP_NODELAY", &addr.to_string()))?;
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| Error::invalid("server name", format!("server name {server_name:?}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| Error::invalid("peer address", format!("TLS with {addr}: {e}")))?;
    if let Some(check) = pinned {
        let shown = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| {
                Error::invalid("peer certificate", format!("{addr} shows no certificate"))
            })?;
        check(shown.as_ref())?;
    }
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(exchange("the HTTP handshake", &addr.to_string()))?;
    tokio::spawn(conn);
    Ok(Client {
        send,
        host: addr.to_string(),
        opened: std::time::Instant::now(),
    })
}

/// Connects to a node on loopback by its IP address.
pub async fn connect(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<Client> {
    connect_named(addr, &addr.ip().to_string(), tls).await
}

impl Client {
    /// How long ago the connection was made (and its peer's certificate checked).
    pub fn age(&self) -> std::time::Duration {
        self.opened.elapsed()
    }

    /// Whether the connection can take a request now (false once either side closed it).
    pub async fn ready(&mut self) -> bool {
        !self.send.is_closed() && self.send.ready().await.is_ok()
    }

    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)> {
        self.call_limited(method, path, headers, body, usize::MAX)
            .await
    }

    /// [`Client::call`], reading at most `max` bytes of the answer (more is an error).
    pub async fn call_limited(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        max: usize,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)> {
        let body = Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync();
        self.exchange(method, path, headers, body, max).await
    }

    /// [`Client::call_limited`] with a body streamed as `blocks` yields it: memory holds a few
    /// blocks whatever its length. An error from `blocks` aborts the request.
    pub async fn call_streamed<S>(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        blocks: S,
        max: usize,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        use futures_util::StreamExt as _;
        let body = StreamBody::new(blocks.map(|b| b.map(hyper::body::Frame::data))).boxed_unsync();
        self.exchange(method, path, headers, body, max).await
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
        max: usize,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body)
            .map_err(exchange("building a request", &self.host))?;
        self.send
            .ready()
            .await
            .map_err(exchange("waiting for the connection", &self.host))?;
        let resp = self
            .send
            .send_request(req)
            .await
            .map_err(exchange("sending a request", &self.host))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = http_body_util::Limited::new(resp.into_body(), max)
            .collect()
            .await
            .map_err(exchange("reading an answer", &self.host))?
            .to_bytes();
        Ok((status, headers, body))
    }
}

/// A client configuration that trusts the roots in `root` (PEM), with an optional client
/// certificate and key (PEM).
pub fn tls_config(
    root: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(root).map_err(tls)? {
        roots.add(c.map_err(tls)?).map_err(tls)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls)?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(tls)?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(tls)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(tls)?;
            builder.with_client_auth_cert(chain, key).map_err(tls)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
