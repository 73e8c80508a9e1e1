//! `keymgr issue`, `rotate`, `renew`, `bind-key` and `verify-binding`: certificates and key
//! bindings from the online intermediates.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use hsm_shim::KeyKind;
use keymgr::ca::{ApplicationRequest, Ca, NodeRequest, OfficialRequest};
use keymgr::issue::{self, KeySource};

use super::quorum::{ShareArgs, unseal};
use super::{Env, parse_duration, read, write_new};

#[derive(Args)]
pub(super) struct IssueArgs {
    #[command(flatten)]
    shares: ShareArgs,
    #[command(subcommand)]
    what: IssueCmd,
}

#[derive(Subcommand)]
enum IssueCmd {
    /// A docsvc node certificate (serverAuth + clientAuth).
    Node {
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        agency: String,
        #[arg(long, value_enum)]
        accreditation: Level,
        #[arg(long = "dns")]
        dns: Vec<String>,
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        #[arg(long, default_value_t = 90)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
    /// An official's signing certificate.
    Official {
        #[arg(long)]
        name: String,
        #[arg(long)]
        nip: String,
        #[arg(long)]
        agency: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
    /// An application's client certificate.
    Application {
        #[arg(long)]
        name: String,
        #[arg(long)]
        agency: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Args)]
struct OutArgs {
    /// A PKCS#10 request (PEM or DER); without it the key is generated in the CA's keystore.
    #[arg(long)]
    csr: Option<PathBuf>,
    /// The kind of key generated without --csr. For an official, what the handling table's
    /// `signature_algorithm` gives their clearance; P-384 (the default for officials) signs
    /// every level of the shipped table. P-256 for nodes and applications.
    #[arg(long, value_enum, conflicts_with = "csr")]
    key: Option<KeyArg>,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyArg {
    EcdsaP256,
    EcdsaP384,
}

impl From<KeyArg> for KeyKind {
    fn from(k: KeyArg) -> Self {
        match k {
            KeyArg::EcdsaP256 => KeyKind::EcdsaP256,
            KeyArg::EcdsaP384 => KeyKind::EcdsaP384,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Biasa,
    Terbatas,
    Rahasia,
    SangatRahasia,
}

#[derive(Args)]
pub(super) struct BindKeyArgs {
    #[command(flatten)]
    shares: ShareArgs,
    #[arg(long)]
    nip: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    agency: String,
    /// The official's age recipient (age1…).
    #[arg(long)]
    recipient: String,
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Where to write the binding (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub(super) struct VerifyBindingArgs {
    file: PathBuf,
}

#[derive(Args)]
pub(super) struct RotateArgs {
    #[command(flatten)]
    shares: ShareArgs,
    serial: String,
    /// A new PKCS#10 request, for certificates issued from a CSR.
    #[arg(long)]
    csr: Option<PathBuf>,
    /// Where to write the new certificate (PEM).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct RenewArgs {
    #[command(flatten)]
    shares: ShareArgs,
    /// How soon: 30d, 12h, 2w.
    #[arg(long, value_parser = parse_duration)]
    due_within: time::Duration,
}

pub(super) async fn issue(env: &Env, args: &IssueArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    let store = session.online_keys()?;
    let (request, out) = request(&args.what);
    let default = match request {
        issue::Request::Official(_) | issue::Request::Tsa(_) => KeyKind::EcdsaP384,
        issue::Request::Node(_)
        | issue::Request::Application(_)
        | issue::Request::OcspResponder(_) => KeyKind::EcdsaP256,
    };
    let kind = out.key.map_or(default, KeyKind::from);
    let source = key_source(out.csr.as_deref(), kind)?;
    let issued = issue::issue(&env.home, store, &inv, request, source).await?;
    report_issued(&issued, Some(&out.out))
}

/// The library's request for what the command line asked for, and where the result goes.
fn request(what: &IssueCmd) -> (issue::Request, &OutArgs) {
    match what {
        IssueCmd::Node {
            node_id,
            agency,
            accreditation,
            dns,
            ips,
            days,
            out,
        } => {
            let accreditation = match accreditation {
                Level::Biasa => "biasa",
                Level::Terbatas => "terbatas",
                Level::Rahasia => "rahasia",
                Level::SangatRahasia => "sangat_rahasia",
            }
            .to_owned();
            let req = NodeRequest {
                node_id: node_id.clone(),
                agency: agency.clone(),
                accreditation,
                dns: dns.clone(),
                ips: ips.clone(),
                days: *days,
            };
            (issue::Request::Node(req), out)
        }
        IssueCmd::Official {
            name,
            nip,
            agency,
            days,
            out,
        } => {
            let req = OfficialRequest {
                name: name.clone(),
                nip: nip.clone(),
                agency: agency.clone(),
                days: *days,
            };
            (issue::Request::Official(req), out)
        }
        IssueCmd::Application {
            name,
            agency,
            days,
            out,
        } => {
            let req = ApplicationRequest {
                name: name.clone(),
                agency: agency.clone(),
                days: *days,
            };
            (issue::Request::Application(req), out)
        }
    }
}

pub(super) async fn rotate(env: &Env, args: &RotateArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    // A generated key is renewed as the kind it was.
    let old = inv.get(&args.serial).await?;
    let kind = match &old.key_id {
        Some(k) => session.online_keys()?.info(k.parse()?)?.kind,
        None => KeyKind::EcdsaP256,
    };
    let source = key_source(args.csr.as_deref(), kind)?;
    let issued = issue::rotate(
        &env.home,
        session.online_keys()?,
        &inv,
        &args.serial,
        source,
    )
    .await?;
    report_issued(&issued, args.out.as_deref())
}

pub(super) async fn renew(env: &Env, args: &RenewArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    let renewed =
        issue::renew_due(&env.home, session.online_keys()?, &inv, args.due_within).await?;
    for (old, new) in &renewed {
        println!(
            "renewed {old} -> {} (version {}, until {})",
            new.record.serial, new.record.version, new.record.not_after
        );
    }
    println!("{} certificate(s) renewed", renewed.len());
    Ok(())
}

pub(super) fn bind_key(env: &Env, args: &BindKeyArgs) -> anyhow::Result<()> {
    let session = unseal(&env.home, &args.shares)?;
    let b = issue::bind_encryption_key(
        &env.home,
        session.online_keys()?,
        &args.nip,
        &args.name,
        &args.agency,
        &args.recipient,
        args.days,
    )?;
    write_new(&args.out, &serde_json::to_vec_pretty(&b)?)?;
    println!(
        "key binding for NIP {} written to {}",
        args.nip,
        args.out.display()
    );
    Ok(())
}

pub(super) fn verify_binding(env: &Env, args: &VerifyBindingArgs) -> anyhow::Result<()> {
    let b: issue::KeyBinding =
        serde_json::from_slice(&read(&args.file)?).context("not a key binding")?;
    issue::verify_binding(
        &b,
        &env.home.cert_der(Ca::Signing)?,
        &env.home.cert_der(Ca::Root)?,
    )?;
    println!(
        "valid: {} (NIP {}, {}) uses {} until {}",
        b.name, b.nip, b.agency, b.recipient, b.not_after
    );
    Ok(())
}

fn key_source(csr: Option<&Path>, kind: KeyKind) -> anyhow::Result<KeySource> {
    match csr {
        None => Ok(KeySource::Generate(kind)),
        Some(p) => {
            let bytes = read(p)?;
            let text = String::from_utf8_lossy(&bytes);
            Ok(KeySource::Csr(if text.contains("-----BEGIN") {
                keymgr::ca::pem_to_der(&text)
                    .with_context(|| format!("{} is not PEM", p.display()))?
            } else {
                bytes
            }))
        }
    }
}

fn report_issued(issued: &issue::Issued, out: Option<&Path>) -> anyhow::Result<()> {
    let r = &issued.record;
    if let Some(out) = out {
        write_new(out, issued.certificate_pem().as_bytes())?;
    }
    println!(
        "issued {} certificate serial {} version {} for {} (until {}){}",
        r.profile,
        r.serial,
        r.version,
        r.subject,
        r.not_after,
        out.map(|o| format!(", written to {}", o.display()))
            .unwrap_or_default()
    );
    Ok(())
}
