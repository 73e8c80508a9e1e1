//! [`super::PartReader`] reads what the age crate and our writer write, in pieces of any size,
//! and refuses what was cut, changed, extended or reordered; a reader that stalls holds no
//! thread and no turn.

use std::io::Write as _;

use super::tests::{SIZES, content, encrypt};
use super::{MAC_LINE, MAX_HEADER, MAX_STANZAS, NONCE, PLAIN, PartReader, PartWriter, SEALED};
use crate::Error;
use crate::crypto::envelope::{CHUNK, KnownFileKey, header_len, parse_header};

/// `plain` encrypted by the age crate to `to`.
fn age_encrypt(plain: &[u8], to: &[age::x25519::Recipient]) -> Vec<u8> {
    let e = age::Encryptor::with_recipients(to.iter().map(|r| r as &dyn age::Recipient))
        .expect("recipients");
    let mut out = Vec::new();
    let mut w = e.wrap_output(&mut out).expect("wrap");
    w.write_all(plain).expect("write");
    w.finish().expect("finish");
    out
}

/// `file` read with [`PartReader`], taken in pieces of `piece` bytes.
fn read<I: age::Identity>(file: &[u8], piece: usize, ids: &[I]) -> Result<Vec<u8>, Error> {
    let mut r = PartReader::new();
    let mut out = Vec::new();
    for p in file.chunks(piece) {
        for block in r.push(ids, p)? {
            out.extend_from_slice(&block);
        }
    }
    out.extend_from_slice(&r.finish()?);
    Ok(out)
}

#[test]
fn it_reads_what_the_age_crate_and_our_writer_write_in_pieces_of_any_size() {
    let me = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    let to = [other.to_public(), me.to_public()];
    for size in SIZES {
        let plain = content(size);
        let ours = encrypt(&plain, PLAIN, &to).0.concat();
        for (who, file) in [("age crate", age_encrypt(&plain, &to)), ("ours", ours)] {
            for piece in [1, 1000, SEALED - 1, SEALED, SEALED + 1, CHUNK, usize::MAX] {
                if (piece == 1 && size > 2 * PLAIN + 1) || (piece == 1000 && size > CHUNK) {
                    continue; // a byte-by-byte walk over megabytes proves nothing more
                }
                let back = read(
                    &file,
                    piece.min(file.len()).max(1),
                    std::slice::from_ref(&me),
                );
                assert!(
                    back.as_deref().ok() == Some(&plain[..]),
                    "{who}, size {size}, pieces of {piece}: read back as written"
                );
            }
        }
    }
}

#[test]
fn what_is_cut_changed_extended_or_reordered_is_refused() {
    for piece in [4096, SEALED, usize::MAX] {
        refused_in_pieces_of(piece);
    }
}

fn refused_in_pieces_of(piece: usize) {
    let read = |file: &[u8], _: usize, ids: &[age::x25519::Identity]| {
        read(file, piece.min(file.len()).max(1), ids)
    };
    let me = age::x25519::Identity::generate();
    let plain = content(2 * PLAIN + 3);
    let file = age_encrypt(&plain, &[me.to_public()]);
    let payload = header_len(&file).expect("header") + NONCE;
    assert!(
        read(&file, 4096, std::slice::from_ref(&me)).is_ok(),
        "the whole is read"
    );
    for cut in [
        0,
        10,
        payload - NONCE - 1,
        payload - NONCE,
        payload - 1,
        payload,
        payload + 15,
        payload + SEALED,
        payload + 2 * SEALED,
        file.len() - 1,
    ] {
        assert!(
            read(&file[..cut], 4096, std::slice::from_ref(&me)).is_err(),
            "cut at {cut}"
        );
    }
    for extra in [&[0u8][..], &[0; 16], &file[payload..]] {
        let longer = [&file[..], extra].concat();
        assert!(
            read(&longer, 4096, std::slice::from_ref(&me)).is_err(),
            "{} bytes more",
            extra.len()
        );
    }
    for at in [
        5,
        30,
        payload - NONCE - 3,
        payload - 2,
        payload + 7,
        payload + SEALED - 1,
        file.len() - 1,
    ] {
        let mut changed = file.clone();
        changed[at] ^= 1;
        assert!(
            read(&changed, 4096, std::slice::from_ref(&me)).is_err(),
            "a byte changed at {at}"
        );
    }
    // The two whole chunks swapped.
    let mut swapped = file[..payload].to_vec();
    swapped.extend_from_slice(&file[payload + SEALED..payload + 2 * SEALED]);
    swapped.extend_from_slice(&file[payload..payload + SEALED]);
    swapped.extend_from_slice(&file[payload + 2 * SEALED..]);
    assert!(
        read(&swapped, 4096, std::slice::from_ref(&me)).is_err(),
        "chunks swapped"
    );
    // A part cut at a chunk's end is refused even though what is left decrypts.
    let exact = age_encrypt(&content(2 * PLAIN), &[me.to_public()]);
    assert!(
        read(
            &exact[..exact.len() - SEALED],
            4096,
            std::slice::from_ref(&me)
        )
        .is_err()
    );
}

