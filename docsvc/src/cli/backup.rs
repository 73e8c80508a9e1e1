//! `docsvc backup` and `docsvc restore`: a sealed, encrypted backup of a serving node, checked
//! and restored onto an empty data directory.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use docsvc::node::Layout;

#[derive(clap::Args)]
pub(super) struct BackupArgs {
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
}

#[derive(clap::Args)]
pub(super) struct RestoreArgs {
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
}

#[derive(Subcommand)]
pub(super) enum BackupCommand {
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
pub(super) struct SealArgs {
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
    /// The network's OID arc (keymgr's `oid_arc`, a node's `[pki] oid_arc`), under which node
    /// certificates carry their attributes; else, for `backup verify`, the arc in the node.toml
    /// of the checker's own node (DOCSVC_DATA_DIR) when there is one; else the development arc.
    #[arg(long)]
    oid_arc: Option<String>,
}

impl SealArgs {
    /// `node_dir`: the checker's own node, whose configuration names the arc.
    fn trust(
        &self,
        node_dir: Option<&std::path::Path>,
    ) -> anyhow::Result<docsvc::ops::backup_seal::SealTrust> {
        let arc = match (&self.oid_arc, node_dir.map(Layout::new)) {
            (Some(arc), _) => arc.clone(),
            (None, Some(layout)) if layout.config().exists() => {
                docsvc::node::Config::load(&layout)?.pki.oid_arc
            }
            _ => keymgr::oid_arc::DEV_OID_ARC.to_owned(),
        };
        Ok(docsvc::ops::backup_seal::SealTrust::from_files(
            &self.ca,
            self.network_ca.as_deref(),
            self.crl_dir.as_deref(),
        )?
        .with_oid_arc(&arc)?)
    }
}

pub(super) async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let BackupArgs {
        command,
        data_dir,
        out,
        recipients,
    } = args;
    if let Some(BackupCommand::Verify {
        file,
        seal,
        identity,
    }) = command
    {
        return verify(&file, &seal, identity.as_deref(), &data_dir).await;
    }
    let out = out
        .as_deref()
        .context("--out FILE is required (or `docsvc backup verify FILE`)")?;
    let recipients = recipients
        .iter()
        .map(|r| {
            r.parse::<age::x25519::Recipient>()
                .map_err(|e| anyhow::anyhow!("recipient {r}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let s = docsvc::ops::backup::backup(&Layout::new(&data_dir), out, &recipients, &mut |l| {
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

/// `docsvc backup verify`: the seal, and with an identity the contents.
async fn verify(
    file: &std::path::Path,
    seal: &SealArgs,
    identity: Option<&std::path::Path>,
    node_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let trust = seal.trust(Some(node_dir))?;
    let seal = docsvc::ops::backup::verify(file, &trust)?;
    println!(
        "seal valid: node {}, taken {}, SHA-256 {}",
        seal.node_id, seal.created_at, seal.sha256
    );
    if let Some(identity) = identity {
        let ids = docsvc::ops::backup::identities(identity)?;
        let s = docsvc::ops::backup::check_contents(file, &trust, &ids).await?;
        println!(
            "contents valid: {} files, {} rows in {} tables",
            s.files,
            s.rows.values().sum::<u64>(),
            s.rows.len()
        );
    }
    Ok(())
}

pub(super) async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let RestoreArgs {
        file,
        data_dir,
        seal,
        identity,
        database_url,
    } = args;
    let database_url = database_url.as_deref();
    let trust = seal.trust(None)?;
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
