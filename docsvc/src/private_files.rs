//! The node's files are its own user's: the data directory is closed to group and others
//! (0700) and the SQLite database, its write-ahead log and shared-memory file are 0600, made
//! so before SQLite first opens them (SQLite gives the WAL and SHM files the database's mode)
//! and put right on every open of a directory an older version left readable.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Closes `dir` to group and others.
pub fn restrict_dir(dir: &Path) -> Result<()> {
    set_mode(dir, 0o700)
}

/// The database file of a SQLite URL (`sqlite://path?…`, `sqlite:path`), if it names one.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|q| q == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Before SQLite opens the database of `url`: creates it empty with mode 0600 if it does not
/// exist yet, and makes it, its WAL and its SHM file 0600 if they do. A PostgreSQL URL is left
/// alone.
pub fn prepare_sqlite(url: &str) -> Result<()> {
    let Some(db) = sqlite_path(url) else {
        return Ok(());
    };
    if !db.exists() {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&db) {
            Ok(_) => {}
            // Another process made it meanwhile: its mode is put right below.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A read-only or missing directory: SQLite says so itself, in its own words.
            Err(_) => return Ok(()),
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        let path = PathBuf::from(name);
        if path.exists() {
            set_mode(&path, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let current = std::fs::metadata(path)
        .map_err(|e| Error::io("reading the mode of", path, e))?
        .permissions()
        .mode()
        & 0o777;
    if current == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("restricting the mode of", path, e))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

/// Writes a new file only its owner can read (0600), durably; an existing file is refused.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Error::io("creating", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("writing", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_urls() {
        assert_eq!(
            sqlite_path("sqlite:///data/docsvc.db?mode=rwc"),
            Some(PathBuf::from("/data/docsvc.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:docsvc.db"),
            Some(PathBuf::from("docsvc.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
