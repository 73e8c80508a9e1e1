//! keymgr's online CA (`keymgr serve --api-listen`) as this node's client: enrolment of the
//! node's certificate with a one-time token, its renewal before expiry (a task), officials'
//! certificates and key bindings after their registration is approved. Every answer is
//! bounded, the CA is trusted only through the root pinned at init, and a refusal comes back
//! as the CA's problem document ([`Error::CaRefused`]).

use std::sync::Arc;

use serde::Serialize;

use crate::node::ca::{
    CaCerts, CaConfig, Issued, check_root, fetch_ca_certs, install_node_certificate, renewal_due,
};
use crate::node::{Layout, Node};
use crate::{Error, Result};

/// The largest answer read from the CA's API (certificates, a key binding).
const MAX_ANSWER: usize = 256 * 1024;
/// The largest answer read for the network directory.
const MAX_DIRECTORY: usize = 4 * 1024 * 1024;

/// An official's registration as the CA needs it.
#[derive(Clone, Debug, Serialize)]
pub struct OfficialRegistration {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub clearance: String,
}

/// keymgr's online CA as this node's client: HTTPS trusting only the pinned root, with the
/// node's own certificate (mutual TLS) once it has one.
pub struct CaClient {
    config: CaConfig,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for CaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaClient")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error::Crypto {
        op: "setting up TLS with the online CA",
        detail: e.to_string(),
    }
}

