//! `docsvc audit`: verifying the access log and exporting it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use docsvc::audit;
use docsvc::node::Layout;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Recomputes the whole log, checks every signed head; names the first bad entry.
    Verify {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// Also compare the log with the checkpoints of it that the peers cosigned (asked over
        /// the network): fails if a peer witnessed a log this one no longer is, or if no peer
        /// could vouch for it.
        #[arg(long)]
        peers: bool,
    },
    /// Writes the log as JSON lines (one entry each, with its sequence number and leaf hash),
    /// for a SIEM.
    Export {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// Only entries from this sequence number, or at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
}

pub(super) async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data_dir, peers } => {
            let (layout, store) = super::store_of(&data_dir).await?;
            let spki = audit_spki(&layout)?;
            match audit::verify(&store, &spki, Some(&layout.heads())).await {
                Ok(r) if peers => {
                    println!(
                        "access log verified: {} entries; asking the peers",
                        r.entries
                    );
                    against_peers(layout, &store).await
                }
                Ok(r) => {
                    println!(
                        "access log verified: {} entries, {} signed heads, {} published heads; root {}",
                        r.entries, r.heads_checked, r.file_heads_checked, r.root
                    );
                    if r.uncommitted_heads > 0 {
                        println!(
                            "{} heads in the heads file never committed (a crash or a failed commit)",
                            r.uncommitted_heads
                        );
                    }
                    Ok(())
                }
                Err(e) => anyhow::bail!("access log does NOT verify: {e}"),
            }
        }
        AuditCommand::Export { data_dir, since } => {
            let (_, store) = super::store_of(&data_dir).await?;
            let since = match since.as_deref() {
                None => audit::Since::Start,
                Some(s) => match s.parse::<u64>() {
                    Ok(seq) => audit::Since::Seq(seq),
                    Err(_) => audit::Since::Time(docsvc::parse_time(s).with_context(|| {
                        format!("--since {s:?}: a sequence number or an RFC 3339 time")
                    })?),
                },
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let n = audit::export(&store, since, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            eprintln!("{n} entries written");
            Ok(())
        }
    }
}

/// The audit key's public key, published beside the log by the running node.
fn audit_spki(layout: &Layout) -> anyhow::Result<Vec<u8>> {
    let path = layout.dir().join("audit-key.der");
    std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (written when the node first unseals)",
            path.display()
        )
    })
}

/// The log against what the peers cosigned of it: every answer printed; a contradiction, or no
/// peer vouching at all, fails.
async fn against_peers(layout: Layout, store: &docsvc::store::Store) -> anyhow::Result<()> {
    let node = docsvc::node::Node::open(layout).await?;
    let held = docsvc::network::held::held_by_peers(&node).await?;
    let sizes: Vec<u64> = held
        .iter()
        .filter_map(|h| h.cosigned.as_ref().ok().map(|(n, _)| *n))
        .collect();
    let mut roots = audit::verify::roots_at(store, &sizes).await?.into_iter();
    let (mut vouched, mut contradicted) = (0, 0);
    for h in &held {
        match &h.cosigned {
            Err(why) if h.bad => {
                contradicted += 1;
                println!("  {}: does not verify ({why})", h.peer);
            }
            Err(why) => println!("  {}: no word ({why})", h.peer),
            Ok((size, root)) => match roots.next().flatten() {
                Some(ours) if ours == *root => {
                    vouched += 1;
                    println!("  {}: cosigned {size} entries: the same log", h.peer);
                }
                Some(_) => {
                    contradicted += 1;
                    println!(
                        "  {}: cosigned {size} entries with another root: this log was rewritten",
                        h.peer
                    );
                }
                None => {
                    contradicted += 1;
                    println!(
                        "  {}: cosigned {size} entries, more than this log holds: it was cut back",
                        h.peer
                    );
                }
            },
        }
    }
    if contradicted > 0 {
        anyhow::bail!("access log does NOT verify: {contradicted} peer(s) witnessed another log");
    }
    if vouched == 0 {
        anyhow::bail!(
            "no peer vouched for this access log (none could be asked, or none holds it)"
        );
    }
    println!("access log verified against {vouched} peer(s)");
    Ok(())
}
