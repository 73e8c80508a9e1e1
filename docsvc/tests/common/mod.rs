//! What several of docsvc's attack suites share: a quickstart node opened as a library, its
//! officials and letters, and a raw TLS client that speaks to the real server byte by byte.
//! Each suite uses part of it.
#![allow(dead_code)]

pub(crate) mod pdf;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{Ingest, NewLetter};
use docsvc::node::{Layout, Node};
use docsvc::officials::Caller;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::{TcpSocket, TcpStream};

pub(crate) const BUDI: &str = "197501012000031001";

/// A quickstart node opened as a library and unsealed, on SQLite or (with a URL) PostgreSQL,
/// with the officials' signing PINs by NIP.
pub(crate) async fn node_pins(
    dir: &std::path::Path,
    database_url: Option<&str>,
) -> (Arc<Node>, std::collections::HashMap<String, String>) {
    let out = docsvc::dev::quickstart::setup(dir, "127.0.0.1:0", database_url, &mut |_| {})
        .await
        .expect("quickstart");
    let pins = out
        .officials
        .iter()
        .map(|o| (o.nip.clone(), o.pin.to_string()))
        .collect();
    let node = Arc::new(Node::open(Layout::new(dir)).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    (node, pins)
}

pub(crate) async fn official(node: &Node, nip: &str) -> docsvc::officials::directory::Official {
    docsvc::officials::directory::get(&node.store, nip)
        .await
        .expect("directory")
        .expect("official")
}

/// `nip` as a caller who gave the PIN.
pub(crate) async fn stepped_up(node: &Node, nip: &str) -> Caller {
    Caller {
        official: official(node, nip).await,
        stepped_up: true,
        client: None,
    }
}

/// A letter of `level` from Budi to `to`, one short text part; what the node made of it.
pub(crate) async fn letter_to(
    node: &Node,
    level: policies::Level,
    to: &str,
    perihal: &str,
) -> docsvc::letters::documents::Created {
    try_letter_to(node, level, to, perihal)
        .await
        .expect("finish")
}

/// [`letter_to`], with the refusal to finish it, if any.
pub(crate) async fn try_letter_to(
    node: &Node,
    level: policies::Level,
    to: &str,
    perihal: &str,
) -> docsvc::Result<docsvc::letters::documents::Created> {
    let mut ingest = Ingest::begin(
        node,
        stepped_up(node, BUDI).await,
        NewLetter {
            nomor: "005/77/XI/2026".into(),
            kode: None,
            perihal: perihal.into(),
            classification: level,
            urgency: Urgency::Biasa,
            recipients: vec![to.into()],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: None,
        },
    )
    .await
    .expect("begin");
    ingest
        .add_part(
            "surat.txt",
            "text/plain",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(
                "Isi surat",
            ))]),
        )
        .await
        .expect("part");
    ingest.finish().await
}

/// How many letters the node holds (as rows, whatever their state).
pub(crate) async fn letter_count(node: &Node) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(node.store.pool())
        .await
        .expect("count")
}

/// What a database writer does: replaces letter `id`'s stored signature.
pub(crate) async fn set_signature(node: &Node, id: &str, cms: &[u8]) {
    sqlx::query("UPDATE documents SET signature = $1 WHERE id = $2")
        .bind(cms.to_vec())
        .bind(id)
        .execute(node.store.pool())
        .await
        .expect("update");
}

/// keymgr's online keystore under a quickstart data directory `dir`, opened by the custodians
/// with two dev shares.
pub(crate) fn dev_quorum(
    dir: &std::path::Path,
) -> (keymgr::ca::Home, keymgr::ceremony::QuorumSession) {
    let home = keymgr::ca::Home::new(dir.join("keymgr"));
    let mut quorum = keymgr::ceremony::QuorumSession::open(&home).expect("quorum");
    let shares = dir.join("shares");
    for (i, name) in [(1, "satu"), (2, "dua")] {
        quorum
            .add(
                &shares.join(format!("keymgr/custodian-{i}-custodian-{name}.age")),
                &keymgr::shares::Unlock::Identity(shares.join(format!("custodian-{i}.key"))),
            )
            .expect("share");
    }
    (home, quorum)
}

/// Peak resident memory of a process (VmHWM), in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

pub(crate) type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS connection to the node, speaking `alpn`, from the loopback address `from`.
pub(crate) async fn connect(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    alpn: &[u8],
    from: Ipv4Addr,
) -> std::io::Result<Tls> {
    let tcp = tcp_from(addr, from).await?;
    let mut cfg = (**tls).clone();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
}

/// A TCP connection to `addr` from the loopback address `from`.
pub(crate) async fn tcp_from(addr: SocketAddr, from: Ipv4Addr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((from, 0)))?;
    s.connect(addr).await
}

