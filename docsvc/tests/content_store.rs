//! The content store (issue 19): a small letter's ciphertext stays in the database, written in
//! its own transaction; a larger letter's encrypted parts go to one append-only file in the
//! data directory, its age headers and their places to the database. Rewrap changes the
//! database alone, a changed byte in a file is caught, the sweep takes what no letter and no
//! upload names and nothing else, and a node that keeps content in the database
//! (`content_store = "database"`) writes no file and still reads the letters it wrote to files.
//! On SQLite and PostgreSQL.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::node::{Layout, Node};
use docsvc::officials::Caller;
use docsvc::store::content::{INLINE, LetterWriter};
use futures_util::StreamExt as _;
use sqlx::Row as _;

const MARKER: &[u8] = b"PENANDA-RAHASIA-7f3a9c";

fn parts() -> Vec<(&'static str, Vec<u8>)> {
    let surat = MARKER.repeat(100);
    let lampiran: Vec<u8> = (0..2_500_000usize)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    vec![("surat.txt", surat), ("lampiran.bin", lampiran)]
}

async fn open(dir: &Path) -> Arc<Node> {
    let node = Arc::new(Node::open(Layout::new(dir)).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node).await.expect("unseal");
    node
}

/// Budi sends a RAHASIA letter of `parts` to Siti; its id.
async fn send(node: &Node, nomor: &str, parts: Vec<(&'static str, Vec<u8>)>) -> String {
    let officials = docsvc::officials::directory::list(&node.store)
        .await
        .expect("officials");
    let by = |name: &str| {
        officials
            .iter()
            .find(|o| o.name.starts_with(name))
            .expect("official")
            .clone()
    };
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: by("Budi"),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: nomor.into(),
            kode: None,
            perihal: "Uji penyimpanan isi".into(),
            classification: policies::Level::Rahasia,
            urgency: Urgency::Biasa,
            recipients: vec![by("Siti").nip],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: None,
        },
    )
    .await
    .expect("begin");
    for (name, body) in parts {
        ingest
            .add_part(
                name,
                "application/octet-stream",
                futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(body.into())]),
            )
            .await
            .expect("part");
    }
    ingest.finish().await.expect("finish").manifest.id
}

/// Every part of letter `id` as the node reads it, or the first error.
async fn read(node: &Node, id: &str) -> Result<Vec<Vec<u8>>, String> {
    let checked = documents::load_checked(node, id)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for part in 0..checked.manifest.parts.len() {
        let mut s = Box::pin(
            documents::open_part(node, &checked, part)
                .await
                .map_err(|e| e.to_string())?,
        );
        let mut bytes = Vec::new();
        while let Some(block) = s.next().await {
            bytes.extend_from_slice(&block.map_err(|e| e.to_string())?);
        }
        out.push(bytes);
    }
    Ok(out)
}

async fn count(node: &Node, sql: &str, id: &str) -> i64 {
    sqlx::query(sql)
        .bind(id)
        .fetch_one(node.store.pool())
        .await
        .expect(sql)
        .try_get::<i64, _>(0)
        .expect("count")
}

/// The content store's files under data directory `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("content"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|f| f.path())
        .collect();
    out.sort();
    out
}

async fn heads(node: &Node, id: &str) -> Vec<Vec<u8>> {
    sqlx::query("SELECT head FROM content_files WHERE document_id = $1 ORDER BY part")
        .bind(id)
        .fetch_all(node.store.pool())
        .await
        .expect("heads")
        .iter()
        .map(|r| r.try_get::<Vec<u8>, _>("head").expect("head"))
        .collect()
}

