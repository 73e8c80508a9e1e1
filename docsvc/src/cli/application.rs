//! `docsvc application`: registering an application with its own certificate request, and
//! installing the certificates keymgr issued for it, from the command line (the same service
//! as the admin API and page; the operator opens the keystore with the custodians' shares).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use docsvc::officials::application_admin::{self, By, Certificates, NewApplicationRequest};

use super::unseal::{OfflineUnseal, open_unsealed};

#[derive(Subcommand)]
pub(super) enum ApplicationCommand {
    /// Registers an application with its own certificate request (its TLS key stays with it);
    /// writes the request for the signing key the node makes for it. The application stays
    /// suspended until `docsvc application install`.
    Register {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        /// 1-56 letters, digits and hyphens, not ending in -signing.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        agency: String,
        /// biasa, terbatas, rahasia or sangat_rahasia.
        #[arg(long)]
        clearance: String,
        /// The application's PKCS#10 request (PEM) for its client certificate.
        #[arg(long)]
        csr: PathBuf,
        /// An official it may sign for (under that official's own delegation or PIN); repeat.
        #[arg(long)]
        may_sign_for: Vec<String>,
        /// Where to write the request (PEM) for its signing key, for `keymgr issue application
        /// --csr` (a node without an online CA; standard output when not given).
        #[arg(long)]
        signing_csr_out: Option<PathBuf>,
        /// Where to write the client certificate the online CA issued, with its chain (PEM),
        /// for the application (a node with `[ca]`; standard output when not given).
        #[arg(long)]
        client_cert_out: Option<PathBuf>,
    },
    /// Asks the online CA again for a registered application's certificates (done by itself at
    /// registration on a node with `[ca]`; this is for when the CA was unreachable then).
    Certify {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        #[arg(long)]
        id: String,
        /// Where to write the client certificate with its chain (PEM); standard output when
        /// not given.
        #[arg(long)]
        client_cert_out: Option<PathBuf>,
    },
    /// Installs the two certificates keymgr issued (client, from the application's request;
    /// signing, from the node's); the application becomes active.
    Install {
        #[arg(long, env = "DOCSVC_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        unseal: OfflineUnseal,
        #[arg(long)]
        id: String,
        #[arg(long)]
        client_cert: PathBuf,
        #[arg(long)]
        signing_cert: PathBuf,
    },
}

/// A PEM file an operator names, read only if it is small.
fn read_pem(path: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > 16 * 1024 {
        anyhow::bail!("{}: a PEM file is at most 16 KiB", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub(super) async fn run(command: ApplicationCommand) -> anyhow::Result<()> {
    match command {
        ApplicationCommand::Register {
            data_dir,
            unseal,
            id,
            name,
            agency,
            clearance,
            csr,
            may_sign_for,
            signing_csr_out,
            client_cert_out,
        } => {
            let clearance: policies::Level = clearance
                .parse()
                .map_err(|e: String| anyhow::anyhow!("clearance {clearance:?}: {e}"))?;
            let csr_pem = read_pem(&csr)?;
            let node = open_unsealed(&data_dir, &unseal).await?;
            let r = application_admin::register(
                &node,
                By::Operator,
                None,
                NewApplicationRequest {
                    id,
                    name,
                    agency,
                    clearance,
                    csr_pem,
                    may_sign_for,
                },
            )
            .await?;
            if let Some(pem) = &r.client_certificate_pem {
                println!(
                    "application {} is active: the online CA issued its certificates",
                    r.application.id
                );
                return give(client_cert_out.as_deref(), pem, "its client certificate");
            }
            if let Some(why) = &r.ca_error {
                eprintln!(
                    "the online CA issued nothing ({why}); `docsvc application certify` asks again"
                );
            }
            println!(
                "application {} registered (suspended until its certificates are installed)",
                r.application.id
            );
            give(
                signing_csr_out.as_deref(),
                &r.signing_csr_pem,
                "the request for its signing key",
            )?;
            Ok(())
        }
        ApplicationCommand::Certify {
            data_dir,
            unseal,
            id,
            client_cert_out,
        } => {
            let node = open_unsealed(&data_dir, &unseal).await?;
            let (app, pem) = application_admin::from_ca(&node, By::Operator, None, &id).await?;
            println!(
                "application {} is active: the online CA issued its certificates",
                app.id
            );
            give(client_cert_out.as_deref(), &pem, "its client certificate")
        }
        ApplicationCommand::Install {
            data_dir,
            unseal,
            id,
            client_cert,
            signing_cert,
        } => {
            let certs = Certificates {
                client_certificate_pem: read_pem(&client_cert)?,
                signing_certificate_pem: read_pem(&signing_cert)?,
            };
            let node = open_unsealed(&data_dir, &unseal).await?;
            let app =
                application_admin::install_certificates(&node, By::Operator, None, &id, &certs)
                    .await?;
            println!(
                "application {} is active; its client certificate's SHA-256 is {}",
                app.id, app.certificate_sha256
            );
            Ok(())
        }
    }
}

/// Writes `pem` to `out` (saying where), or prints it.
fn give(out: Option<&Path>, pem: &str, what: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
            println!("{what} is in {}", path.display());
        }
        None => print!("{pem}"),
    }
    Ok(())
}
