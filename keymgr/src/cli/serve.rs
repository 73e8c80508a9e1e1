//! `keymgr serve`: the online CA. The publication service (CA certificates, CRLs, OCSP) and
//! the time-stamping authority (`POST /tsa`) over plain HTTP, and with `--api-listen` the
//! HTTPS API (see [`keymgr::api`]). Only the online keystore is opened, never the root's; it
//! is unsealed once per start, by share files given here or by custodians over the API (it
//! starts sealed when no share file is given, and the API answers status and unsealing).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use keymgr::online::OnlineCa;
use keymgr::publish::{self, Event, Options, Publisher, StatsSnapshot};

use super::quorum::{ShareArgs, unlock_for};
use super::{Env, parse_duration};

#[derive(Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    shares: ShareArgs,
    /// Address to listen on (plain HTTP: CRLs, CA certificates and OCSP are signed objects).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// nextUpdate of the CRLs this service signs; each is re-signed when half of it has
    /// passed (or at once after a revocation). A newer CRL written by `keymgr crl` is served.
    #[arg(long, value_parser = parse_duration, default_value = "7d")]
    crl_validity: time::Duration,
    /// nextUpdate of OCSP answers; an answer kept for requests without a nonce is re-signed
    /// when half of it has passed, or at once when the inventory changes.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    ocsp_validity: time::Duration,
    /// How often the inventory and HOME/crl/ are looked at for changes.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    refresh: time::Duration,
    /// Requests larger than this many bytes are refused before they are read.
    #[arg(long, default_value_t = 8 * 1024)]
    max_request_bytes: usize,
    /// Address of the HTTPS API (mutual TLS; its certificate from `keymgr api-cert`).
    #[arg(long)]
    api_listen: Option<SocketAddr>,
    /// The handling table whose signature algorithms set officials' key strengths (default:
    /// the shipped policy's handling.toml).
    #[arg(long)]
    handling: Option<std::path::PathBuf>,
    /// Serve although HOME holds the root keystore (a development or test home). In
    /// production the root keystore lives on its own media (`--root-home`) and never on the
    /// online CA's machine.
    #[arg(long)]
    dev_home: bool,
}

fn say(event: &Event) {
    match event {
        Event::ResponderIssued { ca, serial } => {
            println!(
                "OCSP responder certificate of the {} issued: serial {serial}",
                ca.name()
            );
        }
        Event::CrlSigned { ca, number } => println!("CRL {number} of the {} signed", ca.name()),
        Event::CrlLoaded { ca, number } => {
            println!(
                "CRL {number} of the {} found in HOME/crl/: served",
                ca.name()
            );
        }
        Event::InventoryChanged {
            certificates,
            revoked,
        } => println!(
            "inventory changed ({certificates} certificates, {revoked} revoked): OCSP answers renewed"
        ),
        Event::Failed(why) => eprintln!("keymgr serve: {why}"),
        other => println!("{other:?}"),
    }
}

fn handling(path: Option<&std::path::Path>) -> anyhow::Result<policies::HandlingTable> {
    if let Some(p) = path {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok(policies::HandlingTable::parse(p, &text)?);
    }
    let (name, text) = policies::DEFAULT_FILES
        .iter()
        .find(|(n, _)| *n == "handling.toml")
        .context("the shipped handling table")?;
    Ok(policies::HandlingTable::parse(
        std::path::Path::new(name),
        text,
    )?)
}

