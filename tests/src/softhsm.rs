//! A SoftHSM2 token of a test's own: a fresh token directory under its own `SOFTHSM2_CONF`
//! (which the commands it makes see, and no other token), a PIN file, and the
//! `--pkcs11-config` file that names them, as a node's `[keystore.pkcs11]` does; and OpenSC's
//! `pkcs11-tool` view of what is on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::node::{ok, require};

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const TOKEN: &str = "sandi-node";
pub const PIN: &str = "314159";
pub const SO_PIN: &str = "27182818";

#[derive(Debug)]
pub struct Token {
    dir: tempfile::TempDir,
}

impl Token {
    /// A fresh initialised token labelled [`TOKEN`], or `None` with a note when SoftHSM2 is
    /// not installed (outside CI; under CI that fails).
    pub fn new() -> Option<Token> {
        Self::labelled(TOKEN)
    }

    /// [`Token::new`], the token labelled `label` (the `--pkcs11-config` file names it; the
    /// listings below look at a token labelled [`TOKEN`]).
    pub fn labelled(label: &str) -> Option<Token> {
        if !Path::new(MODULE).exists() {
            assert!(!crate::under_ci(), "SoftHSM2 is installed by tests/run");
            eprintln!("SKIPPED: SoftHSM2 is not installed");
            return None;
        }
        require("softhsm2-util");
        require("pkcs11-tool");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("tokens");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        let t = Token { dir };
        ok(&t
            .cmd("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .output()
            .expect("softhsm2-util"));
        t.write_pin(PIN);
        std::fs::write(
            t.config(),
            format!(
                "module = \"{MODULE}\"\ntoken_label = \"{label}\"\npin_file = \"{}\"\n",
                t.pin_file().display()
            ),
        )
        .expect("pkcs11 config");
        Some(t)
    }

    /// The token's own directory (configuration, tokens, PIN file): scratch space too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `SOFTHSM2_CONF` that shows this token.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub fn pin_file(&self) -> PathBuf {
        self.dir.path().join("token.pin")
    }

    /// Writes `pin` to the PIN file, readable by its owner only.
    pub fn write_pin(&self, pin: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(self.pin_file(), format!("{pin}\n")).expect("pin file");
        std::fs::set_permissions(self.pin_file(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }

    /// The `--pkcs11-config` file: module, token label, PIN file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("pkcs11.toml")
    }

    /// A command that sees this token (and no other).
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", self.conf());
        c
    }

    /// OpenSC's view of the token's objects of `kind` (privkey, pubkey, secrkey).
    pub fn objects(&self, kind: &str) -> String {
        ok(&self
            .cmd("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", TOKEN])
            .args(["--login", "--pin", PIN])
            .args(["--list-objects", "--type", kind])
            .output()
            .expect("pkcs11-tool"))
    }

    /// The EC point (hex, as pkcs11-tool prints it: a DER OCTET STRING around the point) of
    /// the public key object labelled `label`.
    pub fn ec_point(&self, label: &str) -> String {
        ec_point_of(&self.objects("pubkey"), label)
    }

    /// pkcs11-tool's listing of the private key labelled `label` (its attributes: whether
    /// it is sensitive, never extractable); panics if there is none.
    pub fn private_key(&self, label: &str) -> String {
        let privkeys = self.objects("privkey");
        privkeys
            .split("Private Key Object")
            .find(|block| {
                block
                    .lines()
                    .any(|l| l.trim() == format!("label:      {label}"))
            })
            .unwrap_or_else(|| panic!("no private key {label} on the token:\n{privkeys}"))
            .to_owned()
    }
}

/// The `EC_POINT` of the object labelled `label` in pkcs11-tool's listing.
pub fn ec_point_of(listing: &str, label: &str) -> String {
    listing
        .split("Public Key Object")
        .find(|block| {
            block
                .lines()
                .any(|l| l.trim() == format!("label:      {label}"))
        })
        .and_then(|block| {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
        })
        .unwrap_or_else(|| panic!("no public key {label} on the token:\n{listing}"))
        .trim()
        .to_owned()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
