//! The sandi network: three real nodes on loopback from one dev CA (one on PostgreSQL), a
//! network directory signed by the Network CA, node-to-node mutual TLS. Letters go to an
//! official of another node and are read there; nothing is lost while a node is down; a
//! byte flipped in flight stores nothing; a node missing from the directory and a node whose
//! certificate is revoked are refused and logged; an older directory is never taken back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use keymgr::directory::{DirectoryInput, NodeEntry};
use sandi_e2e::node::ok;

mod common;

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

struct Served {
    dir: PathBuf,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A quickstart node (set up, not yet served): its base URL and what quickstart printed.
fn setup(
    dir: &Path,
    id: &str,
    agencies: &str,
    accreditation: &str,
    extra: &[&str],
) -> (String, String) {
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    let printed = ok(&docsvc()
        .args(["quickstart", "--no-serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &listen, "--node-id", id, "--agencies", agencies])
        .args(["--accreditation", accreditation])
        .args(extra)
        .output()
        .expect("docsvc quickstart"));
    (format!("https://{listen}"), printed)
}

/// Logs in (with the PIN step-up) as `nip`, whose password and PIN quickstart printed.
fn login(base: &str, dir: &Path, printed: &str, nip: &str) -> sandi_e2e::http::Client {
    let line = printed
        .lines()
        .find(|l| l.trim_start().starts_with(nip))
        .unwrap_or_else(|| panic!("{nip} in the quickstart output"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let (password, pin) = (f[f.len() - 3], f[f.len() - 2]);
    let mut c = sandi_e2e::http::Client::new(
        base,
        &dir.join("ca/root.pem"),
        dir.join(format!("{nip}.jar")),
    );
    let r = c.post_json(
        "/api/v1/session",
        &serde_json::json!({ "nip": nip, "password": password }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    let r = c.post_json(
        "/api/v1/session/step-up",
        &serde_json::json!({ "pin": pin }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    c
}

fn create(
    c: &sandi_e2e::http::Client,
    level: &str,
    to: &str,
    body: &Path,
) -> sandi_e2e::http::Response {
    let meta = serde_json::json!({
        "nomor": format!("005/{level}/XI/2026"),
        "perihal": "Rapat koordinasi antarinstansi",
        "classification": level,
        "urgency": "segera",
        "recipients": [to],
    });
    c.post_letter(&meta, body)
}

const BUDI: &str = "197501012000031001"; // dinkes, on the hub
const DEWI: &str = "197704042002122004"; // bappeda, on the bappeda node
const JOKO: &str = "196812082000031008"; // dinkes approver, on the hub
const SITI: &str = "198002022005012002"; // dinkes, Sekretaris Dinas, on the hub

/// Letters to an official of another node: encrypted to the key their binding proves, queued
/// for that node in the letter's own transaction; refused (and logged) for a node not
/// accredited for the level; refused for an unknown NIP.
fn sending_to_another_node(
    hub: &Path,
    base: &str,
    printed: &str,
    b: (&Path, &str, &str),
) -> String {
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nundangan rapat\n").expect("write");
    let budi = login(base, hub, printed, BUDI);
    let to_dewi = format!("{DEWI}@bappeda");
    let r = create(&budi, "rahasia", &to_dewi, &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let d = budi
        .get(&format!("/api/v1/documents/{id}/deliveries"))
        .json();
    assert_eq!(d[0]["node"], "bappeda", "{d}");
    assert!(
        ["queued", "sent", "delivered"].contains(&d[0]["state"].as_str().unwrap_or_default()),
        "{d}"
    );
    // The worker delivers it; bappeda checks it, stores it and signs a receipt.
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let d = budi
            .get(&format!("/api/v1/documents/{id}/deliveries"))
            .json();
        if d[0]["state"] == "delivered" {
            break d;
        }
        assert!(Instant::now() < deadline, "not delivered: {d}");
        std::thread::sleep(Duration::from_millis(200));
    };
    receipt_verifies_with_openssl(hub, &delivered[0], &id, files.path());
    // Dewi reads it on her own node.
    let (b_dir, b_base, b_printed) = b;
    let dewi = login(b_base, b_dir, b_printed, DEWI);
    let inbox = dewi.get("/api/v1/documents?box=inbox").text();
    assert!(inbox.contains(&id), "{inbox}");
    let out = files.path().join("dibaca.pdf");
    let r = dewi.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(&body).expect("read")
    );
    // A rotation on bappeda reaches the received letter too: rewrapped, still readable.
    ok(&docsvc()
        .args([
            "keys",
            "rotate-archive",
            "rahasia",
            "--dev-unseal",
            "--data-dir",
        ])
        .arg(b_dir)
        .output()
        .expect("rotate"));
    let text = ok(&docsvc()
        .args(["rewrap", "--dev-unseal", "--data-dir"])
        .arg(b_dir)
        .output()
        .expect("rewrap"));
    assert!(!text.contains("UNOPENABLE"), "{text}");
    let r = dewi.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(&body).expect("read")
    );

    // SANGAT RAHASIA waits for the second approval: nothing leaves the hub before it.
    let r = create(&budi, "sangat_rahasia", &to_dewi, &body);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["state"], "awaiting_approval", "{}", r.text());
    let held = r.json()["id"].as_str().expect("id").to_owned();
    let deliveries = |id: &str| {
        budi.get(&format!("/api/v1/documents/{id}/deliveries"))
            .json()
    };
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        deliveries(&held),
        serde_json::json!([]),
        "nothing queued before approval"
    );
    let joko = login(base, hub, printed, JOKO);
    let r = joko.call("POST", &format!("/api/v1/documents/{held}/approve"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while deliveries(&held)[0]["state"] != "delivered" {
        assert!(
            Instant::now() < deadline,
            "not delivered: {}",
            deliveries(&held)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = dewi.get(&format!("/api/v1/documents/{held}/content"));
    assert_eq!(
        r.status,
        200,
        "read on bappeda after the approval: {}",
        r.text()
    );
    let travelled = the_approval_travels_with_the_letter(&budi, &joko, &dewi, files.path());
    let r = create(&budi, "rahasia", "199912312020121999@bappeda", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    travelled
}

/// Siti signs a letter to Dewi on Budi's behalf (a.n.) under his mandate: bappeda checks the
/// mandate the manifest carries (it names Siti, the level, the day, and Budi signed it) and
/// takes the letter, which Dewi reads there as signed a.n. Budi.
fn signed_for_the_head_on_another_node(
    hub: &Path,
    base: &str,
    printed: &str,
    b: (&Path, &str, &str),
) {
    let budi = login(base, hub, printed, BUDI);
    let siti = login(base, hub, printed, SITI);
    let today = docsvc::node::numbering::Day::today().0.to_string();
    let r = budi.post_json(
        "/api/v1/mandates",
        &serde_json::json!({
            "delegate": SITI, "kind": "an", "max_classification": "rahasia",
            "valid_from": today, "valid_until": today,
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let meta = serde_json::json!({
        "perihal": "Undangan atas nama kepala dinas",
        "kode": "005",
        "classification": "rahasia",
        "urgency": "segera",
        "recipients": [format!("{DEWI}@bappeda")],
        "on_behalf": BUDI,
    });
    let r = siti.post_words(&meta, &serde_json::json!({ "isi": "Mohon hadir." }));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    wait_delivery(&siti, &id, "delivered", 30);
    let (b_dir, b_base, b_printed) = b;
    let dewi = login(b_base, b_dir, b_printed, DEWI);
    let m = dewi.get(&format!("/api/v1/documents/{id}/manifest")).json();
    assert_eq!(m["on_behalf"]["nip"], BUDI, "{m}");
    assert_eq!(m["originator"], SITI, "{m}");
    let page = dewi.get(&format!("/ui/letters/{id}")).text();
    assert!(page.contains("a.n. Kepala Dinas Kesehatan"), "{page}");
}

/// A database writer on bappeda changes the approval that came with letter `id`, then removes
/// it: each read there is refused as an integrity incident, never served with an approval
/// that does not check or without the one it had.
async fn a_received_approval_changed_or_removed_is_refused(b: (&Path, &str, &str), id: &str) {
    use sqlx::{Connection as _, Row as _};
    let (b_dir, b_base, b_printed) = b;
    let dewi = login(b_base, b_dir, b_printed, DEWI);
    let read = || dewi.get(&format!("/api/v1/documents/{id}/content")).status;
    assert_eq!(read(), 200, "as it came");
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database_of(b_dir))
        .await
        .expect("connect");
    let stored: Vec<u8> =
        sqlx::query("SELECT pdf_update FROM received_approvals WHERE document_id = $1")
            .bind(id)
            .fetch_one(&mut db)
            .await
            .expect("the approval came with the letter")
            .try_get(0)
            .expect("bytes");
    let mut changed = stored.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x01;
    sqlx::query("UPDATE received_approvals SET pdf_update = $1 WHERE document_id = $2")
        .bind(changed)
        .bind(id)
        .execute(&mut db)
        .await
        .expect("the insider writes");
    assert_eq!(read(), 500, "a changed approval is an incident");
    sqlx::query("DELETE FROM received_approvals WHERE document_id = $1")
        .bind(id)
        .execute(&mut db)
        .await
        .expect("the insider deletes");
    assert_eq!(read(), 500, "a removed approval is an incident");
    sqlx::query("INSERT INTO received_approvals (document_id, pdf_update) VALUES ($1, $2)")
        .bind(id)
        .bind(stored)
        .execute(&mut db)
        .await
        .expect("put back");
    assert_eq!(read(), 200, "as it came again");
}

/// A SANGAT RAHASIA letter written as words, approved on the hub: its approval's PDF signature
/// travels with it (envelope version 2), so on bappeda Dewi's view (watermarked, as the level
/// asks) carries both stamps, the signer's and the approver's, as on the hub.
fn the_approval_travels_with_the_letter(
    budi: &sandi_e2e::http::Client,
    joko: &sandi_e2e::http::Client,
    dewi: &sandi_e2e::http::Client,
    files: &Path,
) -> String {
    let meta = serde_json::json!({
        "nomor": "005/SR/XII/2026",
        "perihal": "Rencana pengamanan",
        "classification": "sangat_rahasia",
        "urgency": "segera",
        "recipients": [format!("{DEWI}@bappeda")],
    });
    let naskah = serde_json::json!({ "isi": "Mohon dilaksanakan sesuai rencana." });
    let r = budi.post_words(&meta, &naskah);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let r = joko.call("POST", &format!("/api/v1/documents/{id}/approve"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = budi
            .get(&format!("/api/v1/documents/{id}/deliveries"))
            .json();
        if d[0]["state"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let looks = |who: &sandi_e2e::http::Client, file: &str| {
        let out = files.join(file);
        let r = who.download(&format!("/api/v1/documents/{id}/content"), &out);
        assert_eq!(r.status, 200, "{}", r.headers);
        let pdf = String::from_utf8_lossy(&std::fs::read(&out).expect("read")).into_owned();
        assert!(pdf.contains("/T (Persetujuan)"), "the approval field");
        pdf.matches("/AP").count()
    };
    let on_hub = looks(budi, "hub-view.pdf");
    assert_eq!(
        on_hub, 2,
        "the signer's stamp and the approver's, on the hub"
    );
    assert_eq!(looks(dewi, "bappeda-view.pdf"), on_hub, "and on bappeda");
    id
}

/// The tanda terima is CMS that `openssl cms -verify` checks against the sandi root alone (it
/// carries the node's certificate and its Network CA), and what it carries names the letter
/// and the node.
fn receipt_verifies_with_openssl(hub: &Path, delivery: &serde_json::Value, id: &str, files: &Path) {
    use base64::Engine as _;
    let cms = base64::engine::general_purpose::STANDARD
        .decode(delivery["receipt_cms"].as_str().expect("a receipt"))
        .expect("base64");
    let der = files.join("tanda-terima.p7m");
    std::fs::write(&der, cms).expect("write");
    let out = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-purpose", "any", "-in"])
        .arg(&der)
        .arg("-CAfile")
        .arg(hub.join("ca/root.pem"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).expect("receipt JSON");
    assert_eq!(receipt["format"], "sandi-receipt-v1", "{receipt}");
    assert_eq!(receipt["document_id"], id, "{receipt}");
    assert_eq!(receipt["received_by"], "bappeda", "{receipt}");
}

fn serve(dir: &Path, base: &str) -> Served {
    // The server's log beside the node's directory, for a failing test to show.
    let log = std::fs::File::create(dir.with_extension("log")).expect("the server's log");
    let child = docsvc()
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("docsvc serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--cacert"])
        .arg(dir.join("ca/root.pem"))
        .arg(format!("{base}/readyz"))
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "{base} did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    Served {
        dir: dir.to_path_buf(),
        child,
    }
}

/// The directory's pin of a node: its key (the certificate's SubjectPublicKeyInfo).
fn spki_pin(dir: &Path) -> String {
    let pem = std::fs::read_to_string(dir.join("tls/node-chain.pem")).expect("chain");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    keymgr::directory::spki_sha256(&der).expect("spki")
}

fn entry(dir: &Path, id: &str, base: &str, agencies: &[&str], accreditation: &str) -> NodeEntry {
    NodeEntry {
        id: id.into(),
        agencies: agencies.iter().map(|a| (*a).to_owned()).collect(),
        base_url: base.into(),
        spki_sha256: spki_pin(dir),
        accreditation: accreditation.into(),
        status: "active".into(),
    }
}

fn quorum(hub: &Path) -> (keymgr::ca::Home, keymgr::ceremony::QuorumSession) {
    common::dev_quorum(hub)
}

/// Signs a directory with the hub's dev CA and installs it on `nodes`.
fn publish(hub: &Path, version: u64, entries: Vec<NodeEntry>, nodes: &[&Path]) -> Vec<u8> {
    let (home, quorum) = quorum(hub);
    let d = keymgr::directory::sign(
        &home,
        quorum.online().expect("online"),
        &DirectoryInput {
            version,
            nodes: entries,
        },
    )
    .expect("sign the directory");
    let bytes = serde_json::to_vec_pretty(&d).expect("json");
    for n in nodes {
        install(n, &bytes);
    }
    bytes
}

fn install(node: &Path, directory: &[u8]) {
    let dir = node.join("network");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("directory.json"), directory).expect("install directory");
}

fn ping(from: &Path, to: &str) -> Output {
    docsvc()
        .args(["network", "ping", "--data-dir"])
        .arg(from)
        .arg(to)
        .output()
        .expect("docsvc network ping")
}

fn denials(node: &Path) -> Vec<serde_json::Value> {
    logged(node, "network_connect")
}

/// The access log's denials of `action`, as `docsvc audit export` gives them.
fn logged(node: &Path, action: &str) -> Vec<serde_json::Value> {
    let out = docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(node)
        .output()
        .expect("audit export");
    String::from_utf8_lossy(&ok(&out).into_bytes())
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["action"] == action && e["decision"] == "deny")
        .collect()
}

async fn count(db: &str, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(db).await.expect("connect");
    sqlx::query(sql)
        .fetch_one(&mut c)
        .await
        .expect(sql)
        .try_get::<i64, _>(0)
        .expect("a count")
}

fn database_of(dir: &Path) -> String {
    let toml = std::fs::read_to_string(dir.join("node.toml")).expect("node.toml");
    let url = toml
        .lines()
        .find_map(|l| l.strip_prefix("database_url = "))
        .expect("database_url")
        .trim_matches('"')
        .to_owned();
    if url.starts_with("postgres") {
        url
    } else {
        format!("sqlite://{}", dir.join("docsvc.db").display())
    }
}

/// bappeda is stopped; letters to it wait and are retried; when it is back each is delivered
/// exactly once, with a receipt. A replayed delivery (the same letter sent again) changes
/// nothing there.
async fn nothing_lost_while_a_node_is_down(
    hub: &Path,
    base: &str,
    printed: &str,
    mut node_b: Served,
    b_base: &str,
) -> Served {
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nsaat simpul mati\n").expect("write");
    node_b.child.kill().expect("stop bappeda");
    node_b.child.wait().expect("wait");
    let budi = login(base, hub, printed, BUDI);
    let ids = letters_to_dewi(&budi, 3, &body);
    let state = |id: &str| delivery(&budi, id);
    wait_delivery(&budi, &ids[0], "failed", 20);
    assert!(state(&ids[0])["last_error"].as_str().is_some());
    let b_dir = node_b.dir.clone();
    drop(node_b);
    let node_b = serve(&b_dir, b_base);
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        while state(id)["state"] != "delivered" {
            assert!(Instant::now() < deadline, "{id}: {}", state(id));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Replayed: the hub sends the first one again; bappeda answers with the same receipt and
    // still holds it once.
    let hub_db = database_of(hub);
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&hub_db)
            .await
            .expect("connect");
        sqlx::query(&format!(
            "UPDATE outbox SET state = 'queued' WHERE document_id = '{}'",
            ids[0]
        ))
        .execute(&mut c)
        .await
        .expect("requeue");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&ids[0])["state"] != "delivered" || state(&ids[0])["attempts"].as_i64() < Some(2) {
        assert!(Instant::now() < deadline, "{}", state(&ids[0]));
        std::thread::sleep(Duration::from_millis(200));
    }
    let b_db = database_of(&b_dir);
    for id in &ids {
        assert_eq!(
            count(
                &b_db,
                &format!("SELECT COUNT(*) FROM documents WHERE id = '{id}'")
            )
            .await,
            1,
            "{id} is on bappeda exactly once"
        );
    }
    node_b
}

/// The same letter id with other content (here: the hub reclassified a letter bappeda already
/// holds, and the delivery is replayed) is refused by bappeda and logged there as an
/// incident; bappeda keeps what it received; the hub leaves the delivery dead.
async fn other_content_under_a_known_id_is_an_incident(
    hub: &Path,
    base: &str,
    printed: &str,
    b: &Path,
) {
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nsatu isi\n").expect("write");
    let budi = login(base, hub, printed, BUDI);
    let r = create(&budi, "rahasia", &format!("{DEWI}@bappeda"), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let state = || {
        budi.get(&format!("/api/v1/documents/{id}/deliveries"))
            .json()[0]
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while state()["state"] != "delivered" {
        assert!(Instant::now() < deadline, "{}", state());
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = budi.post_json(
        &format!("/api/v1/documents/{id}/reclassify"),
        &serde_json::json!({ "classification": "terbatas", "reason": "tidak lagi rahasia" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&database_of(hub))
            .await
            .expect("connect");
        sqlx::query(&format!(
            "UPDATE outbox SET state = 'queued' WHERE document_id = '{id}'"
        ))
        .execute(&mut c)
        .await
        .expect("requeue");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while state()["state"] != "dead" {
        assert!(Instant::now() < deadline, "{}", state());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        state()["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("409")),
        "{}",
        state()
    );
    let log = ok(&docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(b)
        .output()
        .expect("audit export"));
    assert!(
        log.lines()
            .any(|l| l.contains("integrity_incident") && l.contains(&id)),
        "logged as an incident on bappeda"
    );
    let b_db = database_of(b);
    assert_eq!(
        count(
            &b_db,
            &format!(
                "SELECT COUNT(*) FROM documents WHERE id = '{id}' AND classification = 'rahasia'"
            )
        )
        .await,
        1,
        "bappeda keeps what it received"
    );
}

/// Where the proxy flips a byte of what the sender sends: past the TLS handshake.
const FLIP_AT: usize = 4000;

/// A proxy between the nodes that flips one byte of what the sender sends while `flip` is
/// set.
async fn flipping_proxy(
    to: std::net::SocketAddr,
    flip: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                continue;
            };
            let flip = std::sync::Arc::clone(&flip);
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut seen = 0usize;
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if flip.load(std::sync::atomic::Ordering::Relaxed)
                            && seen <= FLIP_AT
                            && FLIP_AT < seen + n
                        {
                            buf[FLIP_AT - seen] ^= 0x01;
                        }
                        seen += n;
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    addr
}

/// A byte flipped in flight: the delivery fails (TLS catches it), nothing is stored on the
/// receiver, the letter is left `dead` after the configured attempts; an operator's retry
/// delivers it once the path is clean.
async fn tampered_in_flight(
    hub: &Path,
    base: &str,
    printed: &str,
    b: &Path,
    b_base: &str,
    listed: &[NodeEntry],
) {
    let flip = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let b_addr: std::net::SocketAddr = b_base.trim_start_matches("https://").parse().expect("addr");
    let proxy = flipping_proxy(b_addr, std::sync::Arc::clone(&flip)).await;
    let mut via_proxy = listed.to_vec();
    via_proxy[1].base_url = format!("https://{proxy}");
    publish(hub, 2, via_proxy, &[hub, b]);

    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, vec![b'x'; 20_000]).expect("write");
    let budi = login(base, hub, printed, BUDI);
    let r = create(&budi, "rahasia", &format!("{DEWI}@bappeda"), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let state = || {
        budi.get(&format!("/api/v1/documents/{id}/deliveries"))
            .json()[0]
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while state()["state"] != "dead" {
        assert_ne!(
            state()["state"],
            "delivered",
            "a tampered delivery went through"
        );
        assert!(Instant::now() < deadline, "not given up: {}", state());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(state()["attempts"], 3, "{}", state());
    let b_db = database_of(b);
    assert_eq!(
        count(
            &b_db,
            &format!("SELECT COUNT(*) FROM documents WHERE id = '{id}'")
        )
        .await,
        0,
        "nothing tampered is stored"
    );
    let listing = ok(&docsvc()
        .args(["outbox", "list", "--data-dir"])
        .arg(hub)
        .output()
        .expect("outbox list"));
    assert!(
        listing.contains(&id) && listing.contains("dead"),
        "{listing}"
    );

    flip.store(false, std::sync::atomic::Ordering::Relaxed);
    ok(&docsvc()
        .args(["outbox", "retry", "--dev-unseal", "--data-dir"])
        .arg(hub)
        .args([id.as_str(), "bappeda"])
        .output()
        .expect("outbox retry"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while state()["state"] != "delivered" {
        assert!(
            Instant::now() < deadline,
            "not delivered after the retry: {}",
            state()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        count(
            &b_db,
            &format!("SELECT COUNT(*) FROM documents WHERE id = '{id}'")
        )
        .await,
        1
    );
    // Back to the direct path.
    publish(hub, 3, listed.to_vec(), &[hub, b]);
}

async fn revoke_node(hub: &Path, node: &Path, crl_to: &Path) {
    let (home, quorum) = quorum(hub);
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let pem = std::fs::read_to_string(node.join("tls/node-chain.pem")).expect("pem");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    let serial = keymgr::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string());
    let online = quorum.online().expect("online");
    keymgr::revoke::revoke(&home, online, &inv, &serial, "keyCompromise", None)
        .await
        .expect("revoke");
    let crl = keymgr::revoke::crl(
        &home,
        online,
        &inv,
        keymgr::ca::Ca::Network,
        time::Duration::days(7),
    )
    .await
    .expect("crl");
    sandi_e2e::install(&crl_to.join("crl/network-ca.crl"), &crl.der);
}

/// A SANGAT RAHASIA letter for kecamatan, accredited to terbatas only: kecamatan refuses to
/// hold it when asked for the key, and both nodes log the refusal.
fn refused_on_both_sides(a: &Path, a_base: &str, a_printed: &str, c: &Path) {
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nsangat rahasia\n").expect("write");
    let budi = login(a_base, a, a_printed, BUDI);
    let r = create(&budi, "sangat_rahasia", &format!("{DEWI}@kecamatan"), &body);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["policies"][0],
        "node-accreditation",
        "{}",
        r.text()
    );
    let log_of = |dir: &Path| {
        ok(&docsvc()
            .args(["audit", "export", "--data-dir"])
            .arg(dir)
            .output()
            .expect("audit export"))
    };
    assert!(
        log_of(c)
            .lines()
            .any(|l| l.contains("\"action\":\"receive\"")
                && l.contains("\"decision\":\"deny\"")
                && l.contains("sangat_rahasia letter")),
        "logged on kecamatan"
    );
    assert!(
        log_of(a).lines().any(|l| l.contains("\"action\":\"send\"")
            && l.contains("\"decision\":\"deny\"")
            && l.contains("node kecamatan")),
        "logged on the hub"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_talk_only_to_listed_unrevoked_nodes() {
    let pg = sandi_e2e::pg::postgres().await;
    let root = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        root.path().join("hub"),
        root.path().join("bappeda"),
        root.path().join("kecamatan"),
    );
    let (a_base, a_printed) = setup(
        &a,
        "hub",
        "dinkes,diskominfo,inspektorat",
        "sangat_rahasia",
        &[],
    );
    let join = ["--join", a.to_str().expect("path")];
    let mut b_extra = join.to_vec();
    if let Some((url, _)) = &pg {
        b_extra.extend(["--database-url", url.as_str()]);
    }
    let (b_base, b_printed) = setup(&b, "bappeda", "bappeda", "sangat_rahasia", &b_extra);
    let (c_base, _) = setup(&c, "kecamatan", "kecamatan", "terbatas", &join);

    // Version 1 lists the hub and bappeda; kecamatan is not (yet) a node of the network.
    let listed = vec![
        entry(
            &a,
            "hub",
            &a_base,
            &["dinkes", "diskominfo", "inspektorat"],
            "sangat_rahasia",
        ),
        entry(&b, "bappeda", &b_base, &["bappeda"], "sangat_rahasia"),
    ];
    let v1 = publish(&a, 1, listed.clone(), &[&a, &b, &c]);
    // Few attempts before a delivery is left for an operator, so that the test sees it.
    let config = a.join("node.toml");
    let text = std::fs::read_to_string(&config).expect("node.toml");
    std::fs::write(
        &config,
        text.replace("delivery_attempts = 12", "delivery_attempts = 3"),
    )
    .expect("node.toml");
    let node_a = serve(&a, &a_base);
    let mut node_b = serve(&b, &b_base);
    let node_c = serve(&c, &c_base);

    let text = ok(&ping(&a, "bappeda"));
    assert!(text.contains("knows this node as hub"), "{text}");
    let text = ok(&ping(&b, "hub"));
    assert!(text.contains("knows this node as bappeda"), "{text}");
    let travelled = sending_to_another_node(&a, &a_base, &a_printed, (&b, &b_base, &b_printed));
    signed_for_the_head_on_another_node(&a, &a_base, &a_printed, (&b, &b_base, &b_printed));
    a_received_approval_changed_or_removed_is_refused((&b, &b_base, &b_printed), &travelled).await;
    node_b = nothing_lost_while_a_node_is_down(&a, &a_base, &a_printed, node_b, &b_base).await;
    tampered_in_flight(&a, &a_base, &a_printed, &b, &b_base, &listed).await;
    other_content_under_a_known_id_is_an_incident(&a, &a_base, &a_printed, &b).await;

    // kecamatan is refused by bappeda, and bappeda logs it.
    let out = ping(&c, "bappeda");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "an unlisted node is refused");
    assert!(text.contains("refused") && text.contains("403"), "{text}");
    let logged = denials(&node_b.dir);
    assert!(
        logged.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("is in network directory version 3"))),
        "{logged:?}"
    );

    // Version 2 lists kecamatan: it is accepted. Version 1 put back is not taken.
    let mut more = listed.clone();
    more.push(entry(&c, "kecamatan", &c_base, &["kecamatan"], "terbatas"));
    publish(&a, 4, more, &[&a, &b, &c]);
    let text = ok(&ping(&c, "bappeda"));
    assert!(text.contains("knows this node as kecamatan"), "{text}");
    install(&b, &v1);
    let text = ok(&ping(&c, "bappeda"));
    assert!(
        text.contains("directory version 4"),
        "an older directory is refused: {text}"
    );

    refused_on_both_sides(&a, &a_base, &a_printed, &c);

    // The hub's certificate is revoked: bappeda refuses it on the next request, and logs it.
    revoke_node(&a, &a, &b).await;
    let out = ping(&a, "bappeda");
    assert!(!out.status.success(), "a revoked node is refused");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("revoked"), "{text}");
    assert!(
        denials(&node_b.dir)
            .iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains("revoked"))),
        "the refusal is logged"
    );
    for n in [&node_a, &node_b, &node_c] {
        let out = docsvc()
            .args(["audit", "verify", "--data-dir"])
            .arg(&n.dir)
            .output()
            .expect("audit verify");
        ok(&out);
    }
    drop((node_a, node_b, node_c));
    if let Some((_, name)) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

/// The soak, bounded in count and time: `SANDI_SOAK_LETTERS` letters (2,000 in the suite,
/// 10,000 under `tests/run --extended`) between two nodes while the receiver is killed with
/// SIGKILL twice; every letter arrives exactly once with a receipt and both logs verify.
#[test]
fn soak_delivers_every_letter_once_through_two_receiver_kills() {
    let letters = std::env::var("SANDI_SOAK_LETTERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2000);
    let out = docsvc()
        .args(["soak", "--letters", &letters.to_string(), "--minutes", "15"])
        .output()
        .expect("docsvc soak");
    let text = ok(&out);
    assert!(
        text.contains(&format!(
            "receiver killed 2 times, {letters} on the receiver exactly once, {letters} receipts"
        )),
        "{text}"
    );
    assert_eq!(text.matches("access log verified").count(), 2, "{text}");
}

/// The disaster-recovery drill of `docs/dr.md`: bappeda is backed up, then lost with its data
/// directory; letters the hub sends meanwhile wait in its outbox; a standby restores the backup
/// at bappeda's address, the custodians unseal it, and every letter is delivered to it once,
/// with a receipt, and read there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_restored_from_backup_receives_what_was_sent_while_it_was_down() {
    let root = tempfile::tempdir().expect("tempdir");
    let (a, b) = (root.path().join("hub"), root.path().join("bappeda"));
    let (a_base, a_printed) = setup(&a, "hub", "dinkes", "sangat_rahasia", &[]);
    let join = ["--join", a.to_str().expect("path")];
    let (b_base, b_printed) = setup(&b, "bappeda", "bappeda", "rahasia", &join);
    let listed = vec![
        entry(&a, "hub", &a_base, &["dinkes"], "sangat_rahasia"),
        entry(&b, "bappeda", &b_base, &["bappeda"], "rahasia"),
    ];
    publish(&a, 1, listed, &[&a, &b]);
    let node_a = serve(&a, &a_base);
    let node_b = serve(&b, &b_base);
    // They have corresponded before: the hub knows Dewi's key binding.
    let files = tempfile::tempdir().expect("tempdir");
    let body = files.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nselama bencana\n").expect("write");
    let budi = login(&a_base, &a, &a_printed, BUDI);
    let r = create(&budi, "rahasia", &format!("{DEWI}@bappeda"), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let first = r.json()["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while budi
        .get(&format!("/api/v1/documents/{first}/deliveries"))
        .json()[0]["state"]
        != "delivered"
    {
        assert!(
            Instant::now() < deadline,
            "the first letter is not delivered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (key, backup) = nightly_backup(root.path(), &b);

    // The disaster: bappeda and its disk are gone. The custodians keep their shares.
    drop(node_b);
    let shares = root.path().join("custodians");
    std::fs::rename(b.join("shares"), &shares).expect("custodians' shares");
    std::fs::remove_dir_all(&b).expect("lose bappeda");

    let ids = letters_to_dewi(&budi, 2, &body);
    let state = |id: &str| delivery(&budi, id);
    wait_delivery(&budi, &ids[0], "failed", 20);

    // The standby: the backup restored at bappeda's address, unsealed by the custodians.
    ok(&docsvc()
        .arg("restore")
        .arg(&backup)
        .arg("--ca")
        .arg(a.join("ca/root.pem"))
        .arg("--identity")
        .arg(&key)
        .arg("--data-dir")
        .arg(&b)
        .output()
        .expect("docsvc restore"));
    std::fs::rename(&shares, b.join("shares")).expect("the custodians come");
    // The backup held no TLS key: the standby's new certificate, listed in the next directory.
    docsvc::dev::tls_issue::dev_issue(
        &docsvc::node::Layout::new(&a),
        &docsvc::node::Layout::new(&b),
    )
    .await
    .expect("the standby's new TLS certificate");
    publish(
        &a,
        2,
        vec![
            entry(&a, "hub", &a_base, &["dinkes"], "sangat_rahasia"),
            entry(&b, "bappeda", &b_base, &["bappeda"], "rahasia"),
        ],
        &[&a, &b],
    );
    let standby = serve(&b, &b_base);
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &ids {
        while state(id)["state"] != "delivered" {
            assert!(Instant::now() < deadline, "{id}: {}", state(id));
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(state(id)["receipt_at"].as_str().is_some(), "{}", state(id));
    }
    let dewi = login(&b_base, &b, &b_printed, DEWI);
    for id in &ids {
        let r = dewi.get(&format!("/api/v1/documents/{id}/content"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, b"%PDF-1.7\nselama bencana\n");
        assert_eq!(
            count(
                &database_of(&b),
                &format!("SELECT COUNT(*) FROM documents WHERE id = '{id}'")
            )
            .await,
            1
        );
    }
    for n in [&node_a, &standby] {
        ok(&docsvc()
            .args(["audit", "verify", "--data-dir"])
            .arg(&n.dir)
            .output()
            .expect("audit verify"));
    }
}

/// The nightly backup of `node`, to a backup custodian's age key: (identity file, backup).
fn nightly_backup(root: &Path, node: &Path) -> (PathBuf, PathBuf) {
    let key = root.join("backup-custodian.key");
    ok(&Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen"));
    let recipient = std::fs::read_to_string(&key)
        .expect("key")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("recipient");
    let backup = root.join("bappeda.sandi-backup");
    ok(&docsvc()
        .args(["backup", "--recipient", &recipient, "--data-dir"])
        .arg(node)
        .arg("--out")
        .arg(&backup)
        .output()
        .expect("docsvc backup"));

    (key, backup)
}

/// `n` RAHASIA letters from the hub to Dewi on bappeda: their ids.
fn letters_to_dewi(budi: &sandi_e2e::http::Client, n: usize, body: &Path) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = create(budi, "rahasia", &format!("{DEWI}@bappeda"), body);
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

/// A letter's delivery to its (one) destination node, as the sender shows it.
fn delivery(budi: &sandi_e2e::http::Client, id: &str) -> serde_json::Value {
    budi.get(&format!("/api/v1/documents/{id}/deliveries"))
        .json()[0]
        .clone()
}

/// Waits up to `secs` for the delivery of `id` to reach `state`.
fn wait_delivery(budi: &sandi_e2e::http::Client, id: &str, state: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while delivery(budi, id)["state"] != state {
        assert!(
            Instant::now() < deadline,
            "not {state}: {}",
            delivery(budi, id)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Witnessing (issue 22): three nodes witness each other's access logs every second. The
/// kecamatan node's insider puts back an earlier copy of its whole data directory (database,
/// heads, keys), forking its log from what its peers saw: both peers catch it within a round,
/// count it, log it and show it on `/readyz`; what each holds of the other peers stays
/// witnessed, cosigned, and every log still verifies.
#[tokio::test(flavor = "multi_thread")]
async fn a_forked_log_is_caught_by_both_peers() {
    let root = tempfile::tempdir().expect("tempdir");
    let [(a, a_base), (b, b_base), (c, c_base)] = three_nodes(root.path(), "");
    let a_printed = std::fs::read_to_string(root.path().join("hub.printed")).expect("printed");
    let listed = listing(&[(&a, &a_base), (&b, &b_base), (&c, &c_base)]);
    publish(&a, 1, listed, &[&a, &b, &c]);
    let (node_a, node_b) = (serve(&a, &a_base), serve(&b, &b_base));
    let node_c = serve(&c, &c_base);
    let peers = (a.as_path(), b.as_path());
    wait_witnessed(peers, "both peers witness kecamatan", |s| s >= 0).await;
    // The insider's copy, taken while kecamatan is stopped.
    drop(node_c);
    let copy = root.path().join("kecamatan-copy");
    // Copied before the count below opens the database: its closing removes SQLite's -shm
    // file in the background, which cp may be reading.
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&c)
            .arg(&copy)
            .status()
            .expect("cp")
            .success()
    );
    let copied = count(&database_of(&c), "SELECT COUNT(*) FROM audit_log").await;
    let node_c = serve(&c, &c_base);
    // kecamatan's log grows (refused logins are logged), and both peers witness it grown.
    let anon =
        sandi_e2e::http::Client::new(&c_base, &c.join("ca/root.pem"), root.path().join("x.jar"));
    for _ in 0..3 {
        let wrong = serde_json::json!({ "nip": "198503032010013003", "password": "bukan-1234567" });
        assert_eq!(anon.post_json("/api/v1/session", &wrong).status, 401);
    }
    wait_witnessed(peers, "both peers witness kecamatan grown", |s| s > copied).await;
    // The fork: the earlier copy put back whole, the node started on it.
    drop(node_c);
    std::fs::remove_dir_all(&c).expect("rm");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&copy)
            .arg(&c)
            .status()
            .expect("cp")
            .success()
    );
    let node_c = serve(&c, &c_base);
    let started = Instant::now();
    while !(split_view_on(&a_base, &a) && split_view_on(&b_base, &b)) {
        if started.elapsed() > Duration::from_secs(30) {
            hub_log_and_fail(&a, "both peers see the split view");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (dir, base) in [(&a, &a_base), (&b, &b_base)] {
        counted_and_logged(dir, base);
    }
    the_hubs_auditor_sees_it(&a_base, &a, &a_printed);
    // The other peers stay witnessed, each checkpoint cosigned by the witness.
    let sql = "SELECT COUNT(*) FROM witnessed WHERE node = 'bappeda' AND incident IS NULL \
               AND cosigned LIKE '%sandi/hub/witness%'";
    assert_eq!(count(&database_of(&a), sql).await, 1);
    // Each node's log against what its peers cosigned of it: the hub's stands; the forked
    // one is contradicted by the peers that witnessed the log it was before.
    let verify_peers = |n: &Path| {
        docsvc()
            .args(["audit", "verify", "--peers", "--data-dir"])
            .arg(n)
            .output()
            .expect("audit verify --peers")
    };
    // The restored node witnesses the hub again in its own rounds: until it has, it holds no
    // checkpoint of the hub and is silent about it.
    let since = Instant::now();
    loop {
        let hub_said = ok(&verify_peers(&a));
        if hub_said.contains("verified against 2 peer(s)") {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "{hub_said}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let forked = verify_peers(&c);
    let said = String::from_utf8_lossy(&forked.stdout).into_owned();
    assert!(!forked.status.success(), "{said}");
    assert!(
        said.contains("hub: cosigned") && said.contains("bappeda: cosigned"),
        "{said}"
    );
    assert!(
        said.contains("rewritten") || said.contains("cut back"),
        "{said}"
    );
    drop((node_a, node_b, node_c));
    for n in [&a, &b] {
        ok(&docsvc()
            .args(["audit", "verify", "--data-dir"])
            .arg(n)
            .output()
            .expect("audit verify"));
    }
}

/// The hub, bappeda and kecamatan set up (not served) under `root`, witnessing every second
/// with `witness` more lines of `[witness]`; what quickstart printed for the hub is kept in
/// `root/hub.printed`.
fn three_nodes(root: &Path, witness: &str) -> [(PathBuf, String); 3] {
    let (a, b, c) = (
        root.join("hub"),
        root.join("bappeda"),
        root.join("kecamatan"),
    );
    let (a_base, a_printed) = setup(
        &a,
        "hub",
        "dinkes,diskominfo,inspektorat",
        "sangat_rahasia",
        &[],
    );
    std::fs::write(root.join("hub.printed"), a_printed).expect("printed");
    let join = ["--join", a.to_str().expect("path")];
    let (b_base, _) = setup(&b, "bappeda", "bappeda", "sangat_rahasia", &join);
    let (c_base, _) = setup(&c, "kecamatan", "kecamatan", "terbatas", &join);
    for n in [&a, &b, &c] {
        let config = n.join("node.toml");
        let text = std::fs::read_to_string(&config).expect("node.toml");
        std::fs::write(
            &config,
            format!("{text}\n[witness]\nseconds = 1\n{witness}"),
        )
        .expect("node.toml");
    }
    [(a, a_base), (b, b_base), (c, c_base)]
}

/// The directory entries of nodes set up by [`three_nodes`] (and more, each serving an
/// agency of its own name).
fn listing(nodes: &[(&Path, &str)]) -> Vec<NodeEntry> {
    nodes
        .iter()
        .map(|(dir, base)| {
            let id = dir.file_name().and_then(|n| n.to_str()).expect("id");
            match id {
                "hub" => entry(
                    dir,
                    id,
                    base,
                    &["dinkes", "diskominfo", "inspektorat"],
                    "sangat_rahasia",
                ),
                "kecamatan" => entry(dir, id, base, &[id], "terbatas"),
                _ => entry(dir, id, base, &[id], "sangat_rahasia"),
            }
        })
        .collect()
}

/// Waits until both `peers` hold a witnessed size of kecamatan that `good` accepts (-1:
/// none yet).
async fn wait_witnessed((a, b): (&Path, &Path), what: &str, good: impl Fn(i64) -> bool) {
    let sql = "SELECT COALESCE(MAX(size), -1) FROM witnessed WHERE node = 'kecamatan'";
    let started = Instant::now();
    while !(good(count(&database_of(a), sql).await) && good(count(&database_of(b), sql).await)) {
        if started.elapsed() > Duration::from_secs(30) {
            hub_log_and_fail(a, what);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fails with the end of the hub's server log.
fn hub_log_and_fail(hub: &Path, what: &str) -> ! {
    let log = std::fs::read_to_string(hub.with_extension("log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    panic!("{what}; the hub's log ends:\n{}", tail.join("\n"));
}

/// Whether the node at `base` counts a split view on `/readyz` (which peer is the auditors').
fn split_view_on(base: &str, dir: &Path) -> bool {
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(dir.join("ca/root.pem"))
        .arg(format!("{base}/readyz"))
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["witness"]["split_views"].as_u64().is_some_and(|n| n >= 1)
}

/// The node at `dir` counted one split view of kecamatan and logged it.
fn counted_and_logged(dir: &Path, base: &str) {
    let metrics = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(dir.join("ca/root.pem"))
        .arg(format!("{base}/metrics"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&metrics.stdout).into_owned();
    assert!(text.contains("docsvc_split_views_total 1\n"), "{text}");
    let logged = docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(dir)
        .output()
        .expect("audit export");
    assert!(
        ok(&logged)
            .lines()
            .any(|l| l.contains("witness_split_view") && l.contains("kecamatan")),
        "the split view is in {}'s log",
        dir.display()
    );
}

/// The hub's auditor sees the split view of kecamatan, with its evidence, on the API and on
/// the page; bappeda stays witnessed.
fn the_hubs_auditor_sees_it(a_base: &str, a: &Path, a_printed: &str) {
    let hendra = login(a_base, a, a_printed, "198207072008011007");
    let held = hendra.get("/api/v1/audit/witnessed").json();
    let of = |n: &str| {
        held.as_array()
            .and_then(|h| h.iter().find(|w| w["node"] == n))
            .cloned()
    };
    let kecamatan = of("kecamatan").expect("kecamatan witnessed");
    assert!(
        kecamatan["incident"]
            .as_str()
            .is_some_and(|i| i.contains("went back")),
        "{held}"
    );
    assert!(
        of("bappeda").expect("bappeda witnessed")["incident"].is_null(),
        "{held}"
    );
    assert!(
        hendra
            .get("/ui/audit")
            .text()
            .contains("Pandangan terbelah")
    );
}

/// keymgr serving the hub's dev CA (its publication: CRLs, and the issuance log), unsealed by
/// the two dev custodians' shares: the real binary.
fn keymgr_serving(hub: &Path, port: u16) -> sandi_e2e::node::Killed {
    let shares = hub.join("shares");
    let both = hub.with_extension("custodians.key");
    let keys: String = (1..=2)
        .map(|i| std::fs::read_to_string(shares.join(format!("custodian-{i}.key"))).expect("key"))
        .collect();
    std::fs::write(&both, keys).expect("identities");
    let child = Command::new(sandi_e2e::ca::keymgr_beside(env!("CARGO_BIN_EXE_docsvc")))
        .arg("--home")
        .arg(hub.join("keymgr"))
        .args([
            "serve",
            "--dev-home",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--share")
        .arg(shares.join("keymgr/custodian-1-custodian-satu.age"))
        .arg("--share")
        .arg(shares.join("keymgr/custodian-2-custodian-dua.age"))
        .arg("--identity")
        .arg(&both)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(hub.with_extension("keymgr.log")).expect("log"))
        .spawn()
        .expect("keymgr serve");
    let running = sandi_e2e::node::Killed(child);
    sandi_e2e::node::wait_port(port, "keymgr's publication");
    running
}

fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status");
    (code.parse().expect("status"), body.to_owned())
}

/// The insider's certificate: `node`'s own key certified again with the Network CA's key, as
/// keymgr would certify it, but never appended to keymgr's issuance log.
fn minted_outside_the_log(hub: &Path, node: &Path, id: &str) -> Vec<u8> {
    let (home, quorum) = quorum(hub);
    let store = quorum.online().expect("online");
    let ca_key = home
        .load_state()
        .expect("state")
        .intermediate_key(keymgr::ca::Ca::Network)
        .expect("Network CA key");
    let signer = keymgr::HsmSigner::new(
        store,
        hsm_shim::KeyStore::info(store, ca_key)
            .expect("key")
            .handle(),
    )
    .expect("signer");
    let pem =
        |p: &Path| keymgr::ca::pem_to_der(&std::fs::read_to_string(p).expect("pem")).expect("der");
    let ca_der = pem(&node.join("ca/network-ca.pem"));
    let issuer =
        rcgen::Issuer::from_ca_cert_der(&ca_der.as_slice().into(), signer).expect("issuer");
    let leaf = pem(&node.join("tls/node-chain.pem"));
    let spki = keymgr::ca::spki_of_cert(&leaf).expect("spki");
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, id);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    (params.not_before, params.not_after) = (
        now - time::Duration::hours(1),
        now + time::Duration::days(30),
    );
    let serial: [u8; 16] = std::array::from_fn(|i| u8::try_from(i).expect("byte") ^ 0x5a);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let public = rcgen::SubjectPublicKeyInfo::from_der(&spki).expect("spki");
    params
        .signed_by(&public, &issuer)
        .expect("signed")
        .der()
        .to_vec()
}

/// Replaces `node`'s certificate (the first of its chain) with `der`.
fn install_node_cert(node: &Path, der: &[u8]) {
    let path = node.join("tls/node-chain.pem");
    let chain = std::fs::read_to_string(&path).expect("chain");
    let rest = chain
        .split_once("-----END CERTIFICATE-----\n")
        .map(|(_, r)| r)
        .expect("a chain");
    std::fs::write(&path, keymgr::ca::der_to_pem(der) + rest).expect("write chain");
}

/// Every node follows keymgr's issuance log (witnessed by each, cosigned by the others); a
/// node certificate that keymgr's keys made but its log never held is refused by every node,
/// while the same node with its logged certificate is taken. The independent checker verifies
/// keymgr's checkpoint, a node certificate's inclusion proof and the peers' cosignatures.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_outside_the_issuance_log_is_refused_by_every_node() {
    let root = tempfile::tempdir().expect("tempdir");
    let hub = root.path().join("hub");
    // keymgr is asked for its note key once, and the operators pin it in node.toml.
    let port = sandi_e2e::free_port();
    let agencies = "dinkes,diskominfo,inspektorat";
    let (a_base, _) = setup(&hub, "hub", agencies, "sangat_rahasia", &[]);
    let keymgr = keymgr_serving(&hub, port);
    let url = format!("http://127.0.0.1:{port}");
    let (status, vkey) = http_get(&format!("{url}/log/note-key"));
    assert_eq!(status, 200, "{vkey}");
    assert!(vkey.starts_with("sandi/keymgr/issuance-log+"), "{vkey}");
    drop(keymgr);
    let witness = format!(
        "issuance_log = \"{url}\"\nissuance_log_key = \"{}\"\n",
        vkey.trim()
    );
    let join = ["--join", hub.to_str().expect("path")];
    let mut nodes = vec![(hub.clone(), a_base)];
    for (id, level) in [("bappeda", "sangat_rahasia"), ("kecamatan", "terbatas")] {
        let dir = root.path().join(id);
        let (base, _) = setup(&dir, id, id, level, &join);
        nodes.push((dir, base));
    }
    for (n, _) in &nodes {
        let config = n.join("node.toml");
        let text = std::fs::read_to_string(&config).expect("node.toml");
        std::fs::write(
            &config,
            format!("{text}\n[witness]\nseconds = 1\n{witness}"),
        )
        .expect("node.toml");
    }
    // The insider's node: its certificate is logged (issued like any other) and it is listed.
    let rogue = root.path().join("rogue");
    let (rogue_base, _) = setup(&rogue, "rogue", "rogue", "sangat_rahasia", &join);
    let mut all: Vec<(&Path, &str)> = nodes
        .iter()
        .map(|(d, b)| (d.as_path(), b.as_str()))
        .collect();
    all.push((&rogue, &rogue_base));
    let dirs: Vec<&Path> = all.iter().map(|(d, _)| *d).collect();
    publish(&hub, 1, listing(&all), &dirs);
    let _keymgr = keymgr_serving(&hub, port);
    let _served: Vec<Served> = nodes.iter().map(|(d, b)| serve(d, b)).collect();
    // Once each node trusts a checkpoint cosigned by a peer, the logged certificate is taken.
    let started = Instant::now();
    for (dir, base) in &nodes {
        let id = dir.file_name().and_then(|n| n.to_str()).expect("id");
        loop {
            let out = ping(&rogue, id);
            if out.status.success() {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let said = String::from_utf8_lossy(&out.stderr).into_owned();
                hub_log_and_fail(dir, &format!("{base} takes the logged certificate: {said}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    checked_independently(&hub, &nodes[1].0, &url);
    // The same key, the same listing, a certificate from keymgr's keys outside its log.
    install_node_cert(&rogue, &minted_outside_the_log(&hub, &rogue, "rogue"));
    for (dir, base) in &nodes {
        let id = dir.file_name().and_then(|n| n.to_str()).expect("id");
        let out = ping(&rogue, id);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "{base} took a certificate outside the log"
        );
        assert!(said.contains("not in keymgr's issuance log"), "{said}");
        // Logged, as a refusal and as an integrity incident, once under a signed head.
        let since = Instant::now();
        loop {
            let outside = |e: &serde_json::Value| {
                e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("not in keymgr's issuance log"))
            };
            let refused = denials(dir);
            if refused.iter().any(outside) && logged(dir, "integrity").iter().any(outside) {
                break;
            }
            if since.elapsed() > Duration::from_secs(20) {
                hub_log_and_fail(dir, &format!("{} logs why: {refused:?}", dir.display()));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// The Python checker, from the C2SP and RFC 9162 texts: keymgr's checkpoint as the hub
/// cosigned it carries bappeda's and kecamatan's cosignatures (each checked with that node's
/// note key), and bappeda's node certificate is in it.
fn checked_independently(hub: &Path, bappeda: &Path, url: &str) {
    let files = tempfile::tempdir().expect("tempdir");
    let f = |name: &str, text: &[u8]| {
        let p = files.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let (_, vkey) = http_get(&format!("{url}/log/note-key"));
    let vkey = f("keymgr.vkey", vkey.as_bytes());
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(hub.join("network/issuance-checkpoint")).expect("kept"),
    )
    .expect("JSON");
    let cosigned = kept["checkpoint"]
        .as_str()
        .expect("the checkpoint")
        .to_owned();
    let size: u64 = cosigned
        .lines()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("size");
    let note = f("checkpoint", cosigned.as_bytes());
    let leaf = keymgr::ca::pem_to_der(
        &std::fs::read_to_string(bappeda.join("tls/node-chain.pem")).expect("chain"),
    )
    .expect("der");
    let sha = sandi_e2e::ca::sha256_hex(&leaf);
    let (status, proof) = http_get(&format!("{url}/log/certificates/{sha}?size={size}"));
    assert_eq!(status, 200, "{proof}");
    let proof = f("proof.json", proof.as_bytes());
    let cert = f("bappeda.der", &leaf);
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checkpoint_checker.py");
    let run = |args: &[&str]| {
        let out = Command::new("python3")
            .arg(&checker)
            .args(args)
            .output()
            .expect("python3");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (good, said) = run(&["certificate", &vkey, &note, &proof, &cert]);
    assert!(good, "{said}");
    // The hub's own cosignature and at least one peer's, each under its witness name.
    let witness = |id: &str, of: &str| {
        let dir = hub.with_file_name(of);
        format!(
            "sandi/{id}/witness={}",
            dir.join("audit-note.vkey").display()
        )
    };
    let (good, said) = run(&["cosigned", &vkey, &note, &witness("hub", "hub")]);
    assert!(good, "{said}");
    let peers = ["bappeda", "kecamatan"].map(|p| run(&["cosigned", &vkey, &note, &witness(p, p)]));
    assert!(peers.iter().any(|(good, _)| *good), "{peers:?}");
    // Another certificate's hash, or a witness key that did not cosign: refused.
    let (good, _) = run(&[
        "certificate",
        &vkey,
        &note,
        &proof,
        &f("other.der", b"other"),
    ]);
    assert!(!good);
    let (good, said) = run(&["cosigned", &vkey, &note, &witness("hub", "bappeda")]);
    assert!(!good, "{said}");
    // A hash the log never held: 404 with keymgr's signed word for it, which the checker
    // verifies, and which is no checkpoint.
    let never = "0".repeat(64);
    let (status, absent) = http_get(&format!("{url}/log/certificates/{never}?size={size}"));
    assert_eq!(status, 404);
    let absent = f("absent", absent.as_bytes());
    let (good, said) = run(&["absent", &vkey, &absent, &never, &size.to_string()]);
    assert!(good, "{said}");
    let (good, _) = run(&["absent", &vkey, &absent, &"1".repeat(64), &size.to_string()]);
    assert!(!good, "another hash");
    let (good, _) = run(&["note", &vkey, &absent]);
    assert!(!good, "a statement of absence is no checkpoint");
}
