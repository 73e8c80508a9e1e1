//! A delivery's body as it comes: read only as far as asked, never past the largest letter,
//! and the envelope's header (manifest, signature, part count), each bounded before it is read.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use crate::crypto::envelope::CHUNK;
use crate::transmit::{MAGIC, MAGIC_V2, MAX_APPROVAL_UPDATE, MAX_ENVELOPE};
use crate::{Error, Result};

/// The envelope's manifest is canonical JSON of a few KiB; anything near this is not one.
const MAX_MANIFEST: usize = 1 << 20;
/// A CMS signature with its certificate chain.
const MAX_SIGNATURE: usize = 64 << 10;
/// Parts of one letter (the body and its attachments).
const MAX_PARTS: usize = 100;
/// The whole body: the largest letter, room for its header, and its approval's PDF update.
// The ciphertext's overhead (16 bytes per 64 KiB, the headers, the manifest) on top of the
// largest letter, with room to spare.
pub const MAX_BODY: u64 =
    MAX_ENVELOPE as u64 + (MAX_ENVELOPE as u64 >> 10) + (1 << 20) + MAX_APPROVAL_UPDATE as u64;
/// A request body as a stream of byte blocks.
pub type BodyStream = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, axum::Error>> + Send>>;

/// A delivery's body, read only as far as asked, never past [`MAX_BODY`].
pub struct Incoming {
    stream: BodyStream,
    pending: Bytes,
    read: u64,
    pub(super) ended: bool,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("read", &self.read)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

fn truncated() -> Error {
    Error::invalid("envelope", "not a sandi envelope: it ends early")
}

impl Incoming {
    pub fn new(stream: BodyStream) -> Self {
        Incoming {
            stream,
            pending: Bytes::new(),
            read: 0,
            ended: false,
        }
    }

    /// Makes sure some bytes are pending; `false` at the end of the body.
    async fn more(&mut self) -> Result<bool> {
        while self.pending.is_empty() {
            if self.ended {
                return Ok(false);
            }
            match self.stream.next().await {
                None => {
                    self.ended = true;
                    return Ok(false);
                }
                Some(Err(e)) => {
                    return Err(Error::invalid(
                        "envelope",
                        format!("reading the envelope: {e}"),
                    ));
                }
                Some(Ok(b)) => {
                    self.read += b.len() as u64;
                    if self.read > MAX_BODY {
                        return Err(too_large());
                    }
                    self.pending = b;
                }
            }
        }
        Ok(true)
    }

    /// At most `max` bytes (at least one), or `None` at the end.
    async fn some(&mut self, max: usize) -> Result<Option<Bytes>> {
        if !self.more().await? {
            return Ok(None);
        }
        let n = max.min(self.pending.len());
        Ok(Some(self.pending.split_to(n)))
    }

