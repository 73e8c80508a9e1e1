//! An insider with write access to the database: 1,000 random single-byte changes to the
//! stored letters (their rows, signed manifests, CMS signatures, ciphertext chunks, the content
//! store's index: each part's age header, file, offset and length), to the
//! access log (entries, leaf hashes, signed heads), to officials' sessions and to officials'
//! security attributes (clearance, roles, status, secrets' hashes, lockout counters, keys,
//! certificate). Every one is detected and named, by the node when the letter is read, the
//! session used or the official looked up, or by the log's verification, and undone before the
//! next.

use std::sync::Arc;

use bytes::Bytes;
use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::node::{Layout, Node};
use docsvc::officials::Caller;
use futures_util::StreamExt as _;
use ring::rand::SecureRandom as _;
use sqlx::Row as _;

const MUTATIONS: usize = 1000;

/// One stored value an insider could change: table, column, the row's key, and its kind.
#[derive(Clone, Debug)]
struct Cell {
    table: &'static str,
    column: &'static str,
    key: Vec<(&'static str, Key)>,
    kind: Kind,
    used: Use,
}

/// How a value is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Blob,
    Int,
}

/// Where the node uses a value (and so must notice a change).
#[derive(Clone, Debug)]
enum Use {
    Letter(String),
    Log,
    Session(String),
    Official(String),
}

#[derive(Clone, Debug)]
enum Key {
    Text(String),
    Int(i64),
}

fn random(rng: &ring::rand::SystemRandom, below: usize) -> usize {
    let mut b = [0u8; 8];
    rng.fill(&mut b).expect("random");
    usize::try_from(u64::from_le_bytes(b) % below as u64).expect("index")
}

async fn letters(node: &Node, n: usize) -> Vec<String> {
    let officials = docsvc::officials::directory::list(&node.store)
        .await
        .expect("officials");
    let budi = officials
        .iter()
        .find(|o| o.name.starts_with("Budi"))
        .expect("Budi")
        .clone();
    let siti = officials
        .iter()
        .find(|o| o.name.starts_with("Siti"))
        .expect("Siti")
        .nip
        .clone();
    let mut ids = Vec::new();
    for i in 0..n {
        let level = if i % 2 == 0 {
            policies::Level::Rahasia
        } else {
            policies::Level::Terbatas
        };
        let mut ingest = Ingest::begin(
            node,
            Caller {
                official: budi.clone(),
                stepped_up: true,
                client: None,
            },
            NewLetter {
                nomor: format!("005/{i}/XI/2026"),
                kode: None,
                perihal: format!("Laporan pengawasan {i}"),
                classification: level,
                urgency: Urgency::Segera,
                recipients: vec![siti.clone()],
                copies: vec![],
                dated: None,
                refers: None,
                on_behalf: None,
            },
        )
        .await
        .expect("begin");
        for (name, size) in [("surat.txt", 3000), ("lampiran.bin", 1_500_000)] {
            let body = Bytes::from(
                (0..size)
                    .map(|b: usize| u8::try_from(b % 251).unwrap_or(0))
                    .collect::<Vec<u8>>(),
            );
            ingest
                .add_part(
                    name,
                    "application/octet-stream",
                    futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(body)]),
                )
                .await
                .expect("part");
        }
        ids.push(ingest.finish().await.expect("finish").manifest.id);
    }
    ids
}

/// Every cell an insider can change: the letters' rows and chunks, the log's entries and signed
/// heads, and for each session its row and its official's.
async fn cells(node: &Node, sessions: &[(String, String)]) -> Vec<Cell> {
    let mut out = letter_cells(node).await;
    out.extend(chunk_cells(node).await);
    out.extend(content_cells(node).await);
    out.extend(log_cells(node).await);
    out.extend(head_cells(node).await);
    for (token, nip) in sessions {
        out.extend(session_cells(token));
        out.extend(official_cells(nip));
    }
    out
}

/// The letters' rows: their fields, signed manifests and CMS signatures.
async fn letter_cells(node: &Node) -> Vec<Cell> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT id FROM documents")
        .fetch_all(node.store.pool())
        .await
        .expect("docs")
    {
        let id: String = r.try_get("id").expect("id");
        for (column, blob) in [
            ("nomor", false),
            ("perihal", false),
            ("classification", false),
            ("urgency", false),
            ("originator", false),
            ("agency", false),
            ("manifest", true),
            ("signature", true),
        ] {
            out.push(Cell {
                table: "documents",
                column,
                key: vec![("id", Key::Text(id.clone()))],
                kind: if blob { Kind::Blob } else { Kind::Text },
                used: Use::Letter(id.clone()),
            });
        }
    }
    out
}

/// The letters' ciphertext chunks.
async fn chunk_cells(node: &Node) -> Vec<Cell> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT document_id, part, seq FROM chunks")
        .fetch_all(node.store.pool())
        .await
        .expect("chunks")
    {
        let id: String = r.try_get("document_id").expect("id");
        out.push(Cell {
            table: "chunks",
            column: "data",
            key: vec![
                ("document_id", Key::Text(id.clone())),
                ("part", Key::Int(r.try_get("part").expect("part"))),
                ("seq", Key::Int(r.try_get("seq").expect("seq"))),
            ],
            kind: Kind::Blob,
            used: Use::Letter(id),
        });
    }
    out
}

