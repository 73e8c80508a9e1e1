//! `keymgr log …`: the transparency log of ceremonies and issuance.

use anyhow::Context as _;
use clap::Subcommand;
use keymgr::tlog::Log;

use super::Env;
use super::quorum::{ShareArgs, unseal};

#[derive(Subcommand)]
pub(super) enum LogCmd {
    /// Recompute the tree, check every signed head, name the first entry that does not match.
    Verify,
    /// Rotate the key that signs tree heads (heads signed by the old key stay verifiable).
    RotateKey(ShareArgs),
    /// Print an inclusion proof for one entry against the current tree.
    Prove { index: usize },
    /// Print the newest head as a C2SP checkpoint signed with the log's Ed25519 note key
    /// (made at first use; its verifier key is written to HOME/log/note.vkey).
    Checkpoint(ShareArgs),
    /// Print the inclusion proof (JSON) of the entry that issued a certificate, in the tree
    /// of --size entries.
    ProveCertificate {
        /// The certificate (PEM or DER).
        certificate: std::path::PathBuf,
        /// The size of the checkpoint the proof is for.
        #[arg(long)]
        size: u64,
    },
}

pub(super) async fn run(env: &Env, cmd: &LogCmd) -> anyhow::Result<()> {
    match cmd {
        LogCmd::Verify => verify(env),
        LogCmd::RotateKey(shares) => rotate_key(env, shares).await,
        LogCmd::Prove { index } => prove(env, *index),
        LogCmd::Checkpoint(shares) => {
            let session = unseal(&env.home, shares)?;
            print!(
                "{}",
                Log::open(&env.home)?.checkpoint(session.online_keys()?)?
            );
            Ok(())
        }
        LogCmd::ProveCertificate { certificate, size } => {
            let bytes = std::fs::read(certificate)
                .with_context(|| format!("reading {}", certificate.display()))?;
            let der = std::str::from_utf8(&bytes)
                .ok()
                .and_then(keymgr::ca::pem_to_der)
                .unwrap_or(bytes);
            let sha = keymgr::transcript::sha256_hex(&der);
            let proof = Log::open(&env.home)?.certificate_inclusion(&sha, *size)?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
    }
}

fn verify(env: &Env) -> anyhow::Result<()> {
    let log = Log::open(&env.home)?;
    let s = log.verify()?;
    let versions: Vec<String> = log
        .head_key_versions()?
        .iter()
        .map(|v| format!("v{v}"))
        .collect();
    println!(
        "log verified: {} entries, {} signed tree heads (log key {})",
        s.entries,
        s.heads,
        versions.join(", ")
    );
    Ok(())
}

async fn rotate_key(env: &Env, shares: &ShareArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, shares)?;
    let store = session.online_keys()?;
    let old = store.info(env.home.load_state()?.log_key)?;
    let new = Log::open(&env.home)?.rotate_key(&env.home, store)?;
    inv.record_key("online", &new).await?;
    inv.record_key("online", &store.info(old.id)?).await?;
    println!(
        "log key rotated: version {} -> {} ({})",
        old.version, new.version, new.id
    );
    Ok(())
}

fn prove(env: &Env, index: usize) -> anyhow::Result<()> {
    let (leaf, proof, root) = Log::open(&env.home)?.inclusion_proof(index)?;
    println!(
        "{}",
        serde_json::json!({ "index": index, "leaf_hash": hex::encode(leaf), "root": hex::encode(root),
                            "proof": proof.iter().map(hex::encode).collect::<Vec<_>>() })
    );
    Ok(())
}
