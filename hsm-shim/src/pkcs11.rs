//! The PKCS#11 backend: keys live on a token (a real HSM or SoftHSM2) as sensitive,
//! non-extractable objects; hsm-shim keeps only object handles and a metadata object per key.
//!
//! Supported on the token: Ed25519, ECDSA P-256 and P-384 signing keys. X25519 agreement and
//! AES key wrapping return [`Error::Unsupported`]: SoftHSM2 has no X25519 derive mechanism, and
//! sandi keeps its wrapping keys in the software keystore.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::key::{
    KeyHandle, KeyId, KeyInfo, KeyKind, KeyState, Operation, SecretBytes, SharedSecret, Signature,
    spki_from_raw,
};
use crate::software::validate_label;
use crate::{Error, KeyStore, Result};

const BACKEND: &str = "PKCS#11";
const APPLICATION: &[u8] = b"sandi-hsm-shim";
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// Where the token is and how to log in to it.
pub struct Pkcs11Config {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of an initialised token.
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"[redacted]")
            .finish()
    }
}

/// Per-key attributes that PKCS#11 has no place for, kept on the token in a data object.
#[derive(Clone, Serialize, Deserialize)]
struct Meta {
    label: String,
    kind: KeyKind,
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    state: KeyState,
    /// Bumped on every change: data object values cannot be modified on every token, so a
    /// change writes a new object before removing the old, and the highest wins after a crash.
    #[serde(default)]
    seq: u64,
}

struct Entry {
    info: KeyInfo,
    seq: u64,
    private: ObjectHandle,
    public: ObjectHandle,
    meta: ObjectHandle,
}

struct Inner {
    session: Session,
    keys: HashMap<KeyId, Entry>,
}

/// A key store on a PKCS#11 token.
///
/// PKCS#11 login state belongs to the whole process: open one store per token per process and
/// share it (it is `Sync`), since closing the last session logs every session out.
pub struct Pkcs11KeyStore {
    token_label: String,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Pkcs11KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11KeyStore")
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

fn ck(context: &'static str) -> impl Fn(CkError) -> Error {
    move |e| match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid, _) => {
            Error::WrongPin
        }
        other => Error::Pkcs11(format!("{context}: {other}")),
    }
}

