//! A delivery's ciphertext while it is checked: in memory for a small letter, in a private
//! file of the data directory past that.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::node::Layout;
use crate::{Error, Result};

/// A spool file older than this belongs to a process that died mid-delivery.
const STALE_SPOOL: Duration = Duration::from_secs(3600);

/// Up to this much of a delivery is spooled in memory: a small letter (most are) costs no
/// file, no blocking file operations and no removal. Within what a delivery holds anyway (a
/// chunk of [`crate::crypto::envelope::CHUNK`] while it is checked).
const IN_MEMORY: usize = 256 << 10;

/// All spools of the process together hold at most this much in memory: past it a delivery
/// spools to a file from its first byte, however small, so that many deliveries at once (from
/// many peers, or one peer's many streams) cost disk, not memory.
const MEMORY_BUDGET: usize = 64 << 20;

/// Bytes held in memory by all spools now (within [`MEMORY_BUDGET`]).
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Takes `n` bytes of the budget, or says there are not so many left.
fn take_budget(n: usize) -> bool {
    HELD.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
        held.checked_add(n).filter(|&total| total <= MEMORY_BUDGET)
    })
    .is_ok()
}

fn give_back(n: usize) {
    HELD.fetch_sub(n, Ordering::AcqRel);
}

/// A delivery's ciphertext while it is checked: in memory up to [`IN_MEMORY`], past that in a
/// file only this node's user can read, in the data directory, removed when dropped (stored,
/// refused, failed or cancelled alike). What is stored from it is hashed again against what
/// was checked. The ciphertext is not secret (it is what travelled), so the memory is not
/// wiped.
pub(super) struct Spool {
    dir: PathBuf,
    place: Place,
    pub(super) written: ring::digest::Context,
}

enum Place {
    /// What was written, and how far it has been read back.
    Memory { data: Vec<u8>, at: usize },
    File {
        path: PathBuf,
        file: tokio::fs::File,
    },
}

impl Drop for Spool {
    fn drop(&mut self) {
        match &self.place {
            Place::Memory { data, .. } => give_back(data.len()),
            Place::File { path, .. } => {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::error!("removing the spool file {}: {e}", path.display());
                }
            }
        }
    }
}

impl Spool {
    pub(super) fn create(layout: &Layout) -> Self {
        Spool {
            dir: layout.spool(),
            place: Place::Memory {
                data: Vec::new(),
                at: 0,
            },
            written: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    /// The file, made when the spool first outgrows memory.
    fn open_file(&self) -> Result<(PathBuf, tokio::fs::File)> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        crate::private_files::restrict_dir(dir)?;
        let path = dir.join(format!("{}.envelope", uuid::Uuid::new_v4()));
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .map_err(|e| Error::io("creating", &path, e))?;
        Ok((path, tokio::fs::File::from_std(file)))
    }

    pub(super) async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.written.update(data);
        let mut earlier = Vec::new();
        if let Place::Memory { data: held, .. } = &mut self.place {
            if held.len() + data.len() <= IN_MEMORY && take_budget(data.len()) {
                // Exactly what is held: the budget counts lengths.
                held.reserve_exact(data.len());
                held.extend_from_slice(data);
                return Ok(());
            }
            // Outgrown (or the budget is spent): what is held goes to the file first. The
            // file is this spool's from here on, so that it is removed whatever happens next.
            let (path, file) = self.open_file()?;
            let Place::Memory { data: held, .. } =
                std::mem::replace(&mut self.place, Place::File { path, file })
            else {
                return Err(Error::Invariant {
                    what: "a spool in memory until it spills",
                });
            };
            give_back(held.len());
            earlier = held;
        }
        match &mut self.place {
            Place::File { path, file } => {
                for piece in [earlier.as_slice(), data] {
                    file.write_all(piece)
                        .await
                        .map_err(|e| Error::io("writing", &*path, e))?;
                }
                Ok(())
            }
            Place::Memory { .. } => Err(Error::Invariant {
                what: "a spool past memory has its file",
            }),
        }
    }

    /// Back to the start, for reading what was written (nothing is written after).
    pub(super) async fn rewind(&mut self) -> Result<()> {
        match &mut self.place {
            Place::Memory { at, .. } => *at = 0,
            Place::File { path, file } => {
                file.flush()
                    .await
                    .map_err(|e| Error::io("writing", &*path, e))?;
                file.seek(SeekFrom::Start(0))
                    .await
                    .map_err(|e| Error::io("reading", &*path, e))?;
            }
        }
        Ok(())
    }

