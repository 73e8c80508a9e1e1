//! `keymgr directory …`: the network directory, from the input an operator edits to the signed
//! file each node loads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use keymgr::ca::Ca;
use keymgr::directory::{self, Directory, DirectoryInput, NewNode};

use super::quorum::{ShareArgs, unseal};
use super::{Env, read, write_new};

#[derive(Subcommand)]
pub(super) enum DirectoryCmd {
    /// Signs a directory (JSON: `{"version": N, "nodes": [{id, agencies, base_url,
    /// spki_sha256, accreditation, status}]}`, spki_sha256 the SHA-256 of the node
    /// certificate's SubjectPublicKeyInfo) with the Network CA; the version must be above the
    /// last one signed. Nodes load the signed file as `network/directory.json`.
    Sign {
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verifies a signed directory against the CA certificates in the home and lists it.
    Verify { file: PathBuf },
    /// Adds a node to a directory input (creating it if missing), or replaces the node with the
    /// same id: the key's SHA-256 is taken from its certificate, which must be one this
    /// Network CA issued for that node; the version is moved above the last one signed.
    Add {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        id: String,
        /// The node's certificate (PEM), as `keymgr issue node` wrote it.
        #[arg(long)]
        cert: PathBuf,
        /// `https://host:port` where the node listens.
        #[arg(long)]
        url: String,
        /// An agency the node serves (repeat for several).
        #[arg(long = "agency", required = true)]
        agencies: Vec<String>,
        /// The highest classification the node may hold.
        #[arg(long)]
        accreditation: String,
        /// active, suspended or revoked.
        #[arg(long, default_value = "active")]
        status: String,
    },
    /// Copies a signed directory into nodes' data directories (`network/directory.json`),
    /// after checking it; a node holding a newer version is left alone and reported.
    Publish {
        file: PathBuf,
        /// A node's data directory (repeat for several).
        #[arg(long = "to", required = true)]
        to: Vec<PathBuf>,
    },
}

pub(super) fn run(env: &Env, cmd: &DirectoryCmd) -> anyhow::Result<()> {
    match cmd {
        DirectoryCmd::Sign { shares, input, out } => sign(env, shares, input, out),
        DirectoryCmd::Verify { file } => verify(env, file),
        DirectoryCmd::Add {
            input,
            id,
            cert,
            url,
            agencies,
            accreditation,
            status,
        } => {
            let node = NewNodeArgs {
                id,
                cert,
                url,
                agencies,
                accreditation,
                status,
            };
            add(env, input, &node)
        }
        DirectoryCmd::Publish { file, to } => publish(env, file, to),
    }
}

/// The input is checked before the custodians are asked for their shares.
fn sign(env: &Env, shares: &ShareArgs, input: &Path, out: &Path) -> anyhow::Result<()> {
    let input: DirectoryInput =
        serde_json::from_slice(&read(input)?).context("not a directory input")?;
    directory::check_new(&env.home, &input)?;
    let session = unseal(&env.home, shares)?;
    let d = directory::sign(&env.home, session.online_keys()?, &input)?;
    write_new(out, &serde_json::to_vec_pretty(&d)?)?;
    println!(
        "network directory version {} ({} nodes) written to {}",
        d.version,
        d.nodes.len(),
        out.display()
    );
    Ok(())
}

fn verify(env: &Env, file: &Path) -> anyhow::Result<()> {
    let d: Directory = serde_json::from_slice(&read(file)?).context("not a network directory")?;
    directory::verify(
        &d,
        &env.home.cert_der(Ca::Network)?,
        &env.home.cert_der(Ca::Root)?,
    )?;
    println!(
        "valid: network directory version {} of {}",
        d.version, d.issued_at
    );
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

/// `directory add`'s description of the node, as given.
struct NewNodeArgs<'a> {
    id: &'a str,
    cert: &'a Path,
    url: &'a str,
    agencies: &'a [String],
    accreditation: &'a str,
    status: &'a str,
}

fn add(env: &Env, input: &Path, node: &NewNodeArgs<'_>) -> anyhow::Result<()> {
    let held = match std::fs::read(input) {
        Ok(b) => Some(
            serde_json::from_slice::<DirectoryInput>(&b)
                .with_context(|| format!("{} is not a directory input", input.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", input.display())),
    };
    let pem = String::from_utf8(read(node.cert)?).unwrap_or_default();
    let der = keymgr::ca::pem_to_der(&pem)
        .with_context(|| format!("{} holds no PEM certificate", node.cert.display()))?;
    let next = directory::add_node(
        &env.home,
        held,
        &NewNode {
            id: node.id,
            certificate_der: &der,
            base_url: node.url,
            agencies: node.agencies.to_vec(),
            accreditation: node.accreditation,
            status: node.status,
        },
    )?;
    // Written aside and renamed: an interrupted write never leaves half an input behind.
    let aside = input.with_extension("json.new");
    std::fs::write(&aside, serde_json::to_vec_pretty(&next)?)
        .with_context(|| format!("writing {}", aside.display()))?;
    std::fs::rename(&aside, input).with_context(|| format!("writing {}", input.display()))?;
    println!(
        "{} in {} (version {}, {} nodes); sign it with `keymgr directory sign`",
        node.id,
        input.display(),
        next.version,
        next.nodes.len()
    );
    Ok(())
}

/// Copies to every target it can; fails at the end if any was refused.
fn publish(env: &Env, file: &Path, to: &[PathBuf]) -> anyhow::Result<()> {
    let d: Directory = serde_json::from_slice(&read(file)?).context("not a network directory")?;
    let mut refused = 0;
    for (target, r) in directory::publish(&env.home, &d, to)? {
        match r {
            Ok(()) => println!("version {} written to {}", d.version, target.display()),
            Err(why) => {
                refused += 1;
                eprintln!("not written to {}: {why}", target.display());
            }
        }
    }
    if refused > 0 {
        anyhow::bail!("{refused} of {} nodes not updated", to.len());
    }
    Ok(())
}
