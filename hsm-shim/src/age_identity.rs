//! age decryption with an X25519 key that stays in a key store: the store does the agreement,
//! this module does the rest of age's X25519 recipient unwrapping.

use std::sync::Arc;

use age::DecryptError;
use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::primitives::{aead_decrypt, hkdf};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroize;

use crate::key::{KeyHandle, KeyKind, raw_from_spki};
use crate::{Error, KeyStore, Result};

const X25519_TAG: &str = "X25519";
const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";

/// An [`age::Identity`] backed by an X25519 key handle.
pub struct HandleIdentity {
    store: Arc<dyn KeyStore>,
    handle: KeyHandle,
    public: [u8; 32],
}

impl std::fmt::Debug for HandleIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleIdentity")
            .field("key", &self.handle.id())
            .finish_non_exhaustive()
    }
}

impl HandleIdentity {
    pub fn new(store: Arc<dyn KeyStore>, handle: KeyHandle) -> Result<Self> {
        if handle.kind() != KeyKind::X25519 {
            return Err(Error::WrongKeyUsage {
                id: handle.id(),
                kind: handle.kind(),
                operation: crate::Operation::Agree,
            });
        }
        let spki = store.public_key(&handle)?;
        let public: [u8; 32] = raw_from_spki(KeyKind::X25519, &spki)?
            .try_into()
            .map_err(|_| Error::Crypto("X25519 public key length"))?;
        Ok(HandleIdentity {
            store,
            handle,
            public,
        })
    }

    /// The matching age recipient.
    pub fn recipient(&self) -> Result<age::x25519::Recipient> {
        recipient_from_raw(&self.public)
    }
}

/// The age recipient (`age1…`) for an X25519 key in a store.
pub fn age_recipient(store: &dyn KeyStore, handle: &KeyHandle) -> Result<age::x25519::Recipient> {
    let spki = store.public_key(handle)?;
    recipient_from_raw(raw_from_spki(KeyKind::X25519, &spki)?)
}

fn recipient_from_raw(raw: &[u8]) -> Result<age::x25519::Recipient> {
    let hrp = bech32::Hrp::parse("age").map_err(|_| Error::Crypto("bech32 prefix"))?;
    let text =
        bech32::encode::<bech32::Bech32>(hrp, raw).map_err(|_| Error::Crypto("bech32 encoding"))?;
    text.parse()
        .map_err(|_| Error::Crypto("age recipient encoding"))
}

impl age::Identity for HandleIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != X25519_TAG {
            return None;
        }
        let [arg] = &stanza.args[..] else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let Some(epk) = STANDARD_NO_PAD
            .decode(arg)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        if stanza.body.len() != FILE_KEY_BYTES + 16 {
            return Some(Err(DecryptError::InvalidHeader));
        }
        // A store failure (sealed, low-order point, destroyed key) cannot unwrap this stanza;
        // age's error type has no room for our reason, so the stanza is reported as not ours.
        let shared = match self.store.agree(&self.handle, &epk) {
            Ok(s) => s,
            Err(Error::InvalidInput(_)) => return Some(Err(DecryptError::InvalidHeader)),
            Err(_) => return None,
        };
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&epk);
        salt[32..].copy_from_slice(&self.public);
        let mut enc_key = hkdf(&salt, X25519_LABEL, shared.expose());
        let result = aead_decrypt(&enc_key, FILE_KEY_BYTES, &stanza.body)
            .ok()
            .map(|mut pt| {
                let fk = FileKey::init_with_mut(|k| k.copy_from_slice(&pt));
                pt.zeroize();
                Ok(fk)
            });
        enc_key.zeroize();
        result
    }
}