    pub(super) async fn read(
        &mut self,
        n: usize,
        hash: &mut ring::digest::Context,
    ) -> Result<Vec<u8>> {
        let out = match &mut self.place {
            Place::Memory { data, at } => {
                let piece = at
                    .checked_add(n)
                    .and_then(|end| data.get(*at..end))
                    .ok_or_else(|| Error::Integrity("the spooled delivery is short".into()))?
                    .to_vec();
                *at += n;
                piece
            }
            Place::File { path, file } => {
                let mut out = vec![0u8; n];
                file.read_exact(&mut out)
                    .await
                    .map_err(|e| Error::io("reading", &*path, e))?;
                out
            }
        };
        hash.update(&out);
        Ok(out)
    }

    /// The spool file, once the delivery has outgrown memory.
    #[cfg(test)]
    fn path(&self) -> Option<&std::path::Path> {
        match &self.place {
            Place::File { path, .. } => Some(path),
            Place::Memory { .. } => None,
        }
    }
}

/// Removes the spool files a process that died mid-delivery left (older than an hour); run
/// by the node's regular sweep (at start, then every few minutes), not by deliveries.
pub fn remove_stale_files(layout: &Layout) {
    let Ok(entries) = std::fs::read_dir(layout.spool()) else {
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

    /// A small delivery stays in memory: no file, read back as written.
    #[tokio::test]
    async fn a_small_delivery_is_spooled_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let mut s = Spool::create(&layout);
        s.write(b"cipher").await.expect("write");
        s.write(b"text").await.expect("write");
        assert!(s.path().is_none());
        assert!(!layout.spool().exists(), "no spool directory, no file");
        s.rewind().await.expect("rewind");
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        assert_eq!(s.read(6, &mut h).await.expect("read"), b"cipher");
        assert_eq!(s.read(4, &mut h).await.expect("read"), b"text");
        assert!(s.read(1, &mut h).await.is_err(), "nothing past the end");
        assert_eq!(
            h.finish().as_ref(),
            s.written.clone().finish().as_ref(),
            "read back is what was written"
        );
    }

    /// With the process's memory budget spent, even a small delivery spools to a file; a spool
    /// in memory gives its share back when it goes.
    #[tokio::test]
    async fn a_spent_budget_sends_small_deliveries_to_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let mut small = Spool::create(&layout);
        small.write(b"abc").await.expect("write");
        assert!(small.path().is_none());
        let rest = MEMORY_BUDGET - HELD.load(Ordering::Acquire);
        assert!(take_budget(rest), "the rest of the budget");
        let mut other = Spool::create(&layout);
        other.write(b"x").await.expect("write");
        assert!(other.path().is_some(), "no budget left: a file");
        drop(small);
        let mut third = Spool::create(&layout);
        third.write(b"abc").await.expect("write");
        assert!(third.path().is_none(), "the first spool's share came back");
        give_back(rest);
        other.rewind().await.expect("rewind");
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        assert_eq!(other.read(1, &mut h).await.expect("read"), b"x");
    }

    /// The sweep removes spool files older than an hour (a crash's) and leaves younger ones
    /// (deliveries under way).
    #[test]
    fn the_sweep_removes_only_stale_spool_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        remove_stale_files(&layout);
        std::fs::create_dir_all(layout.spool()).expect("mkdir");
        let (old, young) = (
            layout.spool().join("old.envelope"),
            layout.spool().join("young.envelope"),
        );
        for p in [&old, &young] {
            std::fs::write(p, b"ciphertext").expect("write");
        }
        let then = std::time::SystemTime::now() - STALE_SPOOL - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(then))
            .expect("age the file");
        remove_stale_files(&layout);
        assert!(!old.exists(), "a stale spool file is removed");
        assert!(young.exists(), "a delivery's spool under way is left");
    }

    /// Past memory, a spool file is private, holds everything in order and is gone once
    /// dropped.
    #[tokio::test]
    async fn a_spool_file_is_private_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let mut s = Spool::create(&layout);
        let first: Vec<u8> = (0..=250u8).cycle().take(IN_MEMORY).collect();
        s.write(&first).await.expect("write");
        assert!(s.path().is_none(), "exactly the limit stays in memory");
        s.write(b"ciphertext").await.expect("write");
        let path = s.path().expect("spilled to a file").to_path_buf();
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
        assert_eq!(s.read(IN_MEMORY, &mut h).await.expect("read"), first);
        assert_eq!(s.read(10, &mut h).await.expect("read"), b"ciphertext");
        assert_eq!(h.finish().as_ref(), s.written.clone().finish().as_ref());
        drop(s);
        assert!(!path.exists());
    }
}