    /// Exactly `n` bytes; the caller bounds `n`.
    pub(super) async fn exact(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let b = self.some(n - out.len()).await?.ok_or_else(truncated)?;
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    pub(super) async fn u32(&mut self) -> Result<u32> {
        let b = self.exact(4).await?;
        Ok(u32::from_be_bytes(b.try_into().map_err(|_| truncated())?))
    }

    pub(super) async fn u64(&mut self) -> Result<u64> {
        let b = self.exact(8).await?;
        Ok(u64::from_be_bytes(b.try_into().map_err(|_| truncated())?))
    }

    pub(super) async fn at_end(&mut self) -> Result<bool> {
        Ok(!self.more().await?)
    }

    /// Reads the rest and drops it (bounded by [`MAX_BODY`]).
    pub(super) async fn skip_rest(&mut self) -> Result<()> {
        while self.some(CHUNK).await?.is_some() {}
        Ok(())
    }

    /// After an early answer: reads and drops the rest (within [`MAX_BODY`]) for at most
    /// `time`.
    pub(super) async fn discard(mut self, time: Duration) {
        let _ = tokio::time::timeout(time, self.skip_rest()).await;
    }
}

pub(super) fn too_large() -> Error {
    Error::TooLarge(format!(
        "a letter is carried whole up to {} MiB",
        MAX_ENVELOPE >> 20
    ))
}

/// An envelope's header: everything before the parts.
pub(super) struct Header {
    pub(super) manifest: Vec<u8>,
    pub(super) signature: Vec<u8>,
    pub(super) parts: usize,
    /// Version 2: the approval's PDF update follows the parts.
    pub(super) approval: bool,
}

pub(super) async fn read_header(inc: &mut Incoming) -> Result<Header> {
    let bad = |what: &str| Error::invalid("envelope", format!("not a sandi envelope: {what}"));
    let magic = inc.exact(MAGIC.len()).await?;
    let approval = magic == MAGIC_V2;
    if magic != MAGIC && !approval {
        return Err(bad("no envelope magic"));
    }
    let n = usize::try_from(inc.u32().await?).map_err(|_| bad("a manifest length"))?;
    if n > MAX_MANIFEST {
        return Err(bad("a manifest over 1 MiB"));
    }
    let manifest = inc.exact(n).await?;
    let n = usize::try_from(inc.u32().await?).map_err(|_| bad("a signature length"))?;
    if n > MAX_SIGNATURE {
        return Err(bad("a signature over 64 KiB"));
    }
    let signature = inc.exact(n).await?;
    let parts = usize::try_from(inc.u32().await?).map_err(|_| bad("a part count"))?;
    if parts > MAX_PARTS {
        return Err(bad("over 100 parts"));
    }
    Ok(Header {
        manifest,
        signature,
        parts,
        approval,
    })
}

/// The approval's PDF update after the parts of a version 2 envelope (bounded before it is
/// read); `None` for version 1.
pub(super) async fn read_approval(inc: &mut Incoming, head: &Header) -> Result<Option<Vec<u8>>> {
    if !head.approval {
        return Ok(None);
    }
    let n = usize::try_from(inc.u32().await?).map_err(|_| too_large())?;
    if n > MAX_APPROVAL_UPDATE || n == 0 {
        return Err(Error::invalid(
            "envelope",
            format!(
                "not a sandi envelope: an approval update of 1 byte to {} MiB",
                MAX_APPROVAL_UPDATE >> 20
            ),
        ));
    }
    inc.exact(n).await.map(Some)
}

/// Reads a whole envelope held in memory with the reader a delivery goes through: the header
/// with its bounds, each part (read in chunks, so a part's declared length is not trusted
/// for an allocation), nothing after the last. For the fuzzer and tests.
pub fn decode(bytes: &[u8]) -> Result<crate::transmit::Envelope> {
    use futures_util::FutureExt as _;
    let block = Ok(Bytes::copy_from_slice(bytes));
    let mut inc = Incoming::new(Box::pin(futures_util::stream::iter([block])));
    let read = async move {
        let head = read_header(&mut inc).await?;
        let mut parts = Vec::with_capacity(head.parts);
        for _ in 0..head.parts {
            let mut left = inc.u64().await?;
            let mut part = Vec::new();
            while left > 0 {
                let n = usize::try_from(left.min(CHUNK as u64)).map_err(|_| too_large())?;
                part.extend_from_slice(&inc.exact(n).await?);
                left -= n as u64;
            }
            parts.push(part);
        }
        let approval = read_approval(&mut inc, &head).await?;
        if !inc.at_end().await? {
            return Err(Error::invalid(
                "envelope",
                "not a sandi envelope: bytes after its last part",
            ));
        }
        Ok(crate::transmit::Envelope {
            manifest: head.manifest,
            signature: head.signature,
            parts,
            approval,
        })
    };
    // The body is in memory: the reader never waits.
    read.now_or_never().unwrap_or(Err(Error::Invariant {
        what: "an in-memory envelope read waited",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(blocks: Vec<Vec<u8>>) -> Incoming {
        Incoming::new(Box::pin(futures_util::stream::iter(
            blocks.into_iter().map(|b| Ok(Bytes::from(b))),
        )))
    }

    fn envelope(manifest_len: u32, sig_len: u32, parts: u32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&manifest_len.to_be_bytes());
        b.extend(vec![b'm'; manifest_len as usize]);
        b.extend_from_slice(&sig_len.to_be_bytes());
        b.extend(vec![b's'; sig_len as usize]);
        b.extend_from_slice(&parts.to_be_bytes());
        b
    }

    /// The header is read across any cut of the body into blocks, and nothing past it.
    #[tokio::test]
    async fn the_header_is_read_whatever_the_blocks_and_no_further() {
        let mut bytes = envelope(10, 3, 2);
        bytes.extend_from_slice(b"rest");
        for cut in 1..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let mut inc = body(vec![a.to_vec(), b.to_vec()]);
            let h = read_header(&mut inc).await.expect("header");
            assert_eq!((h.manifest.len(), h.signature.len(), h.parts), (10, 3, 2));
            assert_eq!(inc.exact(4).await.expect("rest"), b"rest");
            assert!(inc.at_end().await.expect("end"));
        }
    }

    /// What the sender encodes reads back the same; a byte more or less is refused.
    #[test]
    fn an_encoded_envelope_decodes_to_itself() {
        let env = crate::transmit::Envelope {
            manifest: b"{}".to_vec(),
            signature: vec![7; 300],
            parts: vec![vec![1; CHUNK + 5], vec![], vec![2; 10]],
            approval: None,
        };
        for approval in [None, Some(b"\n%% approval update".to_vec())] {
            let env = crate::transmit::Envelope {
                approval,
                ..env.clone()
            };
            let bytes = env.encode();
            let back = decode(&bytes).expect("decodes");
            assert_eq!(
                (back.manifest, back.signature, back.parts, back.approval),
                (env.manifest, env.signature, env.parts, env.approval)
            );
            assert!(decode(&bytes[..bytes.len() - 1]).is_err());
            let mut more = bytes;
            more.push(0);
            assert!(decode(&more).is_err());
        }
    }

    /// Bounds are checked on the lengths, before anything of that size is read or held.
    #[tokio::test]
    async fn oversized_or_short_headers_are_refused() {
        for (bytes, says) in [
            (envelope(0, 0, 101), "over 100 parts"),
            (b"SANDI-ENVELOPE-3\n".to_vec(), "magic"),
            (envelope(3, 0, 1)[..20].to_vec(), "ends early"),
        ] {
            let e = read_header(&mut body(vec![bytes]))
                .await
                .err()
                .expect("refused");
            assert!(e.to_string().contains(says), "{e}");
        }
        let mut big = MAGIC.to_vec();
        big.extend_from_slice(&(2u32 << 20).to_be_bytes());
        let e = read_header(&mut body(vec![big]))
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("over 1 MiB"), "{e}");
        let mut big = envelope(2, 0, 0);
        big.truncate(MAGIC.len() + 4 + 2);
        big.extend_from_slice(&(65u32 << 10).to_be_bytes());
        let e = read_header(&mut body(vec![big]))
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("over 64 KiB"), "{e}");
    }
}
