//! The envelope of a letter: the canonical manifest that is signed, and the age encryption of
//! each part, streamed in fixed-size chunks so that memory stays flat whatever the size.

use policies::Level;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{Error, Result};

pub const MANIFEST_FORMAT: &str = "sandi-manifest-v1";
/// Ciphertext is stored in chunks of this size.
pub const CHUNK: usize = 1 << 20;

/// Urgency (derajat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Biasa,
    Segera,
    SangatSegera,
    Kilat,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Biasa => "biasa",
            Urgency::Segera => "segera",
            Urgency::SangatSegera => "sangat_segera",
            Urgency::Kilat => "kilat",
        }
    }
}

/// One encrypted part: the body (part 0) or an attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    pub media_type: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// The age payload nonce (hex): binds this exact ciphertext body, which a rewrap of the
    /// header keeps, so a swapped ciphertext is refused before anything is decrypted.
    pub payload_nonce: String,
}

/// The signed statement of a letter. Field order is the canonical order; the canonical bytes
/// are its compact JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub id: String,
    pub node: String,
    pub nomor: String,
    pub perihal: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub urgency: Urgency,
    pub originator: String,
    pub originator_name: String,
    pub agency: String,
    pub recipients: Vec<String>,
    pub copies: Vec<String>,
    /// The letter's date (tanggal surat), YYYY-MM-DD.
    pub dated: String,
    pub created_at: String,
    pub parts: Vec<Part>,
    pub policy_version: String,
    /// The letter this one answers or passes on; absent on a letter that starts a thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers: Option<Reference>,
    /// Set when the originator signs for another (a.n., Plt., Plh.) under that official's
    /// mandate, which travels here so that every reader can check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf: Option<OnBehalf>,
    /// Set on a version made by reclassifying an earlier one; absent on the first version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclassified: Option<Reclassified>,
}

/// The letter a reply answers or a forward passes on, as its signer names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// `reply` or `forward`.
    pub kind: String,
    pub id: String,
    /// Its nomor, so that a reader who cannot open it still knows which letter it was.
    pub nomor: String,
}

impl Reference {
    /// What any node accepts: a known kind, an id and a nomor of bounded length, not the
    /// letter itself.
    pub fn check(&self, letter: &str) -> std::result::Result<(), String> {
        let printable = |s: &str, max: usize| {
            !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
        };
        if self.kind != "reply" && self.kind != "forward" {
            return Err("refers.kind is reply or forward".into());
        }
        let id_ok = self.id.len() <= 64
            && !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok || self.id == letter || !printable(&self.nomor, 100) {
            return Err("refers names no letter".into());
        }
        Ok(())
    }
}

/// Whose signature a letter carries when its originator signs for them (tata naskah dinas:
/// atas nama, pelaksana tugas, pelaksana harian), with the mandate they signed for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnBehalf {
    /// `an`, `plt` or `plh`.
    pub kind: String,
    /// The head's NIP, name and position (jabatan), as their mandate names them.
    pub nip: String,
    pub name: String,
    pub position: String,
    /// The mandate as the head signed it (compact JSON).
    pub mandate: String,
    /// The head's CMS signature over `mandate` (base64).
    pub grant: String,
}

/// How a version came from the one before it: who changed the classification, from what, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reclassified {
    /// This version's number (the first version is 1).
    pub version: u64,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub from: Level,
    pub reason: String,
    /// NIP of the official who reclassified and signed this version.
    pub by: String,
    pub at: String,
    /// SHA-256 (hex) of the previous version's canonical manifest.
    pub previous_sha256: String,
}

impl Manifest {
    pub fn canonical(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::encode("a manifest", e))
    }

    /// Parses stored canonical bytes and checks they are canonical (re-encoding gives the same
    /// bytes), so two byte strings never mean one manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Integrity(format!("manifest unreadable: {e}")))?;
        if m.canonical()? != bytes || m.format != MANIFEST_FORMAT {
            return Err(Error::Integrity("manifest is not in canonical form".into()));
        }
        Ok(m)
    }
}

