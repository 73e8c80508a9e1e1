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
        AuditCommand::Verify { data_dir } => {
            let (layout, store) = super::store_of(&data_dir).await?;
            let spki = audit_spki(&layout)?;
            match audit::verify(&store, &spki, Some(&layout.heads())).await {
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
