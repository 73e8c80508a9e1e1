//! The network directory: every docsvc node of the sandi network (id, agencies, base URL,
//! the SHA-256 of its key, accreditation, status), signed by the Network CA. Nodes talk only
//! to nodes it lists, and never accept an older version than the one they hold.
//!
//! A node is pinned by its key (the SubjectPublicKeyInfo of its certificate), not by one
//! certificate: a node renews its certificate by itself with the same key, and its peers must
//! go on accepting it without a new directory. A certificate stands for a listed node when it
//! chains to the Network CA, is valid and not revoked (the peer's checks), names the node as
//! its subject CN, and certifies the pinned key ([`Directory::node_certified_by`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyStore, SignatureAlgorithm, verify_signature};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ca::{self, Ca, Home};
use crate::tlog::Log;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

pub const FORMAT: &str = "sandi-directory-v1";

/// The classifications a node may be accredited to hold, lowest first.
pub const LEVELS: [&str; 4] = ["biasa", "terbatas", "rahasia", "sangat_rahasia"];

/// One node of the network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub id: String,
    /// The agencies (perangkat daerah) whose officials this node serves.
    pub agencies: Vec<String>,
    /// `https://host:port`.
    pub base_url: String,
    /// SHA-256 (hex) of the SubjectPublicKeyInfo (DER) of the node's certificate: its key,
    /// which stays the same when the certificate is renewed.
    pub spki_sha256: String,
    /// The highest classification the node may hold.
    pub accreditation: String,
    /// `active`, `suspended` or `revoked`: only active nodes are talked to.
    pub status: String,
}

impl NodeEntry {
    /// Whether `certificate_der` is this node's: it names this node (subject CN) and certifies
    /// its pinned key. Chain, validity and revocation are the caller's to check. The reason
    /// for a refusal is returned.
    pub fn certifies(&self, certificate_der: &[u8]) -> std::result::Result<(), String> {
        let id = node_id_of(certificate_der)?;
        if id != self.id {
            return Err(format!("the certificate names node {id}, not {}", self.id));
        }
        let spki = spki_sha256(certificate_der).map_err(|e| e.to_string())?;
        if !spki.eq_ignore_ascii_case(&self.spki_sha256) {
            return Err(format!(
                "the certificate of node {} is for key {}, not the key the network directory \
                 pins for it",
                self.id,
                &spki[..16]
            ));
        }
        Ok(())
    }
}

/// The pin of a certificate's key: SHA-256 (hex) of its SubjectPublicKeyInfo (DER).
pub fn spki_sha256(certificate_der: &[u8]) -> Result<String> {
    Ok(sha256_hex(&ca::spki_of_cert(certificate_der)?))
}

/// The node id a node certificate names: its one subject CN.
pub fn node_id_of(certificate_der: &[u8]) -> std::result::Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(certificate_der)
        .map_err(|e| format!("unreadable node certificate: {e}"))?;
    let mut names = cert.subject().iter_common_name();
    match (
        names
            .next()
            .map(x509_parser::prelude::AttributeTypeAndValue::as_str),
        names.next(),
    ) {
        (Some(Ok(id)), None) => Ok(id.to_owned()),
        _ => Err("a node certificate names exactly one node (its subject CN)".into()),
    }
}

/// What the operator writes: the version and the nodes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirectoryInput {
    pub version: u64,
    pub nodes: Vec<NodeEntry>,
}

/// The signed directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub format: String,
    pub version: u64,
    pub issued_at: String,
    pub nodes: Vec<NodeEntry>,
    /// SHA-256 of the Network CA certificate that signed it.
    pub network_ca_sha256: String,
    pub algorithm: SignatureAlgorithm,
    /// Over [`Directory::message`], base64.
    pub signature: String,
}

impl Directory {
    /// The signed bytes: the directory without its signature, as compact JSON.
    fn message(&self) -> Result<Vec<u8>> {
        let unsigned = Directory {
            signature: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&unsigned).map_err(|e| Error::InvalidInput(e.to_string()))
    }

    /// The listed node a certificate stands for: the node its subject CN names, whose pinned
    /// key it certifies. Whether the certificate chains to the Network CA, is valid now and is
    /// not revoked is the caller's to check first. The reason for a refusal is returned.
    pub fn node_certified_by(
        &self,
        certificate_der: &[u8],
    ) -> std::result::Result<&NodeEntry, String> {
        let id = node_id_of(certificate_der)?;
        let n = self.by_id(&id).ok_or_else(|| {
            format!(
                "no node {id} is in network directory version {}",
                self.version
            )
        })?;
        n.certifies(certificate_der)?;
        Ok(n)
    }

