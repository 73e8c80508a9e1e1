//! rcgen signs through hsm-shim: a key handle presented as rcgen's `SigningKey`.

use std::sync::Arc;

use hsm_shim::{KeyHandle, KeyKind, KeyStore, raw_from_spki};

use crate::{Error, Result};

/// A key in a key store, usable by rcgen to sign certificates and CRLs.
pub struct HsmSigner<'a> {
    store: Keys<'a>,
    handle: KeyHandle,
    raw_public: Vec<u8>,
    spki: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl std::fmt::Debug for HsmSigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSigner")
            .field("key", &self.handle.id())
            .finish_non_exhaustive()
    }
}

pub(crate) fn rcgen_algorithm(kind: KeyKind) -> Result<&'static rcgen::SignatureAlgorithm> {
    match kind {
        KeyKind::Ed25519 => Ok(&rcgen::PKCS_ED25519),
        KeyKind::EcdsaP256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyKind::EcdsaP384 => Ok(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyKind::X25519 | KeyKind::Aes256Wrap => Err(Error::InvalidInput(format!(
            "a {kind} key cannot sign certificates"
        ))),
    }
}

/// Where issuance signs: in place with a borrowed keystore (a CLI command, a ceremony), or on
/// the signing threads with a shared one (a long-running service, see [`crate::sign_pool`]).
#[derive(Clone)]
pub enum Keys<'a> {
    Borrowed(&'a dyn KeyStore),
    Shared(Arc<dyn KeyStore>),
}

impl Keys<'_> {
    pub fn store(&self) -> &dyn KeyStore {
        match self {
            Keys::Borrowed(s) => *s,
            Keys::Shared(s) => s.as_ref(),
        }
    }
}

impl<'a, S: KeyStore> From<&'a S> for Keys<'a> {
    fn from(store: &'a S) -> Self {
        Keys::Borrowed(store)
    }
}

impl<'a> From<&'a dyn KeyStore> for Keys<'a> {
    fn from(store: &'a dyn KeyStore) -> Self {
        Keys::Borrowed(store)
    }
}

impl From<Arc<dyn KeyStore>> for Keys<'static> {
    fn from(store: Arc<dyn KeyStore>) -> Self {
        Keys::Shared(store)
    }
}

impl std::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self {
            Keys::Borrowed(_) => "Borrowed",
            Keys::Shared(_) => "Shared",
        };
        f.debug_tuple(how).field(&self.store().backend()).finish()
    }
}

impl<'a> HsmSigner<'a> {
    pub fn new(store: &'a dyn KeyStore, handle: KeyHandle) -> Result<Self> {
        Self::of(Keys::Borrowed(store), handle)
    }

    /// A signer of the keystore `store` names, owned when it is shared (it can then move to
    /// a signing thread).
    pub fn of(store: Keys<'a>, handle: KeyHandle) -> Result<Self> {
        let algorithm = rcgen_algorithm(handle.kind())?;
        let spki = store.store().public_key(&handle)?;
        let raw_public = raw_from_spki(handle.kind(), &spki)?.to_vec();
        Ok(HsmSigner {
            store,
            handle,
            raw_public,
            spki,
            algorithm,
        })
    }

    pub fn spki(&self) -> &[u8] {
        &self.spki
    }
}

impl rcgen::PublicKeyData for HsmSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.raw_public
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

impl rcgen::SigningKey for HsmSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.store
            .store()
            .sign(&self.handle, msg)
            .map(|s| s.bytes)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
