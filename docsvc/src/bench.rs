//! `docsvc bench`: the figures that matter, measured on a real node (a quickstart node in a
//! temporary directory, served over TLS on this machine): signing API requests per second over
//! HTTPS keep-alive with every call durably logged, beside raw ring signing; document ingest
//! throughput beside the age crate and the age CLI; read latency of a 100 KiB letter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::client::{connect, tls_config};

use crate::documents::{Caller, Ingest, NewLetter};
use crate::envelope::Urgency;
use crate::node::{Layout, Node};
use crate::{Error, Result, api, directory, quickstart};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    pub sign_requests: usize,
    pub connections: usize,
    pub ingest_mib: usize,
    pub reads: usize,
    /// Letters sent from one node to another (0: not measured).
    pub letters: usize,
    /// Letters in one inbox for the web UI's page times (0: not measured).
    pub inbox_letters: usize,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[allow(clippy::cast_precision_loss)]
fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Raw ECDSA P-256 signatures per second with ring on one core, for comparison.
fn ring_signs_per_second() -> Result<f64> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(err)?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(err)?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        key.sign(&rng, b"sandi bench").map_err(err)?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Runs every measurement and prints the figures.
#[allow(clippy::too_many_lines)] // one report, measured in order
pub async fn run(opts: &Options, out: &mut dyn FnMut(&str)) -> Result<()> {
    let dir = tempfile_dir()?;
    out(&format!(
        "setting up a quickstart node in {}",
        dir.display()
    ));
    let setup = quickstart::setup(&dir, "127.0.0.1:0", None, &mut |_| {}).await?;
    let node = Arc::new(Node::open(Layout::new(&dir)).await?);
    quickstart::unseal_dev(&node.layout, &node.keystore)?;
    node.after_unseal()?;
    let (_cert, tls) = node.tls_config()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(
        listener,
        tls,
        api::router(Arc::clone(&node)),
        async {
            let _ = stop_rx.await;
        },
    ));
    let root = node.layout.ca("root.pem");

    // 1. Signing API over HTTPS keep-alive, each call logged before it answers.
    let app = dir.join("apps").join("e-office");
    let app_tls = tls_config(
        &root,
        Some((&app.join("client.pem"), &app.join("client.key"))),
    )?;
    let body = Bytes::from(
        json!({ "sha256": hex::encode(ring::digest::digest(&ring::digest::SHA256, b"bench")) })
            .to_string(),
    );
    let per_conn = opts.sign_requests.div_ceil(opts.connections);
    let mut clients = Vec::new();
    for _ in 0..opts.connections {
        clients.push(connect(addr, Arc::clone(&app_tls)).await?);
    }
    let log_before = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut c in clients {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            for _ in 0..per_conn {
                match c
                    .call(
                        "POST",
                        "/api/v1/sign",
                        &[("content-type", "application/json")],
                        body.clone(),
                    )
                    .await
                {
                    Ok((200, _, _)) => {}
                    _ => errors += 1,
                }
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await.map_err(err)?;
    }
    let elapsed = start.elapsed();
    let total = per_conn * opts.connections;
    let logged = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed)
        - log_before;
    out(&format!(
        "sign API: {total} requests over {} keep-alive HTTPS connections in {:.2} s = {:.0} signatures/s ({errors} errors, {logged} log entries committed)",
        opts.connections,
        elapsed.as_secs_f64(),
        per_second(total, elapsed)
    ));
    out(&format!(
        "ring ECDSA P-256 sign, one core, same run: {:.0} signatures/s",
        ring_signs_per_second()?
    ));

    // 2. Ingest: a document streamed through encryption into the store.
    let budi = directory::get(&node.store, &setup.officials[0].nip)
        .await?
        .ok_or_else(|| err("no official"))?;
    let siti_nip = setup.officials[1].nip.clone();
    let size = opts.ingest_mib << 20;
    let block = Bytes::from(vec![0x5au8; 1 << 20]);
    let start = Instant::now();
    let mut ingest = Ingest::begin(
        &node,
        Caller {
            official: budi.clone(),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: "BENCH/1".into(),
            perihal: "Bench".into(),
            classification: policies::Level::Terbatas,
            urgency: Urgency::Biasa,
            recipients: vec![siti_nip.clone()],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    let blocks = futures_util::stream::iter(
        (0..opts.ingest_mib).map(|_| Ok::<Bytes, std::convert::Infallible>(block.clone())),
    );
    ingest
        .add_part("bench.bin", "application/octet-stream", blocks)
        .await?;
    ingest.finish().await?;
    let docsvc_time = start.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let mib = opts.ingest_mib as f64;
    // The age crate on the same bytes in memory, to the same three recipients.
    let recipients: Vec<age::x25519::Recipient> = (0..3)
        .map(|_| age::x25519::Identity::generate().to_public())
        .collect();
    let start = Instant::now();
    {
        use std::io::Write;
        let enc =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(err)?;
        let mut w = enc.wrap_output(std::io::sink()).map_err(err)?;
        for _ in 0..opts.ingest_mib {
            w.write_all(&block).map_err(err)?;
        }
        w.finish().map_err(err)?;
    }
    let crate_time = start.elapsed();
    out(&format!(
        "ingest of {} MiB: docsvc {:.0} MB/s (encrypt + hash + chunked store, durable), age crate in memory {:.0} MB/s: docsvc at {:.0}% of the crate",
        opts.ingest_mib,
        mib * 1.048_576 / docsvc_time.as_secs_f64(),
        mib * 1.048_576 / crate_time.as_secs_f64(),
        100.0 * crate_time.as_secs_f64() / docsvc_time.as_secs_f64()
    ));
    // The age CLI on the same bytes as a file, if it is installed.
    let file = dir.join("bench-input.bin");
    std::fs::write(&file, vec![0x5au8; size]).map_err(|e| Error::io("writing", &file, e))?;
    let mut cmd = std::process::Command::new("age");
    for r in &recipients {
        cmd.arg("-r").arg(r.to_string());
    }
    cmd.arg("-o").arg(dir.join("bench-output.age")).arg(&file);
    let start = Instant::now();
    match cmd.status() {
        Ok(s) if s.success() => {
            let cli = start.elapsed();
            out(&format!(
                "age CLI on the same {} MiB file: {:.0} MB/s ({:.2}x the age crate)",
                opts.ingest_mib,
                mib * 1.048_576 / cli.as_secs_f64(),
                crate_time.as_secs_f64() / cli.as_secs_f64()
            ));
        }
        _ => out("age CLI not installed: skipped its comparison"),
    }
    let _ = std::fs::remove_file(&file);

    // 3. Reading a 100 KiB letter over HTTPS keep-alive.
    let mut ingest = Ingest::begin(
        &node,
        Caller {
            official: budi,
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: "BENCH/2".into(),
            perihal: "Bench read".into(),
            classification: policies::Level::Terbatas,
            urgency: Urgency::Biasa,
            recipients: vec![siti_nip.clone()],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    ingest
        .add_part(
            "surat.pdf",
            "application/pdf",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(
                vec![0x25u8; 100 * 1024],
            ))]),
        )
        .await?;
    let id = ingest.finish().await?.manifest.id;
    let mut c = connect(addr, tls_config(&root, None)?).await?;
    let login = json!({ "nip": siti_nip, "password": setup.officials[1].password.as_str() });
    let (status, headers, _) = c
        .call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            Bytes::from(login.to_string()),
        )
        .await?;
    if status != 200 {
        return Err(err(format!("bench login: {status}")));
    }
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| err("no session cookie"))?
        .to_owned();
    let path = format!("/api/v1/documents/{id}/content");
    let mut times = Vec::with_capacity(opts.reads);
    for _ in 0..opts.reads {
        let t = Instant::now();
        let (status, _, body) = c
            .call("GET", &path, &[("cookie", &cookie)], Bytes::new())
            .await?;
        times.push(t.elapsed());
        if status != 200 || body.len() != 100 * 1024 {
            return Err(err(format!("bench read: {status}, {} bytes", body.len())));
        }
    }
    times.sort();
    out(&format!(
        "read of a 100 KiB letter over HTTPS ({} reads, each checked, decrypted and logged): p50 {:.2} ms, p99 {:.2} ms",
        opts.reads,
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    ));

    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    if opts.letters > 0 {
        network(opts.letters, out).await?;
    }
    if opts.inbox_letters > 0 {
        inbox(opts.inbox_letters, out).await?;
    }
    Ok(())
}

