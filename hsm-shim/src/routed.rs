//! One key store over two backends: signing keys on a PKCS#11 token, the rest in the sealed
//! software keystore.
//!
//! Which keys go where, and why:
//! - **On the token**: every signing key (Ed25519, ECDSA P-256 and P-384): officials' and
//!   applications' signing keys, a node's audit key, a CA's keys. They are generated there as
//!   sensitive and never extractable, and every signature is made by the token.
//! - **In the software keystore**: X25519 agreement keys (archive keys, officials' encryption
//!   keys; age needs X25519, and SoftHSM2, like many HSMs, has no X25519 derive mechanism) and
//!   AES-256 wrapping keys (the node's MAC key-encryption key; sandi wraps with AES-256-GCM and
//!   a random nonce, which PKCS#11 tokens do not offer as a wrapping mechanism in a portable
//!   way). The software keystore stays sealed under the custodians' quorum, as without a
//!   token.
//!
//! A new key goes by its kind ([`RoutedKeyStore::on_token`]); an existing key goes by its id,
//! to whichever backend holds it, so keys made before a token was configured keep working from
//! the software keystore.
//!
//! The store is one unit to its user: it is sealed while the software keystore is sealed, and
//! while sealed it refuses every operation, the token's keys included. The token opens with
//! its PIN; the custodians' quorum still decides when the node may use any key.

use std::sync::Arc;

use crate::key::{
    KeyHandle, KeyId, KeyInfo, KeyKind, KeyState, SecretBytes, SharedSecret, Signature,
};
use crate::{
    CustodianShare, Error, KeyStore, Pkcs11KeyStore, Result, Sealable, SoftwareKeyStore,
    UnsealProgress,
};

/// Signing keys on a token, agreement and wrapping keys in the software keystore.
pub struct RoutedKeyStore {
    software: Arc<SoftwareKeyStore>,
    token: Arc<Pkcs11KeyStore>,
}

impl std::fmt::Debug for RoutedKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedKeyStore")
            .field("token", &self.token)
            .field("software", &self.software.dir())
            .finish()
    }
}

impl RoutedKeyStore {
    pub fn new(software: Arc<SoftwareKeyStore>, token: Arc<Pkcs11KeyStore>) -> Self {
        RoutedKeyStore { software, token }
    }

    /// Whether a new key of `kind` is generated on the token (signing keys) rather than in
    /// the software keystore (X25519, AES wrapping).
    pub fn on_token(kind: KeyKind) -> bool {
        match kind {
            KeyKind::Ed25519 | KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => true,
            KeyKind::X25519 | KeyKind::Aes256Wrap => false,
        }
    }

    pub fn software(&self) -> &Arc<SoftwareKeyStore> {
        &self.software
    }

    pub fn token(&self) -> &Arc<Pkcs11KeyStore> {
        &self.token
    }

    /// Seals the software half, and with it the whole store.
    pub fn seal(&self) {
        self.software.seal();
    }

    /// Every operation waits for the custodians.
    fn open(&self) -> Result<()> {
        let p = self.software.progress();
        if p.unsealed {
            Ok(())
        } else {
            Err(Error::Sealed {
                provided: p.provided,
                threshold: p.threshold,
            })
        }
    }

    /// The backend holding key `id`.
    fn holder(&self, id: KeyId) -> Result<&dyn KeyStore> {
        self.open()?;
        match self.token.info(id) {
            Ok(_) => Ok(self.token.as_ref()),
            Err(Error::UnknownKey(_)) => Ok(self.software.as_ref()),
            Err(e) => Err(e),
        }
    }
}

impl KeyStore for RoutedKeyStore {
    fn backend(&self) -> &'static str {
        "PKCS#11 + software"
    }

    fn generate(&self, kind: KeyKind, label: &str) -> Result<KeyHandle> {
        self.open()?;
        if Self::on_token(kind) {
            self.token.generate(kind, label)
        } else {
            self.software.generate(kind, label)
        }
    }

    fn list(&self) -> Result<Vec<KeyInfo>> {
        self.open()?;
        let mut all = self.token.list()?;
        all.extend(self.software.list()?);
        all.sort_by(|a, b| (&a.label, a.version, a.id).cmp(&(&b.label, b.version, b.id)));
        Ok(all)
    }

    fn info(&self, id: KeyId) -> Result<KeyInfo> {
        self.holder(id)?.info(id)
    }

    fn public_key(&self, key: &KeyHandle) -> Result<Vec<u8>> {
        self.holder(key.id())?.public_key(key)
    }

    fn sign(&self, key: &KeyHandle, message: &[u8]) -> Result<Signature> {
        self.holder(key.id())?.sign(key, message)
    }

    fn agree(&self, key: &KeyHandle, peer_public: &[u8; 32]) -> Result<SharedSecret> {
        self.holder(key.id())?.agree(key, peer_public)
    }

    fn wrap(&self, key: &KeyHandle, secret: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>> {
        self.holder(key.id())?.wrap(key, secret, aad)
    }

    fn unwrap(&self, key: &KeyHandle, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        self.holder(key.id())?.unwrap(key, wrapped, aad)
    }

    fn set_state(&self, key: &KeyHandle, state: KeyState) -> Result<()> {
        self.holder(key.id())?.set_state(key, state)
    }

    fn destroy(&self, key: &KeyHandle) -> Result<()> {
        self.holder(key.id())?.destroy(key)
    }
}

/// Sealed exactly when the software keystore is; shares go to it.
impl Sealable for RoutedKeyStore {
    fn is_sealed(&self) -> bool {
        self.software.is_sealed()
    }

    fn progress(&self) -> UnsealProgress {
        self.software.progress()
    }

    fn submit_share(&self, share: CustodianShare) -> Result<UnsealProgress> {
        self.software.submit_share(share)
    }
}
