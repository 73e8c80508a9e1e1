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
        return Err(Error::invalid(
            "TLS keystore",
            format!("{} exists already", layout.tls_keystore().display()),
        ));
    }
    let tls = crate::node::create_tls_key(layout)?;
    let mut keys = NodeKeys::load(layout)?;
    keys.tls = tls;
    keys.save(layout)?;
    let store = crate::node::open_tls_keystore(layout)?;
    let csr = crate::crypto::tls::csr_for(store.as_ref(), tls, node_id)?;
    let path = csr_path(layout);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let pem = keymgr::ca::pem_encode("CERTIFICATE REQUEST", &csr);
    std::fs::write(&path, pem).map_err(|e| Error::io("writing", &path, e))?;
    Ok(path)
}