/// The payload nonce of an age file: the 16 bytes after the header's MAC line.
pub fn payload_nonce(ciphertext_start: &[u8]) -> Option<[u8; 16]> {
    let marker = b"\n--- ";
    let at = ciphertext_start
        .windows(marker.len())
        .position(|w| w == marker)?;
    let after = at + marker.len();
    let end = ciphertext_start[after..].iter().position(|b| *b == b'\n')? + after + 1;
    ciphertext_start.get(end..end + 16)?.try_into().ok()
}

/// What encrypting one part produced.
#[derive(Debug)]
pub struct Sealed {
    pub payload_nonce: String,
}

/// The ends of an encryption in progress: plaintext in, ciphertext chunks out, the result.
pub type EncryptPipes = (
    mpsc::Sender<Result<bytes::Bytes>>,
    mpsc::Receiver<Vec<u8>>,
    tokio::task::JoinHandle<Result<Sealed>>,
);

/// Parts encrypted at once. Each holds a blocking thread (two past its first mebibyte, with
/// its hash) that waits on the async side, and the content store's writes need that pool too:
/// without a bound, enough large uploads at once would take every blocking thread and wait
/// for writes that could no longer run. (With [`DECRYPTIONS_AT_ONCE`], within
/// [`BLOCKING_THREADS`], leaving room for the store.)
pub(crate) const PARTS_AT_ONCE: usize = 128;
pub(crate) static ENCRYPTING: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PARTS_AT_ONCE);

/// The runtime's blocking threads (`docsvc`'s `main` sets it): the encryptions, their hashes
/// and the decryptions at their bounds, and as many again for the store and the rest.
pub const BLOCKING_THREADS: usize = 1280;
const _: () = assert!(2 * PARTS_AT_ONCE + DECRYPTIONS_AT_ONCE <= BLOCKING_THREADS / 2);

