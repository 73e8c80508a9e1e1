//! A docsvc node: its data directory, configuration, keystore, policy, database and log.

pub mod ca;
pub mod ceremony;
pub mod distribution;
pub mod handling;
pub mod issuance;
mod keystore;
mod layout;
pub mod letterhead;
pub mod numbering;
pub mod peers;
pub mod refusals;
pub mod revocation;
pub mod shares;
pub mod tsa;

pub use keystore::Keystore;
pub use layout::{Layout, pem_certs, read_pem_certs};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hsm_shim::{
    CustodianShare, KeyHandle, KeyId, KeyKind, KeyStore, Quorum, Sealable, SoftwareKeyStore,
};
use policies::{Level, PolicyStore};
use serde::{Deserialize, Serialize};

use crate::audit::AuditLog;
use crate::crypto::signature::Trust;
use crate::store::Store;
use crate::{Error, Result};

/// `node.toml`: what an operator sets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's id in the sandi network.
    pub node_id: String,
    /// A node made by `docsvc init`'s key ceremony: no development shortcut (`--dev-unseal`,
    /// custodians' files in the data directory) is ever taken for it. Absent (false) on
    /// quickstart nodes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub production: bool,
    pub organisation: String,
    /// The agencies (perangkat daerah) this node serves; empty on quickstart nodes (all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agencies: Vec<String>,
    /// Where to listen, e.g. `127.0.0.1:8443`.
    pub listen: String,
    /// Where officials and the public reach this node (`https://surat.kota.go.id`): what the QR
    /// codes on signed letters lead to. `https://` and `listen` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`; relative SQLite paths are under the data directory.
    pub database_url: String,
    /// The policy directory (schema, *.cedar, handling.toml).
    pub policy_dir: PathBuf,
    /// Largest request body accepted, in MiB (documents stream in chunks below this).
    #[serde(default = "default_max_body_mib")]
    pub max_body_mib: u64,
    /// Idle session lifetime in minutes.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: i64,
    /// Absolute session lifetime in hours: a session older than this is refused however
    /// active it is.
    #[serde(default = "default_session_absolute_hours")]
    pub session_absolute_hours: i64,
    /// An upload unfinished for this many minutes is abandoned and its chunks are swept.
    #[serde(default = "default_abandoned_upload_minutes")]
    pub abandoned_upload_minutes: i64,
    /// Attempts to deliver a letter to another node before it is left `dead` for an operator
    /// (`docsvc outbox retry`).
    #[serde(default = "default_delivery_attempts")]
    pub delivery_attempts: i64,
    /// Refusals on `/network/v1` by one peer or certificate within this many seconds are
    /// logged once and then counted (see `refusals`).
    #[serde(default = "default_network_refusal_window_secs")]
    pub network_refusal_window_secs: u64,
    /// `/readyz` and `/metrics` warn of a CRL that goes stale within this many hours.
    #[serde(default = "default_crl_warn_hours")]
    pub crl_warn_hours: i64,
    /// How long an enrolment code (a new official's, or a reset's) works, in seconds
    /// (default 72 hours; 1 second to 30 days). Written only when it differs.
    #[serde(
        default = "default_enrolment_seconds",
        skip_serializing_if = "is_default_enrolment"
    )]
    pub enrolment_seconds: i64,
    /// What one client, or all of them together, may hold of the node (`[limits]`; written
    /// only when it differs from the defaults, so the file stays short).
    #[serde(default, skip_serializing_if = "Limits::is_default")]
    pub limits: Limits,
    /// `[pki]`: where the node fetches CRLs and serves its CA certificates and CRLs.
    #[serde(default, skip_serializing_if = "Pki::is_default")]
    pub pki: Pki,
    /// `[ca]`: the online CA (`keymgr serve`) this node enrols and renews with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<ca::CaConfig>,
    /// Where letters' content is kept: `files` (the default: an append-only store in the data
    /// directory's `content/`) or `database` (rows of the database, for nodes whose processes
    /// share only PostgreSQL). Either way the database holds the metadata and age headers.
    #[serde(default, skip_serializing_if = "is_files")]
    pub content_store: crate::store::content::Mode,
    /// `[keystore]`: where the node's keys live besides the sealed software keystore.
    #[serde(default, skip_serializing_if = "Keystore::is_default")]
    pub keystore: Keystore,
    /// `[numbering]`: the agencies' registers of outgoing and incoming letters.
    #[serde(default, skip_serializing_if = "numbering::Numbering::is_default")]
    pub numbering: numbering::Numbering,
    /// `[kop.<agency>]`: the agencies' letterheads on the letters the node renders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kop: BTreeMap<String, letterhead::Kop>,
    /// `[witness]`: how often the node witnesses its peers' access logs.
    #[serde(default, skip_serializing_if = "peers::Witness::is_default")]
    pub witness: peers::Witness,
}

