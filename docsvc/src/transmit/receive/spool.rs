//! A delivery's ciphertext while it is checked, in a private file of the data directory.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::node::Layout;
use crate::{Error, Result};

/// A spool file older than this belongs to a process that died mid-delivery.
const STALE_SPOOL: Duration = Duration::from_secs(3600);

/// A delivery's ciphertext while it is checked: a file only this node's user can read, in the
/// data directory, removed when dropped (stored, refused, failed or cancelled alike). What is
/// stored from it is hashed again against what was checked.
pub(super) struct Spool {
    pub(super) path: PathBuf,
    file: tokio::fs::File,
    pub(super) written: ring::digest::Context,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::error!("removing the spool file {}: {e}", self.path.display());
        }
    }
}

impl Spool {
    pub(super) fn create(layout: &Layout) -> Result<Self> {
        let dir = layout.spool();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        crate::private_files::restrict_dir(&dir)?;
        remove_stale(&dir);
        let path = dir.join(format!("{}.envelope", uuid::Uuid::new_v4()));
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .map_err(|e| Error::io("creating", &path, e))?;
        Ok(Spool {
            path,
            file: tokio::fs::File::from_std(file),
            written: ring::digest::Context::new(&ring::digest::SHA256),
        })
    }

    pub(super) async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.written.update(data);
        self.file
            .write_all(data)
            .await
            .map_err(|e| Error::io("writing", &self.path, e))
    }

    /// Back to the start, for reading what was written.
    pub(super) async fn rewind(&mut self) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|e| Error::io("writing", &self.path, e))?;
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|e| Error::io("reading", &self.path, e))?;
        Ok(())
    }

    pub(super) async fn read(
        &mut self,
        n: usize,
        hash: &mut ring::digest::Context,
    ) -> Result<Vec<u8>> {
        let mut out = vec![0u8; n];
        self.file
            .read_exact(&mut out)
            .await
            .map_err(|e| Error::io("reading", &self.path, e))?;
        hash.update(&out);
        Ok(out)
    }
}

/// Spool files left by a process that died mid-delivery.
fn remove_stale(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_SPOOL);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spool file is private and gone once dropped.
    #[tokio::test]
    async fn a_spool_file_is_private_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let mut s = Spool::create(&layout).expect("spool");
        s.write(b"ciphertext").await.expect("write");
        let path = s.path.clone();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
            };
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&layout.spool()), 0o700);
        }
        s.rewind().await.expect("rewind");
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        assert_eq!(s.read(10, &mut h).await.expect("read"), b"ciphertext");
        drop(s);
        assert!(!path.exists());
    }
}
