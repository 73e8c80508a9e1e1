//! The online CA (`keymgr serve`) as the node sees it: `[ca]` in `node.toml`, the CA
//! certificates fetched from its publication URL and checked against the root pinned at init,
//! and the node certificate installed only once it certifies this node's key. The HTTPS client
//! that talks to the CA's API is `crate::network::ca`.

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::{Error, Result};

/// The longest CA URL accepted.
const MAX_URL: usize = 200;

/// `[ca]` in `node.toml`: the online CA this node enrols and renews with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    /// `https://host:port` of keymgr's API.
    pub url: String,
    /// Hex SHA-256 of the Root CA certificate (DER), pinned at init: the CA's chain must end
    /// there.
    pub root_sha256: String,
    /// Renew the node certificate this many days before it expires.
    #[serde(default = "default_renew_before_days")]
    pub renew_before_days: u32,
    /// keymgr's plain-HTTP publication base URL (`http://host:port`, what `keymgr serve
    /// --listen` serves): where the CA certificates are fetched at enrolment, checked against
    /// `root_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_url: Option<String>,
    /// Seconds between fetches of the CA's signed network directory (`GET /api/v1/directory`);
    /// a newer version that verifies replaces `network/directory.json`.
    #[serde(
        default = "default_directory_refresh_secs",
        skip_serializing_if = "is_default_directory_refresh"
    )]
    pub directory_refresh_secs: u64,
}

fn default_renew_before_days() -> u32 {
    30
}

fn default_directory_refresh_secs() -> u64 {
    300
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_default_directory_refresh(secs: &u64) -> bool {
    *secs == default_directory_refresh_secs()
}

impl CaConfig {
    pub fn new(url: &str, root_sha256: &str, publication_url: Option<&str>) -> Result<Self> {
        let c = CaConfig {
            url: url.trim_end_matches('/').to_owned(),
            root_sha256: root_sha256.trim().to_ascii_lowercase(),
            renew_before_days: default_renew_before_days(),
            directory_refresh_secs: default_directory_refresh_secs(),
            publication_url: publication_url
                .map(keymgr::publication::check_base_url)
                .transpose()?,
        };
        c.check()?;
        Ok(c)
    }

    /// The URL is `https://` with a host (and port), nothing else; the pin is 64 hex digits.
    pub fn check(&self) -> Result<()> {
        let bad = |why: &str| Error::invalid("CA URL", format!("[ca] url {:?}: {why}", self.url));
        if self.url.len() > MAX_URL {
            return Err(bad("too long"));
        }
        let rest = self
            .url
            .strip_prefix("https://")
            .ok_or_else(|| bad("must start with https://"))?;
        if rest.is_empty()
            || rest.contains(['/', '?', '#', '@'])
            || !rest.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(bad("must be https://HOST[:PORT] and nothing more"));
        }
        if self.root_sha256.len() != 64 || !self.root_sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::invalid(
                "CA root pin",
                "[ca] root_sha256 must be the 64 hex digits of the root certificate's SHA-256",
            ));
        }
        if let Some(p) = &self.publication_url {
            keymgr::publication::check_base_url(p)?;
        }
        if self.renew_before_days == 0 || self.renew_before_days > 365 {
            return Err(Error::invalid(
                "CA renewal",
                "[ca] renew_before_days must be 1 to 365",
            ));
        }
        Ok(())
    }

    /// `(host, port)` of the URL.
    pub fn host_port(&self) -> (String, u16) {
        let rest = self.url.trim_start_matches("https://");
        match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (
                h.trim_matches(['[', ']']).to_owned(),
                p.parse().unwrap_or(443),
            ),
            _ => (rest.trim_matches(['[', ']']).to_owned(), 443),
        }
    }
}

/// The largest CA certificate fetched from the publication URL.
const MAX_CERT: usize = 64 * 1024;

/// The CA certificates a node trusts, as fetched and checked at enrolment.
#[derive(Clone, Debug)]
pub struct CaCerts {
    pub root: Vec<u8>,
    pub network: Vec<u8>,
    pub signing: Vec<u8>,
}

/// Fetches the Root, Network and Signing CA certificates from the publication URL (plain HTTP:
/// they are checked here, not trusted for where they come from): the root must have the
/// pinned SHA-256 and the other two must be certified by it.
pub async fn fetch_ca_certs(config: &CaConfig) -> Result<CaCerts> {
    let base = config.publication_url.as_deref().ok_or_else(|| {
        Error::invalid(
            "CA publication URL",
            "[ca] publication_url is not set: the CA certificates are fetched from it",
        )
    })?;
    let get = |ca: keymgr::ca::Ca| {
        let url = keymgr::publication::urls(base, ca).certificate;
        async move { crate::node::distribution::get(&url, "application/pkix-cert", MAX_CERT).await }
    };
    let root = get(keymgr::ca::Ca::Root).await?;
    check_root(config, &root)?;
    let (_, root_cert) = x509_parser::parse_x509_certificate(&root)
        .map_err(|e| Error::invalid("root certificate", format!("root certificate: {e}")))?;
    let mut issued = Vec::new();
    for (ca, name) in [
        (keymgr::ca::Ca::Network, "Network CA"),
        (keymgr::ca::Ca::Signing, "Signing CA"),
    ] {
        let der = get(ca).await?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::invalid("CA certificate", format!("{name} certificate: {e}")))?;
        if cert.issuer() != root_cert.subject()
            || cert.verify_signature(Some(root_cert.public_key())).is_err()
        {
            return Err(Error::invalid(
                "CA certificate",
                format!("the {name} certificate at {base} is not certified by the pinned root"),
            ));
        }
        issued.push(der);
    }
    let signing = issued.pop().unwrap_or_default();
    let network = issued.pop().unwrap_or_default();
    Ok(CaCerts {
        root,
        network,
        signing,
    })
}

