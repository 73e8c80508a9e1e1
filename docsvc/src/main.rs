//! `docsvc`: the sandi document service. A thin CLI over the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use docsvc::node::{Layout, Node};
use docsvc::{audit, dev::quickstart, http::api, officials::directory};

#[derive(Parser)]
#[command(
    name = "docsvc",
    version,
    about = "The sandi document service: classified letters, encrypted, signed, logged"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sets up a development node (dev key ceremony, dev PKI, officials) and serves it.
    Quickstart(QuickstartArgs),
    /// Serves a node. It starts sealed: custodians unseal it through `POST /api/v1/sys/unseal`.
    Serve {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// Unseal with the dev custodians' files in the data directory (quickstart nodes only).
        #[arg(long)]
        dev_unseal: bool,
        /// Listen here instead of node.toml's `listen`: another process of the same node
        /// (same data directory, one shared PostgreSQL database).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Gives a running node one custodian's share: decrypts the share file with the
    /// custodian's age identity and posts it to `/api/v1/sys/unseal`.
    Unseal {
        /// The node's base URL, e.g. https://127.0.0.1:8443
        #[arg(long, default_value = "https://127.0.0.1:8443")]
        url: String,
        /// The root CA certificate (PEM) that the node's certificate chains to.
        #[arg(long)]
        ca: PathBuf,
        /// The custodian's share file (age-encrypted).
        #[arg(long)]
        share: PathBuf,
        /// The custodian's age identity file.
        #[arg(long)]
        identity: PathBuf,
    },
    /// Key rotation for the node's archive keys and officials' encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Re-wraps every letter's age headers to the current keys after a rotation, in batches,
    /// with progress; resumable (run it again after a crash). Reports letters that no key
    /// this node holds can open.
    Rewrap {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        /// Letters per page.
        #[arg(long, default_value_t = 200)]
        batch: u32,
    },
    /// The sandi network: other nodes, as the network directory lists them.
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Deliveries to other nodes: what waits, what was given up, and retrying it.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// The access log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Backs up the node while it serves: database snapshot and data directory, encrypted to
    /// the backup custodians (age) and signed by the node. `docsvc backup verify FILE` checks one.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        #[arg(long, env = "DOCSVC_DATA_DIR", default_value = "sandi-dev")]
        data_dir: PathBuf,
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A backup custodian's age recipient (age1…); repeat for several.
        #[arg(long = "recipient")]
        recipients: Vec<String>,
    },
    /// Restores a backup onto an empty data directory (and an empty database); the node starts
    /// sealed and needs the custodians' quorum.
    Restore {
        file: PathBuf,
        /// The new, empty data directory.
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        seal: SealArgs,
        /// A backup custodian's age identity file.
        #[arg(long)]
        identity: PathBuf,
        /// An empty PostgreSQL (or SQLite) database to restore into; SQLite in the data
        /// directory when absent.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The directory of officials.
    Official {
        #[command(subcommand)]
        command: OfficialCommand,
    },
    /// Measures a temporary quickstart node: signing API throughput, ingest, read latency.
    Bench {
        #[arg(long, default_value_t = 20_000)]
        sign_requests: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 256)]
        ingest_mib: usize,
        #[arg(long, default_value_t = 2000)]
        reads: usize,
        /// Letters sent between two nodes (0 to skip).
        #[arg(long, default_value_t = 500)]
        letters: usize,
        /// Letters in one official's inbox for the web UI's page times (0 to skip).
        #[arg(long, default_value_t = 10_000)]
        inbox_letters: usize,
        /// Also measure by letter size and by concurrency, for the plots.
        #[arg(long)]
        sweep: bool,
        /// Official logins measured (each an argon2id check, a session and a log entry).
        #[arg(long, default_value_t = 400)]
        logins: usize,
        /// Measure only the signing API and logins (what an authentication change can move).
        #[arg(long)]
        auth_only: bool,
        /// Write the figures as JSON and Markdown, and the plots as SVG, into this folder.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Internal: signatures per second through PKCS#11 on the `bench` token of MODULE.
        #[arg(long, hide = true)]
        pkcs11_sign: Option<PathBuf>,
    },
    /// Sends many letters between two temporary nodes while the receiver is killed (SIGKILL)
    /// and restarted twice; checks every letter arrived once with a receipt and both logs
    /// verify.
    Soak {
        #[arg(long, default_value_t = 10_000)]
        letters: usize,
        /// Time limit in minutes.
        #[arg(long, default_value_t = 20)]
        minutes: u64,
    },
    /// Prints the OpenAPI 3.1 document of the API (what `/api/v1/openapi.json` serves).
    Openapi,
    /// Checks a policy directory and prints a summary.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(clap::Args)]
