//! The node's MAC over what a database writer could otherwise forge: officials' sessions and
//! officials' security attributes. The MAC key (HMAC-SHA256) is random and kept wrapped under
//! an AES key of the node's sealed keystore: `integrity-key.json` in the data directory holds
//! only the wrapped form, and the key is in memory only while the node is unsealed. A row
//! whose MAC does not verify is an integrity incident: refused, and logged.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyId, KeyKind, KeyStore, SecretBytes};
use ring::hmac;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The wrapped MAC key's file in the data directory.
pub const KEY_FILE: &str = "integrity-key.json";
const AAD: &[u8] = b"sandi integrity MAC key v1";
/// The label of the key-wrapping key in the node keystore.
const KEK_LABEL: &str = "node-integrity";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// The AES-256 key-wrapping key in the node keystore.
    kek: KeyId,
    /// The MAC key wrapped under it (base64).
    wrapped: String,
}

/// The MAC key, wiped when dropped.
pub struct MacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

/// The node's MAC key from `dir`, unwrapped by the (unsealed) keystore; made, wrapped and
/// written there the first time.
pub fn load_or_create(dir: &Path, keys: &dyn KeyStore) -> Result<MacKey> {
    let path = dir.join(KEY_FILE);
    let bad = |what: &str| Error::Integrity(format!("{}: {what}", path.display()));
    match std::fs::read(&path) {
        Ok(text) => {
            let file: KeyFile = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
            let handle = keys.info(file.kek)?.handle();
            let wrapped = B64
                .decode(file.wrapped.as_bytes())
                .map_err(|e| bad(&e.to_string()))?;
            let secret = keys.unwrap(&handle, &wrapped, AAD)?;
            let key: [u8; 32] = secret
                .expose()
                .try_into()
                .map_err(|_| bad("not a 256-bit key"))?;
            Ok(MacKey(Zeroizing::new(key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A keystore that already holds the node's key-wrapping key had a MAC key: the
            // file was removed. A new key would leave every official and session refused and
            // hide what happened; it is restored from a backup instead.
            if keys.list()?.iter().any(|k| k.label == KEK_LABEL) {
                return Err(bad(
                    "missing, but the keystore holds the node's integrity key-wrapping key: \
                     the file was removed; restore it from a backup of this node",
                ));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), key.as_mut())
                .map_err(|_| Error::NoRandomness)?;
            let kek = keys.generate(KeyKind::Aes256Wrap, KEK_LABEL)?;
            let wrapped = keys.wrap(&kek, &SecretBytes::new(key.to_vec()), AAD)?;
            let file = KeyFile {
                kek: kek.id(),
                wrapped: B64.encode(wrapped),
            };
            let text = serde_json::to_vec_pretty(&file)
                .map_err(|e| Error::encode("the row MAC key file", e))?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming", &path, e))?;
            Ok(MacKey(key))
        }
        Err(e) => Err(Error::io("reading", &path, e)),
    }
}

/// Where integrity incidents are written: the node's access log. A trait here, implemented by
/// the log above, so that the store does not import the log that is built on it.
pub trait IncidentLog: Send + Sync {
    /// Appends (durably) that `what` was found wrong with `subject`, under `policy_version`.
    fn record<'a>(
        &'a self,
        subject: &'a str,
        what: &'a str,
        policy_version: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

#[derive(Default)]
struct Inner {
    key: Option<Arc<MacKey>>,
    log: Option<Arc<dyn IncidentLog>>,
    /// The policy in force, named in each incident's log entry like every other entry.
    policy_version: String,
}

/// The MAC key while the node is unsealed, and where integrity incidents are logged; shared by
/// every clone of the store.
#[derive(Clone, Default)]
pub struct Integrity(Arc<RwLock<Inner>>);

impl std::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrity")
            .field("key", &self.has_key())
            .finish_non_exhaustive()
    }
}

/// One field of a MAC'd row: absent and empty differ.
pub(crate) fn opt(v: Option<&str>) -> Vec<u8> {
    v.map_or_else(|| vec![0], |s| [&[1u8][..], s.as_bytes()].concat())
}

impl Integrity {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_key(&self, key: MacKey) {
        self.write().key = Some(Arc::new(key));
    }

    /// Where incidents go: the node's access log, under the policy version in force.
    pub fn set_log(&self, log: Arc<dyn IncidentLog>, policy_version: &str) {
        let mut inner = self.write();
        inner.log = Some(log);
        policy_version.clone_into(&mut inner.policy_version);
    }

    /// The policy in force changed (a reload): incidents name the new version.
    pub fn set_policy_version(&self, policy_version: &str) {
        policy_version.clone_into(&mut self.write().policy_version);
    }

    pub fn has_key(&self) -> bool {
        self.read().key.is_some()
    }

    fn key(&self) -> Result<Arc<MacKey>> {
        self.read().key.clone().ok_or(Error::Sealed)
    }

    fn tag(key: &MacKey, domain: &str, fields: &[&[u8]]) -> hmac::Tag {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &key.0[..]);
        let mut ctx = hmac::Context::with_key(&k);
        for f in std::iter::once(domain.as_bytes()).chain(fields.iter().copied()) {
            ctx.update(&u64::try_from(f.len()).unwrap_or(u64::MAX).to_be_bytes());
            ctx.update(f);
        }
        ctx.sign()
    }

    /// The MAC (hex) of a row: `domain` names the table and version.
    pub(crate) fn mac(&self, domain: &str, fields: &[&[u8]]) -> Result<String> {
        let key = self.key()?;
        Ok(hex::encode(Self::tag(&key, domain, fields)))
    }

    /// Whether `mac` is the row's MAC (constant time); a row without one fails.
    pub(crate) fn verify(&self, domain: &str, fields: &[&[u8]], mac: Option<&str>) -> Result<bool> {
        let key = self.key()?;
        let Some(given) = mac else {
            return Ok(false);
        };
        // The stored text is compared with the one encoding the node writes (lowercase hex):
        // decoding first would let a database writer change a digit's case unnoticed.
        let tag = hex::encode(Self::tag(&key, domain, fields));
        Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
            tag.as_bytes(),
            given.as_bytes(),
        )))
    }

    /// Logs an integrity incident about `subject` (e.g. `official:NIP`) and returns the error
    /// to refuse with. When the log cannot be written, that is the error (fail closed).
    pub(crate) async fn incident(&self, subject: &str, what: &str) -> Error {
        tracing::error!(subject, "integrity incident: {what}");
        let (log, version) = {
            let inner = self.read();
            (inner.log.clone(), inner.policy_version.clone())
        };
        if let Some(log) = log {
            if let Err(e) = log.record(subject, what, &version).await {
                return e;
            }
        }
        Error::Integrity(what.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC key file removed from the data directory is not silently replaced by a new key:
    /// the node refuses, naming the file.
    #[test]
    fn a_removed_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys =
            hsm_shim::SoftwareKeyStore::create_dev(&dir.path().join("keystore")).expect("keystore");
        keys.unseal_dev().expect("unsealed");
        let made = load_or_create(dir.path(), &keys).expect("made the first time");
        let read = load_or_create(dir.path(), &keys).expect("read back");
        assert_eq!(&made.0[..], &read.0[..]);
        std::fs::remove_file(dir.path().join(KEY_FILE)).expect("remove");
        let e = load_or_create(dir.path(), &keys).expect_err("a removed file is refused");
        assert!(
            matches!(&e, Error::Integrity(m) if m.contains("restore it")),
            "{e}"
        );
        assert!(!dir.path().join(KEY_FILE).exists(), "no new key written");
    }
}
