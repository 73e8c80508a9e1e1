//! Attacks on what slow or many clients can hold of the node (issue 15, section 1: timeouts
//! and limits), with the real binary over real TLS: 2,000 slow connections are held while an
//! official logs in and reads a letter, and then closed by the node's timeouts; connections
//! over the per-address and total caps are closed at once; a body under the minimum rate is
//! answered 408; HTTP/2 advertises its stream cap in its SETTINGS.
//!
//! The attack is on the HTTP layer, which does not depend on the storage backend: it runs on
//! SQLite only. `SANDI_ATTACK_DOCSVC` runs it against another build of `docsvc`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandi_e2e::node::DevNode;
use sandi_e2e::steps::Steps;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

mod common;
use common::{Tls, connect, read_status, tcp_from};

const BUDI: &str = "197501012000031001";
const SITI: &str = "198002022005012002";

/// Slow connections held at once, from `ADDRESSES` loopback addresses.
const SLOW: usize = 2000;
const ADDRESSES: u8 = 20;
const PER_ADDRESS: usize = SLOW / ADDRESSES as usize;
/// The total cap leaves the official a few connections beside the slow ones.
const MAX_CONNECTIONS: usize = SLOW + 40;
/// The header, handshake and silence timeouts of this node, in seconds.
const TIMEOUT: u64 = 25;

fn docsvc() -> PathBuf {
    std::env::var_os("SANDI_ATTACK_DOCSVC").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_docsvc")),
        PathBuf::from,
    )
}

/// `[limits]` of the node under attack: small enough to see each one act within the test.
fn configure(data: &Path) {
    set_limits(
        data,
        &[
            ("max_connections", MAX_CONNECTIONS as u64),
            ("max_connections_per_address", PER_ADDRESS as u64),
            ("tls_handshake_secs", TIMEOUT),
            ("header_read_secs", TIMEOUT),
            ("idle_secs", TIMEOUT),
            ("body_min_bytes_per_sec", 100),
            ("body_grace_secs", 2),
            ("h2_max_streams", 16),
        ],
    );
}

/// Writes `limits` as the `[limits]` of the node in `data`.
fn set_limits(data: &Path, limits: &[(&str, u64)]) {
    let path = data.join("node.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path)
        .expect("node.toml")
        .parse()
        .expect("node.toml parses");
    let table = limits
        .iter()
        .map(|(k, v)| {
            let v = toml::Value::Integer(i64::try_from(*v).expect("small"));
            ((*k).to_owned(), v)
        })
        .collect();
    doc.insert("limits".into(), toml::Value::Table(table));
    std::fs::write(&path, toml::to_string(&doc).expect("toml")).expect("write node.toml");
}

/// How long after it opened a connection was closed by the node (`None` while open).
type Closed = Arc<Mutex<Vec<Option<Duration>>>>;

/// A slowloris: a request head sent one byte a second, never finished.
async fn slowloris(mut s: Tls, host: String, closed: Closed, i: usize) {
    let opened = Instant::now();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n");
    if s.write_all(head.as_bytes()).await.is_err() {
        closed.lock().expect("lock")[i] = Some(opened.elapsed());
        return;
    }
    let (mut rd, mut wr) = tokio::io::split(s);
    let trickle = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if wr.write_all(b"X").await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
    };
    let mut b = [0u8; 1024];
    let ended = async move {
        loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = trickle => {}
        () = ended => {}
    }
    closed.lock().expect("lock")[i] = Some(opened.elapsed());
}

/// A TCP connection that never starts its TLS handshake.
async fn silent(mut s: TcpStream, closed: Closed, i: usize) {
    let opened = Instant::now();
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    closed.lock().expect("lock")[i] = Some(opened.elapsed());
}

