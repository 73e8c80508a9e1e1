//! Issue 15, the network points, as a peer node would try them: bappeda is a real `docsvc
//! serve` process (on SQLite or PostgreSQL); the hub and kecamatan act from this process with
//! their own node certificates over real mutual TLS, through the library (letters written,
//! envelopes read and sent) or raw HTTP/1.1 where the attack needs it.
//! - a delivery streams on both sides: a 1 GiB letter is sent from the hub's content store and
//!   stored on bappeda with under 150 MiB of peak memory; a delivery refused on its manifest is answered before its body is
//!   sent; a bad ciphertext leaves nothing stored and no spool file behind;
//! - a peer cannot create integrity incidents about letters it did not send;
//! - refusals on `/network/v1` are counted, not logged one entry each;
//! - a peer has its share of deliveries under way at once, and no more.
//!
//! `SANDI_ATTACK_DOCSVC` runs bappeda from another build of `docsvc` (e.g. today's main, to see
//! the attacks succeed there).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docsvc::crypto::envelope::{MANIFEST_FORMAT, Manifest, Urgency};
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::node::{Layout, Node};
use docsvc::officials::Caller;
use docsvc::transmit::Envelope;
use keymgr::directory::{DirectoryInput, NodeEntry};
use rustls::pki_types::ServerName;
use sandi_e2e::node::ok;
use sqlx::{Connection as _, Row as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

mod common;

const BUDI: &str = "197501012000031001"; // dinkes, on the hub
const DEWI: &str = "197704042002122004"; // bappeda
const RUDI: &str = "199005052015031005"; // bappeda
const MIB: usize = 1 << 20;

fn docsvc() -> Command {
    Command::new(
        std::env::var_os("SANDI_ATTACK_DOCSVC")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_docsvc").into()),
    )
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Three dev nodes of one network: bappeda served, the hub and kecamatan in this process.
struct Net {
    _root: tempfile::TempDir,
    b_dir: PathBuf,
    b_addr: SocketAddr,
    bappeda: Option<Served>,
    hub: Arc<Node>,
    kecamatan: Arc<Node>,
    /// The PostgreSQL database to drop: (URL, name).
    pg: Option<(String, String)>,
}

fn quickstart(dir: &Path, id: &str, agency: &str, extra: &[&str]) -> String {
    let listen = format!("127.0.0.1:{}", sandi_e2e::free_port());
    ok(&docsvc()
        .args(["quickstart", "--no-serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &listen, "--node-id", id, "--agencies", agency])
        .args(["--accreditation", "sangat_rahasia"])
        .args(extra)
        .output()
        .expect("docsvc quickstart"));
    listen
}

fn entry(dir: &Path, id: &str, listen: &str, agency: &str) -> NodeEntry {
    let pem = std::fs::read_to_string(dir.join("tls/node-chain.pem")).expect("chain");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    NodeEntry {
        id: id.into(),
        agencies: vec![agency.into()],
        base_url: format!("https://{listen}"),
        spki_sha256: keymgr::directory::spki_sha256(&der).expect("spki"),
        accreditation: "sangat_rahasia".into(),
        status: "active".into(),
    }
}

/// Signs a directory of `entries` with the hub's dev CA and installs it on `nodes`.
fn publish(hub: &Path, entries: Vec<NodeEntry>, nodes: &[&Path]) {
    let (home, quorum) = common::dev_quorum(hub);
    let d = keymgr::directory::sign(
        &home,
        quorum.online().expect("online"),
        &DirectoryInput {
            version: 1,
            nodes: entries,
        },
    )
    .expect("sign the directory");
    let bytes = serde_json::to_vec_pretty(&d).expect("json");
    for n in nodes {
        std::fs::create_dir_all(n.join("network")).expect("mkdir");
        std::fs::write(n.join("network/directory.json"), &bytes).expect("install");
    }
}

/// A node's data directory opened and unsealed in this process (not served).
async fn open(dir: &Path) -> Arc<Node> {
    let node = Node::open(Layout::new(dir)).await.expect("open");
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    Arc::new(node)
}

fn serve(dir: &Path, listen: &str) -> Served {
    let child = docsvc()
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--cacert"])
        .arg(dir.join("ca/root.pem"))
        .arg(format!("https://{listen}/readyz"))
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "bappeda did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    served
}

/// The network, with bappeda on PostgreSQL if `pg` (`None` when PostgreSQL is not there),
/// kecamatan in the directory if `kecamatan_listed`, and `config` added to bappeda's node.toml
/// (left out against another build, whose node.toml may not know it).
async fn net(pg: bool, kecamatan_listed: bool, config: &str) -> Option<Net> {
    let db = if pg {
        Some(sandi_e2e::pg::postgres().await?)
    } else {
        None
    };
    let root = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        root.path().join("hub"),
        root.path().join("bappeda"),
        root.path().join("kecamatan"),
    );
    let a_listen = quickstart(&a, "hub", "dinkes", &[]);
    let join = ["--join", a.to_str().expect("path")];
    let mut b_extra = join.to_vec();
    if let Some((url, _)) = &db {
        b_extra.extend(["--database-url", url.as_str()]);
    }
    let b_listen = quickstart(&b, "bappeda", "bappeda", &b_extra);
    let c_listen = quickstart(&c, "kecamatan", "kecamatan", &join);
    let mut listed = vec![
        entry(&a, "hub", &a_listen, "dinkes"),
        entry(&b, "bappeda", &b_listen, "bappeda"),
    ];
    if kecamatan_listed {
        listed.push(entry(&c, "kecamatan", &c_listen, "kecamatan"));
    }
    publish(&a, listed, &[&a, &b, &c]);
    if !config.is_empty() && std::env::var_os("SANDI_ATTACK_DOCSVC").is_none() {
        // `key = value` replaces the quickstart's, at the top (before any table).
        let path = b.join("node.toml");
        let text = std::fs::read_to_string(&path).expect("node.toml");
        let key = config.split('=').next().map_or("", str::trim);
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| l.split('=').next().map(str::trim) != Some(key))
            .collect();
        std::fs::write(&path, format!("{config}\n{}\n", kept.join("\n"))).expect("node.toml");
    }
    let bappeda = serve(&b, &b_listen);
    Some(Net {
        hub: open(&a).await,
        kecamatan: open(&c).await,
        b_addr: b_listen.parse().expect("addr"),
        b_dir: b,
        bappeda: Some(bappeda),
        _root: root,
        pg: db,
    })
}

impl Net {
    async fn close(mut self) {
        drop(self.bappeda.take());
        if let Some((_, name)) = &self.pg {
            sandi_e2e::pg::drop_postgres(name).await;
        }
    }

    fn pid(&self) -> u32 {
        self.bappeda.as_ref().expect("served").0.id()
    }

    /// bappeda's access log, as `docsvc audit export` gives it.
    fn log(&self) -> Vec<serde_json::Value> {
        let out = docsvc()
            .args(["audit", "export", "--data-dir"])
            .arg(&self.b_dir)
            .output()
            .expect("audit export");
        ok(&out)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// How many letters with this id bappeda holds.
    async fn held(&self, id: &str) -> i64 {
        let url = self.pg.as_ref().map_or_else(
            || format!("sqlite://{}", self.b_dir.join("docsvc.db").display()),
            |(url, _)| url.clone(),
        );
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("connect");
        sqlx::query("SELECT COUNT(*) FROM documents WHERE id = $1")
            .bind(id)
            .fetch_one(&mut c)
            .await
            .expect("count")
            .try_get::<i64, _>(0)
            .expect("a count")
    }
}

/// A RAHASIA letter from Budi (hub) to Dewi on bappeda, of `size` bytes written in 1 MiB
/// blocks: its id. It waits in the hub's outbox until sent.
async fn letter_to_dewi(hub: &Node, perihal: &str, size: usize) -> String {
    let budi = docsvc::officials::directory::get(&hub.store, BUDI)
        .await
        .expect("read")
        .expect("Budi");
    letter(hub, budi, &format!("{DEWI}@bappeda"), perihal, size).await
}

async fn letter(
    node: &Node,
    from: docsvc::officials::directory::Official,
    to: &str,
    perihal: &str,
    size: usize,
) -> String {
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: from,
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: "005/NET/XI/2026".into(),
            kode: None,
            perihal: perihal.into(),
            classification: policies::Level::Rahasia,
            urgency: Urgency::Segera,
            recipients: vec![to.into()],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: None,
        },
    )
    .await
    .expect("begin");
    let blocks = (0..size.div_ceil(MIB)).map(move |i| {
        let n = MIB.min(size - i * MIB);
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(vec![
            u8::try_from(i % 251)
                .unwrap_or(0);
            n
        ]))
    });
    ingest
        .add_part(
            "surat.pdf",
            "application/pdf",
            futures_util::stream::iter(blocks),
        )
        .await
        .expect("part");
    ingest.finish().await.expect("finish").manifest.id
}

