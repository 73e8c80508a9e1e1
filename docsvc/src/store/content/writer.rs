//! Writing a letter's content: held in memory while small, then to its file in the content
//! store or to the database's rows.

use std::io::Write as _;
use std::path::PathBuf;

use super::{blocking, create_dir_durably, file_path, io, parts, remove_unused, sync_dir};
use crate::store::script::Script;
use crate::store::{Store, Tx};
use crate::{Error, Result};

/// Letters whose whole ciphertext is this small stay in the database, written in the letter's
/// own transaction: no upload mark, no file, no sync of their own (SQLite reads blobs this size
/// faster from the database than from files, and most letters are this size).
pub const INLINE: usize = 96 * 1024;

/// Where a part's payload sits in its letter's file.
struct FilePart {
    part: i64,
    head: Vec<u8>,
    offset: u64,
    len: u64,
}

/// A chunk held in memory while the letter may still be small enough to stay inline.
struct HeldChunk {
    part: i64,
    seq: i64,
    data: Vec<u8>,
    /// For a part's first chunk: how long its age header is.
    header_len: Option<usize>,
}

enum Sink {
    /// Nothing written yet: under [`INLINE`] bytes, held in memory.
    Held {
        chunks: Vec<HeldChunk>,
        bytes: usize,
    },
    File {
        /// Taken while a blocking write holds it.
        file: Option<std::fs::File>,
        path: PathBuf,
        at: u64,
        parts: Vec<FilePart>,
        /// A sync of what was written so far, running beside the writes, and where it began.
        syncing: Option<(tokio::task::JoinHandle<std::io::Result<()>>, u64)>,
        /// Where the last sync that finished began (only to pace the syncs: with direct
        /// writes, up to a staging buffer of it may not be written yet; `seal` makes all of it
        /// durable).
        synced: u64,
        /// Whole blocks around the page cache, where the filesystem allows it. (Taken while a
        /// blocking write holds it.)
        direct: Option<super::direct::Staging>,
    },
    Rows {
        /// Chunks commit in groups: one durable write per 16 MiB, not per chunk. (In a mutex
        /// only so that the writer is `Sync`; reached through `get_mut`, never locked.)
        tx: std::sync::Mutex<Option<Tx>>,
        written: u64,
    },
}

/// How much is written unsynced before a sync starts beside the writes: the disk works while
/// the letter is still being encrypted, and the sync in `seal` has only the rest to flush.
const SYNC_AHEAD: u64 = 32 << 20;

/// How much is written between two notes that an upload is still under way.
const TOUCH_EVERY: u64 = 64 << 20;

/// A letter's parts being written, part after part. A small letter is held in memory and
/// written in the letter's transaction; a larger one is marked as an upload first, so that a
/// crash at any point leaves something the sweep recognises as abandoned.
pub struct LetterWriter {
    store: Store,
    id: String,
    started_at: String,
    /// The upload's mark once there is one: the file's name, or the letter's id where it goes
    /// to rows.
    key: Option<String>,
    sink: Sink,
    part: i64,
    seq: i64,
}

impl std::fmt::Debug for LetterWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LetterWriter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Integrity("a poisoned content writer".into())
}

impl LetterWriter {
    /// A writer for letter `id`, whose upload starts at `started_at`. Nothing is written yet.
    pub fn start(store: &Store, id: &str, started_at: &str) -> Self {
        LetterWriter {
            store: store.clone(),
            id: id.to_owned(),
            started_at: started_at.to_owned(),
            key: None,
            sink: Sink::Held {
                chunks: Vec::new(),
                bytes: 0,
            },
            part: 0,
            seq: 0,
        }
    }

    /// The first ciphertext chunk of part `part`: its age header (the first `header_len`
    /// bytes) and the start of its payload.
    pub async fn begin_part(&mut self, part: i64, first: Vec<u8>, header_len: usize) -> Result<()> {
        if header_len > first.len() {
            return Err(Error::Integrity(
                "an age header longer than its chunk".into(),
            ));
        }
        self.part = part;
        self.seq = 0;
        self.push(first, Some(header_len)).await
    }

