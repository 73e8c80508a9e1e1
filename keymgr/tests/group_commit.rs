//! The group commit of issuance, attacked: concurrent issuances all land in the log under a
//! consistent signed head with distinct serials; a batch whose log append or inventory
//! transaction fails hands out no certificate; the cached CA state follows a log-key rotation
//! and an intermediate's revocation.

use std::collections::BTreeSet;
use std::sync::Arc;

use keymgr::ca::{Ca, Home};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource};
use keymgr::tlog::Log;

mod common;
use common::{TestCa, node, test_ca};

/// `n` issuances at once, each its own task; their results in order. Every other one is
/// signed as a long-running service signs (on the signing threads), the rest in place (as a
/// CLI command does): both commit together.
async fn issue_concurrently(
    ca: &TestCa,
    from: usize,
    n: usize,
) -> Vec<keymgr::Result<issue::Issued>> {
    let mut tasks = Vec::new();
    for id in from..from + n {
        let (home, inv, csr, store, shared) = (
            ca.home.clone(),
            ca.inv.clone(),
            Arc::clone(&ca.csr),
            ca.store,
            Arc::clone(&ca.shared),
        );
        tasks.push(tokio::spawn(async move {
            let (request, csr) = (node(id), KeySource::Csr(csr.to_vec()));
            if id % 2 == 0 {
                issue::issue(&home, shared, &inv, request, csr).await
            } else {
                issue::issue(&home, store, &inv, request, csr).await
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn log_lines(home: &Home, file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(home.log_dir().join(file))
        .expect("log file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

async fn subjects_in_inventory(ca: &TestCa, from: usize, n: usize) -> usize {
    let mut held = 0;
    for id in from..from + n {
        if ca
            .inv
            .latest(&format!("node:node-{id}"))
            .await
            .expect("latest")
            .is_some()
        {
            held += 1;
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuances_all_land_in_the_log_under_a_consistent_head() {
    let ca = test_ca().await;
    let heads_before = log_lines(&ca.home, "heads.jsonl").len();
    let n = 48;
    let issued: Vec<issue::Issued> = issue_concurrently(&ca, 0, n)
        .await
        .into_iter()
        .map(|r| r.expect("issued"))
        .collect();

    let serials: BTreeSet<&str> = issued.iter().map(|i| i.record.serial.as_str()).collect();
    assert_eq!(serials.len(), n, "serials must be distinct");
    // Every certificate handed out is in the inventory, byte for byte, and in the log with
    // its hash.
    let entries = log_lines(&ca.home, "entries.jsonl");
    for i in &issued {
        let stored = ca
            .inv
            .get(&i.record.serial)
            .await
            .expect("in the inventory");
        assert_eq!(stored.der, i.record.der);
        let logged: Vec<&serde_json::Value> = entries
            .iter()
            .filter(|e| e["kind"] == "issued" && e["data"]["serial"] == i.record.serial.as_str())
            .collect();
        assert_eq!(logged.len(), 1, "{} logged once", i.record.serial);
        assert_eq!(
            logged[0]["data"]["certificate_sha256"],
            i.record.certificate_sha256.as_str()
        );
    }
    // The heads verify against the recomputed tree, the last one covers every entry, and the
    // batches shared heads: fewer new heads than certificates.
    let summary = Log::open(&ca.home)
        .expect("log")
        .verify()
        .expect("verifies");
    assert_eq!(summary.entries, entries.len());
    let heads = log_lines(&ca.home, "heads.jsonl");
    assert_eq!(heads.last().expect("a head")["size"], entries.len());
    let new_heads = heads.len() - heads_before;
    assert!(
        new_heads < n,
        "{n} concurrent issuances signed {new_heads} heads: no group commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_log_append_fails_hands_out_nothing() {
    let ca = test_ca().await;
    let entries = ca.home.log_dir().join("entries.jsonl");
    let aside = ca.home.log_dir().join("entries.aside");
    // The entries file replaced by a directory: neither readable nor appendable, even by root.
    std::fs::rename(&entries, &aside).expect("move");
    std::fs::create_dir(&entries).expect("dir");
    let census = ca.inv.census().await.expect("census");

    let results = issue_concurrently(&ca, 0, 16).await;
    for r in &results {
        match r {
            Err(keymgr::Error::NotCommitted(_)) => {}
            other => panic!("a caller of a failed batch got {other:?}"),
        }
    }
    assert_eq!(ca.inv.census().await.expect("census"), census);
    assert_eq!(subjects_in_inventory(&ca, 0, 16).await, 0);

    // Once the log is back, issuance goes on and the log verifies (nothing half-written).
    std::fs::remove_dir(&entries).expect("rmdir");
    std::fs::rename(&aside, &entries).expect("restore");
    for r in issue_concurrently(&ca, 0, 4).await {
        r.expect("issued once the log is back");
    }
    Log::open(&ca.home)
        .expect("log")
        .verify()
        .expect("verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_inventory_transaction_fails_hands_out_nothing() {
    let ca = test_ca().await;
    // Another connection to the same database makes every new row fail.
    let url = Inventory::default_url(ca.home.dir());
    sqlx::any::install_default_drivers();
    let other = sqlx::AnyPool::connect(&url).await.expect("connect");
    sqlx::query(
        "CREATE TRIGGER refuse_rows BEFORE INSERT ON certificates \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    )
    .execute(&other)
    .await
    .expect("trigger");

    let results = issue_concurrently(&ca, 0, 16).await;
    for r in &results {
        match r {
            Err(keymgr::Error::NotCommitted(why)) => assert!(why.contains("injected"), "{why}"),
            other => panic!("a caller of a failed batch got {other:?}"),
        }
    }
    assert_eq!(subjects_in_inventory(&ca, 0, 16).await, 0);

    sqlx::query("DROP TRIGGER refuse_rows")
        .execute(&other)
        .await
        .expect("drop");
    other.close().await;
    let again = issue_concurrently(&ca, 0, 4).await;
    for r in again {
        r.expect("issued once the inventory takes rows again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_state_follows_a_log_key_rotation_and_a_revoked_intermediate() {
    let ca = test_ca().await;
    issue_concurrently(&ca, 0, 2)
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("issued");
        });
    let log = Log::open(&ca.home).expect("log");
    let before = log.head_key_versions().expect("versions");
    log.rotate_key(&ca.home, ca.store).expect("rotate");
    issue_concurrently(&ca, 2, 2)
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("issued");
        });
    // The heads after the rotation are signed with the new key: the state was read again.
    let after = log.head_key_versions().expect("versions");
    assert_eq!(after.len(), before.len() + 1, "{before:?} then {after:?}");
    log.verify().expect("verifies");

    // The Network CA revoked: nothing more is issued under it, cached or not.
    let network = ca.home.cert_der(Ca::Network).expect("network CA");
    let (_, cert) = x509_parser::parse_x509_certificate(&network).expect("parse");
    let serial = cert.tbs_certificate.raw_serial_as_string();
    ca.inv
        .revoke(&serial, "keyCompromise", time::OffsetDateTime::now_utc())
        .await
        .expect("revoke");
    for r in issue_concurrently(&ca, 4, 3).await {
        match r {
            Err(keymgr::Error::InvalidInput(why)) => assert!(why.contains("revoked"), "{why}"),
            other => panic!("issued under a revoked CA: {other:?}"),
        }
    }
    assert_eq!(subjects_in_inventory(&ca, 4, 3).await, 0);
}

#[tokio::test]
async fn the_snapshot_is_kept_until_a_ca_file_changes() {
    let ca = test_ca().await;
    let a = ca.home.snapshot().expect("snapshot");
    let b = ca.home.snapshot().expect("snapshot");
    assert!(Arc::ptr_eq(&a, &b), "unchanged files are not read again");
    let signing = a
        .issuing(&ca.home, Ca::Signing)
        .expect("signing")
        .serial
        .clone();
    // Another certificate in the Network CA's place (as a ceremony would put one there).
    std::fs::copy(
        ca.home.cert_path(Ca::Signing),
        ca.home.cert_path(Ca::Network),
    )
    .expect("copy");
    let c = ca.home.snapshot().expect("snapshot");
    assert_eq!(
        c.issuing(&ca.home, Ca::Network).expect("network").serial,
        signing,
        "the changed certificate is what issuance sees"
    );
}

/// Callers that each issue one certificate after another (as an online CA's clients do) share
/// heads too: a caller whose certificate is already durable does not queue for the commit
/// turn (a queue of them let each turn take one certificate: a head per certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_issuing_one_after_another_share_heads() {
    let ca = test_ca().await;
    let heads_before = log_lines(&ca.home, "heads.jsonl").len();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = 256;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (home, inv, csr, store, next) = (
            ca.home.clone(),
            ca.inv.clone(),
            Arc::clone(&ca.csr),
            ca.store,
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if id >= total {
                    return;
                }
                issue::issue(&home, store, &inv, node(id), KeySource::Csr(csr.to_vec()))
                    .await
                    .expect("issued");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(subjects_in_inventory(&ca, 0, total).await, total);
    let heads = log_lines(&ca.home, "heads.jsonl").len() - heads_before;
    assert!(
        heads <= total / 4,
        "{total} issuances by 32 callers one after another signed {heads} heads"
    );
}

/// A caller dropped while it holds the commit turn (its client went away) does not lose the
/// batch it took: before the log holds it, the batch goes back for the next turn, and the next
/// caller's commit takes it along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropped_mid_commit_leaves_its_batch_to_the_next_turn() {
    use std::future::Future as _;
    let ca = test_ca().await;
    // One poll: signed, queued, the turn taken (it is free), its batch taken, and waiting on
    // the inventory's answer about it (a round trip to the database's worker thread). On a
    // loaded machine that thread can answer within the one poll, and the issuance simply
    // completes; then the scenario is tried again with the next certificate.
    let mut tries = 0;
    let dropped_id = loop {
        let id = 900 + 2 * tries;
        let mut dropped = Box::pin(issue::issue(
            &ca.home,
            ca.store,
            &ca.inv,
            node(id),
            KeySource::Csr(ca.csr.to_vec()),
        ));
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(dropped.as_mut().poll(cx))).await;
        if first.is_pending() {
            drop(dropped);
            break id;
        }
        tries += 1;
        assert!(tries < 20, "the commit never waited on the database");
    };
    issue::issue(
        &ca.home,
        ca.store,
        &ca.inv,
        node(dropped_id + 1),
        KeySource::Csr(ca.csr.to_vec()),
    )
    .await
    .expect("the next caller's certificate");
    assert_eq!(
        subjects_in_inventory(&ca, dropped_id, 2).await,
        2,
        "the dropped caller's certificate was lost with its turn"
    );
}

/// A request whose self-signature does not verify (someone else's key, no proof of
/// possession) gets no certificate, whether signed in place or on the signing threads, and
/// nothing reaches the log or the inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_proof_of_possession_is_refused_on_both_paths() {
    let ca = test_ca().await;
    let mut forged = ca.csr.to_vec();
    // The last byte is the signature's (an ECDSA `s`): changed, the signature fails.
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let entries_before = log_lines(&ca.home, "entries.jsonl").len();
    let in_place = issue::issue(
        &ca.home,
        ca.store,
        &ca.inv,
        node(700),
        KeySource::Csr(forged.clone()),
    )
    .await
    .expect_err("in place");
    let pooled = issue::issue(
        &ca.home,
        Arc::clone(&ca.shared),
        &ca.inv,
        node(701),
        KeySource::Csr(forged),
    )
    .await
    .expect_err("on the signing threads");
    for e in [in_place, pooled] {
        assert!(
            matches!(e, keymgr::Error::Csr(ref why) if why.contains("no proof of possession")),
            "{e}"
        );
    }
    assert_eq!(log_lines(&ca.home, "entries.jsonl").len(), entries_before);
    assert_eq!(subjects_in_inventory(&ca, 700, 2).await, 0);
    // The untouched request is taken on both paths.
    for (id, shared) in [(702, false), (703, true)] {
        let csr = KeySource::Csr(ca.csr.to_vec());
        let issued = if shared {
            issue::issue(&ca.home, Arc::clone(&ca.shared), &ca.inv, node(id), csr).await
        } else {
            issue::issue(&ca.home, ca.store, &ca.inv, node(id), csr).await
        };
        issued.expect("issued");
    }
}
