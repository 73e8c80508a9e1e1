//! `keymgr ceremony …`: the init ceremony, the later root ceremonies (rotate or revoke an
//! intermediate, custodian turnover) and the verification of a transcript.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keymgr::ca::{Ca, Home};
use keymgr::ceremony::{self, CustodianSpec, InitPlan};
use keymgr::inventory::Inventory;
use keymgr::shares::Protection;
use keymgr::transcript::Transcript;
use subtle::ConstantTimeEq;

use super::berita_acara::{CountersignArgs, MinutesArgs, RenderArgs, TranscriptArgs, VerifyArgs};
use super::quorum::{ShareArgs, passphrase_from, prompt_secret, unseal};
use super::{Env, IssuingCa, read};

#[derive(Subcommand)]
pub(super) enum CeremonyCmd {
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
    /// Check a person's SSH countersignature on a transcript and store it beside it.
    Countersign(CountersignArgs),
    /// Verify a transcript and report who has and has not countersigned it.
    VerifyTranscript(VerifyArgs),
    /// Print an allowed_signers file of a transcript's countersigners, for ssh-keygen -Y verify.
    AllowedSigners(TranscriptArgs),
    /// Render a transcript and its countersignatures as a printable berita acara (HTML).
    Render(RenderArgs),
    /// Verify a ceremony transcript against the root certificate and print its steps.
    Verify {
        transcript: PathBuf,
        /// The root certificate (PEM); defaults to the one in the home.
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Args)]
pub(super) struct InitArgs {
    /// The organisation named in the certificates.
    #[arg(long)]
    organisation: String,
    /// DNS domain the Network CA is constrained to (e.g. sandi.kota.go.id).
    #[arg(long)]
    network_domain: Option<String>,
    /// The organisation's OID arc for sandi's own certificate extensions, e.g. its IANA
    /// Private Enterprise Number arc 1.3.6.1.4.1.N (every component below 2^32).
    #[arg(long, default_value = keymgr::oid_arc::DEV_OID_ARC)]
    oid_arc: String,
    /// The http:// base URL where CRLs, CA certificates and OCSP answers are published;
    /// issued certificates point there (CRL Distribution Points, Authority Information Access).
    #[arg(long)]
    publication_url: Option<String>,
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
    #[command(flatten)]
    minutes: MinutesArgs,
    #[command(flatten)]
    online_pkcs11: OnlinePkcs11Args,
}

/// The online CA's keys on a PKCS#11 token (written to HOME/online-pkcs11.json): the Network
/// and Signing CA keys, the log key and the keys `keymgr serve` makes for OCSP and the TSA are
/// generated there, and `keymgr serve` opens them with the token's PIN instead of the shares.
/// The root key stays in the root keystore.
#[derive(Args)]
#[allow(clippy::struct_field_names)] // the fields are the flags, named as operators type them
struct OnlinePkcs11Args {
    /// The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, requires = "online_pkcs11_token")]
    online_pkcs11_module: Option<PathBuf>,
    /// The label of the initialised token.
    #[arg(long, requires = "online_pkcs11_module")]
    online_pkcs11_token: Option<String>,
    /// A file (mode 600) holding the token's user PIN.
    #[arg(
        long,
        requires = "online_pkcs11_module",
        conflicts_with = "online_pkcs11_pin_env"
    )]
    online_pkcs11_pin_file: Option<PathBuf>,
    /// An environment variable holding the token's user PIN (when `keymgr serve` starts).
    #[arg(long, requires = "online_pkcs11_module")]
    online_pkcs11_pin_env: Option<String>,
}

impl OnlinePkcs11Args {
    fn settings(&self) -> anyhow::Result<Option<hsm_shim::Pkcs11Settings>> {
        let (Some(module), Some(token)) = (&self.online_pkcs11_module, &self.online_pkcs11_token)
        else {
            return Ok(None);
        };
        let module = std::path::absolute(module)?;
        let settings = match (&self.online_pkcs11_pin_file, &self.online_pkcs11_pin_env) {
            (Some(f), None) => hsm_shim::Pkcs11Settings::with_pin_file(
                module,
                token.clone(),
                std::path::absolute(f)?,
            ),
            (None, Some(v)) => {
                hsm_shim::Pkcs11Settings::with_pin_env(module, token.clone(), v.clone())
            }
            _ => bail!("give --online-pkcs11-pin-file or --online-pkcs11-pin-env"),
        };
        Ok(Some(settings))
    }
}

#[derive(Args)]
pub(super) struct People {
    /// The ceremony administrator.
    #[arg(long)]
    admin: String,
    /// A witness (at least one).
    #[arg(long = "witness", required = true)]
    witnesses: Vec<String>,
    #[command(flatten)]
    minutes: MinutesArgs,
}

impl People {
    fn attendance(&self) -> anyhow::Result<ceremony::Attendance> {
        Ok(ceremony::Attendance {
            administrator: self.admin.clone(),
            witnesses: self.witnesses.clone(),
            minutes: self.minutes.minutes()?,
        })
    }
}