/// How long a part waits for a turn before its caller is told to come back (503).
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A turn to encrypt: taken before anything else is held (an ingest takes one for all its
/// parts, before its first write; an export before it opens the part it encrypts), so that no
/// transaction or decryption waits on it. Free once the holder and its part's thread are done.
#[derive(Clone, Debug)]
pub struct EncryptionTurn {
    _held: std::sync::Arc<tokio::sync::SemaphorePermit<'static>>,
}

impl EncryptionTurn {
    /// Waits for one of [`PARTS_AT_ONCE`] turns, for at most [`TURN_WAIT`].
    pub async fn take() -> Result<Self> {
        let turn = tokio::time::timeout(TURN_WAIT, ENCRYPTING.acquire())
            .await
            .map_err(|_| {
                Error::Busy("too many letters being written at once; try again shortly".into())
            })?
            .map_err(|_| Error::Task {
                what: "encryption",
                detail: "the encryption turns were closed".into(),
            })?;
        Ok(EncryptionTurn {
            _held: std::sync::Arc::new(turn),
        })
    }
}

/// Starts encrypting a part to `recipients` on a blocking thread, in `turn`. Feed plaintext
/// into the returned sender (dropping it ends the part; sending an error abandons it, with no
/// final chunk); ciphertext chunks come out of the receiver; the join handle gives the payload
/// nonce.
pub fn encrypt_part(
    turn: &EncryptionTurn,
    recipients: &[age::x25519::Recipient],
) -> Result<EncryptPipes> {
    let turn = turn.clone();
    let (plain_tx, mut plain_rx) = mpsc::channel::<Result<bytes::Bytes>>(8);
    let (chunk_tx, chunk_rx) = mpsc::channel::<Vec<u8>>(2);
    let mut w = super::payload::PartWriter::new(recipients, chunk_tx)?;
    let task = tokio::task::spawn_blocking(move || -> Result<Sealed> {
        let _turn = turn;
        while let Some(block) = plain_rx.blocking_recv() {
            // An error ends the part without age's final chunk: what was written cannot be
            // taken for a whole file.
            w.write(&block?)?;
        }
        let nonce = w.payload_nonce();
        w.finish()?;
        Ok(Sealed {
            payload_nonce: hex::encode(nonce),
        })
    });
    Ok((plain_tx, chunk_rx, task))
}

/// The SHA-256 of a part's plaintext, taken as its blocks go by. Past its first mebibyte it
/// is taken on a blocking thread of its own, beside the encryption: hashing each block on the
/// task that also hands ciphertext to the store starved the store meanwhile, and the three
/// stages took turns instead of running side by side. (A small part, most letters, costs no
/// thread.)
pub struct PartHash {
    at: Hashing,
    size: u64,
}

/// Where a part's hash is being taken. (One a part being written, so its size does not matter.)
#[allow(clippy::large_enum_variant)]
enum Hashing {
    InPlace(ring::digest::Context),
    Thread(
        mpsc::Sender<bytes::Bytes>,
        tokio::task::JoinHandle<ring::digest::Context>,
    ),
}

/// How much of a part is hashed in place before the hash moves to its own thread.
const HASHED_IN_PLACE: u64 = 1 << 20;

impl Default for PartHash {
    fn default() -> Self {
        PartHash {
            at: Hashing::InPlace(ring::digest::Context::new(&ring::digest::SHA256)),
            size: 0,
        }
    }
}

impl std::fmt::Debug for PartHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartHash")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl PartHash {
    /// Takes the next block (a `Bytes` clone of what goes to the encryption costs no copy).
    pub async fn update(&mut self, block: bytes::Bytes) -> Result<()> {
        self.size += block.len() as u64;
        if let Hashing::InPlace(ctx) = &mut self.at {
            if self.size <= HASHED_IN_PLACE {
                ctx.update(&block);
                return Ok(());
            }
            let mut ctx = ctx.clone();
            let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(8);
            let task = tokio::task::spawn_blocking(move || {
                while let Some(b) = rx.blocking_recv() {
                    ctx.update(&b);
                }
                ctx
            });
            self.at = Hashing::Thread(tx, task);
        }
        if let Hashing::Thread(tx, _) = &self.at {
            tx.send(block).await.map_err(|_| Error::Task {
                what: "hashing",
                detail: "the hashing thread went away".into(),
            })?;
        }
        Ok(())
    }

    /// The hash (hex) and the size of everything taken.
    pub async fn finish(self) -> Result<(String, u64)> {
        let ctx = match self.at {
            Hashing::InPlace(ctx) => ctx,
            Hashing::Thread(tx, task) => {
                drop(tx);
                task.await.map_err(|e| Error::Task {
                    what: "hashing",
                    detail: e.to_string(),
                })?
            }
        };
        Ok((hex::encode(ctx.finish()), self.size))
    }
}

/// A file key already unwrapped, as an age identity: a part is decrypted with it without
/// unwrapping its header again (each unwrap is an X25519 agreement per stanza tried). The part
/// reader ([`super::payload::PartReader`]) still checks the header's MAC under it, which is what
/// binds the key to the header: never use it where that check does not run.
pub(crate) struct KnownFileKey(age_core::format::FileKey);

impl std::fmt::Debug for KnownFileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownFileKey(..)")
    }
}

impl KnownFileKey {
    pub(crate) fn new(file_key: &age_core::format::FileKey) -> Self {
        use age_core::secrecy::ExposeSecret;
        KnownFileKey(age_core::format::FileKey::init_with_mut(|k| {
            k.copy_from_slice(file_key.expose_secret());
        }))
    }
}

impl age::Identity for KnownFileKey {
    fn unwrap_stanza(
        &self,
        _stanza: &age_core::format::Stanza,
    ) -> Option<std::result::Result<age_core::format::FileKey, age::DecryptError>> {
        use age_core::secrecy::ExposeSecret;
        let key = self.0.expose_secret();
        Some(Ok(age_core::format::FileKey::init_with_mut(|k| {
            k.copy_from_slice(key);
        })))
    }
}

/// Pieces of ciphertext decrypted at once, each in a short blocking call (a mebibyte at most,
/// the content store's chunk): a turn is held only while a piece is decrypted, never while its
/// reader or its source is slow, so slow downloads hold neither a thread nor a turn. The bound
/// keeps many readers at once from taking every blocking thread, which the content store's
/// writes and the encryptions ([`PARTS_AT_ONCE`]) also need. More wait their turn on the async
/// side, for at most `TURN_WAIT`.
pub(crate) const DECRYPTIONS_AT_ONCE: usize = 64;
pub(crate) static DECRYPTING: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(DECRYPTIONS_AT_ONCE);

