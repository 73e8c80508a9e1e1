//! The issuance log as witnesses and monitors see it, attacked: its checkpoints are C2SP
//! signed notes that open with the note key's verifier key; consistency proofs tie every two
//! sizes; a certificate's inclusion proof is found by its hash, and one the log never held has
//! none; a head changed on disk, or a log cut back below a signed checkpoint, gets no
//! checkpoint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keymgr::merkle;
use keymgr::note;
use keymgr::tlog::{Log, ORIGIN};

mod common;
use common::{TestCa, node, test_ca};

async fn issue(ca: &TestCa, id: usize) -> keymgr::issue::Issued {
    keymgr::issue::issue(
        &ca.home,
        ca.store,
        &ca.inv,
        node(id),
        keymgr::issue::KeySource::Csr(ca.csr.to_vec()),
    )
    .await
    .expect("issued")
}

fn hashes(b64: &[String]) -> Vec<merkle::Hash> {
    b64.iter()
        .map(|h| B64.decode(h).expect("b64").try_into().expect("32"))
        .collect()
}

fn size(n: u64) -> usize {
    usize::try_from(n).expect("a size")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_proofs_and_what_they_refuse() {
    let ca = test_ca().await;
    let log = Log::open(&ca.home).expect("log");
    let first = issue(&ca, 1).await;
    let key = log.note_key(ca.store).expect("note key");
    let vkey = std::fs::read_to_string(ca.home.log_dir().join("note.vkey")).expect("vkey");
    let verifier = note::parse_vkey(&vkey).expect("parses");
    assert_eq!(verifier.name, ORIGIN);
    assert_eq!(key.vkey(), vkey.trim());
    let old = note::open(&verifier, &log.checkpoint(ca.store).expect("cp"), ORIGIN).expect("opens");
    assert_eq!(old.size, log.verify().expect("verifies").entries as u64);
    for id in 2..5 {
        issue(&ca, id).await;
    }

    let new = note::open(&verifier, &log.checkpoint(ca.store).expect("cp"), ORIGIN).expect("opens");
    assert!(new.size > old.size);
    // The same key signs every checkpoint (named once in note.key).
    assert_eq!(log.note_key(ca.store).expect("again").id, key.id);
    let c = log.consistency(old.size, new.size).expect("proof");
    let (m, n) = (size(old.size), size(new.size));
    assert!(merkle::verify_consistency(
        m,
        n,
        &old.root,
        &new.root,
        &hashes(&c.proof)
    ));
    assert!(!merkle::verify_consistency(
        m,
        n,
        &new.root,
        &new.root,
        &hashes(&c.proof)
    ));
    assert!(log.consistency(0, new.size).is_err());
    assert!(log.consistency(new.size, old.size).is_err());
    assert!(
        log.consistency(1, new.size + 1).is_err(),
        "past the signed size"
    );
    // The first certificate is in the newer tree, under its own entry.
    let sha = &first.record.certificate_sha256;
    let inc = log.certificate_inclusion(sha, new.size).expect("found");
    assert!(inc.entry.contains(sha.as_str()));
    let leaf = merkle::leaf_hash(inc.entry.as_bytes());
    assert!(merkle::verify_inclusion(
        &leaf,
        size(inc.index),
        n,
        &hashes(&inc.proof),
        &new.root
    ));
    // A certificate the log never held has no proof; nor has a malformed hash.
    let never = "ab".repeat(32);
    assert!(matches!(
        log.certificate_inclusion(&never, new.size),
        Err(keymgr::Error::NotInLog(_))
    ));
    assert!(log.certificate_inclusion("zz", new.size).is_err());
    // A head rewritten on disk (another root) is not signed as a checkpoint.
    let heads = ca.home.log_dir().join("heads.jsonl");
    let kept = std::fs::read_to_string(&heads).expect("heads");
    let mut last: serde_json::Value =
        serde_json::from_str(kept.lines().last().expect("a head")).expect("json");
    last["root"] = serde_json::json!("00".repeat(32));
    let mut lines: Vec<String> = kept.lines().map(str::to_owned).collect();
    *lines.last_mut().expect("a head") = last.to_string();
    std::fs::write(&heads, lines.join("\n") + "\n").expect("write");
    assert!(
        log.checkpoint(ca.store).is_err(),
        "a forged head is not vouched for"
    );
    // The log cut back to the head before: refused, though heads and entries agree.
    lines.truncate(kept.lines().count() - 1);
    std::fs::write(&heads, lines.join("\n") + "\n").expect("write");
    let entries = ca.home.log_dir().join("entries.jsonl");
    let text = std::fs::read_to_string(&entries).expect("entries");
    let last_size = size(
        serde_json::from_str::<serde_json::Value>(lines.last().expect("head")).expect("json")
            ["size"]
            .as_u64()
            .expect("size"),
    );
    let cut: Vec<&str> = text.lines().take(last_size).collect();
    std::fs::write(&entries, cut.join("\n") + "\n").expect("write");
    let _ = std::fs::remove_file(ca.home.log_dir().join("frontier.json"));
    let refused = log.checkpoint(ca.store).expect_err("cut back");
    assert!(refused.to_string().contains("cut back"), "{refused}");
}

/// A key binding is logged under the hash of what it signs, as certificates are, and found by
/// it; another binding for the same official is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_binding_is_found_by_its_hash() {
    let ca = test_ca().await;
    let log = Log::open(&ca.home).expect("log");
    let binding = keymgr::issue::bind_encryption_key(
        &ca.home,
        ca.store,
        "198001012005011001",
        "Budi Santoso",
        "dinkes",
        &age::x25519::Identity::generate().to_public().to_string(),
        30,
    )
    .expect("bound");
    issue(&ca, 1).await;
    let vkey = {
        log.note_key(ca.store).expect("note key");
        std::fs::read_to_string(ca.home.log_dir().join("note.vkey")).expect("vkey")
    };
    let verifier = note::parse_vkey(&vkey).expect("parses");
    let cp = note::open(&verifier, &log.checkpoint(ca.store).expect("cp"), ORIGIN).expect("opens");
    let bound = keymgr::issue::binding_sha256(&binding);
    let inc = log.certificate_inclusion(&bound, cp.size).expect("found");
    assert!(inc.entry.contains("key-binding") && inc.entry.contains(bound.as_str()));
    assert!(merkle::verify_inclusion(
        &merkle::leaf_hash(inc.entry.as_bytes()),
        size(inc.index),
        size(cp.size),
        &hashes(&inc.proof),
        &cp.root
    ));
    let mut other = binding;
    other.recipient = age::x25519::Identity::generate().to_public().to_string();
    let other = keymgr::issue::binding_sha256(&other);
    assert!(matches!(
        log.certificate_inclusion(&other, cp.size),
        Err(keymgr::Error::NotInLog(_))
    ));
    // keymgr signs its word that a hash is absent, never for one that is there.
    let absent = log.absence(ca.store, &other, cp.size).expect("absent");
    let said = note::open(&verifier, &absent, keymgr::tlog::ABSENT_ORIGIN).expect("signed");
    assert_eq!((said.size, hex::encode(said.root)), (cp.size, other));
    assert!(
        note::open(&verifier, &absent, ORIGIN).is_err(),
        "not a checkpoint"
    );
    assert!(log.absence(ca.store, &bound, cp.size).is_err());
}

/// Another process's append (written here straight to the entries file, as it lands) is seen
/// by this process's next append: the frontier this process keeps in memory is for a shorter
/// log, so the next append takes the tree from the files, and its signed head covers both.
/// Taken from memory regardless, the next entry would reuse the foreign entry's index and the
/// head would leave it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_by_another_process_is_counted_by_the_next() {
    use std::io::Write as _;
    let ca = test_ca().await;
    issue(&ca, 1).await;
    let log = Log::open(&ca.home).expect("log");
    let before = log.verify().expect("verifies");
    let foreign = keymgr::tlog::LogEntry {
        index: before.entries,
        time: "2026-12-05T00:00:00Z".into(),
        kind: "issued".into(),
        data: serde_json::json!({ "serial": "01" }),
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(ca.home.log_dir().join("entries.jsonl"))
        .and_then(|mut f| {
            writeln!(
                f,
                "{}",
                serde_json::to_string(&foreign).expect("serialises")
            )
        })
        .expect("appended");
    issue(&ca, 2).await;
    let after = log
        .verify()
        .expect("every head covers the entries before it");
    assert_eq!(after.entries, before.entries + 2);
    assert_eq!(after.heads, before.heads + 1);
}
