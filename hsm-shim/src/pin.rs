//! Where a service finds its PKCS#11 token: the module, the token's label and where the PIN
//! comes from. The PIN itself is never part of a configuration file: it is read at start from
//! a file only its owner can read (a systemd credential, for instance) or from an environment
//! variable, and held in zeroizing memory.
//!
//! ```toml
//! [keystore.pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "sandi-node"
//! pin_file = "/run/credentials/docsvc.service/token-pin"   # or: pin_env = "SANDI_TOKEN_PIN"
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::pkcs11::Pkcs11Config;
use crate::{Error, Result};

/// A PIN longer than this is not a PIN: the file is not what it should be.
const MAX_PIN_BYTES: u64 = 256;

/// The token part of a configuration (`[keystore.pkcs11]` in docsvc's `node.toml`,
/// `online-pkcs11.toml` in a keymgr home). Exactly one of `pin_file` and `pin_env`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Settings {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of an initialised token.
    pub token_label: String,
    /// A file holding the user PIN (one line), readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// An environment variable holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// Present only to refuse it by name: the PIN is never written into a configuration.
    #[serde(default, skip_serializing)]
    pin: Option<serde::de::IgnoredAny>,
}

impl Pkcs11Settings {
    /// Settings whose PIN is read from `pin_file`.
    pub fn with_pin_file(module: PathBuf, token_label: String, pin_file: PathBuf) -> Self {
        Pkcs11Settings {
            module,
            token_label,
            pin_file: Some(pin_file),
            pin_env: None,
            pin: None,
        }
    }

    /// Settings whose PIN is read from the environment variable `pin_env`.
    pub fn with_pin_env(module: PathBuf, token_label: String, pin_env: String) -> Self {
        Pkcs11Settings {
            module,
            token_label,
            pin_file: None,
            pin_env: Some(pin_env),
            pin: None,
        }
    }

    /// Checks the settings without reading the PIN: one PIN source, no PIN in the file, a
    /// token label, an absolute module path.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::PinSource(m.into()));
        if self.pin.is_some() {
            return bad(
                "the PIN must not be written in the configuration: give pin_file or pin_env",
            );
        }
        match (&self.pin_file, &self.pin_env) {
            (Some(_), Some(_)) => return bad("give pin_file or pin_env, not both"),
            (None, None) => return bad("no PIN source: give pin_file or pin_env"),
            (None, Some(name)) if name.is_empty() || name.contains('=') => {
                return bad("pin_env is not an environment variable name");
            }
            _ => {}
        }
        if self.token_label.trim().is_empty() || self.token_label.len() > 32 {
            return Err(Error::InvalidInput(
                "a token label is 1 to 32 characters".into(),
            ));
        }
        if !self.module.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "the PKCS#11 module path {} is not absolute",
                self.module.display()
            )));
        }
        Ok(())
    }

    /// Reads the PIN from its source and returns what [`crate::Pkcs11KeyStore::open`] takes.
    pub fn resolve(&self) -> Result<Pkcs11Config> {
        self.validate()?;
        let pin = match (&self.pin_file, &self.pin_env) {
            (Some(path), None) => read_pin_file(path)?,
            (None, Some(name)) => {
                let value = Zeroizing::new(std::env::var(name).map_err(|_| {
                    Error::PinSource(format!("the environment variable {name} is not set"))
                })?);
                check_pin(&value, &format!("the environment variable {name}"))?;
                value
            }
            _ => return Err(Error::PinSource("no PIN source".into())),
        };
        Ok(Pkcs11Config {
            module: self.module.clone(),
            token_label: self.token_label.clone(),
            pin,
        })
    }
}

fn check_pin(pin: &str, from: &str) -> Result<()> {
    if pin.is_empty() {
        return Err(Error::PinSource(format!("{from} holds an empty PIN")));
    }
    if pin.len() > 64 || pin.chars().any(char::is_control) {
        return Err(Error::PinSource(format!("{from} does not hold a PIN")));
    }
    Ok(())
}

/// The permission bits a PIN file must not have: none for group or others, as ssh demands of
/// a private key. A systemd credential (`LoadCredential=`, under the service's
/// `$CREDENTIALS_DIRECTORY`) is the exception for the group bits: systemd writes it 0400,
/// root-owned, and grants the service's user read access with an ACL entry, whose mask `stat`
/// shows in the group bits (mode 0440 although no group can read it); the credentials file
/// system is read-only to the service.
fn forbidden_mode_bits(path: &Path, credentials_directory: Option<&Path>) -> u32 {
    match credentials_directory {
        // `..` would let `$CREDENTIALS_DIRECTORY/../../tmp/pin` pass a textual prefix test.
        Some(dir)
            if dir.is_absolute()
                && path.starts_with(dir)
                && !path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir)) =>
        {
            0o037
        }
        _ => 0o077,
    }
}