/// A bound on parts decrypted as streams at once, however slowly: each holds its buffers (about
/// 4 MiB at most: the store's chunks on their way, a chunk's plaintext), though no thread. More
/// wait their turn, holding nothing, for at most `TURN_WAIT`, then are told busy.
#[derive(Debug)]
pub struct Readers {
    turns: tokio::sync::Semaphore,
    busy: &'static str,
}

impl Readers {
    /// A line of `turns`, whose callers past it are told `busy`.
    pub(crate) const fn new(turns: usize, busy: &'static str) -> Readers {
        Readers {
            turns: tokio::sync::Semaphore::const_new(turns),
            busy,
        }
    }

    /// Turns free now.
    pub fn available(&self) -> usize {
        self.turns.available_permits()
    }
}

/// Officials' reads (and exports, and the node's own reads of what it renders).
pub(crate) const READERS_AT_ONCE: usize = 512;
pub static READING: Readers = Readers::new(
    READERS_AT_ONCE,
    "too many letters being read at once; try again shortly",
);

/// Peers' deliveries being checked: a line of their own, so that deliveries (each as slow as
/// its sender, within the body's pace) never take the turns officials read with, nor the
/// other way round. Each peer's deliveries are bounded too (`[limits] max_deliveries_per_peer`).
pub(crate) const CHECKS_AT_ONCE: usize = 256;
pub static CHECKING: Readers = Readers::new(
    CHECKS_AT_ONCE,
    "too many deliveries being checked at once; try again shortly",
);

/// Starts decrypting a part with `identities`, once one of `line`'s turns is free (else, after
/// `TURN_WAIT`, [`Error::Busy`]: taken before anything is answered, so a reader past the bound
/// is told 503 rather than sent a body cut short): feed ciphertext chunks in, plaintext blocks
/// come out, each authenticated under the part's file key. The last block is held back until
/// the whole plaintext matches `expected_sha256` (an error comes instead when it does not, or
/// the part fails to decrypt): a well-formed part with other content, under a file key of its
/// writer's choosing, never reaches a reader whole. Each piece is decrypted and hashed in a
/// short blocking call ([`DECRYPTIONS_AT_ONCE`]); the task holds no thread while it waits for
/// ciphertext or for its reader.
pub async fn decrypt_part<I: age::Identity + Send + 'static>(
    identities: Vec<I>,
    expected_sha256: String,
    line: &'static Readers,
) -> Result<(
    mpsc::Sender<Result<Vec<u8>>>,
    mpsc::Receiver<Result<bytes::Bytes>>,
)> {
    let turn = tokio::time::timeout(TURN_WAIT, line.turns.acquire())
        .await
        .map_err(|_| Error::Busy(line.busy.into()))?
        .map_err(|_| closed())?;
    let (cipher_tx, mut cipher_rx) = mpsc::channel::<Result<Vec<u8>>>(2);
    let (plain_tx, plain_rx) = mpsc::channel::<Result<bytes::Bytes>>(4);
    tokio::spawn(async move {
        // Held until the part is read, or its reader or source is gone.
        let _turn = turn;
        let mut step = Decrypting {
            reader: super::payload::PartReader::new(),
            identities,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
        };
        let outcome = async {
            let last = loop {
                let next = tokio::select! {
                    // A reader that leaves stops the decryption, waiting or not.
                    () = plain_tx.closed() => return Ok(()),
                    next = cipher_rx.recv() => next.transpose()?,
                };
                let end = next.is_none();
                let mut plain;
                (step, plain) = tokio::select! {
                    () = plain_tx.closed() => return Ok(()),
                    stepped = step.decrypt(next) => stepped?,
                };
                if end {
                    break plain.pop();
                }
                for block in plain {
                    if plain_tx.send(Ok(block)).await.is_err() {
                        return Ok(());
                    }
                }
            };
            if hex::encode(step.hash.finish()) != expected_sha256 {
                return Err(Error::Integrity(
                    "the content does not match the signed hash".into(),
                ));
            }
            if let Some(block) = last {
                let _ = plain_tx.send(Ok(block)).await;
            }
            Ok(())
        };
        if let Err(e) = outcome.await {
            let _ = plain_tx.send(Err(e)).await;
        }
    });
    Ok((cipher_tx, plain_rx))
}

