//! age v1 encryption and decryption of a part, written here rather than through the age
//! crate's `StreamWriter` and reader. Writing: each 64 KiB chunk is sealed once, in place, in
//! the buffer that goes to the store, by ring's ChaCha20-Poly1305 (the crate copies every byte
//! three times and seals with a slower implementation; ingest was bound by it). Reading: the
//! ciphertext is taken as it comes, a piece at a time, so a part is decrypted in short steps
//! and no thread waits on a slow reader or a slow source (the crate's reader is a blocking
//! `Read`, which held a thread for as long as its reader took).
//!
//! The format is age's own (<https://age-encryption.org/v1>): the header from
//! [`super::envelope`], a 16-byte payload nonce, then STREAM chunks under
//! `HKDF-SHA-256(file key, salt = nonce, "payload")` with the nonce
//! `counter (11 bytes, big-endian) || last-chunk flag`. The tests hold both sides to the age
//! crate and the age CLI.

use bytes::{Buf as _, Bytes, BytesMut};
use ring::aead::{self, Aad, LessSafeKey, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::mpsc;
use zeroize::Zeroize;

use super::envelope::{CHUNK, Header, header_for, header_mac_key, parse_header};
use crate::{Error, Result};

/// Plaintext bytes in each STREAM chunk.
const PLAIN: usize = 64 * 1024;
/// ChaCha20-Poly1305's tag.
const TAG: usize = 16;
/// A whole STREAM chunk as stored: its plaintext sealed, and its tag.
const SEALED: usize = PLAIN + TAG;
/// The payload nonce's length.
const NONCE: usize = 16;
/// The most a part's header may take before its payload: far beyond a header to every
/// custodian and level key, and read no further when its end is not found.
const MAX_HEADER: usize = 256 * 1024;
/// The MAC line ("--- ", 43 characters of base64, a newline) and some room: no longer is read
/// for its end.
const MAC_LINE: usize = 64;
/// The most stanzas a part's header may have: a part is written to its level's archive keys
/// (every version the node keeps), far fewer.
const MAX_STANZAS: usize = 128;

/// The payload key: `HKDF-SHA-256(file key, salt = nonce, "payload")`.
fn payload_key(file_key: &age_core::format::FileKey, nonce: &[u8]) -> Result<LessSafeKey> {
    use age_core::secrecy::ExposeSecret;
    let prk =
        ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, nonce).extract(file_key.expose_secret());
    let okm = prk
        .expand(&[b"payload"], &aead::CHACHA20_POLY1305)
        .map_err(|_| Error::Crypto {
            op: "deriving age's payload key",
            detail: "HKDF refused the output length".into(),
        })?;
    Ok(LessSafeKey::new(aead::UnboundKey::from(okm)))
}

/// STREAM's nonce for chunk `counter`: 88 bits of counter (a u64 of 64 KiB chunks is past any
/// part we accept), then the last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn random_error() -> Error {
    Error::Crypto {
        op: "encrypting a part",
        detail: "the system's random number generator failed".into(),
    }
}

/// Encrypts one part in age's format and hands the ciphertext to the store in [`CHUNK`]-sized
/// pieces (the last shorter). Plaintext waits in the outgoing buffer only until its chunk is
/// full and more is written (the last chunk carries a flag, so it is sealed at `finish`); it is
/// wiped if the part is abandoned.
pub(crate) struct PartWriter {
    key: LessSafeKey,
    counter: u64,
    /// Ciphertext, then from `open` on the plaintext of the chunk not yet sealed.
    out: Vec<u8>,
    open: usize,
    tx: mpsc::Sender<Vec<u8>>,
    nonce: [u8; 16],
    /// Set by an error: the buffer no longer matches the counter, so nothing more is taken.
    failed: bool,
}

impl PartWriter {
    /// A new file key wrapped to `recipients`; the header and payload nonce are the first
    /// bytes of the part.
    pub(crate) fn new(
        recipients: &[age::x25519::Recipient],
        tx: mpsc::Sender<Vec<u8>>,
    ) -> Result<Self> {
        let rng = SystemRandom::new();
        let file_key = age_core::format::FileKey::try_init_with_mut(|k| {
            rng.fill(k).map_err(|_| random_error())
        })?;
        let mut nonce = [0u8; 16];
        rng.fill(&mut nonce).map_err(|_| random_error())?;
        let header = header_for(&file_key, recipients)?;
        let key = payload_key(&file_key, &nonce)?;
        let mut out = Vec::with_capacity(CHUNK + PLAIN + TAG);
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        Ok(PartWriter {
            key,
            counter: 0,
            open: out.len(),
            out,
            tx,
            nonce,
            failed: false,
        })
    }

