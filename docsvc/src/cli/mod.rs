//! The `docsvc` command line: the commands and their flags, each group's handling in its own
//! module (the binary's side only, not part of the library).

mod application;
mod audit;
mod backup;
mod ca;
mod ceremony;
mod dev;
mod init;
mod keys;
mod network;
mod official;
mod quickstart;
mod serve;
mod unseal;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use docsvc::node::Layout;
use docsvc::store::Store;

#[derive(Parser)]
#[command(
    name = "docsvc",
    version,
    about = "The sandi document service: classified letters, encrypted, signed, logged"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sets up a development node (dev key ceremony, dev PKI, officials) and serves it.
    Quickstart(quickstart::QuickstartArgs),
    /// Makes a production node in a key ceremony: named custodians and witnesses, the node
    /// keystore sealed, each share encrypted to its custodian outside the data directory, the
    /// node's certificate request, a signed transcript.
    Init(Box<init::InitArgs>),
    /// Custodian turnover: a quorum of the current custodians deals fresh shares of the same
    /// keystore to new custodians (new M and N allowed); no key changes. Run it with the node
    /// stopped.
    Reshare(init::ReshareArgs),
    /// A node ceremony's berita acara: countersign its transcript with an SSH key, verify
    /// everyone has, print allowed_signers, render the printable page.
    Ceremony {
        #[command(subcommand)]
        command: ceremony::CeremonyCommand,
    },
    /// The node's own certificate: enrol and renew with the online CA, or install one.
    Certificate {
        #[command(subcommand)]
        command: ca::CertificateCommand,
    },
    /// Serves a node. It starts sealed: custodians unseal it through `POST /api/v1/sys/unseal`.
    Serve(serve::ServeArgs),
    /// Gives a running node one custodian's share: decrypts the share file with the
    /// custodian's age identity and posts it to `/api/v1/sys/unseal`.
    Unseal(unseal::UnsealArgs),
    /// Key rotation for the node's archive keys and officials' encryption keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Re-wraps every letter's age headers to the current keys after a rotation, in batches,
    /// with progress; resumable (run it again after a crash). Reports letters that no key
    /// this node holds can open.
    Rewrap(keys::RewrapArgs),
    /// The sandi network: other nodes, as the network directory lists them.
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// Deliveries to other nodes: what waits, what was given up, and retrying it.
    Outbox {
        #[command(subcommand)]
        command: network::OutboxCommand,
    },
    /// The access log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Backs up the node while it serves: database snapshot and data directory, encrypted to
    /// the backup custodians (age) and signed by the node. `docsvc backup verify FILE` checks one.
    #[command(args_conflicts_with_subcommands = true)]
    Backup(backup::BackupArgs),
    /// Restores a backup onto an empty data directory (and an empty database); the node starts
    /// sealed and needs the custodians' quorum.
    Restore(backup::RestoreArgs),
    /// Applications of the signing API: registered with their own certificate request.
    Application {
        #[command(subcommand)]
        command: application::ApplicationCommand,
    },
    /// The directory of officials.
    Official {
        #[command(subcommand)]
        command: official::OfficialCommand,
    },
    /// Measures a temporary quickstart node: signing API throughput, ingest, read latency.
    Bench(dev::BenchArgs),
    /// Sends many letters between two temporary nodes while the receiver is killed (SIGKILL)
    /// and restarted twice; checks every letter arrived once with a receipt and both logs
    /// verify.
    Soak(dev::SoakArgs),
    /// Prints the OpenAPI 3.1 document of the API (what `/api/v1/openapi.json` serves).
    Openapi,
    /// Checks a policy directory and prints a summary.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    Check { dir: PathBuf },
}

/// Runs one command.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Quickstart(args) => quickstart::run(args).await,
        Command::Init(args) => init::init(*args).await,
        Command::Reshare(args) => init::reshare(&args),
        Command::Ceremony { command } => ceremony::run(&command),
        Command::Certificate { command } => ca::run(command).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Unseal(args) => unseal::remote(&args).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Rewrap(args) => keys::rewrap(&args).await,
        Command::Network { command } => network::run(command).await,
        Command::Outbox { command } => network::outbox(command).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(&args).await,
        Command::Official { command } => official::run(command).await,
        Command::Application { command } => application::run(command).await,
        Command::Bench(args) => dev::bench(args).await,
        Command::Soak(args) => dev::soak(&args).await,
        Command::Openapi => {
            println!("{}", docsvc::http::api::openapi().to_pretty_json()?);
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

/// A node's layout and its database, without opening the node.
async fn store_of(data_dir: &Path) -> anyhow::Result<(Layout, Store)> {
    let layout = Layout::new(data_dir);
    let config = docsvc::node::Config::load(&layout)?;
    let store = Store::open(&config.database_url(&layout)).await?;
    Ok((layout, store))
}
