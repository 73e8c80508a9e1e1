//! `docsvc bench`: the figures that matter, measured on a real node (a quickstart node in a
//! temporary directory, served over TLS on this machine): signing API requests per second over
//! HTTPS keep-alive with every call durably logged, beside raw ring signing; document ingest
//! throughput beside the age crate and the age CLI; read latency of a 100 KiB letter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::network::client::{connect, tls_config};

use crate::crypto::envelope::Urgency;
use crate::letters::documents::{Ingest, NewLetter};
use crate::node::{Layout, Node};
use crate::officials::Caller;
use crate::{Error, Result, dev::quickstart, http::api, officials::directory};

mod login;
mod report;
pub use report::{Figure, Report, Series, svg};

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
    /// Also measure throughput by letter size and by concurrency (for the plots).
    pub sweep: bool,
    /// Logins measured (argon2id, session, log entry each).
    pub logins: usize,
    /// Measure only the signing API and logins: the figures an authentication change moves.
    pub auth_only: bool,
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
pub async fn run(opts: &Options, r: &mut Report<'_>) -> Result<()> {
    let dir = tempfile_dir()?;
    r.line(&format!(
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
    let server = tokio::spawn(crate::http::server::serve(
        listener,
        tls,
        api::router(Arc::clone(&node)),
        Arc::clone(&node),
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
    let log_before = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed);
    let (total, errors, rate) =
        sign_rate(addr, &app_tls, opts.connections, opts.sign_requests).await?;
    let logged = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed)
        - log_before;
    if errors > 0 {
        return Err(err(format!(
            "bench sign: {errors} of {total} requests failed; a run with errors does not count"
        )));
    }
    let ring_rate = ring_signs_per_second()?;
    r.line(&format!(
        "sign API: {total} requests over {} keep-alive HTTPS connections = {rate:.0} signatures/s ({errors} errors, {logged} log entries committed)",
        opts.connections,
    ));
    r.line(&format!(
        "ring ECDSA P-256 sign, one core, same run: {ring_rate:.0} signatures/s"
    ));
    r.compared(
        &format!(
            "signing API, {} mutual-TLS connections, each call logged",
            opts.connections
        ),
        rate,
        "signatures/s",
        "ring P-256 sign, one core",
        ring_rate,
    );
    if let Some(hsm) = softhsm_signs_per_second() {
        r.line(&format!(
            "SoftHSM2 through PKCS#11 (hsm-shim), same run: {hsm:.0} signatures/s"
        ));
        r.compared(
            "signing API beside SoftHSM2",
            rate,
            "signatures/s",
            "SoftHSM2 P-256 sign through PKCS#11",
            hsm,
        );
    }
    if opts.sweep {
        let mut points = Vec::new();
        for c in [1usize, 4, 16, 64] {
            let (_, _, rate) = sign_rate(addr, &app_tls, c, (c * 200).max(1000)).await?;
            r.line(&format!(
                "  sign API at concurrency {c}: {rate:.0} signatures/s"
            ));
            #[allow(clippy::cast_precision_loss)]
            points.push((c as f64, rate));
        }
        r.series(Series {
            title: "Signing API throughput by concurrency".into(),
            x_label: "keep-alive HTTPS connections".into(),
            y_label: "signatures/s".into(),
            name: "sign-by-concurrency".into(),
            points,
        });
    }

    // Logins, over 8 keep-alive connections, cycling through the quickstart's officials.
    let officials: Vec<_> = setup
        .officials
        .iter()
        .map(|o| (o.nip.clone(), o.password.clone()))
        .collect();
    let login_tls = tls_config(&root, None)?;
    let logins = login::login_rate(addr, &login_tls, &officials, 8, opts.logins.max(8)).await?;
    r.line(&format!(
        "logins: {} over 8 keep-alive HTTPS connections = {logins:.1} logins/s (argon2id, session, log entry each)",
        opts.logins.max(8)
    ));
    r.figure(
        "official logins (argon2id, session, logged)",
        logins,
        "logins/s",
    );
    if opts.auth_only {
        let _ = stop_tx.send(());
        let _ = server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    // 2. Ingest: a document streamed through encryption into the store.
    let budi = directory::get(&node.store, &setup.officials[0].nip)
        .await?
        .ok_or_else(|| err("no official"))?;
    let siti_nip = setup.officials[1].nip.clone();
    let size = opts.ingest_mib << 20;
    let docsvc_rate = ingest_rate(&node, &budi, &siti_nip, size).await?;
    let crate_rate = age_crate_rate(size)?;
    r.line(&format!(
        "ingest of {} MiB: docsvc {docsvc_rate:.0} MB/s (encrypt + hash + chunked store, durable), age crate in memory {crate_rate:.0} MB/s: docsvc at {:.0}% of the crate",
        opts.ingest_mib,
        100.0 * docsvc_rate / crate_rate
    ));
    r.compared(
        &format!(
            "ingest of {} MiB (encrypted, hashed, stored durably)",
            opts.ingest_mib
        ),
        docsvc_rate,
        "MB/s",
        "age crate, in memory",
        crate_rate,
    );
    match age_cli_rate(&dir, size) {
        Some(cli) => {
            r.line(&format!(
                "age CLI on the same {} MiB file: {cli:.0} MB/s ({:.2}x the age crate)",
                opts.ingest_mib,
                cli / crate_rate
            ));
            r.compared(
                &format!("ingest of {} MiB beside the age CLI", opts.ingest_mib),
                docsvc_rate,
                "MB/s",
                "age CLI, file to file",
                cli,
            );
        }
        None => r.line("age CLI not installed: skipped its comparison"),
    }
    if opts.sweep {
        let mut points = Vec::new();
        for kib in [64usize, 1024, 8 * 1024, 64 * 1024] {
            let rate = ingest_rate(&node, &budi, &siti_nip, kib << 10).await?;
            r.line(&format!("  ingest of {kib} KiB: {rate:.0} MB/s"));
            #[allow(clippy::cast_precision_loss)]
            points.push((kib as f64 / 1024.0, rate));
        }
        r.series(Series {
            title: "Ingest throughput by letter size".into(),
            x_label: "letter size (MiB)".into(),
            y_label: "MB/s".into(),
            name: "ingest-by-size".into(),
            points,
        });
    }

    // 3. Reading a 100 KiB letter over HTTPS keep-alive.
    let id = one_part_letter(
        &node,
        &budi,
        &siti_nip,
        (
            "BENCH/2".into(),
            "Bench read".into(),
            policies::Level::Terbatas,
        ),
        ("surat.pdf", "application/pdf", vec![0x25u8; 100 * 1024]),
    )
    .await?;
    let mut c = connect(addr, tls_config(&root, None)?).await?;
    let cookie = log_in(&mut c, &siti_nip, setup.officials[1].password.as_str()).await?;
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
    r.line(&format!(
        "read of a 100 KiB letter over HTTPS ({} reads, each checked, decrypted and logged): p50 {:.2} ms, p99 {:.2} ms",
        opts.reads,
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    ));
    r.figure(
        "read of a 100 KiB letter, p50",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        "ms",
    );
    r.figure(
        "read of a 100 KiB letter, p99",
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        "ms",
    );

    // 4. Policy decisions, and verifying the whole access log.
    let decisions = policy_decisions_per_second(&node, &budi)?;
    r.line(&format!("policy decisions: {decisions:.0}/s (one core)"));
    r.figure(
        "policy decisions (Cedar), one core",
        decisions,
        "decisions/s",
    );
    let issued = issuance_per_second(&node.layout).await?;
    r.line(&format!(
        "certificate issuance by keymgr (application certificates from CSRs, each logged): {issued:.1}/s"
    ));
    r.figure(
        "certificate issuance (keymgr, from CSRs, logged)",
        issued,
        "certificates/s",
    );
    let spki = node.audit.public_key()?;
    let start = Instant::now();
    let report = crate::audit::verify(&node.store, &spki, Some(&node.layout.heads())).await?;
    #[allow(clippy::cast_precision_loss)]
    let verify_rate = report.entries as f64 / start.elapsed().as_secs_f64();
    r.line(&format!(
        "access log verification: {} entries and {} heads in {:.2} s = {verify_rate:.0} entries/s",
        report.entries,
        report.heads_checked,
        start.elapsed().as_secs_f64()
    ));
    r.figure(
        "access log verification (hashes, tree, signed heads)",
        verify_rate,
        "entries/s",
    );

    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    if opts.letters > 0 {
        network(opts.letters, r).await?;
    }
    if opts.inbox_letters > 0 {
        inbox(opts.inbox_letters, r).await?;
    }
    Ok(())
}

/// The web UI's inbox page (and the API's list beside it) for an official with `letters`
/// letters: p50 and p99 over HTTPS keep-alive, each request checking the session and asking
/// the policy about every listed letter.
async fn inbox(letters: usize, r: &mut Report<'_>) -> Result<()> {
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
    r.line(&format!(
        "inbox: {letters} letters written in {:.1} s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        per_second(letters, start.elapsed())
    ));
    let root = node.layout.ca("root.pem");
    let mut c = connect(addr, tls_config(&root, None)?).await?;
    let cookie = log_in(&mut c, &siti, setup.officials[1].password.as_str()).await?;
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
        r.line(&format!(
            "{what} with {letters} letters: p50 {:.2} ms, p99 {:.2} ms (200 requests)",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        ));
        for (p, q) in [("p50", 0.50), ("p99", 0.99)] {
            r.figure(
                &format!("{what}, {letters} letters, {p}"),
                percentile(&times, q).as_secs_f64() * 1e3,
                "ms",
            );
        }
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
    one_part_letter(
        node,
        &budi,
        &siti,
        (
            format!("BENCH/INBOX/{n}"),
            format!("Laporan mingguan {n}"),
            policies::Level::Terbatas,
        ),
        ("laporan.txt", "text/plain", vec![b'a'; 1024]),
    )
    .await
    .map(|_| ())
}

/// Logs an official in; returns the session cookie (`name=value`).
async fn log_in(
    c: &mut crate::network::client::Client,
    nip: &str,
    password: &str,
) -> Result<String> {
    let login = json!({ "nip": nip, "password": password });
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
    Ok(headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| err("no session cookie"))?
        .to_owned())
}

/// Signing requests over `connections` keep-alive mutual-TLS connections: (sent, errors,
/// signatures per second).
async fn sign_rate(
    addr: std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    connections: usize,
    requests: usize,
) -> Result<(usize, usize, f64)> {
    let body = Bytes::from(
        json!({ "sha256": hex::encode(ring::digest::digest(&ring::digest::SHA256, b"bench")) })
            .to_string(),
    );
    let per_conn = requests.div_ceil(connections);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(addr, Arc::clone(tls)).await?);
    }
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
    let total = per_conn * connections;
    Ok((total, errors, per_second(total, start.elapsed())))
}

