//! Custodian share files: each custodian's shares of the root and online keystores, in one
//! file encrypted with age to that custodian (a passphrase, or the custodian's age recipient),
//! so that no file on disk holds a usable share in the clear.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use hsm_shim::CustodianShare;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

const FORMAT: &str = "sandi-custodian-share-v1";

/// How a custodian's share file is protected.
pub enum Protection {
    /// An age passphrase (scrypt).
    Passphrase(SecretString),
    /// The custodian's own age recipient (`age1…`).
    Recipient(age::x25519::Recipient),
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protection::Passphrase(_) => f.write_str("Passphrase([redacted])"),
            Protection::Recipient(r) => write!(f, "Recipient({r})"),
        }
    }
}

impl Protection {
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Protection::Passphrase(_) => "age passphrase (scrypt)",
            Protection::Recipient(_) => "age recipient (X25519)",
        }
    }
}

/// What unlocks a share file.
pub enum Unlock {
    Passphrase(SecretString),
    /// An age identity file (`AGE-SECRET-KEY-1…`).
    Identity(PathBuf),
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::Passphrase(_) => f.write_str("Passphrase([redacted])"),
            Unlock::Identity(p) => write!(f, "Identity({})", p.display()),
        }
    }
}

/// The plaintext inside a share file. Zeroized on drop; never printed.
#[derive(Serialize, Deserialize)]
struct Plain {
    format: String,
    ceremony: uuid::Uuid,
    custodian: String,
    index: u8,
    root: String,
    online: String,
}

impl Drop for Plain {
    fn drop(&mut self) {
        self.root.zeroize();
        self.online.zeroize();
    }
}

/// One custodian's shares, decrypted.
pub struct ShareBundle {
    pub ceremony: uuid::Uuid,
    pub custodian: String,
    pub index: u8,
    pub root: CustodianShare,
    pub online: CustodianShare,
}

impl std::fmt::Debug for ShareBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareBundle")
            .field("ceremony", &self.ceremony)
            .field("custodian", &self.custodian)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Writes a custodian's share file (created new; never overwrites).
pub(crate) fn write(path: &Path, bundle: &ShareBundle, protection: &Protection) -> Result<()> {
    let plain = Plain {
        format: FORMAT.into(),
        ceremony: bundle.ceremony,
        custodian: bundle.custodian.clone(),
        index: bundle.index,
        root: bundle.root.to_text().to_string(),
        online: bundle.online.to_text().to_string(),
    };
    let json =
        Zeroizing::new(serde_json::to_vec(&plain).map_err(|e| Error::InvalidInput(e.to_string()))?);
    let encryptor = match protection {
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        Protection::Recipient(r) => {
            age::Encryptor::with_recipients(std::iter::once(r as &dyn age::Recipient))
                .map_err(|e| Error::InvalidInput(format!("age recipient: {e}")))?
        }
    };
    let mut out = Vec::new();
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| Error::io("encrypting", path, e))?;
    w.write_all(&json)
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| Error::io("encrypting", path, e))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Error::io("creating", path, e))?;
    f.write_all(&out)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("writing", path, e))
}

/// Opens a custodian's share file.
pub fn open(path: &Path, unlock: &Unlock) -> Result<ShareBundle> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let damaged = |reason: &str| Error::ShareFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let decryptor = age::Decryptor::new(&bytes[..])
        .map_err(|_| damaged("not an age file, or its header is damaged"))?;
    // An identity file may hold several keys, as age's own files do: try them all.
    let identities: Vec<Box<dyn age::Identity>> = match unlock {
        Unlock::Passphrase(p) => vec![Box::new(age::scrypt::Identity::new(p.clone()))],
        Unlock::Identity(file) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?,
            );
            let keys: Vec<Box<dyn age::Identity>> = text
                .lines()
                .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
                .map(|l| {
                    l.parse::<age::x25519::Identity>()
                        .map(|i| Box::new(i) as Box<dyn age::Identity>)
                        .map_err(|_| {
                            Error::InvalidInput(format!(
                                "{} holds an invalid age identity",
                                file.display()
                            ))
                        })
                })
                .collect::<Result<_>>()?;
            if keys.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{} holds no age identity",
                    file.display()
                )));
            }
            keys
        }
    };
    let mut reader =
        match decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity)) {
            Ok(r) => r,
            Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
                return Err(Error::WrongPassphrase {
                    path: path.to_path_buf(),
                });
            }
            Err(_) => return Err(damaged("the file is damaged")),
        };
    let mut json = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut json)
        .map_err(|_| damaged("the file is damaged (authentication failed)"))?;
    let plain: Plain =
        serde_json::from_slice(&json).map_err(|_| damaged("not a sandi share file"))?;
    if plain.format != FORMAT {
        return Err(damaged("unknown share file format"));
    }
    let root = CustodianShare::parse(&plain.root)?;
    let online = CustodianShare::parse(&plain.online)?;
    if root.index() != plain.index || online.index() != plain.index {
        return Err(damaged("the custodian index does not match the shares"));
    }
    Ok(ShareBundle {
        ceremony: plain.ceremony,
        custodian: plain.custodian.clone(),
        index: plain.index,
        root,
        online,
    })
}