pub(super) async fn run(env: &Env, cmd: &CeremonyCmd) -> anyhow::Result<()> {
    match cmd {
        CeremonyCmd::Init(args) => init(&env.home, &env.open_inventory().await?, args).await,
        CeremonyCmd::RotateIntermediate { people, shares, ca } => {
            rotate_intermediate(env, people, shares, *ca).await
        }
        CeremonyCmd::RevokeIntermediate {
            people,
            shares,
            ca,
            reason,
        } => revoke_intermediate(env, people, shares, *ca, reason).await,
        CeremonyCmd::Reshare {
            people,
            shares,
            custodians,
            new_passphrase_files,
            threshold,
            shares_out,
        } => reshare(
            env,
            people,
            shares,
            (custodians, new_passphrase_files),
            *threshold,
            shares_out,
        ),
        CeremonyCmd::Countersign(args) => super::berita_acara::countersign(&env.home, args),
        CeremonyCmd::VerifyTranscript(args) => super::berita_acara::verify(&env.home, args),
        CeremonyCmd::AllowedSigners(args) => super::berita_acara::allowed_signers(&env.home, args),
        CeremonyCmd::Render(args) => super::berita_acara::render(&env.home, args),
        CeremonyCmd::Verify { transcript, root } => {
            verify_transcript(&env.home, transcript, root.as_deref())
        }
    }
}

async fn init(home: &Home, inv: &Inventory, args: &InitArgs) -> anyhow::Result<()> {
    let minutes = args.minutes.minutes()?;
    let custodians = custodian_specs(&args.custodians, &args.passphrase_files)?;
    let plan = InitPlan {
        organisation: args.organisation.clone(),
        network_domain: args.network_domain.clone(),
        oid_arc: args.oid_arc.clone(),
        publication_url: args.publication_url.clone(),
        administrator: args.admin.clone(),
        custodians,
        witnesses: args.witnesses.clone(),
        threshold: args.threshold,
        shares_out: args.shares_out.clone(),
    };
    if plan.oid_arc == keymgr::oid_arc::DEV_OID_ARC {
        println!(
            "OID arc {}: the development default; a production network gives its own \
             (--oid-arc 1.3.6.1.4.1.N, its IANA Private Enterprise Number)",
            plan.oid_arc
        );
    }
    if plan.publication_url.is_none() {
        println!(
            "no --publication-url: certificates will carry no CRL or OCSP location; \
             CRLs must reach the nodes some other way"
        );
    }
    if minutes.signing_keys.is_empty() {
        println!("no --ssh-key: nobody can countersign this ceremony's transcript (berita acara)");
    }
    let token = args.online_pkcs11.settings()?;
    if let Some(settings) = &token {
        home.set_online_pkcs11(settings)?;
    }
    let made = ceremony::init_with_minutes(home, inv, &plan, &minutes, &mut |step| {
        println!("- {step}");
    })
    .await;
    let out = match made {
        Ok(out) => out,
        Err(e) => {
            if token.is_some() {
                let _ = std::fs::remove_file(home.online_pkcs11_path());
            }
            return Err(e.into());
        }
    };
    println!("Root CA SHA-256: {}", out.root_sha256);
    println!("Transcript: {}", out.transcript.display());
    for f in &out.share_files {
        println!("Share file: {}", f.display());
    }
    Ok(())
}

async fn rotate_intermediate(
    env: &Env,
    people: &People,
    shares: &ShareArgs,
    ca: IssuingCa,
) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let who = people.attendance()?;
    let mut session = unseal(&env.home, shares)?;
    let path = ceremony::rotate_intermediate(&env.home, &inv, &mut session, &who, ca.ca()).await?;
    println!("{} rotated; transcript {}", ca.ca().name(), path.display());
    Ok(())
}

async fn revoke_intermediate(
    env: &Env,
    people: &People,
    shares: &ShareArgs,
    ca: IssuingCa,
    reason: &str,
) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let who = people.attendance()?;
    let session = unseal(&env.home, shares)?;
    let path =
        ceremony::revoke_intermediate(&env.home, &inv, &session, &who, ca.ca(), reason).await?;
    println!(
        "{} revoked; root CRL in {}; transcript {}",
        ca.ca().name(),
        env.home.dir().join("crl").display(),
        path.display()
    );
    Ok(())
}

/// The new custodians (NAME or NAME=age1…, with their passphrase files) are read once the
/// quorum is in: their passphrases are asked for only after the old custodians unsealed.
fn reshare(
    env: &Env,
    people: &People,
    shares: &ShareArgs,
    (custodians, passphrase_files): (&[String], &[PathBuf]),
    threshold: u8,
    shares_out: &Path,
) -> anyhow::Result<()> {
    let who = people.attendance()?;
    let mut session = unseal(&env.home, shares)?;
    let specs = custodian_specs(custodians, passphrase_files)?;
    let (path, files) =
        ceremony::reshare(&env.home, &mut session, &who, &specs, threshold, shares_out)?;
    for f in files {
        println!("Share file: {}", f.display());
    }
    println!(
        "shares replaced: the old shares unseal nothing; transcript {}",
        path.display()
    );
    Ok(())
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
