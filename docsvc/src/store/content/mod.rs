//! The content store: where letters' encrypted parts live. By default, one append-only file per
//! letter in the data directory (`content/<two hex digits>/<a UUID of its own>`), holding its
//! parts' age payloads one after another, written once (around the page cache where the
//! filesystem allows it: `direct`) and made durable with one `fdatasync` before the letter's
//! transaction commits; each part's age header and the payload's place in
//! the file are a row in the database (`content_files`), so that rewrap and destroy touch only
//! the database. Nodes whose processes share only PostgreSQL keep the whole ciphertext in the
//! database instead (`chunks`), chosen in `node.toml`. Readers find a letter's content in
//! whichever holds it. A letter whose whole ciphertext is under [`INLINE`] stays in the
//! database either way, written in the letter's own transaction.

mod direct;
mod sweep;
mod writer;

use std::os::unix::fs::{DirBuilderExt as _, FileExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Store, Tx, parts};
use crate::{Error, Result};

pub use self::sweep::{ORPHANED, prepare, remove_files, remove_unused, sweep_files};
pub use self::writer::{INLINE, LetterWriter, clear_unfinished};

/// The pieces in which a payload is read back (the size of the database's chunks).
pub const PIECE: usize = 1 << 20;

/// Where new letters' content is written (`content_store` in `node.toml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Files in the data directory (`content/`), indexed in the database.
    #[default]
    Files,
    /// Rows of the database (`chunks`): for nodes whose processes share only the database.
    Database,
}

/// A store's content settings: the data directory's `content/` (for reading, whatever the
/// mode) and whether new letters go there.
#[derive(Clone, Debug, Default)]
pub struct Content {
    dir: Option<PathBuf>,
    mode: Mode,
}

impl Content {
    pub fn new(data_dir: &Path, mode: Mode) -> Self {
        Content {
            dir: Some(data_dir.join("content")),
            mode,
        }
    }

    fn write_dir(&self) -> Option<&Path> {
        match self.mode {
            Mode::Files => self.dir.as_deref(),
            Mode::Database => None,
        }
    }

    fn read_dir(&self) -> Result<&Path> {
        self.dir.as_deref().ok_or_else(|| {
            Error::Database("a letter's content is in files, but no data directory is known".into())
        })
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// The content file `name` under the content directory `dir`. Names are UUIDs this node chose;
/// one read from the database is checked all the same, so that no row names a path outside
/// `dir`.
pub fn file_path(dir: &Path, name: &str) -> Result<PathBuf> {
    let uuid = uuid::Uuid::parse_str(name)
        .map_err(|_| Error::Integrity(format!("content file {name:?} is not a UUID")))?;
    let canonical = uuid.hyphenated().to_string();
    if canonical != name {
        return Err(Error::Integrity(format!(
            "content file {name:?} is not in canonical form"
        )));
    }
    Ok(dir.join(&canonical[..2]).join(canonical))
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task {
            what: "the content store",
            detail: e.to_string(),
        })?
}

/// Makes `dir` and its parent durable entries before a file in `dir` counts on them.
fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().ok_or_else(|| {
        Error::invalid(
            "content directory",
            format!("{} has no parent", dir.display()),
        )
    })?;
    create_dir_durably(parent)?;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io("creating", dir, e)),
    }
    sync_dir(parent)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

enum Source {
    Rows {
        store: Store,
        id: String,
        part: i64,
        seq: i64,
        count: i64,
        /// The whole part, read as it was opened (a small one).
        whole: Option<Vec<u8>>,
    },
    File {
        file: Arc<std::fs::File>,
        path: PathBuf,
        head: Option<Vec<u8>>,
        at: u64,
        end: u64,
    },
}

/// A part's ciphertext read back in pieces; the first holds the age header and the start of
/// the payload.
pub struct PartSource {
    source: Source,
    id: String,
    /// The whole ciphertext's length (age header and payload), as read when opened.
    len: u64,
}