struct QuickstartArgs {
    #[arg(long, default_value = "sandi-dev")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// Use this database instead of SQLite in the data directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Set up only; do not start the server.
    #[arg(long)]
    no_serve: bool,
    /// Join the dev network of another quickstart node (its data directory): same dev CA
    /// and custodians, so the nodes can talk to each other.
    #[arg(long)]
    join: Option<PathBuf>,
    /// This node's id in the network directory.
    #[arg(long, default_value = "hub")]
    node_id: String,
    /// Only the dev officials of these agencies (comma-separated; all when absent).
    #[arg(long, value_delimiter = ',')]
    agencies: Vec<String>,
    /// The highest classification this node may hold.
    #[arg(long, default_value = "sangat_rahasia")]
    accreditation: String,
}

/// How an offline command opens the keystore: the custodians' share files with their age
/// identities (`--share A --identity A.key --share B --identity B.key`), or the dev
/// custodians of a quickstart node.
#[derive(clap::Args)]
struct OfflineUnseal {
    #[arg(long)]
    share: Vec<PathBuf>,
    #[arg(long)]
    identity: Vec<PathBuf>,
    /// Use the dev custodians' files in the data directory (quickstart nodes only).
    #[arg(long)]
    dev_unseal: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Makes a new archive key current for a level; the old one only decrypts until
    /// `docsvc rewrap` has moved every letter off it.
    RotateArchive {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        /// biasa, terbatas, rahasia or sangat_rahasia.
        level: String,
    },
    /// Gives an official a new encryption key; the old one only decrypts.
    RotateOfficial {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        nip: String,
    },
    /// Destroys retired archive keys that no letter is wrapped to any more. With --force,
    /// destroys every retired archive key (a compromised key): letters still wrapped only to
    /// it become unreadable and `docsvc rewrap` reports them.
    DestroyRetired {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Connects to another node over mutual TLS with this node's certificate and asks who it
    /// is; the peer checks this node against its own directory.
    Ping {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// The peer's id in the network directory.
        peer: String,
    },
    /// Lists the nodes of this node's current network directory.
    Show {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Lists deliveries not yet delivered (`--all`: every one).
    List {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long)]
        all: bool,
    },
    /// Queues a dead or failing delivery again (logged: the keystore is opened to sign the
    /// log head).
    Retry {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        document_id: String,
        node: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the whole log, checks every signed head; names the first bad entry.
    Verify {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Writes the log as JSON lines (one entry each, with its sequence number and leaf hash),
    /// for a SIEM.
    Export {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// Only entries from this sequence number, or at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum OfficialCommand {
    /// Lists officials.
    List {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Sets an official's status (active, suspended, revoked); takes effect on their next request.
    SetStatus {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        nip: String,
        status: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    Check { dir: PathBuf },
}

async fn store_of(data_dir: &std::path::Path) -> anyhow::Result<(Layout, docsvc::store::Store)> {
    let layout = Layout::new(data_dir);
    let config = docsvc::node::Config::load(&layout)?;
    let store = docsvc::store::Store::open(&config.database_url(&layout)).await?;
    Ok((layout, store))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing open requests");
}

async fn serve(
    layout: Layout,
    dev_unseal: bool,
    listen: Option<String>,
    banner: Option<String>,
) -> anyhow::Result<()> {
    let mut node = Node::open(layout.clone()).await?;
    if let Some(l) = listen {
        node.config.listen = l;
    }
    let node = Arc::new(node);
    let (cert, tls) = node.tls_config()?;
    let listener = tokio::net::TcpListener::bind(&node.config.listen)
        .await
        .with_context(|| format!("listening on {}", node.config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, sealed = node.is_sealed(), "docsvc listening");
    // SIGHUP: pick up a renewed node certificate and the policy without a restart.
    #[cfg(unix)]
    {
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                match docsvc::node::read_pem_certs(&node.layout.tls_chain()).and_then(|chain| {
                    let handle =
                        hsm_shim::KeyStore::info(node.tls_keystore.as_ref(), node.keys.get().tls)?
                            .handle();
                    cert.replace(
                        chain,
                        Arc::clone(&node.tls_keystore) as Arc<dyn hsm_shim::KeyStore>,
                        handle,
                    );
                    Ok(())
                }) {
                    Ok(()) => tracing::info!("node certificate reloaded"),
                    Err(e) => tracing::error!("node certificate not reloaded: {e}"),
                }
                match node.policy.reload(&node.config.policy_dir) {
                    Ok(p) => {
                        node.store.integrity().set_policy_version(p.version());
                        tracing::info!(version = p.version(), "policy reloaded");
                    }
                    Err(e) => tracing::error!("policy not reloaded, the old one stays: {e}"),
                }
            }
        });
    }
    // Abandoned uploads (a client gone mid-upload, a crash): swept at start and then
    // regularly.
    {
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let minutes = node.config.abandoned_upload_minutes.max(0);
            let every = std::time::Duration::from_secs(
                u64::try_from(minutes.clamp(1, 10) * 60).unwrap_or(600),
            );
            loop {
                match docsvc::letters::documents::sweep_abandoned(&node, minutes).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(chunks = n, "abandoned uploads swept"),
                    Err(e) => tracing::error!("sweeping abandoned uploads: {e}"),
                }
                tokio::time::sleep(every).await;
            }
        });
    }
    if dev_unseal {
        let n = quickstart::unseal_dev(&node.layout, &node.keystore)?;
        node.after_unseal()?;
        eprintln!("{}", quickstart::WARNING);
        eprintln!("unsealed with {n} dev custodian shares");
    }
    docsvc::transmit::spawn_worker(Arc::clone(&node));
    if let Some(b) = banner {
        println!("{b}");
    }
    println!(
        "docsvc listening on https://{addr} ({})",
        if node.is_sealed() {
            "sealed"
        } else {
            "unsealed"
        }
    );
    let app = api::router(Arc::clone(&node));
    docsvc::http::server::serve(listener, tls, app, node, shutdown_signal()).await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("docsvc: {e:#}");
        std::process::exit(1);
    }
}

