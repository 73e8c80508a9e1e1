//! Writing a letter's file around the page cache (`O_DIRECT`): the ciphertext goes from one
//! aligned staging buffer straight to the disk. Buffered writes copy every byte into the page
//! cache first, which cost a large letter's ingest about a fifth of its CPU on a 2-core node
//! (`docsvc bench --only ingest`). Direct writes must be whole aligned blocks at aligned
//! offsets, so the tail is padded and the file cut back to its length before its sync.

use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The alignment of buffers, offsets and lengths: a 4 KiB block suits every disk that takes
/// direct writes (512-byte sectors included).
const ALIGN: usize = 4096;

/// How much is staged before one write: large enough that the disk sees long writes.
const STAGED: usize = 1 << 20;

/// Creates `path` (which must not exist) for writing, direct where its filesystem allows it:
/// the file, and a staging buffer when its writes go around the page cache.
pub(super) fn create(path: &Path) -> std::io::Result<(std::fs::File, Option<Staging>)> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).mode(0o600);
    match open
        .clone()
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok((f, Some(Staging::new(path)))),
        // A filesystem without direct I/O may still have created the file: open it as it is
        // (its name is fresh, so it is this writer's own).
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let f = open.create(true).open(path)?;
            Ok((f, None))
        }
        Err(e) => Err(e),
    }
}

/// Ciphertext waiting for a whole block, in an aligned window of its own vector (aligned
/// without `unsafe`: the window starts where the vector's memory is aligned).
pub(super) struct Staging {
    path: std::path::PathBuf,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// Where the next block goes in the file: everything before it is written.
    written: u64,
    /// The file opened again without `O_DIRECT`, once a direct write was refused (a disk
    /// whose direct writes need a larger alignment accepts the open and refuses the writes).
    buffered: Option<std::fs::File>,
}

impl Staging {
    fn new(path: &Path) -> Self {
        let buf = vec![0u8; STAGED + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Staging {
            path: path.to_owned(),
            buf,
            start,
            filled: 0,
            written: 0,
            buffered: None,
        }
    }

    /// Appends `data`, writing each staging buffer that fills.
    pub(super) fn write(&mut self, f: &std::fs::File, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let take = (STAGED - self.filled).min(data.len());
            let at = self.start + self.filled;
            self.buf[at..at + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == STAGED {
                self.flush(f, STAGED)?;
            }
        }
        Ok(())
    }

    /// Writes what is staged, padded to a whole block, and cuts the file back to `len`.
    pub(super) fn finish(&mut self, f: &std::fs::File, len: u64) -> std::io::Result<()> {
        if self.filled > 0 {
            let padded = self.filled.next_multiple_of(ALIGN);
            let from = self.start + self.filled;
            self.buf[from..self.start + padded].fill(0);
            self.flush(f, padded)?;
        }
        if self.written < len {
            return Err(std::io::Error::other(
                "direct writes fell short of the letter's length",
            ));
        }
        // Either descriptor names the same file: its length and its sync are the file's.
        self.buffered.as_ref().unwrap_or(f).set_len(len)
    }

    fn flush(&mut self, f: &std::fs::File, len: usize) -> std::io::Result<()> {
        let block = &self.buf[self.start..self.start + len];
        match &self.buffered {
            Some(b) => b.write_all_at(block, self.written)?,
            None => match f.write_all_at(block, self.written) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    let b = std::fs::OpenOptions::new().write(true).open(&self.path)?;
                    b.write_all_at(block, self.written)?;
                    self.buffered = Some(b);
                }
                Err(e) => return Err(e),
            },
        }
        self.written += len as u64;
        self.filled = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ALIGN, STAGED, create};

    /// Whatever the filesystem, the file holds exactly the bytes written, however they were
    /// cut: across staging buffers, with an unaligned tail, and empty.
    #[test]
    fn a_file_holds_exactly_what_was_written() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for (n, len) in [
            0usize,
            1,
            ALIGN - 1,
            ALIGN,
            STAGED + 17,
            3 * STAGED + ALIGN + 5,
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("f{n}"));
            let (f, staging) = create(&path)?;
            let data: Vec<u8> = (0..len).map(|i| (i % 251).to_le_bytes()[0]).collect();
            match staging {
                Some(mut s) => {
                    // In uneven pieces, as age's chunks come.
                    for piece in data.chunks(65_552) {
                        s.write(&f, piece)?;
                    }
                    s.finish(&f, len as u64)?;
                }
                None => std::io::Write::write_all(&mut &f, &data)?,
            }
            f.sync_data()?;
            assert_eq!(std::fs::read(&path)?, data, "length {len}");
        }
        assert!(
            create(&dir.path().join("f0")).is_err(),
            "an existing file is refused"
        );
        Ok(())
    }

    /// A direct write the disk refuses (here: a length no disk takes directly) goes through
    /// the file opened again without `O_DIRECT`, and the file still holds exactly the bytes.
    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let (f, staging) = create(&path)?;
        let Some(mut s) = staging else {
            eprintln!("this filesystem takes no direct writes: nothing to refuse");
            return Ok(());
        };
        let data: Vec<u8> = (0..3 * ALIGN + 100)
            .map(|i| (i % 251).to_le_bytes()[0])
            .collect();
        s.write(&f, &data[..100])?;
        s.flush(&f, 100)?;
        assert!(s.buffered.is_some(), "an unaligned direct write is refused");
        s.write(&f, &data[100..])?;
        s.finish(&f, data.len() as u64)?;
        f.sync_data()?;
        assert_eq!(std::fs::read(&path)?, data);
        Ok(())
    }
}
