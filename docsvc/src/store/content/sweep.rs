//! Removing what no letter needs any more: a destroyed letter's file, an abandoned upload's;
//! putting aside what nothing names; and the directories prepared before the first letter.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use super::{blocking, create_dir_durably, file_path, io, parts, sync_dir};
use crate::store::Store;
use crate::{Error, Result};

/// Removes content files no row names any more; what a failure leaves the sweep removes.
pub async fn remove_files(store: &Store, files: &[String]) {
    for f in files {
        remove_file(store, f).await;
    }
}

async fn remove_file(store: &Store, name: &str) {
    if let Ok(dir) = store.content().read_dir() {
        if let Ok(path) = file_path(dir, name) {
            let _ = blocking(move || {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("removing", &path, e)),
                }
                Ok(())
            })
            .await;
        }
    }
}

/// Removes file `name` of an upload that did not become a letter, unless a row names it after
/// all.
pub async fn remove_unused(store: &Store, name: &str) -> bool {
    let unused = matches!(parts::content_in_use(store, name).await, Ok(false));
    if unused {
        remove_file(store, name).await;
    }
    unused
}

/// Where files no row and no upload names are put aside: a database that lost rows (an
/// insider, a restored or lagging copy) must not make the sweep destroy letters. An operator
/// looks at them and deletes them.
pub const ORPHANED: &str = "orphaned";

/// Puts aside the files last written before `cutoff` that no letter's rows and no upload
/// under way name (each logged), and returns how many. Files of uploads found abandoned are
/// removed by [`remove_unused`] instead.
pub async fn sweep_files(store: &Store, cutoff: std::time::SystemTime) -> Result<u64> {
    let Ok(dir) = store.content().read_dir() else {
        return Ok(0);
    };
    let dir = dir.to_owned();
    let d = dir.clone();
    // Listed before the rows are read: a file written after the listing is not looked at, and
    // one listed has its mark or rows by the time they are read.
    let listed = blocking(move || {
        let mut names = Vec::new();
        let Ok(top) = std::fs::read_dir(&d) else {
            return Ok(names);
        };
        for sub in top.flatten() {
            let fan = sub.file_name().to_string_lossy().into_owned();
            if fan.len() != 2 || !fan.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            for f in std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let old = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                names.push((f.file_name().to_string_lossy().into_owned(), old));
            }
        }
        Ok(names)
    })
    .await?;
    if listed.is_empty() {
        return Ok(0);
    }
    let in_use = parts::content_names_in_use(store).await?;
    let mut aside = 0;
    for (name, old) in listed {
        if !old || in_use.contains(&name) || file_path(Path::new(""), &name).is_err() {
            continue;
        }
        let (from, to) = (file_path(&dir, &name)?, dir.join(ORPHANED).join(&name));
        let moved = blocking(move || {
            if let Some(parent) = to.parent() {
                create_dir_durably(parent)?;
            }
            std::fs::rename(&from, &to).map_err(io("putting aside", &from))
        })
        .await;
        match moved {
            Ok(()) => {
                tracing::warn!(
                    file = %name,
                    "a content file no letter and no upload names was put aside in content/{ORPHANED}/"
                );
                aside += 1;
            }
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "a content file could not be put aside");
            }
        }
    }
    Ok(aside)
}

/// Makes the content directory and its 256 fan-out directories, durably, before any letter is
/// written (so that a letter's file never waits on its directory's creation).
pub fn prepare(store: &Store) -> Result<()> {
    let Some(dir) = store.content().write_dir() else {
        return Ok(());
    };
    let mut made = false;
    for i in 0..=255u8 {
        let sub = dir.join(format!("{i:02x}"));
        if !sub.is_dir() {
            if !dir.is_dir() {
                create_dir_durably(dir)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(&sub) {
                Ok(()) => made = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("creating", &sub, e)),
            }
        }
    }
    if made {
        sync_dir(dir)?;
    }
    Ok(())
}