impl CaClient {
    /// A client without a certificate (enrolment): trusts `root_der`, which must be pinned.
    pub fn anonymous(config: &CaConfig, root_der: &[u8]) -> Result<Self> {
        check_root(config, root_der)?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(root_der.to_vec()))
            .map_err(tls_error)?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(CaClient {
            config: config.clone(),
            tls: Arc::new(tls),
        })
    }

    /// A client presenting the node's certificate (`tls/node-chain.pem`, key in the TLS
    /// keystore) and trusting only the node's root, which must be the pinned one.
    pub fn for_layout(layout: &Layout, config: &CaConfig) -> Result<Self> {
        let root = crate::node::read_pem_certs(&layout.ca("root.pem"))?.remove(0);
        check_root(config, &root)?;
        let chain = crate::node::read_pem_certs(&layout.tls_chain())?;
        let keys = crate::node::NodeKeys::load(layout)?;
        let tls_store = crate::node::open_tls_keystore(layout)?;
        let handle = hsm_shim::KeyStore::info(tls_store.as_ref(), keys.tls)?.handle();
        let certified =
            crate::crypto::tls::certified(chain, tls_store as Arc<dyn hsm_shim::KeyStore>, handle);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(root))
            .map_err(tls_error)?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(super::OwnCert(Arc::new(certified))));
        Ok(CaClient {
            config: config.clone(),
            tls: Arc::new(tls),
        })
    }

    /// For a running node: its `[ca]`.
    pub fn for_node(node: &Node) -> Result<Self> {
        let config = node.config.ca.as_ref().ok_or_else(|| {
            Error::invalid("CA", "node.toml has no [ca]: this node has no online CA")
        })?;
        Self::for_layout(&node.layout, config)
    }

    /// One JSON call; a problem answer becomes [`Error::CaRefused`].
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        max: usize,
    ) -> Result<serde_json::Value> {
        let (host, port) = self.config.host_port();
        let peer = format!("{host}:{port}");
        let addr = tokio::net::lookup_host(&peer)
            .await
            .map_err(|e| Error::invalid("CA URL", format!("resolving {peer}: {e}")))?
            .next()
            .ok_or_else(|| Error::invalid("CA URL", format!("{peer} does not resolve")))?;
        let mut client = super::client::connect_named(addr, &host, Arc::clone(&self.tls)).await?;
        let bytes = match body {
            Some(v) => bytes::Bytes::from(
                serde_json::to_vec(v).map_err(|e| Error::encode("a request to the CA", e))?,
            ),
            None => bytes::Bytes::new(),
        };
        let headers: &[(&str, &str)] = if body.is_some() {
            &[
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ]
        } else {
            &[("accept", "application/json")]
        };
        let (status, _, answer) = client
            .call_limited(method, path, headers, bytes, max)
            .await?;
        let v: Option<serde_json::Value> = serde_json::from_slice(&answer).ok();
        if status != 200 {
            let field = |k: &str| {
                v.as_ref()
                    .and_then(|v| v[k].as_str())
                    .map(|s| s.chars().take(500).collect::<String>())
            };
            return Err(Error::CaRefused {
                status,
                problem: field("type")
                    .or_else(|| field("title"))
                    .unwrap_or_else(|| "no problem document".into()),
                detail: field("detail").unwrap_or_else(|| "no detail".into()),
            });
        }
        v.ok_or_else(|| Error::Exchange {
            op: "reading the CA's answer",
            peer,
            detail: "not JSON".into(),
        })
    }

    async fn issue(&self, path: &str, body: serde_json::Value) -> Result<Issued> {
        let v = self.call("POST", path, Some(&body), MAX_ANSWER).await?;
        let bad = |why: &str| Error::Exchange {
            op: "reading a certificate from the CA",
            peer: self.config.url.clone(),
            detail: why.into(),
        };
        let certificate = v["certificate_pem"]
            .as_str()
            .and_then(keymgr::ca::pem_to_der)
            .ok_or_else(|| bad("no certificate_pem"))?;
        let chain = crate::node::pem_certs(v["chain_pem"].as_str().unwrap_or_default())
            .map_err(|why| bad(&format!("chain_pem: {why}")))?;
        Ok(Issued { certificate, chain })
    }

    /// `POST /api/v1/enrol/node`: the node's first certificate, with a one-time token.
    pub async fn enrol_node(&self, token: &str, csr_der: &[u8]) -> Result<Issued> {
        self.issue(
            "/api/v1/enrol/node",
            serde_json::json!({ "token": token, "csr_pem": pem_csr(csr_der) }),
        )
        .await
    }

    /// `POST /api/v1/nodes/renew`: the next certificate of the calling node.
    pub async fn renew_node(&self, csr_der: &[u8]) -> Result<Issued> {
        self.issue(
            "/api/v1/nodes/renew",
            serde_json::json!({ "csr_pem": pem_csr(csr_der) }),
        )
        .await
    }

    /// `POST /api/v1/officials/certificate`: an official's signing certificate.
    pub async fn issue_official(
        &self,
        registration: &OfficialRegistration,
        csr_der: &[u8],
    ) -> Result<Issued> {
        let mut body = serde_json::to_value(registration)
            .map_err(|e| Error::encode("an official's registration", e))?;
        body["csr_pem"] = serde_json::Value::String(pem_csr(csr_der));
        self.issue("/api/v1/officials/certificate", body).await
    }

    /// `POST /api/v1/officials/binding`: the Signing CA's binding of an official's encryption
    /// key, as `keymgr bind-key` writes it.
    pub async fn bind_official(&self, nip: &str, recipient: &str) -> Result<serde_json::Value> {
        let v = self
            .call(
                "POST",
                "/api/v1/officials/binding",
                Some(&serde_json::json!({ "nip": nip, "age_recipient": recipient })),
                MAX_ANSWER,
            )
            .await?;
        match v.get("binding") {
            Some(b) if b.is_object() => Ok(b.clone()),
            _ => Err(Error::Exchange {
                op: "reading a key binding from the CA",
                peer: self.config.url.clone(),
                detail: "no binding".into(),
            }),
        }
    }

    /// `POST /api/v1/applications/certificate`: an application's client certificate.
    pub async fn issue_application(
        &self,
        name: &str,
        agency: &str,
        csr_der: &[u8],
    ) -> Result<Issued> {
        self.issue(
            "/api/v1/applications/certificate",
            serde_json::json!({ "name": name, "agency": agency, "csr_pem": pem_csr(csr_der) }),
        )
        .await
    }

    /// `GET /api/v1/directory`: the current signed network directory.
    pub async fn directory(&self) -> Result<serde_json::Value> {
        self.call("GET", "/api/v1/directory", None, MAX_DIRECTORY)
            .await
    }
}

fn pem_csr(der: &[u8]) -> String {
    keymgr::ca::pem_encode("CERTIFICATE REQUEST", der)
}

/// Enrols a node that has no certificate yet: the CA certificates fetched and checked against
/// the pin, the node's CSR sent with the one-time `token`, the certificate installed.
pub async fn enrol(layout: &Layout, token: &str) -> Result<Issued> {
    let config = crate::node::Config::load(layout)?;
    let ca = config
        .ca
        .as_ref()
        .ok_or_else(|| Error::invalid("CA", "node.toml has no [ca]"))?;
    let cas = fetch_ca_certs(ca).await?;
    let csr_pem =
        std::fs::read_to_string(layout.csr()).map_err(|e| Error::io("reading", layout.csr(), e))?;
    let csr = keymgr::ca::pem_to_der(&csr_pem)
        .ok_or_else(|| Error::invalid("certificate request", "tls/node.csr is not PEM"))?;
    let issued = CaClient::anonymous(ca, &cas.root)?
        .enrol_node(token, &csr)
        .await?;
    install_node_certificate(layout, &issued, &cas)?;
    Ok(issued)
}