/// `[pki]` in `node.toml`: revocation where clients look (RFC 5280 §4.2.1.13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pki {
    /// The organisation's OID arc chosen at keymgr's init ceremony (its `state.json`
    /// `oid_arc`); node certificates carry their attributes under it. The development arc
    /// when absent.
    #[serde(skip_serializing_if = "is_dev_arc")]
    pub oid_arc: String,
    /// Plain-HTTP URLs of the CRLs to fetch (keymgr's `…/crl/network-ca.crl`,
    /// `…/crl/signing-ca.crl`). Empty: the CRL Distribution Points of the node's own
    /// certificate. A fetched CRL counts only if a CA the node trusts signed it, and only if
    /// its CRL number is higher than the one the node holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crl_urls: Vec<String>,
    /// Seconds between fetches of each CRL URL (0: the default, 600).
    #[serde(skip_serializing_if = "is_zero")]
    pub crl_refresh_secs: u64,
    /// Where to serve the CA certificates and current CRLs over plain HTTP
    /// (`/ca/root.crt`, `/crl/network-ca.crl`, …), e.g. `127.0.0.1:8080`. None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_listen: Option<String>,
    /// The time-stamping authority (RFC 3161 over plain HTTP, keymgr's `POST /tsa`) that
    /// stamps every letter signature, approval and destruction record; without one those
    /// fail closed (503 `timestamp-unavailable`). A quickstart node's is its dev CA's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa_url: Option<String>,
}

// What node.toml leaves out when it is the default, so that the file stays short (and a
// default that changes reaches nodes that never set it).
fn is_dev_arc(arc: &str) -> bool {
    arc == keymgr::oid_arc::DEV_OID_ARC
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_files(mode: &crate::store::content::Mode) -> bool {
    *mode == crate::store::content::Mode::Files
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for Pki {
    fn default() -> Self {
        Pki {
            oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
            crl_urls: Vec::new(),
            crl_refresh_secs: 0,
            publish_listen: None,
            tsa_url: None,
        }
    }
}

impl Pki {
    fn is_default(&self) -> bool {
        *self == Pki::default()
    }

    /// How often each CRL URL is fetched.
    pub fn crl_refresh(&self) -> std::time::Duration {
        std::time::Duration::from_secs(if self.crl_refresh_secs == 0 {
            600
        } else {
            self.crl_refresh_secs
        })
    }
}

/// `[limits]` in `node.toml`: connections and timeouts against slow or many clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64 counts as one). An
    /// agency behind one NAT address shares this.
    pub max_connections_per_address: usize,
    /// Seconds for the TLS handshake.
    pub tls_handshake_secs: u64,
    /// Seconds to receive a request's headers. On a kept-alive HTTP/1.1 connection the wait
    /// for the next request counts too, so this also closes idle HTTP/1.1 connections.
    pub header_read_secs: u64,
    /// Seconds without a byte either way before any connection (HTTP/2 included) is closed.
    pub idle_secs: u64,
    /// A request body must arrive at least this fast on average once `body_grace_secs` have
    /// passed; slower is answered 408 and the connection closed.
    pub body_min_bytes_per_sec: u64,
    pub body_grace_secs: u64,
    /// HTTP/2 streams open at once on one connection.
    pub h2_max_streams: u32,
    /// Deliveries one peer node may have under way here at once; more wait for a turn, then
    /// are answered 503 (see [`shares`]).
    pub max_deliveries_per_peer: usize,
    /// Letters (parts, exports) one official may be reading here at once, however slowly;
    /// more wait for a turn, then are answered 503 (see [`shares`]).
    pub max_reads_per_official: usize,
}

impl Limits {
    fn is_default(&self) -> bool {
        *self == Limits::default()
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_address: 256,
            tls_handshake_secs: 10,
            header_read_secs: 30,
            idle_secs: 120,
            body_min_bytes_per_sec: 1024,
            body_grace_secs: 10,
            h2_max_streams: 64,
            // Twice what one sending process has in flight (`transmit::IN_FLIGHT`).
            max_deliveries_per_peer: 64,
            // A thirty-second of the node's reading turns (`envelope::READERS_AT_ONCE`): a web
            // page and its attachments, or a script's downloads, with room to spare. A body held
            // whole (a rendered PDF, up to 72 MiB) is held once per turn, so this bounds one
            // official's memory too.
            max_reads_per_official: 16,
        }
    }
}

