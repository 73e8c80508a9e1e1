//! `docsvc init` (a production node made in a key ceremony) and `docsvc reshare` (custodian
//! turnover).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use docsvc::node::Layout;
use docsvc::node::ceremony::{self, Custodian, InitPlan, ResharePlan};

#[derive(clap::Args)]
pub(super) struct InitArgs {
    /// The new node's data directory (absent or empty).
    #[arg(long, env = "DOCSVC_DATA_DIR")]
    data_dir: PathBuf,
    /// Where the custodians' share files and a copy of the transcript go: outside the data
    /// directory (removable media handed to the custodians).
    #[arg(long)]
    shares_out: PathBuf,
    /// This node's id in the sandi network.
    #[arg(long)]
    node_id: String,
    #[arg(long)]
    organisation: String,
    /// The agencies this node serves (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required = true)]
    agencies: Vec<String>,
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: String,
    /// `sqlite://docsvc.db?mode=rwc` (under the data directory) or `postgres://…`.
    #[arg(long, default_value = "sqlite://docsvc.db?mode=rwc")]
    database_url: String,
    /// Install this policy directory instead of the shipped one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The organisation's OID arc, from keymgr's init ceremony.
    #[arg(long)]
    oid_arc: Option<String>,
    /// Who runs the ceremony.
    #[arg(long)]
    administrator: String,
    /// A key custodian and their age recipient: "Name=age1…" (repeat for each).
    #[arg(long = "custodian", required = true)]
    custodians: Vec<String>,
    /// A witness (repeat for each).
    #[arg(long = "witness", required = true)]
    witnesses: Vec<String>,
    /// How many custodians together unseal the node.
    #[arg(long)]
    threshold: u8,
    /// The online CA's API (https://HOST:PORT), written to node.toml's [ca].
    #[arg(long, requires = "ca_root_sha256")]
    ca_url: Option<String>,
    /// Hex SHA-256 of the Root CA certificate (DER), as read out at the root ceremony.
    #[arg(long, requires = "ca_url")]
    ca_root_sha256: Option<String>,
    /// keymgr's plain-HTTP publication URL (http://HOST:PORT), where the CA certificates are
    /// fetched (and checked against --ca-root-sha256) at enrolment.
    #[arg(long, requires = "ca_url")]
    ca_publication_url: Option<String>,
    /// keymgr's issuance log verifier key (the one line of HOME/log/note.vkey on keymgr's
    /// machine, read out like the root's fingerprint): required with --ca-url. The node then
    /// takes no certificate outside keymgr's log.
    #[arg(long, requires = "ca_publication_url")]
    issuance_log_key: Option<String>,
    /// A one-time enrolment token (`keymgr node invite`): the node's certificate is enrolled
    /// at once. Prefer the environment variable: a flag stays in `ps` and shell history.
    #[arg(
        long,
        requires = "ca_url",
        env = "DOCSVC_CA_TOKEN",
        hide_env_values = true
    )]
    ca_token: Option<String>,
    /// Keep the node's signing keys (audit, officials', applications') on a PKCS#11 token: a
    /// TOML file with `module`, `token_label` and `pin_file` or `pin_env`, as for `docsvc
    /// quickstart` (written to node.toml's `[keystore.pkcs11]`; never the PIN itself). The
    /// token is logged in to before anything is written.
    #[arg(long, value_name = "FILE")]
    pkcs11_config: Option<PathBuf>,
    #[command(flatten)]
    minutes: super::ceremony::MinutesArgs,
}

/// A `--pkcs11-config` file: `[keystore.pkcs11]`'s settings, checked.
pub(super) fn pkcs11_config(path: &Path) -> anyhow::Result<hsm_shim::Pkcs11Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --pkcs11-config {}", path.display()))?;
    let settings: hsm_shim::Pkcs11Settings =
        toml::from_str(&text).with_context(|| format!("--pkcs11-config {}", path.display()))?;
    settings
        .validate()
        .with_context(|| format!("--pkcs11-config {}", path.display()))?;
    Ok(settings)
}

fn custodians(given: &[String]) -> anyhow::Result<Vec<Custodian>> {
    given
        .iter()
        .map(|c| c.parse().map_err(anyhow::Error::from))
        .collect()
}