/// The content store's index: each part's age header, its file, and where its payload is.
async fn content_cells(node: &Node) -> Vec<Cell> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT document_id, part FROM content_files")
        .fetch_all(node.store.pool())
        .await
        .expect("content_files")
    {
        let id: String = r.try_get("document_id").expect("id");
        let part: i64 = r.try_get("part").expect("part");
        for (column, kind) in [
            ("head", Kind::Blob),
            ("file", Kind::Text),
            ("payload_offset", Kind::Int),
            ("payload_len", Kind::Int),
        ] {
            out.push(Cell {
                table: "content_files",
                column,
                key: vec![
                    ("document_id", Key::Text(id.clone())),
                    ("part", Key::Int(part)),
                ],
                kind,
                used: Use::Letter(id.clone()),
            });
        }
    }
    out
}

/// The access log's entries and leaf hashes.
async fn log_cells(node: &Node) -> Vec<Cell> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT seq FROM audit_log")
        .fetch_all(node.store.pool())
        .await
        .expect("log")
    {
        for column in ["entry", "leaf_hash"] {
            out.push(Cell {
                table: "audit_log",
                column,
                key: vec![("seq", Key::Int(r.try_get("seq").expect("seq")))],
                kind: Kind::Text,
                used: Use::Log,
            });
        }
    }
    out
}

/// The log's signed heads.
async fn head_cells(node: &Node) -> Vec<Cell> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT size FROM audit_heads")
        .fetch_all(node.store.pool())
        .await
        .expect("heads")
    {
        for column in ["root", "signature"] {
            out.push(Cell {
                table: "audit_heads",
                column,
                key: vec![("size", Key::Int(r.try_get("size").expect("size")))],
                kind: Kind::Text,
                used: Use::Log,
            });
        }
    }
    out
}

/// One session's row.
fn session_cells(token: &str) -> Vec<Cell> {
    let hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    // Not the token hash or the official: other targeted tests forge those
    // (attack_auth_e2e); a changed key would not be found again to be undone.
    ["csrf", "created_at", "expires_at", "step_up_until", "mac"]
        .into_iter()
        .map(|column| Cell {
            table: "sessions",
            column,
            key: vec![("token_hash", Key::Text(hash.clone()))],
            kind: Kind::Text,
            used: Use::Session(token.to_owned()),
        })
        .collect()
}

/// One official's security attributes.
fn official_cells(nip: &str) -> Vec<Cell> {
    [
        ("name", Kind::Text),
        ("agency", Kind::Text),
        ("position", Kind::Text),
        ("clearance", Kind::Text),
        ("roles", Kind::Text),
        ("compartments", Kind::Text),
        ("status", Kind::Text),
        ("password_hash", Kind::Text),
        ("pin_hash", Kind::Text),
        ("failed_logins", Kind::Int),
        ("failed_pins", Kind::Int),
        ("signing_key", Kind::Text),
        ("encryption_key", Kind::Text),
        ("certificate", Kind::Blob),
        ("key_binding", Kind::Text),
        ("mac", Kind::Text),
    ]
    .into_iter()
    .map(|(column, kind)| Cell {
        table: "officials",
        column,
        key: vec![("nip", Key::Text(nip.to_owned()))],
        kind,
        used: Use::Official(nip.to_owned()),
    })
    .collect()
}

fn where_clause(c: &Cell, first: usize) -> String {
    c.key
        .iter()
        .enumerate()
        .map(|(i, (k, _))| format!("{k} = ${}", first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn bind_key<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    c: &Cell,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for (_, k) in &c.key {
        q = match k {
            Key::Text(s) => q.bind(s.clone()),
            Key::Int(n) => q.bind(*n),
        };
    }
    q
}

async fn read(node: &Node, c: &Cell) -> Vec<u8> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        c.column,
        c.table,
        where_clause(c, 1)
    );
    let row = bind_key(sqlx::query(&sql), c)
        .fetch_one(node.store.pool())
        .await
        .expect("read");
    match c.kind {
        Kind::Blob => row.try_get::<Vec<u8>, _>(0).expect("blob"),
        Kind::Int => row
            .try_get::<i64, _>(0)
            .expect("int")
            .to_string()
            .into_bytes(),
        Kind::Text => row.try_get::<String, _>(0).expect("text").into_bytes(),
    }
}

async fn write(node: &Node, c: &Cell, value: &[u8]) {
    let sql = format!(
        "UPDATE {} SET {} = $1 WHERE {}",
        c.table,
        c.column,
        where_clause(c, 2)
    );
    let text = || String::from_utf8(value.to_vec()).expect("utf-8");
    let q = match c.kind {
        Kind::Blob => sqlx::query(&sql).bind(value.to_vec()),
        Kind::Int => sqlx::query(&sql).bind(text().parse::<i64>().expect("int")),
        Kind::Text => sqlx::query(&sql).bind(text()),
    };
    let done = bind_key(q, c)
        .execute(node.store.pool())
        .await
        .expect("write");
    assert_eq!(done.rows_affected(), 1);
}