fn default_max_body_mib() -> u64 {
    2048
}
fn default_session_minutes() -> i64 {
    30
}
fn default_session_absolute_hours() -> i64 {
    12
}
fn default_abandoned_upload_minutes() -> i64 {
    60
}
fn default_delivery_attempts() -> i64 {
    12
}
fn default_network_refusal_window_secs() -> u64 {
    60
}
fn default_crl_warn_hours() -> i64 {
    48
}
fn default_enrolment_seconds() -> i64 {
    72 * 3600
}
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_default_enrolment(s: &i64) -> bool {
    *s == default_enrolment_seconds()
}

/// The node's own keys, by id (`keys.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeKeys {
    /// In the TLS keystore (`tls-keystore/`), which opens without the custodians: the node must
    /// speak TLS while sealed so that custodians can unseal it over HTTPS. Its protection is
    /// the file permissions of the data directory, as for any TLS server key.
    pub tls: KeyId,
    pub audit: KeyId,
    /// The archive (X25519) key of each level.
    pub archive: Vec<(Level, KeyId)>,
    /// Archive keys replaced by a rotation, kept to open letters until `docsvc rewrap` has
    /// moved them to the current key.
    #[serde(default)]
    pub retired_archive: Vec<(Level, KeyId)>,
}

pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io("creating", p, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("renaming", path, e))
}

impl Config {
    /// A configuration with every tunable at its default.
    pub fn new(
        node_id: &str,
        organisation: &str,
        listen: &str,
        database_url: &str,
        policy_dir: PathBuf,
    ) -> Self {
        Config {
            node_id: node_id.into(),
            production: false,
            organisation: organisation.into(),
            agencies: Vec::new(),
            listen: listen.into(),
            public_url: None,
            database_url: database_url.into(),
            policy_dir,
            max_body_mib: default_max_body_mib(),
            session_minutes: default_session_minutes(),
            session_absolute_hours: default_session_absolute_hours(),
            abandoned_upload_minutes: default_abandoned_upload_minutes(),
            delivery_attempts: default_delivery_attempts(),
            network_refusal_window_secs: default_network_refusal_window_secs(),
            crl_warn_hours: default_crl_warn_hours(),
            enrolment_seconds: default_enrolment_seconds(),
            limits: Limits::default(),
            pki: Pki::default(),
            ca: None,
            keystore: Keystore::default(),
            numbering: numbering::Numbering::default(),
            kop: BTreeMap::new(),
            witness: peers::Witness::default(),
            content_store: crate::store::content::Mode::default(),
        }
    }

