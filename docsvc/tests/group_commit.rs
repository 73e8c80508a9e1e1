//! The group commit of pieces that each write their own rows and their own log entry
//! (`audit::Grouped`, what a node stores received letters with; issue 19): pieces handed in
//! from many tasks at once commit under fewer signed heads than pieces, each with its own log
//! entry, and a caller that goes away cancels nothing of its turn; a piece that fails, by its own error or by a statement the database refuses (which
//! PostgreSQL holds against the whole transaction unless rolled back to a savepoint), is undone
//! alone and answered with its error, and the others commit. The log verifies afterwards. On
//! SQLite and PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use docsvc::audit::grouped::Work;
use docsvc::audit::{Entry, Grouped};
use docsvc::node::{Layout, Node};
use docsvc::store::script::{Savepoint, Script};
use sqlx::Row as _;

const PIECES: usize = 24;

const INSERT: &str = "INSERT INTO piece_test (n) VALUES ($1)";

/// Piece `n`: writes its row; then every third from 1 fails by its own error, and every third
/// from 2 writes its row again (refused by the primary key). Each writes through its savepoint
/// in one of two ways, by turns: statements sent on their own once it is opened, or scripts
/// (several statements in one trip on SQLite) that open it and keep what was written; the
/// refusal comes in the middle of a script, or in the script that would keep the piece. The
/// first waits until every other piece has been handed in, so that they queue behind its
/// commit.
fn piece(n: usize, handed_in: Arc<AtomicUsize>) -> Work<Node> {
    Box::new(
        move |_node: &Node, tx: &mut docsvc::store::Tx, sp: &mut Savepoint| {
            Box::pin(async move {
                if n == 0 {
                    while handed_in.load(Ordering::SeqCst) < PIECES {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let n64 = i64::try_from(n).expect("small");
                let insert = |s: &mut Script| s.push(INSERT, vec![n64.into()]);
                let scripted = (n / 3) % 2 == 1;
                match (n % 3, scripted) {
                    (0, false) => {
                        sp.open(tx).await?;
                        sqlx::query(INSERT).bind(n64).execute(&mut **tx).await?;
                    }
                    (0, true) => {
                        let mut s = Script::new();
                        insert(&mut s);
                        sp.finish(tx, s).await?;
                    }
                    (1, false) => {
                        sp.open(tx).await?;
                        sqlx::query(INSERT).bind(n64).execute(&mut **tx).await?;
                        return Err(docsvc::Error::Conflict(format!("piece {n} refused")));
                    }
                    (1, true) => {
                        let mut s = Script::new();
                        insert(&mut s);
                        sp.run(tx, s).await?;
                        return Err(docsvc::Error::Conflict(format!("piece {n} refused")));
                    }
                    (_, false) => {
                        let mut s = Script::new();
                        insert(&mut s);
                        insert(&mut s);
                        sp.run(tx, s).await?;
                    }
                    (_, true) => {
                        let mut s = Script::new();
                        insert(&mut s);
                        sp.run(tx, s).await?;
                        let mut s = Script::new();
                        insert(&mut s);
                        sp.finish(tx, s).await?;
                    }
                }
                Ok(Entry::event(
                    "test:grouped".into(),
                    "piece",
                    "allow",
                    format!("piece {n}"),
                    "test",
                    None,
                ))
            })
        },
    )
}

async fn grouped(postgres: bool) {
    let pg = if postgres {
        let Some(pg) = sandi_e2e::pg::postgres().await else {
            return;
        };
        Some(pg)
    } else {
        None
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = pg.as_ref().map(|(u, _)| u.as_str());
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", url, &mut |_| {})
        .await
        .expect("quickstart");
    let node = Arc::new(Node::open(Layout::new(dir.path())).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node).await.expect("unseal");
    let mut tx = node.store.begin().await.expect("begin");
    sqlx::query("CREATE TABLE piece_test (n BIGINT PRIMARY KEY)")
        .execute(&mut *tx)
        .await
        .expect("table");
    tx.commit().await.expect("commit");

    let group = Arc::new(Grouped::<Node>::default());
    let heads = node.audit.heads_committed();
    let handed_in = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 0..PIECES {
        let (node, group, handed_in) = (Arc::clone(&node), Arc::clone(&group), handed_in.clone());
        tasks.push(tokio::spawn(async move {
            if n > 0 {
                // After the first piece, so that it leads the first turn.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            handed_in.fetch_add(1, Ordering::SeqCst);
            let work = piece(n, handed_in);
            group.commit(&node, &node.store, &node.audit, work).await
        }));
    }
    // The first piece's caller goes away (a peer hanging up) while its turn commits: the
    // turn's work, its own piece included, goes on and every other caller is answered.
    while handed_in.load(Ordering::SeqCst) < PIECES {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tasks[0].abort();
    for (n, t) in tasks.into_iter().enumerate() {
        if n == 0 {
            assert!(
                t.await.is_err_and(|e| e.is_cancelled()),
                "the first caller is gone"
            );
            continue;
        }
        let answer = tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("answered")
            .expect("task");
        match n % 3 {
            0 => answer.unwrap_or_else(|e| panic!("piece {n}: {e}")),
            1 => assert!(
                answer
                    .as_ref()
                    .is_err_and(|e| e.to_string().contains("refused")),
                "piece {n}: {answer:?}"
            ),
            _ => assert!(
                matches!(answer, Err(docsvc::Error::Database(_))),
                "piece {n}: {answer:?}"
            ),
        }
    }

    only_the_successes_committed(&node, heads).await;
    a_script_binds_each_statement_its_own_values(&node).await;
    drop(node);
    if let Some((_, name)) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

/// Only the pieces that succeeded left rows, each its own log entry, under fewer heads than
/// pieces since `heads`; the log verifies.
async fn only_the_successes_committed(node: &Node, heads: u64) {
    // Only the pieces that succeeded left rows, and each its own log entry.
    let rows: Vec<i64> = sqlx::query("SELECT n FROM piece_test ORDER BY n")
        .fetch_all(node.store.reader())
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect();
    let expected: Vec<i64> = (0..PIECES)
        .filter(|n| n % 3 == 0)
        .map(|n| i64::try_from(n).expect("small"))
        .collect();
    assert_eq!(rows, expected);
    let logged: Vec<String> = sqlx::query("SELECT entry FROM audit_log ORDER BY seq")
        .fetch_all(node.store.reader())
        .await
        .expect("log")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|e| e.contains("test:grouped"))
        .collect();
    let pieces: Vec<String> = expected.iter().map(|n| format!("piece {n}\"")).collect();
    assert_eq!(logged.len(), pieces.len(), "{logged:?}");
    for p in &pieces {
        assert!(
            logged.iter().any(|e| e.contains(p.as_str())),
            "{p} not logged"
        );
    }
    // The first piece's turn, then one for everything that queued behind it.
    let turns = node.audit.heads_committed() - heads;
    assert!(
        turns >= 1 && turns < pieces.len() as u64,
        "{turns} heads for {} pieces: not grouped",
        pieces.len()
    );
    let spki = node.audit.public_key().expect("audit key");
    let report = docsvc::audit::verify(&node.store, &spki, Some(&node.layout.heads()))
        .await
        .expect("the log verifies");
    assert_eq!(report.uncommitted_heads, 0);
}

/// A script's statements (one text on SQLite) each take their own values, in the order their
/// parameters name them, and give back their rows in order.
async fn a_script_binds_each_statement_its_own_values(node: &Node) {
    let mut tx = node.store.begin().await.expect("begin");
    let mut s = Script::new();
    s.push(
        if node.store.backend() == docsvc::store::Backend::Sqlite {
            "CREATE TABLE script_test (a BIGINT, b TEXT, c BLOB)"
        } else {
            "CREATE TABLE script_test (a BIGINT, b TEXT, c BYTEA)"
        },
        Vec::new(),
    );
    for (a, b, c) in [
        (1i64, "satu", [1u8].as_slice()),
        (2, "dua", [2u8, 2].as_slice()),
    ] {
        // `$3` before `$1` and `$2` twice: bound by name, not by place.
        s.push(
            "INSERT INTO script_test (c, a, b) VALUES ($3, $1, $2 || $2) RETURNING a",
            vec![a.into(), b.into(), c.into()],
        );
    }
    s.push(
        "SELECT count(*) FROM script_test WHERE b = $1",
        vec!["duadua".into()],
    );
    let rows = s.run(&mut tx).await.expect("script");
    let got: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(0)).collect();
    assert_eq!(got, [1, 2, 1]);
    let stored: Vec<(i64, String, Vec<u8>)> =
        sqlx::query("SELECT a, b, c FROM script_test ORDER BY a")
            .fetch_all(&mut *tx)
            .await
            .expect("rows")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    assert_eq!(
        stored,
        [
            (1, "satusatu".to_owned(), vec![1]),
            (2, "duadua".to_owned(), vec![2, 2])
        ]
    );
    tx.rollback().await.expect("rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_commit_together_and_fail_alone_on_sqlite() {
    grouped(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_commit_together_and_fail_alone_on_postgres() {
    grouped(true).await;
}