fn busy() -> Error {
    Error::Busy("too many letters being decrypted at once; try again shortly".into())
}

fn closed() -> Error {
    Error::Task {
        what: "decryption",
        detail: "the decryption turns were closed".into(),
    }
}

/// A part being decrypted, between its pieces.
struct Decrypting<I> {
    reader: super::payload::PartReader,
    identities: Vec<I>,
    hash: ring::digest::Context,
}

/// A piece past the header this small, or the end (at most one chunk), is decrypted in place:
/// it costs less than the hop to a blocking thread and back. (A header is always read on one:
/// its key agreements may be a hardware keystore's.)
const IN_PLACE: usize = 64 * 1024;

impl<I: age::Identity + Send + 'static> Decrypting<I> {
    /// Decrypts and hashes the next piece (`None`: the ciphertext ended), in a blocking call in
    /// a turn ([`DECRYPTIONS_AT_ONCE`]) unless it is small: its plaintext blocks.
    async fn decrypt(mut self, piece: Option<Vec<u8>>) -> Result<(Self, Vec<bytes::Bytes>)> {
        let small = piece
            .as_ref()
            .is_none_or(|p| p.len() <= IN_PLACE && self.reader.past_header());
        if small {
            let plain = self.step(piece)?;
            return Ok((self, plain));
        }
        let turn = tokio::time::timeout(TURN_WAIT, DECRYPTING.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| closed())?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let plain = self.step(piece)?;
            Ok((self, plain))
        })
        .await
        .map_err(|e| Error::Task {
            what: "decryption",
            detail: e.to_string(),
        })?
    }

    fn step(&mut self, piece: Option<Vec<u8>>) -> Result<Vec<bytes::Bytes>> {
        let plain = match piece {
            Some(p) => self.reader.push(&self.identities, &p)?,
            None => vec![self.reader.finish()?],
        };
        for block in &plain {
            self.hash.update(block);
        }
        Ok(plain)
    }
}

const AGE_V1: &[u8] = b"age-encryption.org/v1\n";

/// The parts of an age header: its stanzas and where the header ends in the input.
pub(super) struct Header {
    pub(super) stanzas: Vec<age_core::format::Stanza>,
    /// The bytes the MAC covers: from the start to the end of `---`.
    pub(super) mac_input_end: usize,
    pub(super) mac: Vec<u8>,
    /// Where the payload (nonce, then STREAM chunks) begins.
    pub(super) end: usize,
}

pub(super) fn parse_header(input: &[u8]) -> Result<Header> {
    let bad = || Error::Integrity("ciphertext header is not an age v1 header".into());
    let mut rest = input.strip_prefix(AGE_V1).ok_or_else(bad)?;
    let mut stanzas = Vec::new();
    while !rest.starts_with(b"---") {
        let (after, stanza) = age_core::format::read::age_stanza(rest).map_err(|_| bad())?;
        stanzas.push(stanza.into());
        rest = after;
        if stanzas.len() > 1024 {
            return Err(bad());
        }
    }
    let mac_input_end = input.len() - rest.len() + 3;
    let line = rest.strip_prefix(b"--- ").ok_or_else(bad)?;
    let nl = line.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
    let mac = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &line[..nl],
    )
    .map_err(|_| bad())?;
    let end = input.len() - line.len() + nl + 1;
    Ok(Header {
        stanzas,
        mac_input_end,
        mac,
        end,
    })
}

/// age's header MAC key: HKDF-SHA-256 of the file key with the label "header".
pub(super) fn header_mac_key(file_key: &age_core::format::FileKey) -> Result<ring::hmac::Key> {
    use age_core::secrecy::ExposeSecret;
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(file_key.expose_secret());
    let okm = prk
        .expand(&[b"header"], ring::hmac::HMAC_SHA256)
        .map_err(|_| Error::Crypto {
            op: "deriving age's header MAC key",
            detail: "HKDF refused the output length".into(),
        })?;
    Ok(ring::hmac::Key::from(okm))
}

