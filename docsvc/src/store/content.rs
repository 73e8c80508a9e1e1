//! The content store: where letters' encrypted parts live. By default, one append-only file per
//! letter in the data directory (`content/<two hex digits>/<a UUID of its own>`), holding its
//! parts' age payloads one after another, written once and made durable with one `fdatasync`
//! before the letter's transaction commits; each part's age header and the payload's place in
//! the file are a row in the database (`content_files`), so that rewrap and destroy touch only
//! the database. Nodes whose processes share only PostgreSQL keep the whole ciphertext in the
//! database instead (`chunks`), chosen in `node.toml`. Readers find a letter's content in
//! whichever holds it.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Store, Tx, parts};
use crate::{Error, Result};

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

/// Where a part's payload sits in its letter's file.
struct FilePart {
    part: i64,
    head: Vec<u8>,
    offset: u64,
    len: u64,
}

enum Sink {
    File {
        /// Taken while a blocking write holds it.
        file: Option<std::fs::File>,
        path: PathBuf,
        at: u64,
        parts: Vec<FilePart>,
    },
    Rows {
        /// Chunks commit in groups: one durable write per 16 MiB, not per chunk. (In a mutex
        /// only so that the writer is `Sync`; reached through `get_mut`, never locked.)
        tx: std::sync::Mutex<Option<Tx>>,
        part: i64,
        seq: i64,
    },
}

/// A letter's parts being written, part after part. Marked as an upload first, so that a
/// crash at any point leaves something the sweep recognises as abandoned.
pub struct LetterWriter {
    store: Store,
    id: String,
    /// The upload's mark: the file's name, or the letter's id where it goes to rows.
    key: String,
    sink: Sink,
}

impl std::fmt::Debug for LetterWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LetterWriter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LetterWriter {
    pub async fn start(store: &Store, id: &str, started_at: &str) -> Result<Self> {
        let dir = store.content().write_dir();
        // A file named afresh: a sender's retry, or a second copy of one letter in flight,
        // never meets the first's file.
        let key = match dir {
            Some(_) => uuid::Uuid::new_v4().hyphenated().to_string(),
            None => id.to_owned(),
        };
        parts::start_upload(store, &key, started_at).await?;
        let sink = match dir {
            Some(dir) => {
                let path = file_path(dir, &key)?;
                let p = path.clone();
                let file = blocking(move || {
                    if let Some(parent) = p.parent() {
                        create_dir_durably(parent)?;
                    }
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&p)
                        .map_err(io("creating", &p))
                })
                .await;
                match file {
                    Ok(f) => Sink::File {
                        file: Some(f),
                        path,
                        at: 0,
                        parts: Vec::new(),
                    },
                    Err(e) => {
                        let _ = parts::delete_upload(store, &key).await;
                        return Err(e);
                    }
                }
            }
            None => Sink::Rows {
                tx: std::sync::Mutex::new(None),
                part: 0,
                seq: 0,
            },
        };
        Ok(LetterWriter {
            store: store.clone(),
            id: id.to_owned(),
            key,
            sink,
        })
    }

    /// The first ciphertext chunk of part `part`: its age header (the first `header_len`
    /// bytes) and the start of its payload.
    pub async fn begin_part(&mut self, part: i64, first: Vec<u8>, header_len: usize) -> Result<()> {
        if header_len > first.len() {
            return Err(Error::Integrity(
                "an age header longer than its chunk".into(),
            ));
        }
        match &mut self.sink {
            Sink::File { at, parts, .. } => {
                parts.push(FilePart {
                    part,
                    head: first[..header_len].to_vec(),
                    offset: *at,
                    len: 0,
                });
                let mut payload = first;
                payload.drain(..header_len);
                self.write(payload).await
            }
            Sink::Rows { part: p, seq, .. } => {
                *p = part;
                *seq = 0;
                self.write_row(first).await
            }
        }
    }

    /// More of the current part's ciphertext.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        match &mut self.sink {
            Sink::File {
                file,
                path,
                at,
                parts,
            } => {
                let current = parts
                    .last_mut()
                    .ok_or_else(|| Error::Integrity("content written before its part".into()))?;
                let mut f = file
                    .take()
                    .ok_or_else(|| Error::Integrity("a content write that failed before".into()))?;
                let p = path.clone();
                let n = data.len() as u64;
                let f = blocking(move || {
                    f.write_all(&data).map_err(io("writing", &p))?;
                    Ok(f)
                })
                .await?;
                *file = Some(f);
                *at += n;
                current.len += n;
                Ok(())
            }
            Sink::Rows { .. } => self.write_row(data).await,
        }
    }

    async fn write_row(&mut self, data: Vec<u8>) -> Result<()> {
        let Sink::Rows { tx, part, seq } = &mut self.sink else {
            return Err(Error::Integrity("a row written to a file".into()));
        };
        let tx = tx
            .get_mut()
            .map_err(|_| Error::Integrity("a poisoned writer".into()))?;
        if tx.is_none() {
            *tx = Some(self.store.begin().await?);
        }
        if let Some(t) = tx.as_mut() {
            parts::insert_chunk(t, &self.id, *part, *seq, &data).await?;
        }
        *seq += 1;
        if *seq % 16 == 0 {
            if let Some(t) = tx.take() {
                t.commit().await?;
            }
        }
        Ok(())
    }

    /// Makes everything written durable (the file's data and its directory entry; or the last
    /// group of rows), before the letter's transaction may name it.
    pub async fn seal(&mut self) -> Result<()> {
        match &mut self.sink {
            Sink::File { file, path, .. } => {
                let f = file
                    .take()
                    .ok_or_else(|| Error::Integrity("a content write that failed before".into()))?;
                let p = path.clone();
                let f = blocking(move || {
                    f.sync_data().map_err(io("syncing", &p))?;
                    if let Some(parent) = p.parent() {
                        sync_dir(parent)?;
                    }
                    Ok(f)
                })
                .await?;
                *file = Some(f);
                Ok(())
            }
            Sink::Rows { tx, .. } => {
                let tx = tx
                    .get_mut()
                    .map_err(|_| Error::Integrity("a poisoned writer".into()))?;
                if let Some(t) = tx.take() {
                    t.commit().await?;
                }
                Ok(())
            }
        }
    }

    /// In the letter's transaction: where each part is, and the end of the upload.
    pub async fn record(&self, tx: &mut Tx) -> Result<()> {
        if let Sink::File { parts: written, .. } = &self.sink {
            for p in written {
                parts::insert_file_part(
                    tx,
                    &self.id,
                    p.part,
                    &self.key,
                    &p.head,
                    (p.offset, p.len),
                )
                .await?;
            }
        }
        parts::finish_upload(tx, &self.key).await
    }

    /// Removes what was written for a letter that will not be stored.
    pub async fn abort(mut self) {
        // Best effort: what is left is swept once the upload counts as abandoned.
        if let Sink::Rows { tx, .. } = &mut self.sink {
            if let Ok(t) = tx.get_mut() {
                drop(t.take());
            }
        }
        if let Sink::File { path, .. } = &self.sink {
            let _ = std::fs::remove_file(path);
        }
        let _ = parts::delete_upload(&self.store, &self.key).await;
    }
}