    /// More of the current part's ciphertext.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        self.push(data, None).await
    }

    async fn push(&mut self, data: Vec<u8>, header_len: Option<usize>) -> Result<()> {
        let (part, seq) = (self.part, self.seq);
        self.seq += 1;
        if let Sink::Held { chunks, bytes } = &mut self.sink {
            *bytes += data.len();
            chunks.push(HeldChunk {
                part,
                seq,
                data,
                header_len,
            });
            if *bytes <= INLINE {
                return Ok(());
            }
            return self.spill().await;
        }
        self.put(part, seq, data, header_len).await
    }

    /// Too large to stay inline: the upload is marked, its file (or first rows) written.
    async fn spill(&mut self) -> Result<()> {
        let held = std::mem::replace(
            &mut self.sink,
            Sink::Held {
                chunks: Vec::new(),
                bytes: 0,
            },
        );
        let Sink::Held { chunks, .. } = held else {
            return Err(Error::Integrity("a content writer spilled twice".into()));
        };
        self.sink = self.open_sink().await?;
        for c in chunks {
            self.put(c.part, c.seq, c.data, c.header_len).await?;
        }
        Ok(())
    }

    async fn open_sink(&mut self) -> Result<Sink> {
        let store = &self.store;
        let dir = store.content().write_dir();
        // A file named afresh: a sender's retry, or a second copy of one letter in flight,
        // never meets the first's file.
        let key = match dir {
            Some(_) => uuid::Uuid::new_v4().hyphenated().to_string(),
            None => self.id.clone(),
        };
        parts::start_upload(store, &key, &self.started_at).await?;
        self.key = Some(key.clone());
        let Some(dir) = dir else {
            return Ok(Sink::Rows {
                tx: std::sync::Mutex::new(None),
                written: 0,
            });
        };
        let path = file_path(dir, &key)?;
        let p = path.clone();
        let (file, direct) = blocking(move || {
            if let Some(parent) = p.parent() {
                create_dir_durably(parent)?;
            }
            super::direct::create(&p).map_err(io("creating", &p))
        })
        .await?;
        Ok(Sink::File {
            file: Some(file),
            path,
            at: 0,
            parts: Vec::new(),
            syncing: None,
            synced: 0,
            direct,
        })
    }

    /// Writes a chunk where the letter is going.
    async fn put(
        &mut self,
        part: i64,
        seq: i64,
        mut data: Vec<u8>,
        header_len: Option<usize>,
    ) -> Result<()> {
        match &mut self.sink {
            Sink::Held { .. } => Err(Error::Integrity("a held chunk put nowhere".into())),
            Sink::File {
                file,
                path,
                at,
                parts,
                syncing,
                synced,
                direct,
            } => {
                if let Some(h) = header_len {
                    parts.push(FilePart {
                        part,
                        head: data[..h].to_vec(),
                        offset: *at,
                        len: 0,
                    });
                    data.drain(..h);
                }
                let current = parts
                    .last_mut()
                    .ok_or_else(|| Error::Integrity("content written before its part".into()))?;
                let mut f = file
                    .take()
                    .ok_or_else(|| Error::Integrity("a content write that failed before".into()))?;
                let p = path.clone();
                let n = data.len() as u64;
                let staged = direct.take();
                let (f, staged) = blocking(move || {
                    if let Some(mut s) = staged {
                        s.write(&f, &data).map_err(io("writing", &p))?;
                        return Ok((f, Some(s)));
                    }
                    f.write_all(&data).map_err(io("writing", &p))?;
                    Ok((f, None))
                })
                .await?;
                *direct = staged;
                let crossed = (*at + n) / TOUCH_EVERY > *at / TOUCH_EVERY;
                *at += n;
                current.len += n;
                sync_ahead(&f, path, *at, syncing, synced).await?;
                *file = Some(f);
                if let (true, Some(key)) = (crossed, &self.key) {
                    parts::touch_upload(self.store.pool(), key, &crate::now_rfc3339()).await?;
                }
                Ok(())
            }
            Sink::Rows { tx, written } => {
                let tx = tx.get_mut().map_err(poisoned)?;
                if tx.is_none() {
                    *tx = Some(self.store.begin().await?);
                }
                if let Some(t) = tx.as_mut() {
                    parts::insert_chunk(t, &self.id, part, seq, &data).await?;
                }
                *written += 1;
                if *written % 16 == 0 {
                    if let Some(mut t) = tx.take() {
                        if let Some(key) = &self.key {
                            parts::touch_upload(&mut *t, key, &crate::now_rfc3339()).await?;
                        }
                        t.commit().await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Makes everything written durable (the file's data and its directory entry; or the last
    /// group of rows), before the letter's transaction may name it. A letter held in memory
    /// becomes durable with that transaction.
    pub async fn seal(&mut self) -> Result<()> {
        match &mut self.sink {
            Sink::Held { .. } => Ok(()),
            Sink::File {
                file,
                path,
                syncing,
                at,
                direct,
                ..
            } => {
                let f = file
                    .take()
                    .ok_or_else(|| Error::Integrity("a content write that failed before".into()))?;
                if let Some((running, _)) = syncing.take() {
                    finished(running, path).await?;
                }
                let (p, len, staged) = (path.clone(), *at, direct.take());
                let f = blocking(move || {
                    if let Some(mut s) = staged {
                        s.finish(&f, len).map_err(io("writing", &p))?;
                    }
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
                let tx = tx.get_mut().map_err(poisoned)?;
                if let Some(t) = tx.take() {
                    t.commit().await?;
                }
                Ok(())
            }
        }
    }

    /// For a small letter held in memory (with no upload mark): its chunks, as statements of
    /// `s` in the letter's transaction. False for any other, which [`Self::record`] writes.
    pub fn record_held(&self, s: &mut Script) -> bool {
        let (Sink::Held { chunks, .. }, None) = (&self.sink, &self.key) else {
            return false;
        };
        for c in chunks {
            parts::push_chunk(s, &self.id, c.part, c.seq, &c.data);
        }
        true
    }

    /// In the letter's transaction: a small letter's chunks; or where each part is in its
    /// file, and the end of the upload.
    pub async fn record(&self, tx: &mut Tx) -> Result<()> {
        match &self.sink {
            Sink::Held { chunks, .. } => {
                for c in chunks {
                    parts::insert_chunk(tx, &self.id, c.part, c.seq, &c.data).await?;
                }
            }
            Sink::File { parts: written, .. } => {
                let key = self
                    .key
                    .as_deref()
                    .ok_or_else(|| Error::Integrity("a content file with no name".into()))?;
                for p in written {
                    parts::insert_file_part(tx, &self.id, p.part, key, &p.head, (p.offset, p.len))
                        .await?;
                }
            }
            Sink::Rows { .. } => {}
        }
        match &self.key {
            Some(key) => parts::finish_upload(tx, key).await,
            None => Ok(()),
        }
    }

    /// Removes what was written for a letter that will not be stored: never what a stored
    /// letter names (a commit may have failed in its answer only).
    pub async fn abort(mut self) {
        // Best effort: what is left is swept once the upload counts as abandoned.
        if let Sink::Rows { tx, .. } = &mut self.sink {
            if let Ok(t) = tx.get_mut() {
                drop(t.take());
            }
        }
        if let Some(key) = &self.key {
            let _ = parts::delete_upload(&self.store, key).await;
            if matches!(self.sink, Sink::File { .. }) {
                remove_unused(&self.store, key).await;
            }
        }
    }
}

/// Before a letter that is not here is received again: what an earlier attempt left in the
/// database's chunks, if it started before `cutoff` (abandoned); one started since may still
/// be under way, and the sender is asked to come back. (Files are never shared: each attempt
/// writes its own.)
pub async fn clear_unfinished(store: &Store, id: &str, cutoff: &str) -> Result<()> {
    // Writing to files, no mark is keyed by a letter's id: nothing to ask the database.
    if store.content().write_dir().is_some() {
        return Ok(());
    }
    match parts::upload_started(store, id).await? {
        None => Ok(()),
        Some(started) if started.as_str() < cutoff => {
            parts::sweep_upload(store, id).await?;
            Ok(())
        }
        Some(_) => Err(Error::Busy(format!(
            "letter {id} is being received already; try again later"
        ))),
    }
}

/// Starts a sync of the file beside the writes once `SYNC_AHEAD` bytes are unsynced and the
/// last one finished (its failure fails the letter: after a failed sync the kernel may have
/// dropped the pages, and a later sync would not say so).
async fn sync_ahead(
    f: &std::fs::File,
    path: &std::path::Path,
    at: u64,
    syncing: &mut Option<(tokio::task::JoinHandle<std::io::Result<()>>, u64)>,
    synced: &mut u64,
) -> Result<()> {
    if let Some((running, from)) = syncing.take() {
        if !running.is_finished() {
            *syncing = Some((running, from));
            return Ok(());
        }
        finished(running, path).await?;
        *synced = from;
    }
    if at - *synced >= SYNC_AHEAD {
        let clone = f.try_clone().map_err(io("opening again", path))?;
        *syncing = Some((tokio::task::spawn_blocking(move || clone.sync_data()), at));
    }
    Ok(())
}

/// The outcome of a sync started by [`sync_ahead`].
async fn finished(
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    path: &std::path::Path,
) -> Result<()> {
    running
        .await
        .map_err(|e| Error::Task {
            what: "the content store",
            detail: e.to_string(),
        })?
        .map_err(io("syncing", path))
}
