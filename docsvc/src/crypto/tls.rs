//! TLS for the node: rustls with the node certificate keymgr issued, its private key kept in
//! hsm-shim (rustls asks the keystore to sign each handshake), and optional client
//! certificates for applications and nodes, checked against the sandi root.

use std::sync::{Arc, RwLock};

use hsm_shim::{KeyHandle, KeyStore};
use rustls::pki_types::CertificateDer;
use rustls::server::ResolvesServerCert;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{RootCertStore, ServerConfig, SignatureAlgorithm, SignatureScheme};

use crate::{Error, Result};

/// A P-256 key in a keystore, as rustls sees it.
struct HsmTlsKey {
    keys: Arc<dyn KeyStore>,
    handle: KeyHandle,
}

impl std::fmt::Debug for HsmTlsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmTlsKey")
            .field("key", &self.handle.id())
            .finish_non_exhaustive()
    }
}

impl SigningKey for HsmTlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| {
                Box::new(HsmTlsSigner {
                    keys: Arc::clone(&self.keys),
                    handle: self.handle,
                }) as Box<dyn Signer>
            })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

struct HsmTlsSigner {
    keys: Arc<dyn KeyStore>,
    handle: KeyHandle,
}

impl std::fmt::Debug for HsmTlsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmTlsSigner").finish_non_exhaustive()
    }
}

impl Signer for HsmTlsSigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, rustls::Error> {
        self.keys
            .sign(&self.handle, message)
            .map(|s| s.bytes)
            .map_err(|e| rustls::Error::General(format!("node key: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

/// The node's certificate and key, replaceable while the server runs (a renewed node
/// certificate is picked up without a restart).
#[derive(Debug)]
pub struct NodeCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl NodeCert {
    pub fn new(chain: Vec<Vec<u8>>, keys: Arc<dyn KeyStore>, handle: KeyHandle) -> Self {
        NodeCert {
            current: RwLock::new(Arc::new(certified(chain, keys, handle))),
        }
    }

    pub fn replace(&self, chain: Vec<Vec<u8>>, keys: Arc<dyn KeyStore>, handle: KeyHandle) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(certified(chain, keys, handle));
    }
}

pub(crate) fn certified(
    chain: Vec<Vec<u8>>,
    keys: Arc<dyn KeyStore>,
    handle: KeyHandle,
) -> CertifiedKey {
    CertifiedKey::new(
        chain.into_iter().map(CertificateDer::from).collect(),
        Arc::new(HsmTlsKey { keys, handle }),
    )
}

impl ResolvesServerCert for NodeCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// The server configuration: TLS 1.3 and 1.2, client certificates optional (browsers have
/// none) but verified against the sandi root when given.
pub fn server_config(cert: Arc<NodeCert>, root_der: &[u8]) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(root_der.to_vec()))
        .map_err(|e| Error::invalid("root certificate", format!("root certificate: {e}")))?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::invalid("root certificate", format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Crypto {
            op: "choosing the TLS protocol versions",
            detail: e.to_string(),
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A certificate request for an official's signing key as the online CA takes it: the NIP in
/// the subject's serialNumber attribute (2.5.4.5), the name as its common name.
pub fn official_csr(
    keys: &dyn KeyStore,
    id: hsm_shim::KeyId,
    nip: &str,
    name: &str,
) -> Result<Vec<u8>> {
    let handle = keys.info(id)?.handle();
    let signer = keymgr::HsmSigner::new(keys, handle)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
        .distinguished_name
        .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), nip);
    let csr = params
        .serialize_request(&signer)
        .map_err(|e| Error::Crypto {
            op: "building a certificate request",
            detail: e.to_string(),
        })?;
    Ok(csr.der().to_vec())
}

/// A PKCS#10 request signed by a key in the node's keystore.
pub fn csr_for(keys: &dyn KeyStore, id: hsm_shim::KeyId, subject: &str) -> Result<Vec<u8>> {
    let handle = keys.info(id)?.handle();
    let signer = keymgr::HsmSigner::new(keys, handle)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, subject);
    let csr = params
        .serialize_request(&signer)
        .map_err(|e| Error::Crypto {
            op: "building a certificate request",
            detail: e.to_string(),
        })?;
    Ok(csr.der().to_vec())
}
