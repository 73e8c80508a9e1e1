//! The [`KeyStore`] operations of the software keystore: generate, list, sign, agree, wrap and
//! unwrap, change a key's state, destroy it; each on the unsealed store, each recorded.

use zeroize::Zeroizing;

use super::material::{generate_material, open_with, seal_with};
use super::{KeyAttrs, Material, SoftwareKeyStore, now, validate_label, write_lock};
use crate::durable;
use crate::key::{
    KeyHandle, KeyId, KeyInfo, KeyKind, KeyState, Operation, SecretBytes, SharedSecret, Signature,
};
use crate::{Error, KeyStore, Result};

impl KeyStore for SoftwareKeyStore {
    fn backend(&self) -> &'static str {
        "software"
    }

    /// A signature holds the seal state's read lock only: signatures run side by side, and
    /// only sealing waits for them.
    fn signs_without_shared_lock(&self) -> bool {
        true
    }

    fn generate(&self, kind: KeyKind, label: &str) -> Result<KeyHandle> {
        validate_label(label)?;
        self.with_unsealed(|u| {
            let _writes = self
                .writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let version = self
                .all_attrs(u)?
                .iter()
                .filter(|a| a.label == label)
                .map(|a| a.version)
                .max()
                .unwrap_or(0)
                + 1;
            let attrs = KeyAttrs {
                id: KeyId::random(),
                label: label.to_owned(),
                kind,
                version,
                created: now(),
                state: KeyState::Active,
            };
            let material = generate_material(kind, &self.rng)?;
            self.write_key_file(u, &attrs, &material, true)?;
            self.record("generated", Some(&attrs.info()), "")?;
            Ok(KeyHandle::new(attrs.id, kind))
        })
    }

    fn list(&self) -> Result<Vec<KeyInfo>> {
        self.with_unsealed(|u| Ok(self.all_attrs(u)?.iter().map(KeyAttrs::info).collect()))
    }

    fn info(&self, id: KeyId) -> Result<KeyInfo> {
        self.with_unsealed(|u| Ok(self.loaded(u, id)?.info.clone()))
    }

    fn public_key(&self, key: &KeyHandle) -> Result<Vec<u8>> {
        self.with_unsealed(|u| {
            let k = self.usable(u, key, Operation::ExportPublic)?;
            if k.spki.is_empty() {
                return Err(Error::WrongKeyUsage {
                    id: k.info.id,
                    kind: k.info.kind,
                    operation: Operation::ExportPublic,
                });
            }
            Ok(k.spki.clone())
        })
    }

    fn sign(&self, key: &KeyHandle, message: &[u8]) -> Result<Signature> {
        self.with_unsealed(|u| {
            let k = self.usable(u, key, Operation::Sign)?;
            let algorithm = k
                .info
                .kind
                .signature_algorithm()
                .ok_or(Error::Crypto("signing key without an algorithm"))?;
            let bytes = match &k.material {
                Material::Ed25519(kp) => kp.get().sign(message).as_ref().to_vec(),
                Material::Ecdsa(kp) => kp
                    .get()
                    .sign(&self.rng, message)
                    .map_err(|_| Error::Crypto("ECDSA signing"))?
                    .as_ref()
                    .to_vec(),
                Material::X25519(_) | Material::Aes(_) => {
                    return Err(Error::Crypto("usage check let a non-signing key through"));
                }
            };
            Ok(Signature { algorithm, bytes })
        })
    }

    fn agree(&self, key: &KeyHandle, peer_public: &[u8; 32]) -> Result<SharedSecret> {
        self.with_unsealed(|u| {
            let k = self.usable(u, key, Operation::Agree)?;
            let Material::X25519(secret) = &k.material else {
                return Err(Error::Crypto("usage check let a non-agreement key through"));
            };
            let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*peer_public));
            if !shared.was_contributory() {
                return Err(Error::InvalidInput(
                    "the peer public key is a low-order point".into(),
                ));
            }
            Ok(SharedSecret(Zeroizing::new(shared.to_bytes())))
        })
    }

    fn wrap(&self, key: &KeyHandle, secret: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>> {
        self.with_unsealed(|u| {
            let k = self.usable(u, key, Operation::Wrap)?;
            let Material::Aes(aes) = &k.material else {
                return Err(Error::Crypto("usage check let a non-wrapping key through"));
            };
            seal_with(&self.rng, aes.get(), aad, secret.expose())
        })
    }

    fn unwrap(&self, key: &KeyHandle, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        self.with_unsealed(|u| {
            let k = self.usable(u, key, Operation::Unwrap)?;
            let Material::Aes(aes) = &k.material else {
                return Err(Error::Crypto("usage check let a non-wrapping key through"));
            };
            let mut pt = open_with(aes.get(), aad, wrapped).ok_or(Error::UnwrapFailed)?;
            Ok(SecretBytes::new(std::mem::take(&mut *pt)))
        })
    }

    fn set_state(&self, key: &KeyHandle, state: KeyState) -> Result<()> {
        if state == KeyState::Destroyed {
            return Err(Error::InvalidInput("use destroy to destroy a key".into()));
        }
        self.with_unsealed(|u| {
            let _writes = self
                .writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (mut attrs, material) = self.read_key_file(u, key.id())?;
            let from = attrs.state;
            attrs.state = state;
            self.write_key_file(u, &attrs, &material, false)?;
            write_lock(&u.cache).remove(&key.id());
            self.record("state", Some(&attrs.info()), &format!("{from} -> {state}"))
        })
    }

    fn destroy(&self, key: &KeyHandle) -> Result<()> {
        self.with_unsealed(|u| {
            let _writes = self
                .writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (attrs, _material) = self.read_key_file(u, key.id())?;
            // Drop the in-memory copy first (Wiped zeroes it), then wipe the file.
            write_lock(&u.cache).remove(&key.id());
            durable::wipe_and_remove(&self.key_path(key.id()))?;
            let mut info = attrs.info();
            info.state = KeyState::Destroyed;
            self.record("destroyed", Some(&info), "")
        })
    }
}
