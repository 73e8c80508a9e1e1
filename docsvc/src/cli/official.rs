//! `docsvc official`: the directory of officials, from the command line.

use std::path::PathBuf;

use clap::Subcommand;
use docsvc::officials::directory;

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
    }
}
