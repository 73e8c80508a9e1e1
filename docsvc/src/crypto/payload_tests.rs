//! What [`super::PartWriter`] writes is age: the age crate and the age CLI read it back, at the
//! sizes where STREAM's chunking and last-chunk flag can go wrong, written in pieces that do
//! and do not line up with the chunks.

use std::io::Read as _;

use tokio::sync::mpsc;

use super::{PLAIN, PartWriter};
use crate::crypto::envelope::{CHUNK, payload_nonce};

/// Content that differs at every offset, so a chunk out of place cannot decrypt to the same.
pub(super) fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).expect("byte"))
        .collect()
}

/// Encrypts `plain` to `to`, writing it in pieces of `piece` bytes; returns the store's chunks
/// and the payload nonce.
pub(super) fn encrypt(
    plain: &[u8],
    piece: usize,
    to: &[age::x25519::Recipient],
) -> (Vec<Vec<u8>>, [u8; 16]) {
    let (tx, mut rx) = mpsc::channel(2);
    let mut w = PartWriter::new(to, tx).expect("writer");
    let nonce = w.payload_nonce();
    let plain = plain.to_vec();
    let writer = std::thread::spawn(move || {
        for p in plain.chunks(piece) {
            w.write(p).expect("write");
        }
        w.finish().expect("finish");
    });
    let mut chunks = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        chunks.push(c);
    }
    writer.join().expect("writer thread");
    (chunks, nonce)
}

fn decrypt(file: &[u8], identity: &age::x25519::Identity) -> Result<Vec<u8>, String> {
    let d = age::Decryptor::new(file).map_err(|e| e.to_string())?;
    let mut r = d
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

pub(super) const SIZES: [usize; 10] = [
    0,
    1,
    PLAIN - 1,
    PLAIN,
    PLAIN + 1,
    2 * PLAIN,
    CHUNK - 1,
    CHUNK,
    3 * CHUNK + 5,
    16 * PLAIN,
];

#[test]
fn the_age_crate_reads_every_size_back() {
    let me = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    let to = [other.to_public(), me.to_public()];
    for size in SIZES {
        let plain = content(size);
        for piece in [1000, PLAIN, 3 * CHUNK] {
            if piece == 1000 && size > 2 * CHUNK {
                continue; // a thousand-byte walk over megabytes proves nothing more
            }
            let (chunks, nonce) = encrypt(&plain, piece, &to);
            let (last, full) = chunks.split_last().expect("at least the header");
            assert!(
                full.iter().all(|c| c.len() == CHUNK) && !last.is_empty() && last.len() <= CHUNK,
                "size {size}: the store gets whole chunks and one last"
            );
            assert_eq!(payload_nonce(&chunks[0]), Some(nonce), "size {size}");
            let file = chunks.concat();
            assert!(
                decrypt(&file, &me).expect("decrypts") == plain,
                "size {size}, pieces of {piece}: read back as written"
            );
            assert!(decrypt(&file, &other).expect("decrypts") == plain);
        }
    }
}

#[test]
fn each_part_has_its_own_key_and_nonce() {
    let me = age::x25519::Identity::generate();
    let plain = content(PLAIN + 9);
    let (a, na) = encrypt(&plain, PLAIN, &[me.to_public()]);
    let (b, nb) = encrypt(&plain, PLAIN, &[me.to_public()]);
    assert_ne!(na, nb);
    let (a, b) = (a.concat(), b.concat());
    let tail = |f: &[u8]| f[f.len() - 64..].to_vec();
    assert_ne!(
        tail(&a),
        tail(&b),
        "the same plaintext never seals the same"
    );
}

#[test]
fn a_cut_or_changed_part_is_refused() {
    let me = age::x25519::Identity::generate();
    let plain = content(2 * PLAIN);
    let (chunks, _) = encrypt(&plain, PLAIN, &[me.to_public()]);
    let file = chunks.concat();
    // Cut after the first sealed chunk: that chunk is not flagged last, so age refuses.
    let first_end = file.len() - (PLAIN + 16);
    assert!(decrypt(&file[..first_end], &me).is_err(), "a cut part");
    let mut changed = file.clone();
    let at = changed.len() - 100;
    changed[at] ^= 1;
    assert!(decrypt(&changed, &me).is_err(), "a changed byte");
    assert!(decrypt(&file, &age::x25519::Identity::generate()).is_err());
}

#[test]
fn an_abandoned_part_is_no_whole_file_and_sends_no_plaintext() {
    let me = age::x25519::Identity::generate();
    let plain = content(2 * CHUNK + 5);
    let (tx, mut rx) = mpsc::channel(64);
    let mut w = PartWriter::new(&[me.to_public()], tx).expect("writer");
    let body = plain.clone();
    std::thread::spawn(move || {
        w.write(&body).expect("write");
        drop(w); // no finish: the upload failed
    })
    .join()
    .expect("writer thread");
    let mut sent = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        sent.extend_from_slice(&c);
    }
    assert!(
        sent.len() >= 2 * CHUNK,
        "the sealed chunks went to the store"
    );
    let err = decrypt(&sent, &me).expect_err("a part without its last chunk is refused");
    assert!(!err.is_empty());
    // No 64-byte window of the plaintext appears in what the store got.
    for at in (0..plain.len() - 64).step_by(CHUNK / 4 + 1) {
        let window = &plain[at..at + 64];
        assert!(
            !sent.windows(64).any(|w| w == window),
            "plaintext at {at} reached the store"
        );
    }
}