#[allow(clippy::too_many_lines)] // one arm per command
async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCSVC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Quickstart(args) => quickstart_cmd(args).await,
        Command::Serve {
            data_dir,
            dev_unseal,
            listen,
        } => serve(Layout::new(data_dir), dev_unseal, listen, None).await,
        Command::Unseal {
            url,
            ca,
            share,
            identity,
        } => unseal_remote(&url, &ca, &share, &identity).await,
        Command::Keys { command } => keys_cmd(command).await,
        Command::Rewrap {
            data_dir,
            unseal,
            batch,
        } => rewrap_cmd(&data_dir, &unseal, batch).await,
        Command::Network { command } => network_cmd(command).await,
        Command::Outbox { command } => outbox_cmd(command).await,
        Command::Audit { command } => audit_cmd(command).await,
        Command::Backup {
            command,
            data_dir,
            out,
            recipients,
        } => backup_cmd(command, &data_dir, out.as_deref(), &recipients).await,
        Command::Restore {
            file,
            data_dir,
            seal,
            identity,
            database_url,
        } => restore_cmd(&file, &data_dir, &seal, &identity, database_url.as_deref()).await,
        Command::Official { command } => official(command).await,
        Command::Bench {
            sign_requests,
            connections,
            ingest_mib,
            reads,
            letters,
            inbox_letters,
            sweep,
            logins,
            auth_only,
            results,
            pkcs11_sign,
        } => {
            if let Some(module) = pkcs11_sign {
                println!("{}", docsvc::dev::bench::pkcs11_signs_per_second(&module)?);
                return Ok(());
            }
            let opts = docsvc::dev::bench::Options {
                sign_requests,
                connections: connections.max(1),
                ingest_mib: ingest_mib.max(1),
                reads: reads.max(1),
                letters,
                inbox_letters,
                sweep,
                logins,
                auth_only,
            };
            bench_cmd(&opts, results.as_deref()).await
        }
        Command::Soak { letters, minutes } => {
            let r = docsvc::dev::soak::run(
                letters.max(3),
                std::time::Duration::from_secs(minutes * 60),
                &mut |line| println!("{line}"),
            )
            .await?;
            println!(
                "soak: {} letters, receiver killed {} times, {} on the receiver exactly once, {} receipts, {:.1} s ({:.0} letters/s end to end)",
                r.letters,
                r.kills,
                r.received_once,
                r.receipts,
                r.seconds,
                f64::from(u32::try_from(r.letters).unwrap_or(u32::MAX)) / r.seconds
            );
            let all = i64::try_from(r.letters).unwrap_or(i64::MAX);
            if r.received_once != all || r.receipts != r.letters || r.kills < 2 {
                anyhow::bail!("soak failed: letters lost, duplicated or unreceipted");
            }
            Ok(())
        }
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Policy {
            command: PolicyCommand::Check { dir },
        } => {
            let p = policies::Policy::load(&dir)?;
            println!("policy OK: {} policies, version {}", p.len(), p.version());
            Ok(())
        }
    }
}

