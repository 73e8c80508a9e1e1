//! The API's HTTPS listener: rustls with client certificates optional at the handshake (the
//! open operations need none) and verified against the Network CA when given; each
//! connection's certificate goes to the handlers. Connections are capped, handshakes and
//! request headers have deadlines, requests a time limit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::response::{IntoResponse as _, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{Semaphore, watch};

use super::PeerCert;
use crate::ca::{Ca, Home};
use crate::{Error, Result};

const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
const HEADER_DEADLINE: Duration = Duration::from_secs(10);
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: usize = 256;

/// Where the API's server certificate (with the Network CA after it) and its key live: in
/// HOME/api/, the key readable by its owner only, so the API answers while the keystore is
/// sealed.
#[derive(Clone, Debug)]
pub struct ServerFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl ServerFiles {
    pub fn of(home: &Home) -> Self {
        let dir = home.dir().join("api");
        ServerFiles {
            certificate: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Publication(format!("API TLS: {what}: {e}"))
}

/// The server's TLS configuration: its certificate chain and key, and client certificates
/// verified against the Network CA (optional at the handshake).
fn tls_config(home: &Home) -> Result<rustls::ServerConfig> {
    let files = ServerFiles::of(home);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(&files.key).map_err(|e| {
            Error::io(
                "reading (issue it with `keymgr api-cert`)",
                files.key.clone(),
                e,
            )
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(tls_error(
                &files.key.display().to_string(),
                "the key must be readable by its owner only (chmod 600)",
            ));
        }
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| tls_error(&files.certificate.display().to_string(), e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_error(&files.certificate.display().to_string(), e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_error(&files.key.display().to_string(), e))?;
    let mut roots = RootCertStore::empty();
    // Only the Network CA is trusted for clients: a Signing CA certificate (an official's)
    // does not authenticate at this API.
    roots
        .add(CertificateDer::from(home.cert_der(Ca::Network)?))
        .map_err(|e| tls_error("the Network CA certificate", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| tls_error("client verifier", e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("server certificate", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The API listening: its address, and the way to stop it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and lets open requests finish (a few seconds at most).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Binds `listen` and serves `app` over HTTPS with the server files of `home`.
pub async fn start(home: &Home, listen: SocketAddr, app: Router) -> Result<Running> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(home)?));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Publication(format!("listening on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Publication(format!("the bound address: {e}")))?;
    let (stop, mut stopped) = watch::channel(false);
    let app = app.layer(axum::middleware::from_fn(deadline));
    let task = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopped.changed() => break,
            };
            let Ok((tcp, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _slot = slot;
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp)).await
                else {
                    return;
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Arc::new(c.as_ref().to_vec()));
                let app = app.layer(Extension(PeerCert(peer)));
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_DEADLINE)
                    .max_buf_size(16 * 1024)
                    .max_headers(64);
                let conn =
                    builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
                let _ = watcher.watch(conn).await;
            });
        }
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    });
    Ok(Running { addr, stop, task })
}

/// A request that takes longer than [`REQUEST_DEADLINE`] is answered 503 and dropped.
async fn deadline(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await {
        Ok(r) => r,
        Err(_) => super::Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long",
        )
        .into_response(),
    }
}
