//! `keymgr`: the key custodians' and CA operators' command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hsm_shim::KeyStore as _;
use keymgr::ca::{ApplicationRequest, Ca, Home, NodeRequest, OfficialRequest};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource};
use keymgr::revoke;
use keymgr::shares::{Protection, Unlock};
use keymgr::tlog::Log;
use keymgr::transcript::Transcript;
use subtle::ConstantTimeEq;

#[derive(Parser)]
#[command(
    name = "keymgr",
    version,
    about = "The sandi network's CA: key ceremonies, issuance, transparency log"
)]
struct Cli {
    /// The CA's home directory.
    #[arg(long, global = true, env = "KEYMGR_HOME", default_value = "sandi-ca")]
    home: PathBuf,
    /// The inventory database: sqlite://FILE or postgres://… (default: HOME/inventory.db).
    #[arg(long, global = true, env = "KEYMGR_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Key ceremonies.
    #[command(subcommand)]
    Ceremony(CeremonyCmd),
    /// Custodians give their shares one at a time; says how many more are needed.
    Unseal(ShareArgs),
    /// Issue a certificate with an online intermediate (needs the custodians' quorum).
    Issue {
        #[command(flatten)]
        shares: ShareArgs,
        #[command(subcommand)]
        what: IssueCmd,
    },
    /// Bind an official's age recipient to their identity, signed by the Signing CA.
    BindKey {
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(long)]
        nip: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        agency: String,
        /// The official's age recipient (age1…).
        #[arg(long)]
        recipient: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the binding (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a key binding against the CA certificates in the home.
    VerifyBinding { file: PathBuf },
    /// The network directory: every node, signed by the Network CA.
    #[command(subcommand)]
    Directory(DirectoryCmd),
    /// Issue the next version of a certificate with a new key; the old one stays valid until it
    /// expires (the overlap window).
    Rotate {
        #[command(flatten)]
        shares: ShareArgs,
        serial: String,
        /// A new PKCS#10 request, for certificates issued from a CSR.
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Where to write the new certificate (PEM).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Renew every node certificate that expires soon (idempotent).
    Renew {
        #[command(flatten)]
        shares: ShareArgs,
        /// How soon: 30d, 12h, 2w.
        #[arg(long, value_parser = parse_duration)]
        due_within: time::Duration,
    },
    /// Revoke a certificate.
    Revoke {
        #[command(flatten)]
        shares: ShareArgs,
        serial: String,
        /// keyCompromise, superseded, cessationOfOperation, affiliationChanged, privilegeWithdrawn, …
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Write the CRL of an issuing CA (DER and PEM, under HOME/crl/).
    Crl {
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(value_enum)]
        ca: IssuingCa,
        /// nextUpdate, from now: 7d, 24h.
        #[arg(long, value_parser = parse_duration, default_value = "7d")]
        next_update: time::Duration,
    },
    /// Whether a certificate was valid at a moment (RFC 3339), e.g. when a letter was signed.
    Status {
        serial: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// Every certificate and key in the inventory.
    List,
    /// One certificate's record.
    Show { serial: String },
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCmd),
    /// Keys in the online keystore: lifecycle states and destruction.
    #[command(subcommand)]
    Key(KeyCmd),
}

#[derive(Subcommand)]
enum CeremonyCmd {
    /// Create the root of trust: keystores split among custodians, Root, Network and Signing CA.
    Init(InitArgs),
    /// Root ceremony: a new key for an intermediate, certified by the root (also how a new
    /// intermediate is issued after one was revoked).
    #[command(alias = "issue-intermediate")]
    RotateIntermediate {
        #[command(flatten)]
        people: People,
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(long, value_enum)]
        ca: IssuingCa,
    },
    /// Root ceremony: revoke an intermediate; the root signs a new CRL.
    RevokeIntermediate {
        #[command(flatten)]
        people: People,
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(long, value_enum)]
        ca: IssuingCa,
        #[arg(long, default_value = "keyCompromise")]
        reason: String,
    },
    /// Custodian turnover: a quorum of current shares deals fresh shares to the new custodians.
    Reshare {
        #[command(flatten)]
        people: People,
        #[command(flatten)]
        shares: ShareArgs,
        /// A new custodian: NAME, or NAME=age1…
        #[arg(long = "custodian", required = true)]
        custodians: Vec<String>,
        /// Passphrase files of the new passphrase custodians, in order (else prompted).
        #[arg(long = "new-passphrase-file")]
        new_passphrase_files: Vec<PathBuf>,
        #[arg(long)]
        threshold: u8,
        #[arg(long)]
        shares_out: PathBuf,
    },
    /// Verify a ceremony transcript against the root certificate and print its steps.
    Verify {
        transcript: PathBuf,
        /// The root certificate (PEM); defaults to the one in the home.
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Args)]
struct InitArgs {
    /// The organisation named in the certificates.
    #[arg(long)]
    organisation: String,
    /// DNS domain the Network CA is constrained to (e.g. sandi.kota.go.id).
    #[arg(long)]
    network_domain: Option<String>,
    /// The ceremony administrator.
    #[arg(long)]
    admin: String,
    /// A key custodian: NAME, or NAME=age1… to encrypt the share to the custodian's recipient.
    #[arg(long = "custodian", required = true)]
    custodians: Vec<String>,
    /// A witness (at least one).
    #[arg(long = "witness", required = true)]
    witnesses: Vec<String>,
    /// Shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    threshold: u8,
    /// Where the custodians' share files go.
    #[arg(long)]
    shares_out: PathBuf,
    /// Files holding the passphrases of the passphrase custodians, in order (else prompted).
    #[arg(long = "passphrase-file")]
    passphrase_files: Vec<PathBuf>,
}

