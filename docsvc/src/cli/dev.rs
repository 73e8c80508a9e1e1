//! The development tools' commands: `docsvc bench` and `docsvc soak` (see `docsvc::dev`).

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(clap::Args)]
pub(super) struct BenchArgs {
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
    #[arg(long, default_value_t = 100)]
    logins: usize,
    /// Measure only the signing API and logins (what an authentication change can move).
    #[arg(long, conflicts_with = "only")]
    auth_only: bool,
    /// Measure only these groups of figures (comma-separated), e.g. `--only network,trust`;
    /// a partial run writes no results.
    #[arg(long, value_enum, value_delimiter = ',', conflicts_with = "results")]
    only: Vec<docsvc::dev::bench::Group>,
    /// Runs per figure (each after a warm-up run); the figure is their median.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    runs: u16,
    /// Write the figures as JSON and Markdown, and the plots as SVG, into this folder.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Internal: signatures per second through PKCS#11 on the `bench` token of MODULE.
    #[arg(long, hide = true)]
    pkcs11_sign: Option<PathBuf>,
    /// Internal: the kind of key `--pkcs11-sign` signs with.
    #[arg(long, hide = true, default_value = "ecdsa_p256")]
    pkcs11_kind: hsm_shim::KeyKind,
    /// Internal: be the signing API's bench client (its own process) against this address.
    #[arg(long, hide = true, requires_all = ["client_root", "client_cert", "client_key"])]
    sign_client: Option<std::net::SocketAddr>,
    /// Internal: the root CA the sign client trusts.
    #[arg(long, hide = true)]
    client_root: Option<PathBuf>,
    /// Internal: the sign client's certificate.
    #[arg(long, hide = true)]
    client_cert: Option<PathBuf>,
    /// Internal: the sign client's key.
    #[arg(long, hide = true)]
    client_key: Option<PathBuf>,
    /// Internal: the sign client calls `GET /healthz` instead (the HTTPS stack's floor).
    #[arg(long, hide = true)]
    sign_floor: bool,
}

#[derive(clap::Args)]
pub(super) struct SoakArgs {
    #[arg(long, default_value_t = 10_000)]
    letters: usize,
    /// Time limit in minutes.
    #[arg(long, default_value_t = 20)]
    minutes: u64,
}

pub(super) async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(module) = args.pkcs11_sign {
        println!(
            "{}",
            docsvc::dev::bench::pkcs11_signs_per_second(&module, args.pkcs11_kind)?
        );
        return Ok(());
    }
    if let (Some(addr), Some(root), Some(cert), Some(key)) = (
        args.sign_client,
        &args.client_root,
        &args.client_cert,
        &args.client_key,
    ) {
        let line = docsvc::dev::bench::sign_client(
            addr,
            (root, cert, key),
            args.connections,
            args.sign_requests,
            args.sign_floor,
        )
        .await?;
        println!("{line}");
        return Ok(());
    }
    let opts = docsvc::dev::bench::Options {
        sign_requests: args.sign_requests,
        connections: args.connections.max(1),
        ingest_mib: args.ingest_mib.max(1),
        reads: args.reads.max(1),
        letters: args.letters,
        inbox_letters: args.inbox_letters,
        sweep: args.sweep,
        logins: args.logins,
        only: if args.auth_only {
            vec![
                docsvc::dev::bench::Group::Signing,
                docsvc::dev::bench::Group::Logins,
            ]
        } else {
            args.only
        },
        runs: usize::from(args.runs),
    };
    bench_with_results(&opts, args.results.as_deref()).await
}

pub(super) async fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    let r = docsvc::dev::soak::run(
        args.letters.max(3),
        std::time::Duration::from_secs(args.minutes * 60),
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

async fn bench_with_results(
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