impl std::fmt::Debug for PartSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartSource")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Part `part` of letter `id`, from wherever it is stored; `None` if it is nowhere.
pub async fn open_part(store: &Store, id: &str, part: i64) -> Result<Option<PartSource>> {
    if let Some(row) = parts::file_part(store, id, part).await? {
        let path = file_path(store.content().read_dir()?, &row.file)?;
        let (head, offset, len) = (
            row.head,
            u64::try_from(row.payload_offset)
                .map_err(|_| Error::Integrity("a negative offset".into()))?,
            u64::try_from(row.payload_len)
                .map_err(|_| Error::Integrity("a negative length".into()))?,
        );
        let end = offset
            .checked_add(len)
            .ok_or_else(|| Error::Integrity("a content range past the end".into()))?;
        let p = path.clone();
        let file = blocking(move || {
            std::fs::File::open(&p).map_err(|e| {
                Error::Integrity(format!(
                    "the content file {} cannot be read: {e}",
                    p.display()
                ))
            })
        })
        .await?;
        let whole = (head.len() as u64)
            .checked_add(len)
            .ok_or_else(|| Error::Integrity(format!("letter {id}: part {part} has no length")))?;
        return Ok(Some(PartSource {
            source: Source::File {
                file: Arc::new(file),
                path,
                head: Some(head),
                at: offset,
                end,
            },
            id: id.to_owned(),
            len: whole,
        }));
    }
    let small = i64::try_from(INLINE).map_err(|_| Error::OutOfRange {
        what: "the inline limit",
    })?;
    let (count, bytes, whole) = parts::chunk_stats(store, id, part, small).await?;
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(PartSource {
        source: Source::Rows {
            store: store.clone(),
            id: id.to_owned(),
            part,
            seq: 0,
            count,
            whole,
        },
        id: id.to_owned(),
        len: u64::try_from(bytes)
            .map_err(|_| Error::Integrity(format!("letter {id}: part {part} has no length")))?,
    }))
}

impl PartSource {
    /// How long the ciphertext is (age header and payload), as the pieces should add up to.
    pub fn length(&self) -> u64 {
        self.len
    }

    /// The next piece of ciphertext, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.source {
            Source::Rows {
                store,
                id,
                part,
                seq,
                count,
                whole,
            } => {
                if *seq >= *count {
                    return Ok(None);
                }
                if let Some(chunk) = whole.take() {
                    *seq += 1;
                    return Ok(Some(chunk));
                }
                let chunk = parts::chunk(store, id, *part, *seq).await?.ok_or_else(|| {
                    Error::Integrity(format!("letter {id}: chunk {seq} is missing"))
                })?;
                *seq += 1;
                Ok(Some(chunk))
            }
            Source::File {
                file,
                path,
                head,
                at,
                end,
            } => {
                let head = head.take();
                if head.is_none() && *at >= *end {
                    return Ok(None);
                }
                let n = usize::try_from((*end - *at).min(PIECE as u64)).map_err(|_| {
                    Error::OutOfRange {
                        what: "a content piece",
                    }
                })?;
                let (f, p, from, id) = (Arc::clone(file), path.clone(), *at, self.id.clone());
                let piece = blocking(move || {
                    let mut out = head.unwrap_or_default();
                    let start = out.len();
                    out.resize(start + n, 0);
                    f.read_exact_at(&mut out[start..], from).map_err(|e| {
                        Error::Integrity(format!(
                            "letter {id}: its content file {} is short or unreadable: {e}",
                            p.display()
                        ))
                    })?;
                    Ok(out)
                })
                .await?;
                *at += n as u64;
                Ok(Some(piece))
            }
        }
    }
}

/// The whole ciphertext of part `part` of letter `id`, joined (for letters small enough to be
/// sent whole).
pub async fn part_bytes(store: &Store, id: &str, part: i64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut src = open_part(store, id, part)
        .await?
        .ok_or_else(|| Error::Integrity(format!("letter {id}: part {part} is missing")))?;
    while let Some(piece) = src.next().await? {
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// The age header of part `part` of letter `id` (with the payload's start, where the content
/// is in rows), as [`set_head`] takes it back.
pub async fn head(store: &Store, id: &str, part: i64) -> Result<Option<Vec<u8>>> {
    if let Some(row) = parts::file_part(store, id, part).await? {
        return Ok(Some(row.head));
    }
    parts::first_chunk(store, id, part).await
}

/// Replaces what [`head`] gave (a re-wrapped header): the database alone changes.
pub async fn set_head(tx: &mut Tx, id: &str, part: i64, head: &[u8]) -> Result<()> {
    parts::set_head(tx, id, part, head).await
}

/// Deletes letter `id`'s content in the letter's transaction: its headers (without which its
/// file cannot be decrypted) or its rows. Returns its files, for [`remove_files`] after the
/// commit.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<Vec<String>> {
    let files = parts::files_of(tx, id).await?;
    parts::delete_ciphertext(tx, id).await?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_never_names_a_path_outside_the_directory() {
        let dir = Path::new("/data/content");
        let id = "0b3c8f4e-1d2a-4c5b-9e6f-7a8b9c0d1e2f";
        assert_eq!(
            file_path(dir, id).expect("a canonical UUID"),
            dir.join("0b").join(id),
            "a canonical UUID is its own file name"
        );
        for bad in [
            "../../etc/passwd",
            "0b/../../x",
            "",
            "0B3C8F4E-1D2A-4C5B-9E6F-7A8B9C0D1E2F",
            "0b3c8f4e1d2a4c5b9e6f7a8b9c0d1e2f",
        ] {
            assert!(file_path(dir, bad).is_err(), "{bad:?} was taken");
        }
    }
}
