//! The network directory as this node holds it: the file signed by the Network CA
//! (`network/directory.json`), verified when it changes, never older than a version already
//! accepted.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use keymgr::directory::Directory;

use crate::node::Layout;
use crate::store::{Store, network_state};
use crate::{Error, Result};

/// The directory file, verified when it changes; the last good one is kept when a new file is
/// unreadable, badly signed or older than the version already accepted.
#[derive(Debug)]
pub struct NetworkDirectory {
    path: PathBuf,
    network_ca_der: Vec<u8>,
    root_der: Vec<u8>,
    cur: RwLock<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    directory: Option<Arc<Directory>>,
}

impl NetworkDirectory {
    pub fn new(layout: &Layout, network_ca_der: Vec<u8>, root_der: Vec<u8>) -> Self {
        NetworkDirectory {
            path: layout.dir().join("network").join("directory.json"),
            network_ca_der,
            root_der,
            cur: RwLock::default(),
        }
    }

    /// The current directory, if this node has one.
    pub async fn current(&self, store: &Store) -> Result<Option<Arc<Directory>>> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        {
            let cur = self
                .cur
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cur.stamp == stamp {
                return Ok(cur.directory.clone());
            }
        }
        let loaded = match self.load(store).await {
            Ok(d) => Some(Arc::new(d)),
            Err(e) => {
                tracing::error!("network directory {} refused: {e}", self.path.display());
                None
            }
        };
        let mut cur = self
            .cur
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cur.stamp = stamp;
        if loaded.is_some() {
            cur.directory = loaded;
        }
        Ok(cur.directory.clone())
    }

    async fn load(&self, store: &Store) -> Result<Directory> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error::io("reading", &self.path, e))?;
        let d: Directory = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid("network directory", format!("not a network directory: {e}"))
        })?;
        keymgr::directory::verify(&d, &self.network_ca_der, &self.root_der)?;
        let version = i64::try_from(d.version)
            .map_err(|e| Error::invalid("network directory", e.to_string()))?;
        // Recorded in the database, so that every process of the node and every restart agree.
        let accepted = network_state::accepted_directory_version(store).await?;
        if version < accepted {
            return Err(Error::invalid(
                "network directory",
                format!("version {version} is older than version {accepted}, already accepted"),
            ));
        }
        network_state::accept_directory_version(store, version).await?;
        Ok(d)
    }
}

/// SHA-256 (hex) of a certificate, as refusals of a node certificate are logged (the directory
/// pins keys, see `keymgr::directory`).
pub fn fingerprint(der: &[u8]) -> String {
    crate::crypto::sha256_hex(der)
}

/// Connections to peers kept open between deliveries, each with what it was checked against:
/// a mutual-TLS handshake (both chains checked, P-384 signatures each way) costs more than a
/// small letter. Held by the node so that every task delivering for it shares them; what a
/// connection is, and when one may be used again, is the network module's (this layer cannot
/// name its type).
#[derive(Default)]
pub struct IdleConnections(std::sync::Mutex<std::collections::HashMap<String, Vec<Idle>>>);

type Idle = Box<dyn std::any::Any + Send>;

impl std::fmt::Debug for IdleConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleConnections").finish_non_exhaustive()
    }
}

impl IdleConnections {
    /// The most recently kept connection to `peer` that `usable` accepts; those it refuses on
    /// the way are dropped (closed).
    pub fn take<T: std::any::Any + Send>(
        &self,
        peer: &str,
        usable: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let mut idle = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.get_mut(peer)?;
        while let Some(c) = kept.pop() {
            if let Ok(c) = c.downcast::<T>()
                && usable(&c)
            {
                return Some(*c);
            }
        }
        None
    }

    /// How many connections to `peer` are kept.
    pub fn count(&self, peer: &str) -> usize {
        let idle = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.get(peer).map_or(0, Vec::len)
    }

    /// Keeps `conn` to `peer` for a later [`IdleConnections::take`], unless `max` are kept
    /// already (then it is dropped).
    pub fn put<T: std::any::Any + Send>(&self, peer: &str, conn: T, max: usize) {
        let mut idle = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.entry(peer.to_owned()).or_default();
        if kept.len() < max {
            kept.push(Box::new(conn));
        }
    }
}

/// `[witness]` in `node.toml`: how often this node witnesses its peers' access logs, and
/// keymgr's issuance log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Witness {
    /// Seconds between witnessing rounds (0: never).
    pub seconds: u64,
    /// keymgr's publication base URL (`http://host:port`, what `keymgr serve --listen`
    /// serves), whose issuance log is witnessed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuance_log: Option<String>,
    /// The issuance log's verifier key (`HOME/log/note.vkey` on keymgr's machine), pinned
    /// here: never taken from the log itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuance_log_key: Option<String>,
    /// How many peers (besides this node) must have cosigned a checkpoint of the issuance
    /// log before node, official and application certificates are checked against it.
    pub issuance_witnesses: usize,
}

impl Default for Witness {
    fn default() -> Self {
        Witness {
            seconds: 300,
            issuance_log: None,
            issuance_log_key: None,
            issuance_witnesses: 1,
        }
    }
}

impl Witness {
    /// Whether this node follows keymgr's issuance log (either line set: `issuance_log` then
    /// says whether the two are whole), cheap enough for every call.
    pub fn follows_issuance_log(&self) -> bool {
        self.issuance_log.is_some() || self.issuance_log_key.is_some()
    }

    pub fn is_default(&self) -> bool {
        *self == Witness::default()
    }

    /// The issuance log to witness, if one is set: its URL and pinned key, both or neither.
    pub fn issuance_log(&self) -> Result<Option<(&str, keymgr::note::Verifier)>> {
        match (&self.issuance_log, &self.issuance_log_key) {
            (None, None) => Ok(None),
            (Some(url), Some(key)) => {
                if !url.starts_with("http://") || url.len() > 200 {
                    return Err(Error::invalid(
                        "[witness] issuance_log",
                        "keymgr's publication URL is http://host:port (at most 200 bytes)",
                    ));
                }
                if self.issuance_witnesses == 0 || self.seconds == 0 {
                    return Err(Error::invalid(
                        "[witness]",
                        "following keymgr's issuance log needs seconds and issuance_witnesses \
                         of at least 1 (a checkpoint only this node saw vouches for nothing)",
                    ));
                }
                let v = keymgr::note::parse_vkey(key)?;
                if v.name != keymgr::tlog::ORIGIN {
                    return Err(Error::invalid(
                        "[witness] issuance_log_key",
                        format!("the issuance log's key is named {}", keymgr::tlog::ORIGIN),
                    ));
                }
                Ok(Some((url.trim_end_matches('/'), v)))
            }
            _ => Err(Error::invalid(
                "[witness]",
                "issuance_log and issuance_log_key are set together",
            )),
        }
    }
}
