//! Dev and tests: the quickstart node's dev CA issues the certificate a restored node asked
//! for (`tls/node.csr`, see [`crate::ops::tls_reissue`]), as keymgr would in production.

use crate::node::Layout;
use crate::ops::tls_reissue::csr_path;
use crate::{Error, Result};

/// Dev and tests: has the dev CA of the quickstart node `hub` issue the certificate a
/// restored node in `layout` asked for, and installs it. Returns the certificate (DER).
pub async fn dev_issue(hub: &Layout, layout: &Layout) -> Result<Vec<u8>> {
    let config = crate::node::Config::load(layout)?;
    let (home, quorum) = super::quickstart::dev_quorum(hub)?;
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await?;
    let path = csr_path(layout);
    let pem = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let csr = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| Error::invalid("certificate request", format!("{}: {e}", path.display())))?
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
