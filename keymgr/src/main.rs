//! `keymgr`: the key custodians' and CA operators' command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use keymgr::ca::{ApplicationRequest, Ca, Home, NodeRequest, OfficialRequest};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::issue::{self, KeySource};
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
    /// Every issued certificate.
    List,
    /// One issued certificate's record.
    Show { serial: String },
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCmd),
}

#[derive(Subcommand)]
enum CeremonyCmd {
    /// Create the root of trust: keystores split among custodians, Root, Network and Signing CA.
    Init(InitArgs),
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
enum Level {
    Biasa,
    Terbatas,
    Rahasia,
    SangatRahasia,
}

#[derive(Subcommand)]
enum LogCmd {
    /// Recompute the tree, check every signed head, name the first entry that does not match.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keymgr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = Home::new(&cli.home);
    match cli.command {
        Cmd::Ceremony(CeremonyCmd::Init(args)) => init(&home, args),
        Cmd::Ceremony(CeremonyCmd::Verify { transcript, root }) => {
            verify_transcript(&home, &transcript, root.as_deref())
        }
        Cmd::Unseal(shares) => {
            unseal(&home, &shares)?;
            println!(
                "the keystores are unsealed: the quorum is present and every share checked out"
            );
            Ok(())
        }
        Cmd::Issue { shares, what } => {
            let session = unseal(&home, &shares)?;
            issue_cmd(&home, &session, what)
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
            let session = unseal(&home, &shares)?;
            let b = issue::bind_encryption_key(
                &home,
                session.online()?,
                &nip,
                &name,
                &agency,
                &recipient,
                days,
            )?;
            write_new(&out, &serde_json::to_vec_pretty(&b)?)?;
            println!("key binding for NIP {nip} written to {}", out.display());
            Ok(())
        }
        Cmd::VerifyBinding { file } => {
            let b: issue::KeyBinding =
                serde_json::from_slice(&read(&file)?).context("not a key binding")?;
            issue::verify_binding(&b, &home.cert_der(Ca::Signing)?, &home.cert_der(Ca::Root)?)?;
            println!(
                "valid: {} (NIP {}, {}) uses {} until {}",
                b.name, b.nip, b.agency, b.recipient, b.not_after
            );
            Ok(())
        }
        Cmd::List => {
            for r in records(&home)? {
                println!(
                    "{}  {:<12} {:<8} {}  until {}",
                    r.serial, r.profile, r.state, r.subject, r.not_after
                );
            }
            Ok(())
        }
        Cmd::Show { serial } => {
            let path = home
                .issued_dir()
                .join(format!("{}.json", serial.to_lowercase().replace(':', "")));
            if !path.exists() {
                return Err(keymgr::Error::UnknownSerial(serial).into());
            }
            println!("{}", String::from_utf8_lossy(&read(&path)?));
            Ok(())
        }
        Cmd::Log(LogCmd::Verify) => {
            let s = Log::open(&home)?.verify()?;
            println!(
                "log verified: {} entries, {} signed tree heads",
                s.entries, s.heads
            );
            Ok(())
        }
    }
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

fn prompt_secret(prompt: &str) -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a passphrase: give --passphrase-file");
    }
    Ok(SecretString::from(
        rpassword::prompt_password(prompt).context("reading the passphrase")?,
    ))
}

fn init(home: &Home, args: InitArgs) -> anyhow::Result<()> {
    let mut files = args.passphrase_files.iter();
    let mut custodians = Vec::new();
    for spec in &args.custodians {
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
    let plan = InitPlan {
        organisation: args.organisation,
        network_domain: args.network_domain,
        administrator: args.admin,
        custodians,
        witnesses: args.witnesses,
        threshold: args.threshold,
        shares_out: args.shares_out,
    };
    let out = ceremony::init(home, &plan, &mut |step| println!("- {step}"))?;
    println!("Root CA SHA-256: {}", out.root_sha256);
    println!("Transcript: {}", out.transcript.display());
    for f in &out.share_files {
        println!("Share file: {}", f.display());
    }
    Ok(())
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
            let mut line = String::new();
            println!("Next custodian: path to your share file (empty to stop):");
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the path")?;
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

fn issue_cmd(home: &Home, session: &QuorumSession, what: IssueCmd) -> anyhow::Result<()> {
    let store = session.online()?;
    let source = |out: &OutArgs| -> anyhow::Result<KeySource> {
        match &out.csr {
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
    };
    let (issued, out) = match what {
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
                node_id,
                agency,
                accreditation,
                dns,
                ips,
                days,
            };
            (issue::node(home, store, &req, source(&out)?)?, out.out)
        }
        IssueCmd::Official {
            name,
            nip,
            agency,
            days,
            out,
        } => {
            let req = OfficialRequest {
                name,
                nip,
                agency,
                days,
            };
            (issue::official(home, store, &req, source(&out)?)?, out.out)
        }
        IssueCmd::Application {
            name,
            agency,
            days,
            out,
        } => {
            let req = ApplicationRequest { name, agency, days };
            (
                issue::application(home, store, &req, source(&out)?)?,
                out.out,
            )
        }
    };
    write_new(&out, issued.certificate_pem().as_bytes())?;
    println!(
        "issued {} certificate serial {} for {} (until {}), written to {}",
        issued.record.profile,
        issued.record.serial,
        issued.record.subject,
        issued.record.not_after,
        out.display()
    );
    Ok(())
}

fn records(home: &Home) -> anyhow::Result<Vec<issue::IssuedRecord>> {
    let dir = home.issued_dir();
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(
                serde_json::from_slice(&read(&path)?)
                    .with_context(|| format!("{} is not a record", path.display()))?,
            );
        }
    }
    out.sort_by(|a: &issue::IssuedRecord, b| a.serial.cmp(&b.serial));
    Ok(out)
}
