//! Backup and restore with the real binaries: a backup taken while the node serves, checked
//! (seal and contents), refused when a byte changed or the identity is wrong, restored from
//! SQLite onto PostgreSQL, started sealed, unsealed by two custodians with `docsvc unseal`,
//! and the letter read there as it was written; the restored log verifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sandi_e2e::http::Client;
use sandi_e2e::node::{Killed, credentials, fails, ok, wait_port};
use serde_json::json;

const BUDI: &str = "197501012000031001";
const SITI: &str = "198002022005012002";
const CONTENT: &[u8] = b"%PDF-1.7\nrencana cadangan dan pemulihan\n";

fn docsvc(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_docsvc"));
    c.args(args);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run docsvc")
}

fn serve(data: &Path, listen: &str, dev_unseal: bool) -> Killed {
    let mut c = docsvc(&["serve", "--listen", listen, "--data-dir"]);
    c.arg(data);
    if dev_unseal {
        c.arg("--dev-unseal");
    }
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");
    let port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    wait_port(port, "docsvc");
    Killed(child)
}

fn login(base: &str, ca: &Path, jar: PathBuf, nip: &str, creds: &(String, String)) -> Client {
    let mut c = Client::new(base, ca, jar);
    let r = c.post_json(
        "/api/v1/session",
        &json!({ "nip": nip, "password": creds.0 }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    let r = c.post_json("/api/v1/session/step-up", &json!({ "pin": creds.1 }));
    assert_eq!(r.status, 200, "{}", r.text());
    c
}

fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (apt install age)");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).expect("key");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key")
        .to_owned();
    (key, recipient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_from_sqlite_onto_postgres_sealed() {
    let Some((pg_url, pg_name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("primary");
    let listen_a = format!("127.0.0.1:{}", sandi_e2e::free_port());
    let out = ok(&run(docsvc(&[
        "quickstart",
        "--no-serve",
        "--listen",
        &listen_a,
        "--data-dir",
    ])
    .arg(&a)));
    let creds = credentials(&out);
    let root = a.join("ca/root.pem");
    let primary = serve(&a, &listen_a, true);

    // A RAHASIA letter from Budi to Siti.
    let pdf = dir.path().join("surat.pdf");
    std::fs::write(&pdf, CONTENT).expect("pdf");
    let budi = login(
        &format!("https://{listen_a}"),
        &root,
        dir.path().join("budi.jar"),
        BUDI,
        &creds[BUDI],
    );
    let meta = json!({
        "nomor": "005/DR/XI/2026", "perihal": "Uji pemulihan", "classification": "rahasia",
        "urgency": "segera", "recipients": [SITI],
    });
    let r = budi.post_letter(&meta, &pdf);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();

    // Backed up while it serves, to a backup custodian's age key.
    let (key, recipient) = age_key(dir.path(), "backup-custodian.key");
    let file = dir.path().join("primary.sandi-backup");
    let text = ok(&run(docsvc(&[
        "backup",
        "--recipient",
        &recipient,
        "--data-dir",
    ])
    .arg(&a)
    .arg("--out")
    .arg(&file)));
    assert!(text.contains("signed by the node"), "{text}");
    bad_backups_are_refused(dir.path(), &a, &file, &recipient);
    let text = ok(&run(docsvc(&["backup", "verify"])
        .arg(&file)
        .arg("--ca")
        .arg(&root)
        .arg("--identity")
        .arg(&key)));
    assert!(
        text.contains("seal valid: node hub") && text.contains("contents valid"),
        "{text}"
    );
    the_seal_is_checked_under_the_networks_arc(dir.path(), &a, &file, &root);
    // Nothing secret in the clear: the file is ciphertext apart from its seal.
    let bytes = std::fs::read(&file).expect("backup");
    assert!(!bytes.windows(13).any(|w| w == b"Uji pemulihan".as_slice()));
    drop(primary);

    refused_when_changed_or_not_ours(dir.path(), &file, &bytes, &root, &key);

    // Restored onto PostgreSQL in a new data directory.
    let b = dir.path().join("standby");
    let text = ok(&run(docsvc(&["restore"])
        .arg(&file)
        .arg("--ca")
        .arg(&root)
        .arg("--identity")
        .arg(&key)
        .arg("--data-dir")
        .arg(&b)
        .args(["--database-url", &pg_url])));
    assert!(
        text.contains("access log verified") && text.contains("the node is sealed"),
        "{text}"
    );
    // Not over a node that is there.
    let err = fails(&run(docsvc(&["restore"])
        .arg(&file)
        .arg("--ca")
        .arg(&root)
        .arg("--identity")
        .arg(&key)
        .arg("--data-dir")
        .arg(&b)));
    assert!(err.contains("is not empty"), "{err}");
    assert!(
        std::fs::read_to_string(b.join("node.toml"))
            .expect("config")
            .contains("postgres://")
    );

    // The backup held no TLS key: the restored node asked for a new certificate.
    docsvc::dev::tls_issue::dev_issue(
        &docsvc::node::Layout::new(&a),
        &docsvc::node::Layout::new(&b),
    )
    .await
    .expect("the restored node's new TLS certificate");
    restored_node_serves(dir.path(), &a, &b, &root, &creds, &id);
    sandi_e2e::pg::drop_postgres(&pg_name).await;
}

/// The node attributes are looked for under the network's OID arc: the checker's node names
/// it (DOCSVC_DATA_DIR, `[pki]` in node.toml), or `--oid-arc`; under another arc the node's
/// certificate is no node certificate.
fn the_seal_is_checked_under_the_networks_arc(dir: &Path, a: &Path, file: &Path, root: &Path) {
    let text = ok(&run(docsvc(&["backup", "verify"])
        .env("DOCSVC_DATA_DIR", a)
        .arg(file)
        .arg("--ca")
        .arg(root)));
    assert!(text.contains("seal valid: node hub"), "{text}");
    let elsewhere = dir.join("other-network");
    std::fs::create_dir_all(&elsewhere).expect("dir");
    // The quickstart's node has the development arc, the default, which node.toml omits.
    let config = std::fs::read_to_string(a.join("node.toml")).expect("node.toml");
    let other = if config.contains("[pki]") {
        config.replacen("[pki]\n", "[pki]\noid_arc = \"1.3.6.1.4.1.61234\"\n", 1)
    } else {
        format!("{config}\n[pki]\noid_arc = \"1.3.6.1.4.1.61234\"\n")
    };
    assert!(!config.contains("oid_arc"), "{config}");
    std::fs::write(elsewhere.join("node.toml"), other).expect("node.toml");
    let err = fails(&run(docsvc(&["backup", "verify"])
        .env("DOCSVC_DATA_DIR", &elsewhere)
        .arg(file)
        .arg("--ca")
        .arg(root)));
    assert!(err.contains("not a node certificate"), "{err}");
    let err = fails(&run(docsvc(&["backup", "verify"])
        .arg(file)
        .arg("--ca")
        .arg(root)
        .args(["--oid-arc", "1.3.6.1.4.1.61234"])));
    assert!(err.contains("not a node certificate"), "{err}");
}

/// One byte changed: refused before anything is decrypted; someone else's identity cannot
/// open it; nothing is left behind either way.
fn refused_when_changed_or_not_ours(
    dir: &Path,
    file: &Path,
    bytes: &[u8],
    root: &Path,
    key: &Path,
) {
    let tampered = dir.join("tampered.sandi-backup");
    let mut t = bytes.to_vec();
    let mid = t.len() / 2;
    t[mid] ^= 0x01;
    std::fs::write(&tampered, &t).expect("write");
    let err = fails(&run(docsvc(&["backup", "verify"])
        .arg(&tampered)
        .arg("--ca")
        .arg(root)));
    assert!(err.contains("do not match the seal"), "{err}");
    let err = fails(&run(docsvc(&["restore"])
        .arg(&tampered)
        .arg("--ca")
        .arg(root)
        .arg("--identity")
        .arg(key)
        .arg("--data-dir")
        .arg(dir.join("x"))));
    assert!(err.contains("do not match the seal"), "{err}");
    assert!(!dir.join("x").exists());
    // Someone else's identity cannot open it, and nothing is left behind.
    let (other, _) = age_key(dir, "other.key");
    let err = fails(&run(docsvc(&["restore"])
        .arg(file)
        .arg("--ca")
        .arg(root)
        .arg("--identity")
        .arg(&other)
        .arg("--data-dir")
        .arg(dir.join("y"))));
    assert!(err.contains("cannot decrypt"), "{err}");
    assert!(!dir.join("y").exists());
}

/// The restored node starts sealed, two custodians unseal it, and the letter reads as written.
fn restored_node_serves(
    dir: &Path,
    a: &Path,
    b: &Path,
    root: &Path,
    creds: &std::collections::HashMap<String, (String, String)>,
    id: &str,
) {
    let listen_b = format!("127.0.0.1:{}", sandi_e2e::free_port());
    let base_b = format!("https://{listen_b}");
    let standby = serve(b, &listen_b, false);
    let anon = Client::new(&base_b, root, dir.join("anon.jar"));
    assert_eq!(
        anon.get("/readyz").status,
        503,
        "a restored node starts sealed"
    );
    for i in [1, 2] {
        ok(&run(docsvc(&["unseal", "--url", &base_b, "--ca"])
            .arg(root)
            .arg("--share")
            .arg(a.join(format!("shares/node-share-{i}.age")))
            .arg("--identity")
            .arg(a.join(format!("shares/custodian-{i}.key")))));
    }
    assert_eq!(anon.get("/readyz").status, 200);
    let siti = login(&base_b, root, dir.join("siti.jar"), SITI, &creds[SITI]);
    // Her unread letter is still unread there (the restore rebuilds `unread` from the
    // letters, addressees and reads it wrote).
    let page = siti.get("/ui/inbox").text();
    assert!(page.contains("1<span class=\"sr\"> belum dibaca"), "{page}");
    let r = siti.get(&format!("/api/v1/documents/{id}/content"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, CONTENT, "the letter reads as it was written");
    let text = ok(&run(docsvc(&["audit", "verify", "--data-dir"]).arg(b)));
    assert!(text.contains("access log verified"), "{text}");
    drop(standby);
}

/// Bad input is refused with the reason, and nothing is written.
fn bad_backups_are_refused(dir: &Path, a: &Path, file: &Path, recipient: &str) {
    let err = fails(&run(docsvc(&["backup", "--data-dir"])
        .arg(a)
        .arg("--out")
        .arg(file)));
    assert!(err.contains("at least one recipient"), "{err}");
    let err = fails(&run(docsvc(&[
        "backup",
        "--recipient",
        recipient,
        "--data-dir",
    ])
    .arg(a)
    .arg("--out")
    .arg(file)));
    assert!(err.contains("exists already"), "{err}");
    let elsewhere = dir.join("elsewhere.sandi-backup");
    fails(&run(docsvc(&[
        "backup",
        "--recipient",
        recipient,
        "--data-dir",
    ])
    .arg(dir.join("no-such-node"))
    .arg("--out")
    .arg(&elsewhere)));
    assert!(!elsewhere.exists() && !elsewhere.with_extension("partial").exists());
}