/// The web UI's inbox page (and the API's list beside it) for an official with `letters`
/// letters: p50 and p99 over HTTPS keep-alive, each request checking the session and asking
/// the policy about every listed letter.
async fn inbox(letters: usize, out: &mut dyn FnMut(&str)) -> Result<()> {
    let dir = tempfile_dir()?;
    let setup = quickstart::setup(&dir, "127.0.0.1:0", None, &mut |_| {}).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let served = serve_node(&dir, listener).await?;
    let node = Arc::clone(&served.node);
    let budi = directory::get(&node.store, &setup.officials[0].nip)
        .await?
        .ok_or_else(|| err("no Budi"))?;
    let siti = setup.officials[1].nip.clone();
    let start = Instant::now();
    let made: Vec<Result<()>> =
        futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(
            futures_util::stream::iter((0..letters).map(|i| {
                let (node, budi, siti) = (Arc::clone(&node), budi.clone(), siti.clone());
                async move { small_letter(&node, budi, siti, i).await }
            })),
            8,
        ))
        .await;
    made.into_iter().collect::<Result<Vec<()>>>()?;
    out(&format!(
        "inbox: {letters} letters written in {:.1} s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        per_second(letters, start.elapsed())
    ));
    let root = node.layout.ca("root.pem");
    let mut c = connect(addr, tls_config(&root, None)?).await?;
    let login = json!({ "nip": siti, "password": setup.officials[1].password.as_str() });
    let (status, headers, _) = c
        .call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            Bytes::from(login.to_string()),
        )
        .await?;
    if status != 200 {
        return Err(err(format!("bench login: {status}")));
    }
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| err("no session cookie"))?
        .to_owned();
    for (what, path) in [
        ("web UI inbox page (latest 100 of them)", "/ui/inbox"),
        (
            "web UI inbox search",
            "/ui/inbox?q=BENCH%2FINBOX%2F99&classification=terbatas",
        ),
        ("API inbox list (latest 100)", "/api/v1/documents?box=inbox"),
    ] {
        let mut times = Vec::with_capacity(200);
        for _ in 0..200 {
            let t = Instant::now();
            let (status, _, body) = c
                .call("GET", path, &[("cookie", &cookie)], Bytes::new())
                .await?;
            times.push(t.elapsed());
            if status != 200 || body.is_empty() {
                return Err(err(format!("bench {path}: {status}")));
            }
        }
        times.sort();
        out(&format!(
            "{what} with {letters} letters: p50 {:.2} ms, p99 {:.2} ms (200 requests)",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        ));
    }
    let _ = served.stop.send(());
    let _ = served.task.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A TERBATAS letter of 1 KiB from Budi to Siti.