async fn audit_cmd(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data_dir } => {
            let (layout, store) = store_of(&data_dir).await?;
            let spki = audit_spki(&layout)?;
            match audit::verify(&store, &spki, Some(&layout.heads())).await {
                Ok(r) => {
                    println!(
                        "access log verified: {} entries, {} signed heads, {} published heads; root {}",
                        r.entries, r.heads_checked, r.file_heads_checked, r.root
                    );
                    if r.uncommitted_heads > 0 {
                        println!(
                            "{} heads in the heads file never committed (a crash or a failed commit)",
                            r.uncommitted_heads
                        );
                    }
                    Ok(())
                }
                Err(e) => anyhow::bail!("access log does NOT verify: {e}"),
            }
        }
        AuditCommand::Export { data_dir, since } => {
            let (_, store) = store_of(&data_dir).await?;
            let since = match since.as_deref() {
                None => audit::Since::Start,
                Some(s) => match s.parse::<u64>() {
                    Ok(seq) => audit::Since::Seq(seq),
                    Err(_) => audit::Since::Time(docsvc::parse_time(s).with_context(|| {
                        format!("--since {s:?}: a sequence number or an RFC 3339 time")
                    })?),
                },
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let n = audit::export(&store, since, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            eprintln!("{n} entries written");
            Ok(())
        }
    }
}