/// Renews the node certificate with the CA (same TLS key; mutual TLS with the current
/// certificate) and installs it; a running node picks it up through `NodeCert::replace`.
pub async fn renew(layout: &Layout) -> Result<Issued> {
    let config = crate::node::Config::load(layout)?;
    let ca = config
        .ca
        .as_ref()
        .ok_or_else(|| Error::invalid("CA", "node.toml has no [ca]"))?;
    let cas = CaCerts {
        root: crate::node::read_pem_certs(&layout.ca("root.pem"))?.remove(0),
        network: crate::node::read_pem_certs(&layout.ca("network-ca.pem"))?.remove(0),
        signing: crate::node::read_pem_certs(&layout.ca("signing-ca.pem"))?.remove(0),
    };
    let keys = crate::node::NodeKeys::load(layout)?;
    let tls_store = crate::node::open_tls_keystore(layout)?;
    let csr = crate::crypto::tls::csr_for(tls_store.as_ref(), keys.tls, &config.node_id)?;
    let issued = CaClient::for_layout(layout, ca)?.renew_node(&csr).await?;
    install_node_certificate(layout, &issued, &cas)?;
    Ok(issued)
}

/// Fetches the CA's current signed network directory and, when it verifies against the node's
/// Network CA and root and is newer than the one the node holds, writes it whole to
/// `network/directory.json` (where `NetworkDirectory` takes it up, never going back a version).
/// The version written, or `None` when the node already had it.
pub async fn refresh_directory(node: &Node) -> Result<Option<u64>> {
    let Some(ca) = node.config.ca.as_ref() else {
        return Ok(None);
    };
    let value = CaClient::for_layout(&node.layout, ca)?.directory().await?;
    let directory: keymgr::directory::Directory = serde_json::from_value(value)
        .map_err(|e| Error::invalid("network directory", format!("the CA's answer: {e}")))?;
    keymgr::directory::verify(&directory, &node.network_ca_der, node.trust.root_der())?;
    let path = node.layout.dir().join("network").join("directory.json");
    let held = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<keymgr::directory::Directory>(&b).ok())
        .map(|d| d.version);
    if held.is_some_and(|v| v >= directory.version) {
        return Ok(None);
    }
    let bytes = serde_json::to_vec_pretty(&directory)
        .map_err(|e| Error::invalid("network directory", e.to_string()))?;
    crate::node::write_new(&path, &bytes)?;
    Ok(Some(directory.version))
}

/// The directory task of a serving node: every `[ca] directory_refresh_secs`, the CA's signed
/// directory is fetched and a newer one installed; failures are logged and tried again.
pub fn spawn_directory_refresh(node: Arc<Node>) {
    let Some(config) = node.config.ca.clone() else {
        return;
    };
    let every = std::time::Duration::from_secs(config.directory_refresh_secs.max(1));
    tokio::spawn(async move {
        loop {
            match refresh_directory(&node).await {
                Ok(Some(version)) => {
                    tracing::info!("network directory version {version} from the online CA");
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("network directory from the online CA: {e}"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// The renewal task of a serving node: sleeps until the certificate is due, renews it and
/// hands the new chain to the TLS server; retries hourly on failure, and renews at most once
/// an hour.
pub fn spawn_renewal(node: Arc<Node>, cert: Arc<crate::crypto::tls::NodeCert>) {
    let Some(config) = node.config.ca.clone() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let wait = match renewal_due(&node.layout, &config) {
                Ok(due) => {
                    let left = due - time::OffsetDateTime::now_utc();
                    std::time::Duration::try_from(left).unwrap_or_default()
                }
                Err(e) => {
                    tracing::error!("node certificate unreadable for renewal: {e}");
                    std::time::Duration::from_secs(3600)
                }
            };
            // Sleep in bounded steps: a clock change is noticed within the hour.
            if !wait.is_zero() {
                tokio::time::sleep(wait.min(std::time::Duration::from_secs(3600))).await;
                continue;
            }
            match renew(&node.layout).await {
                Ok(issued) => {
                    let handle =
                        hsm_shim::KeyStore::info(node.tls_keystore.as_ref(), node.keys.get().tls)
                            .map(|i| i.handle());
                    match handle {
                        Ok(h) => {
                            let mut chain = vec![issued.certificate];
                            chain.extend(issued.chain.into_iter().take(1));
                            cert.replace(
                                chain,
                                Arc::clone(&node.tls_keystore) as Arc<dyn hsm_shim::KeyStore>,
                                h,
                            );
                            tracing::info!("node certificate renewed by the online CA");
                        }
                        Err(e) => tracing::error!("renewed certificate not loaded: {e}"),
                    }
                    // At most one renewal an hour, even when a new certificate is due at once
                    // (renew_before_days longer than the validity the CA gives).
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
                Err(e) => {
                    tracing::error!("node certificate renewal failed, retrying in an hour: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
            }
        }
    });
}