    pub fn by_id(&self, id: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The active node that serves `agency`.
    pub fn serving(&self, agency: &str) -> Option<&NodeEntry> {
        self.nodes
            .iter()
            .find(|n| n.status == "active" && n.agencies.iter().any(|a| a == agency))
    }
}

fn check_input(input: &DirectoryInput) -> Result<()> {
    let bad = |r: String| Err(Error::InvalidInput(format!("directory: {r}")));
    if input.version == 0 {
        return bad("version starts at 1".into());
    }
    let mut ids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for n in &input.nodes {
        if n.id.is_empty() || !n.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad(format!("node id {:?}: letters, digits and '-'", n.id));
        }
        if !ids.insert(&n.id) {
            return bad(format!("node {} is listed twice", n.id));
        }
        if !n.base_url.starts_with("https://") {
            return bad(format!("node {}: base_url must be https://", n.id));
        }
        if n.spki_sha256.len() != 64 || !n.spki_sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad(format!("node {}: spki_sha256 must be 64 hex digits", n.id));
        }
        if !keys.insert(n.spki_sha256.to_ascii_lowercase()) {
            return bad(format!("node {}: key listed for two nodes", n.id));
        }
        if !LEVELS.contains(&n.accreditation.as_str()) {
            return bad(format!(
                "node {}: accreditation {:?} is not one of {}",
                n.id,
                n.accreditation,
                LEVELS.join(", ")
            ));
        }
        if !["active", "suspended", "revoked"].contains(&n.status.as_str()) {
            return bad(format!("node {}: status {:?}", n.id, n.status));
        }
    }
    Ok(())
}

fn version_file(home: &Home) -> std::path::PathBuf {
    home.dir().join("directory-version")
}

/// Checks a directory input before anything is unsealed: its entries, and a version above the
/// last one this CA signed, so that a node can always tell the newer of two directories.
pub fn check_new(home: &Home, input: &DirectoryInput) -> Result<()> {
    check_input(input)?;
    let last: u64 = std::fs::read_to_string(version_file(home))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if input.version <= last {
        return Err(Error::InvalidInput(format!(
            "directory version {} is not above the last signed version {last}",
            input.version
        )));
    }
    Ok(())
}

/// Signs a directory with the Network CA's key (see [`check_new`]).
pub fn sign(home: &Home, store: &dyn KeyStore, input: &DirectoryInput) -> Result<Directory> {
    check_new(home, input)?;
    let state = home.load_state()?;
    let ca_der = home.cert_der(Ca::Network)?;
    ca::check_ca_validity(Ca::Network, &ca_der)?;
    let mut d = Directory {
        format: FORMAT.into(),
        version: input.version,
        issued_at: OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
            .format(&Rfc3339)
            .unwrap_or_default(),
        nodes: input
            .nodes
            .iter()
            .map(|n| NodeEntry {
                spki_sha256: n.spki_sha256.to_ascii_lowercase(),
                ..n.clone()
            })
            .collect(),
        network_ca_sha256: sha256_hex(&ca_der),
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        signature: String::new(),
    };
    let handle = store.info(state.network_ca_key)?.handle();
    let sig = store.sign(&handle, &d.message()?)?;
    d.algorithm = sig.algorithm;
    d.signature = B64.encode(sig.bytes);
    std::fs::write(version_file(home), d.version.to_string())
        .map_err(|e| Error::io("writing", version_file(home), e))?;
    Log::open(home)?.append(
        store,
        state.log_key,
        "network-directory",
        serde_json::json!({ "version": d.version, "nodes": d.nodes.len() }),
    )?;
    Ok(d)
}

/// Verifies a directory against the Network CA certificate and the root it chains to.
pub fn verify(d: &Directory, network_ca_der: &[u8], root_der: &[u8]) -> Result<()> {
    let bad = |r: &str| Error::InvalidInput(format!("network directory: {r}"));
    if d.format != FORMAT {
        return Err(bad("unknown format"));
    }
    if d.network_ca_sha256 != sha256_hex(network_ca_der) {
        return Err(bad("signed by another Network CA certificate"));
    }
    let (_, ca_cert) = x509_parser::parse_x509_certificate(network_ca_der)
        .map_err(|_| bad("unreadable Network CA"))?;
    let (_, root) =
        x509_parser::parse_x509_certificate(root_der).map_err(|_| bad("unreadable root"))?;
    ca_cert
        .verify_signature(Some(root.public_key()))
        .map_err(|_| bad("the Network CA does not chain to this root"))?;
    let spki = ca::spki_of_cert(network_ca_der)?;
    let sig = B64
        .decode(&d.signature)
        .map_err(|_| bad("signature is not base64"))?;
    verify_signature(&spki, d.algorithm, &d.message()?, &sig)
        .map_err(|_| bad("the signature does not verify"))?;
    check_input(&DirectoryInput {
        version: d.version,
        nodes: d.nodes.clone(),
    })
}