#[derive(Args)]
struct People {
    /// The ceremony administrator.
    #[arg(long)]
    admin: String,
    /// A witness (at least one).
    #[arg(long = "witness", required = true)]
    witnesses: Vec<String>,
}

impl People {
    fn attendance(&self) -> ceremony::Attendance {
        ceremony::Attendance {
            administrator: self.admin.clone(),
            witnesses: self.witnesses.clone(),
        }
    }
}

#[derive(Args)]
struct ShareArgs {
    /// A custodian's share file (repeat; prompted one by one when omitted).
    #[arg(long = "share")]
    shares: Vec<PathBuf>,
    /// The passphrase file for the share at the same position.
    #[arg(long = "passphrase-file")]
    passphrase_files: Vec<PathBuf>,
    /// An age identity file for shares encrypted to a custodian's recipient.
    #[arg(long)]
    identity: Option<PathBuf>,
}

#[derive(Subcommand)]
enum DirectoryCmd {
    /// Signs a directory (JSON: `{"version": N, "nodes": [{id, agencies, base_url,
    /// certificate_sha256, accreditation, status}]}`) with the Network CA; the version must be
    /// above the last one signed. Nodes load the signed file as `network/directory.json`.
    Sign {
        #[command(flatten)]
        shares: ShareArgs,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verifies a signed directory against the CA certificates in the home and lists it.
    Verify { file: PathBuf },
    /// Adds a node to a directory input (creating it if missing), or replaces the node with the
    /// same id: the fingerprint is taken from its certificate, which must be one this Network
    /// CA issued; the version is moved above the last one signed.
    Add {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        id: String,
        /// The node's certificate (PEM), as `keymgr issue node` wrote it.
        #[arg(long)]
        cert: PathBuf,
        /// `https://host:port` where the node listens.
        #[arg(long)]
        url: String,
        /// An agency the node serves (repeat for several).
        #[arg(long = "agency", required = true)]
        agencies: Vec<String>,
        /// The highest classification the node may hold.
        #[arg(long)]
        accreditation: String,
        /// active, suspended or revoked.
        #[arg(long, default_value = "active")]
        status: String,
    },
    /// Copies a signed directory into nodes' data directories (`network/directory.json`),
    /// after checking it; a node holding a newer version is left alone and reported.
    Publish {
        file: PathBuf,
        /// A node's data directory (repeat for several).
        #[arg(long = "to", required = true)]
        to: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum IssueCmd {
    /// A docsvc node certificate (serverAuth + clientAuth).
    Node {
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        agency: String,
        #[arg(long, value_enum)]
        accreditation: Level,
        #[arg(long = "dns")]
        dns: Vec<String>,
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        #[arg(long, default_value_t = 90)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
    /// An official's signing certificate.
    Official {
        #[arg(long)]
        name: String,
        #[arg(long)]
        nip: String,
        #[arg(long)]
        agency: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
    /// An application's client certificate.
    Application {
        #[arg(long)]
        name: String,
        #[arg(long)]
        agency: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Args)]
struct OutArgs {
    /// A PKCS#10 request (PEM or DER); without it the key is generated in the CA's keystore.
    #[arg(long)]
    csr: Option<PathBuf>,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum IssuingCa {
    Network,
    Signing,
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Biasa,
    Terbatas,
    Rahasia,
    SangatRahasia,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Move a key through its lifecycle (pre-active, active, suspended, deactivated, compromised).
    SetState {
        #[command(flatten)]
        shares: ShareArgs,
        key: String,
        #[arg(value_enum)]
        state: KeyStateArg,
    },
    /// Destroy a key held by the CA (not a CA key in use): wiped, removed and recorded.
    Destroy {
        #[command(flatten)]
        shares: ShareArgs,
        key: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyStateArg {
    PreActive,
    Active,
    Suspended,
    Deactivated,
    Compromised,
}

#[derive(Subcommand)]
enum LogCmd {
    /// Recompute the tree, check every signed head, name the first entry that does not match.
    Verify,
    /// Rotate the key that signs tree heads (heads signed by the old key stay verifiable).
    RotateKey(ShareArgs),
    /// Print an inclusion proof for one entry against the current tree.
    Prove { index: usize },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keymgr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_lines)] // one arm per command, each a few lines
async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = Home::new(&cli.home);
    let url = cli
        .database_url
        .clone()
        .unwrap_or_else(|| Inventory::default_url(&cli.home));
    let inventory = || async {
        if !home.is_initialised() && !matches!(cli.command, Cmd::Ceremony(CeremonyCmd::Init(_))) {
            return Err(anyhow::Error::from(keymgr::Error::NotInitialised(
                cli.home.clone(),
            )));
        }
        std::fs::create_dir_all(&cli.home)
            .with_context(|| format!("creating {}", cli.home.display()))?;
        Ok(Inventory::open(&url).await?)
    };
    match &cli.command {
        Cmd::Ceremony(CeremonyCmd::Init(args)) => init(&home, &inventory().await?, args).await,
        Cmd::Ceremony(CeremonyCmd::RotateIntermediate { people, shares, ca }) => {
            let inv = inventory().await?;
            let mut session = unseal(&home, shares)?;
            let path = ceremony::rotate_intermediate(
                &home,
                &inv,
                &mut session,
                &people.attendance(),
                issuing(*ca),
            )
            .await?;
            println!(
                "{} rotated; transcript {}",
                issuing(*ca).name(),
                path.display()
            );
            Ok(())
        }
        Cmd::Ceremony(CeremonyCmd::RevokeIntermediate {
            people,
            shares,
            ca,
            reason,
        }) => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let path = ceremony::revoke_intermediate(
                &home,
                &inv,
                &session,
                &people.attendance(),
                issuing(*ca),
                reason,
            )
            .await?;
            println!(
                "{} revoked; root CRL in {}; transcript {}",
                issuing(*ca).name(),
                home.dir().join("crl").display(),
                path.display()
            );
            Ok(())
        }
        Cmd::Ceremony(CeremonyCmd::Reshare {
            people,
            shares,
            custodians,
            new_passphrase_files,
            threshold,
            shares_out,
        }) => {
            let mut session = unseal(&home, shares)?;
            let specs = custodian_specs(custodians, new_passphrase_files)?;
            let (path, files) = ceremony::reshare(
                &home,
                &mut session,
                &people.attendance(),
                &specs,
                *threshold,
                shares_out,
            )?;
            for f in files {
                println!("Share file: {}", f.display());
            }
            println!(
                "shares replaced: the old shares unseal nothing; transcript {}",
                path.display()
            );
            Ok(())
        }
        Cmd::Ceremony(CeremonyCmd::Verify { transcript, root }) => {
            verify_transcript(&home, transcript, root.as_deref())
        }
        Cmd::Unseal(shares) => {
            unseal(&home, shares)?;
            println!(
                "the keystores are unsealed: the quorum is present and every share checked out"
            );
            Ok(())
        }
        Cmd::Issue { shares, what } => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            issue_cmd(&home, &inv, &session, what).await
        }
        Cmd::Rotate {
            shares,
            serial,
            csr,
            out,
        } => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let source = key_source(csr.as_deref())?;
            let issued = issue::rotate(&home, session.online()?, &inv, serial, source).await?;
            report_issued(&issued, out.as_deref())
        }
        Cmd::Renew { shares, due_within } => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let renewed = issue::renew_due(&home, session.online()?, &inv, *due_within).await?;
            for (old, new) in &renewed {
                println!(
                    "renewed {old} -> {} (version {}, until {})",
                    new.record.serial, new.record.version, new.record.not_after
                );
            }
            println!("{} certificate(s) renewed", renewed.len());
            Ok(())
        }
        Cmd::Revoke {
            shares,
            serial,
            reason,
        } => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let r = revoke::revoke(&home, session.online()?, &inv, serial, reason, None).await?;
            println!(
                "revoked {} ({}) at {}, reason {}",
                r.serial,
                r.subject,
                r.revoked_at.as_deref().unwrap_or_default(),
                r.revocation_reason.as_deref().unwrap_or_default()
            );
            Ok(())
        }
        Cmd::Crl {
            shares,
            ca,
            next_update,
        } => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let which = match ca {
                IssuingCa::Network => Ca::Network,
                IssuingCa::Signing => Ca::Signing,
            };
            let crl = revoke::crl(&home, session.online()?, &inv, which, *next_update).await?;
            println!(
                "CRL number {} of the {} with {} revoked certificate(s) written to {}",
                crl.number,
                which.name(),
                crl.revoked,
                home.dir().join("crl").display()
            );
            Ok(())
        }
        Cmd::Status { serial, at } => {
            let inv = inventory().await?;
            let at = match at {
                Some(t) => keymgr::inventory::parse_timestamp(t)?,
                None => time::OffsetDateTime::now_utc(),
            };
            match revoke::status_at(&inv, serial, at).await? {
                revoke::StatusAt::Valid {
                    revoked_later: None,
                } => println!("valid at {}", keymgr::inventory::timestamp(at)),
                revoke::StatusAt::Valid {
                    revoked_later: Some((when, why)),
                } => println!(
                    "valid at {} (revoked later, at {when}, reason {why}): signatures made then stand",
                    keymgr::inventory::timestamp(at)
                ),
                revoke::StatusAt::Revoked { at: when, reason } => {
                    println!(
                        "revoked at {when} (reason {reason}), before {}",
                        keymgr::inventory::timestamp(at)
                    );
                    std::process::exit(2);
                }
                revoke::StatusAt::OutsideValidity => {
                    println!(
                        "not valid at {}: outside the certificate's validity",
                        keymgr::inventory::timestamp(at)
                    );
                    std::process::exit(2);
                }
            }
            Ok(())
        }
        Cmd::BindKey {
            shares,
            nip,
            name,
            agency,
            recipient,
            days,
            out,
        } => {
            let session = unseal(&home, shares)?;
            let b = issue::bind_encryption_key(
                &home,
                session.online()?,
                nip,
                name,
                agency,
                recipient,
                *days,
            )?;
            write_new(out, &serde_json::to_vec_pretty(&b)?)?;
            println!("key binding for NIP {nip} written to {}", out.display());
            Ok(())
        }
        Cmd::Directory(DirectoryCmd::Sign { shares, input, out }) => {
            let input: keymgr::directory::DirectoryInput =
                serde_json::from_slice(&read(input)?).context("not a directory input")?;
            keymgr::directory::check_new(&home, &input)?;
            let session = unseal(&home, shares)?;
            let d = keymgr::directory::sign(&home, session.online()?, &input)?;
            write_new(out, &serde_json::to_vec_pretty(&d)?)?;
            println!(
                "network directory version {} ({} nodes) written to {}",
                d.version,
                d.nodes.len(),
                out.display()
            );
            Ok(())
        }
        Cmd::Directory(DirectoryCmd::Verify { file }) => {
            let d: keymgr::directory::Directory =
                serde_json::from_slice(&read(file)?).context("not a network directory")?;
            keymgr::directory::verify(&d, &home.cert_der(Ca::Network)?, &home.cert_der(Ca::Root)?)?;
            println!(
                "valid: network directory version {} of {}",
                d.version, d.issued_at
            );
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
        Cmd::Directory(DirectoryCmd::Add {
            input,
            id,
            cert,
            url,
            agencies,
            accreditation,
            status,
        }) => {
            let held = match std::fs::read(input) {
                Ok(b) => Some(
                    serde_json::from_slice::<keymgr::directory::DirectoryInput>(&b)
                        .with_context(|| format!("{} is not a directory input", input.display()))?,
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading {}", input.display())),
            };
            let pem = String::from_utf8(read(cert)?).unwrap_or_default();
            let der = keymgr::ca::pem_to_der(&pem)
                .with_context(|| format!("{} holds no PEM certificate", cert.display()))?;
            let next = keymgr::directory::add_node(
                &home,
                held,
                &keymgr::directory::NewNode {
                    id,
                    certificate_der: &der,
                    base_url: url,
                    agencies: agencies.clone(),
                    accreditation,
                    status,
                },
            )?;
            let aside = input.with_extension("json.new");
            std::fs::write(&aside, serde_json::to_vec_pretty(&next)?)
                .with_context(|| format!("writing {}", aside.display()))?;
            std::fs::rename(&aside, input)
                .with_context(|| format!("writing {}", input.display()))?;
            println!(
                "{id} in {} (version {}, {} nodes); sign it with `keymgr directory sign`",
                input.display(),
                next.version,
                next.nodes.len()
            );
            Ok(())
        }
        Cmd::Directory(DirectoryCmd::Publish { file, to }) => {
            let d: keymgr::directory::Directory =
                serde_json::from_slice(&read(file)?).context("not a network directory")?;
            let mut refused = 0;
            for (target, r) in keymgr::directory::publish(&home, &d, to)? {
                match r {
                    Ok(()) => println!("version {} written to {}", d.version, target.display()),
                    Err(why) => {
                        refused += 1;
                        eprintln!("not written to {}: {why}", target.display());
                    }
                }
            }
            if refused > 0 {
                anyhow::bail!("{refused} of {} nodes not updated", to.len());
            }
            Ok(())
        }
        Cmd::VerifyBinding { file } => {
            let b: issue::KeyBinding =
                serde_json::from_slice(&read(file)?).context("not a key binding")?;
            issue::verify_binding(&b, &home.cert_der(Ca::Signing)?, &home.cert_der(Ca::Root)?)?;
            println!(
                "valid: {} (NIP {}, {}) uses {} until {}",
                b.name, b.nip, b.agency, b.recipient, b.not_after
            );
            Ok(())
        }
        Cmd::List => {
            let inv = inventory().await?;
            println!("certificates:");
            for r in inv.list().await? {
                println!(
                    "  {}  {:<16} v{:<2} {:<10} {}  until {}",
                    r.serial,
                    r.profile,
                    r.version,
                    r.state_str(),
                    r.subject,
                    r.not_after
                );
            }
            println!("keys:");
            for (ks, id, label, kind, version, state) in inv.keys().await? {
                println!("  {ks:<6} {id}  {label:<32} {kind:<10} v{version:<2} {state}");
            }
            Ok(())
        }
        Cmd::Show { serial } => {
            let inv = inventory().await?;
            let r = inv.get(serial).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            print!("{}", keymgr::ca::der_to_pem(&r.der));
            Ok(())
        }
        Cmd::Log(LogCmd::Verify) => {
            let log = Log::open(&home)?;
            let s = log.verify()?;
            let versions: Vec<String> = log
                .head_key_versions()?
                .iter()
                .map(|v| format!("v{v}"))
                .collect();
            println!(
                "log verified: {} entries, {} signed tree heads (log key {})",
                s.entries,
                s.heads,
                versions.join(", ")
            );
            Ok(())
        }
        Cmd::Log(LogCmd::RotateKey(shares)) => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let store = session.online()?;
            let old = store.info(home.load_state()?.log_key)?;
            let new = Log::open(&home)?.rotate_key(&home, store)?;
            inv.record_key("online", &new).await?;
            inv.record_key("online", &store.info(old.id)?).await?;
            println!(
                "log key rotated: version {} -> {} ({})",
                old.version, new.version, new.id
            );
            Ok(())
        }
        Cmd::Key(KeyCmd::SetState { shares, key, state }) => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let state = match state {
                KeyStateArg::PreActive => hsm_shim::KeyState::PreActive,
                KeyStateArg::Active => hsm_shim::KeyState::Active,
                KeyStateArg::Suspended => hsm_shim::KeyState::Suspended,
                KeyStateArg::Deactivated => hsm_shim::KeyState::Deactivated,
                KeyStateArg::Compromised => hsm_shim::KeyState::Compromised,
            };
            let info = keymgr::keys::set_state(&home, session.online()?, &inv, key, state).await?;
            println!(
                "key {} ({} v{}) is now {}",
                info.id, info.label, info.version, info.state
            );
            Ok(())
        }
        Cmd::Key(KeyCmd::Destroy { shares, key }) => {
            let inv = inventory().await?;
            let session = unseal(&home, shares)?;
            let info = keymgr::keys::destroy(&home, session.online()?, &inv, key).await?;
            println!(
                "key {} ({} v{}) destroyed and recorded",
                info.id, info.label, info.version
            );
            Ok(())
        }
        Cmd::Log(LogCmd::Prove { index }) => {
            let (leaf, proof, root) = Log::open(&home)?.inclusion_proof(*index)?;
            println!(
                "{}",
                serde_json::json!({ "index": index, "leaf_hash": hex::encode(leaf), "root": hex::encode(root),
                                    "proof": proof.iter().map(hex::encode).collect::<Vec<_>>() })
            );
            Ok(())
        }
    }
}

