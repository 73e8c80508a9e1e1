//! `docsvc quickstart`: a development node set up (or found) in a data directory and served,
//! with what to try next.

use std::path::PathBuf;

use docsvc::dev::quickstart;
use docsvc::node::Layout;

#[derive(clap::Args)]
pub(super) struct QuickstartArgs {
    #[arg(long, default_value = "sandi-dev")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// Use this database instead of SQLite in the data directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Set up only; do not start the server.
    #[arg(long)]
    no_serve: bool,
    /// Join the dev network of another quickstart node (its data directory): same dev CA
    /// and custodians, so the nodes can talk to each other.
    #[arg(long)]
    join: Option<PathBuf>,
    /// This node's id in the network directory.
    #[arg(long, default_value = "hub")]
    node_id: String,
    /// Only the dev officials of these agencies (comma-separated; all when absent).
    #[arg(long, value_delimiter = ',')]
    agencies: Vec<String>,
    /// The highest classification this node may hold.
    #[arg(long, default_value = "sangat_rahasia")]
    accreditation: String,
    /// Install this policy directory (schema, *.cedar, handling.toml) instead of the shipped
    /// one; the officials' signing keys follow its handling table.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Put the node's signing keys on a PKCS#11 token: a TOML file with `module`,
    /// `token_label` and `pin_file` or `pin_env` (what node.toml's `[keystore.pkcs11]` holds;
    /// never the PIN itself). The token must be initialised (e.g. `softhsm2-util --init-token`).
    #[arg(long, value_name = "FILE")]
    pkcs11_config: Option<PathBuf>,
}

pub(super) async fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let QuickstartArgs {
        data_dir,
        listen,
        database_url,
        no_serve,
        join,
        node_id,
        agencies,
        accreditation,
        policy,
        pkcs11_config,
    } = args;
    let pkcs11 = pkcs11_config
        .as_deref()
        .map(super::init::pkcs11_config)
        .transpose()?;
    let spec = quickstart::DevNode {
        listen: listen.clone(),
        database_url,
        join,
        node_id,
        agencies,
        accreditation: accreditation
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--accreditation {accreditation:?}: {e}"))?,
        policy,
        pkcs11,
    };
    let layout = Layout::new(&data_dir);
    let mut banner = None;
    if layout.config().exists() {
        eprintln!(
            "{} already holds a dev node; starting it",
            data_dir.display()
        );
    } else {
        eprintln!("{}\n", quickstart::WARNING);
        let out = quickstart::setup_node(&data_dir, &spec, &mut |m| {
            eprintln!("• {m}");
        })
        .await?;
        banner = Some(next_steps(&out, &listen));
    }
    if no_serve {
        if let Some(b) = banner {
            println!("{b}");
        }
        return Ok(());
    }
    super::serve::serve(layout, true, None, banner).await
}

fn next_steps(out: &quickstart::Outcome, listen: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "\nOfficials (passwords and PINs are shown once):");
    let _ = writeln!(
        s,
        "  {:<18}  {:<16} {:<12} {:<15} {:<18} {:<8} roles",
        "NIP", "name", "agency", "clearance", "password", "PIN"
    );
    for o in &out.officials {
        let _ = writeln!(
            s,
            "  {:<18}  {:<16} {:<12} {:<15} {:<18} {:<8} {}",
            o.nip,
            o.name,
            o.agency,
            o.clearance.as_str(),
            o.password.as_str(),
            o.pin.as_str(),
            o.roles.join(",")
        );
    }
    let dir = out.layout.dir().display();
    let _ = writeln!(s, "\nNext steps:");
    let _ = writeln!(
        s,
        "  Web UI: https://{listen}/ui/ (log in with a NIP and password above; the browser must\n  trust {dir}/ca/root.pem, the dev root CA, e.g. imported into its certificate settings)"
    );
    let _ = writeln!(
        s,
        "  Write a letter at https://{listen}/ui/compose: its text becomes a PDF signed with your key\n  (PAdES, `pdfsig` checks it), whose QR code leads to https://{listen}/verifikasi"
    );
    let _ = writeln!(s, "  CA=\"{dir}/ca/root.pem\"");
    let _ = writeln!(s, "  curl --cacert \"$CA\" https://{listen}/readyz");
    let _ = writeln!(
        s,
        "  curl --cacert \"$CA\" -c jar -H 'content-type: application/json' \\\n    -d '{{\"nip\":\"NIP\",\"password\":\"PASSWORD\"}}' https://{listen}/api/v1/session"
    );
    let _ = writeln!(s, "  docsvc audit verify --data-dir {dir}");
    s
}
