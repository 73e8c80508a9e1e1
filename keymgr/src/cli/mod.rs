//! The command line: the top-level commands, and what every command runs against (the CA home
//! and its inventory). Each command group lives in its own module, with its arguments and what
//! it prints.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use keymgr::ca::{Ca, Home};
use keymgr::inventory::Inventory;

mod bench;
mod berita_acara;
mod ceremony;
mod directory;
mod inventory;
mod issue;
mod keys;
mod quorum;
mod revoke;
mod serve;
mod tlog;

#[derive(Parser)]
#[command(
    name = "keymgr",
    version,
    about = "The sandi network's CA: key ceremonies, issuance, transparency log"
)]
pub(crate) struct Cli {
    /// The CA's home directory.
    #[arg(long, global = true, env = "KEYMGR_HOME", default_value = "sandi-ca")]
    home: PathBuf,
    /// The inventory database: sqlite://FILE or postgres://… (default: HOME/inventory.db).
    #[arg(long, global = true, env = "KEYMGR_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Key ceremonies.
    #[command(subcommand)]
    Ceremony(ceremony::CeremonyCmd),
    /// Custodians give their shares one at a time; says how many more are needed.
    Unseal(quorum::ShareArgs),
    /// Issue a certificate with an online intermediate (needs the custodians' quorum).
    Issue(issue::IssueArgs),
    /// Bind an official's age recipient to their identity, signed by the Signing CA.
    BindKey(issue::BindKeyArgs),
    /// Verify a key binding against the CA certificates in the home.
    VerifyBinding(issue::VerifyBindingArgs),
    /// The network directory: every node, signed by the Network CA.
    #[command(subcommand)]
    Directory(directory::DirectoryCmd),
    /// Issue the next version of a certificate with a new key; the old one stays valid until it
    /// expires (the overlap window).
    Rotate(issue::RotateArgs),
    /// Renew every node certificate that expires soon (idempotent).
    Renew(issue::RenewArgs),
    /// Revoke a certificate.
    Revoke(revoke::RevokeArgs),
    /// Write the CRL of an issuing CA (DER and PEM, under HOME/crl/).
    Crl(revoke::CrlArgs),
    /// Whether a certificate was valid at a moment (RFC 3339), e.g. when a letter was signed.
    Status(revoke::StatusArgs),
    /// Every certificate and key in the inventory.
    List,
    /// One certificate's record.
    Show(inventory::ShowArgs),
    /// The transparency log.
    #[command(subcommand)]
    Log(tlog::LogCmd),
    /// Keys in the online keystore: lifecycle states and destruction.
    #[command(subcommand)]
    Key(keys::KeyCmd),
    /// Publish the CA certificates and CRLs and answer OCSP over plain HTTP (needs the quorum
    /// once, at start).
    Serve(serve::ServeArgs),
    /// Measure the OCSP responder over HTTP on a throw-away CA (development tool).
    BenchOcsp(bench::BenchArgs),
}

/// What every command runs against: the CA home and the inventory database.
struct Env {
    home: Home,
    dir: PathBuf,
    database_url: String,
}

impl Env {
    /// The inventory of an initialised CA home.
    async fn inventory(&self) -> anyhow::Result<Inventory> {
        if !self.home.is_initialised() {
            return Err(keymgr::Error::NotInitialised(self.dir.clone()).into());
        }
        self.open_inventory().await
    }

    /// The inventory, whether or not the home is a CA yet (the init ceremony makes it one).
    async fn open_inventory(&self) -> anyhow::Result<Inventory> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        Ok(Inventory::open(&self.database_url).await?)
    }
}

impl Cli {
    /// Whether the command serves many clients at once and wants every core.
    pub(crate) fn serves(&self) -> bool {
        matches!(self.command, Cmd::Serve(_) | Cmd::BenchOcsp(_))
    }
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Env {
        home: Home::new(&cli.home),
        database_url: cli
            .database_url
            .unwrap_or_else(|| Inventory::default_url(&cli.home)),
        dir: cli.home,
    };
    match &cli.command {
        Cmd::Ceremony(cmd) => ceremony::run(&env, cmd).await,
        Cmd::Unseal(shares) => quorum::unseal_only(&env, shares),
        Cmd::Issue(args) => issue::issue(&env, args).await,
        Cmd::BindKey(args) => issue::bind_key(&env, args),
        Cmd::VerifyBinding(args) => issue::verify_binding(&env, args),
        Cmd::Directory(cmd) => directory::run(&env, cmd),
        Cmd::Rotate(args) => issue::rotate(&env, args).await,
        Cmd::Renew(args) => issue::renew(&env, args).await,
        Cmd::Revoke(args) => revoke::revoke(&env, args).await,
        Cmd::Crl(args) => revoke::crl(&env, args).await,
        Cmd::Status(args) => revoke::status(&env, args).await,
        Cmd::List => inventory::list(&env).await,
        Cmd::Show(args) => inventory::show(&env, args).await,
        Cmd::Log(cmd) => tlog::run(&env, cmd).await,
        Cmd::Key(cmd) => keys::run(&env, cmd).await,
        Cmd::Serve(args) => serve::serve(&env, args).await,
        Cmd::BenchOcsp(args) => bench::bench_ocsp(args).await,
    }
}

/// The two intermediates that issue certificates and sign CRLs.
#[derive(Clone, Copy, ValueEnum)]
enum IssuingCa {
    Network,
    Signing,
}

impl IssuingCa {
    fn ca(self) -> Ca {
        match self {
            IssuingCa::Network => Ca::Network,
            IssuingCa::Signing => Ca::Signing,
        }
    }
}

/// 30d, 12h, 2w, 90m, 30s.
fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (s, m, h, d, w)"))?;
    match unit {
        "s" => Ok(time::Duration::seconds(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        "w" => Ok(time::Duration::weeks(n)),
        _ => Err(format!("{s:?}: the unit must be s, m, h, d or w")),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes a file that must not exist yet: an output never overwrites an earlier one.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