/// 30d, 12h, 2w, 90m.
fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (m, h, d, w)"))?;
    match unit {
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        "w" => Ok(time::Duration::weeks(n)),
        _ => Err(format!("{s:?}: the unit must be m, h, d or w")),
    }
}

fn key_source(csr: Option<&Path>) -> anyhow::Result<KeySource> {
    match csr {
        None => Ok(KeySource::Generate),
        Some(p) => {
            let bytes = read(p)?;
            let text = String::from_utf8_lossy(&bytes);
            Ok(KeySource::Csr(if text.contains("-----BEGIN") {
                keymgr::ca::pem_to_der(&text)
                    .with_context(|| format!("{} is not PEM", p.display()))?
            } else {
                bytes
            }))
        }
    }
}

fn report_issued(issued: &issue::Issued, out: Option<&Path>) -> anyhow::Result<()> {
    let r = &issued.record;
    if let Some(out) = out {
        write_new(out, issued.certificate_pem().as_bytes())?;
    }
    println!(
        "issued {} certificate serial {} version {} for {} (until {}){}",
        r.profile,
        r.serial,
        r.version,
        r.subject,
        r.not_after,
        out.map(|o| format!(", written to {}", o.display()))
            .unwrap_or_default()
    );
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn passphrase_from(path: &Path) -> anyhow::Result<SecretString> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("{} holds an empty passphrase", path.display());
    }
    Ok(SecretString::from(line.to_owned()))
}

