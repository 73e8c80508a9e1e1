//! `docsvc serve`: a node served over HTTPS, with its background tasks (certificate and
//! policy reload on SIGHUP, the sweep of abandoned uploads, the delivery worker).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use docsvc::dev::quickstart;
use docsvc::http::api;
use docsvc::node::{Layout, Node};

#[derive(clap::Args)]
pub(super) struct ServeArgs {
    #[arg(long, env = "DOCSVC_DATA_DIR")]
    data_dir: PathBuf,
    /// Unseal with the dev custodians' files in the data directory (quickstart nodes only).
    #[arg(long)]
    dev_unseal: bool,
    /// Listen here instead of node.toml's `listen`: another process of the same node
    /// (same data directory, one shared PostgreSQL database).
    #[arg(long)]
    listen: Option<String>,
}

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let layout = Layout::new(args.data_dir);
    if args.dev_unseal {
        // Before anything is opened or listened on: a production node never takes the
        // development shortcut.
        quickstart::refuse_production(&layout)?;
    }
    serve(layout, args.dev_unseal, args.listen, None).await
}

pub(super) async fn serve(
    layout: Layout,
    dev_unseal: bool,
    listen: Option<String>,
    banner: Option<String>,
) -> anyhow::Result<()> {
    let mut node = Node::open(layout.clone()).await?;
    if let Some(l) = listen {
        node.config.listen = l;
    }
    let node = Arc::new(node);
    let (cert, tls) = node.tls_config()?;
    docsvc::network::ca::spawn_renewal(Arc::clone(&node), Arc::clone(&cert));
    docsvc::network::ca::spawn_directory_refresh(Arc::clone(&node));
    docsvc::network::witness::spawn(Arc::clone(&node));
    if node.config.witness.issuance_log.is_none() && node.config.ca.is_some() {
        // A production node takes no certificate without keymgr's inclusion proof: the two
        // lines missing from node.toml is refused, not a quieter node.
        anyhow::ensure!(
            !node.config.production,
            "node.toml: a production node enrolled with the online CA ([ca]) follows keymgr's \
             issuance log; set [witness] issuance_log (keymgr's publication URL) and \
             issuance_log_key (keymgr's HOME/log/note.vkey)"
        );
        tracing::warn!(
            "[witness] issuance_log is not set: certificates are taken without keymgr's \
             inclusion proof (set it to keymgr's publication URL and pin HOME/log/note.vkey)"
        );
    }
    let listener = tokio::net::TcpListener::bind(&node.config.listen)
        .await
        .with_context(|| format!("listening on {}", node.config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, sealed = node.is_sealed(), "docsvc listening");
    #[cfg(unix)]
    reload_on_hangup(Arc::clone(&node), cert);
    // Abandoned uploads (a client gone mid-upload, a crash) and stale spool files: swept at
    // start and then regularly.
    {
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let minutes = node.config.abandoned_upload_minutes.max(0);
            let every = std::time::Duration::from_secs(
                u64::try_from(minutes.clamp(1, 10) * 60).unwrap_or(600),
            );
            loop {
                match docsvc::letters::documents::sweep_abandoned(&node, minutes).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(chunks = n, "abandoned uploads swept"),
                    Err(e) => tracing::error!("sweeping abandoned uploads: {e}"),
                }
                // And what deliveries cut short by a crash left in the spool.
                let layout = node.layout.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    docsvc::transmit::receive::remove_stale_files(&layout);
                })
                .await;
                tokio::time::sleep(every).await;
            }
        });
    }
    dev_tsa(&node).await?;
    if dev_unseal {
        let n = quickstart::unseal_dev(&node.layout, node.keystore.as_ref())?;
        node.after_unseal()?;
        // Through the log (JSON lines when asked), never beside it.
        tracing::warn!("{}", quickstart::WARNING);
        tracing::warn!("unsealed with {n} dev custodian shares");
    }
    docsvc::transmit::spawn_worker(Arc::clone(&node));
    docsvc::node::distribution::spawn(Arc::clone(&node));
    if let Some(publish) = node.config.pki.publish_listen.clone() {
        let listener = tokio::net::TcpListener::bind(&publish)
            .await
            .with_context(|| format!("listening on {publish} ([pki] publish_listen)"))?;
        let at = listener.local_addr()?;
        let router = docsvc::http::publication::router(Arc::clone(&node));
        tokio::spawn(docsvc::http::server::serve_plain(
            listener,
            router,
            Arc::clone(&node),
        ));
        println!("CA certificates and CRLs at http://{at}/ca/ and http://{at}/crl/");
    }
    if let Some(b) = banner {
        println!("{b}");
    }
    println!(
        "docsvc listening on https://{addr} ({})",
        if node.is_sealed() {
            "sealed"
        } else {
            "unsealed"
        }
    );
    let app = api::router(Arc::clone(&node));
    docsvc::http::server::serve(listener, tls, app, node, shutdown_signal()).await?;
    Ok(())
}

/// SIGHUP: picks up a renewed node certificate and the policy without a restart.
#[cfg(unix)]
fn reload_on_hangup(node: Arc<Node>, cert: Arc<docsvc::crypto::tls::NodeCert>) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match docsvc::node::read_pem_certs(&node.layout.tls_chain()).and_then(|chain| {
                let handle =
                    hsm_shim::KeyStore::info(node.tls_keystore.as_ref(), node.keys.get().tls)?
                        .handle();
                cert.replace(
                    chain,
                    Arc::clone(&node.tls_keystore) as Arc<dyn hsm_shim::KeyStore>,
                    handle,
                );
                Ok(())
            }) {
                Ok(()) => tracing::info!("node certificate reloaded"),
                Err(e) => tracing::error!("node certificate not reloaded: {e}"),
            }
            match node.policy.reload(&node.config.policy_dir) {
                Ok(p) => {
                    node.store.integrity().set_policy_version(p.version());
                    tracing::info!(version = p.version(), "policy reloaded");
                }
                Err(e) => tracing::error!("policy not reloaded, the old one stays: {e}"),
            }
        }
    });
}

/// A quickstart node's signatures are time-stamped by its dev CA's TSA, served in this
/// process. Without it the node still serves; its signatures fail closed until a TSA answers.
async fn dev_tsa(node: &Node) -> anyhow::Result<()> {
    match docsvc::dev::tsa::serve_for(node).await {
        Ok(Some(url)) => {
            // Written where an operator looks for it; this process uses it already.
            let mut config = docsvc::node::Config::load(&node.layout)?;
            config.pki.tsa_url = Some(url.clone());
            config.save(&node.layout)?;
            tracing::warn!(
                "DEVELOPMENT time-stamping authority (the dev CA's, in this process): {url}"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::error!("the development TSA did not start: {e}"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing open requests");
}
