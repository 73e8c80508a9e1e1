//! An insider with write access to the database: 1,000 random single-byte changes to the
//! stored letters (their rows, signed manifests, CMS signatures, ciphertext chunks) and to the
//! access log (entries, leaf hashes, signed heads). Every one is detected and named, by the
//! node when the letter is read or by the log's verification, and undone before the next.

use std::sync::Arc;

use bytes::Bytes;
use docsvc::documents::{self, Caller, Ingest, NewLetter};
use docsvc::envelope::Urgency;
use docsvc::node::{Layout, Node};
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
    blob: bool,
    letter: Option<String>,
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
    let officials = docsvc::directory::list(&node.store)
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
                perihal: format!("Laporan pengawasan {i}"),
                classification: level,
                urgency: Urgency::Segera,
                recipients: vec![siti.clone()],
                copies: vec![],
                dated: None,
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

async fn cells(node: &Node) -> Vec<Cell> {
    let pool = node.store.pool();
    let mut out = Vec::new();
    for r in sqlx::query("SELECT id FROM documents")
        .fetch_all(pool)
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
                blob,
                letter: Some(id.clone()),
            });
        }
    }
    for r in sqlx::query("SELECT document_id, part, seq FROM chunks")
        .fetch_all(pool)
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
            blob: true,
            letter: Some(id),
        });
    }
    for r in sqlx::query("SELECT seq FROM audit_log")
        .fetch_all(pool)
        .await
        .expect("log")
    {
        for column in ["entry", "leaf_hash"] {
            out.push(Cell {
                table: "audit_log",
                column,
                key: vec![("seq", Key::Int(r.try_get("seq").expect("seq")))],
                blob: false,
                letter: None,
            });
        }
    }
    for r in sqlx::query("SELECT size FROM audit_heads")
        .fetch_all(pool)
        .await
        .expect("heads")
    {
        for column in ["root", "signature"] {
            out.push(Cell {
                table: "audit_heads",
                column,
                key: vec![("size", Key::Int(r.try_get("size").expect("size")))],
                blob: false,
                letter: None,
            });
        }
    }
    out
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
    if c.blob {
        row.try_get::<Vec<u8>, _>(0).expect("blob")
    } else {
        row.try_get::<String, _>(0).expect("text").into_bytes()
    }
}

async fn write(node: &Node, c: &Cell, value: &[u8]) {
    let sql = format!(
        "UPDATE {} SET {} = $1 WHERE {}",
        c.table,
        c.column,
        where_clause(c, 2)
    );
    let q = if c.blob {
        sqlx::query(&sql).bind(value.to_vec())
    } else {
        sqlx::query(&sql).bind(String::from_utf8(value.to_vec()).expect("utf-8"))
    };
    let done = bind_key(q, c)
        .execute(node.store.pool())
        .await
        .expect("write");
    assert_eq!(done.rows_affected(), 1);
}

/// One byte changed: a bit flipped in binary data, another ASCII character in text.
fn mutate(rng: &ring::rand::SystemRandom, c: &Cell, value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if c.blob {
        let i = random(rng, v.len());
        v[i] ^= 1 << random(rng, 8);
    } else {
        let ascii: Vec<usize> = (0..v.len()).filter(|i| v[*i].is_ascii()).collect();
        let i = ascii[random(rng, ascii.len())];
        let choices = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut ch = v[i];
        while ch == v[i] {
            ch = choices[random(rng, choices.len())];
        }
        v[i] = ch;
    }
    v
}

/// What the node says when the changed value is used: the letter read in full, or the log
/// verified.
async fn detected(node: &Node, c: &Cell) -> Option<String> {
    if let Some(id) = &c.letter {
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
    docsvc::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("quickstart");
    let node = Arc::new(Node::open(Layout::new(dir.path())).await.expect("open"));
    docsvc::quickstart::unseal_dev(&node.layout, &node.keystore).expect("unseal");
    node.after_unseal().expect("after unseal");
    let ids = letters(&node, 4).await;
    // Untouched, everything reads and verifies.
    for id in &ids {
        let c = Cell {
            table: "documents",
            column: "nomor",
            key: vec![],
            blob: false,
            letter: Some(id.clone()),
        };
        assert_eq!(detected(&node, &c).await, None, "{id} reads");
    }
    let log = Cell {
        table: "audit_log",
        column: "entry",
        key: vec![],
        blob: false,
        letter: None,
    };
    assert_eq!(detected(&node, &log).await, None, "the log verifies");

    let all = cells(&node).await;
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
        by_table.len() == 4,
        "every kind of stored row was changed: {by_table:?}"
    );
    // Undone, all is well again.
    assert_eq!(detected(&node, &log).await, None);
}