async fn official(command: OfficialCommand) -> anyhow::Result<()> {
    match command {
        OfficialCommand::List { data_dir } => {
            let (_, store) = store_of(&data_dir).await?;
            for o in directory::list(&store).await? {
                println!(
                    "{}  {:<24} {:<12} {:<15} {:<9} {}",
                    o.nip,
                    o.name,
                    o.agency,
                    o.clearance.as_str(),
                    o.status.as_str(),
                    o.roles.join(",")
                );
            }
            Ok(())
        }
        OfficialCommand::SetStatus {
            data_dir,
            nip,
            status,
        } => {
            let (_, store) = store_of(&data_dir).await?;
            let status = directory::parse_status(&status)?;
            if status == policies::Status::Active
                && docsvc::officials::changes::registration_unapproved(&store, &nip).await?
            {
                anyhow::bail!(
                    "{nip}'s registration has no second approval: a second pengelola_sandi approves it"
                );
            }
            directory::set_status(&store, &nip, status).await?;
            println!("{nip} is now {}", status.as_str());
            Ok(())
        }
    }
}

async fn quickstart_cmd(args: QuickstartArgs) -> anyhow::Result<()> {
    let QuickstartArgs {
        data_dir,
        listen,
        database_url,
        no_serve,
        join,
        node_id,
        agencies,
        accreditation,
    } = args;
    let spec = quickstart::DevNode {
        listen: listen.clone(),
        database_url,
        join,
        node_id,
        agencies,
        accreditation: accreditation
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--accreditation {accreditation:?}: {e}"))?,
    };
    let layout = Layout::new(&data_dir);
    let mut banner = None;
    if layout.config().exists() {
        eprintln!(
            "{} already holds a dev node; starting it",
            data_dir.display()
        );
    } else {
        eprintln!("{}\n", quickstart::WARNING);
        let out = quickstart::setup_node(&data_dir, &spec, &mut |m| {
            eprintln!("• {m}");
        })
        .await?;
        banner = Some(next_steps(&out, &listen));
    }
    if no_serve {
        if let Some(b) = banner {
            println!("{b}");
        }
        return Ok(());
    }
    serve(layout, true, None, banner).await
}

async fn rewrap_cmd(
    data_dir: &std::path::Path,
    unseal: &OfflineUnseal,
    batch: u32,
) -> anyhow::Result<()> {
    let node = open_unsealed(data_dir, unseal).await?;
    let started = std::time::Instant::now();
    let p = docsvc::letters::rewrap::run(&node, batch, &mut |p| {
        eprintln!(
            "rewrap: {}/{} letters examined, {} re-wrapped, {} already current, {} unopenable",
            p.examined,
            p.total,
            p.rewrapped,
            p.current,
            p.unopenable.len()
        );
    })
    .await?;
    println!(
        "rewrap done in {:.1} s: {} letters, {} re-wrapped, {} already current",
        started.elapsed().as_secs_f64(),
        p.examined,
        p.rewrapped,
        p.current
    );
    if !p.unopenable.is_empty() {
        for (id, why) in &p.unopenable {
            println!("UNOPENABLE {id}: {why}");
        }
        anyhow::bail!(
            "{} letters are wrapped only to keys this node no longer holds",
            p.unopenable.len()
        );
    }
    Ok(())
}

async fn outbox_cmd(command: OutboxCommand) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { data_dir, all } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            for q in docsvc::transmit::outbox(&node, all).await? {
                let d = &q.delivery;
                println!(
                    "{}  {:<12} {:<9} attempts {:<3} next {}  {}",
                    q.document_id,
                    d.node,
                    d.state,
                    d.attempts,
                    d.next_attempt_at,
                    d.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        OutboxCommand::Retry {
            data_dir,
            unseal,
            document_id,
            node: peer,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            docsvc::transmit::retry(&node, &document_id, &peer, &who).await?;
            println!("delivery of {document_id} to {peer} queued again");
            Ok(())
        }
    }
}