/// An envelope as the hub sends it, read back from its store.
async fn envelope(node: &Node, id: &str) -> Envelope {
    let checked = documents::load_checked(node, id).await.expect("letter");
    docsvc::transmit::envelope_of(node, &checked)
        .await
        .expect("envelope")
}

/// The envelope's bytes up to its parts, saying `parts` parts follow.
fn header(manifest: &[u8], signature: &[u8], parts: u32) -> Vec<u8> {
    let mut b = Envelope {
        manifest: manifest.to_vec(),
        signature: signature.to_vec(),
        parts: vec![],
        approval: None,
    }
    .encode();
    b.truncate(b.len() - 4);
    b.extend_from_slice(&parts.to_be_bytes());
    b
}

/// A well-formed manifest that claims to come from `node`.
fn manifest_from(node: &str) -> Vec<u8> {
    Manifest {
        format: MANIFEST_FORMAT.into(),
        id: uuid::Uuid::new_v4().to_string(),
        node: node.into(),
        nomor: "005/X/2026".into(),
        perihal: "Uji".into(),
        classification: policies::Level::Rahasia,
        urgency: Urgency::Biasa,
        originator: BUDI.into(),
        originator_name: "Budi".into(),
        agency: "dinkes".into(),
        recipients: vec![format!("{DEWI}@bappeda")],
        copies: vec![],
        dated: "2026-11-30".into(),
        created_at: "2026-11-30T00:00:00Z".into(),
        parts: vec![],
        policy_version: "x".into(),
        refers: None,
        on_behalf: None,
        reclassified: None,
    }
    .canonical()
    .expect("canonical")
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A mutual-TLS connection to `to` with `from`'s node certificate.
async fn connect(from: &Node, to: SocketAddr) -> Tls {
    let tls = docsvc::network::client_config(from).expect("client config");
    let tcp = tokio::net::TcpStream::connect(to).await.expect("connect");
    tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS")
}

/// One answer: status and JSON body (by its Content-Length); `None` if the connection ends
/// first.
async fn answer(rd: &mut (impl AsyncRead + Unpin)) -> Option<(u16, serde_json::Value)> {
    let mut buf = Vec::new();
    let mut b = [0u8; 8192];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = rd.read(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = rd.read(&mut b).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&b[..n]);
    }
    Some((status, serde_json::from_slice(&body).unwrap_or_default()))
}