    /// Whether `layout` holds a production node (made by `docsvc init`): development
    /// shortcuts are refused there. A node.toml that cannot be read counts as production.
    pub fn is_production(layout: &Layout) -> bool {
        Config::load(layout).map_or(true, |c| c.production)
    }

    pub fn load(layout: &Layout) -> Result<Self> {
        let path = layout.config();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            Error::invalid("node configuration", format!("{}: {e}", path.display()))
        })?;
        keymgr::oid_arc::check(&config.pki.oid_arc).map_err(|e| {
            Error::invalid(
                "node configuration",
                format!("{}: [pki] {e}", path.display()),
            )
        })?;
        if !(1..=30 * 86_400).contains(&config.enrolment_seconds) {
            return Err(Error::invalid(
                "node configuration",
                format!(
                    "{}: enrolment_seconds is 1 to 2592000 (30 days)",
                    path.display()
                ),
            ));
        }
        config.witness.issuance_log()?;
        (config.numbering.check())
            .and_then(|()| letterhead::check(&config.kop))
            .map_err(|e| {
                Error::invalid("node configuration", format!("{}: {e}", path.display()))
            })?;
        if let Some(p11) = &config.keystore.pkcs11 {
            p11.validate().map_err(|e| {
                Error::invalid(
                    "node configuration",
                    format!("{}: [keystore.pkcs11] {e}", path.display()),
                )
            })?;
        }
        Ok(config)
    }

    pub fn save(&self, layout: &Layout) -> Result<()> {
        let text =
            toml::to_string_pretty(self).map_err(|e| Error::encode("the node configuration", e))?;
        write_new(&layout.config(), text.as_bytes())
    }

    /// The database URL with a relative SQLite path resolved under the data directory.
    pub fn database_url(&self, layout: &Layout) -> String {
        match self.database_url.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') => {
                format!("sqlite://{}", layout.dir().join(rest).display())
            }
            _ => self.database_url.clone(),
        }
    }
}

impl NodeKeys {
    pub fn load(layout: &Layout) -> Result<Self> {
        let path = layout.keys();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::invalid("node keys", format!("{}: {e}", path.display())))
    }

    pub fn save(&self, layout: &Layout) -> Result<()> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| Error::encode("the node keys", e))?;
        write_new(&layout.keys(), &text)
    }

    pub fn archive(&self, level: Level) -> Result<KeyId> {
        self.archive
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, k)| *k)
            .ok_or_else(|| Error::MissingKey {
                what: format!("archive key for {level}"),
            })
    }

    /// Every archive key of `level` this node holds: the current one first, then retired ones.
    pub fn archive_all(&self, level: Level) -> Result<Vec<KeyId>> {
        let mut all = vec![self.archive(level)?];
        all.extend(
            self.retired_archive
                .iter()
                .filter(|(l, _)| *l == level)
                .map(|(_, k)| *k),
        );
        Ok(all)
    }
}

/// `keys.json`, re-read when it changes on disk: a rotation done by `docsvc keys rotate`
/// reaches a running node without a restart.
#[derive(Debug)]
pub struct KeysFile {
    path: PathBuf,
    cur: std::sync::RwLock<(Option<std::time::SystemTime>, Arc<NodeKeys>)>,
}

impl KeysFile {
    fn open(layout: &Layout) -> Result<Self> {
        let path = layout.keys();
        let stamp = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(KeysFile {
            cur: std::sync::RwLock::new((stamp, Arc::new(NodeKeys::load(layout)?))),
            path,
        })
    }

    /// The node's keys as the file now says; the last good version if it cannot be read.
    pub fn get(&self) -> Arc<NodeKeys> {
        let stamp = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        {
            let cur = self
                .cur
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cur.0 == stamp {
                return Arc::clone(&cur.1);
            }
        }
        let loaded = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str::<NodeKeys>(&t).ok());
        let mut cur = self
            .cur
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = loaded {
            *cur = (stamp, Arc::new(k));
        } else {
            tracing::error!(
                "{} unreadable: keeping the keys loaded",
                self.path.display()
            );
        }
        Arc::clone(&cur.1)
    }
}