/// The PIN in `path`: one line, at most [`MAX_PIN_BYTES`], from a file nobody but its owner
/// can read or write (as ssh demands of a private key).
fn read_pin_file(path: &Path) -> Result<Zeroizing<String>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::PinSource(format!("cannot read the PIN file {}: {e}", path.display()))
    })?;
    let meta = file.metadata().map_err(|e| Error::io("reading", path, e))?;
    if !meta.is_file() {
        return Err(Error::PinSource(format!(
            "the PIN file {} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        if meta.permissions().mode() & forbidden_mode_bits(path, credentials.as_deref()) != 0 {
            return Err(Error::PinSource(format!(
                "the PIN file {} is open to other users (chmod 600 it)",
                path.display()
            )));
        }
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_PIN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading", path, e))?;
    if bytes.len() as u64 > MAX_PIN_BYTES {
        return Err(Error::PinSource(format!(
            "the PIN file {} is too long to hold a PIN",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::PinSource(format!("the PIN file {} is not text", path.display())))?;
    let pin = Zeroizing::new(
        text.strip_suffix('\n')
            .unwrap_or(text)
            .trim_end_matches('\r')
            .to_owned(),
    );
    check_pin(&pin, &format!("the PIN file {}", path.display()))?;
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Pkcs11Settings {
        Pkcs11Settings::with_pin_file(
            "/usr/lib/softhsm/libsofthsm2.so".into(),
            "t".into(),
            "/nonexistent/pin".into(),
        )
    }

    #[test]
    fn a_pin_in_the_configuration_is_refused_by_name() {
        let s: Pkcs11Settings = toml::from_str(
            "module = \"/m.so\"\ntoken_label = \"t\"\npin = \"1234\"\npin_env = \"X\"\n",
        )
        .expect("parses");
        let err = s.resolve().expect_err("PIN in the file accepted");
        assert!(err.to_string().contains("must not be written"), "{err}");
        assert!(!err.to_string().contains("1234"));
        assert!(!format!("{s:?}").contains("1234"), "{s:?}");
        assert!(!toml::to_string(&s).expect("toml").contains("1234"));
    }

    #[test]
    fn exactly_one_pin_source() {
        let mut s = settings();
        s.pin_env = Some("X".into());
        assert!(
            s.validate()
                .expect_err("refused")
                .to_string()
                .contains("not both")
        );
        s.pin_file = None;
        s.pin_env = None;
        assert!(
            s.validate()
                .expect_err("refused")
                .to_string()
                .contains("no PIN source")
        );
    }

    #[test]
    fn pin_files_are_bounded_private_and_one_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin");
        let mut s = settings();
        s.pin_file = Some(path.clone());
        let err = s.resolve().expect_err("missing file");
        assert!(
            err.to_string().contains("cannot read the PIN file"),
            "{err}"
        );

        std::fs::write(&path, "123456\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = s.resolve().expect_err("world-readable PIN file");
        assert!(err.to_string().contains("chmod 600"), "{err}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(s.resolve().expect("resolves").pin.as_str(), "123456");

        std::fs::write(&path, vec![b'1'; 4096]).expect("write");
        assert!(
            s.resolve()
                .expect_err("huge file")
                .to_string()
                .contains("too long")
        );
        std::fs::write(&path, "12\n34\n").expect("write");
        assert!(s.resolve().is_err(), "two lines taken as a PIN");
        std::fs::write(&path, "").expect("write");
        assert!(
            s.resolve()
                .expect_err("empty")
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn only_a_systemd_credential_may_show_group_read() {
        let creds = Path::new("/run/credentials/docsvc.service");
        let pin = creds.join("token-pin");
        assert_eq!(forbidden_mode_bits(&pin, Some(creds)) & 0o440, 0);
        assert_ne!(forbidden_mode_bits(&pin, Some(creds)) & 0o004, 0);
        assert_ne!(forbidden_mode_bits(&pin, Some(creds)) & 0o020, 0);
        assert_ne!(
            forbidden_mode_bits(Path::new("/etc/pin"), Some(creds)) & 0o040,
            0
        );
        assert_ne!(forbidden_mode_bits(&pin, None) & 0o040, 0);
        assert_ne!(
            forbidden_mode_bits(&creds.join("../../../tmp/pin"), Some(creds)) & 0o040,
            0,
            "a path leaving the credentials directory through .. is not a credential"
        );
        assert_ne!(
            forbidden_mode_bits(
                Path::new("/run/credentials/docsvc.service2/pin"),
                Some(creds)
            ) & 0o040,
            0
        );
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let s = Pkcs11Settings::with_pin_env(
            "/m.so".into(),
            "t".into(),
            "SANDI_TEST_SURELY_UNSET_PIN".into(),
        );
        let err = s.resolve().expect_err("unset variable");
        assert!(
            err.to_string().contains("SANDI_TEST_SURELY_UNSET_PIN"),
            "{err}"
        );
    }
}
