//! hsm-shim keeps sandi's private keys. Callers hold opaque [`KeyHandle`]s and ask a
//! [`KeyStore`] to sign, agree, wrap or unwrap; private key bytes never leave the store.
//!
//! Two backends implement the same trait:
//! - [`SoftwareKeyStore`]: a directory keystore, every key encrypted at rest under a master key
//!   split M-of-N among key custodians; it starts sealed.
//! - [`Pkcs11KeyStore`]: a PKCS#11 token (a real HSM or SoftHSM2); keys are generated on the
//!   token as non-extractable.
//!
//! [`RoutedKeyStore`] puts the two together for a service whose signing keys live on a token:
//! signing keys on the token, X25519 agreement and AES wrapping keys (which tokens such as
//! SoftHSM2 cannot hold for sandi's uses) in the sealed software keystore; see its module for
//! which key goes where and why. [`Pkcs11Settings`] is the token part of a service's
//! configuration: module, token label and where the PIN is read from (never the PIN itself).

mod age_identity;
mod durable;
mod error;
mod key;
mod pin;
mod pkcs11;
mod quorum;
mod routed;
mod software;
mod verify;
mod wiped;

pub use age_identity::{HandleIdentity, age_recipient};
pub use error::{Error, Result};
pub use key::{
    KeyHandle, KeyId, KeyInfo, KeyKind, KeyState, KeyUsage, Operation, SecretBytes, SharedSecret,
    Signature, SignatureAlgorithm, raw_from_spki, spki_from_raw, spki_pem,
};
pub use pin::Pkcs11Settings;
pub use pkcs11::{Pkcs11Config, Pkcs11KeyStore};
pub use quorum::{CustodianShare, Mode, Quorum};
pub use routed::RoutedKeyStore;
pub use software::{ResharePlan, SoftwareKeyStore};
pub use verify::verify_signature;

/// How far unsealing has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsealProgress {
    /// Valid shares given so far.
    pub provided: usize,
    /// Shares needed.
    pub threshold: usize,
    pub unsealed: bool,
}

impl UnsealProgress {
    /// How many more shares are needed.
    pub fn remaining(&self) -> usize {
        if self.unsealed {
            0
        } else {
            self.threshold.saturating_sub(self.provided)
        }
    }
}

/// A key store that opens only when it is allowed to: the software keystore when a quorum of
/// custodians gave their shares, a PKCS#11 token when it was opened with its PIN. A service
/// (such as a docsvc node) holds one of these, whatever the backend, asks it whether it is
/// sealed and hands it custodians' shares one at a time.
pub trait Sealable: KeyStore {
    /// Whether keys cannot be used yet.
    fn is_sealed(&self) -> bool;
    /// How far unsealing has come.
    fn progress(&self) -> UnsealProgress;
    /// One custodian's share; unseals once the threshold is met. A backend opened otherwise
    /// (a token and its PIN) refuses shares as unsupported.
    fn submit_share(&self, share: CustodianShare) -> Result<UnsealProgress>;
}

/// The operations every key store offers. Usage is bound to the key's kind: a signing key
/// cannot agree, a wrapping key cannot sign; the signature algorithm is the key's, never the
/// caller's choice.
pub trait KeyStore: Send + Sync {
    /// A short name of the backend, for messages.
    fn backend(&self) -> &'static str;

    /// Generates a key of `kind` under `label`; a label already in use gets the next version.
    fn generate(&self, kind: KeyKind, label: &str) -> Result<KeyHandle>;

    /// Every key with its attributes.
    fn list(&self) -> Result<Vec<KeyInfo>>;

    /// One key's attributes.
    fn info(&self, id: KeyId) -> Result<KeyInfo>;

    /// The public key as a DER SubjectPublicKeyInfo.
    fn public_key(&self, key: &KeyHandle) -> Result<Vec<u8>>;

    /// Whether a signature holds nothing the store's other operations wait for while it
    /// computes, so that signatures run side by side (keys in memory). A store whose signature
    /// holds a lock others need says no (the default): a signer running below the process's
    /// priority would hold that lock up for everyone (priority inversion).
    fn signs_without_shared_lock(&self) -> bool {
        false
    }

    /// Signs `message` with the key's own algorithm (ECDSA signatures are DER).
    fn sign(&self, key: &KeyHandle, message: &[u8]) -> Result<Signature>;

    /// X25519 agreement with a peer's public key, as age decryption needs.
    fn agree(&self, key: &KeyHandle, peer_public: &[u8; 32]) -> Result<SharedSecret>;

    /// Wraps a secret (a data key) under a key-wrapping key, binding `aad`.
    fn wrap(&self, key: &KeyHandle, secret: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>>;

    /// Unwraps what [`KeyStore::wrap`] produced with the same key and `aad`.
    fn unwrap(&self, key: &KeyHandle, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes>;

    /// Moves a key through its lifecycle (not to destroyed: see [`KeyStore::destroy`]).
    fn set_state(&self, key: &KeyHandle, state: KeyState) -> Result<()>;

    /// Destroys a key: wipes it from memory and storage and records the destruction.
    fn destroy(&self, key: &KeyHandle) -> Result<()>;
}
