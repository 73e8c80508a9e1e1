//! The one error type of the policies crate.

use std::path::PathBuf;

/// Why a policy set could not be loaded, or a decision could not be made. Load errors name the
/// file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy file, the schema or the handling table is wrong.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A request the engine could not even evaluate (a bug in the caller's data).
    #[error("policy request: {0}")]
    Request(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The 1-based line of a byte offset in a text.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
