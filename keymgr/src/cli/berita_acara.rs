//! `keymgr ceremony countersign | verify-transcript | allowed-signers | render`: the berita
//! acara of a ceremony, countersigned by the people present with their SSH keys, checked, and
//! rendered as a printable page; and the `--ssh-key` and `--place` a ceremony records for it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use keymgr::berita_acara::{self, Zone};
use keymgr::ca::{Ca, Home};
use keymgr::ceremony::Minutes;
use keymgr::countersign::{self, MAX_SIGNATURE_BYTES, MAX_TRANSCRIPT_BYTES, NamedKey, Report};
use keymgr::transcript::Transcript;

use super::read;

/// What a ceremony records for its berita acara.
#[derive(Args)]
pub(super) struct MinutesArgs {
    /// Where the ceremony is held (tempat), as the berita acara names it.
    #[arg(long)]
    place: Option<String>,
    /// The SSH Ed25519 key a person countersigns the transcript with: NAME=ssh-ed25519 AAAA…
    /// or NAME=FILE.pub. Give one for every custodian and witness present (and the
    /// administrator); a custodian's key is kept for later ceremonies.
    #[arg(long = "ssh-key")]
    ssh_keys: Vec<String>,
}

impl MinutesArgs {
    pub(super) fn minutes(&self) -> anyhow::Result<Minutes> {
        Ok(Minutes {
            place: self.place.clone(),
            signing_keys: self
                .ssh_keys
                .iter()
                .map(|spec| NamedKey::from_spec(spec))
                .collect::<keymgr::Result<_>>()?,
        })
    }
}

#[derive(Args)]
pub(super) struct CountersignArgs {
    /// The ceremony transcript (JSON) that was signed, byte for byte.
    #[arg(long)]
    transcript: PathBuf,
    /// The person who signed, as the ceremony named them.
    #[arg(long)]
    signer: String,
    /// Their signature: `ssh-keygen -Y sign -n sandi-berita-acara -f KEY TRANSCRIPT` writes
    /// TRANSCRIPT.sig.
    #[arg(long)]
    signature: PathBuf,
    /// The root certificate (PEM); defaults to the one in the home.
    #[arg(long)]
    root: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct TranscriptArgs {
    /// The ceremony transcript (JSON).
    transcript: PathBuf,
    /// The root certificate (PEM); defaults to the one in the home.
    #[arg(long)]
    root: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct VerifyArgs {
    #[command(flatten)]
    t: TranscriptArgs,
    /// Fail unless everyone on the roster has countersigned.
    #[arg(long)]
    require_all: bool,
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

/// A transcript read (bounded) and verified against the root certificate.
fn load(home: &Home, args: &TranscriptArgs) -> anyhow::Result<(Vec<u8>, Transcript)> {
    let root_der = match &args.root {
        Some(p) => keymgr::ca::pem_to_der(&String::from_utf8_lossy(&read(p)?))
            .with_context(|| format!("{} is not a PEM certificate", p.display()))?,
        None => home.cert_der(Ca::Root)?,
    };
    let bytes = countersign::read_bounded(&args.transcript, MAX_TRANSCRIPT_BYTES)?;
    let t = Transcript::verify(&bytes, &root_der)
        .with_context(|| format!("{} does not verify", args.transcript.display()))?;
    Ok((bytes, t))
}

pub(super) fn countersign(home: &Home, args: &CountersignArgs) -> anyhow::Result<()> {
    let targs = TranscriptArgs {
        transcript: args.transcript.clone(),
        root: args.root.clone(),
    };
    let (bytes, t) = load(home, &targs)?;
    let signature = countersign::read_bounded(&args.signature, MAX_SIGNATURE_BYTES)?;
    let stored = countersign::countersign(&args.transcript, &bytes, &t, &args.signer, &signature)?;
    println!(
        "countersignature of {} accepted; stored in {}",
        args.signer.trim(),
        stored.display()
    );
    Ok(())
}

pub(super) fn verify(home: &Home, args: &VerifyArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(home, &args.t)?;
    println!(
        "ceremony {} ({}), {} steps: transcript verified (root key's signature, every link)",
        t.id,
        t.ceremony,
        t.entries.len()
    );
    let report = Report::of(&countersign::status(&args.t.transcript, &bytes, &t)?);
    println!("countersigned by {} of {}:", report.signed, report.total);
    print!("{}", report.text);
    report.require(args.require_all)?;
    Ok(())
}

pub(super) fn allowed_signers(home: &Home, args: &TranscriptArgs) -> anyhow::Result<()> {
    let (_, t) = load(home, args)?;
    print!("{}", countersign::allowed_signers(&t)?);
    Ok(())
}

pub(super) fn render(home: &Home, args: &RenderArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(home, &args.t)?;
    let html = berita_acara::render_file(&args.t.transcript, &bytes, &t, args.zona, "keymgr")?;
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    println!("berita acara written to {}", args.out.display());
    Ok(())
}