/// One line from the terminal, read unbuffered so that the passphrase prompt that follows
/// finds its own line (custodians type one after the other at the same terminal).
fn read_tty_line(prompt: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("opening the terminal")?;
    tty.write_all(prompt.as_bytes())
        .context("writing the prompt")?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte).context("reading the terminal")? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8(line).context("the path is not UTF-8")
}

fn prompt_secret(prompt: &str) -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a passphrase: give --passphrase-file");
    }
    Ok(SecretString::from(
        rpassword::prompt_password(prompt).context("reading the passphrase")?,
    ))
}

async fn init(home: &Home, inv: &Inventory, args: &InitArgs) -> anyhow::Result<()> {
    let custodians = custodian_specs(&args.custodians, &args.passphrase_files)?;
    let plan = InitPlan {
        organisation: args.organisation.clone(),
        network_domain: args.network_domain.clone(),
        administrator: args.admin.clone(),
        custodians,
        witnesses: args.witnesses.clone(),
        threshold: args.threshold,
        shares_out: args.shares_out.clone(),
    };
    let out = ceremony::init(home, inv, &plan, &mut |step| println!("- {step}")).await?;
    println!("Root CA SHA-256: {}", out.root_sha256);
    println!("Transcript: {}", out.transcript.display());
    for f in &out.share_files {
        println!("Share file: {}", f.display());
    }
    Ok(())
}

