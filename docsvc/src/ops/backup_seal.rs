//! Who may seal a backup: a node certificate, and only that. `backup verify` and `restore`
//! accept a seal only if its certificate is issued by the pinned Network CA (itself certified
//! by the pinned root), valid now, not revoked by a current CRL of the Network CA (no CRL is
//! no backup: revocation fails closed), not a CA, with the node profile's key usages
//! (digitalSignature; serverAuth and clientAuth; the node attributes extension), and naming
//! the node id the backup says it is of. Any other certificate chaining to the root (an
//! official's from the Signing CA, an application's, another node's) is refused.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::ASN1Time;

use crate::crypto::revocation::{CrlCache, Status};
use crate::{Error, Result};

/// What a seal is checked against, brought by whoever checks it.
#[derive(Debug)]
pub struct SealTrust {
    root_der: Vec<u8>,
    network_ca_der: Vec<u8>,
    crls: CrlCache,
    /// The node attributes extension's OID, under the network's arc.
    node_attributes_oid: String,
}

fn first_cert(path: &Path) -> Result<Vec<u8>> {
    crate::node::read_pem_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::invalid(
                "certificate file",
                format!("{}: no certificate", path.display()),
            )
        })
}

impl SealTrust {
    pub fn new(root_der: Vec<u8>, network_ca_der: Vec<u8>, crl_dir: PathBuf) -> Self {
        let crls = CrlCache::new(crl_dir, vec![network_ca_der.clone()]);
        SealTrust {
            root_der,
            network_ca_der,
            crls,
            // The dev arc is well formed; were it not, nothing would match: refused, not let in.
            node_attributes_oid: keymgr::oid_arc::node_attributes_oid_string(
                keymgr::oid_arc::DEV_OID_ARC,
            )
            .unwrap_or_default(),
        }
    }

    /// The network's OID arc (`[pki] oid_arc` in node.toml, as keymgr's ceremony chose it),
    /// under which node certificates carry their attributes; the development arc otherwise.
    pub fn with_oid_arc(mut self, arc: &str) -> Result<Self> {
        self.node_attributes_oid = keymgr::oid_arc::node_attributes_oid_string(arc)
            .map_err(|e| Error::invalid("OID arc", e.to_string()))?;
        Ok(self)
    }

    /// From the root certificate's file as a node's data directory and keymgr's HOME keep
    /// it: `ca/root.pem`, with `ca/network-ca.pem` beside it and the CRLs in `crl/`.
    /// `network_ca` and `crl_dir` say otherwise.
    pub fn from_files(
        root_pem: &Path,
        network_ca: Option<&Path>,
        crl_dir: Option<&Path>,
    ) -> Result<Self> {
        let ca_dir = root_pem.parent().unwrap_or(Path::new("."));
        let network_ca =
            network_ca.map_or_else(|| ca_dir.join("network-ca.pem"), Path::to_path_buf);
        let crl_dir = crl_dir.map_or_else(
            || ca_dir.parent().unwrap_or(Path::new(".")).join("crl"),
            Path::to_path_buf,
        );
        Ok(SealTrust::new(
            first_cert(root_pem)?,
            first_cert(&network_ca)?,
            crl_dir,
        ))
    }
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, c)| c)
}

fn valid_at(c: &X509Certificate<'_>, at: OffsetDateTime) -> bool {
    let t = ASN1Time::from(at);
    c.validity().not_before <= t && t <= c.validity().not_after
}

/// Checks the certificate `leaf_der` that sealed a backup of `node_id`; an error says why not.
pub fn check_sealer(trust: &SealTrust, leaf_der: &[u8], node_id: &str) -> Result<()> {
    let bad = |why: &str| Error::Integrity(format!("the backup's seal: {why}"));
    let now = OffsetDateTime::now_utc();
    let (Some(leaf), Some(ca), Some(root)) = (
        parse(leaf_der),
        parse(&trust.network_ca_der),
        parse(&trust.root_der),
    ) else {
        return Err(bad("unreadable certificate"));
    };
    // The pinned Network CA, itself certified by the pinned root and a CA.
    let ca_is_ca = ca
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    if !ca_is_ca || ca.verify_signature(Some(root.public_key())).is_err() || !valid_at(&ca, now) {
        return Err(bad(
            "the given Network CA is not a valid CA under the given root",
        ));
    }
    if leaf.issuer() != ca.subject() || leaf.verify_signature(Some(ca.public_key())).is_err() {
        return Err(bad(
            "the signing certificate is not issued by the Network CA",
        ));
    }
    if !valid_at(&leaf, now) {
        return Err(bad("the signing certificate is not valid now"));
    }
    if leaf
        .basic_constraints()
        .map_or(true, |b| b.is_some_and(|b| b.value.ca))
    {
        return Err(bad("the signing certificate is a CA's"));
    }
    let signs = leaf
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|k| k.value.digital_signature());
    let node_eku = leaf
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.server_auth && e.value.client_auth);
    let node_attrs = leaf
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == trust.node_attributes_oid);
    if !(signs && node_eku && node_attrs) {
        return Err(bad("the signing certificate is not a node certificate"));
    }
    let cn = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok());
    if cn != Some(node_id) {
        return Err(bad(&format!(
            "the signing certificate is node {:?}'s, not node {node_id:?}'s",
            cn.unwrap_or_default()
        )));
    }
    match trust.crls.status(leaf_der, now) {
        Status::Good => Ok(()),
        Status::Revoked { at } => Err(bad(&format!("the signing certificate was revoked at {at}"))),
        Status::Unknown => Err(Error::RevocationUnknown(
            "no current CRL of the Network CA: the seal's certificate cannot be checked (bring \
             the CRL keymgr published; --crl-dir)"
                .into(),
        )),
    }
}