/// Whole chunks followed by an empty last one: age allows an empty last chunk only when it is
/// the first (an empty part), so the age crate refuses it, and so does the reader.
#[test]
fn an_empty_last_chunk_after_whole_ones_is_refused() {
    let me = age::x25519::Identity::generate();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let mut w = PartWriter::new(&[me.to_public()], tx).expect("writer");
    std::thread::spawn(move || {
        w.write(&content(PLAIN)).expect("write");
        w.seal(false).expect("a whole chunk, not flagged last");
        w.finish().expect("an empty last chunk");
    })
    .join()
    .expect("writer thread");
    let mut file = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        file.extend_from_slice(&c);
    }
    assert_eq!(
        file.len(),
        header_len(&file).expect("header") + NONCE + SEALED + 16
    );
    let by_age = age::Decryptor::new(&file[..]).and_then(|d| {
        let mut r = d.decrypt(std::iter::once(&me as &dyn age::Identity))?;
        Ok(std::io::copy(&mut r, &mut std::io::sink()))
    });
    assert!(!matches!(by_age, Ok(Ok(_))), "the age crate refuses it too");
    assert!(read(&file, 4096, std::slice::from_ref(&me)).is_err());
    // An empty part is one empty last chunk, and is read.
    let empty = age_encrypt(&[], &[me.to_public()]);
    assert!(read(&empty, 4096, &[me]).is_ok_and(|p| p.is_empty()));
}

#[test]
fn a_key_not_among_the_recipients_gets_nothing() {
    let file = age_encrypt(
        &content(100),
        &[age::x25519::Identity::generate().to_public()],
    );
    let e = read(&file, 4096, &[age::x25519::Identity::generate()]).expect_err("refused");
    assert!(matches!(e, Error::KeyUnavailable(_)), "{e}");
}

/// A file key known beforehand (a delivery unwraps it once) still has to match the header's
/// MAC: a part with another key and header, though whole in itself, is refused.
#[test]
fn a_known_file_key_still_has_to_match_the_headers_mac() {
    let me = age::x25519::Identity::generate();
    let (a, b) = (
        age_encrypt(&content(PLAIN + 1), &[me.to_public()]),
        age_encrypt(&content(PLAIN + 1), &[me.to_public()]),
    );
    let key_of = |file: &[u8]| {
        let header = parse_header(file).expect("header");
        age::Identity::unwrap_stanzas(&me, &header.stanzas)
            .expect("wrapped to me")
            .expect("unwraps")
    };
    let known = [KnownFileKey::new(&key_of(&a))];
    assert!(read(&a, 4096, &known).is_ok());
    assert!(read(&b, 4096, &known).is_err(), "another part's header");
    // A stanza changed (still a well-formed one): the payload would decrypt, the MAC does not
    // match.
    let mut changed = a;
    let at = b"age-encryption.org/v1\n-> X25519 ".len() + 5;
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    assert!(parse_header(&changed).is_ok(), "still a header");
    let e = read(&changed, 4096, &known).expect_err("refused");
    assert!(e.to_string().contains("MAC"), "{e}");
}

/// A header is read no further than its bound when it does not end, and a MAC line no further
/// than its own.
#[test]
fn a_header_that_never_ends_is_read_no_further() {
    let me = age::x25519::Identity::generate();
    let stanza = b"-> X25519 aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8\nAAAA\n";
    let mut r = PartReader::new();
    let mut fed = 0usize;
    let mut refused = r
        .push(std::slice::from_ref(&me), b"age-encryption.org/v1\n")
        .is_err();
    while !refused {
        assert!(fed <= MAX_HEADER + NONCE, "read on past the header's bound");
        refused = r.push(std::slice::from_ref(&me), stanza).is_err();
        fed += stanza.len();
    }
    assert!(
        r.push(std::slice::from_ref(&me), b"more").is_err(),
        "nothing more is taken"
    );
    let mut r = PartReader::new();
    let line = [&b"age-encryption.org/v1\n--- "[..], &[b'A'; 2 * MAC_LINE]].concat();
    assert!(
        r.push(&[me], &line).is_err(),
        "a MAC line that does not end"
    );
}

