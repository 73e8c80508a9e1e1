//! age v1 encryption of a part, written here rather than through the age crate's `StreamWriter`
//! so that each 64 KiB chunk is sealed once, in place, in the buffer that goes to the store, by
//! ring's ChaCha20-Poly1305 (the crate copies every byte three times and seals with a slower
//! implementation; ingest was bound by it). The format is age's own
//! (<https://age-encryption.org/v1>): the header from [`super::envelope`], a 16-byte payload
//! nonce, then STREAM chunks under `HKDF-SHA-256(file key, salt = nonce, "payload")` with the
//! nonce `counter (11 bytes, big-endian) || last-chunk flag`. Whatever is written is read by
//! the age crate and the age CLI, which the tests hold it to.

use ring::aead::{self, Aad, LessSafeKey, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::mpsc;
use zeroize::Zeroize;

use super::envelope::{CHUNK, header_for};
use crate::{Error, Result};

/// Plaintext bytes in each STREAM chunk.
const PLAIN: usize = 64 * 1024;
/// ChaCha20-Poly1305's tag.
const TAG: usize = 16;

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
        let key = {
            use age_core::secrecy::ExposeSecret;
            let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &nonce)
                .extract(file_key.expose_secret());
            let okm = prk
                .expand(&[b"payload"], &aead::CHACHA20_POLY1305)
                .map_err(|_| Error::Crypto {
                    op: "deriving age's payload key",
                    detail: "HKDF refused the output length".into(),
                })?;
            LessSafeKey::new(aead::UnboundKey::from(okm))
        };
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
        // STREAM's counter is 88 bits; a u64 of 64 KiB chunks is past any part we accept.
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&self.counter.to_be_bytes());
        n[11] = u8::from(last);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
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

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
