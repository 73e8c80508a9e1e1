//! The access log's checkpoints (issue 22): a node serves its heads as C2SP signed notes with
//! an Ed25519 note key and RFC 9162 proofs between any sizes, and an independent checker
//! written in Python from the texts (`checkpoint_checker.py`, sharing no code with sandi)
//! verifies them. The checker is attacked too: a checkpoint with another root, a proof with
//! one hash changed, an entry rewritten and a key under another name all fail it. Only
//! auditors read checkpoints on the API, and only peer nodes on `/network/v1/log`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sandi_e2e::http::Client;
use sandi_e2e::node::DevNode;

const HENDRA: &str = "198207072008011007"; // inspektorat, auditor
const AGUS: &str = "198503032010013003"; // dinkes staff

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn checker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checkpoint_checker.py")
}

/// Runs the checker; its verdict and what it printed.
fn check(args: &[&Path], cmd: &str) -> (bool, String) {
    let out = Command::new("python3")
        .arg(checker())
        .arg(cmd)
        .args(args)
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn save(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

fn text(c: &Client, path: &str) -> String {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

#[test]
fn checkpoints_verified_by_an_independent_checker() {
    // The checker first proves itself: the Go note package's example, and proofs built from
    // the RFC's recursive definitions, each also mutated.
    let (ok, said) = check(&[], "selftest");
    assert!(ok, "{said}");
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path();
    let node = DevNode::start(docsvc(), &w.join("node"), &[]);
    let hendra = node.login(HENDRA, false, w.join("hendra.jar"));
    let vkey = text(&hendra, "/api/v1/audit/note-key");
    assert!(vkey.starts_with("sandi/"), "{vkey}");
    // The same key is published beside the log for operators.
    assert_eq!(
        std::fs::read_to_string(node.data.join("audit-note.vkey")).expect("vkey file"),
        vkey
    );
    let vk = save(w, "vkey", &vkey);
    let first = save(w, "cp1", &text(&hendra, "/api/v1/audit/checkpoint"));
    let (ok, said) = check(&[&vk, &first], "note");
    assert!(ok, "{said}");
    let size = |cp: &Path| -> u64 {
        std::fs::read_to_string(cp)
            .expect("read")
            .lines()
            .nth(1)
            .expect("size line")
            .parse()
            .expect("size")
    };
    let m = size(&first);
    // The log grows (each login and read is an entry); the later checkpoint extends it.
    let _ = node.login(AGUS, false, w.join("agus.jar"));
    let second = save(w, "cp2", &text(&hendra, "/api/v1/audit/checkpoint"));
    let n = size(&second);
    assert!(n > m, "{m} -> {n}");
    let proof = save(
        w,
        "cons.json",
        &text(
            &hendra,
            &format!("/api/v1/audit/consistency?first={m}&second={n}"),
        ),
    );
    let (ok, said) = check(&[&vk, &first, &second, &proof], "consistency");
    assert!(ok, "{said}");
    for index in [0, m - 1, n - 1] {
        let inc = save(
            w,
            "inc.json",
            &text(
                &hendra,
                &format!("/api/v1/audit/inclusion?index={index}&size={n}"),
            ),
        );
        let (ok, said) = check(&[&vk, &second, &inc], "inclusion");
        assert!(ok, "entry {index}: {said}");
    }
    attacks(w, &vk, &vkey, &first, &second, &proof, &hendra, n);
    refusals(&node, &hendra, n);
}

/// What the checker must refuse.
#[allow(clippy::too_many_arguments)]
fn attacks(
    w: &Path,
    vk: &Path,
    vkey: &str,
    first: &Path,
    second: &Path,
    proof: &Path,
    hendra: &Client,
    n: u64,
) {
    // Another root under the node's signature.
    let cp = std::fs::read_to_string(second).expect("read");
    let mut lines: Vec<String> = cp.lines().map(str::to_owned).collect();
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let forged = save(w, "forged", &(lines.join("\n") + "\n"));
    let (ok, said) = check(&[vk, &forged], "note");
    assert!(!ok && said.contains("does not verify"), "{said}");
    // One hash of the consistency proof changed.
    let mut p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proof).expect("read")).expect("json");
    let hash = p["proof"][0].as_str().expect("a hash").to_owned();
    let rest = hash.get(1..).expect("a hash");
    let flipped = if hash.starts_with('A') {
        format!("B{rest}")
    } else {
        format!("A{rest}")
    };
    p["proof"][0] = serde_json::Value::String(flipped);
    let bad = save(w, "bad.json", &p.to_string());
    let (ok, said) = check(&[vk, first, second, &bad], "consistency");
    assert!(!ok && said.contains("not a prefix"), "{said}");
    // The checkpoints swapped: a smaller tree is not consistent with a larger one's proof.
    let (ok, said) = check(&[vk, second, first, proof], "consistency");
    assert!(!ok && said.contains("other sizes"), "{said}");
    // A proof relabelled for the swapped sizes fails on the hashes themselves.
    let mut p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proof).expect("read")).expect("json");
    let (was_first, was_second) = (p["first"].clone(), p["second"].clone());
    p["first"] = was_second;
    p["second"] = was_first;
    let relabelled = save(w, "relabelled.json", &p.to_string());
    let (ok, said) = check(&[vk, second, first, &relabelled], "consistency");
    assert!(!ok && said.contains("not a prefix"), "{said}");
    // An entry rewritten: its leaf is no longer in the tree.
    let mut inc: serde_json::Value = serde_json::from_str(&text(
        hendra,
        &format!("/api/v1/audit/inclusion?index=0&size={n}"),
    ))
    .expect("json");
    let entry = inc["entry"]
        .as_str()
        .expect("entry")
        .replace("allow", "deny");
    inc["entry"] = serde_json::Value::String(entry);
    let bad = save(w, "inc-bad.json", &inc.to_string());
    let (ok, said) = check(&[vk, second, &bad], "inclusion");
    assert!(!ok && said.contains("not in the tree"), "{said}");
    // The same key under another origin: its hash no longer matches.
    let other = save(w, "vkey-other", &vkey.replacen("sandi/", "other/", 1));
    let (ok, said) = check(&[&other, second], "note");
    assert!(!ok && said.contains("hash does not match"), "{said}");
}

/// Who may read them, and bounds on the sizes asked for.
fn refusals(node: &DevNode, hendra: &Client, n: u64) {
    let agus = node.login(AGUS, false, node.data.join("agus2.jar"));
    let r = agus.get("/api/v1/audit/checkpoint");
    assert_eq!(r.status, 403, "{}", r.text());
    for q in [
        "first=0&second=1".to_owned(),
        "first=2&second=1".to_owned(),
        format!("first=1&second={}", n + 1_000_000),
        "first=x&second=1".to_owned(),
    ] {
        let r = hendra.get(&format!("/api/v1/audit/consistency?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
    }
    let r = hendra.get(&format!("/api/v1/audit/inclusion?index={n}&size={n}"));
    assert_eq!(r.status, 400, "{}", r.text());
    // A browser session is no peer node: the network route wants a node certificate.
    let r = hendra.get("/network/v1/log/checkpoint");
    assert!(
        r.status == 401 || r.status == 403,
        "{}: {}",
        r.status,
        r.text()
    );
}