async fn network_cmd(command: NetworkCommand) -> anyhow::Result<()> {
    match command {
        NetworkCommand::Ping { data_dir, peer } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            let (entry, mut client) = docsvc::network::connect(&node, &peer).await?;
            let (status, _, body) = client
                .call("GET", "/network/v1/hello", &[], bytes::Bytes::new())
                .await?;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if status != 200 {
                anyhow::bail!(
                    "{} refused this node ({status}): {}",
                    entry.id,
                    v["detail"].as_str().unwrap_or("no detail")
                );
            }
            println!(
                "{} at {} answers: it knows this node as {} (its directory version {})",
                v["node"].as_str().unwrap_or("?"),
                entry.base_url,
                v["peer"].as_str().unwrap_or("?"),
                v["directory_version"]
            );
            Ok(())
        }
        NetworkCommand::Show { data_dir } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            let d = node.network.current(&node.store).await?.ok_or_else(|| {
                anyhow::anyhow!("no valid network/directory.json in {}", data_dir.display())
            })?;
            println!("network directory version {} of {}", d.version, d.issued_at);
            for n in &d.nodes {
                println!(
                    "  {:<12} {:<9} {:<15} {} {}",
                    n.id,
                    n.status,
                    n.accreditation,
                    n.base_url,
                    n.agencies.join(",")
                );
            }
            Ok(())
        }
    }
}

/// Opens a node's data directory without serving it and unseals its keystore with the given
/// custodian files.
async fn open_unsealed(data_dir: &std::path::Path, u: &OfflineUnseal) -> anyhow::Result<Node> {
    let node = Node::open(Layout::new(data_dir)).await?;
    if u.dev_unseal {
        quickstart::unseal_dev(&node.layout, &node.keystore)?;
    } else {
        if u.share.len() != u.identity.len() {
            anyhow::bail!("give one --identity for each --share");
        }
        for (share, identity) in u.share.iter().zip(&u.identity) {
            if !node.is_sealed() {
                break;
            }
            let p = node
                .keystore
                .submit_share(quickstart::read_share(share, identity)?)?;
            eprintln!("share accepted: {}/{}", p.provided, p.threshold);
        }
    }
    if node.is_sealed() {
        let p = node.keystore.progress();
        anyhow::bail!(
            "the keystore is still sealed: {} of {} shares given",
            p.provided,
            p.threshold
        );
    }
    node.after_unseal()?;
    Ok(node)
}

async fn keys_cmd(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::RotateArchive {
            data_dir,
            unseal,
            level,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let level: policies::Level = level
                .parse()
                .map_err(|e: String| anyhow::anyhow!("level {level:?}: {e}"))?;
            let id = docsvc::letters::rewrap::rotate_archive(&node, level)?;
            println!(
                "archive key of {} rotated: new key {id}; run `docsvc rewrap` next",
                level.as_str()
            );
        }
        KeysCommand::RotateOfficial {
            data_dir,
            unseal,
            nip,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let id = docsvc::letters::rewrap::rotate_official(&node, &nip).await?;
            println!("encryption key of {nip} rotated: new key {id}; run `docsvc rewrap` next");
        }
        KeysCommand::DestroyRetired {
            data_dir,
            unseal,
            force,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let unused = docsvc::letters::rewrap::retired_unused(&node, &node.layout).await?;
            let mut nk = docsvc::node::NodeKeys::load(&node.layout)?;
            let mut kept = Vec::new();
            for (level, id) in std::mem::take(&mut nk.retired_archive) {
                if force || unused.contains(&id) {
                    hsm_shim::KeyStore::destroy(node.keystore.as_ref(), &node.handle(id)?)?;
                    println!("destroyed retired archive key {id} ({})", level.as_str());
                } else {
                    println!(
                        "kept retired archive key {id} ({}): letters are still wrapped to it; run `docsvc rewrap`",
                        level.as_str()
                    );
                    kept.push((level, id));
                }
            }
            nk.retired_archive = kept;
            nk.save(&node.layout)?;
        }
    }
    Ok(())
}

