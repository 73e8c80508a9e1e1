//! `keymgr ceremony countersign | verify-transcript | allowed-signers | render`: the berita
//! acara of a ceremony, countersigned by the people present with their SSH keys, checked, and
//! rendered as a printable page; and the `--ssh-key` and `--place` a ceremony records for it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use keymgr::berita_acara::{self, Zone};
use keymgr::ca::{Ca, Home};
use keymgr::ceremony::Minutes;
use keymgr::countersign::{
    self, MAX_SIGNATURE_BYTES, MAX_TRANSCRIPT_BYTES, NamedKey, SshKey, Standing,
};
use keymgr::transcript::{Transcript, sha256_hex};

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
        let mut signing_keys = Vec::new();
        for spec in &self.ssh_keys {
            let (name, key) = spec.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--ssh-key {spec:?}: expected NAME=KEY or NAME=FILE.pub")
            })?;
            let key = key.trim();
            let text = if ["ssh-", "sk-", "ecdsa-"].iter().any(|p| key.starts_with(p)) {
                key.to_owned()
            } else {
                let bytes = countersign::read_bounded(Path::new(key), 4096)?;
                String::from_utf8(bytes).with_context(|| format!("{key} is not text"))?
            };
            let key = SshKey::parse(&text).with_context(|| format!("--ssh-key for {name}"))?;
            signing_keys.push(NamedKey {
                name: name.trim().to_owned(),
                key,
            });
        }
        Ok(Minutes {
            place: self.place.clone(),
            signing_keys,
        })
    }
}

/// The time zone of the rendered page.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Zona {
    /// UTC+7
    Wib,
    /// UTC+8
    Wita,
    /// UTC+9
    Wit,
    Utc,
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
    /// The time zone dates and times are written in.
    #[arg(long, value_enum, default_value = "wib")]
    zona: Zona,
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
    let statuses = countersign::status(&args.t.transcript, &bytes, &t)?;
    let signed = statuses
        .iter()
        .filter(|s| matches!(s.standing, Standing::Countersigned(_)))
        .count();
    println!("countersigned by {signed} of {}:", statuses.len());
    let width = statuses
        .iter()
        .map(|s| s.signer.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let mut invalid = 0;
    for s in &statuses {
        let (mark, text) = match &s.standing {
            Standing::Countersigned(_) => ("x", "countersigned".to_owned()),
            Standing::NotYet => (" ", "not yet countersigned".to_owned()),
            Standing::NoKey => ("-", "no SSH key registered: cannot countersign".to_owned()),
            Standing::Invalid(path, why) => {
                invalid += 1;
                ("!", format!("INVALID ({}): {why}", path.display()))
            }
            _ => ("?", "unknown".to_owned()),
        };
        println!(
            "  [{mark}] {:<13} {:<width$}  {:<50}  {text}",
            format!("{:?}", s.signer.role).to_lowercase(),
            s.signer.name,
            s.fingerprint.as_deref().unwrap_or("-"),
        );
    }
    if invalid > 0 {
        bail!("{invalid} countersignature file(s) do not verify over this transcript");
    }
    if args.require_all && signed < statuses.len() {
        bail!(
            "{} of {} have not countersigned",
            statuses.len() - signed,
            statuses.len()
        );
    }
    Ok(())
}

pub(super) fn allowed_signers(home: &Home, args: &TranscriptArgs) -> anyhow::Result<()> {
    let (_, t) = load(home, args)?;
    print!("{}", countersign::allowed_signers(&t)?);
    Ok(())
}

pub(super) fn render(home: &Home, args: &RenderArgs) -> anyhow::Result<()> {
    let (bytes, t) = load(home, &args.t)?;
    let statuses = countersign::status(&args.t.transcript, &bytes, &t)?;
    let opts = berita_acara::Options {
        zone: match args.zona {
            Zona::Wib => Zone::Wib,
            Zona::Wita => Zone::Wita,
            Zona::Wit => Zone::Wit,
            Zona::Utc => Zone::Utc,
        },
        file_name: args
            .t
            .transcript
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file_sha256: sha256_hex(&bytes),
    };
    let html = berita_acara::render(&t, &statuses, &opts)?;
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    println!("berita acara written to {}", args.out.display());
    Ok(())
}
