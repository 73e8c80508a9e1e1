//! `docsvc certificate`: the node's own certificate from the online CA (enrol, renew) or
//! installed from files keymgr issued, each checked before it replaces anything.

use std::path::{Path, PathBuf};

use docsvc::network::ca;
use docsvc::node::Layout;
use docsvc::node::ca::{CaCerts, Issued, install_node_certificate};

#[derive(clap::Subcommand)]
pub(super) enum CertificateCommand {
    /// Enrols the node's certificate with the online CA ([ca] in node.toml) using a one-time
    /// token (`keymgr node invite`).
    Enrol {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, env = "DOCSVC_CA_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Renews the node's certificate now (a serving node also does it by itself).
    Renew {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Asks the online CA again for an approved official's signing certificate and key
    /// binding (done by itself at approval; this is for when the CA was unreachable then).
    Official {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long)]
        nip: String,
        #[command(flatten)]
        unseal: super::unseal::OfflineUnseal,
    },
    /// Installs a node certificate keymgr issued for this node's request (tls/node.csr), with
    /// the CA certificates: checked against the node's key, its id, and the pinned root.
    Install {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        /// The node certificate (PEM; a chain may follow it).
        #[arg(long)]
        certificate: PathBuf,
        /// The Root, Network CA and Signing CA certificates (PEM).
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        network_ca: PathBuf,
        #[arg(long)]
        signing_ca: PathBuf,
    },
}

fn first_cert(path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(docsvc::node::read_pem_certs(path)?.remove(0))
}

pub(super) async fn run(command: CertificateCommand) -> anyhow::Result<()> {
    match command {
        CertificateCommand::Enrol { data_dir, token } => {
            enrol(&Layout::new(data_dir), &token).await
        }
        CertificateCommand::Renew { data_dir } => {
            let issued = ca::renew(&Layout::new(&data_dir)).await?;
            println!("node certificate renewed ({})", summary(&issued));
            Ok(())
        }
        CertificateCommand::Official {
            data_dir,
            nip,
            unseal,
        } => {
            let node = super::unseal::open_unsealed(&data_dir, &unseal).await?;
            docsvc::officials::certify::from_ca(&node, &nip).await?;
            println!("official {nip}: certificate and key binding installed");
            Ok(())
        }
        CertificateCommand::Install {
            data_dir,
            certificate,
            root,
            network_ca,
            signing_ca,
        } => {
            let layout = Layout::new(data_dir);
            let cas = CaCerts {
                root: first_cert(&root)?,
                network: first_cert(&network_ca)?,
                signing: first_cert(&signing_ca)?,
            };
            let issued = Issued {
                certificate: first_cert(&certificate)?,
                chain: vec![cas.network.clone(), cas.root.clone()],
            };
            install_node_certificate(&layout, &issued, &cas)?;
            println!("node certificate installed ({})", summary(&issued));
            Ok(())
        }
    }
}

/// `docsvc certificate enrol`, also run by `docsvc init --ca-token`.
pub(super) async fn enrol(layout: &Layout, token: &str) -> anyhow::Result<()> {
    let issued = ca::enrol(layout, token).await?;
    println!("node certificate enrolled ({})", summary(&issued));
    Ok(())
}

fn summary(issued: &Issued) -> String {
    x509_parser::parse_x509_certificate(&issued.certificate).map_or_else(
        |_| "unreadable".into(),
        |(_, c)| {
            format!(
                "serial {}, valid until {}",
                c.raw_serial_as_string(),
                c.validity().not_after
            )
        },
    )
}
