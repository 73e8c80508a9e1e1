//! The software backend: a directory keystore whose keys are encrypted at rest under a master
//! key that only a quorum of custodians can reconstruct.
//!
//! Layout of the directory:
//! - `keystore.json`: id, mode, quorum, one commitment per custodian share, and a check value
//!   that proves a recovered master key is the right one;
//! - `keys/<id>.key`: one JSON file per key, its attributes in the clear and its material
//!   sealed with AES-256-GCM, the attributes bound as associated data;
//! - `events.log`: one JSON line per lifecycle event (generated, state change, destroyed);
//! - `dev-unseal.key`: only in dev mode, the master key itself.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{LessSafeKey, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::durable;
use crate::key::{KeyHandle, KeyId, KeyInfo, KeyKind, KeyState, Operation};
use crate::quorum::{self, CustodianShare, Mode, Quorum};
use crate::wiped::Wiped;
use crate::{Error, Result, UnsealProgress};

mod material;
mod operations;

use material::{derive, load, open_with, seal_with};

const META_FILE: &str = "keystore.json";
const KEYS_DIR: &str = "keys";
const EVENTS_FILE: &str = "events.log";
const DEV_UNSEAL_FILE: &str = "dev-unseal.key";
const LOCAL_UNSEAL_FILE: &str = "local-unseal.key";
const FORMAT: u32 = 1;
const KEK_INFO: &[u8] = b"sandi keystore key-encryption v1";
const CHECK_INFO: &[u8] = b"sandi keystore check v1";
const CHECK_PLAINTEXT: &[u8] = b"sandi keystore master key check";
const KEY_AAD_CONTEXT: &[u8] = b"sandi key file v1\0";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreMeta {
    format: u32,
    id: Uuid,
    mode: Mode,
    quorum: Quorum,
    /// Hex SHA-256 commitments, one per custodian, in index order.
    commitments: Vec<String>,
    /// Base64 nonce || AES-256-GCM(check key, CHECK_PLAINTEXT).
    check: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
}

/// A key file: attributes in the clear (bound as associated data), material sealed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    attrs: KeyAttrs,
    nonce: String,
    sealed: String,
}

/// The attributes bound to a key's ciphertext. Field order is the canonical encoding.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct KeyAttrs {
    id: KeyId,
    label: String,
    kind: KeyKind,
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    state: KeyState,
}

impl KeyAttrs {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id,
            label: self.label.clone(),
            kind: self.kind,
            version: self.version,
            usage: self.kind.usage(),
            created: self.created,
            state: self.state,
        }
    }
}

enum Material {
    Ed25519(Wiped<Ed25519KeyPair>),
    Ecdsa(Wiped<EcdsaKeyPair>),
    X25519(x25519_dalek::StaticSecret),
    Aes(Wiped<LessSafeKey>),
}

/// A key decrypted into memory after unsealing; dropped (and wiped) on seal or destroy.
struct LoadedKey {
    info: KeyInfo,
    spki: Vec<u8>,
    material: Material,
}

struct Unsealed {
    kek: Wiped<LessSafeKey>,
    cache: RwLock<HashMap<KeyId, Arc<LoadedKey>>>,
}

enum State {
    Sealed { pending: Vec<CustodianShare> },
    Unsealed(Unsealed),
}

/// A reshare dealt but not yet committed: the new shares to hand out.
pub struct ResharePlan {
    keystore: Uuid,
    previous: Vec<String>,
    quorum: Quorum,
    commitments: Vec<String>,
    /// The new custodians' shares, in index order.
    pub shares: Vec<CustodianShare>,
}

impl std::fmt::Debug for ResharePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResharePlan")
            .field("keystore", &self.keystore)
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