/// Readers whose source or client stalls hold no turn to decrypt (and so no thread: a piece is
/// decrypted on one only in a turn): many more of them than there are turns, and another
/// reader still gets its plaintext at once. (Each held a thread and a turn while it waited,
/// when a part was decrypted by a blocking `Read`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_hold_no_thread_and_no_turn() {
    use crate::crypto::envelope::{DECRYPTING, DECRYPTIONS_AT_ONCE, READING, decrypt_part};
    let me = age::x25519::Identity::generate();
    let plain = content(8 * PLAIN + 3);
    let file = age_encrypt(&plain, &[me.to_public()]);
    let sha = crate::crypto::sha256_hex(&plain);
    let mut stalled = Vec::new();
    for i in 0..2 * DECRYPTIONS_AT_ONCE * 3 {
        let (tx, rx) = decrypt_part(vec![me.clone()], sha.clone(), &READING)
            .await
            .expect("a turn");
        if i % 2 == 0 {
            // Its source stalls after half the part.
            tx.send(Ok(file[..file.len() / 2].to_vec()))
                .await
                .expect("send");
            stalled.push((Some(tx), rx));
        } else {
            // Its client stalls: the whole part comes, and none of its plaintext is read.
            tx.send(Ok(file.clone())).await.expect("send");
            stalled.push((None, rx));
        }
    }
    // Every turn comes back once the stalled readers have decrypted what they have.
    let settled = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if DECRYPTING.available_permits() == DECRYPTIONS_AT_ONCE {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if DECRYPTING.available_permits() == DECRYPTIONS_AT_ONCE {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), settled)
        .await
        .expect("the stalled readers give every turn back");
    let (tx, mut rx) = decrypt_part(vec![me.clone()], sha, &READING)
        .await
        .expect("a turn");
    let read = async {
        tx.send(Ok(file.clone())).await.expect("send");
        drop(tx);
        let mut got = Vec::new();
        while let Some(block) = rx.recv().await {
            got.extend_from_slice(&block.expect("plaintext"));
        }
        got
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .expect("another reader does not wait for the stalled ones");
    assert!(got == plain);
    drop(stalled);
}

/// A header longer than its bound is refused even when it comes in one piece, and one with
/// more stanzas than a part is written with (each a key agreement to try) is refused before any
/// is tried.
#[test]
fn a_header_too_long_or_with_too_many_stanzas_is_refused_whole() {
    let me = age::x25519::Identity::generate();
    let header = |stanzas: usize, body_lines: usize| {
        let mut h = b"age-encryption.org/v1\n".to_vec();
        for _ in 0..stanzas {
            h.extend_from_slice(b"-> X 1\n");
            for _ in 0..body_lines {
                h.extend_from_slice(&[b'A'; 64]);
                h.push(b'\n');
            }
            h.extend_from_slice(b"AAAA\n");
        }
        h.extend_from_slice(b"--- ");
        h.extend_from_slice(&[b'A'; 43]);
        h.push(b'\n');
        h.resize(h.len() + NONCE + SEALED, 0);
        h
    };
    let long = header(1, MAX_HEADER / 65 + 1);
    let e = PartReader::new()
        .push(std::slice::from_ref(&me), &long)
        .expect_err("too long");
    assert!(e.to_string().contains("longer"), "{e}");
    let many = header(MAX_STANZAS + 1, 0);
    let e = PartReader::new()
        .push(std::slice::from_ref(&me), &many)
        .expect_err("too many stanzas");
    assert!(e.to_string().contains("stanzas"), "{e}");
    // As many as allowed: read on (to the key, which is not there).
    let e = PartReader::new()
        .push(std::slice::from_ref(&me), &header(MAX_STANZAS, 0))
        .expect_err("no key");
    assert!(matches!(e, Error::KeyUnavailable(_)), "{e}");
}

