//! Attacks on what the node reads and logs from outside (issue 15, section 1), with the real
//! binary over real TLS: request bodies are capped whatever their framing and whoever sends
//! them, an upload without a session is answered at once, and what reaches the access log is
//! validated and bounded.
//!
//! `SANDI_ATTACK_DOCSVC` runs the attacks against another build of `docsvc` (e.g. today's
//! main, to see them fail there).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sandi_e2e::http::Client;
use sandi_e2e::node::DevNode;
use sandi_e2e::steps::Steps;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

mod common;
use common::{connect, read_status};

const BUDI: &str = "197501012000031001";
const SITI: &str = "198002022005012002";
const MIB: usize = 1 << 20;

fn docsvc() -> PathBuf {
    std::env::var_os("SANDI_ATTACK_DOCSVC").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_docsvc")),
        PathBuf::from,
    )
}

/// What an attacking request achieved: the status it got, and how many body bytes the
/// node let it write.
#[derive(Debug)]
struct Sent {
    status: Option<u16>,
    written: usize,
}

/// HTTP/1.1 with a chunked body of `total` bytes: `prefix`, then `filler` bytes, then
/// `suffix`, written while the answer is awaited.
async fn chunked(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    head: &str,
    prefix: &[u8],
    total: usize,
    suffix: &[u8],
) -> Sent {
    let conn = connect(addr, tls, b"http/1.1", Ipv4Addr::LOCALHOST)
        .await
        .expect("TLS");
    let (mut rd, mut wr) = tokio::io::split(conn);
    let written = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&written);
    let head = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    let (prefix, suffix) = (prefix.to_vec(), suffix.to_vec());
    let mut writer = tokio::spawn(async move {
        let chunk = |data: &[u8]| {
            let mut c = format!("{:x}\r\n", data.len()).into_bytes();
            c.extend_from_slice(data);
            c.extend_from_slice(b"\r\n");
            c
        };
        wr.write_all(head.as_bytes()).await?;
        wr.write_all(&chunk(&prefix)).await?;
        let filler = chunk(&vec![b'1'; 64 * 1024]);
        let mut sent = prefix.len();
        while sent + 64 * 1024 + suffix.len() <= total {
            wr.write_all(&filler).await?;
            sent += 64 * 1024;
            count.store(sent, Ordering::SeqCst);
        }
        wr.write_all(&chunk(&suffix)).await?;
        wr.write_all(b"0\r\n\r\n").await?;
        wr.flush().await?;
        count.store(sent + suffix.len(), Ordering::SeqCst);
        // Keep the connection open until the answer is read.
        tokio::time::sleep(Duration::from_secs(600)).await;
        Ok::<(), std::io::Error>(())
    });
    let status = tokio::time::timeout(Duration::from_secs(180), read_status(&mut rd))
        .await
        .ok()
        .flatten();
    let _ = tokio::time::timeout(Duration::from_secs(3), &mut writer).await;
    writer.abort();
    Sent {
        status,
        written: written.load(Ordering::SeqCst),
    }
}