/// One initialised PKCS#11 context per module per process: C_Initialize may run only once.
fn context(module: &Path) -> Result<Pkcs11> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut map = CONTEXTS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(ctx) = map.get(module) {
        return Ok(ctx.clone());
    }
    if !module.exists() {
        return Err(Error::Pkcs11(format!(
            "PKCS#11 module {} not found (install softhsm2 or your HSM's module)",
            module.display()
        )));
    }
    let ctx = Pkcs11::new(module).map_err(ck("loading the module"))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(ck("initialising the module"))?;
    map.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot> {
    for slot in ctx
        .get_slots_with_initialized_token()
        .map_err(ck("listing slots"))?
    {
        let info = ctx.get_token_info(slot).map_err(ck("reading token info"))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(Error::Pkcs11(format!(
        "no initialised token labelled {label:?}"
    )))
}

impl Pkcs11KeyStore {
    /// Initialises a token in the first free slot (a provisioning step for new HSMs and for
    /// SoftHSM2 in tests): sets the security officer PIN, the label and the user PIN.
    pub fn init_token(module: &Path, label: &str, so_pin: &str, user_pin: &str) -> Result<()> {
        let ctx = context(module)?;
        let slot = ctx
            .get_all_slots()
            .map_err(ck("listing slots"))?
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|t| !t.token_initialized()))
            .ok_or_else(|| Error::Pkcs11("no free slot to initialise a token in".into()))?;
        let so = AuthPin::new(so_pin.into());
        ctx.init_token(slot, &so, label)
            .map_err(ck("initialising the token"))?;
        let slot = find_slot(&ctx, label)?;
        let session = ctx.open_rw_session(slot).map_err(ck("opening a session"))?;
        session
            .login(UserType::So, Some(&so))
            .map_err(ck("logging in as security officer"))?;
        session
            .init_pin(&AuthPin::new(user_pin.into()))
            .map_err(ck("setting the user PIN"))?;
        Ok(())
    }

    /// Opens the token and logs in as the user.
    pub fn open(config: &Pkcs11Config) -> Result<Self> {
        let ctx = context(&config.module)?;
        let slot = find_slot(&ctx, &config.token_label)?;
        let session = ctx.open_rw_session(slot).map_err(ck("opening a session"))?;
        match session.login(
            UserType::User,
            Some(&AuthPin::new(config.pin.as_str().into())),
        ) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("logging in")(e)),
        }
        let mut inner = Inner {
            session,
            keys: HashMap::new(),
        };
        load_all(&mut inner)?;
        Ok(Pkcs11KeyStore {
            token_label: config.token_label.clone(),
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn attr_bytes(session: &Session, obj: ObjectHandle, ty: AttributeType) -> Result<Vec<u8>> {
    let attrs = session
        .get_attributes(obj, &[ty])
        .map_err(ck("reading an attribute"))?;
    for a in attrs {
        match a {
            Attribute::Id(v)
            | Attribute::Value(v)
            | Attribute::EcPoint(v)
            | Attribute::Label(v)
            | Attribute::Application(v) => return Ok(v),
            _ => {}
        }
    }
    Err(Error::Pkcs11(format!("object has no {ty} attribute")))
}

fn find_one(session: &Session, template: &[Attribute]) -> Result<Option<ObjectHandle>> {
    Ok(session
        .find_objects(template)
        .map_err(ck("finding objects"))?
        .into_iter()
        .next())
}

/// Reads every sandi key on the token into the handle cache.
fn load_all(inner: &mut Inner) -> Result<()> {
    let session = &inner.session;
    let metas = session
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(APPLICATION.to_vec()),
        ])
        .map_err(ck("finding key metadata"))?;
    for meta_obj in metas {
        let id_text = String::from_utf8(attr_bytes(session, meta_obj, AttributeType::Label)?)
            .map_err(|_| Error::Pkcs11("metadata object label is not UTF-8".into()))?;
        let Ok(id) = id_text.parse::<KeyId>() else {
            continue;
        };
        let meta: Meta =
            serde_json::from_slice(&attr_bytes(session, meta_obj, AttributeType::Value)?)
                .map_err(|e| Error::Pkcs11(format!("metadata of key {id} is invalid: {e}")))?;
        if inner.keys.get(&id).is_some_and(|e| e.seq >= meta.seq) {
            continue; // a stale copy left by an interrupted update
        }
        if meta.state == KeyState::Destroyed {
            inner.keys.remove(&id);
            continue;
        }
        let id_bytes = id.0.as_bytes().to_vec();
        let private = find_one(
            session,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id_bytes.clone()),
            ],
        )?;
        let public = find_one(
            session,
            &[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id_bytes),
            ],
        )?;
        let (Some(private), Some(public)) = (private, public) else {
            continue; // metadata of an interrupted generation: no key to use
        };
        inner.keys.insert(
            id,
            Entry {
                info: info_of(id, &meta),
                seq: meta.seq,
                private,
                public,
                meta: meta_obj,
            },
        );
    }
    Ok(())
}

fn info_of(id: KeyId, m: &Meta) -> KeyInfo {
    KeyInfo {
        id,
        label: m.label.clone(),
        kind: m.kind,
        version: m.version,
        usage: m.kind.usage(),
        created: m.created,
        state: m.state,
    }
}

fn meta_of(info: &KeyInfo, seq: u64) -> Meta {
    Meta {
        label: info.label.clone(),
        kind: info.kind,
        version: info.version,
        created: info.created,
        state: info.state,
        seq,
    }
}

fn create_meta(session: &Session, info: &KeyInfo, seq: u64) -> Result<ObjectHandle> {
    let json = serde_json::to_vec(&meta_of(info, seq))
        .map_err(|_| Error::Crypto("encoding key metadata"))?;
    session
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Application(APPLICATION.to_vec()),
            Attribute::Label(info.id.to_string().into_bytes()),
            Attribute::Value(json),
        ])
        .map_err(ck("storing key metadata"))
}

/// Writes the new metadata object, then removes the old one.
fn replace_meta(session: &Session, e: &mut Entry, info: KeyInfo) -> Result<()> {
    let seq = e.seq + 1;
    let new = create_meta(session, &info, seq)?;
    session
        .destroy_object(e.meta)
        .map_err(ck("removing old key metadata"))?;
    e.meta = new;
    e.seq = seq;
    e.info = info;
    Ok(())
}

impl Inner {
    fn entry(&self, key: &KeyHandle, op: Operation) -> Result<&Entry> {
        let e = self
            .keys
            .get(&key.id())
            .ok_or(Error::UnknownKey(key.id()))?;
        if let Some(usage) = op.needs()
            && e.info.kind.usage() != usage
        {
            return Err(Error::WrongKeyUsage {
                id: e.info.id,
                kind: e.info.kind,
                operation: op,
            });
        }
        if !e.info.state.allows(op) {
            return Err(Error::KeyNotUsable {
                id: e.info.id,
                state: e.info.state,
                operation: op,
            });
        }
        Ok(e)
    }
}

