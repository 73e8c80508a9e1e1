//! The development TSA: keymgr's time-stamping authority for a quickstart node's dev CA,
//! opened with the dev custodians' shares and served in this process over plain HTTP on
//! loopback, so that a dev node's signatures get time-stamps without a `keymgr serve` beside
//! it. A production node points `[pki] tsa_url` at the network's `keymgr serve` instead.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use keymgr::inventory::Inventory;
use keymgr::tsa;

use crate::dev::quickstart::{self, WARNING};
use crate::node::{Layout, Node};
use crate::{Error, Result};

/// Where a joined dev node writes the data directory of the node whose dev CA it shares.
pub fn hub_file(layout: &Layout) -> PathBuf {
    layout.shares().join("dev-ca-hub")
}

/// The data directory holding the dev CA this node belongs to: its own, or the one it joined.
fn hub(layout: &Layout) -> Result<Layout> {
    if layout.dir().join("keymgr").exists() {
        return Ok(layout.clone());
    }
    let file = hub_file(layout);
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("reading", &file, e))?;
    Ok(Layout::new(text.trim()))
}

/// Starts the dev TSA for `layout`'s dev CA on 127.0.0.1 and returns its URL: keymgr's own
/// `POST /tsa` ([`keymgr::tsa::Service`]), on the dev CA's online keystore opened with the dev
/// custodians' shares, its certificate issued when missing or due.
pub async fn start(layout: &Layout) -> Result<String> {
    let (home, quorum) = quickstart::dev_quorum(&hub(layout)?)?;
    let store: Arc<dyn hsm_shim::KeyStore> = Arc::new(quorum.into_online()?);
    let inv = Inventory::open(&Inventory::default_url(home.dir())).await?;
    let service = tsa::Service::prepare(&home, store, &inv).await?;
    inv.close().await;
    let app = service
        .routes()
        .layer(DefaultBodyLimit::max(tsa::MAX_REQUEST_BYTES));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::io("listening on", "127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("listening on", "127.0.0.1:0", e))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the development TSA stopped: {e}");
        }
    });
    Ok(format!("http://{addr}/tsa"))
}

/// Whether `layout` is a quickstart node with a dev CA of its own (and the dev custodians'
/// shares that open it: a restored backup holds the CA's files but never the shares) or one
/// it joined.
pub fn has_dev_ca(layout: &Layout) -> bool {
    (layout.dir().join("keymgr").exists() && layout.shares().join("keymgr").exists())
        || hub_file(layout).exists()
}

/// For a quickstart node: starts the dev TSA and points the node's signatures at it (however
/// the node itself is unsealed). Says loudly that it is for development. `None` for any other
/// node, which keeps `[pki] tsa_url`.
pub async fn serve_for(node: &Node) -> Result<Option<String>> {
    if !has_dev_ca(&node.layout) {
        return Ok(None);
    }
    let url = start(&node.layout).await?;
    node.tsa.set_url(url.clone());
    tracing::warn!(%url, "DEVELOPMENT time-stamping authority (the dev CA's) — {WARNING}");
    Ok(Some(url))
}

/// A quickstart node opened for development: unsealed with the dev custodians' files, its
/// signatures time-stamped by the dev TSA started here.
pub async fn open_dev(node: &Node) -> Result<()> {
    quickstart::unseal_dev(&node.layout, node.keystore.as_ref())?;
    node.after_unseal()?;
    serve_for(node).await?;
    Ok(())
}