/// Reads a response head; its status, or `None` when the connection ends first.
pub(crate) async fn read_status(rd: &mut (impl AsyncRead + Unpin)) -> Option<u16> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match rd.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Adds Budi Santoso (rahasia, a known password and PIN) as official `nip` of `agency`, his
/// keys made in the node's keystore.
pub(crate) async fn add_official(
    node: &Node,
    nip: &str,
    agency: &str,
) -> docsvc::officials::directory::Official {
    use docsvc::officials::directory::{self, NewOfficial};
    directory::add(
        &node.store,
        node.keystore.as_ref(),
        node.policy.current().handling(),
        &NewOfficial {
            nip: nip.into(),
            name: "Budi Santoso".into(),
            agency: agency.into(),
            position: "Kepala Dinas".into(),
            clearance: policies::Level::Rahasia,
            roles: vec!["pejabat".into()],
            compartments: vec![],
            secrets: directory::Secrets::DevKnown {
                password: zeroize::Zeroizing::new("sandi-kuat-sekali-1".into()),
                pin: zeroize::Zeroizing::new("482913".into()),
            },
            status: policies::Status::Active,
        },
    )
    .await
    .expect("official")
}

/// Revokes official `nip`'s signing certificate as of `at` (keyCompromise) with the dev
/// custodians' quorum and installs the Signing CA's new CRL where the node reads it.
pub(crate) async fn revoke_official(node: &Node, nip: &str, at: time::OffsetDateTime) {
    let o = official(node, nip).await;
    let (_, cert) =
        x509_parser::parse_x509_certificate(o.certificate.as_ref().expect("certificate"))
            .expect("certificate");
    let serial = keymgr::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string());
    let (home, quorum) = dev_quorum(node.layout.dir());
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let online = quorum.online().expect("online");
    keymgr::revoke::revoke(&home, online, &inv, &serial, "keyCompromise", Some(at))
        .await
        .expect("revoke");
    let crl = keymgr::revoke::crl(
        &home,
        online,
        &inv,
        keymgr::ca::Ca::Signing,
        time::Duration::days(7),
    )
    .await
    .expect("crl");
    sandi_e2e::install(&node.layout.crl_dir().join("signing-ca.crl"), &crl.der);
    // The node reads the directory when it changes; wait until it knows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !matches!(
        node.crls
            .status_with_time(
                o.certificate.as_ref().expect("certificate"),
                time::OffsetDateTime::now_utc()
            )
            .0,
        docsvc::crypto::revocation::Status::Revoked { .. }
    ) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never read the new CRL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// How many entries of the access log record `action`.
pub(crate) async fn log_actions(node: &Node, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entry LIKE $1")
        .bind(format!("%\"action\":\"{action}\"%"))
        .fetch_one(node.store.pool())
        .await
        .expect("count")
}

/// Debian's Chromium, headless, over chromedriver: pages as a person's browser shows them.
pub(crate) struct Browser {
    c: fantoccini::Client,
    _driver: sandi_e2e::node::Killed,
}

impl Browser {
    pub(crate) async fn start(dir: &std::path::Path) -> Self {
        let port = sandi_e2e::free_port();
        let driver = sandi_e2e::node::Killed(
            std::process::Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("chromedriver"),
        );
        sandi_e2e::node::wait_port(port, "chromedriver");
        let args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1100,1300",
            format!("--user-data-dir={}", dir.join("chromium-profile").display()),
        ]);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
        );
        let c = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
        Browser { c, _driver: driver }
    }

    /// The page at `url` once loaded (its HTML).
    pub(crate) async fn page(&self, url: &str) -> String {
        self.c.goto(url).await.expect("navigate");
        self.c.source().await.expect("source")
    }

    /// The page the form at `url` answers with once `file` is chosen and sent.
    pub(crate) async fn upload(&self, url: &str, file: &std::path::Path) -> String {
        use fantoccini::Locator;
        self.c.goto(url).await.expect("navigate");
        self.c
            .find(Locator::Css("#pdf"))
            .await
            .expect("the file input")
            .send_keys(&file.display().to_string())
            .await
            .expect("choose the file");
        self.c
            .find(Locator::Css("form button[type=submit]"))
            .await
            .expect("the button")
            .click()
            .await
            .expect("send");
        self.c
            .wait()
            .at_most(std::time::Duration::from_secs(30))
            .for_element(Locator::Css("#verdict"))
            .await
            .expect("a verdict");
        self.c.source().await.expect("source")
    }

    pub(crate) async fn shot(&self, path: &std::path::Path) {
        let png = self.c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).expect("save screenshot");
    }

    pub(crate) async fn close(self) {
        self.c.close().await.expect("close the browser");
    }
}
