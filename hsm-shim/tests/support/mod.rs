//! Test fixtures: a SoftHSM2 token in a temporary directory and software keystores.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use hsm_shim::{CustodianShare, KeyStore, Pkcs11Config, Pkcs11KeyStore, Quorum, SoftwareKeyStore};
use zeroize::Zeroizing;

pub const SO_PIN: &str = "87654321";
pub const USER_PIN: &str = "12345678";
pub const TOKEN: &str = "sandi-test";

/// Where Debian puts SoftHSM2's module.
pub fn softhsm_module() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The token, held by one test at a time: PKCS#11 login state belongs to the whole process, so
/// one test closing its last session would log out another's (nextest runs each test in its own
/// process anyway; this keeps plain `cargo test` honest too).
pub struct Token {
    pub config: Pkcs11Config,
    _guard: MutexGuard<'static, ()>,
}

/// A token initialised once per test process in a temporary directory (SOFTHSM2_CONF), or
/// `None` with a note when SoftHSM2 is missing outside CI. Under CI a missing SoftHSM2 fails.
pub fn softhsm() -> Option<Token> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    softhsm_config().map(|config| Token {
        config,
        _guard: guard,
    })
}

fn softhsm_config() -> Option<Pkcs11Config> {
    static TOKEN_DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    let module = match softhsm_module() {
        Some(m) => m,
        None if under_ci() => panic!("SoftHSM2 is not installed: the test command installs it"),
        None => {
            eprintln!("SKIPPED: SoftHSM2 is not installed (run the README test command)");
            return None;
        }
    };
    let dir = TOKEN_DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        // SAFETY: set once, under this OnceLock, before the PKCS#11 module is loaded; nothing
        // else in the test process reads SOFTHSM2_CONF concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", &conf);
        }
        Pkcs11KeyStore::init_token(&module, TOKEN, SO_PIN, USER_PIN).expect("init token");
        Some(dir)
    });
    assert!(dir.is_some());
    Some(Pkcs11Config {
        module,
        token_label: TOKEN.into(),
        pin: Zeroizing::new(USER_PIN.into()),
    })
}

pub fn softhsm_store() -> Option<(Arc<dyn KeyStore>, Token)> {
    let token = softhsm()?;
    let store = Pkcs11KeyStore::open(&token.config).expect("open token");
    Some((Arc::new(store), token))
}

/// A production keystore (3 of 5) unsealed with the first three shares.
pub fn unsealed_software(dir: &Path) -> (Arc<SoftwareKeyStore>, Vec<CustodianShare>) {
    let (store, shares) = SoftwareKeyStore::create(dir, Quorum::DEFAULT).expect("create");
    for s in &shares[..3] {
        store.submit_share(s.clone()).expect("share");
    }
    assert!(!store.is_sealed());
    (Arc::new(store), shares)
}

/// Runs `openssl` and returns whether it succeeded, with its output for messages.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed by the test command");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
