//! `[keystore]` in `node.toml`.

use serde::{Deserialize, Serialize};

/// `[keystore]` in `node.toml`. Without `[keystore.pkcs11]` every node key is in the
/// software keystore (`keystore/`), sealed under the custodians' quorum.
///
/// With it, the node's signing keys (officials', applications', the audit key) are generated
/// on and used from the PKCS#11 token, never extractable; its X25519 agreement keys (archive
/// and officials' encryption keys, which age needs and SoftHSM2 cannot hold) and its AES
/// wrapping key (the MAC key's key-encryption key) stay in the software keystore, still sealed
/// by the custodians (see [`hsm_shim::RoutedKeyStore`]). The TLS key stays in the TLS keystore,
/// which must open without the custodians. The PIN is never written here:
///
/// ```toml
/// [keystore.pkcs11]
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "sandi-node"
/// pin_file = "/run/credentials/docsvc.service/token-pin"   # or: pin_env = "DOCSVC_TOKEN_PIN"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keystore {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<hsm_shim::Pkcs11Settings>,
}

impl Keystore {
    pub(super) fn is_default(&self) -> bool {
        *self == Keystore::default()
    }
}
