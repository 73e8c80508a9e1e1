//! policies: who may do what with a document of each classification — the city's policy as
//! data (Cedar policies over a schema, and a handling table), every decision explained in
//! Indonesian and English, deny by default.
#![forbid(unsafe_code)]

mod engine;
mod error;
mod handling;
mod model;
mod prepared;
mod reasons;

pub use engine::{Policy, PolicyStore};
pub use error::{Error, Result};
pub use handling::{Handling, HandlingTable, SignatureAlgorithm, WeakSignature};
pub use model::{Action, Context, Decision, Document, Level, Person, Principal, Status};
pub use prepared::{PreparedDocument, PreparedPrincipal};

/// The shipped default policy's directory (this crate's root).
pub fn default_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped default policy's files, for installing a policy directory on a new node.
pub const DEFAULT_FILES: [(&str, &str); 3] = [
    ("sandi.cedarschema", include_str!("../sandi.cedarschema")),
    ("default.cedar", include_str!("../default.cedar")),
    ("handling.toml", include_str!("../handling.toml")),
];

/// Installs a policy directory at `to`: the files of `from` (the schema, every `*.cedar` and
/// handling.toml), checked to load first, or the shipped default when there is no `from`.
pub fn install(from: Option<&std::path::Path>, to: &std::path::Path) -> Result<()> {
    let io = |path: &std::path::Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    let Some(from) = from else {
        for (name, text) in DEFAULT_FILES {
            std::fs::write(to.join(name), text).map_err(|e| io(&to.join(name), e))?;
        }
        return Ok(());
    };
    Policy::load(from)?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let path = entry.map_err(|e| io(from, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if [".cedar", ".cedarschema", ".toml"]
            .iter()
            .any(|x| name.ends_with(x))
        {
            std::fs::copy(&path, to.join(name)).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}