/// The root certificate must be the one pinned at init.
pub(crate) fn check_root(config: &CaConfig, root_der: &[u8]) -> Result<()> {
    let got = keymgr::transcript::sha256_hex(root_der);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        got.as_bytes(),
        config.root_sha256.as_bytes(),
    )) {
        return Err(Error::invalid(
            "root certificate",
            format!(
                "the root certificate offered has SHA-256 {got}, not the pinned {}",
                config.root_sha256
            ),
        ));
    }
    Ok(())
}

/// A certificate the CA issued, with its chain (issuing CA, then root).
#[derive(Clone, Debug)]
pub struct Issued {
    pub certificate: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

/// Installs the node's certificate: it must certify the node's own TLS key, chain through
/// the Network CA to the pinned root, and name this node; then `tls/node-chain.pem` and the
/// CA certificates are written (each replaced whole).
pub fn install_node_certificate(layout: &Layout, issued: &Issued, cas: &CaCerts) -> Result<()> {
    let config = crate::node::Config::load(layout)?;
    if let Some(ca) = &config.ca {
        check_root(ca, &cas.root)?;
    }
    let keys = crate::node::NodeKeys::load(layout)?;
    let tls_store = crate::node::open_tls_keystore(layout)?;
    let spki = hsm_shim::KeyStore::public_key(
        tls_store.as_ref(),
        &hsm_shim::KeyStore::info(tls_store.as_ref(), keys.tls)?.handle(),
    )?;
    let bad = |why: String| Error::invalid("node certificate", why);
    let trust = crate::crypto::signature::Trust::new(cas.root.clone(), vec![cas.network.clone()]);
    crate::crypto::signature::check_chain(
        &issued.certificate,
        &trust,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| {
        bad(format!(
            "the node certificate does not chain to the Network CA: {e}"
        ))
    })?;
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.certificate)
        .map_err(|e| bad(format!("the node certificate: {e}")))?;
    if cert.public_key().raw != spki.as_slice() {
        return Err(bad(
            "the certificate is for another key than this node's TLS key".into(),
        ));
    }
    let names_node = cert
        .subject()
        .iter_common_name()
        .any(|cn| cn.as_str().ok() == Some(config.node_id.as_str()));
    if !names_node {
        return Err(bad(format!(
            "the certificate does not name node {}",
            config.node_id
        )));
    }
    let pem = keymgr::ca::der_to_pem;
    let chain = format!("{}{}", pem(&issued.certificate), pem(&cas.network));
    for (path, text) in [
        (layout.ca("root.pem"), pem(&cas.root)),
        (layout.ca("network-ca.pem"), pem(&cas.network)),
        (layout.ca("signing-ca.pem"), pem(&cas.signing)),
        (layout.tls_chain(), chain),
    ] {
        crate::node::write_new(&path, text.as_bytes())?;
    }
    Ok(())
}

/// When the node certificate in `tls/node-chain.pem` should be renewed: `renew_before_days`
/// before it expires.
pub fn renewal_due(layout: &Layout, config: &CaConfig) -> Result<time::OffsetDateTime> {
    let der = crate::node::read_pem_certs(&layout.tls_chain())?.remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Error::invalid("node certificate", format!("node certificate: {e}")))?;
    let not_after = cert.validity().not_after.to_datetime();
    Ok(not_after - time::Duration::days(i64::from(config.renew_before_days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_and_a_whole_pin_are_taken() {
        let pin = "ab".repeat(32);
        assert!(CaConfig::new("https://ca.kota.go.id:9443", &pin, None).is_ok());
        assert!(
            CaConfig::new("https://127.0.0.1:9443/", &pin, Some("http://127.0.0.1:80")).is_ok()
        );
        for url in [
            "http://ca:9443",
            "https://",
            "https://user@ca:9443",
            "https://ca:9443/api",
            "https://ca:9443?x=1",
            "https://c a:9443",
        ] {
            assert!(CaConfig::new(url, &pin, None).is_err(), "{url}");
        }
        for bad in ["ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(CaConfig::new("https://ca:1", bad, None).is_err(), "{bad}");
        }
        assert!(CaConfig::new("https://ca:1", &pin, Some("https://ca:80")).is_err());
        let mut c = CaConfig::new("https://ca:1", &pin, None).expect("config");
        c.renew_before_days = 0;
        assert!(c.check().is_err());
        assert_eq!(c.host_port(), ("ca".to_owned(), 1));
    }

    #[test]
    fn a_root_other_than_the_pinned_one_is_refused() {
        let root = b"not really a certificate, but bytes with a hash";
        let pin = keymgr::transcript::sha256_hex(root);
        let c = CaConfig::new("https://ca:1", &pin, None).expect("config");
        assert!(check_root(&c, root).is_ok());
        let err = check_root(&c, b"another root").expect_err("refused");
        assert!(err.to_string().contains("not the pinned"), "{err}");
    }
}