/// POSTs a delivery declaring `declared` bytes and sending only `sent`, then waits (at most
/// `wait`) for the answer with the connection held open.
async fn post(
    from: &Node,
    to: SocketAddr,
    declared: usize,
    sent: &[u8],
    wait: Duration,
) -> Option<(u16, serde_json::Value)> {
    let mut s = connect(from, to).await;
    let head = format!(
        "POST /network/v1/letters HTTP/1.1\r\nhost: {to}\r\n\
         content-type: application/vnd.sandi.envelope\r\ncontent-length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.ok()?;
    s.write_all(sent).await.ok()?;
    s.flush().await.ok()?;
    tokio::time::timeout(wait, answer(&mut s)).await.ok()?
}

/// A whole delivery of `env`.
async fn deliver(from: &Node, to: SocketAddr, env: &[u8]) -> (u16, serde_json::Value) {
    post(from, to, env.len(), env, Duration::from_secs(120))
        .await
        .expect("an answer")
}

/// The peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> usize {
    usize::try_from(common::peak_rss_kib(pid)).expect("fits") * 1024
}

fn spool_files(b_dir: &Path) -> usize {
    std::fs::read_dir(b_dir.join("spool")).map_or(0, Iterator::count)
}

/// Point 1: a 1 GiB letter from a real peer is stored with bappeda's peak memory under
/// 150 MiB; a delivery refused on its manifest is answered before its body is
/// sent; a bad ciphertext leaves nothing stored and no spool file; over the limit is a 413.
async fn deliveries_stream(pg: bool) {
    let Some(mut net) = net(pg, false, "").await else {
        return;
    };
    let (big, size) = a_big_letter_streams(&net).await;
    refused_before_the_body(&net).await;
    a_bad_ciphertext_leaves_nothing(&net).await;

    // What was stored opens on bappeda against its signed hash (the stream fails otherwise).
    drop(net.bappeda.take());
    let b = open(&net.b_dir).await;
    let checked = documents::load_checked(&b, &big)
        .await
        .expect("stored letter");
    let mut plain = std::pin::pin!(documents::open_part(&b, &checked, 0).await.expect("open"));
    let mut n = 0usize;
    while let Some(block) = futures_util::StreamExt::next(&mut plain).await {
        n += block
            .unwrap_or_else(|e| panic!("the stored letter: {e}"))
            .len();
    }
    assert_eq!(n, size);
    drop(b);
    net.close().await;
}

