//! The node's TLS key after a restore. A backup never holds the TLS keystore: that keystore
//! opens without the custodians (the node must speak TLS while sealed, so that the
//! custodians can unseal it over HTTPS), so a copy in a backup would let whoever decrypts one
//! backup impersonate the node to its peers and seal forged backups in its name. A restore
//! therefore creates a new TLS key and a certificate request (`tls/node.csr`) for keymgr; the
//! node serves once the new certificate is installed as `tls/node-chain.pem` (and, on a
//! network, listed in the next signed directory).

use std::path::PathBuf;

use crate::node::{Layout, NodeKeys};
use crate::{Error, Result};

/// Where a restored node's certificate request is written.
pub fn csr_path(layout: &Layout) -> PathBuf {
    layout.dir().join("tls").join("node.csr")
}

/// Creates a new TLS key for `node_id` in a new TLS keystore, records it in keys.json, and
/// writes its certificate request (PEM) to [`csr_path`].
pub fn new_key_and_request(layout: &Layout, node_id: &str) -> Result<PathBuf> {
    if layout.tls_keystore().exists() {
        return Err(Error::Invalid(format!(
            "{} exists already",
            layout.tls_keystore().display()
        )));
    }
    let tls = crate::node::create_tls_key(layout)?;
    let mut keys = NodeKeys::load(layout)?;
    keys.tls = tls;
    keys.save(layout)?;
    let store = crate::node::open_tls_keystore(layout)?;
    let csr = crate::quickstart::csr_for(store.as_ref(), tls, node_id)?;
    let path = csr_path(layout);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let pem = keymgr::ca::pem_encode("CERTIFICATE REQUEST", &csr);
    std::fs::write(&path, pem).map_err(|e| Error::io("writing", &path, e))?;
    Ok(path)
}

/// Dev and tests: has the dev CA of the quickstart node `hub` issue the certificate a
/// restored node in `layout` asked for, and installs it. Returns the certificate (DER).
pub async fn dev_issue(hub: &Layout, layout: &Layout) -> Result<Vec<u8>> {
    let config = crate::node::Config::load(layout)?;
    let (home, quorum) = crate::quickstart::dev_quorum(hub)?;
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await?;
    let path = csr_path(layout);
    let pem = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let csr = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?
        .1
        .contents;
    let listen = config.listen.as_str();
    let (host, _) = listen.rsplit_once(':').unwrap_or((listen, ""));
    let mut ips = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    // The lost node's certificate is still active: the new one is its rotation (same
    // profile, a new key).
    let subject = format!("node:{}", config.node_id);
    let online = quorum.online()?;
    let issued = match inv.latest(&subject).await? {
        Some(r) if r.state == keymgr::inventory::CertState::Active => {
            keymgr::issue::rotate(
                &home,
                online,
                &inv,
                &r.serial,
                keymgr::issue::KeySource::Csr(csr),
            )
            .await?
        }
        _ => {
            keymgr::issue::issue(
                &home,
                online,
                &inv,
                keymgr::issue::Request::Node(keymgr::ca::NodeRequest {
                    node_id: config.node_id.clone(),
                    agency: "diskominfo".into(),
                    accreditation: "sangat_rahasia".into(),
                    dns: vec!["localhost".into()],
                    ips,
                    days: 365,
                }),
                keymgr::issue::KeySource::Csr(csr),
            )
            .await?
        }
    };
    let chain = format!(
        "{}{}",
        keymgr::ca::der_to_pem(&issued.record.der),
        keymgr::ca::der_to_pem(&home.cert_der(keymgr::ca::Ca::Network)?)
    );
    std::fs::write(layout.tls_chain(), chain)
        .map_err(|e| Error::io("writing", layout.tls_chain(), e))?;
    Ok(issued.record.der)
}
