//! Where the online CA's keys live: in the online software keystore (`HOME/online-keystore`),
//! which only the custodians' quorum opens, or on a PKCS#11 token named in
//! `HOME/online-pkcs11.json`, which opens with the token's PIN.
//!
//! On a token home every online key is on the token: the Network CA's and the Signing CA's
//! (made at the init ceremony and by later rotations), the transparency-log key, and the keys
//! `keymgr serve` makes for its OCSP responders and its time-stamping authority. They are all
//! signing keys (ECDSA), which the token generates as sensitive and never extractable. The
//! online software keystore is still created and sealed by the custodians, and ceremonies still
//! need their quorum; only `keymgr serve` opens the CA with the PIN alone, so that the online CA
//! comes back after a reboot without the custodians. The root key never goes on the token: it
//! stays in the root keystore, opened only in root ceremonies.
//!
//! The file holds the module, the token's label and where the PIN is read (a file only its
//! owner can read, or an environment variable); never the PIN:
//!
//! ```json
//! { "module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "sandi-ca",
//!   "pin_file": "/run/credentials/keymgr.service/token-pin" }
//! ```

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use hsm_shim::{KeyStore, Pkcs11KeyStore, Pkcs11Settings};

use crate::ca::Home;
use crate::{Error, Result};

/// The token configuration's file name in a CA home.
pub const CONFIG_FILE: &str = "online-pkcs11.json";

/// A configuration larger than this is not one.
const MAX_CONFIG_BYTES: u64 = 16 * 1024;

impl Home {
    /// `HOME/online-pkcs11.json`.
    pub fn online_pkcs11_path(&self) -> PathBuf {
        self.dir().join(CONFIG_FILE)
    }

    /// The token holding the online CA's keys, if this home puts them on one.
    pub fn online_pkcs11(&self) -> Result<Option<Pkcs11Settings>> {
        let path = self.online_pkcs11_path();
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading", &path, e))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(Error::InvalidInput(format!(
                "{} is too large to be a token configuration",
                path.display()
            )));
        }
        let settings: Pkcs11Settings = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        settings
            .validate()
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        Ok(Some(settings))
    }

    /// Puts the online CA's keys of a CA still to be made on the token of `settings`: written
    /// before `keymgr ceremony init`, which then generates them there. Refused once the home
    /// holds a CA (its keys would not move).
    pub fn set_online_pkcs11(&self, settings: &Pkcs11Settings) -> Result<()> {
        if self.is_initialised() || self.online_keystore().exists() {
            return Err(Error::AlreadyInitialised(self.dir().to_path_buf()));
        }
        settings
            .validate()
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        std::fs::create_dir_all(self.dir()).map_err(|e| Error::io("creating", self.dir(), e))?;
        let json =
            serde_json::to_vec_pretty(settings).map_err(|e| Error::InvalidInput(e.to_string()))?;
        crate::ca::write_file(&self.online_pkcs11_path(), &json)
    }

    /// The online CA's keys opened without the custodians, for `keymgr serve`: the token of
    /// `HOME/online-pkcs11.json` logged in to with its PIN. `None` when this home keeps them in
    /// the online software keystore, which only the custodians' shares open.
    pub fn open_online(&self) -> Result<Option<Arc<dyn KeyStore>>> {
        Ok(self.open_online_token()?.map(|t| t as Arc<dyn KeyStore>))
    }

    /// The token of `HOME/online-pkcs11.json`, opened with its PIN, if there is one.
    pub(crate) fn open_online_token(&self) -> Result<Option<Arc<Pkcs11KeyStore>>> {
        match self.online_pkcs11()? {
            Some(settings) => Ok(Some(Arc::new(Pkcs11KeyStore::open(&settings.resolve()?)?))),
            None => Ok(None),
        }
    }
}