pub(super) async fn serve(env: &Env, args: &ServeArgs) -> anyhow::Result<()> {
    if env.home.holds_root_keystore() && !args.dev_home {
        anyhow::bail!(
            "{} holds the root keystore: move it to its own removable media (root ceremonies \
             take it with --root-home), or give --dev-home for a development home",
            env.home.dir().display()
        );
    }
    let inv = env.inventory().await?;
    let ca = Arc::new(OnlineCa::open(
        env.home.clone(),
        inv.clone(),
        handling(args.handling.as_deref())?,
    )?);
    if ca.on_token() {
        println!("online CA keys on the PKCS#11 token: opened with its PIN");
    }
    for (i, path) in args.shares.shares.iter().enumerate() {
        let bundle = keymgr::shares::open(path, &unlock_for(&args.shares, i, path)?)?;
        let s = ca.submit_bundle(&bundle)?;
        println!(
            "share of {} accepted: {}",
            bundle.custodian,
            if s.sealed { "still sealed" } else { "unsealed" }
        );
    }
    let api = match args.api_listen {
        Some(listen) => {
            let running =
                keymgr::api::start(&env.home, listen, keymgr::api::routes(Arc::clone(&ca))).await?;
            println!("API listening on https://{}", running.local_addr());
            Some(running)
        }
        None => None,
    };
    if ca.status().sealed {
        let s = ca.status();
        if api.is_none() {
            anyhow::bail!(
                "quorum not met: {} of {} shares given; give the custodians' --share files, or \
                 --api-listen so that they give their shares over the API",
                s.received,
                s.threshold
            );
        }
        println!(
            "sealed: waiting for the custodians' shares over the API ({} of {})",
            s.received, s.threshold
        );
    }
    let store = tokio::select! {
        store = ca.unsealed() => store,
        r = stopped() => {
            r?;
            if let Some(api) = api {
                api.stop().await;
            }
            println!("stopped while sealed");
            return Ok(());
        }
    };
    let opts = Options {
        listen: args.listen,
        crl_validity: args.crl_validity,
        ocsp_validity: args.ocsp_validity,
        refresh: std::time::Duration::try_from(args.refresh)
            .context("--refresh must be positive")?,
        max_request_bytes: args.max_request_bytes.max(512),
        ..Options::default()
    };
    let tsa = keymgr::tsa::Service::prepare(&env.home, Arc::clone(&store), &inv).await?;
    println!(
        "time-stamping authority at POST /tsa: certificate {}, policy {}",
        keymgr::tsa::certificate_path(&env.home).display(),
        tsa.responder().policy()
    );
    let publisher =
        Publisher::prepare(env.home.clone(), store, inv, opts, &mut |e| say(&e)).await?;
    let renewals = renew_tsa(&env.home, &tsa, publisher.inventory().clone());
    let running = publish::start(publisher, tsa.routes(), |e| say(&e)).await?;
    println!("listening on http://{}", running.local_addr());
    stopped().await?;
    let stats = running.publisher().stats();
    renewals.abort();
    if let Some(api) = api {
        api.stop().await;
    }
    running.stop().await?;
    print_stats(&stats);
    Ok(())
}

/// Renews the TSA certificate when it comes within `tsa::RENEW_WITHIN` of its end, looked at
/// every hour while serving.
fn renew_tsa(
    home: &keymgr::ca::Home,
    tsa: &Arc<keymgr::tsa::Service>,
    inv: keymgr::inventory::Inventory,
) -> tokio::task::JoinHandle<()> {
    let (home, tsa) = (home.clone(), Arc::clone(tsa));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        tick.tick().await;
        loop {
            tick.tick().await;
            match tsa.maintain(&home, &inv).await {
                Ok(Some(serial)) => println!("TSA certificate renewed: serial {serial}"),
                Ok(None) => {}
                Err(e) => eprintln!("keymgr serve: renewing the TSA certificate: {e}"),
            }
        }
    })
}

/// Until Ctrl-C or SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn print_stats(s: &StatsSnapshot) {
    println!(
        "stopped after {} requests: {} CA certificates, {} CRLs, {} OCSP ({} kept, {} signed, {} refused), {} too large, {} timed out, {} not found",
        s.requests,
        s.ca_certificates,
        s.crls,
        s.ocsp,
        s.ocsp_cached,
        s.ocsp_signed,
        s.ocsp_refused,
        s.too_large,
        s.timed_out,
        s.not_found
    );
}
