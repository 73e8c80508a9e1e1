//! Unsealing: `docsvc unseal` gives a running node one custodian's share over HTTPS; offline
//! commands open a node's keystore with the custodians' files themselves.

use std::path::PathBuf;

use anyhow::Context as _;
use docsvc::dev::quickstart;
use docsvc::node::{Layout, Node};

#[derive(clap::Args)]
pub(super) struct UnsealArgs {
    /// The node's base URL, e.g. https://127.0.0.1:8443
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    /// The root CA certificate (PEM) that the node's certificate chains to.
    #[arg(long)]
    ca: PathBuf,
    /// The custodian's share file (age-encrypted).
    #[arg(long)]
    share: PathBuf,
    /// The custodian's age identity file.
    #[arg(long)]
    identity: PathBuf,
}

/// `docsvc unseal`: one custodian's share to a running node over HTTPS.
pub(super) async fn remote(args: &UnsealArgs) -> anyhow::Result<()> {
    let UnsealArgs {
        url,
        ca,
        share,
        identity,
    } = args;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow::anyhow!("--url must be https://HOST:PORT"))?
        .trim_end_matches('/');
    let host = rest
        .rsplit_once(':')
        .map_or(rest, |(h, _)| h)
        .trim_matches(['[', ']']);
    let addr = tokio::net::lookup_host(if rest.contains(':') {
        rest.to_owned()
    } else {
        format!("{rest}:443")
    })
    .await
    .with_context(|| format!("resolving {rest}"))?
    .next()
    .ok_or_else(|| anyhow::anyhow!("{rest} does not resolve"))?;
    let share = quickstart::read_share(share, identity)?;
    let text = share.to_text();
    let quoted = zeroize::Zeroizing::new(serde_json::to_string(text.as_str())?);
    let body = zeroize::Zeroizing::new(format!("{{\"share\":{}}}", quoted.as_str()));
    let tls = docsvc::network::client::tls_config(ca, None)?;
    let mut client = docsvc::network::client::connect_named(addr, host, tls).await?;
    let (status, _, answer) = client
        .call(
            "POST",
            "/api/v1/sys/unseal",
            &[("content-type", "application/json")],
            bytes::Bytes::copy_from_slice(body.as_bytes()),
        )
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    if status != 200 {
        anyhow::bail!(
            "the node refused the share ({status}): {}",
            v["detail"].as_str().unwrap_or("no detail")
        );
    }
    if v["sealed"] == serde_json::Value::Bool(false) {
        println!("unsealed");
    } else {
        println!(
            "share accepted: {} of {} given; the node is still sealed",
            v["provided"], v["threshold"]
        );
    }
    Ok(())
}

/// How an offline command opens the keystore: the custodians' share files with their age
/// identities (`--share A --identity A.key --share B --identity B.key`), or the dev
/// custodians of a quickstart node.
#[derive(clap::Args)]
pub(super) struct OfflineUnseal {
    #[arg(long)]
    share: Vec<PathBuf>,
    #[arg(long)]
    identity: Vec<PathBuf>,
    /// Use the dev custodians' files in the data directory (quickstart nodes only).
    #[arg(long)]
    dev_unseal: bool,
}

/// Opens a node's data directory without serving it and unseals its keystore with the given
/// custodian files.
pub(super) async fn open_unsealed(
    data_dir: &std::path::Path,
    u: &OfflineUnseal,
) -> anyhow::Result<Node> {
    let node = Node::open(Layout::new(data_dir)).await?;
    if u.dev_unseal {
        quickstart::unseal_dev(&node.layout, node.keystore.as_ref())?;
    } else {
        if u.share.len() != u.identity.len() {
            anyhow::bail!("give one --identity for each --share");
        }
        for (share, identity) in u.share.iter().zip(&u.identity) {
            if !node.is_sealed() {
                break;
            }
            let p = node
                .keystore
                .submit_share(quickstart::read_share(share, identity)?)?;
            eprintln!("share accepted: {}/{}", p.provided, p.threshold);
        }
    }
    if node.is_sealed() {
        let p = node.keystore.progress();
        anyhow::bail!(
            "the keystore is still sealed: {} of {} shares given",
            p.provided,
            p.threshold
        );
    }
    node.after_unseal()?;
    Ok(node)
}
