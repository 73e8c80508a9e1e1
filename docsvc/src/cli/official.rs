//! `docsvc official`: the directory of officials, from the command line.

use std::path::PathBuf;

use clap::Subcommand;
use docsvc::officials::admin::NewOfficialRequest;
use docsvc::officials::{directory, operator};

use super::unseal::{OfflineUnseal, open_unsealed};

#[derive(Subcommand)]
pub(super) enum OfficialCommand {
    /// Lists officials.
    List {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Sets an official's status (active, suspended, revoked); takes effect on their next request.
    SetStatus {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        nip: String,
        status: String,
    },
    /// Registers an official, active at once (the custodians' quorum that opens the keystore
    /// is the second person): how a node gets its first administrators. Prints a one-time
    /// enrolment code with which the official sets their own password and PIN
    /// (`/ui/enrol`), and writes the request for their signing certificate.
    Register {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        #[arg(long)]
        nip: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        agency: String,
        #[arg(long)]
        position: String,
        /// biasa, terbatas, rahasia or sangat_rahasia.
        #[arg(long)]
        clearance: String,
        /// A role (pejabat, sekretaris, pengelola_sandi, auditor, admin, approver); repeat.
        #[arg(long)]
        role: Vec<String>,
        /// Where to write the request (PEM) for `keymgr issue official --csr`.
        #[arg(long)]
        csr_out: PathBuf,
    },
    /// Resets an official's password and PIN: they stop working at once, sessions end, and a
    /// new one-time enrolment code is printed for the official.
    Reset {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        nip: String,
    },
}

pub(super) async fn run(command: OfficialCommand) -> anyhow::Result<()> {
    match command {
        OfficialCommand::List { data_dir } => {
            let (_, store) = super::store_of(&data_dir).await?;
            for o in directory::list(&store).await? {
                println!(
                    "{}  {:<24} {:<12} {:<15} {:<9} {}",
                    o.nip,
                    o.name,
                    o.agency,
                    o.clearance.as_str(),
                    o.status.as_str(),
                    o.roles.join(",")
                );
            }
            Ok(())
        }
        OfficialCommand::SetStatus {
            data_dir,
            nip,
            status,
        } => {
            let (_, store) = super::store_of(&data_dir).await?;
            let status = directory::parse_status(&status)?;
            if status == policies::Status::Active
                && docsvc::officials::changes::registration_unapproved(&store, &nip).await?
            {
                anyhow::bail!(
                    "{nip}'s registration has no second approval: a second pengelola_sandi approves it"
                );
            }
            directory::set_status(&store, &nip, status).await?;
            println!("{nip} is now {}", status.as_str());
            Ok(())
        }
        OfficialCommand::Register {
            data_dir,
            unseal,
            nip,
            name,
            agency,
            position,
            clearance,
            role,
            csr_out,
        } => {
            let clearance: policies::Level = clearance
                .parse()
                .map_err(|e: String| anyhow::anyhow!("clearance {clearance:?}: {e}"))?;
            let node = open_unsealed(&data_dir, &unseal).await?;
            let (official, csr, code) = operator::register(
                &node,
                NewOfficialRequest {
                    nip,
                    name,
                    agency,
                    position,
                    clearance,
                    roles: role,
                },
            )
            .await?;
            std::fs::write(&csr_out, csr)?;
            println!(
                "{} registered; request for the signing certificate in {}",
                official.nip,
                csr_out.display()
            );
            certify_at_once(&node, &official.nip).await;
            println!(
                "enrolment code (give it to the official only; shown once): {}",
                code.code.as_str()
            );
            println!("valid until {}", code.expires_at);
            Ok(())
        }
        OfficialCommand::Reset {
            data_dir,
            unseal,
            nip,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let code = operator::reset(&node, &nip).await?;
            println!("{nip}: password and PIN reset, sessions ended");
            println!(
                "enrolment code (give it to the official only; shown once): {}",
                code.code.as_str()
            );
            println!("valid until {}", code.expires_at);
            Ok(())
        }
    }
}

/// A node with an online CA asks it for a registered official's certificate and key binding at
/// once; the registration stands if the CA cannot be reached.
async fn certify_at_once(node: &docsvc::node::Node, nip: &str) {
    if node.config.ca.is_none() {
        return;
    }
    match docsvc::officials::certify::from_ca(node, nip).await {
        Ok(()) => {
            println!("{nip}: signing certificate and key binding from the online CA installed");
        }
        Err(e) => eprintln!(
            "{nip}: no certificate from the online CA ({e}); `docsvc certificate official` asks again"
        ),
    }
}