/// The sweep: a file no row names, and an upload abandoned long ago, go; the letter stays.
async fn sweep_takes_only_what_nothing_names(
    node: &Node,
    dir: &Path,
    file: &Path,
    a: &str,
    expected: &[Vec<u8>],
) {
    let stray = dir
        .join("content")
        .join("ab")
        .join("ab000000-0000-4000-8000-000000000000");
    std::fs::create_dir_all(stray.parent().expect("parent")).expect("dir");
    std::fs::write(&stray, b"left by a crash").expect("stray");
    // Past the inline limit, so that it is marked and written to a file.
    let mut abandoned = LetterWriter::start(
        &node.store,
        "0c0c0c0c-0000-4000-8000-000000000000",
        "2000-01-01T00:00:00Z",
    );
    abandoned
        .begin_part(0, vec![7; INLINE + 1], 16)
        .await
        .expect("an upload");
    drop(abandoned);
    assert_eq!(files(dir).len(), 3);
    // The abandoned upload's file is removed; the stray file, recent, is left.
    let removed = documents::sweep_abandoned(node, 60).await.expect("sweep");
    assert_eq!(removed, 1, "the abandoned upload's file");
    let mut left = vec![stray.clone(), file.to_path_buf()];
    left.sort();
    assert_eq!(files(dir), left);
    // Counted as old, the stray file is put aside for an operator, not deleted (a database
    // that lost rows must not destroy letters); the letter's file stays.
    let removed = documents::sweep_abandoned(node, 0).await.expect("sweep");
    assert_eq!(removed, 1, "the stray file");
    let aside = dir
        .join("content")
        .join("orphaned")
        .join(stray.file_name().expect("name"));
    let mut left = vec![aside, file.to_path_buf()];
    left.sort();
    assert_eq!(
        files(dir),
        left,
        "the letter's file left, the stray one put aside"
    );
    assert_eq!(read(node, a).await.expect("reads"), expected);
}

/// A byte changed in the file is caught; put back, the letter reads again.
async fn a_changed_byte_is_caught(
    node: &Node,
    file: &Path,
    bytes: &[u8],
    a: &str,
    expected: &[Vec<u8>],
) {
    let mut changed = bytes.to_vec();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    std::fs::write(file, &changed).expect("write");
    let err = read(node, a)
        .await
        .expect_err("a changed byte went unnoticed");
    assert!(err.contains("ciphertext"), "{err}");
    std::fs::write(file, bytes).expect("write");
    assert_eq!(read(node, a).await.expect("reads again"), expected);
}

/// A letter under the inline limit: its chunks in the database, written with it; no file, no
/// upload mark.
async fn small_letters_stay_inline(node: &Node, dir: &Path) {
    let body = MARKER.repeat(400);
    let id = send(node, "000/S/XI/2026", vec![("surat.txt", body.clone())]).await;
    assert!(files(dir).is_empty(), "a small letter went to a file");
    let chunks = "SELECT COUNT(*) FROM chunks WHERE document_id = $1";
    assert_eq!(count(node, chunks, &id).await, 1);
    let marks = "SELECT COUNT(*) FROM uploads WHERE document_id <> $1";
    assert_eq!(count(node, marks, "").await, 0, "no upload mark left");
    assert_eq!(read(node, &id).await.expect("reads"), vec![body]);
}

/// An upload the sweep took for abandoned while it was still running (its mark gone, its file
/// perhaps removed) is refused at its commit, never stored as a letter that cannot be read.
async fn a_swept_upload_is_never_acknowledged(node: &Node) {
    let id = "0d0d0d0d-0000-4000-8000-000000000000";
    let mut w = LetterWriter::start(&node.store, id, "2026-12-01T00:00:00Z");
    w.begin_part(0, vec![7; INLINE + 1], 16)
        .await
        .expect("an upload");
    sqlx::query("DELETE FROM uploads")
        .execute(node.store.pool())
        .await
        .expect("as the sweep does");
    w.seal().await.expect("sealed");
    let mut tx = node.store.begin().await.expect("tx");
    let err = w
        .record(&mut tx)
        .await
        .expect_err("recorded after its sweep");
    assert!(err.to_string().contains("swept"), "{err}");
    drop(tx);
    w.abort().await;
}

/// Database mode: a second copy of a stored letter (a peer's retry racing the first) that fails
/// and is aborted never deletes the stored letter's chunks.
async fn a_second_copy_never_removes_the_first(node: &Node, b: &str, expected: &[Vec<u8>]) {
    let mut w = LetterWriter::start(&node.store, b, "2026-12-01T00:00:00Z");
    let second = w.begin_part(0, vec![7; INLINE + 1], 16).await;
    assert!(second.is_err(), "a second copy's chunks were written");
    w.abort().await;
    assert_eq!(
        read(node, b).await.expect("the first still reads"),
        expected
    );
}