/// `docsvc unseal`: one custodian's share to a running node over HTTPS.
async fn unseal_remote(
    url: &str,
    ca: &std::path::Path,
    share: &std::path::Path,
    identity: &std::path::Path,
) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow::anyhow!("--url must be https://HOST:PORT"))?
        .trim_end_matches('/');
    let host = rest
        .rsplit_once(':')
        .map_or(rest, |(h, _)| h)
        .trim_matches(['[', ']']);
    let addr = tokio::net::lookup_host(if rest.contains(':') {
        rest.to_owned()
    } else {
        format!("{rest}:443")
    })
    .await
    .with_context(|| format!("resolving {rest}"))?
    .next()
    .ok_or_else(|| anyhow::anyhow!("{rest} does not resolve"))?;
    let share = quickstart::read_share(share, identity)?;
    let text = share.to_text();
    let quoted = zeroize::Zeroizing::new(serde_json::to_string(text.as_str())?);
    let body = zeroize::Zeroizing::new(format!("{{\"share\":{}}}", quoted.as_str()));
    let tls = docsvc::network::client::tls_config(ca, None)?;
    let mut client = docsvc::network::client::connect_named(addr, host, tls).await?;
    let (status, _, answer) = client
        .call(
            "POST",
            "/api/v1/sys/unseal",
            &[("content-type", "application/json")],
            bytes::Bytes::copy_from_slice(body.as_bytes()),
        )
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    if status != 200 {
        anyhow::bail!(
            "the node refused the share ({status}): {}",
            v["detail"].as_str().unwrap_or("no detail")
        );
    }
    if v["sealed"] == serde_json::Value::Bool(false) {
        println!("unsealed");
    } else {
        println!(
            "share accepted: {} of {} given; the node is still sealed",
            v["provided"], v["threshold"]
        );
    }
    Ok(())
}

/// The audit key's public key, published beside the log by the running node.
fn audit_spki(layout: &Layout) -> anyhow::Result<Vec<u8>> {
    let path = layout.dir().join("audit-key.der");
    std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (written when the node first unseals)",
            path.display()
        )
    })
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Checks a backup's seal (hash, the node's signature, its node certificate); with
    /// `--identity`, also decrypts it and checks every record and count.
    Verify {
        file: PathBuf,
        #[command(flatten)]
        seal: SealArgs,
        #[arg(long)]
        identity: Option<PathBuf>,
    },
}

/// What a backup's seal is checked against: only a node certificate of the backup's node,
/// from this Network CA, valid and not revoked.
#[derive(clap::Args)]
struct SealArgs {
    /// The network's root CA certificate (PEM), e.g. DIR/ca/root.pem.
    #[arg(long)]
    ca: PathBuf,
    /// The Network CA certificate (PEM); `network-ca.pem` beside `--ca` when absent.
    #[arg(long)]
    network_ca: Option<PathBuf>,
    /// keymgr's CRLs (a current Network CA CRL is required); `crl/` beside the directory of
    /// `--ca` when absent.
    #[arg(long)]
    crl_dir: Option<PathBuf>,
}

impl SealArgs {
    fn trust(&self) -> anyhow::Result<docsvc::ops::backup_seal::SealTrust> {
        Ok(docsvc::ops::backup_seal::SealTrust::from_files(
            &self.ca,
            self.network_ca.as_deref(),
            self.crl_dir.as_deref(),
        )?)
    }
}

async fn bench_cmd(
    opts: &docsvc::dev::bench::Options,
    results: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut print = |line: &str| println!("{line}");
    let mut report = docsvc::dev::bench::Report::new(&mut print);
    docsvc::dev::bench::run(opts, &mut report).await?;
    let Some(dir) = results else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let machine = format!(
        "{} cores, {cpu}; {} ({})",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        docsvc::now_rfc3339(),
        env!("CARGO_PKG_VERSION")
    );
    let write = |name: &str, text: String| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("results.md", report.markdown(&machine))?;
    write(
        "results.json",
        serde_json::to_string_pretty(&report.json(&machine))?,
    )?;
    for s in &report.series {
        write(&format!("{}.svg", s.name), docsvc::dev::bench::svg(s))?;
    }
    println!("results written to {}", dir.display());
    Ok(())
}