/// MB/s of one letter of `bytes` streamed through encryption, hashing and the durable store.
async fn ingest_rate(
    node: &Node,
    budi: &directory::Official,
    to: &str,
    bytes: usize,
) -> Result<f64> {
    let block = Bytes::from(vec![0x5au8; (1 << 20).min(bytes)]);
    let blocks = bytes / block.len();
    let start = Instant::now();
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: budi.clone(),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: format!("BENCH/INGEST/{bytes}"),
            perihal: "Bench".into(),
            classification: policies::Level::Terbatas,
            urgency: Urgency::Biasa,
            recipients: vec![to.to_owned()],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    let stream = futures_util::stream::iter(
        (0..blocks).map(move |_| Ok::<Bytes, std::convert::Infallible>(block.clone())),
    );
    ingest
        .add_part("bench.bin", "application/octet-stream", stream)
        .await?;
    ingest.finish().await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// MB/s of the age crate encrypting `bytes` in memory to three recipients.
fn age_crate_rate(bytes: usize) -> Result<f64> {
    use std::io::Write;
    let recipients: Vec<age::x25519::Recipient> = (0..3)
        .map(|_| age::x25519::Identity::generate().to_public())
        .collect();
    let block = vec![0x5au8; (1 << 20).min(bytes)];
    let start = Instant::now();
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(err)?;
    let mut w = enc.wrap_output(std::io::sink()).map_err(err)?;
    for _ in 0..bytes / block.len() {
        w.write_all(&block).map_err(err)?;
    }
    w.finish().map_err(err)?;
    #[allow(clippy::cast_precision_loss)]
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// MB/s of the age CLI encrypting a file of `bytes` to three recipients, if it is installed.
fn age_cli_rate(dir: &std::path::Path, bytes: usize) -> Option<f64> {
    let file = dir.join("bench-input.bin");
    std::fs::write(&file, vec![0x5au8; bytes]).ok()?;
    let mut cmd = std::process::Command::new("age");
    for _ in 0..3 {
        cmd.arg("-r")
            .arg(age::x25519::Identity::generate().to_public().to_string());
    }
    cmd.arg("-o").arg(dir.join("bench-output.age")).arg(&file);
    let start = Instant::now();
    let ok = cmd.status().is_ok_and(|s| s.success());
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(dir.join("bench-output.age"));
    #[allow(clippy::cast_precision_loss)]
    ok.then(|| bytes as f64 / 1e6 / elapsed.as_secs_f64())
}

/// P-256 signatures per second by SoftHSM2 through PKCS#11 (hsm-shim's backend), on a fresh
/// token, if SoftHSM2 is installed. Measured in a child process (`docsvc bench
/// --pkcs11-sign MODULE`), since SoftHSM2 takes its configuration from the environment.
fn softhsm_signs_per_second() -> Option<f64> {
    let module = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())?;
    let dir = tempfile_dir().ok()?;
    let conf = dir.join("softhsm2.conf");
    std::fs::create_dir_all(dir.join("tokens")).ok()?;
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            dir.join("tokens").display()
        ),
    )
    .ok()?;
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .output()
        .ok()?;
    let out = init
        .status
        .success()
        .then(|| {
            std::process::Command::new(std::env::current_exe().ok()?)
                .env("SOFTHSM2_CONF", &conf)
                .args(["bench", "--pkcs11-sign", module])
                .output()
                .ok()
        })
        .flatten();
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out?.stdout).trim().parse().ok()
}