    /// The payload nonce, which the signed manifest carries.
    pub(crate) fn payload_nonce(&self) -> [u8; 16] {
        self.nonce
    }

    /// Takes `data` into the part; blocks while the store is behind.
    pub(crate) fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.usable()?;
        while !data.is_empty() {
            if self.out.len() - self.open == PLAIN {
                self.seal(false)?;
            }
            let take = (PLAIN - (self.out.len() - self.open)).min(data.len());
            self.out.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals the last chunk (empty only if the whole part is) and sends what is left.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.usable()?;
        self.seal(true)?;
        let last = std::mem::take(&mut self.out);
        if !last.is_empty() {
            self.send(last)?;
        }
        Ok(())
    }

    fn usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Crypto {
                op: "encrypting a part",
                detail: "the part failed before".into(),
            });
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> Result<()> {
        // Cleared once this chunk is sealed and sent.
        self.failed = true;
        let tag = self
            .key
            .seal_in_place_separate_tag(
                chunk_nonce(self.counter, last),
                Aad::empty(),
                &mut self.out[self.open..],
            )
            .map_err(|_| Error::Crypto {
                op: "encrypting a part",
                detail: "ChaCha20-Poly1305 refused a chunk".into(),
            })?;
        self.out.extend_from_slice(tag.as_ref());
        self.counter = self.counter.checked_add(1).ok_or_else(|| Error::Crypto {
            op: "encrypting a part",
            detail: "the part has more chunks than age's counter allows".into(),
        })?;
        if self.out.len() >= CHUNK {
            let mut rest = Vec::with_capacity(CHUNK + PLAIN + TAG);
            rest.extend_from_slice(&self.out[CHUNK..]);
            self.out.truncate(CHUNK);
            let full = std::mem::replace(&mut self.out, rest);
            self.send(full)?;
        }
        self.open = self.out.len();
        self.failed = false;
        Ok(())
    }

    fn send(&self, chunk: Vec<u8>) -> Result<()> {
        self.tx.blocking_send(chunk).map_err(|_| Error::Age {
            op: "encrypting a part",
            detail: "the store went away".into(),
        })
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        // Only the unsealed tail can be plaintext; wiping the whole buffer costs as little.
        self.out.zeroize();
    }
}

/// Decrypts one part in age's format from its ciphertext, taken a piece at a time as it comes
/// (pieces of any size): each push returns the plaintext of every chunk now known not to be
/// the last, each authenticated under the part's file key; [`Self::finish`] returns the last.
/// A part that is cut, changed, extended or reordered ends in an error. (A whole part of other
/// content, written under another file key, is not: the plaintext's signed hash tells it,
/// which [`super::envelope::decrypt_part`] checks before it hands out the last block.)
/// Holds no thread between pieces: a caller decrypts a piece in a short blocking call and
/// waits, holding nothing but this, for its reader or its source.
pub(crate) struct PartReader {
    /// Ciphertext not yet decrypted: the header while it is being read, then whole chunks.
    buf: BytesMut,
    stage: Stage,
}

enum Stage {
    /// The header, its MAC line and the payload nonce are not all in yet. `scanned`: how far
    /// the search for the MAC line got, so that a header in many pieces is searched once.
    Header { scanned: usize },
    /// The key boxed: the other stages are a word or none.
    Payload { key: Box<LessSafeKey>, counter: u64 },
    /// Finished, or failed: nothing more is taken.
    Over,
}

impl Default for PartReader {
    fn default() -> Self {
        Self::new()
    }
}

impl PartReader {
    pub(crate) fn new() -> Self {
        PartReader {
            buf: BytesMut::new(),
            stage: Stage::Header { scanned: 0 },
        }
    }

    /// Whether the header is read (the file key unwrapped): what is left costs no key agreement.
    pub(crate) fn past_header(&self) -> bool {
        matches!(self.stage, Stage::Payload { .. })
    }

    /// Takes the next piece of ciphertext; the file key is unwrapped from the header with the
    /// first of `identities` it is wrapped to, and the header's MAC checked under it.
    pub(crate) fn push<I: age::Identity>(
        &mut self,
        identities: &[I],
        piece: &[u8],
    ) -> Result<Vec<Bytes>> {
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        let (stage, plain) = self.take(stage, identities, piece)?;
        self.stage = stage;
        Ok(plain)
    }

