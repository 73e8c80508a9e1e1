//! policies: who may do what with a document of each classification — the city's policy as
//! data (Cedar policies over a schema, and a handling table), every decision explained in
//! Indonesian and English, deny by default.
#![forbid(unsafe_code)]

mod engine;
mod error;
mod handling;
mod model;

pub use engine::{Policy, PolicyStore, PreparedDocument, PreparedPrincipal};
pub use error::{Error, Result};
pub use handling::{Handling, HandlingTable, SignatureAlgorithm, WeakSignature};
pub use model::{Action, Context, Decision, Document, Level, Person, Principal, Status};

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