async fn restore_cmd(
    file: &std::path::Path,
    data_dir: &std::path::Path,
    seal: &SealArgs,
    identity: &std::path::Path,
    database_url: Option<&str>,
) -> anyhow::Result<()> {
    let trust = seal.trust()?;
    let ids = docsvc::ops::backup::identities(identity)?;
    let s = docsvc::ops::backup::restore(file, &trust, &ids, data_dir, database_url, &mut |l| {
        eprintln!("{l}");
    })
    .await?;
    println!(
        "restored {} files and {} rows into {}; the node is sealed: serve it and have the custodians unseal it",
        s.files,
        s.rows.values().sum::<u64>(),
        data_dir.display()
    );
    Ok(())
}

async fn backup_cmd(
    command: Option<BackupCommand>,
    data_dir: &std::path::Path,
    out: Option<&std::path::Path>,
    recipients: &[String],
) -> anyhow::Result<()> {
    if let Some(BackupCommand::Verify {
        file,
        seal,
        identity,
    }) = command
    {
        let trust = seal.trust()?;
        let seal = docsvc::ops::backup::verify(&file, &trust)?;
        println!(
            "seal valid: node {}, taken {}, SHA-256 {}",
            seal.node_id, seal.created_at, seal.sha256
        );
        if let Some(identity) = identity {
            let ids = docsvc::ops::backup::identities(&identity)?;
            let s = docsvc::ops::backup::check_contents(&file, &trust, &ids).await?;
            println!(
                "contents valid: {} files, {} rows in {} tables",
                s.files,
                s.rows.values().sum::<u64>(),
                s.rows.len()
            );
        }
        return Ok(());
    }
    let out = out.context("--out FILE is required (or `docsvc backup verify FILE`)")?;
    let recipients = recipients
        .iter()
        .map(|r| {
            r.parse::<age::x25519::Recipient>()
                .map_err(|e| anyhow::anyhow!("recipient {r}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let s = docsvc::ops::backup::backup(&Layout::new(data_dir), out, &recipients, &mut |l| {
        eprintln!("{l}");
    })
    .await?;
    println!(
        "backup written to {}: {} files, {} rows, encrypted to {} recipient(s), signed by the node",
        out.display(),
        s.files,
        s.rows.values().sum::<u64>(),
        recipients.len()
    );
    Ok(())
}

fn next_steps(out: &quickstart::Outcome, listen: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "\nOfficials (passwords and PINs are shown once):");
    let _ = writeln!(
        s,
        "  {:<18}  {:<16} {:<12} {:<15} {:<18} {:<8} roles",
        "NIP", "name", "agency", "clearance", "password", "PIN"
    );
    for o in &out.officials {
        let _ = writeln!(
            s,
            "  {:<18}  {:<16} {:<12} {:<15} {:<18} {:<8} {}",
            o.nip,
            o.name,
            o.agency,
            o.clearance.as_str(),
            o.password.as_str(),
            o.pin.as_str(),
            o.roles.join(",")
        );
    }
    let dir = out.layout.dir().display();
    let _ = writeln!(s, "\nNext steps:");
    let _ = writeln!(
        s,
        "  Web UI: https://{listen}/ui/ (log in with a NIP and password above; the browser must\n  trust {dir}/ca/root.pem, the dev root CA, e.g. imported into its certificate settings)"
    );
    let _ = writeln!(s, "  CA=\"{dir}/ca/root.pem\"");
    let _ = writeln!(s, "  curl --cacert \"$CA\" https://{listen}/readyz");
    let _ = writeln!(
        s,
        "  curl --cacert \"$CA\" -c jar -H 'content-type: application/json' \\\n    -d '{{\"nip\":\"NIP\",\"password\":\"PASSWORD\"}}' https://{listen}/api/v1/session"
    );
    let _ = writeln!(s, "  docsvc audit verify --data-dir {dir}");
    s
}
