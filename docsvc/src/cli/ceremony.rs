//! `docsvc ceremony countersign | verify-transcript | allowed-signers | render`: the berita
//! acara of a node ceremony (`docsvc init`, `docsvc reshare`), countersigned by the people
//! present with their SSH keys, checked and rendered by keymgr's library, as keymgr's own
//! ceremonies are; and the `--place` and `--ssh-key` a node ceremony records for it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use keymgr::berita_acara::{self, Zone};
use keymgr::ceremony::Minutes;
use keymgr::countersign::{self, MAX_SIGNATURE_BYTES, MAX_TRANSCRIPT_BYTES, NamedKey, Report};
use keymgr::transcript::Transcript;

/// The place and the countersigners' keys of a node ceremony.
#[derive(Args)]
pub(super) struct MinutesArgs {
    /// Where the ceremony is held (tempat), as the berita acara names it.
    #[arg(long)]
    place: Option<String>,
    /// A person's SSH Ed25519 key for countersigning the transcript: "NAME=ssh-ed25519 AAAA…"
    /// or "NAME=FILE.pub" (repeat for the administrator, each custodian and each witness).
    #[arg(long = "ssh-key", value_name = "NAME=KEY")]
    ssh_keys: Vec<String>,
}

impl MinutesArgs {
    pub(super) fn minutes(&self) -> anyhow::Result<Minutes> {
        let signing_keys = self
            .ssh_keys
            .iter()
            .map(|s| NamedKey::from_spec(s))
            .collect::<keymgr::Result<Vec<_>>>()?;
        if signing_keys.is_empty() {
            eprintln!("• no --ssh-key: nobody can countersign this ceremony's transcript");
        }
        Ok(Minutes {
            place: self.place.clone(),
            signing_keys,
        })
    }
}

#[derive(Subcommand)]
pub(super) enum CeremonyCommand {
    /// Check a person's SSH countersignature on a node ceremony transcript and store it beside
    /// the transcript (`ssh-keygen -Y sign -n sandi-berita-acara -f KEY TRANSCRIPT` makes it).
    Countersign(CountersignArgs),
    /// Verify a transcript (the node's audit key, every link) and that everyone it names has
    /// validly countersigned it; fails otherwise.
    VerifyTranscript(TranscriptArgs),
    /// Print an allowed_signers file of the transcript's countersigners, for ssh-keygen -Y verify.
    AllowedSigners(TranscriptArgs),
    /// Render the transcript and its countersignatures as a printable berita acara (HTML).
    Render(RenderArgs),
}

#[derive(Args)]
pub(super) struct TranscriptArgs {
    /// The ceremony transcript (JSON): in the data directory's `ceremonies/` or its copy
    /// beside the shares.
    transcript: PathBuf,
    /// The node's audit public key (DER) that signed it; defaults to the data directory's
    /// `audit-key.der`.
    #[arg(long)]
    audit_key: Option<PathBuf>,
    /// The node's data directory, where `audit-key.der` is.
    #[arg(long, env = "DOCSVC_DATA_DIR", required_unless_present = "audit_key")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct CountersignArgs {
    #[command(flatten)]
    t: TranscriptArgs,
    /// The person who signed, as the ceremony named them.
    #[arg(long)]
    signer: String,
    /// Their signature file (SSHSIG, PEM).
    #[arg(long)]
    signature: PathBuf,
}

#[derive(Args)]
pub(super) struct RenderArgs {
    #[command(flatten)]
    t: TranscriptArgs,
    /// The HTML page to write (replaced if it exists: render again after more signatures).
    #[arg(long)]
    out: PathBuf,
    /// The time zone dates and times are written in: wib, wita, wit or utc.
    #[arg(long, default_value = "wib")]
    zona: Zone,
}

/// A transcript read (bounded) and verified against the node's audit key.
fn load(args: &TranscriptArgs) -> anyhow::Result<(Vec<u8>, Transcript)> {
    let key: PathBuf = match (&args.audit_key, &args.data_dir) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.join("audit-key.der"),
        (None, None) => anyhow::bail!("give --audit-key or --data-dir"),
    };
    let spki = countersign::read_bounded(&key, 4096)
        .with_context(|| format!("reading the audit key {}", key.display()))?;
    let bytes = countersign::read_bounded(&args.transcript, MAX_TRANSCRIPT_BYTES)?;
    let t = Transcript::verify_with_key(&bytes, &spki).with_context(|| {
        format!(
            "{} does not verify with the audit key {}",
            args.transcript.display(),
            key.display()
        )
    })?;
    Ok((bytes, t))
}

pub(super) fn run(command: &CeremonyCommand) -> anyhow::Result<()> {
    match command {
        CeremonyCommand::Countersign(args) => countersign(args),
        CeremonyCommand::VerifyTranscript(args) => verify(args),
        CeremonyCommand::AllowedSigners(args) => {
            let (_, t) = load(args)?;
            print!("{}", countersign::allowed_signers(&t)?);
            Ok(())
        }
        CeremonyCommand::Render(args) => render(args),
    }
}

fn countersign(args: &CountersignArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(&args.t)?;
    let signature = countersign::read_bounded(&args.signature, MAX_SIGNATURE_BYTES)?;
    let stored =
        countersign::countersign(&args.t.transcript, &bytes, &t, &args.signer, &signature)?;
    println!(
        "countersignature of {} accepted; stored in {}",
        args.signer.trim(),
        stored.display()
    );
    Ok(())
}

fn verify(args: &TranscriptArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(args)?;
    println!(
        "ceremony {} ({}), {} steps: transcript verified (the node's audit key, every link)",
        t.id,
        t.ceremony,
        t.entries.len()
    );
    let report = Report::of(&countersign::status(&args.transcript, &bytes, &t)?);
    println!("countersigned by {} of {}:", report.signed, report.total);
    print!("{}", report.text);
    // A node's berita acara is complete only when everyone it names has countersigned.
    report.require(true)?;
    Ok(())
}

fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(&args.t)?;
    let html = berita_acara::render_file(&args.t.transcript, &bytes, &t, args.zona, "docsvc")?;
    write_page(&args.out, &html)?;
    println!("berita acara written to {}", args.out.display());
    Ok(())
}

fn write_page(out: &Path, html: &str) -> anyhow::Result<()> {
    std::fs::write(out, html).with_context(|| format!("writing {}", out.display()))
}