/// Turns PKCS#11's raw `r || s` ECDSA signature into the DER form X.509 and CMS use.
fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return Err(Error::Pkcs11(
            "the token returned a malformed ECDSA signature".into(),
        ));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let int = |v: &[u8]| {
        let v = &v[v.iter().take_while(|b| **b == 0).count().min(v.len() - 1)..];
        let mut out = vec![0x02];
        let pad = v[0] & 0x80 != 0;
        out.push(u8::try_from(v.len() + usize::from(pad)).unwrap_or(0));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = (int(r), int(s));
    let body_len = r.len() + s.len();
    let mut out = vec![0x30];
    if body_len >= 0x80 {
        out.push(0x81);
    }
    out.push(u8::try_from(body_len).map_err(|_| Error::Crypto("ECDSA signature length"))?);
    out.extend(r);
    out.extend(s);
    Ok(out)
}

/// CKA_EC_POINT is a DER OCTET STRING around the point on conforming tokens, bare on others.
fn unwrap_ec_point(v: &[u8], len: usize) -> Option<&[u8]> {
    if v.len() == len + 2 && v[0] == 0x04 && usize::from(v[1]) == len {
        Some(&v[2..])
    } else if v.len() == len + 3 && v[0] == 0x04 && v[1] == 0x81 && usize::from(v[2]) == len {
        Some(&v[3..])
    } else if v.len() == len {
        Some(v)
    } else {
        None
    }
}

/// A token is open once it is logged in with its PIN (at [`Pkcs11KeyStore::open`]): never
/// sealed, and custodians' shares do not apply to it.
impl crate::Sealable for Pkcs11KeyStore {
    fn is_sealed(&self) -> bool {
        false
    }

    fn progress(&self) -> crate::UnsealProgress {
        crate::UnsealProgress {
            provided: 0,
            threshold: 0,
            unsealed: true,
        }
    }

    fn submit_share(&self, _share: crate::CustodianShare) -> Result<crate::UnsealProgress> {
        Err(Error::Unsupported {
            backend: BACKEND,
            what: "custodians' shares (a token opens with its PIN)".into(),
        })
    }
}