/// A 1 GiB letter from the hub: streamed from its content store by the delivery worker,
/// stored on bappeda, with the peak RSS of each side (bappeda's process; the hub, in this
/// test's process) under 150 MiB of growth, and bappeda's whole peak under 150 MiB. Its id
/// and size.
async fn a_big_letter_streams(net: &Net) -> (String, usize) {
    // Warm: one small letter, so the baseline has every path of a delivery in it.
    let small = letter_to_dewi(&net.hub, "Pemanasan", 20 * 1024).await;
    assert_eq!(
        docsvc::transmit::deliver_due(&net.hub)
            .await
            .expect("deliver"),
        1
    );
    assert_eq!(net.held(&small).await, 1);
    let size = 1024 * MIB + 4096;
    let big = letter_to_dewi(&net.hub, "Lampiran besar", size).await;
    let before = peak_rss(net.pid());
    // The hub's peak from here on: reset, so that the letter's writing above does not count.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let hub_before = peak_rss(std::process::id());
    let started = Instant::now();
    assert_eq!(
        docsvc::transmit::deliver_due(&net.hub)
            .await
            .expect("deliver"),
        1
    );
    let took = started.elapsed();
    let d = documents::deliveries(&net.hub, &big)
        .await
        .expect("deliveries");
    assert_eq!(d[0].state, "delivered", "{d:?}");
    assert_eq!(net.held(&big).await, 1);
    let after = peak_rss(net.pid());
    let grown = after.saturating_sub(before);
    let hub_grown = peak_rss(std::process::id()).saturating_sub(hub_before);
    eprintln!(
        "bappeda peak RSS {} MiB before, {} MiB after a {} MiB letter (+{} MiB); the hub's \
         +{} MiB; in {took:?}",
        before / MIB,
        after / MIB,
        size / MIB,
        grown / MIB,
        hub_grown / MIB
    );
    assert!(
        after < 150 * MIB,
        "bappeda's peak memory is {} MiB for a {} MiB letter",
        after / MIB,
        size / MIB
    );
    assert!(
        grown < 64 * MIB && hub_grown < 64 * MIB,
        "peak memory grew by {} MiB on bappeda, {} MiB on the hub, for a {} MiB letter",
        grown / MIB,
        hub_grown / MIB,
        size / MIB
    );
    assert_eq!(spool_files(&net.b_dir), 0, "the spool is empty once stored");
    (big, size)
}

/// Refused on its manifest (it names another node): the answer comes while the 64 MiB the
/// request declares are still unsent. Over the largest letter, declared: 413 at once.
async fn refused_before_the_body(net: &Net) {
    let to = net.b_addr;
    let head = header(&manifest_from("kecamatan"), b"not a signature", 1);
    let mut sent = head.clone();
    sent.extend_from_slice(&(64u64 << 20).to_be_bytes());
    let declared = sent.len() + (64 << 20);
    let answered = post(&net.hub, to, declared, &sent, Duration::from_secs(15)).await;
    let (status, problem) = answered.expect("answered before the body was sent");
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("comes from node kecamatan")),
        "{problem}"
    );
    let answered = post(
        &net.hub,
        to,
        usize::try_from(docsvc::transmit::receive::MAX_BODY).expect("fits") + MIB,
        &head,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(answered.map(|a| a.0), Some(413));
    // A sender still writing sees the refusal, not a reset it would retry: docsvc's own
    // client, as the delivery worker uses it, with 16 MiB behind the refused header.
    let mut env = header(&manifest_from("kecamatan"), b"-", 1);
    env.extend_from_slice(&(16u64 << 20).to_be_bytes());
    env.resize(env.len() + (16 << 20), 7);
    for _ in 0..3 {
        let (_, mut client) = docsvc::network::connect(&net.hub, "bappeda")
            .await
            .expect("connect");
        let kind = [("content-type", "application/vnd.sandi.envelope")];
        let r = client
            .call("POST", "/network/v1/letters", &kind, env.clone().into())
            .await;
        assert_eq!(r.map(|a| a.0).ok(), Some(403));
    }
}

