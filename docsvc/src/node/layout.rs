//! Where things are in a node's data directory, and reading the PEM certificates kept there.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Paths inside a data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Layout { dir: dir.into() }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
    pub fn keystore(&self) -> PathBuf {
        self.dir.join("keystore")
    }
    pub fn tls_keystore(&self) -> PathBuf {
        self.dir.join("tls-keystore")
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys.json")
    }
    pub fn tls_chain(&self) -> PathBuf {
        self.dir.join("tls").join("node-chain.pem")
    }
    pub fn ca(&self, name: &str) -> PathBuf {
        self.dir.join("ca").join(name)
    }
    pub fn heads(&self) -> PathBuf {
        self.dir.join("audit-heads.jsonl")
    }
    /// keymgr's CRLs, as the operator copies them here.
    pub fn crl_dir(&self) -> PathBuf {
        self.dir.join("crl")
    }
    /// Incoming deliveries while they are checked (private, removed once stored or refused).
    pub fn spool(&self) -> PathBuf {
        self.dir.join("spool")
    }
    pub fn shares(&self) -> PathBuf {
        self.dir.join("shares")
    }
    /// The node's certificate request for the Network CA (`docsvc init`).
    pub fn csr(&self) -> PathBuf {
        self.dir.join("tls").join("node.csr")
    }
    /// The node ceremonies' signed transcripts (`docsvc init`, `docsvc reshare`).
    pub fn ceremonies(&self) -> PathBuf {
        self.dir.join("ceremonies")
    }
}

pub fn read_pem_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    pem_certs(&text)
        .map_err(|why| Error::invalid("certificate file", format!("{}: {why}", path.display())))
}

/// The certificates (DER) of a PEM text, in order; at least one.
pub fn pem_certs(text: &str) -> std::result::Result<Vec<Vec<u8>>, &'static str> {
    let mut out = Vec::new();
    for block in text.split("-----END CERTIFICATE-----") {
        if let Some(start) = block.find("-----BEGIN CERTIFICATE-----") {
            let pem = format!("{}-----END CERTIFICATE-----\n", &block[start..]);
            out.push(keymgr::ca::pem_to_der(&pem).ok_or("bad PEM")?);
        }
    }
    if out.is_empty() {
        return Err("no certificate");
    }
    Ok(out)
}