fn issuing(ca: IssuingCa) -> Ca {
    match ca {
        IssuingCa::Network => Ca::Network,
        IssuingCa::Signing => Ca::Signing,
    }
}

/// Custodians from NAME or NAME=age1… arguments, passphrases from files in order or prompted.
fn custodian_specs(
    specs: &[String],
    passphrase_files: &[PathBuf],
) -> anyhow::Result<Vec<CustodianSpec>> {
    let mut files = passphrase_files.iter();
    let mut custodians = Vec::new();
    for spec in specs {
        let (name, protection) = if let Some((name, recipient)) = spec.split_once('=') {
            let r = recipient
                .trim()
                .parse::<age::x25519::Recipient>()
                .map_err(|e| {
                    anyhow::anyhow!("custodian {name}: {recipient:?} is not an age recipient: {e}")
                })?;
            (name.trim().to_owned(), Protection::Recipient(r))
        } else if let Some(f) = files.next() {
            (
                spec.trim().to_owned(),
                Protection::Passphrase(passphrase_from(f)?),
            )
        } else {
            let p1 = prompt_secret(&format!("Passphrase for {spec}'s share: "))?;
            let p2 = prompt_secret(&format!("Again, for {spec}: "))?;
            let same: bool = p1
                .expose_secret()
                .as_bytes()
                .ct_eq(p2.expose_secret().as_bytes())
                .into();
            if !same {
                bail!("the two passphrases for {spec} differ");
            }
            (spec.trim().to_owned(), Protection::Passphrase(p1))
        };
        custodians.push(CustodianSpec { name, protection });
    }
    if files.next().is_some() {
        bail!("more --passphrase-file than passphrase custodians");
    }
    Ok(custodians)
}