/// Creates a node's keystore and deals its shares; returns the shares (the only copies of the
/// master key) for the caller to hand to the custodians.
pub fn create_keystore(layout: &Layout, quorum: Quorum) -> Result<Vec<CustodianShare>> {
    let (_store, shares) = SoftwareKeyStore::create(&layout.keystore(), quorum)?;
    Ok(shares)
}

/// Opens the node's keystore as `node.toml` says: the software keystore (`keystore/`, sealed)
/// alone, or with the PKCS#11 token of `[keystore.pkcs11]` for the signing keys. The token's
/// PIN is read and the token logged in to here, before the node touches its database or any
/// file: a missing PIN file or variable, or a PIN the token refuses, stops it with nothing
/// written.
pub fn open_keystore(layout: &Layout, config: &Config) -> Result<Arc<dyn Sealable>> {
    Ok(open_keystore_parts(layout, config)?.1)
}

/// [`open_keystore`], with the software half too (what a reshare deals new shares of).
pub fn open_keystore_parts(
    layout: &Layout,
    config: &Config,
) -> Result<(Arc<SoftwareKeyStore>, Arc<dyn Sealable>)> {
    let token = config
        .keystore
        .pkcs11
        .as_ref()
        .map(open_token)
        .transpose()?;
    let software = Arc::new(SoftwareKeyStore::open(&layout.keystore())?);
    Ok((Arc::clone(&software), routed(software, token)))
}

/// The token of `[keystore.pkcs11]`, logged in to with the PIN from its source.
pub fn open_token(settings: &hsm_shim::Pkcs11Settings) -> Result<Arc<hsm_shim::Pkcs11KeyStore>> {
    Ok(Arc::new(hsm_shim::Pkcs11KeyStore::open(
        &settings.resolve()?,
    )?))
}

/// The node keystore over `software`: signing keys on `token` if there is one.
pub fn routed(
    software: Arc<SoftwareKeyStore>,
    token: Option<Arc<hsm_shim::Pkcs11KeyStore>>,
) -> Arc<dyn Sealable> {
    match token {
        Some(token) => Arc::new(hsm_shim::RoutedKeyStore::new(software, token)),
        None => software,
    }
}

/// Creates the TLS keystore (a local one: it opens without the custodians, see
/// [`NodeKeys::tls`]) and the node's TLS key in it.
pub fn create_tls_key(layout: &Layout) -> Result<KeyId> {
    let store = SoftwareKeyStore::create_local(&layout.tls_keystore())?;
    store.unseal_from_local_file()?;
    Ok(store.generate(KeyKind::EcdsaP256, "node-tls")?.id())
}

/// Opens the TLS keystore (unsealed from its local key file; a node made before TLS
/// keystores were local has a dev one).
pub fn open_tls_keystore(layout: &Layout) -> Result<Arc<SoftwareKeyStore>> {
    let store = SoftwareKeyStore::open(&layout.tls_keystore())?;
    store.unseal_from_local_file()?;
    Ok(Arc::new(store))
}

/// Generates the node's own keys in an unsealed keystore.
pub fn generate_node_keys(keys: &dyn KeyStore, tls: KeyId) -> Result<NodeKeys> {
    let audit = keys.generate(KeyKind::EcdsaP256, "node-audit")?.id();
    let mut archive = Vec::new();
    for level in Level::ALL {
        let k = keys.generate(
            KeyKind::X25519,
            &format!("archive-{}", level.as_str().replace('_', "-")),
        )?;
        archive.push((level, k.id()));
    }
    Ok(NodeKeys {
        tls,
        audit,
        archive,
        retired_archive: Vec::new(),
    })
}