/// A directory keystore sealed under an M-of-N custodian quorum.
pub struct SoftwareKeyStore {
    dir: PathBuf,
    meta: RwLock<StoreMeta>,
    state: RwLock<State>,
    /// Serialises changes to key files so two writers never race on one key.
    writes: Mutex<()>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKeyStore")
            .field("dir", &self.dir)
            .field("id", &self.id())
            .field("mode", &self.mode())
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SoftwareKeyStore {
    /// Creates a production keystore in `dir` (which must not hold one already) and deals the
    /// master key to `quorum.custodians` custodians. The store comes back sealed; the shares are
    /// the only copies of the master key.
    pub fn create(dir: &Path, quorum: Quorum) -> Result<(Self, Vec<CustodianShare>)> {
        let quorum = quorum.validate(Mode::Production)?;
        let rng = SystemRandom::new();
        let master = random_key(&rng)?;
        let id = Uuid::new_v4();
        let shares = quorum::deal(&master, id, quorum);
        let commitments = shares.iter().map(|s| hex::encode(s.commitment())).collect();
        let store = Self::write_new(dir, id, Mode::Production, quorum, commitments, &master, rng)?;
        Ok((store, shares))
    }

    /// Creates a development keystore whose master key sits in a local file. Loudly not for
    /// classified material; callers must say so whenever it is unsealed.
    pub fn create_dev(dir: &Path) -> Result<Self> {
        Self::create_with_local_file(dir, Mode::Dev)
    }

    /// Creates a [`Mode::Local`] keystore: its master key in a local file (0600), for a key that
    /// must be usable while the node's own keystore is sealed (its TLS server key).
    pub fn create_local(dir: &Path) -> Result<Self> {
        Self::create_with_local_file(dir, Mode::Local)
    }

    fn local_file(mode: Mode) -> Option<&'static str> {
        match mode {
            Mode::Dev => Some(DEV_UNSEAL_FILE),
            Mode::Local => Some(LOCAL_UNSEAL_FILE),
            Mode::Production => None,
        }
    }

    fn create_with_local_file(dir: &Path, mode: Mode) -> Result<Self> {
        let rng = SystemRandom::new();
        let master = random_key(&rng)?;
        let id = Uuid::new_v4();
        let quorum = Quorum {
            threshold: 1,
            custodians: 1,
        };
        let file = Self::local_file(mode).ok_or(Error::DevMode(
            "a production keystore has no local unseal file",
        ))?;
        let store = Self::write_new(dir, id, mode, quorum, Vec::new(), &master, rng)?;
        let path = dir.join(file);
        let text = Zeroizing::new(B64.encode(master.as_slice()));
        let mut f = durable::create_private(&path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("writing", &path, e))?;
        durable::sync_dir(dir)?;
        Ok(store)
    }

