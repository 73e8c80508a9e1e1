//! Crash consistency, with the real binary on each backend: while 1,000 letters are being
//! written at once, the node is killed with SIGKILL at a random point. After each kill the
//! access log verifies (`docsvc audit verify`), and after the restart every letter the node
//! acknowledged (201) is there, intact and readable, and every letter visible at all is whole:
//! its signature verifies and its content is exactly what was sent.
//!
//! On SQLite the letters' content goes to the content store's files, on PostgreSQL to the
//! database's rows (`content_store = "database"`), so that both stores are proved.
//!
//! `SANDI_CRASH_ROUNDS` kills per backend: 10 in the suite (bounded), 100 in
//! `tests/run --extended`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ring::rand::SecureRandom as _;
use sandi_e2e::node::Killed;
use serde_json::{Value, json};

const BUDI: &str = "197501012000031001";
const SITI: &str = "198002022005012002";
const LETTERS: usize = 1000;
const BOUNDARY: &str = "sandi-crash-boundary";

fn rounds() -> usize {
    std::env::var("SANDI_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn random(rng: &ring::rand::SystemRandom, below: usize) -> usize {
    let mut b = [0u8; 8];
    rng.fill(&mut b).expect("random");
    usize::try_from(u64::from_le_bytes(b) % below as u64).expect("fits")
}

fn sha256(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
}

/// An HTTPS caller: fresh connection per request (a killed node leaves none worth keeping).
#[derive(Clone)]
struct Caller {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    cookie: String,
    csrf: String,
}

impl Caller {
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        let mut c = docsvc::network::client::connect(self.addr, Arc::clone(&self.tls))
            .await
            .map_err(|e| e.to_string())?;
        let mut all = vec![("cookie", self.cookie.as_str())];
        if method != "GET" {
            all.push(("x-csrf-token", self.csrf.as_str()));
        }
        all.extend_from_slice(headers);
        c.call(method, path, &all, body)
            .await
            .map(|(s, _, b)| (s, b))
            .map_err(|e| e.to_string())
    }

    async fn json(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let (s, b) = self
            .call(
                method,
                path,
                &[("content-type", "application/json")],
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

/// Budi logged in and stepped up on the node at `addr`.
async fn budi(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    password: &str,
    pin: &str,
) -> Caller {
    let mut c = docsvc::network::client::connect(addr, Arc::clone(tls))
        .await
        .expect("connect");
    let (status, headers, body) = c
        .call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            Bytes::from(json!({ "nip": BUDI, "password": password }).to_string()),
        )
        .await
        .expect("login");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let csrf = serde_json::from_slice::<Value>(&body).expect("json")["csrf"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let caller = Caller {
        addr,
        tls: Arc::clone(tls),
        cookie,
        csrf,
    };
    let (s, b) = caller
        .json("POST", "/api/v1/session/step-up", &json!({ "pin": pin }))
        .await;
    assert_eq!(s, 200, "{b}");
    caller
}

/// The multipart form of one letter: its nomor and the body's bytes.
fn form(nomor: &str, body: &[u8]) -> Bytes {
    let meta = json!({
        "nomor": nomor, "perihal": "Uji ketahanan crash", "classification": "terbatas",
        "urgency": "biasa", "recipients": [SITI],
    });
    let mut f = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\
         Content-Type: application/json\r\n\r\n{meta}\r\n--{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"body\"; filename=\"surat.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    f.extend_from_slice(body);
    f.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Bytes::from(f)
}

struct Node {
    docsvc: PathBuf,
    data: PathBuf,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    password: String,
    pin: String,
}

impl Node {
    fn serve(&self) -> Killed {
        let child = Killed(
            Command::new(&self.docsvc)
                .args(["serve", "--dev-unseal", "--data-dir"])
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docsvc serve"),
        );
        sandi_e2e::node::wait_port(self.addr.port(), "docsvc");
        child
    }

    fn audit_verify(&self) {
        let out = Command::new(&self.docsvc)
            .args(["audit", "verify", "--data-dir"])
            .arg(&self.data)
            .output()
            .expect("docsvc audit verify");
        sandi_e2e::node::ok(&out);
    }
}

/// One round: 1,000 letters at once, the node killed after a random number of them were
/// acknowledged. Returns what was sent (nomor -> body hash) and the acknowledged letters
/// (id -> nomor).
async fn write_and_kill(
    node: &Node,
    server: Killed,
    round: usize,
    rng: &ring::rand::SystemRandom,
) -> (HashMap<String, String>, HashMap<String, String>) {
    let budi = budi(node.addr, &node.tls, &node.password, &node.pin).await;
    let kill_after = random(rng, LETTERS);
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut sent = HashMap::new();
    let mut tasks = Vec::new();
    for i in 0..LETTERS {
        let nomor = format!("CRASH/{round}/{i}");
        // Bodies of 1-16 KiB: some letters take more than one chunk.
        // Most letters are small (kept in the database with their row); one in four goes
        // past the inline limit to the content store's files.
        let size = if random(rng, 4) == 0 {
            docsvc::store::content::INLINE + random(rng, 64 * 1024)
        } else {
            1024 + random(rng, 15 * 1024)
        };
        let mut body = vec![0u8; size];
        rng.fill(&mut body).expect("random");
        sent.insert(nomor.clone(), sha256(&body));
        let (budi, acked, count) = (budi.clone(), Arc::clone(&acked), Arc::clone(&count));
        tasks.push(tokio::spawn(async move {
            let ct = format!("multipart/form-data; boundary={BOUNDARY}");
            match budi
                .call(
                    "POST",
                    "/api/v1/documents",
                    &[("content-type", ct.as_str())],
                    form(&nomor, &body),
                )
                .await
            {
                Ok((201, b)) => {
                    let v: Value = serde_json::from_slice(&b).expect("201 body is JSON");
                    let id = v["id"].as_str().expect("id").to_owned();
                    acked.lock().expect("lock").insert(id, nomor);
                    count.fetch_add(1, Ordering::SeqCst);
                    None
                }
                // Before the kill every answer must be 201; after it, no answer is expected.
                Ok((s, b)) => Some(format!("{s}: {}", String::from_utf8_lossy(&b))),
                Err(_) => None,
            }
        }));
    }
    // The kill: once `kill_after` letters were acknowledged, after a further random pause of
    // up to 20 ms, so it lands anywhere in a write.
    let mut server = server;
    while count.load(Ordering::SeqCst) < kill_after
        && !tasks.iter().all(tokio::task::JoinHandle::is_finished)
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_micros(random(rng, 20_000) as u64)).await;
    server.0.kill().expect("SIGKILL");
    server.0.wait().expect("reap");
    drop(server);
    let mut refused = Vec::new();
    for t in tasks {
        refused.extend(t.await.expect("task"));
    }
    assert!(
        refused.is_empty(),
        "round {round}: {} letters refused, first: {}",
        refused.len(),
        refused[0]
    );
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    (sent, acked)
}

/// After the restart: every acknowledged letter is visible, and every visible letter of the
/// round is whole and exactly what was sent.
async fn check_round(
    node: &Node,
    round: usize,
    sent: &HashMap<String, String>,
    acked: &HashMap<String, String>,
) -> usize {
    let budi = budi(node.addr, &node.tls, &node.password, &node.pin).await;
    let query = format!("/api/v1/documents?box=outbox&limit=1000&q=CRASH%2F{round}%2F");
    let (status, list) = budi.json("GET", &query, &Value::Null).await;
    assert_eq!(status, 200, "{list}");
    let visible: HashMap<String, String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            (
                d["id"].as_str().expect("id").to_owned(),
                d["nomor"].as_str().expect("nomor").to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = acked
        .keys()
        .filter(|id| !visible.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "round {round}: {} acknowledged letters lost after the crash, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    for (id, nomor) in acked {
        assert_eq!(
            visible.get(id),
            Some(nomor),
            "round {round}: {id} changed nomor"
        );
    }
    let ids: Vec<(String, String)> = visible.into_iter().collect();
    let bad = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(ids);
    let sent = Arc::new(sent.clone());
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (budi, bad, next, ids, sent) = (
            budi.clone(),
            Arc::clone(&bad),
            Arc::clone(&next),
            Arc::clone(&ids),
            Arc::clone(&sent),
        );
        readers.push(tokio::spawn(async move {
            loop {
                let at = next.fetch_add(1, Ordering::SeqCst);
                let Some((id, nomor)) = ids.get(at) else {
                    break;
                };
                let (s, v) = budi
                    .json("GET", &format!("/api/v1/documents/{id}"), &Value::Null)
                    .await;
                if s != 200 || v["signature"]["valid"] != json!(true) {
                    bad.lock().expect("lock").push(format!("{nomor}: {s} {v}"));
                    continue;
                }
                match budi
                    .call(
                        "GET",
                        &format!("/api/v1/documents/{id}/content?part=0"),
                        &[],
                        Bytes::new(),
                    )
                    .await
                {
                    Ok((200, b)) if sent.get(nomor) == Some(&sha256(&b)) => {}
                    Ok((s, b)) => bad.lock().expect("lock").push(format!(
                        "{nomor}: content {s}, {} bytes not as sent",
                        b.len()
                    )),
                    Err(e) => bad.lock().expect("lock").push(format!("{nomor}: {e}")),
                }
            }
        }));
    }
    for r in readers {
        r.await.expect("reader");
    }
    let bad = bad.lock().expect("lock");
    assert!(
        bad.is_empty(),
        "round {round}: {} letters not whole: {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
    ids.len()
}

/// Kills on a node whose letters' content goes where `content_store` says (`node.toml`).
async fn crash_rounds(extra: &[&str], content_store: &str) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let docsvc = Path::new(env!("CARGO_BIN_EXE_docsvc"));
    let mut dev = sandi_e2e::node::DevNode::start(docsvc, &dir.path().join("node"), extra);
    drop(dev.server.take());
    let config = dev.data.join("node.toml");
    let text = std::fs::read_to_string(&config).expect("node.toml");
    std::fs::write(
        &config,
        format!("content_store = \"{content_store}\"\n{text}"),
    )
    .expect("node.toml");
    let (password, pin) = dev.creds.get(BUDI).expect("Budi").clone();
    let tls = docsvc::network::client::tls_config(&dev.root_ca(), None).expect("client TLS");
    let node = Node {
        docsvc: docsvc.to_path_buf(),
        data: dev.data.clone(),
        addr: dev.listen.parse().expect("addr"),
        tls,
        password,
        pin,
    };
    let mut server = node.serve();
    let rng = ring::rand::SystemRandom::new();
    let (mut acked_total, mut visible_total) = (0, 0);
    let mut seen_ids = HashSet::new();
    for round in 0..rounds() {
        let (sent, acked) = write_and_kill(&node, server, round, &rng).await;
        node.audit_verify();
        server = node.serve();
        let visible = check_round(&node, round, &sent, &acked).await;
        acked_total += acked.len();
        visible_total += visible;
        for id in acked.keys() {
            assert!(seen_ids.insert(id.clone()), "id {id} given twice");
        }
    }
    node.audit_verify();
    drop(server);
    eprintln!(
        "{} kills: {acked_total} letters acknowledged, {visible_total} visible, all whole",
        rounds()
    );
    assert!(
        acked_total > 0,
        "no letter was ever acknowledged: the kills came too early"
    );
    (node.data.clone(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_write_on_sqlite_with_content_files_loses_nothing_acknowledged() {
    let (data, _dir) = crash_rounds(&[], "files").await;
    let files = sandi_e2e::node::content_file_count(&data);
    assert!(files > 0, "the content went to no file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_write_on_postgres_with_content_rows_loses_nothing_acknowledged() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let (data, _dir) = crash_rounds(&["--database-url", &url], "database").await;
    assert_eq!(
        sandi_e2e::node::content_file_count(&data),
        0,
        "content written to files on a node that keeps it in the database"
    );
    sandi_e2e::pg::drop_postgres(&name).await;
}
