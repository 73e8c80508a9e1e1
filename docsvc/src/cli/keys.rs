//! Keys: rotation of archive and officials' keys, destruction of retired ones, and `docsvc
//! rewrap`, which moves every letter onto the current keys.

use std::path::PathBuf;

use clap::Subcommand;

use super::unseal::{OfflineUnseal, open_unsealed};

#[derive(Subcommand)]
pub(super) enum KeysCommand {
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

#[derive(clap::Args)]
pub(super) struct RewrapArgs {
    #[arg(long, env = "DOCSVC_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    unseal: OfflineUnseal,
    /// Letters per page.
    #[arg(long, default_value_t = 200)]
    batch: u32,
}

pub(super) async fn run(command: KeysCommand) -> anyhow::Result<()> {
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

pub(super) async fn rewrap(args: &RewrapArgs) -> anyhow::Result<()> {
    let node = open_unsealed(&args.data_dir, &args.unseal).await?;
    let started = std::time::Instant::now();
    let p = docsvc::letters::rewrap::run(&node, args.batch, &mut |p| {
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
