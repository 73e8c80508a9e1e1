//! `docsvc bench`: the figures that matter, measured on a real node (a quickstart node in a
//! temporary directory, served over TLS on this machine): signing API requests per second over
//! HTTPS keep-alive with every call durably logged, beside raw ring signing; document ingest
//! throughput beside the age crate, the age CLI and the disk's durable write rate; read latency
//! of a 100 KiB letter. Every figure is the median of `--runs` runs after a warm-up, with its
//! spread, and a run with any error fails the bench.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Result, dev::quickstart, officials::directory};

mod inbox;
mod ingest;
mod issuance;
mod letters;
mod login;
mod machine;
mod network;
mod pdf;
mod reads;
mod report;
mod signing;
mod trust;
#[cfg(test)]
pub(crate) use network::publish_directory;
pub(crate) use network::{Served, TwoNodes, letter_to_bappeda, serve_node, two_nodes};
pub use report::{Figure, Report, Series, svg};
pub use signing::{pkcs11_signs_per_second, sign_client};

/// A group of figures, for a partial run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    /// The signing API and its references.
    Signing,
    Logins,
    Ingest,
    /// Reading a letter.
    Reads,
    /// Letters written as text: rendered and signed as PDF.
    Pdf,
    /// Policy decisions, certificate issuance, the log's verification.
    Trust,
    /// Letters between two nodes.
    Network,
    /// The web UI's and API's inbox pages.
    Inbox,
}

impl Options {
    fn wants(&self, g: Group) -> bool {
        self.only.is_empty() || self.only.contains(&g)
    }
}

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
    /// Measure only these groups (all when empty).
    pub only: Vec<Group>,
    /// Runs per figure, each after a warm-up run that does not count; the figure is their
    /// median.
    pub runs: usize,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Tool {
        tool: "bench",
        detail: e.to_string(),
    }
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

/// The quickstart node the first measurements run against, served in this process.
struct Bench {
    dir: PathBuf,
    setup: quickstart::Outcome,
    served: Served,
    addr: std::net::SocketAddr,
    /// The dev root CA the node's certificate chains to.
    root: PathBuf,
    /// Runs per figure.
    runs: usize,
}

impl Bench {
    async fn start(runs: usize, r: &mut Report<'_>) -> Result<Self> {
        let dir = tempfile_dir()?;
        r.line(&format!(
            "setting up a quickstart node in {}",
            dir.display()
        ));
        let setup = quickstart::setup(&dir, "127.0.0.1:0", None, &mut |_| {}).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        let served = serve_node(&dir, listener).await?;
        register_p256_application(&served.node).await?;
        let root = served.node.layout.ca("root.pem");
        Ok(Bench {
            dir,
            setup,
            served,
            addr,
            root,
            runs,
        })
    }

    /// Stops the server and removes the node.
    async fn stop(self) {
        let _ = self.served.stop.send(());
        let _ = self.served.task.await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A second application, cleared for TERBATAS, whose signing key the handling table makes
/// ECDSA P-256 (the quickstart's `e-office` is cleared for RAHASIA: P-384): the signing API
/// measured with the network's faster curve too.
pub(super) const P256_APPLICATION: &str = "e-office-terbatas";

async fn register_p256_application(node: &crate::node::Node) -> Result<()> {
    let (home, quorum) = quickstart::dev_quorum(&node.layout)?;
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await?;
    let policy = node.policy.current();
    let keys: &dyn hsm_shim::KeyStore = node.keystore.as_ref();
    crate::dev::dev_application::register_dev_application(
        &node.layout,
        &home,
        &inv,
        (quorum.online()?, keys),
        (&node.store, policy.handling()),
        &crate::dev::dev_application::DevApplication {
            id: P256_APPLICATION,
            name: "e-Office (TERBATAS)",
            clearance: policies::Level::Terbatas,
        },
    )
    .await
}

/// Runs every measurement, in the report's order, and prints the figures.
pub async fn run(opts: &Options, r: &mut Report<'_>) -> Result<()> {
    let b = Bench::start(opts.runs.max(1), r).await?;
    // 1. The signing API, then logins: all that an authentication change can move.
    if opts.wants(Group::Signing) {
        signing::measure(&b, opts, r).await?;
    }
    if opts.wants(Group::Logins) {
        login::measure(&b, opts, r).await?;
    }
    let budi = directory::get(&b.served.node.store, &b.setup.officials[0].nip)
        .await?
        .ok_or_else(|| err("no official"))?;
    let siti_nip = b.setup.officials[1].nip.clone();
    // 2. Ingest; 3. reading a letter; 4. policy decisions, issuance and the log's verification.
    if opts.wants(Group::Ingest) {
        ingest::measure(&b, opts, (&budi, &siti_nip), r).await?;
    }
    if opts.wants(Group::Reads) {
        reads::measure(&b, opts, (&budi, &siti_nip), r).await?;
    }
    if opts.wants(Group::Pdf) {
        pdf::measure(&b, opts, (&budi, &siti_nip), r).await?;
    }
    if opts.wants(Group::Trust) {
        trust::measure(&b, &budi, r).await?;
    }
    b.stop().await;
    if opts.letters > 0 && opts.wants(Group::Network) {
        network::measure(opts.letters, opts.runs, r).await?;
    }
    if opts.inbox_letters > 0 && opts.wants(Group::Inbox) {
        inbox::measure(opts.inbox_letters, opts.runs, r).await?;
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("docsvc-bench-{}", hex::encode(b)));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    Ok(dir)
}