/// A part's hash and size are the whole plaintext's, whether it stays in place or moves to its
/// thread, with a block across the point where it moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parts_hash_is_the_whole_plaintexts() {
    use crate::crypto::envelope::PartHash;
    for (size, piece) in [
        (0, 1),
        (1000, 300),
        ((1 << 20) - 7, 4096),
        ((3 << 20) + 11, 100_003),
    ] {
        let plain = content(size);
        let mut hash = PartHash::default();
        for p in plain.chunks(piece) {
            hash.update(bytes::Bytes::copy_from_slice(p))
                .await
                .expect("update");
        }
        let (hex, len) = hash.finish().await.expect("finish");
        assert_eq!(len, size as u64);
        assert_eq!(hex, crate::crypto::sha256_hex(&plain), "size {size}");
    }
}

/// No more than `PARTS_AT_ONCE` turns to encrypt are out: the next waits, and gets one when a
/// turn ends; a turn lasts as long as its part's thread, even when its holder lets go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_beyond_the_bound_wait_for_a_turn() {
    use crate::crypto::envelope::{EncryptionTurn, PARTS_AT_ONCE, encrypt_part};
    let to = [age::x25519::Identity::generate().to_public()];
    let mut turns = Vec::new();
    for _ in 0..PARTS_AT_ONCE {
        turns.push(EncryptionTurn::take().await.expect("a turn"));
    }
    let wait = std::time::Duration::from_millis(200);
    let next = tokio::time::timeout(wait, EncryptionTurn::take()).await;
    assert!(next.is_err(), "a part past the bound waits");
    // One holder lets go while its part is still being encrypted: the part keeps the turn.
    let last = turns.pop().expect("a turn");
    let (plain_tx, chunk_rx, task) = encrypt_part(&last, &to).expect("a part");
    drop(last);
    let next = tokio::time::timeout(wait, EncryptionTurn::take()).await;
    assert!(next.is_err(), "the part still holds its turn");
    // The part ends: its turn goes to the next.
    drop((plain_tx, chunk_rx));
    let _ = task.await;
    let next =
        tokio::time::timeout(std::time::Duration::from_secs(30), EncryptionTurn::take()).await;
    assert!(next.is_ok_and(|r| r.is_ok()), "the next part gets the turn");
}

#[test]
fn no_recipients_is_refused() {
    let (tx, _rx) = mpsc::channel(1);
    assert!(PartWriter::new(&[], tx).is_err());
}

/// The age CLI, which we did not write, opens what we write at the sizes where the last chunk
/// is empty, short and full.
#[test]
fn the_age_cli_reads_it() {
    let dir = tempfile::tempdir().expect("dir");
    let me = age::x25519::Identity::generate();
    let key = dir.path().join("key.txt");
    {
        use age::secrecy::ExposeSecret as _;
        std::fs::write(&key, format!("{}\n", me.to_string().expose_secret())).expect("key");
    }
    for size in [0, 1, PLAIN, 2 * PLAIN + 3, CHUNK] {
        let plain = content(size);
        let (chunks, _) = encrypt(&plain, 4096, &[me.to_public()]);
        let file = dir.path().join(format!("{size}.age"));
        std::fs::write(&file, chunks.concat()).expect("write");
        let out = std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg(&file)
            .output()
            .expect("the age CLI (tests/run installs it)");
        assert!(
            out.status.success(),
            "size {size}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == plain,
            "size {size}: the CLI reads what was written"
        );
    }
}