async fn small_letter(
    node: &Node,
    budi: directory::Official,
    siti: String,
    n: usize,
) -> Result<()> {
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: budi,
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: format!("BENCH/INBOX/{n}"),
            perihal: format!("Laporan mingguan {n}"),
            classification: policies::Level::Terbatas,
            urgency: Urgency::Biasa,
            recipients: vec![siti],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    ingest
        .add_part(
            "laporan.txt",
            "text/plain",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(
                vec![b'a'; 1024],
            ))]),
        )
        .await?;
    ingest.finish().await?;
    Ok(())
}

/// A node of the bench network, served in this process.
pub(crate) struct Served {
    pub node: Arc<Node>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

pub(crate) async fn serve_node(
    dir: &std::path::Path,
    listener: tokio::net::TcpListener,
) -> Result<Served> {
    let node = Arc::new(Node::open(Layout::new(dir)).await?);
    quickstart::unseal_dev(&node.layout, &node.keystore)?;
    node.after_unseal()?;
    let (_cert, tls) = node.tls_config()?;
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(api::serve(
        listener,
        tls,
        api::router(Arc::clone(&node)),
        async {
            let _ = stop_rx.await;
        },
    ));
    Ok(Served { node, stop, task })
}

/// Two quickstart nodes of one dev network under `root` (a hub serving dinkes, `bappeda`
/// accredited to rahasia), with their directory signed and installed, and the listeners their
/// addresses were taken from.
pub(crate) struct TwoNodes {
    pub a_dir: std::path::PathBuf,
    pub b_dir: std::path::PathBuf,
    pub la: tokio::net::TcpListener,
    pub lb: tokio::net::TcpListener,
    pub hub: quickstart::Outcome,
}

pub(crate) async fn two_nodes(root: &std::path::Path) -> Result<TwoNodes> {
    let (a_dir, b_dir) = (root.join("hub"), root.join("bappeda"));
    let la = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let (a_addr, b_addr) = (la.local_addr().map_err(err)?, lb.local_addr().map_err(err)?);
    let mut spec = quickstart::DevNode::new(&a_addr.to_string(), None);
    spec.agencies = vec!["dinkes".into()];
    let hub = quickstart::setup_node(&a_dir, &spec, &mut |_| {}).await?;
    let spec = quickstart::DevNode {
        join: Some(a_dir.clone()),
        node_id: "bappeda".into(),
        agencies: vec!["bappeda".into()],
        accreditation: policies::Level::Rahasia,
        ..quickstart::DevNode::new(&b_addr.to_string(), None)
    };
    quickstart::setup_node(&b_dir, &spec, &mut |_| {}).await?;
    publish_directory(&a_dir, a_addr, &b_dir, b_addr)?;
    Ok(TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        hub,
    })
}