pub(super) async fn init(args: InitArgs) -> anyhow::Result<()> {
    let ca = match (&args.ca_url, &args.ca_root_sha256) {
        (Some(url), Some(pin)) => Some(docsvc::node::ca::CaConfig::new(
            url,
            pin,
            args.ca_publication_url.as_deref(),
        )?),
        _ => None,
    };
    let plan = InitPlan {
        node_id: args.node_id,
        organisation: args.organisation,
        agencies: args.agencies,
        listen: args.listen,
        database_url: args.database_url,
        policy: args.policy,
        oid_arc: args.oid_arc,
        administrator: args.administrator,
        custodians: custodians(&args.custodians)?,
        witnesses: args.witnesses,
        threshold: args.threshold,
        shares_out: args.shares_out,
        ca,
        issuance_log_key: args.issuance_log_key,
        pkcs11: args
            .pkcs11_config
            .as_deref()
            .map(pkcs11_config)
            .transpose()?,
        minutes: args.minutes.minutes()?,
    };
    let out = ceremony::init(&args.data_dir, &plan, &mut |m| eprintln!("• {m}")).await?;
    println!(
        "node {} made in {}",
        plan.node_id,
        out.layout.dir().display()
    );
    println!("the keystore is SEALED; hand each custodian their share file:");
    for (c, f) in plan.custodians.iter().zip(&out.share_files) {
        println!("  {}: {}", c.name, f.display());
    }
    println!("transcript: {}", out.transcript.display());
    println!(
        "  (a copy beside the shares: {})",
        out.transcript_copy.display()
    );
    println!("certificate request: {}", out.csr.display());
    if let Some(p11) = &plan.pkcs11 {
        println!(
            "signing keys on PKCS#11 token {}; X25519 and wrapping keys in the sealed software keystore",
            p11.token_label
        );
    }
    if !plan.minutes.signing_keys.is_empty() {
        println!(
            "next: each person countersigns the transcript (ssh-keygen -Y sign -n {} -f KEY \
             TRANSCRIPT; docsvc ceremony countersign), then docsvc ceremony verify-transcript",
            keymgr::countersign::NAMESPACE
        );
    }
    if let Some(token) = args.ca_token {
        super::ca::enrol(&out.layout, &token).await?;
    } else {
        println!(
            "next: have the Network CA issue the node certificate (docsvc certificate enrol, or \
             keymgr issue node --csr {}) and install it",
            out.csr.display()
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub(super) struct ReshareArgs {
    #[arg(long, env = "DOCSVC_DATA_DIR")]
    data_dir: PathBuf,
    /// A current custodian's share file (repeat, with one --identity each).
    #[arg(long = "share", required = true)]
    shares: Vec<PathBuf>,
    /// That custodian's age identity file.
    #[arg(long = "identity", required = true)]
    identities: Vec<PathBuf>,
    /// Where the new share files go: outside the data directory.
    #[arg(long)]
    shares_out: PathBuf,
    #[arg(long)]
    administrator: String,
    /// A new custodian: "Name=age1…" (repeat for each).
    #[arg(long = "custodian", required = true)]
    custodians: Vec<String>,
    #[arg(long = "witness", required = true)]
    witnesses: Vec<String>,
    #[arg(long)]
    threshold: u8,
    #[command(flatten)]
    minutes: super::ceremony::MinutesArgs,
}

pub(super) fn reshare(args: &ReshareArgs) -> anyhow::Result<()> {
    if args.shares.len() != args.identities.len() {
        anyhow::bail!("give one --identity for each --share");
    }
    let shares = args
        .shares
        .iter()
        .zip(&args.identities)
        .map(|(s, i)| ceremony::read_share(s, i))
        .collect::<docsvc::Result<Vec<_>>>()?;
    let plan = ResharePlan {
        administrator: args.administrator.clone(),
        custodians: custodians(&args.custodians)?,
        witnesses: args.witnesses.clone(),
        threshold: args.threshold,
        shares_out: args.shares_out.clone(),
        minutes: args.minutes.minutes()?,
    };
    let layout = Layout::new(&args.data_dir);
    let out = ceremony::reshare(&layout, shares, &plan, &mut |m| eprintln!("• {m}"))?;
    println!("new shares dealt; the old ones unseal nothing from now on:");
    for (c, f) in plan.custodians.iter().zip(&out.share_files) {
        println!("  {}: {}", c.name, f.display());
    }
    println!("transcript: {}", out.transcript.display());
    Ok(())
}