fn metric(node: &DevNode, name: &str) -> u64 {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(node.root_ca())
        .arg(format!("{}/metrics", node.base()))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// SETTINGS_MAX_CONCURRENT_STREAMS from the node's first SETTINGS frame (RFC 9113 6.5).
async fn h2_max_streams(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Option<u32> {
    let mut s = connect(addr, tls, b"h2", Ipv4Addr::LOCALHOST)
        .await
        .expect("connect h2");
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("preface");
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).await.ok()?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.ok()?;
        // A SETTINGS frame that is not an ACK.
        if head[3] == 0x4 && head[4] & 0x1 == 0 {
            return payload.chunks_exact(6).find_map(|p| {
                (u16::from_be_bytes([p[0], p[1]]) == 0x3)
                    .then(|| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
            });
        }
    }
}

/// Section 1, timeouts and limits. Fails on a node without them: the per-address and total
/// caps and the 408 are not there, and the slow connections are never closed (hyper's auto
/// protocol detection waits on a silent TLS connection without a timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_many_clients_hold_nothing_and_officials_are_served() {
    sandi_e2e::node::require("curl");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start_with(&docsvc(), &dir.path().join("node"), &[], configure);
    let addr: SocketAddr = node.listen.parse().expect("addr");
    let tls = docsvc::network::client::tls_config(&node.root_ca(), None).expect("TLS config");
    let host = node.listen.clone();

    // What the later steps stand on: a letter for Siti, before the siege.
    let (id, content) = a_letter_for_siti(&node, dir.path());
    let mut steps = Steps::new();
    steps
        .run_async(
            "http2_advertises_its_stream_cap",
            http2_advertises_its_stream_cap(addr, &tls),
        )
        .await;
    steps
        .run_async(
            "a_slow_body_is_answered_408",
            a_slow_body_is_answered_408(addr, &tls, &host),
        )
        .await;

    // The siege, which the steps after it stand on.
    let siege = lay_siege(addr, &tls, &host).await;
    steps
        .run_async(
            "one_more_from_a_besieging_address_is_refused",
            one_more_from_a_besieging_address_is_refused(addr, &tls),
        )
        .await;
    steps
        .run_async(
            "an_official_is_served_under_siege",
            an_official_is_served_under_siege(&node, dir.path(), &siege, id, content),
        )
        .await;
    let mut over = 0usize;
    steps
        .run_async("the_total_cap_refuses_the_rest", async {
            over = the_total_cap_refuses_the_rest(addr, &tls).await;
        })
        .await;
    let Siege {
        closed,
        opening,
        tasks,
    } = siege;
    steps
        .run_async(
            "the_timeouts_close_every_slow_connection",
            the_timeouts_close_every_slow_connection(&closed, opening, tasks),
        )
        .await;
    steps.run("the_siege_is_counted_and_held_little", || {
        the_siege_is_counted_and_held_little(&node, over);
    });
    steps
        .run_async(
            "idle_connections_are_closed",
            idle_connections_are_closed(addr, &tls, &host),
        )
        .await;
    steps.finish();
}

/// A letter from Budi to Siti; its id and content.
fn a_letter_for_siti(node: &DevNode, dir: &Path) -> (String, Vec<u8>) {
    let budi = node.login(BUDI, true, dir.join("budi.jar"));
    let content = b"%PDF-1.4\n% surat di tengah serangan\n%%EOF\n".to_vec();
    let id = post_to_siti(&budi, &dir.join("surat.pdf"), &content, "005/LIM/XI/2026");
    (id, content)
}