/// A bad ciphertext (one byte of the last chunk flipped): refused, nothing stored, no spool
/// file left; the same letter unflipped is taken.
async fn a_bad_ciphertext_leaves_nothing(net: &Net) {
    let to = net.b_addr;
    let id = letter_to_dewi(&net.hub, "Sandi rusak", 3 * MIB).await;
    let mut env = envelope(&net.hub, &id).await;
    let last = env.parts[0].len() - 100;
    env.parts[0][last] ^= 0x01;
    let (status, problem) = deliver(&net.hub, to, &env.encode()).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("part 0")),
        "{problem}"
    );
    assert_eq!(
        net.held(&id).await,
        0,
        "nothing of a bad ciphertext is stored"
    );
    assert_eq!(spool_files(&net.b_dir), 0, "no spool file is left behind");
    // The same letter unflipped is taken: it was the byte that was refused.
    env.parts[0][last] ^= 0x01;
    let (status, receipt) = deliver(&net.hub, to, &env.encode()).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["receipt"]["document_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_stream_with_bounded_memory_on_sqlite() {
    deliveries_stream(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_stream_with_bounded_memory_on_postgres() {
    deliveries_stream(true).await;
}

fn incidents(net: &Net) -> Vec<serde_json::Value> {
    net.log()
        .into_iter()
        .filter(|e| e["action"] == "integrity_incident")
        .collect()
}

/// Point 2: kecamatan sends the id of a letter bappeda has from the hub, the hub sends the
/// id of bappeda's own letter: each a plain 409, no incident. The hub sending its own letter
/// again with other content still is an incident; the same content again gets its receipt.
async fn incidents_only_about_own_letters(pg: bool) {
    let Some(net) = net(pg, true, "").await else {
        return;
    };
    let to = net.b_addr;
    let from_hub = letter_to_dewi(&net.hub, "Dari hub", 20 * 1024).await;
    assert_eq!(
        docsvc::transmit::deliver_due(&net.hub)
            .await
            .expect("deliver"),
        1
    );
    let env = envelope(&net.hub, &from_hub).await;
    let first = documents::deliveries(&net.hub, &from_hub)
        .await
        .expect("deliveries");
    let received_at = first[0].receipt_at.clone().expect("a receipt");
    let original: Manifest = serde_json::from_slice(&env.manifest).expect("manifest");
    // Dewi's letter to Rudi, written on bappeda itself (stopped meanwhile).
    let mut b = net;
    drop(b.bappeda.take());
    let own = {
        let node = open(&b.b_dir).await;
        let dewi = docsvc::officials::directory::get(&node.store, DEWI)
            .await
            .expect("read")
            .expect("Dewi");
        letter(&node, dewi, RUDI, "Surat bappeda sendiri", 1024).await
    };
    let listen = b.b_addr.to_string();
    b.bappeda = Some(serve(&b.b_dir, &listen));
    let net = b;
    assert!(incidents(&net).is_empty());

    // kecamatan, a listed node, claims the hub's letter id for a letter of its own.
    let mut m = original.clone();
    m.node = "kecamatan".into();
    m.perihal = "Isi lain".into();
    let forged = Envelope {
        manifest: m.canonical().expect("manifest"),
        signature: env.signature.clone(),
        parts: env.parts.clone(),
        approval: None,
    };
    let (status, problem) = deliver(&net.kecamatan, to, &forged.encode()).await;
    assert_eq!(status, 409, "{problem}");

    // The hub claims the id of a letter of bappeda's own.
    let mut m = original.clone();
    m.id = own.clone();
    let forged = Envelope {
        manifest: m.canonical().expect("manifest"),
        signature: env.signature.clone(),
        parts: env.parts.clone(),
        approval: None,
    };
    let (status, problem) = deliver(&net.hub, to, &forged.encode()).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        incidents(&net).is_empty(),
        "a peer made incidents about letters it did not send: {:?}",
        incidents(&net)
    );
    assert_eq!(net.held(&from_hub).await, 1);
    assert_eq!(net.held(&own).await, 1);

    // The hub's own letter again: the same content gets the same receipt ...
    let (status, receipt) = deliver(&net.hub, to, &env.encode()).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["receipt"]["document_id"], from_hub.as_str());
    // Its time, read back from what bappeda stored, is the one its first receipt carried.
    assert_eq!(receipt["receipt"]["received_at"], received_at.as_str());
    // ... other content under its id is an incident.
    let mut m = original;
    m.perihal = "Isi lain".into();
    let changed = Envelope {
        manifest: m.canonical().expect("manifest"),
        signature: env.signature.clone(),
        parts: env.parts.clone(),
        approval: None,
    };
    let (status, problem) = deliver(&net.hub, to, &changed.encode()).await;
    assert_eq!(status, 409, "{problem}");
    let found = incidents(&net);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["document"], from_hub.as_str());
    assert_eq!(found[0]["actor"], "node:hub");
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_raise_incidents_about_letters_it_did_not_send_on_sqlite() {
    incidents_only_about_own_letters(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_raise_incidents_about_letters_it_did_not_send_on_postgres() {
    incidents_only_about_own_letters(true).await;
}

/// How many refusals the log accounts for under `action`: each entry one, a summary its "N
/// further refusals"; and how many entries that took.
fn accounted(log: &[serde_json::Value], action: &str) -> (u64, usize) {
    let entries: Vec<&serde_json::Value> = log
        .iter()
        .filter(|e| e["action"] == action && e["decision"] == "deny")
        .collect();
    let total = entries
        .iter()
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default();
            reason
                .split_once(" further refusals")
                .and_then(|(n, _)| n.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum();
    (total, entries.len())
}

const REFUSALS: usize = 200;
const WINDOW_SECS: u64 = 3;

/// Point 3: 200 requests with a certificate the directory does not list and 200 refused
/// deliveries from a listed node are each answered 403, and take a handful of log entries,
/// whose counts add up to every refusal.
async fn refusals_are_counted(pg: bool) {
    let config = format!("network_refusal_window_secs = {WINDOW_SECS}");
    let Some(net) = net(pg, false, &config).await else {
        return;
    };
    let to = net.b_addr;
    let started = Instant::now();
    for i in 0..REFUSALS {
        let mut s = connect(&net.kecamatan, to).await;
        s.write_all(format!("GET /network/v1/hello HTTP/1.1\r\nhost: {to}\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let (status, problem) = answer(&mut s).await.expect("an answer");
        assert_eq!(status, 403, "request {i}: {problem}");
    }
    let envelope = header(&manifest_from("kecamatan"), b"-", 0);
    for i in 0..REFUSALS {
        let (status, problem) = deliver(&net.hub, to, &envelope).await;
        assert_eq!(status, 403, "delivery {i}: {problem}");
    }
    let took = started.elapsed();
    // The last windows close; the worker writes their counts.
    tokio::time::sleep(Duration::from_secs(WINDOW_SECS + 2)).await;
    let log = net.log();
    let windows = usize::try_from(took.as_secs() / WINDOW_SECS + 2).expect("windows");
    for action in ["network_connect", "receive"] {
        let (total, entries) = accounted(&log, action);
        eprintln!("{action}: {REFUSALS} refusals in {took:?}, {entries} log entries");
        assert!(
            entries <= 2 * windows,
            "{entries} {action} entries for {REFUSALS} refusals in {took:?}"
        );
        assert!(
            entries < 20,
            "{entries} {action} entries for {REFUSALS} refusals"
        );
        assert_eq!(
            total, REFUSALS as u64,
            "every refusal is accounted for: {action}"
        );
    }
    assert!(
        log.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("further refusals"))),
        "a summary entry carries the count"
    );
    assert_eq!(metric(&net, "network_refusals_total"), Some(2 * REFUSALS));
    let unlogged = metric(&net, "network_refusals_unlogged_total");
    assert!(
        unlogged.is_some_and(|n| n >= 2 * REFUSALS - 40),
        "{unlogged:?}"
    );
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_on_the_network_api_are_counted_not_logged_each_on_sqlite() {
    refusals_are_counted(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_on_the_network_api_are_counted_not_logged_each_on_postgres() {
    refusals_are_counted(true).await;
}

/// Deliveries one peer may have under way on bappeda in this test.
const SHARE: usize = 4;

/// One of bappeda's metrics (`docsvc_` and `name`), as a scraper reads it.
fn metric(net: &Net, name: &str) -> Option<usize> {
    let out = Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(net.b_dir.join("ca/root.pem"))
        .arg(format!("https://{}/metrics", net.b_addr))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("docsvc_{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// A delivery from `from` whose head is sent and whose body is not: under way on bappeda
/// until the connection is dropped.
async fn under_way(from: &Node, to: SocketAddr) -> Tls {
    let mut s = connect(from, to).await;
    let head = format!(
        "POST /network/v1/letters HTTP/1.1\r\nhost: {to}\r\n\
         content-type: application/vnd.sandi.envelope\r\ncontent-length: {MIB}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.flush().await.expect("flush");
    s
}

/// `from`'s delivery of `env`, whose manifest names node `named`: answered within 5 s (well
/// inside a turn's wait), refused 403 on its manifest.
async fn refused_at_once(from: &Node, to: SocketAddr, env: &[u8], named: &str) {
    let (status, problem) = tokio::time::timeout(Duration::from_secs(5), deliver(from, to, env))
        .await
        .expect("answered at once");
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("comes from node {named}"))),
        "{problem}"
    );
}

/// A peer with its share of deliveries under way (`[limits] max_deliveries_per_peer`): one
/// more waits for a turn and, none coming, is answered 503 after the turn's wait; another
/// peer's delivery is answered meanwhile; once one of the share ends, the peer's next delivery
/// goes on at once.
async fn a_peer_has_its_share_of_deliveries(pg: bool) {
    // The held bodies send nothing: their grace outlasts the test.
    let config = format!("limits.max_deliveries_per_peer = {SHARE}\nlimits.body_grace_secs = 120");
    let Some(net) = net(pg, true, &config).await else {
        return;
    };
    let to = net.b_addr;
    let mut held = Vec::new();
    for _ in 0..SHARE {
        held.push(under_way(&net.hub, to).await);
    }
    // Each has taken its turn once bappeda counts them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&net, "peer_deliveries") != Some(SHARE) {
        assert!(Instant::now() < deadline, "{SHARE} deliveries under way");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Refused at once (403) by whichever delivery gets a turn: the hub naming kecamatan.
    let named_kecamatan = header(&manifest_from("kecamatan"), b"-", 0);
    let started = Instant::now();
    let one_more = tokio::spawn({
        let (hub, env) = (Arc::clone(&net.hub), named_kecamatan.clone());
        async move { post(&hub, to, env.len(), &env, Duration::from_secs(30)).await }
    });
    // The same past its share, as docsvc's own sender sends it: 16 MiB behind the header. The
    // answer reaches it (the rest of its body is read and dropped), not a reset it would
    // retry at once on a new connection.
    let sender = tokio::spawn({
        let hub = Arc::clone(&net.hub);
        let mut env = named_kecamatan.clone();
        env.resize(env.len() + (16 << 20), 7);
        async move {
            let (_, mut client) = docsvc::network::connect(&hub, "bappeda")
                .await
                .expect("connect");
            let kind = [("content-type", "application/vnd.sandi.envelope")];
            client
                .call("POST", "/network/v1/letters", &kind, env.into())
                .await
                .map(|a| a.0)
                .ok()
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let named_hub = header(&manifest_from("hub"), b"-", 0);
    refused_at_once(&net.kecamatan, to, &named_hub, "hub").await;
    assert!(
        !one_more.is_finished(),
        "the hub's delivery past its share waits"
    );
    let (status, problem) = one_more.await.expect("task").expect("answered");
    let waited = started.elapsed();
    assert_eq!(status, 503, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("deliveries under way")),
        "{problem}"
    );
    assert!(
        waited >= Duration::from_secs(9),
        "waited for a turn: {waited:?}"
    );
    assert_eq!(
        sender.await.expect("task"),
        Some(503),
        "the sender sees the answer"
    );
    assert_eq!(metric(&net, "peer_deliveries_busy_total"), Some(2));
    // One of the share ends: the hub's next delivery takes its turn.
    drop(held.pop());
    refused_at_once(&net.hub, to, &named_kecamatan, "kecamatan").await;
    drop(held);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_has_its_share_of_deliveries_and_no_more_on_sqlite() {
    a_peer_has_its_share_of_deliveries(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_has_its_share_of_deliveries_and_no_more_on_postgres() {
    a_peer_has_its_share_of_deliveries(true).await;
}