/// What the operator says about one node when adding it to the directory input.
#[derive(Debug)]
pub struct NewNode<'a> {
    pub id: &'a str,
    /// The node's certificate (DER), which must have been issued by this Network CA and name
    /// the node; its key is what the directory pins.
    pub certificate_der: &'a [u8],
    pub base_url: &'a str,
    pub agencies: Vec<String>,
    pub accreditation: &'a str,
    pub status: &'a str,
}

/// Adds a node to a directory input (or replaces the entry with the same id), taking the
/// key's SHA-256 from the certificate itself so that no one copies hex by hand, and moves the
/// version above the last one signed. The certificate must be one this Network CA issued, for
/// this node.
pub fn add_node(
    home: &Home,
    input: Option<DirectoryInput>,
    node: &NewNode<'_>,
) -> Result<DirectoryInput> {
    let bad = |r: String| Error::InvalidInput(format!("directory: {r}"));
    let ca_der = home.cert_der(Ca::Network)?;
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der)
        .map_err(|_| bad("unreadable Network CA".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(node.certificate_der)
        .map_err(|_| bad(format!("node {}: unreadable certificate", node.id)))?;
    cert.verify_signature(Some(ca_cert.public_key()))
        .map_err(|_| {
            bad(format!(
                "node {}: the certificate was not issued by this Network CA",
                node.id
            ))
        })?;
    if !cert.validity().is_valid() {
        return Err(bad(format!(
            "node {}: the certificate is not valid now",
            node.id
        )));
    }
    // A certificate naming another node would never be accepted for this one by its peers.
    let named = node_id_of(node.certificate_der).map_err(bad)?;
    if named != node.id {
        return Err(bad(format!(
            "node {}: the certificate names node {named}",
            node.id
        )));
    }
    let last: u64 = std::fs::read_to_string(version_file(home))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let mut input = input.unwrap_or(DirectoryInput {
        version: last + 1,
        nodes: Vec::new(),
    });
    input.version = input.version.max(last + 1);
    let entry = NodeEntry {
        id: node.id.into(),
        agencies: node.agencies.clone(),
        base_url: node.base_url.into(),
        spki_sha256: spki_sha256(node.certificate_der)?,
        accreditation: node.accreditation.into(),
        status: node.status.into(),
    };
    match input.nodes.iter_mut().find(|n| n.id == node.id) {
        Some(n) => *n = entry,
        None => input.nodes.push(entry),
    }
    check_input(&input)?;
    Ok(input)
}

/// Publishes a signed directory into nodes' data directories as `network/directory.json`
/// (the running nodes reload it). Checked first; a node that already holds a newer version
/// is not touched, and each file is replaced whole (written aside, synced, renamed), so a
/// node never reads half a directory. Returns, per target, whether it was written.
pub fn publish(
    home: &Home,
    d: &Directory,
    node_dirs: &[std::path::PathBuf],
) -> Result<Vec<(std::path::PathBuf, std::result::Result<(), String>)>> {
    use std::io::Write as _;
    verify(d, &home.cert_der(Ca::Network)?, &home.cert_der(Ca::Root)?)?;
    let bytes = serde_json::to_vec_pretty(d).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut done = Vec::with_capacity(node_dirs.len());
    for dir in node_dirs {
        let target = dir.join("network").join("directory.json");
        let held = std::fs::read(&target)
            .ok()
            .and_then(|b| serde_json::from_slice::<Directory>(&b).ok())
            .map(|h| h.version);
        if let Some(v) = held.filter(|v| *v > d.version) {
            done.push((
                target,
                Err(format!("holds version {v}, newer than {}", d.version)),
            ));
            continue;
        }
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir.join("network"))?;
            let aside = dir.join("network").join(".directory.json.new");
            let mut f = std::fs::File::create(&aside)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&aside, &target)
        };
        let r = write().map_err(|e| e.to_string());
        done.push((target, r));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate for `key` naming `names` as its subject CNs, with serial `serial`; the
    /// issuer does not matter here (chains are the peers' to check).
    fn cert(names: &[&str], key: &rcgen::KeyPair, serial: u64) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::default();
        for n in names {
            p.distinguished_name.push(rcgen::DnType::CommonName, *n);
        }
        p.serial_number = Some(rcgen::SerialNumber::from(serial));
        p.self_signed(key).expect("certificate").der().to_vec()
    }

    fn key() -> rcgen::KeyPair {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key")
    }

    fn entry(id: &str, der: &[u8]) -> NodeEntry {
        NodeEntry {
            id: id.into(),
            agencies: vec!["dinkes".into()],
            base_url: "https://127.0.0.1:8443".into(),
            spki_sha256: spki_sha256(der).expect("spki"),
            accreditation: "rahasia".into(),
            status: "active".into(),
        }
    }

    fn directory(nodes: Vec<NodeEntry>) -> Directory {
        Directory {
            format: FORMAT.into(),
            version: 7,
            issued_at: String::new(),
            nodes,
            network_ca_sha256: String::new(),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            signature: String::new(),
        }
    }

    /// A renewed certificate (same key, another certificate) is still the node's; a new key
    /// for the same node id, or the node's key under another node's name, is not.
    #[test]
    fn a_node_is_pinned_by_its_key_not_its_certificate() {
        let (hub_key, other_key) = (key(), key());
        let first = cert(&["hub"], &hub_key, 1);
        let renewed = cert(&["hub"], &hub_key, 2);
        assert_ne!(first, renewed);
        let d = directory(vec![entry("hub", &first)]);
        let hub = d.by_id("hub").expect("hub");
        assert_eq!(d.node_certified_by(&first).map(|n| &n.id), Ok(&hub.id));
        assert_eq!(d.node_certified_by(&renewed).map(|n| &n.id), Ok(&hub.id));

        let rekeyed = cert(&["hub"], &other_key, 3);
        let why = d.node_certified_by(&rekeyed).expect_err("another key");
        assert!(
            why.contains("not the key the network directory pins"),
            "{why}"
        );
        let why = hub.certifies(&rekeyed).expect_err("another key");
        assert!(why.contains("not the key"), "{why}");

        let renamed = cert(&["kecamatan"], &hub_key, 4);
        let why = hub.certifies(&renamed).expect_err("another name");
        assert!(why.contains("names node kecamatan, not hub"), "{why}");
        let why = d.node_certified_by(&renamed).expect_err("not listed");
        assert!(why.contains("no node kecamatan"), "{why}");

        let two_names = cert(&["hub", "kecamatan"], &hub_key, 5);
        assert!(d.node_certified_by(&two_names).is_err());
        assert!(hub.certifies(b"not a certificate").is_err());
    }

    /// The pin is the SubjectPublicKeyInfo's SHA-256, hex, the same for every certificate of
    /// the key.
    #[test]
    fn the_pin_is_the_sha256_of_the_subject_public_key_info() {
        let k = key();
        let der = cert(&["hub"], &k, 1);
        assert_eq!(
            spki_sha256(&der).expect("spki"),
            sha256_hex(&rcgen::PublicKeyData::subject_public_key_info(&k))
        );
    }

    /// An input still naming nodes by `certificate_sha256` is refused, not read without a pin;
    /// one key for two nodes is refused.
    #[test]
    fn inputs_with_certificate_pins_or_shared_keys_are_refused() {
        let old = serde_json::json!({ "version": 1, "nodes": [{ "id": "hub",
            "agencies": ["dinkes"], "base_url": "https://127.0.0.1:8443",
            "certificate_sha256": "ab".repeat(32), "accreditation": "rahasia",
            "status": "active" }] });
        let e = serde_json::from_value::<DirectoryInput>(old).expect_err("refused");
        assert!(e.to_string().contains("certificate_sha256"), "{e}");

        let k = key();
        let (a, b) = (cert(&["a"], &k, 1), cert(&["b"], &k, 2));
        let input = DirectoryInput {
            version: 1,
            nodes: vec![entry("a", &a), entry("b", &b)],
        };
        let e = check_input(&input).expect_err("one key, two nodes");
        assert!(e.to_string().contains("key listed for two nodes"), "{e}");
        let mut bad = entry("a", &a);
        bad.spki_sha256 = "xy".repeat(32);
        let e = check_input(&DirectoryInput {
            version: 1,
            nodes: vec![bad],
        })
        .expect_err("not hex");
        assert!(
            e.to_string().contains("spki_sha256 must be 64 hex digits"),
            "{e}"
        );
    }
}