/// Budi's TERBATAS letter of `content` (written to `pdf`) to Siti, numbered `nomor`: its id.
fn post_to_siti(budi: &sandi_e2e::http::Client, pdf: &Path, content: &[u8], nomor: &str) -> String {
    std::fs::write(pdf, content).expect("pdf");
    let r = budi.post_letter(
        &json!({
            "nomor": nomor, "perihal": "Rapat koordinasi", "classification": "terbatas",
            "urgency": "biasa", "recipients": [SITI],
        }),
        pdf,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

/// HTTP/2: the stream cap, as the node's first SETTINGS frame says it on the wire.
async fn http2_advertises_its_stream_cap(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) {
    assert_eq!(
        h2_max_streams(addr, tls).await,
        Some(16),
        "HTTP/2 stream cap"
    );
}

/// A body under the minimum rate (100 B/s after 2 s): 408, and the connection closes.
async fn a_slow_body_is_answered_408(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
) {
    let mut s = connect(addr, tls, b"http/1.1", Ipv4Addr::LOCALHOST)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 400\r\n\r\n{{\"nip\":"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(s);
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if wr.write_all(b" ").await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    let status = tokio::time::timeout(Duration::from_secs(20), read_status(&mut rd))
        .await
        .expect("an answer to a slow body within 20 s");
    trickle.abort();
    assert_eq!(status, Some(408), "a body at 2 B/s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
}

/// The slow connections held, when they were opened, and their tasks.
struct Siege {
    closed: Closed,
    opening: Instant,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The siege: from each of 20 addresses, 75 slowloris over TLS and 25 TCP connections that
/// never start TLS.
async fn lay_siege(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>, host: &str) -> Siege {
    let closed: Closed = Arc::new(Mutex::new(vec![None; SLOW]));
    let opening = Instant::now();
    let mut tasks = Vec::with_capacity(SLOW);
    for a in 0..ADDRESSES {
        let from = Ipv4Addr::new(127, 0, 0, 2 + a);
        let mut opened = Vec::new();
        for k in 0..PER_ADDRESS {
            let tls = Arc::clone(tls);
            opened.push(tokio::spawn(async move {
                if k < PER_ADDRESS * 3 / 4 {
                    connect(addr, &tls, b"http/1.1", from).await.map(Ok)
                } else {
                    tcp_from(addr, from).await.map(Err)
                }
            }));
        }
        for (k, o) in opened.into_iter().enumerate() {
            let i = usize::from(a) * PER_ADDRESS + k;
            let conn = o
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("slow connection {i}: {e}"));
            let closed = Arc::clone(&closed);
            let host = host.to_owned();
            tasks.push(tokio::spawn(async move {
                match conn {
                    Ok(tls) => slowloris(tls, host, closed, i).await,
                    Err(tcp) => silent(tcp, closed, i).await,
                }
            }));
        }
    }
    let opened_in = opening.elapsed();
    eprintln!("{SLOW} slow connections opened in {opened_in:?}");
    Siege {
        closed,
        opening,
        tasks,
    }
}

/// One more from a besieging address: over its cap, closed at once.
async fn one_more_from_a_besieging_address_is_refused(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
) {
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        connect(addr, tls, b"http/1.1", Ipv4Addr::new(127, 0, 0, 2)),
    )
    .await
    .expect("refused at once, not held");
    assert!(refused.is_err(), "a 101st connection from one address");
}

/// Meanwhile an official logs in (password, then PIN) and reads the letter, and every slow
/// connection is still held.
async fn an_official_is_served_under_siege(
    node: &DevNode,
    dir: &Path,
    siege: &Siege,
    id: String,
    content: Vec<u8>,
) {
    let serving = Instant::now();
    let node_ca = node.root_ca();
    let base = node.base();
    let (password, pin) = node.creds[SITI].clone();
    let jar = dir.join("siti.jar");
    let read = tokio::task::spawn_blocking(move || {
        let mut siti = sandi_e2e::http::Client::new(&base, &node_ca, jar);
        let r = siti.post_json(
            "/api/v1/session",
            &json!({ "nip": SITI, "password": password }),
        );
        assert_eq!(r.status, 200, "login under siege: {}", r.text());
        siti.csrf = r.json()["csrf"].as_str().map(str::to_owned);
        let r = siti.post_json("/api/v1/session/step-up", &json!({ "pin": pin }));
        assert_eq!(r.status, 200, "step-up under siege: {}", r.text());
        let r = siti.get(&format!("/api/v1/documents/{id}/content?part=0"));
        assert_eq!(r.status, 200, "read under siege: {}", r.text());
        r.body
    })
    .await
    .expect("the official's requests");
    assert_eq!(read, content, "the letter as written");
    eprintln!("official served in {:?} under siege", serving.elapsed());
    let still_open = siege
        .closed
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| c.is_none())
        .count();
    assert_eq!(
        still_open, SLOW,
        "every slow connection was still held meanwhile"
    );
}

/// The total cap: of 60 more from a fresh address, those over it are closed at once. How many
/// were refused.
async fn the_total_cap_refuses_the_rest(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
) -> usize {
    let mut extra = Vec::new();
    let mut over = 0usize;
    for _ in 0..60 {
        match tokio::time::timeout(
            Duration::from_secs(5),
            connect(addr, tls, b"http/1.1", Ipv4Addr::new(127, 0, 0, 100)),
        )
        .await
        .expect("answered at once")
        {
            Ok(s) => extra.push(s),
            Err(_) => over += 1,
        }
    }
    assert!(
        over >= 20 && extra.len() <= MAX_CONNECTIONS - SLOW,
        "{} taken and {over} refused of 60 beyond {SLOW} held (cap {MAX_CONNECTIONS})",
        extra.len()
    );
    drop(extra);
    over
}

/// The timeouts close every slow connection: not before, and soon after.
async fn the_timeouts_close_every_slow_connection(
    closed: &Closed,
    opening: Instant,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) {
    let deadline = opening + Duration::from_secs(TIMEOUT + 20);
    loop {
        let open = closed
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.is_none())
            .count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} slow connections still open {:?} after the siege began",
            opening.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let times = closed.lock().expect("lock").clone();
    let earliest = times.iter().flatten().min().expect("times");
    assert!(
        *earliest >= Duration::from_secs(TIMEOUT - 2),
        "a slow connection closed after {earliest:?}, before the {TIMEOUT} s timeout"
    );
    for t in tasks {
        t.await.expect("slow task");
    }
}

/// The metrics count the timeouts and refusals; the server's memory stayed small.
fn the_siege_is_counted_and_held_little(node: &DevNode, over: usize) {
    let timed_out = metric(node, "docsvc_connections_timed_out_total");
    assert!(timed_out >= SLOW as u64, "{timed_out} timeouts counted");
    assert!(
        metric(node, "docsvc_connections_refused_total") > over as u64,
        "refusals counted"
    );
    let rss = common::peak_rss_kib(node.server.as_ref().expect("serving").0.id());
    eprintln!("server peak RSS {} MiB", rss / 1024);
    assert!(
        rss < 1024 * 1024,
        "peak RSS {rss} KiB under {SLOW} connections"
    );
}

/// A kept-alive HTTP/1.1 connection left idle, and an HTTP/2 one: closed by the node.
async fn idle_connections_are_closed(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
) {
    let mut idle = connect(addr, tls, b"http/1.1", Ipv4Addr::LOCALHOST)
        .await
        .expect("connect");
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    assert_eq!(read_status(&mut idle).await, Some(200));
    let mut h2 = connect(addr, tls, b"h2", Ipv4Addr::LOCALHOST)
        .await
        .expect("connect h2");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("preface");
    let waited = Instant::now();
    for (what, s) in [("HTTP/1.1 keep-alive", &mut idle), ("HTTP/2", &mut h2)] {
        let mut b = [0u8; 4096];
        let end = tokio::time::timeout(Duration::from_secs(TIMEOUT + 15), async {
            loop {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "an idle {what} connection still open");
    }
    assert!(
        waited.elapsed() >= Duration::from_secs(TIMEOUT - 2),
        "idle connections closed after {:?}",
        waited.elapsed()
    );
}

/// An official's share of reads (`[limits] max_reads_per_official`): with `SHARE` downloads
/// held open a byte at a time, their next read waits its 10 s and is answered 503 `busy`,
/// while another official reads at once; once one of the slow downloads ends, their next read
/// is answered at once. Fails on a node without the share: the third read is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_official_has_their_share_of_reads_and_no_more() {
    sandi_e2e::node::require("curl");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start_with(&docsvc(), &dir.path().join("node"), &[], |data| {
        set_limits(data, &[("max_reads_per_official", SHARE)]);
    });
    let budi = node.login(BUDI, true, dir.path().join("budi.jar"));
    let (id, content) = a_large_letter_for_siti(&budi, dir.path());
    let path = format!("/api/v1/documents/{id}/content?part=0");
    let siti = node.login(SITI, true, dir.path().join("siti.jar"));
    let mut slow: Vec<_> = (0..SHARE)
        .map(|_| siti.spawn("GET", &path, &["--limit-rate", "1k"]))
        .collect();
    until_metric(&node, "docsvc_official_reads", SHARE).await;

    // Siti's next read waits for one of her turns, and so does the letter's web page, which
    // carries its text; Budi's read is his own.
    let waiting = Instant::now();
    let past_share = tokio::task::spawn_blocking({
        let (siti, path) = (siti.clone(), path.clone());
        move || siti.get(&path)
    });
    let page_past_share = tokio::task::spawn_blocking({
        let siti = siti.clone();
        move || siti.get(&format!("/ui/letters/{id}"))
    });
    let read = tokio::task::spawn_blocking({
        let path = path.clone();
        move || budi.get(&path)
    })
    .await
    .expect("Budi's read");
    assert_eq!(read.status, 200, "another official reads at once");
    assert!(read.body == content, "the letter as written");
    assert!(
        !past_share.is_finished(),
        "Budi was served while Siti's read past her share still waited"
    );
    // Budi's turn was given back with the last of his body; Siti's two are still held.
    until_metric(&node, "docsvc_official_reads", SHARE).await;
    let refused = past_share.await.expect("Siti's read past her share");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(
        refused.json()["type"],
        "urn:sandi:problem:busy",
        "{}",
        refused.text()
    );
    assert!(
        refused
            .text()
            .contains(&format!("official {SITI} already has {SHARE}")),
        "{}",
        refused.text()
    );
    assert!(
        waiting.elapsed() >= Duration::from_secs(9),
        "answered after its wait"
    );
    let page = page_past_share.await.expect("Siti's page past her share");
    assert_eq!(page.status, 503, "the page waits its turn too");
    assert_eq!(metric(&node, "docsvc_official_reads_busy_total"), 2);

    // One slow download ends: its turn is given back, and Siti reads at once.
    let mut first = slow.remove(0);
    first.kill().expect("kill curl");
    first.wait().expect("curl ends");
    until_metric(&node, "docsvc_official_reads", SHARE - 1).await;
    let started = Instant::now();
    let again = tokio::task::spawn_blocking(move || siti.get(&path))
        .await
        .expect("Siti's read");
    assert_eq!(again.status, 200, "{}", again.text());
    assert!(again.body == content, "the letter as written");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "served without waiting for a turn"
    );
    for mut c in slow {
        c.kill().expect("kill curl");
        let _ = c.wait();
    }
}

/// Reads one official may have under way in `an_official_has_their_share_of_reads_and_no_more`.
const SHARE: u64 = 2;

/// Waits (30 s at most) until the node's metric `name` reads `value`.
async fn until_metric(node: &DevNode, name: &str, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(node, name) != value {
        assert!(Instant::now() < deadline, "{name} never read {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A 24 MiB letter from Budi to Siti: its id and its content. Larger than what the
/// sockets between the node and a stalled reader can buffer, so a download read slowly is under
/// way for the whole test.
fn a_large_letter_for_siti(budi: &sandi_e2e::http::Client, dir: &Path) -> (String, Vec<u8>) {
    let mut content = b"%PDF-1.4\n".to_vec();
    while content.len() < 24 << 20 {
        content.extend_from_slice(b"% lampiran yang panjang sekali, dibaca pelan-pelan\n");
    }
    content.extend_from_slice(b"%%EOF\n");
    let id = post_to_siti(budi, &dir.join("besar.pdf"), &content, "006/LIM/XII/2026");
    (id, content)
}