/// Everything a reader of `rx` gets: the plaintext, and the error it ended with.
async fn drain(
    mut rx: tokio::sync::mpsc::Receiver<crate::Result<bytes::Bytes>>,
) -> (Vec<u8>, Option<Error>) {
    let mut got = Vec::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(block) => got.extend_from_slice(&block),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

/// A whole, well-formed part of other content (a database writer's, under a file key of their
/// choosing) decrypts chunk by chunk; its last block is never handed out, so a reader never has
/// all of it, and the last item is the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_content_never_reaches_a_reader_whole() {
    use crate::crypto::envelope::{READING, decrypt_part};
    let me = age::x25519::Identity::generate();
    for size in [3, 2 * PLAIN, 2 * PLAIN + 3] {
        let signed = content(size);
        let mut other = signed.clone();
        other[0] ^= 1;
        let file = age_encrypt(&other, &[me.to_public()]);
        let (tx, rx) = decrypt_part(
            vec![me.clone()],
            crate::crypto::sha256_hex(&signed),
            &READING,
        )
        .await
        .expect("a turn");
        tx.send(Ok(file)).await.expect("send");
        drop(tx);
        let (got, end) = drain(rx).await;
        assert!(
            got.len() < size,
            "size {size}: {} bytes handed out",
            got.len()
        );
        assert!(
            end.is_some_and(|e| e.to_string().contains("signed hash")),
            "size {size}"
        );
    }
}

/// A source that fails, or ends early, ends the reader's stream with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_fails_or_ends_early_ends_in_an_error() {
    use crate::crypto::envelope::{READING, decrypt_part};
    let me = age::x25519::Identity::generate();
    let plain = content(4 * PLAIN);
    let file = age_encrypt(&plain, &[me.to_public()]);
    let sha = crate::crypto::sha256_hex(&plain);
    let (tx, rx) = decrypt_part(vec![me.clone()], sha.clone(), &READING)
        .await
        .expect("a turn");
    tx.send(Ok(file[..file.len() / 2].to_vec()))
        .await
        .expect("send");
    tx.send(Err(Error::Integrity("the store failed".into())))
        .await
        .expect("send");
    let (_, end) = drain(rx).await;
    assert!(end.is_some_and(|e| e.to_string().contains("the store failed")));
    let (tx, rx) = decrypt_part(vec![me.clone()], sha, &READING)
        .await
        .expect("a turn");
    tx.send(Ok(file[..file.len() / 2].to_vec()))
        .await
        .expect("send");
    drop(tx);
    let (got, end) = drain(rx).await;
    assert!(end.is_some(), "an early end is an error");
    assert!(got.len() < plain.len());
}

/// No more than a line's turns are read at once, however slowly: the next reader waits in
/// `decrypt_part` itself, before anything is answered, and is told busy after its wait, or
/// reads once a turn is given back; another line (officials' reads, deliveries' checks) has
/// turns of its own meanwhile. A line of this test's own, so that no other test shares it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_beyond_the_bound_wait_for_a_turn() {
    use crate::crypto::envelope::{Readers, decrypt_part};
    use std::time::{Duration, Instant};
    static LINE: Readers = Readers::new(8, "this line is full");
    static OTHER: Readers = Readers::new(1, "the other line is full");
    let me = age::x25519::Identity::generate();
    let plain = content(PLAIN + 3);
    let file = age_encrypt(&plain, &[me.to_public()]);
    let sha = crate::crypto::sha256_hex(&plain);
    let mut stalled = Vec::new();
    for _ in 0..8 {
        // Readers whose ciphertext never comes.
        let reader = decrypt_part(vec![me.clone()], String::new(), &LINE).await;
        stalled.push(reader.expect("a turn"));
    }
    assert_eq!(LINE.available(), 0, "the stalled readers hold every turn");
    let read = |line| {
        let (me, sha, file) = (me.clone(), sha.clone(), file.clone());
        async move {
            let (tx, rx) = decrypt_part(vec![me], sha, line).await?;
            tx.send(Ok(file)).await.expect("send");
            drop(tx);
            Ok::<_, Error>(drain(rx).await)
        }
    };
    let (got, end) = tokio::time::timeout(Duration::from_secs(5), read(&OTHER))
        .await
        .expect("another line at once")
        .expect("a turn");
    assert!(end.is_none() && got == plain);
    // A reader past the bound waits its whole wait, then is told busy.
    let waited = Instant::now();
    let refused = read(&LINE).await;
    assert!(
        matches!(&refused, Err(Error::Busy(why)) if why == "this line is full"),
        "{refused:?}"
    );
    assert!(waited.elapsed() >= Duration::from_secs(9), "after its wait");
    // One waiting when a turn is given back reads.
    let waiting = tokio::spawn(read(&LINE));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a reader past the bound waits");
    drop(stalled.pop());
    let (got, end) = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the turn comes")
        .expect("task")
        .expect("a turn");
    assert!(end.is_none() && got == plain);
}