/// One byte changed: a bit flipped in binary data, another ASCII character in text, another
/// digit in a number.
fn mutate(rng: &ring::rand::SystemRandom, c: &Cell, value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if c.kind == Kind::Blob {
        let i = random(rng, v.len());
        v[i] ^= 1 << random(rng, 8);
    } else {
        let ascii: Vec<usize> = (0..v.len()).filter(|i| v[*i].is_ascii()).collect();
        let i = ascii[random(rng, ascii.len())];
        let choices: &[u8] = if c.kind == Kind::Int {
            b"123456789"
        } else {
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        };
        let mut ch = v[i];
        while ch == v[i] {
            ch = choices[random(rng, choices.len())];
        }
        v[i] = ch;
    }
    v
}

/// What the node says when the changed value is used: the letter read in full, the session
/// used, the official looked up (as the policy and a login do), or the log verified.
async fn detected(node: &Node, c: &Cell) -> Option<String> {
    match &c.used {
        Use::Session(token) => {
            return docsvc::officials::session::lookup(&node.store, token, 30, 12)
                .await
                .err()
                .map(|e| e.to_string());
        }
        Use::Official(nip) => {
            return match docsvc::officials::directory::get(&node.store, nip).await {
                Ok(Some(_)) => None,
                Ok(None) => Some("gone".into()),
                Err(e) => Some(e.to_string()),
            };
        }
        Use::Letter(_) | Use::Log => {}
    }
    if let Use::Letter(id) = &c.used {
        let checked = match documents::load_checked(node, id).await {
            Ok(ch) => ch,
            Err(e) => return Some(e.to_string()),
        };
        for part in 0..checked.manifest.parts.len() {
            let mut s = match documents::open_part(node, &checked, part).await {
                Ok(s) => Box::pin(s),
                Err(e) => return Some(e.to_string()),
            };
            while let Some(chunk) = s.next().await {
                if let Err(e) = chunk {
                    return Some(e.to_string());
                }
            }
        }
        None
    } else {
        let spki = node.audit.public_key().expect("audit key");
        docsvc::audit::verify(&node.store, &spki, Some(&node.layout.heads()))
            .await
            .err()
            .map(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_single_byte_changes_are_all_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("quickstart");
    let node = Arc::new(Node::open(Layout::new(dir.path())).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    let ids = letters(&node, 4).await;
    // Untouched, everything reads and verifies.
    for id in &ids {
        let c = Cell {
            table: "documents",
            column: "nomor",
            key: vec![],
            kind: Kind::Text,
            used: Use::Letter(id.clone()),
        };
        assert_eq!(detected(&node, &c).await, None, "{id} reads");
    }
    let log = Cell {
        table: "audit_log",
        column: "entry",
        key: vec![],
        kind: Kind::Text,
        used: Use::Log,
    };
    assert_eq!(detected(&node, &log).await, None, "the log verifies");

    // Two officials with a session each, stepped up (so that every column holds a value).
    let mut sessions = Vec::new();
    for o in docsvc::officials::directory::list(&node.store)
        .await
        .expect("officials")
        .iter()
        .take(2)
    {
        let (token, s) = docsvc::officials::session::create(&node.store, &o.nip, 30)
            .await
            .expect("session");
        docsvc::officials::session::step_up(&node.store, &s)
            .await
            .expect("step-up");
        sessions.push((token, o.nip.clone()));
    }
    let all = cells(&node, &sessions).await;
    let rng = ring::rand::SystemRandom::new();
    let mut by_table = std::collections::BTreeMap::<&str, usize>::new();
    for n in 0..MUTATIONS {
        let c = &all[random(&rng, all.len())];
        let original = read(&node, c).await;
        let changed = mutate(&rng, c, &original);
        write(&node, c, &changed).await;
        let said = detected(&node, c).await;
        write(&node, c, &original).await;
        let at = original.iter().zip(&changed).position(|(a, b)| a != b);
        assert!(
            said.is_some(),
            "mutation {n} of {}.{} {:?} at byte {at:?} of {} went unnoticed",
            c.table,
            c.column,
            c.key,
            original.len()
        );
        *by_table.entry(c.table).or_default() += 1;
    }
    eprintln!("{MUTATIONS} mutations, all detected: {by_table:?}");
    assert!(
        by_table.len() == 6,
        "every kind of stored row was changed: {by_table:?}"
    );
    // Undone, all is well again.
    assert_eq!(detected(&node, &log).await, None);
    for (token, nip) in &sessions {
        let (_, o) = docsvc::officials::session::lookup(&node.store, token, 30, 12)
            .await
            .expect("the session works again");
        assert_eq!(&o.nip, nip);
    }
}