/// Before a letter that is not here is received again: what an earlier attempt left in the
/// database's chunks, if it started before `cutoff` (abandoned); one started since may still
/// be under way, and the sender is asked to come back. (Files are never shared: each attempt
/// writes its own.)
pub async fn clear_unfinished(store: &Store, id: &str, cutoff: &str) -> Result<()> {
    match parts::upload_started(store, id).await? {
        None => Ok(()),
        Some(started) if started.as_str() < cutoff => {
            parts::sweep_upload(store, id).await?;
            Ok(())
        }
        Some(_) => Err(Error::Conflict(format!(
            "letter {id} is being received already; try again later"
        ))),
    }
}

enum Source {
    Rows {
        store: Store,
        id: String,
        part: i64,
        seq: i64,
        count: i64,
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
        return Ok(Some(PartSource {
            source: Source::File {
                file: Arc::new(file),
                path,
                head: Some(head),
                at: offset,
                end,
            },
            id: id.to_owned(),
        }));
    }
    let count = parts::chunk_count(store, id, part).await?;
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
        },
        id: id.to_owned(),
    }))
}

impl PartSource {
    /// The next piece of ciphertext, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.source {
            Source::Rows {
                store,
                id,
                part,
                seq,
                count,
            } => {
                if *seq >= *count {
                    return Ok(None);
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

/// How long the ciphertext of part `part` of letter `id` is (age header and payload), as
/// [`PartSource`] yields it.
pub async fn part_len(store: &Store, id: &str, part: i64) -> Result<u64> {
    let n = match parts::file_part(store, id, part).await? {
        Some(row) => i64::try_from(row.head.len())
            .ok()
            .and_then(|h| h.checked_add(row.payload_len)),
        None => Some(parts::chunk_bytes(store, id, part).await?),
    };
    n.and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Error::Integrity(format!("letter {id}: part {part} has no length")))
}

/// The whole ciphertext of part `part` of letter `id`, joined (for letters small enough to be
/// sent whole).
pub async fn part_bytes(store: &Store, id: &str, part: i64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(mut src) = open_part(store, id, part).await? {
        while let Some(piece) = src.next().await? {
            out.extend_from_slice(&piece);
        }
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

/// Removes the files that belong to no letter's rows and no upload in progress (an upload's
/// mark is written before its file, so a file being written is never taken). Returns how many.
pub async fn sweep_files(store: &Store) -> Result<u64> {
    let Ok(dir) = store.content().read_dir() else {
        return Ok(0);
    };
    let dir = dir.to_owned();
    let names = blocking(move || {
        let mut names = Vec::new();
        let Ok(top) = std::fs::read_dir(&dir) else {
            return Ok(names);
        };
        for sub in top.flatten() {
            for f in std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                names.push(f.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    })
    .await?;
    let mut removed = 0;
    for name in names {
        if file_path(Path::new(""), &name).is_err() {
            continue;
        }
        if !parts::content_in_use(store, &name).await? {
            remove_file(store, &name).await;
            removed += 1;
        }
    }
    Ok(removed)
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
