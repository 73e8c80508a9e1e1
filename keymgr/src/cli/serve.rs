//! `keymgr serve`: the publication service (CA certificates, CRLs, OCSP) and the
//! time-stamping authority (`POST /tsa`) over plain HTTP, on an online keystore unsealed once
//! at start.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use keymgr::publish::{self, Event, Options, Publisher, StatsSnapshot};

use super::quorum::{ShareArgs, unseal};
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

pub(super) async fn serve(env: &Env, args: &ServeArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    // A home whose online keys are on a PKCS#11 token opens with its PIN; else the shares.
    let store: Arc<dyn hsm_shim::KeyStore> = match env.home.open_online()? {
        Some(token) => {
            println!("online CA keys on the PKCS#11 token: opened with its PIN");
            token
        }
        None => Arc::new(unseal(&env.home, &args.shares)?.into_online()?),
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
    let tsa = keymgr::tsa::Service::prepare(&env.home, Arc::clone(&store) as _, &inv).await?;
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