    fn take<I: age::Identity>(
        &mut self,
        stage: Stage,
        identities: &[I],
        piece: &[u8],
    ) -> Result<(Stage, Vec<Bytes>)> {
        self.buf.extend_from_slice(piece);
        let (key, mut counter) = match stage {
            Stage::Over => return Err(over()),
            Stage::Header { scanned } => match self.header(scanned, identities)? {
                Ok(key) => (Box::new(key), 0),
                Err(scanned) => return Ok((Stage::Header { scanned }, Vec::new())),
            },
            Stage::Payload { key, counter } => (key, counter),
        };
        let mut plain = Vec::with_capacity(self.buf.len() / SEALED);
        // A whole chunk with more after it is not the last; a whole chunk at the end may be.
        while self.buf.len() > SEALED {
            let chunk = self.buf.split_to(SEALED);
            plain.push(open(&key, counter, false, chunk)?);
            counter = counter
                .checked_add(1)
                .ok_or_else(|| cut("the part has more chunks than age's counter allows"))?;
        }
        Ok((Stage::Payload { key, counter }, plain))
    }

    /// Reads the header once it is all in: `Ok(key)` with the payload key (the header and nonce
    /// consumed), or `Err(scanned)` while it is not.
    fn header<I: age::Identity>(
        &mut self,
        scanned: usize,
        identities: &[I],
    ) -> Result<std::result::Result<LessSafeKey, usize>> {
        // The MAC line is the first to begin with "---" (stanza lines begin with "-> ", their
        // bodies are base64); it is "--- ", 43 characters of MAC and a newline.
        let from = scanned.saturating_sub(3);
        let found = self.buf[from..]
            .windows(4)
            .position(|w| w == b"\n---")
            .map(|at| from + at);
        let end = match found {
            Some(at) => {
                let line = &self.buf[at + 1..self.buf.len().min(at + 1 + MAC_LINE)];
                match line.iter().position(|b| *b == b'\n') {
                    Some(nl) => Some(at + 1 + nl + 1),
                    None if line.len() == MAC_LINE => {
                        return Err(cut("its header is not an age v1 header"));
                    }
                    None => None,
                }
            }
            None => None,
        };
        if end.is_some_and(|end| end > MAX_HEADER) {
            return Err(cut("its header is longer than a part is written with"));
        }
        let Some(end) = end.filter(|end| self.buf.len() >= end + NONCE) else {
            if self.buf.len() > MAX_HEADER + NONCE {
                return Err(cut("its header does not end"));
            }
            // Searched again from the MAC line, if it has begun.
            return Ok(Err(found.unwrap_or(self.buf.len())));
        };
        let Header {
            stanzas,
            mac_input_end,
            mac,
            end: parsed_end,
        } = parse_header(&self.buf[..end])?;
        if parsed_end != end {
            return Err(cut("its header is not an age v1 header"));
        }
        // Each stanza may cost a key agreement per identity (in the keystore), in a turn.
        if stanzas.len() > MAX_STANZAS {
            return Err(cut(
                "its header has more stanzas than a part is written with",
            ));
        }
        let file_key = identities
            .iter()
            .find_map(|i| i.unwrap_stanzas(&stanzas))
            .ok_or_else(|| {
                Error::KeyUnavailable(
                    "none of the node's keys is among the letter's recipients".into(),
                )
            })?
            .map_err(|e| Error::Integrity(format!("ciphertext header: {e}")))?;
        ring::hmac::verify(
            &header_mac_key(&file_key)?,
            &self.buf[..mac_input_end],
            &mac,
        )
        .map_err(|_| Error::Integrity("ciphertext header MAC does not verify".into()))?;
        let key = payload_key(&file_key, &self.buf[end..end + NONCE])?;
        self.buf.advance(end + NONCE);
        Ok(Ok(key))
    }

    /// The ciphertext has ended: the last chunk's plaintext (empty only for an empty part).
    pub(crate) fn finish(&mut self) -> Result<Bytes> {
        let Stage::Payload { key, counter } = std::mem::replace(&mut self.stage, Stage::Over)
        else {
            return Err(cut("it ends inside its header"));
        };
        let rest = std::mem::take(&mut self.buf);
        // age allows an empty last chunk only as the first: a part that ends with one after
        // whole chunks was cut at a chunk's end and given a new ending.
        if rest.len() < TAG || (rest.len() == TAG && counter > 0) {
            return Err(cut("it was cut"));
        }
        open(&key, counter, true, rest)
    }
}

/// Opens chunk `counter` in place; its plaintext, without a copy.
fn open(key: &LessSafeKey, counter: u64, last: bool, mut chunk: BytesMut) -> Result<Bytes> {
    let len = key
        .open_in_place(chunk_nonce(counter, last), Aad::empty(), &mut chunk)
        .map_err(|_| cut("a chunk does not decrypt (changed, cut or out of place)"))?
        .len();
    chunk.truncate(len);
    Ok(chunk.freeze())
}

fn cut(why: &str) -> Error {
    Error::Integrity(format!("ciphertext: {why}"))
}

fn over() -> Error {
    Error::Integrity("ciphertext: the part was read to its end, or failed, before".into())
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "payload_read_tests.rs"]
mod read_tests;