/// curl over HTTP/2 with a body of unknown length (read from a pipe): its status.
fn curl_h2_stream(node: &DevNode, path: &str, content_type: &str, body: &Path) -> u16 {
    let out = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "120", "--cacert"])
        .arg(node.root_ca())
        .args(["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H"])
        .arg(format!("content-type: {content_type}"))
        .args(["-T", "-"])
        .arg(format!("{}{path}", node.base()))
        .stdin(std::fs::File::open(body).expect("body"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The session cookie a curl jar holds.
fn session_of(jar: &Path) -> String {
    std::fs::read_to_string(jar)
        .expect("jar")
        .lines()
        .find(|l| l.contains("sandi_session"))
        .and_then(|l| l.split('\t').next_back())
        .expect("a session cookie")
        .to_owned()
}

/// Every access log entry, as `docsvc audit export` writes them.
fn log_lines(node: &DevNode) -> Vec<String> {
    let out = Command::new(docsvc())
        .args(["audit", "export", "--data-dir"])
        .arg(&node.data)
        .stderr(Stdio::null())
        .output()
        .expect("docsvc audit export");
    assert!(out.status.success(), "audit export failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn letter(perihal: &str) -> serde_json::Value {
    json!({
        "nomor": "005/LIM/XI/2026", "perihal": perihal, "classification": "terbatas",
        "urgency": "biasa", "recipients": [SITI],
    })
}

/// Section 1, bodies and the log: oversized bodies (chunked, Content-Length, HTTP/2 without a
/// length) to the login forms, the API login and an unauthenticated upload; malformed NIPs.
async fn bodies_are_capped_and_the_log_is_bounded(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(&docsvc(), &dir.path().join("node"), extra);
    let addr: SocketAddr = node.listen.parse().expect("addr");
    let tls = docsvc::network::client::tls_config(&node.root_ca(), None).expect("TLS config");
    let host = format!("Host: {}\r\n", node.listen);

    let mut steps = Steps::new();
    steps
        .run_async(
            "a_chunked_form_login_is_cut_short",
            a_chunked_form_login_is_cut_short(addr, &tls, &host),
        )
        .await;
    steps
        .run_async(
            "a_chunked_api_login_is_cut_short",
            a_chunked_api_login_is_cut_short(addr, &tls, &host),
        )
        .await;
    steps.run("http2_bodies_without_a_length_are_capped", || {
        http2_bodies_without_a_length_are_capped(&node, dir.path());
    });
    steps.run("malformed_nips_are_refused_and_not_logged", || {
        malformed_nips_are_refused_and_not_logged(&node, dir.path());
    });
    steps
        .run_async(
            "an_upload_without_a_session_is_answered_at_once",
            an_upload_without_a_session_is_answered_at_once(addr, &tls, &host),
        )
        .await;
    // Budi's session, which the steps after stand on.
    let budi = node.login(BUDI, true, dir.path().join("budi.jar"));
    steps
        .run_async(
            "oversized_metadata_is_refused_before_the_policy",
            oversized_metadata_is_refused_before_the_policy(addr, &tls, &host, &budi),
        )
        .await;
    steps.run("the_node_still_serves", || {
        the_node_still_serves(&node, dir.path(), &budi);
    });
    steps.run("the_log_is_bounded_and_free_of_attackers_nips", || {
        the_log_is_bounded_and_free_of_attackers_nips(&node);
    });
    steps.finish();
}

/// 64 MiB chunked to the web login, unauthenticated: refused after 64 KiB, not read whole.
async fn a_chunked_form_login_is_cut_short(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
) {
    let form_head = format!(
        "POST /ui/login HTTP/1.1\r\n{host}Content-Type: application/x-www-form-urlencoded\r\n"
    );
    let sent = chunked(addr, tls, &form_head, b"nip=", 64 * MIB, b"&password=x").await;
    assert_eq!(
        sent.status,
        Some(413),
        "/ui/login, 64 MiB chunked: {sent:?}"
    );
    assert!(
        sent.written < 16 * MIB,
        "/ui/login read {} bytes of a chunked body",
        sent.written
    );
}

/// 1 MiB chunked JSON to the API login: 413, not a login attempt with a 1 MiB NIP.
async fn a_chunked_api_login_is_cut_short(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
) {
    let json_head =
        format!("POST /api/v1/session HTTP/1.1\r\n{host}Content-Type: application/json\r\n");
    let sent = chunked(
        addr,
        tls,
        &json_head,
        br#"{"nip":""#,
        MIB - 64,
        br#"","password":"x"}"#,
    )
    .await;
    assert_eq!(sent.status, Some(413), "/api/v1/session, 1 MiB chunked");
}

/// HTTP/2, no length: the same caps.
fn http2_bodies_without_a_length_are_capped(node: &DevNode, dir: &Path) {
    let big_form = dir.join("form");
    std::fs::write(
        &big_form,
        format!("nip={}&password=x", "1".repeat(MIB)).as_bytes(),
    )
    .expect("write");
    let big_json = dir.join("json");
    std::fs::write(
        &big_json,
        json!({ "nip": "1".repeat(512 * 1024), "password": "x" }).to_string(),
    )
    .expect("write");
    // Cut at 64 KiB: the client sees the 413 or, while it is still sending, a reset stream
    // (0 here); never a login attempt (the log check below).
    let code = curl_h2_stream(
        node,
        "/ui/login",
        "application/x-www-form-urlencoded",
        &big_form,
    );
    assert!(
        code == 413 || code == 0,
        "/ui/login, 1 MiB over HTTP/2: {code}"
    );
    let code = curl_h2_stream(node, "/api/v1/session", "application/json", &big_json);
    assert!(
        code == 413 || code == 0,
        "/api/v1/session, 512 KiB over HTTP/2: {code}"
    );
}

/// A NIP is 18 digits or the request is a 400, and nothing is logged of it: under the
/// body cap (60 KiB), short and malformed, in the API and in the web form.
fn malformed_nips_are_refused_and_not_logged(node: &DevNode, dir: &Path) {
    let anon = Client::new(&node.base(), &node.root_ca(), dir.join("anon.jar"));
    for nip in [
        "1".repeat(60 * 1024),
        "19750101' OR '1'='1".into(),
        "A".repeat(18),
    ] {
        let r = anon.post_json("/api/v1/session", &json!({ "nip": nip, "password": "x" }));
        assert_eq!(
            r.status,
            400,
            "API login with a malformed NIP: {}",
            r.text()
        );
        assert_eq!(
            r.json()["type"],
            "urn:sandi:problem:invalid-request",
            "{}",
            r.text()
        );
        assert!(r.body.len() < 4096, "the answer repeats the NIP");
        let r = anon.call(
            "POST",
            "/ui/login",
            &[
                "--data-urlencode",
                &format!("nip={nip}"),
                "--data-urlencode",
                "password=x",
            ],
        );
        assert_eq!(r.status, 400, "web login with a malformed NIP");
    }
}

/// An upload without a session is answered 401 at once: the 1 GiB it announces is not
/// awaited, nor read.
async fn an_upload_without_a_session_is_answered_at_once(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
) {
    let mut conn = connect(addr, tls, b"http/1.1", Ipv4Addr::LOCALHOST)
        .await
        .expect("TLS");
    conn.write_all(
        format!(
            "POST /api/v1/documents HTTP/1.1\r\n{host}Content-Type: multipart/form-data; \
             boundary=XX\r\nContent-Length: {}\r\n\r\n--XX\r\n",
            1u64 << 30
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let status = tokio::time::timeout(Duration::from_secs(20), read_status(&mut conn))
        .await
        .ok()
        .flatten();
    assert_eq!(
        status,
        Some(401),
        "an unauthenticated upload is answered at once"
    );
}

/// An official's upload whose metadata part is 64 MiB: refused before the policy is
/// asked, without reading it whole.
async fn oversized_metadata_is_refused_before_the_policy(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
    budi: &Client,
) {
    let head = format!(
        "POST /api/v1/documents HTTP/1.1\r\n{host}Cookie: __Host-sandi_session={}\r\n\
         x-csrf-token: {}\r\nContent-Type: multipart/form-data; boundary=XX\r\n",
        session_of(&budi.jar),
        budi.csrf.as_deref().expect("csrf")
    );
    let sent = chunked(
        addr,
        tls,
        &head,
        b"--XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n",
        64 * MIB,
        b"\r\n--XX--\r\n",
    )
    .await;
    assert_eq!(sent.status, Some(413), "64 MiB of metadata: {sent:?}");
    assert!(
        sent.written < 16 * MIB,
        "64 MiB of metadata: {} bytes read",
        sent.written
    );
}

/// The node still serves: a letter is written and read.
fn the_node_still_serves(node: &DevNode, dir: &Path, budi: &Client) {
    let pdf = dir.join("surat.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\nbatas\n").expect("write");
    let r = budi.post_letter(&letter("Uji batas"), &pdf);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let siti = node.login(SITI, false, dir.join("siti.jar"));
    let r = siti.get(&format!("/api/v1/documents/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// No entry of the access log is larger than 4 KiB, and none carries the attackers' NIPs.
fn the_log_is_bounded_and_free_of_attackers_nips(node: &DevNode) {
    let lines = log_lines(node);
    assert!(lines.len() > 3, "the log has the logins");
    for l in &lines {
        assert!(l.len() < 4096, "a log entry of {} bytes", l.len());
        assert!(
            !l.contains(&"1".repeat(40)) && !l.contains("OR '1'") && !l.contains("AAAA"),
            "an attacker's NIP reached the log: {}",
            &l[..l.len().min(300)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_capped_and_the_log_is_bounded_on_sqlite() {
    bodies_are_capped_and_the_log_is_bounded(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_capped_and_the_log_is_bounded_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    bodies_are_capped_and_the_log_is_bounded(&["--database-url", &url]).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}
