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
use sqlx::Row as _;

const PIECES: usize = 24;

/// Piece `n`: writes its row; then every third from 1 fails by its own error, and every third
/// from 2 writes its row again (refused by the primary key). The first waits until every
/// other piece has been handed in, so that they queue behind its commit.
fn piece(n: usize, handed_in: Arc<AtomicUsize>) -> Work<Node> {
    Box::new(move |_node: &Node, tx: &mut docsvc::store::Tx| {
        Box::pin(async move {
            if n == 0 {
                while handed_in.load(Ordering::SeqCst) < PIECES {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let n64 = i64::try_from(n).expect("small");
            let insert = || sqlx::query("INSERT INTO piece_test (n) VALUES ($1)").bind(n64);
            insert().execute(&mut **tx).await?;
            match n % 3 {
                1 => return Err(docsvc::Error::Conflict(format!("piece {n} refused"))),
                2 => {
                    insert().execute(&mut **tx).await?;
                }
                _ => {}
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
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_commit_together_and_fail_alone_on_sqlite() {
    grouped(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_commit_together_and_fail_alone_on_postgres() {
    grouped(true).await;
}