/// Signatures per second through hsm-shim's PKCS#11 store on the token labelled `bench`
/// (user PIN 1234) of `module`: the child side of [`softhsm_signs_per_second`].
pub fn pkcs11_signs_per_second(module: &std::path::Path) -> Result<f64> {
    use hsm_shim::KeyStore as _;
    let store = hsm_shim::Pkcs11KeyStore::open(&hsm_shim::Pkcs11Config {
        module: module.to_path_buf(),
        token_label: "bench".into(),
        pin: zeroize::Zeroizing::new("1234".into()),
    })?;
    let handle = store.generate(hsm_shim::KeyKind::EcdsaP256, "bench")?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        store.sign(&handle, b"sandi bench")?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Certificates per second issued by the node's dev CA (keymgr, quorum-unsealed) for
/// application CSRs, each recorded in the inventory and keymgr's signed log.
async fn issuance_per_second(layout: &Layout) -> Result<f64> {
    let (home, quorum) = quickstart::dev_quorum(layout)?;
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await?;
    let online = quorum.online()?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(3) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let name = format!("bench-{n}");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name.as_str());
        let csr = params.serialize_request(&key).map_err(err)?;
        keymgr::issue::issue(
            &home,
            online,
            &inv,
            keymgr::issue::Request::Application(keymgr::ca::ApplicationRequest {
                name,
                agency: "diskominfo".into(),
                days: 30,
            }),
            keymgr::issue::KeySource::Csr(csr.der().to_vec()),
        )
        .await?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Cedar decisions per second (read of a RAHASIA letter), prepared principal and document.
fn policy_decisions_per_second(node: &Node, official: &directory::Official) -> Result<f64> {
    let policy = node.policy.current();
    let principal = policy.prepare_principal(&policies::Principal::Official(official.person()))?;
    let doc = policy.prepare_document(&crate::letters::documents::draft(
        official,
        policies::Level::Rahasia,
    ))?;
    let ctx = policies::Context {
        step_up: true,
        ..policies::Context::default()
    };
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        policy.decide_prepared(&principal, policies::Action::Read, &doc, &ctx)?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
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
    let task = tokio::spawn(crate::http::server::serve(
        listener,
        tls,
        api::router(Arc::clone(&node)),
        Arc::clone(&node),
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
    one_part_letter(
        node,
        budi,
        "197704042002122004@bappeda",
        (
            format!("BENCH/NET/{n}"),
            "Bench antarsimpul".into(),
            policies::Level::Rahasia,
        ),
        ("surat.pdf", "application/pdf", vec![0x25u8; 20 * 1024]),
    )
    .await
    .map(|_| ())
}

/// A letter of one part, written with the PIN: (nomor, perihal, level), (name, media, bytes).
/// Returns its id.
async fn one_part_letter(
    node: &Node,
    from: &directory::Official,
    to: &str,
    (nomor, perihal, classification): (String, String, policies::Level),
    (name, media, bytes): (&str, &str, Vec<u8>),
) -> Result<String> {
    let mut ingest = Ingest::begin(
        node,
        Caller {
            official: from.clone(),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor,
            perihal,
            classification,
            urgency: Urgency::Biasa,
            recipients: vec![to.to_owned()],
            copies: vec![],
            dated: None,
        },
    )
    .await?;
    ingest
        .add_part(
            name,
            media,
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(bytes))]),
        )
        .await?;
    Ok(ingest.finish().await?.manifest.id)
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
async fn network(letters: usize, r: &mut Report<'_>) -> Result<()> {
    let root = tempfile_dir()?;
    r.line(&format!(
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
    r.line(&format!(
        "delivery between two nodes: {delivered} of {letters} RAHASIA letters (20 KiB) in {:.2} s = {:.0} letters/s (each checked, sent over mutual TLS, checked and stored there, receipt checked)",
        elapsed.as_secs_f64(),
        per_second(delivered, elapsed)
    ));
    r.figure(
        "letters delivered between two nodes (20 KiB RAHASIA, checked both sides, receipt)",
        per_second(delivered, elapsed),
        "letters/s",
    );
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