impl KeyStore for Pkcs11KeyStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn generate(&self, kind: KeyKind, label: &str) -> Result<KeyHandle> {
        validate_label(label)?;
        let (mechanism, params) = match kind {
            KeyKind::EcdsaP256 => (Mechanism::EccKeyPairGen, OID_P256),
            KeyKind::EcdsaP384 => (Mechanism::EccKeyPairGen, OID_P384),
            KeyKind::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, OID_ED25519),
            KeyKind::X25519 | KeyKind::Aes256Wrap => {
                return Err(Error::Unsupported {
                    backend: BACKEND,
                    what: format!("{kind} keys"),
                });
            }
        };
        let mut inner = self.lock();
        let version = inner
            .keys
            .values()
            .filter(|e| e.info.label == label)
            .map(|e| e.info.version)
            .max()
            .unwrap_or(0)
            + 1;
        let id = KeyId::random();
        let id_bytes = id.0.as_bytes().to_vec();
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Id(id_bytes.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(id_bytes),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let (public, private) = inner
            .session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(ck("generating a key pair"))?;
        let info = KeyInfo {
            id,
            label: label.to_owned(),
            kind,
            version,
            usage: kind.usage(),
            created: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
            state: KeyState::Active,
        };
        let meta = match create_meta(&inner.session, &info, 0) {
            Ok(m) => m,
            Err(e) => {
                // Leave no key without metadata behind.
                let _ = inner.session.destroy_object(private);
                let _ = inner.session.destroy_object(public);
                return Err(e);
            }
        };
        inner.keys.insert(
            id,
            Entry {
                info,
                seq: 0,
                private,
                public,
                meta,
            },
        );
        Ok(KeyHandle::new(id, kind))
    }

    fn list(&self) -> Result<Vec<KeyInfo>> {
        let inner = self.lock();
        let mut out: Vec<KeyInfo> = inner.keys.values().map(|e| e.info.clone()).collect();
        out.sort_by(|a, b| (&a.label, a.version, a.id).cmp(&(&b.label, b.version, b.id)));
        Ok(out)
    }

    fn info(&self, id: KeyId) -> Result<KeyInfo> {
        self.lock()
            .keys
            .get(&id)
            .map(|e| e.info.clone())
            .ok_or(Error::UnknownKey(id))
    }

    fn public_key(&self, key: &KeyHandle) -> Result<Vec<u8>> {
        let inner = self.lock();
        let e = inner.entry(key, Operation::ExportPublic)?;
        let point = attr_bytes(&inner.session, e.public, AttributeType::EcPoint)?;
        let len = match e.info.kind {
            KeyKind::EcdsaP256 => 65,
            KeyKind::EcdsaP384 => 97,
            _ => 32,
        };
        let raw = unwrap_ec_point(&point, len)
            .ok_or_else(|| Error::Pkcs11("the token returned a malformed public key".into()))?;
        spki_from_raw(e.info.kind, raw)
    }

    fn sign(&self, key: &KeyHandle, message: &[u8]) -> Result<Signature> {
        let inner = self.lock();
        let e = inner.entry(key, Operation::Sign)?;
        let algorithm = e
            .info
            .kind
            .signature_algorithm()
            .ok_or(Error::Crypto("signing key without an algorithm"))?;
        let bytes = match e.info.kind {
            KeyKind::Ed25519 => inner
                .session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    e.private,
                    message,
                )
                .map_err(ck("signing"))?,
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                let alg = if e.info.kind == KeyKind::EcdsaP256 {
                    &ring::digest::SHA256
                } else {
                    &ring::digest::SHA384
                };
                let digest = ring::digest::digest(alg, message);
                let raw = inner
                    .session
                    .sign(&Mechanism::Ecdsa, e.private, digest.as_ref())
                    .map_err(ck("signing"))?;
                ecdsa_raw_to_der(&raw)?
            }
            KeyKind::X25519 | KeyKind::Aes256Wrap => {
                return Err(Error::Crypto("usage check let a non-signing key through"));
            }
        };
        Ok(Signature { algorithm, bytes })
    }

    fn agree(&self, key: &KeyHandle, _peer_public: &[u8; 32]) -> Result<SharedSecret> {
        self.lock().entry(key, Operation::Agree)?;
        Err(Error::Unsupported {
            backend: BACKEND,
            what: "X25519 key agreement".into(),
        })
    }

    fn wrap(&self, key: &KeyHandle, _secret: &SecretBytes, _aad: &[u8]) -> Result<Vec<u8>> {
        self.lock().entry(key, Operation::Wrap)?;
        Err(Error::Unsupported {
            backend: BACKEND,
            what: "key wrapping".into(),
        })
    }

    fn unwrap(&self, key: &KeyHandle, _wrapped: &[u8], _aad: &[u8]) -> Result<SecretBytes> {
        self.lock().entry(key, Operation::Unwrap)?;
        Err(Error::Unsupported {
            backend: BACKEND,
            what: "key unwrapping".into(),
        })
    }

    fn set_state(&self, key: &KeyHandle, state: KeyState) -> Result<()> {
        if state == KeyState::Destroyed {
            return Err(Error::InvalidInput("use destroy to destroy a key".into()));
        }
        let mut inner = self.lock();
        let Inner { session, keys } = &mut *inner;
        let e = keys.get_mut(&key.id()).ok_or(Error::UnknownKey(key.id()))?;
        let mut info = e.info.clone();
        info.state = state;
        replace_meta(session, e, info)
    }

    fn destroy(&self, key: &KeyHandle) -> Result<()> {
        let mut inner = self.lock();
        let Inner { session, keys } = &mut *inner;
        let e = keys.get_mut(&key.id()).ok_or(Error::UnknownKey(key.id()))?;
        session
            .destroy_object(e.private)
            .map_err(ck("destroying the private key"))?;
        session
            .destroy_object(e.public)
            .map_err(ck("destroying the public key"))?;
        // The metadata stays, marked destroyed: the token's own record of the event.
        let mut info = e.info.clone();
        info.state = KeyState::Destroyed;
        let recorded = replace_meta(session, e, info);
        keys.remove(&key.id());
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_becomes_der_that_ring_accepts_shape() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // high bit: needs a zero pad
        raw[32] = 0x00;
        raw[33] = 0x01; // leading zero: stripped
        let der = ecdsa_raw_to_der(&raw).expect("der");
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
        assert_eq!(&der[2..5], &[0x02, 33, 0x00]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
    }

    #[test]
    fn ec_point_forms() {
        let point = [4u8; 65];
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&wrapped, 65), Some(&point[..]));
        assert_eq!(unwrap_ec_point(&point, 65), Some(&point[..]));
        assert_eq!(unwrap_ec_point(&point[..10], 65), None);
    }
}