fn verify_transcript(home: &Home, path: &Path, root: Option<&Path>) -> anyhow::Result<()> {
    let root_der = match root {
        Some(p) => keymgr::ca::pem_to_der(&String::from_utf8_lossy(&read(p)?))
            .with_context(|| format!("{} is not a PEM certificate", p.display()))?,
        None => home.cert_der(Ca::Root)?,
    };
    let t = Transcript::verify(&read(path)?, &root_der)?;
    println!(
        "ceremony {} ({}), {} steps, signed by the root key:",
        t.id,
        t.ceremony,
        t.entries.len()
    );
    for e in &t.entries {
        println!("  {:>2}. {}  {:<22} by {}", e.seq, e.time, e.step, e.actor);
    }
    println!("transcript verified");
    Ok(())
}

/// Takes shares one at a time until the quorum is met.
fn unseal(home: &Home, args: &ShareArgs) -> anyhow::Result<QuorumSession> {
    let mut session = QuorumSession::open(home)?;
    let threshold = session.state().quorum.threshold;
    let report = |who: &str, p: hsm_shim::UnsealProgress| {
        if p.unsealed {
            println!("share of {who} accepted: unsealed");
        } else {
            println!(
                "share of {who} accepted: {} more needed (of {threshold})",
                p.remaining()
            );
        }
    };
    if args.shares.is_empty() {
        if !std::io::stdin().is_terminal() {
            bail!("no share files given (--share) and no terminal to ask for them");
        }
        while !session.progress().unsealed {
            let line = read_tty_line("Next custodian: path to your share file (empty to stop): ")?;
            let path = PathBuf::from(line.trim());
            if line.trim().is_empty() {
                break;
            }
            let unlock = match &args.identity {
                Some(id) => Unlock::Identity(id.clone()),
                None => Unlock::Passphrase(prompt_secret("Passphrase: ")?),
            };
            match session.add(&path, &unlock) {
                Ok((who, p)) => report(&who, p),
                Err(e) => eprintln!("refused: {e}"),
            }
        }
    } else {
        for (i, path) in args.shares.iter().enumerate() {
            let unlock = match (args.passphrase_files.get(i), &args.identity) {
                (Some(f), _) => Unlock::Passphrase(passphrase_from(f)?),
                (None, Some(id)) => Unlock::Identity(id.clone()),
                (None, None) => Unlock::Passphrase(prompt_secret(&format!(
                    "Passphrase for {}: ",
                    path.display()
                ))?),
            };
            let (who, p) = session.add(path, &unlock)?;
            report(&who, p);
        }
    }
    session.online()?;
    Ok(session)
}