/// Everything a running node holds.
pub struct Node {
    pub layout: Layout,
    pub config: Config,
    pub store: Store,
    /// The node's keys (officials' signing keys, archive and audit keys): any backend that
    /// opens under the custodians' control (the sealed software keystore, alone or routed with
    /// a PKCS#11 token for the signing keys, see [`Keystore`]).
    pub keystore: Arc<dyn Sealable>,
    pub tls_keystore: Arc<SoftwareKeyStore>,
    pub keys: KeysFile,
    pub policy: PolicyStore,
    /// Officials' signatures chain here (Signing CA); applications' and nodes' through the
    /// Network CA.
    pub trust: Trust,
    /// Only the Network CA: what application and node client certificates chain to.
    pub network_trust: Trust,
    /// keymgr's CRLs from `crl/`, reloaded when the files change.
    pub crls: crate::crypto::revocation::CrlCache,
    /// The network directory signed by the Network CA: which nodes this one talks to.
    pub network: peers::NetworkDirectory,
    /// Connections to peers kept for the next delivery (`network::connect`).
    pub peer_connections: peers::IdleConnections,
    pub signing_ca_der: Vec<u8>,
    pub network_ca_der: Vec<u8>,
    pub audit: AuditLog,
    /// Group commit for entries that stand alone.
    pub log: crate::audit::Batcher,
    /// Group commit for letters received from peers, each with its rows and its log entry.
    pub received: crate::audit::Grouped<Node>,
    pub metrics: crate::metrics::Metrics,
    /// Refusals on `/network/v1` counted for the log.
    pub refusals: refusals::Refusals,
    /// Each peer's turns to deliver here ([`shares`]).
    pub deliveries: shares::Shares,
    /// Each official's turns to read here ([`shares`]).
    pub reads: shares::Shares,
    /// The TSA this node's signatures are time-stamped by.
    pub tsa: tsa::Tsa,
    /// keymgr's issuance log as witnessed (`[witness] issuance_log`).
    pub issuance: issuance::IssuanceLog,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("dir", &self.layout.dir())
            .field("node_id", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Opens a node's data directory with its keystore ([`open_keystore`]), which comes up
    /// sealed.
    pub async fn open(layout: Layout) -> Result<Self> {
        let config = Config::load(&layout)?;
        let keystore = open_keystore(&layout, &config)?;
        Self::open_with(layout, keystore).await
    }

    /// Opens a node's data directory with the keystore given, of any backend (its keys named
    /// in `keys.json` as they are in that keystore).
    pub async fn open_with(layout: Layout, keystore: Arc<dyn Sealable>) -> Result<Self> {
        let config = Config::load(&layout)?;
        crate::private_files::restrict_dir(layout.dir())?;
        let keys = KeysFile::open(&layout)?;
        let tls_keystore = open_tls_keystore(&layout)?;
        let policy = PolicyStore::load(&config.policy_dir)?;
        let store = Store::open(&config.database_url(&layout))
            .await?
            .with_content(layout.dir(), config.content_store);
        crate::store::content::prepare(&store)?;
        let root_der = read_pem_certs(&layout.ca("root.pem"))?.remove(0);
        let signing_ca_der = read_pem_certs(&layout.ca("signing-ca.pem"))?.remove(0);
        let network_ca_der = read_pem_certs(&layout.ca("network-ca.pem"))?.remove(0);
        let audit = AuditLog::new(
            Arc::clone(&keystore) as Arc<dyn KeyStore>,
            keys.get().audit,
            layout.heads(),
        );
        let log = crate::audit::Batcher::spawn(store.clone(), audit.clone());
        store
            .integrity()
            .set_log(Arc::new(log.clone()), policy.current().version());
        let tsa = tsa::Tsa::new(config.pki.tsa_url.clone());
        let metrics = crate::metrics::Metrics::new(log.batch_sizes());
        let deliveries = shares::Shares::new(
            config.limits.max_deliveries_per_peer,
            shares::TURN_WAIT,
            metrics.peer_deliveries.clone(),
            |peer, n| {
                format!("node {peer} already has {n} deliveries under way here; try again shortly")
            },
        );
        let reads = shares::Shares::new(
            config.limits.max_reads_per_official,
            shares::TURN_WAIT,
            metrics.official_reads.clone(),
            |nip, n| {
                format!("official {nip} already has {n} letters being read here; try again shortly")
            },
        );
        Ok(Node {
            tsa,
            log,
            trust: Trust::new(
                root_der.clone(),
                vec![signing_ca_der.clone(), network_ca_der.clone()],
            ),
            network_trust: Trust::new(root_der.clone(), vec![network_ca_der.clone()]),
            crls: crate::crypto::revocation::CrlCache::new(
                layout.crl_dir(),
                vec![signing_ca_der.clone(), network_ca_der.clone()],
            )
            .also_keeping(root_der.clone()),
            network: peers::NetworkDirectory::new(&layout, network_ca_der.clone(), root_der),
            peer_connections: peers::IdleConnections::default(),
            network_ca_der,
            signing_ca_der,
            layout,
            config,
            store,
            keystore,
            tls_keystore,
            keys,
            policy,
            audit,
            metrics,
            refusals: refusals::Refusals::default(),
            deliveries,
            reads,
            issuance: issuance::IssuanceLog::default(),
            received: crate::audit::Grouped::default(),
        })
    }

    pub fn is_sealed(&self) -> bool {
        self.keystore.is_sealed()
    }

    /// The TLS server configuration with the node certificate in `tls/node-chain.pem`.
    pub fn tls_config(&self) -> Result<(Arc<crate::crypto::tls::NodeCert>, rustls::ServerConfig)> {
        let chain = read_pem_certs(&self.layout.tls_chain())?;
        let handle = self.tls_keystore.info(self.keys.get().tls)?.handle();
        let cert = Arc::new(crate::crypto::tls::NodeCert::new(
            chain,
            Arc::clone(&self.tls_keystore) as Arc<dyn KeyStore>,
            handle,
        ));
        let config = crate::crypto::tls::server_config(Arc::clone(&cert), self.trust.root_der())?;
        Ok((cert, config))
    }

    /// Once the keystore is open: loads the node's MAC key for sessions and officials
    /// ([`crate::integrity`]), and publishes the audit key's public key beside the log, for
    /// `docsvc audit verify`, and the checkpoint note key's verifier key (made here the first
    /// time) as `audit-note.vkey`.
    pub fn after_unseal(&self) -> Result<()> {
        self.store
            .integrity()
            .set_key(crate::store::integrity::load_or_create(
                self.layout.dir(),
                self.keystore.as_ref(),
            )?);
        let spki = self.audit.public_key()?;
        let path = self.layout.dir().join("audit-key.der");
        if std::fs::read(&path).ok().as_deref() != Some(spki.as_slice()) {
            write_new(&path, &spki)?;
        }
        // The checkpoint note key's verifier key, for witnesses; a keystore that cannot make
        // one (a token without Ed25519) leaves the node running, its checkpoints refused.
        match self.audit.note_key(&self.config.node_id) {
            Ok(k) => write_new(
                &self.layout.dir().join("audit-note.vkey"),
                format!("{}\n", k.vkey()).as_bytes(),
            )?,
            Err(e) => tracing::warn!("no checkpoint note key, checkpoints refused: {e}"),
        }
        Ok(())
    }

    /// A handle for one of this keystore's keys by id.
    pub fn handle(&self, id: KeyId) -> Result<KeyHandle> {
        Ok(self.keystore.info(id)?.handle())
    }
}

/// Appends one entry that stands alone (refusals, reads) through the group commit; returns
/// once it is durable.
pub async fn log_alone(node: &Node, e: &crate::audit::Entry) -> Result<()> {
    node.log.append(e.clone()).await?;
    crate::metrics::Metrics::inc(&node.metrics.log_entries);
    Ok(())
}
