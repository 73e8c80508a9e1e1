//! The content store's files in a backup: copied as the snapshot's `content_files` rows name
//! them (a file is complete and durable before any row names it, and never changes after), and
//! written back at their offsets on restore.

use std::path::Path;

use crate::ops::backup_schema::Table;
use crate::store::backup::Value;
use crate::{Error, Result};

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// The file a `content_files` row names and where the part it places ends.
pub(crate) fn content_extent(t: &Table, values: &[Value]) -> Result<(String, u64)> {
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|(c, _)| c == name)
            .and_then(|i| values.get(i))
    };
    let (
        Some(Value::Text(Some(file))),
        Some(Value::Int(Some(offset))),
        Some(Value::Int(Some(len))),
    ) = (col("file"), col("payload_offset"), col("payload_len"))
    else {
        return Err(Error::Integrity(
            "a content_files row without its place".into(),
        ));
    };
    let end = offset
        .checked_add(*len)
        .and_then(|e| u64::try_from(e).ok())
        .ok_or_else(|| Error::Integrity("a content_files row past any file's end".into()))?;
    Ok((file.clone(), end))
}

/// Copies the first `end` bytes of content file `name` into the backup, in pieces.
pub(crate) fn copy_content<W>(
    dir: &Path,
    name: &str,
    end: u64,
    w: &mut W,
    piece_out: impl Fn(&str, u64, &[u8], &mut W) -> Result<()>,
) -> Result<u64> {
    let path = crate::store::content::file_path(dir, name)?;
    let file = std::fs::File::open(&path).map_err(|e| {
        Error::Integrity(format!(
            "the content file {} is gone (a letter destroyed while the backup ran?); run the \
             backup again: {e}",
            path.display()
        ))
    })?;
    let mut offset = 0u64;
    let mut piece = vec![0u8; crate::store::content::PIECE];
    while offset < end {
        let n = usize::try_from((end - offset).min(piece.len() as u64)).map_err(|_| {
            Error::OutOfRange {
                what: "a content piece",
            }
        })?;
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut piece[..n], offset)
            .map_err(io("reading", &path))?;
        piece_out(name, offset, &piece[..n], w)?;
        offset += n as u64;
    }
    Ok(end)
}

/// The content store's files as a restore writes them: pieces at their offsets, each file
/// synced before the next, and the directories after.
pub(crate) struct ContentRestore {
    dir: std::path::PathBuf,
    open: Option<(String, std::fs::File)>,
}

impl ContentRestore {
    pub(crate) fn new(target: &Path) -> Self {
        ContentRestore {
            dir: target.join("content"),
            open: None,
        }
    }

    pub(crate) fn write(&mut self, name: &str, offset: u64, bytes: &[u8]) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let path = crate::store::content::file_path(&self.dir, name)?;
        if self.open.as_ref().is_none_or(|(n, _)| n != name) {
            self.sync_open()?;
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io("creating", parent))?;
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(io("creating", &path))?;
            self.open = Some((name.to_owned(), f));
        }
        if let Some((_, f)) = &self.open {
            std::os::unix::fs::FileExt::write_all_at(f, bytes, offset)
                .map_err(io("writing", &path))?;
        }
        Ok(())
    }

    fn sync_open(&mut self) -> Result<()> {
        if let Some((name, f)) = self.open.take() {
            f.sync_all()
                .map_err(|e| Error::io("syncing", self.dir.join(name), e))?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.sync_open()?;
        let Ok(subs) = std::fs::read_dir(&self.dir) else {
            return Ok(()); // no content files
        };
        for sub in subs.flatten() {
            let p = sub.path();
            std::fs::File::open(&p)
                .and_then(|d| d.sync_all())
                .map_err(io("syncing", &p))?;
        }
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", &self.dir))
    }
}
