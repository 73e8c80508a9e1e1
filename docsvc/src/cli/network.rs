//! The sandi network from this node: asking a peer who it is, the directory's nodes, and the
//! outbox of deliveries to them.

use std::path::PathBuf;

use clap::Subcommand;
use docsvc::node::{Layout, Node};

use super::unseal::OfflineUnseal;

#[derive(Subcommand)]
pub(super) enum NetworkCommand {
    /// Connects to another node over mutual TLS with this node's certificate and asks who it
    /// is; the peer checks this node against its own directory.
    Ping {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// The peer's id in the network directory.
        peer: String,
    },
    /// Lists the nodes of this node's current network directory.
    Show {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub(super) enum OutboxCommand {
    /// Lists deliveries not yet delivered (`--all`: every one).
    List {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long)]
        all: bool,
    },
    /// Queues a dead or failing delivery again (logged: the keystore is opened to sign the
    /// log head).
    Retry {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        document_id: String,
        node: String,
    },
}

pub(super) async fn run(command: NetworkCommand) -> anyhow::Result<()> {
    match command {
        NetworkCommand::Ping { data_dir, peer } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            // A diagnostic, run on a sealed node: the peer's certificate is checked against
            // the directory's pin, not against keymgr's issuance log (that needs the unsealed
            // node's cosigned checkpoint).
            let (entry, mut client) = docsvc::network::connect_witnessing(&node, &peer).await?;
            let (status, _, body) = client
                .call("GET", "/network/v1/hello", &[], bytes::Bytes::new())
                .await?;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if status != 200 {
                anyhow::bail!(
                    "{} refused this node ({status}): {}",
                    entry.id,
                    v["detail"].as_str().unwrap_or("no detail")
                );
            }
            println!(
                "{} at {} answers: it knows this node as {} (its directory version {})",
                v["node"].as_str().unwrap_or("?"),
                entry.base_url,
                v["peer"].as_str().unwrap_or("?"),
                v["directory_version"]
            );
            Ok(())
        }
        NetworkCommand::Show { data_dir } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            let d = node.network.current(&node.store).await?.ok_or_else(|| {
                anyhow::anyhow!("no valid network/directory.json in {}", data_dir.display())
            })?;
            println!("network directory version {} of {}", d.version, d.issued_at);
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
    }
}

pub(super) async fn outbox(command: OutboxCommand) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { data_dir, all } => {
            let node = Node::open(Layout::new(&data_dir)).await?;
            for q in docsvc::transmit::outbox(&node, all).await? {
                let d = &q.delivery;
                println!(
                    "{}  {:<12} {:<9} attempts {:<3} next {}  {}",
                    q.document_id,
                    d.node,
                    d.state,
                    d.attempts,
                    d.next_attempt_at,
                    d.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        OutboxCommand::Retry {
            data_dir,
            unseal,
            document_id,
            node: peer,
        } => {
            let node = super::unseal::open_unsealed(&data_dir, &unseal).await?;
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            docsvc::transmit::retry(&node, &document_id, &peer, &who).await?;
            println!("delivery of {document_id} to {peer} queued again");
            Ok(())
        }
    }
}