async fn issue_cmd(
    home: &Home,
    inv: &Inventory,
    session: &QuorumSession,
    what: &IssueCmd,
) -> anyhow::Result<()> {
    let store = session.online()?;
    let (request, out) = match what {
        IssueCmd::Node {
            node_id,
            agency,
            accreditation,
            dns,
            ips,
            days,
            out,
        } => {
            let accreditation = match accreditation {
                Level::Biasa => "biasa",
                Level::Terbatas => "terbatas",
                Level::Rahasia => "rahasia",
                Level::SangatRahasia => "sangat_rahasia",
            }
            .to_owned();
            let req = NodeRequest {
                node_id: node_id.clone(),
                agency: agency.clone(),
                accreditation,
                dns: dns.clone(),
                ips: ips.clone(),
                days: *days,
            };
            (issue::Request::Node(req), out)
        }
        IssueCmd::Official {
            name,
            nip,
            agency,
            days,
            out,
        } => {
            let req = OfficialRequest {
                name: name.clone(),
                nip: nip.clone(),
                agency: agency.clone(),
                days: *days,
            };
            (issue::Request::Official(req), out)
        }
        IssueCmd::Application {
            name,
            agency,
            days,
            out,
        } => {
            let req = ApplicationRequest {
                name: name.clone(),
                agency: agency.clone(),
                days: *days,
            };
            (issue::Request::Application(req), out)
        }
    };
    let issued = issue::issue(home, store, inv, request, key_source(out.csr.as_deref())?).await?;
    report_issued(&issued, Some(&out.out))
}