/// A RAHASIA letter of 20 KiB from Budi (hub) to Dewi on bappeda.
pub(crate) async fn letter_to_bappeda(
    node: &Node,
    budi: &directory::Official,
    n: usize,
) -> Result<()> {
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: budi.clone(),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: format!("BENCH/NET/{n}"),
            perihal: "Bench antarsimpul".into(),
            classification: policies::Level::Rahasia,
            urgency: Urgency::Biasa,
            recipients: vec!["197704042002122004@bappeda".into()],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    ingest
        .add_part(
            "surat.pdf",
            "application/pdf",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(
                vec![0x25u8; 20 * 1024],
            ))]),
        )
        .await?;
    ingest.finish().await?;
    Ok(())
}

/// The bench network's directory, signed with the hub's dev CA and installed on both nodes.
fn publish_directory(
    a_dir: &std::path::Path,
    a_addr: std::net::SocketAddr,
    b_dir: &std::path::Path,
    b_addr: std::net::SocketAddr,
) -> Result<()> {
    let entry = |dir: &std::path::Path,
                 id: &str,
                 addr: std::net::SocketAddr,
                 agency: &str,
                 level: &str|
     -> Result<keymgr::directory::NodeEntry> {
        let chain = crate::node::read_pem_certs(&Layout::new(dir).tls_chain())?;
        Ok(keymgr::directory::NodeEntry {
            id: id.into(),
            agencies: vec![agency.into()],
            base_url: format!("https://{addr}"),
            certificate_sha256: crate::network::fingerprint(
                chain.first().ok_or_else(|| err("no node certificate"))?,
            ),
            accreditation: level.into(),
            status: "active".into(),
        })
    };
    let (home, quorum) = quickstart::dev_quorum(&Layout::new(a_dir))?;
    let directory = keymgr::directory::sign(
        &home,
        quorum.online()?,
        &keymgr::directory::DirectoryInput {
            version: 1,
            nodes: vec![
                entry(a_dir, "hub", a_addr, "dinkes", "sangat_rahasia")?,
                entry(b_dir, "bappeda", b_addr, "bappeda", "rahasia")?,
            ],
        },
    )?;
    let bytes = serde_json::to_vec(&directory).map_err(err)?;
    for d in [a_dir, b_dir] {
        let path = d.join("network");
        std::fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e))?;
        std::fs::write(path.join("directory.json"), &bytes)
            .map_err(|e| Error::io("writing", &path, e))?;
    }
    Ok(())
}

/// Letters per second from one node to another on this machine: `letters` RAHASIA letters
/// written on a hub to an official of a second node, then delivered by the worker's rounds
/// (each: checked, sent over mutual TLS, checked and stored there, receipt checked here).
async fn network(letters: usize, out: &mut dyn FnMut(&str)) -> Result<()> {
    let root = tempfile_dir()?;
    out(&format!(
        "setting up two nodes of one dev network in {}",
        root.display()
    ));
    let TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        hub,
        ..
    } = two_nodes(&root).await?;
    let a = serve_node(&a_dir, la).await?;
    let b = serve_node(&b_dir, lb).await?;
    let budi = directory::get(&a.node.store, &hub.officials[0].nip)
        .await?
        .ok_or_else(|| err("no Budi"))?;
    for i in 0..letters {
        letter_to_bappeda(&a.node, &budi, i).await?;
    }
    let start = Instant::now();
    while crate::transmit::deliver_due(&a.node).await? > 0 {}
    let elapsed = start.elapsed();
    let delivered = crate::transmit::outbox(&a.node, true)
        .await?
        .iter()
        .filter(|q| q.delivery.state == "delivered")
        .count();
    out(&format!(
        "delivery between two nodes: {delivered} of {letters} RAHASIA letters (20 KiB) in {:.2} s = {:.0} letters/s (each checked, sent over mutual TLS, checked and stored there, receipt checked)",
        elapsed.as_secs_f64(),
        per_second(delivered, elapsed)
    ));
    for s in [a, b] {
        let _ = s.stop.send(());
        let _ = s.task.await;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("docsvc-bench-{}", hex::encode(b)));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    Ok(dir)
}