    fn write_new(
        dir: &Path,
        id: Uuid,
        mode: Mode,
        quorum: Quorum,
        commitments: Vec<String>,
        master: &[u8; 32],
        rng: SystemRandom,
    ) -> Result<Self> {
        if dir.join(META_FILE).exists() {
            return Err(Error::InvalidInput(format!(
                "{} already holds a keystore",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        create_private_dir(&dir.join(KEYS_DIR))?;
        let check_key = derive(master, id, CHECK_INFO)?;
        let check = B64.encode(seal_with(
            &rng,
            check_key.get(),
            id.as_bytes(),
            CHECK_PLAINTEXT,
        )?);
        let meta = StoreMeta {
            format: FORMAT,
            id,
            mode,
            quorum,
            commitments,
            check,
            created: now(),
        };
        write_meta(dir, &meta)?;
        Ok(SoftwareKeyStore {
            dir: dir.to_path_buf(),
            meta: RwLock::new(meta),
            state: RwLock::new(State::Sealed {
                pending: Vec::new(),
            }),
            writes: Mutex::new(()),
            rng,
        })
    }

    /// Opens an existing keystore, sealed.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(META_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let meta: StoreMeta =
            serde_json::from_slice(&bytes).map_err(|e| Error::CorruptKeystore {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if meta.format != FORMAT {
            return Err(Error::CorruptKeystore {
                path,
                reason: format!("unknown format {}", meta.format),
            });
        }
        meta.quorum
            .validate(meta.mode)
            .map_err(|e| Error::CorruptKeystore {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if meta.mode == Mode::Production
            && meta.commitments.len() != usize::from(meta.quorum.custodians)
        {
            return Err(Error::CorruptKeystore {
                path,
                reason: "one commitment per custodian expected".into(),
            });
        }
        Ok(SoftwareKeyStore {
            dir: dir.to_path_buf(),
            meta: RwLock::new(meta),
            state: RwLock::new(State::Sealed {
                pending: Vec::new(),
            }),
            writes: Mutex::new(()),
            rng: SystemRandom::new(),
        })
    }

    pub fn id(&self) -> Uuid {
        read_lock(&self.meta).id
    }
    pub fn mode(&self) -> Mode {
        read_lock(&self.meta).mode
    }
    pub fn quorum(&self) -> Quorum {
        read_lock(&self.meta).quorum
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_sealed(&self) -> bool {
        matches!(*read_lock(&self.state), State::Sealed { .. })
    }

    /// How far unsealing has come.
    pub fn progress(&self) -> UnsealProgress {
        let threshold = usize::from(self.quorum().threshold);
        match &*read_lock(&self.state) {
            State::Sealed { pending } => UnsealProgress {
                provided: pending.len(),
                threshold,
                unsealed: false,
            },
            State::Unsealed(_) => UnsealProgress {
                provided: threshold,
                threshold,
                unsealed: true,
            },
        }
    }

    /// Takes one custodian's share. Each share is checked against its commitment on arrival, so
    /// a wrong or corrupted share is named at once; when the threshold is reached the master key
    /// is recovered, checked, and the store unseals.
    pub fn submit_share(&self, share: CustodianShare) -> Result<UnsealProgress> {
        let meta = read_lock(&self.meta);
        if meta.mode != Mode::Production {
            return Err(Error::DevMode(
                "a dev keystore is unsealed from its local file, not with shares",
            ));
        }
        Self::check_share(&meta, &share)?;
        let threshold = usize::from(meta.quorum.threshold);
        let mut state = write_lock(&self.state);
        let State::Sealed { pending } = &mut *state else {
            return Ok(UnsealProgress {
                provided: threshold,
                threshold,
                unsealed: true,
            });
        };
        if pending.iter().any(|p| p.index() == share.index()) {
            return Err(Error::DuplicateShare {
                index: share.index(),
            });
        }
        pending.push(share);
        if pending.len() < threshold {
            return Ok(UnsealProgress {
                provided: pending.len(),
                threshold,
                unsealed: false,
            });
        }
        let master = quorum::combine(pending, meta.quorum.threshold);
        pending.clear();
        let master = master?;
        let unsealed = self.unsealed_from(&meta, &master)?;
        *state = State::Unsealed(unsealed);
        Ok(UnsealProgress {
            provided: threshold,
            threshold,
            unsealed: true,
        })
    }

    fn check_share(meta: &StoreMeta, share: &CustodianShare) -> Result<()> {
        if share.keystore() != meta.id {
            return Err(Error::ShareForOtherKeystore {
                share_keystore: share.keystore(),
                keystore: meta.id,
            });
        }
        let index = share.index();
        let commitment = meta
            .commitments
            .get(usize::from(index) - 1)
            .and_then(|h| hex::decode(h).ok())
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(Error::WrongShare { index })?;
        if share.threshold() != meta.quorum.threshold || !share.matches(&commitment) {
            return Err(Error::WrongShare { index });
        }
        Ok(())
    }

    fn unsealed_from(&self, meta: &StoreMeta, master: &[u8; 32]) -> Result<Unsealed> {
        let check_key = derive(master, meta.id, CHECK_INFO)?;
        let check = B64
            .decode(&meta.check)
            .ok()
            .and_then(|c| open_with(check_key.get(), meta.id.as_bytes(), &c));
        match check {
            Some(pt) if pt.as_slice() == CHECK_PLAINTEXT => {}
            _ => {
                return Err(Error::CorruptKeystore {
                    path: self.dir.join(META_FILE),
                    reason: "the recovered master key does not open the check value".into(),
                });
            }
        }
        Ok(Unsealed {
            kek: derive(master, meta.id, KEK_INFO)?,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Unseals a dev keystore from its local unseal file.
    pub fn unseal_dev(&self) -> Result<()> {
        if self.mode() != Mode::Dev {
            return Err(Error::DevMode(
                "this is not a dev keystore: it does not unseal from a dev unseal file",
            ));
        }
        self.unseal_from_local_file()
    }

    /// Unseals a keystore from its local key file: a dev keystore or a [`Mode::Local`] one
    /// (never a production keystore, which opens only with custodian shares).
    pub fn unseal_from_local_file(&self) -> Result<()> {
        let meta = read_lock(&self.meta);
        let file = Self::local_file(meta.mode).ok_or(Error::DevMode(
            "this is a production keystore: it unseals only with custodian shares",
        ))?;
        let path = self.dir.join(file);
        let text = Zeroizing::new(fs::read(&path).map_err(|e| Error::io("reading", &path, e))?);
        let bytes = Zeroizing::new(
            B64.decode(text.trim_ascii())
                .map_err(|_| Error::DevMode("the local unseal file is not base64"))?,
        );
        let mut master = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(Error::DevMode("the local unseal file has the wrong length"));
        }
        master.copy_from_slice(&bytes);
        let unsealed = self.unsealed_from(&meta, &master)?;
        *write_lock(&self.state) = State::Unsealed(unsealed);
        Ok(())
    }

    /// Seals the store: every key in memory is wiped; pending shares are dropped.
    pub fn seal(&self) {
        *write_lock(&self.state) = State::Sealed {
            pending: Vec::new(),
        };
    }

    /// Deals a fresh set of shares of the same master key under a new quorum, given at least the
    /// current threshold of current shares. Keys stay as they are; the old shares stop matching
    /// once the new set is committed.
    pub fn reshare(&self, shares: &[CustodianShare], new: Quorum) -> Result<Vec<CustodianShare>> {
        let plan = self.prepare_reshare(shares, new)?;
        let fresh = plan.shares.clone();
        self.commit_reshare(plan)?;
        Ok(fresh)
    }

    /// The first half of a reshare: checks the current shares and deals the new set without
    /// changing anything, so the caller can hand the new shares out (write the custodians'
    /// files) before [`SoftwareKeyStore::commit_reshare`] makes them the only valid ones.
    pub fn prepare_reshare(&self, shares: &[CustodianShare], new: Quorum) -> Result<ResharePlan> {
        let new = new.validate(Mode::Production)?;
        let meta = read_lock(&self.meta);
        if meta.mode != Mode::Production {
            return Err(Error::DevMode("a dev keystore has no custodian shares"));
        }
        let mut seen = Vec::new();
        for s in shares {
            Self::check_share(&meta, s)?;
            if seen.contains(&s.index()) {
                return Err(Error::DuplicateShare { index: s.index() });
            }
            seen.push(s.index());
        }
        if shares.len() < usize::from(meta.quorum.threshold) {
            return Err(Error::Sealed {
                provided: shares.len(),
                threshold: usize::from(meta.quorum.threshold),
            });
        }
        let master = quorum::combine(shares, meta.quorum.threshold)?;
        self.unsealed_from(&meta, &master)?;
        let fresh = quorum::deal(&master, meta.id, new);
        Ok(ResharePlan {
            keystore: meta.id,
            previous: meta.commitments.clone(),
            quorum: new,
            commitments: fresh.iter().map(|s| hex::encode(s.commitment())).collect(),
            shares: fresh,
        })
    }

    /// The second half of a reshare: the new commitments replace the old ones (atomically on
    /// disk); from now on only the new shares unseal.
    pub fn commit_reshare(&self, plan: ResharePlan) -> Result<()> {
        let _writes = self
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut meta = write_lock(&self.meta);
        if plan.keystore != meta.id || plan.previous != meta.commitments {
            return Err(Error::InvalidInput(
                "the keystore's shares changed since this reshare was prepared".into(),
            ));
        }
        let mut updated = StoreMeta {
            format: meta.format,
            id: meta.id,
            mode: meta.mode,
            quorum: plan.quorum,
            commitments: plan.commitments,
            check: meta.check.clone(),
            created: meta.created,
        };
        write_meta(&self.dir, &updated)?;
        std::mem::swap(&mut *meta, &mut updated);
        self.record(
            "reshared",
            None,
            &format!("{}-of-{}", plan.quorum.threshold, plan.quorum.custodians),
        )
    }

    fn key_path(&self, id: KeyId) -> PathBuf {
        self.dir.join(KEYS_DIR).join(format!("{id}.key"))
    }

    fn aad(&self, attrs: &KeyAttrs) -> Result<Vec<u8>> {
        let mut aad = KEY_AAD_CONTEXT.to_vec();
        aad.extend_from_slice(self.id().as_bytes());
        aad.extend_from_slice(
            &serde_json::to_vec(attrs).map_err(|_| Error::Crypto("encoding key attributes"))?,
        );
        Ok(aad)
    }

    /// Runs `f` with the unsealed state, or says the store is sealed.
    fn with_unsealed<T>(&self, f: impl FnOnce(&Unsealed) -> Result<T>) -> Result<T> {
        match &*read_lock(&self.state) {
            State::Unsealed(u) => f(u),
            State::Sealed { pending } => Err(Error::Sealed {
                provided: pending.len(),
                threshold: usize::from(self.quorum().threshold),
            }),
        }
    }

    /// Reads and authenticates a key file, returning its attributes and material.
    fn read_key_file(&self, u: &Unsealed, id: KeyId) -> Result<(KeyAttrs, Zeroizing<Vec<u8>>)> {
        let path = self.key_path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::UnknownKey(id));
            }
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        let corrupt = |reason| Error::CorruptKeyFile {
            path: path.clone(),
            reason,
        };
        let file: KeyFile =
            serde_json::from_slice(&bytes).map_err(|_| corrupt("not a key file"))?;
        if file.attrs.id != id {
            return Err(corrupt("the file holds another key's id"));
        }
        let mut sealed = B64
            .decode(&file.nonce)
            .map_err(|_| corrupt("bad nonce encoding"))?;
        sealed.extend(
            B64.decode(&file.sealed)
                .map_err(|_| corrupt("bad ciphertext encoding"))?,
        );
        let aad = self.aad(&file.attrs)?;
        let material = open_with(u.kek.get(), &aad, &sealed).ok_or_else(|| {
            corrupt("authentication failed (edited, swapped or from another keystore)")
        })?;
        Ok((file.attrs, material))
    }

    fn write_key_file(
        &self,
        u: &Unsealed,
        attrs: &KeyAttrs,
        material: &[u8],
        new: bool,
    ) -> Result<()> {
        let aad = self.aad(attrs)?;
        let sealed = seal_with(&self.rng, u.kek.get(), &aad, material)?;
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let file = KeyFile {
            attrs: attrs.clone(),
            nonce: B64.encode(nonce),
            sealed: B64.encode(body),
        };
        let path = self.key_path(attrs.id);
        if new && path.exists() {
            return Err(Error::InvalidInput(format!(
                "key {} already exists",
                attrs.id
            )));
        }
        let json =
            serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("encoding key file"))?;
        durable::write_atomic(&path, &json)
    }

    /// The loaded key for `id`, from the cache or decrypted from disk.
    fn loaded(&self, u: &Unsealed, id: KeyId) -> Result<Arc<LoadedKey>> {
        if let Some(k) = read_lock(&u.cache).get(&id) {
            return Ok(Arc::clone(k));
        }
        let (attrs, material) = self.read_key_file(u, id)?;
        let key = Arc::new(load(&attrs, &material, &self.rng, &self.key_path(id))?);
        write_lock(&u.cache).insert(id, Arc::clone(&key));
        Ok(key)
    }

    /// A loaded key checked for the operation: kind/usage and lifecycle state.
    fn usable(&self, u: &Unsealed, handle: &KeyHandle, op: Operation) -> Result<Arc<LoadedKey>> {
        let key = self.loaded(u, handle.id())?;
        let info = &key.info;
        if let Some(usage) = op.needs()
            && info.kind.usage() != usage
        {
            return Err(Error::WrongKeyUsage {
                id: info.id,
                kind: info.kind,
                operation: op,
            });
        }
        if !info.state.allows(op) {
            return Err(Error::KeyNotUsable {
                id: info.id,
                state: info.state,
                operation: op,
            });
        }
        Ok(key)
    }

    fn record(&self, event: &str, info: Option<&KeyInfo>, detail: &str) -> Result<()> {
        let line = serde_json::json!({
            "time": now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "event": event,
            "key": info.map(|i| i.id),
            "label": info.map(|i| i.label.as_str()),
            "kind": info.map(|i| i.kind),
            "version": info.map(|i| i.version),
            "detail": detail,
        });
        durable::append_line(&self.dir.join(EVENTS_FILE), &line.to_string())
    }

    fn all_attrs(&self, u: &Unsealed) -> Result<Vec<KeyAttrs>> {
        let dir = self.dir.join(KEYS_DIR);
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|n| n.parse::<KeyId>().ok())
            else {
                continue; // temp files of an interrupted write, or foreign files
            };
            let (attrs, _material) = self.read_key_file(u, id)?;
            out.push(attrs);
        }
        out.sort_by(|a, b| (&a.label, a.version, a.id).cmp(&(&b.label, b.version, b.id)));
        Ok(out)
    }
}

fn now() -> OffsetDateTime {
    // Second precision keeps the encoded attributes short and stable.
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

fn random_key(rng: &SystemRandom) -> Result<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    rng.fill(k.as_mut_slice())
        .map_err(|_| Error::Crypto("random key"))?;
    Ok(k)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("restricting", dir, e))?;
    }
    Ok(())
}

fn write_meta(dir: &Path, meta: &StoreMeta) -> Result<()> {
    let json =
        serde_json::to_vec_pretty(meta).map_err(|_| Error::Crypto("encoding keystore metadata"))?;
    durable::write_atomic(&dir.join(META_FILE), &json)
}

/// The quorum of custodians unseals it ([`SoftwareKeyStore::submit_share`]).
impl crate::Sealable for SoftwareKeyStore {
    fn is_sealed(&self) -> bool {
        SoftwareKeyStore::is_sealed(self)
    }

    fn progress(&self) -> UnsealProgress {
        SoftwareKeyStore::progress(self)
    }

    fn submit_share(&self, share: CustodianShare) -> Result<UnsealProgress> {
        SoftwareKeyStore::submit_share(self, share)
    }
}

pub(crate) fn validate_label(label: &str) -> Result<()> {
    if label.is_empty()
        || label.len() > 128
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        return Err(Error::InvalidInput(format!(
            "key label {label:?} must be 1-128 characters of A-Z a-z 0-9 - _ . : /"
        )));
    }
    Ok(())
}