fn write_stanza(out: &mut Vec<u8>, s: &age_core::format::Stanza) {
    out.extend_from_slice(b"-> ");
    out.extend_from_slice(s.tag.as_bytes());
    for a in &s.args {
        out.push(b' ');
        out.extend_from_slice(a.as_bytes());
    }
    out.push(b'\n');
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, &s.body);
    let mut lines = body.as_bytes().chunks(64).peekable();
    let mut last_full = body.is_empty();
    while let Some(l) = lines.next() {
        out.extend_from_slice(l);
        out.push(b'\n');
        last_full = lines.peek().is_none() && l.len() == 64;
    }
    // The last body line is always short, empty if need be.
    if last_full {
        out.push(b'\n');
    }
}

/// How long the age header at the start of `first_chunk` is: where its payload begins.
pub fn header_len(first_chunk: &[u8]) -> Result<usize> {
    Ok(parse_header(first_chunk)?.end)
}

/// Re-wraps the age header at the start of `first_chunk` to `recipients`: the file key is
/// unwrapped with `identity`, the old header's MAC is checked, and a new header with a new MAC
/// replaces it. The payload (nonce and encrypted body) is untouched, so the signed content hash
/// and payload nonce stay valid. Returns the new first chunk.
pub fn rewrap_header(
    first_chunk: &[u8],
    identities: &[hsm_shim::HandleIdentity],
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<u8>> {
    let file_key = unwrap_file_key(first_chunk, identities)?;
    rewrap_header_with(first_chunk, &file_key, recipients)
}

/// The file key of the age header at the start of `first_chunk`, unwrapped with the first of
/// `identities` it is wrapped to.
pub fn unwrap_file_key(
    first_chunk: &[u8],
    identities: &[hsm_shim::HandleIdentity],
) -> Result<age_core::format::FileKey> {
    let header = parse_header(first_chunk)?;
    identities
        .iter()
        .find_map(|i| age::Identity::unwrap_stanzas(i, &header.stanzas))
        .ok_or_else(|| {
            Error::KeyUnavailable("none of the node's keys is among the letter's recipients".into())
        })?
        .map_err(|e| Error::Integrity(format!("ciphertext header: {e}")))
}

/// [`rewrap_header`] with the file key already unwrapped (by [`unwrap_file_key`]): the old
/// header's MAC must still verify under it.
pub fn rewrap_header_with(
    first_chunk: &[u8],
    file_key: &age_core::format::FileKey,
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<u8>> {
    let header = parse_header(first_chunk)?;
    let key = header_mac_key(file_key)?;
    ring::hmac::verify(&key, &first_chunk[..header.mac_input_end], &header.mac)
        .map_err(|_| Error::Integrity("ciphertext header MAC does not verify".into()))?;
    let mut out = header_for(file_key, recipients)?;
    out.extend_from_slice(&first_chunk[header.end..]);
    Ok(out)
}

/// An age header that wraps `file_key` to `recipients`, with its MAC: what a part begins with
/// before its payload nonce.
pub(crate) fn header_for(
    file_key: &age_core::format::FileKey,
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(Error::Age {
            op: "wrapping a file key",
            detail: "an age file needs at least one recipient".into(),
        });
    }
    let key = header_mac_key(file_key)?;
    let mut out = AGE_V1.to_vec();
    for r in recipients {
        let (stanzas, _labels) = age::Recipient::wrap_file_key(r, file_key)
            .map_err(|e| Error::age("wrapping a file key", e))?;
        for s in &stanzas {
            write_stanza(&mut out, s);
        }
    }
    out.extend_from_slice(b"---");
    let mac = ring::hmac::sign(&key, &out);
    out.push(b' ');
    out.extend_from_slice(
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            mac.as_ref(),
        )
        .as_bytes(),
    );
    out.push(b'\n');
    Ok(out)
}