async fn content_store(postgres: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = if postgres {
        let Some(pg) = sandi_e2e::pg::postgres().await else {
            return;
        };
        Some(pg)
    } else {
        None
    };
    let url = pg.as_ref().map(|(url, _)| url.as_str());
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", url, &mut |_| {})
        .await
        .expect("quickstart");
    let node = open(dir.path()).await;
    let expected: Vec<Vec<u8>> = parts().into_iter().map(|(_, b)| b).collect();

    small_letters_stay_inline(&node, dir.path()).await;

    // One letter, one file; its headers and places in the database, no chunk.
    let a = send(&node, "001/A/XI/2026", parts()).await;
    let [file] = files(dir.path()).try_into().expect("one file");
    let sql_chunks = "SELECT COUNT(*) FROM chunks WHERE document_id = $1";
    let sql_index = "SELECT COUNT(*) FROM content_files WHERE document_id = $1";
    assert_eq!(
        count(&node, sql_chunks, &a).await,
        0,
        "no chunk in the database"
    );
    assert_eq!(count(&node, sql_index, &a).await, 2, "each part indexed");
    let bytes = std::fs::read(&file).expect("file");
    let lengths: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(payload_len) AS BIGINT) FROM content_files WHERE document_id = $1",
    )
    .bind(&a)
    .fetch_one(node.store.pool())
    .await
    .expect("lengths");
    assert_eq!(
        i64::try_from(bytes.len()).expect("fits"),
        lengths,
        "the file is the parts' payloads"
    );
    assert!(
        !bytes.windows(MARKER.len()).any(|w| w == MARKER),
        "plaintext in the content file"
    );
    assert!(
        !bytes.starts_with(b"age-encryption.org"),
        "the age header belongs in the database"
    );
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the content file is private");
    assert_eq!(read(&node, &a).await.expect("reads"), expected);

    a_changed_byte_is_caught(&node, &file, &bytes, &a, &expected).await;

    // A rewrap to a new archive key changes the headers in the database, not the file.
    let before = heads(&node, &a).await;
    docsvc::letters::rewrap::rotate_archive(&node, policies::Level::Rahasia).expect("rotate");
    let p = docsvc::letters::rewrap::run(&node, 10, &mut |_| {})
        .await
        .expect("rewrap");
    assert!(p.rewrapped >= 1, "{p:?}");
    assert_ne!(
        heads(&node, &a).await,
        before,
        "the headers were re-wrapped"
    );
    assert_eq!(
        std::fs::read(&file).expect("file"),
        bytes,
        "the file untouched"
    );
    assert_eq!(read(&node, &a).await.expect("reads"), expected);

    sweep_takes_only_what_nothing_names(&node, dir.path(), &file, &a, &expected).await;
    a_swept_upload_is_never_acknowledged(&node).await;

    // The same node set to keep content in the database: no new file, both letters read.
    drop(node);
    let config = dir.path().join("node.toml");
    let text = std::fs::read_to_string(&config).expect("node.toml");
    std::fs::write(&config, format!("content_store = \"database\"\n{text}")).expect("node.toml");
    let node = open(dir.path()).await;
    let before = files(dir.path());
    let b = send(&node, "002/B/XI/2026", parts()).await;
    assert_eq!(files(dir.path()), before, "no file written");
    assert!(
        count(&node, sql_chunks, &b).await > 0,
        "chunks in the database"
    );
    assert_eq!(count(&node, sql_index, &b).await, 0);
    assert_eq!(read(&node, &b).await.expect("reads"), expected);
    a_second_copy_never_removes_the_first(&node, &b, &expected).await;
    assert_eq!(
        read(&node, &a)
            .await
            .expect("the letter in a file still reads"),
        expected
    );
    drop(node);
    if let Some((_, name)) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_store_on_sqlite() {
    content_store(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_store_on_postgres() {
    content_store(true).await;
}
