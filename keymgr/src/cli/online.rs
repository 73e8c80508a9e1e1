//! The online CA's commands besides `serve`: its API certificate (`api-cert`), operators
//! (`operator add`), node invitations (`node invite`), and a custodian's share given to a
//! running `keymgr serve` (`unseal --url`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use keymgr::api::ServerFiles;
use keymgr::ca::{ApiServerRequest, Ca, OperatorRequest};
use keymgr::issue::{self, KeySource, Request};
use keymgr::online::invite::{self, NodeInvite};
use keymgr::shares;

use super::quorum::{ShareArgs, unlock_for, unseal};
use super::{Env, parse_duration, read, write_new};

#[derive(Args)]
pub(super) struct ApiCertArgs {
    #[command(flatten)]
    shares: ShareArgs,
    /// A DNS name clients reach the API by (repeat).
    #[arg(long = "dns")]
    dns: Vec<String>,
    /// An IP address clients reach the API by (repeat).
    #[arg(long = "ip")]
    ips: Vec<std::net::IpAddr>,
    #[arg(long, default_value_t = 365)]
    days: u32,
}

/// `keymgr api-cert`: the API's server certificate from the Network CA, its key written to
/// HOME/api/server.key (0600) so the API can answer while the keystore is sealed.
pub(super) async fn api_cert(env: &Env, args: &ApiCertArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let csr = rcgen::CertificateParams::default().serialize_request(&key)?;
    let issued = issue::issue_or_replace(
        &env.home,
        session.online()?,
        &inv,
        Request::ApiServer(ApiServerRequest {
            dns: args.dns.clone(),
            ips: args.ips.clone(),
            days: args.days,
        }),
        KeySource::Csr(csr.der().to_vec()),
    )
    .await?;
    let files = ServerFiles::of(&env.home);
    let dir = files.key.parent().context("HOME/api")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let pem = zeroize::Zeroizing::new(key.serialize_pem());
    let aside = dir.join(".server.key.new");
    let _ = std::fs::remove_file(&aside);
    {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&aside)
            .with_context(|| format!("creating {}", aside.display()))?;
        f.write_all(pem.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", aside.display()))?;
    }
    let mut chain = issued.certificate_pem();
    chain.push_str(&keymgr::ca::der_to_pem(&env.home.cert_der(Ca::Network)?));
    std::fs::write(&files.certificate, chain)
        .with_context(|| format!("writing {}", files.certificate.display()))?;
    std::fs::rename(&aside, &files.key)
        .with_context(|| format!("writing {}", files.key.display()))?;
    println!(
        "API certificate serial {} (until {}) written to {}",
        issued.record.serial,
        issued.record.not_after,
        files.certificate.display()
    );
    Ok(())
}

#[derive(Subcommand)]
pub(super) enum OperatorCmd {
    /// Issues a named operator's client certificate (for the API's directory approvals).
    Add {
        #[command(flatten)]
        shares: ShareArgs,
        /// The operator's name, as approvals record it.
        name: String,
        /// The operator's PKCS#10 request (PEM or DER): their key stays with them.
        #[arg(long)]
        csr: PathBuf,
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
}

pub(super) async fn operator(env: &Env, cmd: &OperatorCmd) -> anyhow::Result<()> {
    let OperatorCmd::Add {
        shares,
        name,
        csr,
        days,
        out,
    } = cmd;
    let inv = env.inventory().await?;
    let bytes = read(csr)?;
    let text = String::from_utf8_lossy(&bytes);
    let der = if text.contains("-----BEGIN") {
        keymgr::ca::pem_to_der(&text).with_context(|| format!("{} is not PEM", csr.display()))?
    } else {
        bytes
    };
    let checked = issue::parse_csr(&der)?;
    let session = unseal(&env.home, shares)?;
    let issued = issue::issue(
        &env.home,
        session.online()?,
        &inv,
        Request::Operator(OperatorRequest {
            name: name.clone(),
            days: *days,
        }),
        KeySource::Checked(checked),
    )
    .await?;
    write_new(out, issued.certificate_pem().as_bytes())?;
    println!(
        "operator {name}: certificate serial {} written to {}",
        issued.record.serial,
        out.display()
    );
    Ok(())
}

#[derive(Subcommand)]
pub(super) enum NodeCmd {
    /// Makes a one-time enrolment token for a node (printed once; only its hash is kept).
    Invite {
        #[arg(long)]
        node_id: String,
        /// The organisation the node belongs to.
        #[arg(long)]
        organisation: String,
        /// An agency the node serves (repeat; the first is named in its certificate).
        #[arg(long = "agency", required = true)]
        agencies: Vec<String>,
        #[arg(long)]
        accreditation: String,
        #[arg(long = "dns")]
        dns: Vec<String>,
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        /// Validity of the node certificate, in days.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// How long the token may be used: 30m, 24h, 7d (at most 30d).
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        valid: time::Duration,
    },
}

pub(super) async fn node(env: &Env, cmd: &NodeCmd) -> anyhow::Result<()> {
    let NodeCmd::Invite {
        node_id,
        organisation,
        agencies,
        accreditation,
        dns,
        ips,
        days,
        valid,
    } = cmd;
    let inv = env.inventory().await?;
    let node = NodeInvite {
        node_id: node_id.clone(),
        organisation: organisation.clone(),
        agencies: agencies.clone(),
        accreditation: accreditation.clone(),
        dns: dns.clone(),
        ips: ips.clone(),
        days: *days,
    };
    let token = invite::create(&inv, &node, *valid).await?;
    println!("enrolment token for node {node_id} (one use, valid for {valid}):");
    println!("{}", token.expose());
    Ok(())
}

/// Gives each share file's online share to a running `keymgr serve` over HTTPS.
pub(super) async fn unseal_remote(
    env: &Env,
    args: &ShareArgs,
    url: &str,
    root: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let root_der = match root {
        Some(p) => {
            let pem = String::from_utf8(read(p)?).unwrap_or_default();
            keymgr::ca::pem_to_der(&pem)
                .with_context(|| format!("{} holds no PEM certificate", p.display()))?
        }
        None => env
            .home
            .cert_der(Ca::Root)
            .context("give the Root CA certificate with --ca")?,
    };
    if args.shares.is_empty() {
        anyhow::bail!("give the share file with --share");
    }
    for (i, path) in args.shares.iter().enumerate() {
        let bundle = shares::open(path, &unlock_for(args, i, path)?)?;
        let text = bundle.online.to_text();
        let quoted = zeroize::Zeroizing::new(serde_json::to_string(text.as_str())?);
        let body = zeroize::Zeroizing::new(format!("{{\"share\":{}}}", quoted.as_str()));
        let (status, answer) =
            keymgr::api::client::post_json(url, &root_der, "/api/v1/sys/unseal", body.as_bytes())
                .await?;
        if status != 200 {
            anyhow::bail!(
                "the online CA refused the share of {} ({status}): {}",
                bundle.custodian,
                answer["detail"].as_str().unwrap_or("no detail")
            );
        }
        if answer["sealed"] == serde_json::Value::Bool(false) {
            println!("share of {} accepted: unsealed", bundle.custodian);
            break;
        }
        println!(
            "share of {} accepted: {} of {} given; still sealed",
            bundle.custodian, answer["received"], answer["threshold"]
        );
    }
    Ok(())
}
