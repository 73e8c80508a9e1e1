//! Which files of a data directory a backup holds, and where a restored file may go: never
//! outside the data directory, and never one of the files a backup leaves out.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// The data directory's files that belong in a backup, relative: everything but the dev
/// custodians' shares (never part of a node's data), the SQLite database (dumped as rows),
/// and the policy directory (taken from where node.toml says it is).
pub(crate) fn files_of(dir: &Path, policy_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        let here = base.join(rel);
        let mut entries: Vec<_> = std::fs::read_dir(&here)
            .map_err(io("reading", &here))?
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io("reading", &here))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name();
            let rel = rel.join(&name);
            let ty = e.file_type().map_err(io("reading", &here))?;
            if ty.is_dir() {
                walk(base, &rel, out)?;
            } else if ty.is_file() {
                out.push((rel.to_string_lossy().into_owned(), base.join(&rel)));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut top: Vec<_> = std::fs::read_dir(dir)
        .map_err(io("reading", dir))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io("reading", dir))?;
    top.sort_by_key(std::fs::DirEntry::file_name);
    for e in top {
        let name = e.file_name().to_string_lossy().into_owned();
        // The TLS keystore opens without the custodians: never in a backup (a restore makes a
        // new TLS key and asks for its certificate; see `tls_reissue`).
        if name == "policy" || never_backed_up(&name) {
            continue;
        }
        let ty = e.file_type().map_err(io("reading", dir))?;
        if ty.is_dir() {
            walk(dir, Path::new(&name), &mut out)?;
        } else if ty.is_file() {
            out.push((name.clone(), dir.join(&name)));
        }
    }
    let mut policy = Vec::new();
    walk(policy_dir, Path::new(""), &mut policy)?;
    out.extend(
        policy
            .into_iter()
            .map(|(rel, p)| (format!("policy/{rel}"), p)),
    );
    Ok(out)
}

/// What a backup never holds, by the name of its top-level entry in the data directory: the
/// dev custodians' shares, the TLS keystore and certificate (they open without the custodians;
/// see `tls_reissue`), the SQLite database (dumped as rows), deliveries being received
/// (`spool`) and unfinished files.
fn never_backed_up(top: &str) -> bool {
    top == "shares"
        || top == "spool"
        // Letters' content: copied as the database's rows name it, not as the directory is.
        || top == "content"
        || top == "tls-keystore"
        || top == "tls"
        || top.starts_with("docsvc.db")
        || top.ends_with(".partial")
}

/// Where a file of the backup goes: inside the data directory, and never one of the files a
/// backup does not hold (a sealed file naming `tls-keystore/…` or `docsvc.db` plants nothing).
pub(crate) fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Integrity(format!(
            "backup names a file outside the node: {rel:?}"
        )));
    }
    let top = p
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    if never_backed_up(&top) {
        return Err(Error::Integrity(format!(
            "backup names a file no backup holds: {rel:?}"
        )));
    }
    Ok(dir.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed backup can name only what backups hold: nothing outside the data directory,
    /// and not the TLS keystore, the TLS certificate, the database or the dev shares.
    #[test]
    fn a_backup_plants_no_file_that_backups_never_hold() {
        let dir = Path::new("/data");
        for ok in [
            "keystore/master.json",
            "audit-heads.jsonl",
            "policy/handling.toml",
        ] {
            assert_eq!(inside(dir, ok).expect(ok), dir.join(ok));
        }
        for bad in [
            "",
            "../etc/passwd",
            "/etc/passwd",
            "tls-keystore/key.json",
            "tls/node.pem",
            "docsvc.db",
            "docsvc.db-wal",
            "shares/custodian-1.json",
            "spool/delivery-1",
            "node.toml.partial",
        ] {
            assert!(inside(dir, bad).is_err(), "{bad:?}");
        }
    }
}
