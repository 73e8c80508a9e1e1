//! Countersignatures on a ceremony transcript (berita acara): each custodian, witness and the
//! administrator signs the transcript file, byte for byte, with their own SSH Ed25519 key, as
//! an SSHSIG in the namespace [`NAMESPACE`]: `ssh-keygen -Y sign -n sandi-berita-acara -f KEY
//! FILE`.
//!
//! Why SSH keys: every custodian's laptop already has `ssh-keygen`, which makes and verifies
//! these signatures without sandi (`ssh-keygen -Y verify` with the file [`allowed_signers`]
//! writes); the key can sit on a FIDO token or in an agent; and age encrypts to `ssh-ed25519`
//! recipients, so the same key could also receive the custodian's share. A certificate from the
//! Signing CA would make the CA attest the people who attest the CA.
//!
//! Who may countersign, and with which key, is written in the transcript itself: the
//! `ceremony.opened` step lists the roster ([`Countersigner`]), so the root key's signature
//! over the transcript binds each name to its key. The signatures live beside the transcript,
//! in `<transcript>.countersignatures/`, one file per person.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, HashAlg, PublicKey, SshSig};

use crate::transcript::Transcript;
use crate::{Error, Result};

/// The SSHSIG namespace of a countersignature: a signature made for anything else (a git
/// commit, a file) is refused.
pub const NAMESPACE: &str = "sandi-berita-acara";
/// An Ed25519 SSHSIG in PEM is about 300 bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 4 * 1024;
/// A public key line, comment included.
const MAX_KEY_CHARS: usize = 1024;
/// The largest transcript read for countersigning or rendering.
pub const MAX_TRANSCRIPT_BYTES: u64 = 4 * 1024 * 1024;

/// A person's role in a ceremony.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    Custodian,
    Witness,
}

/// One person who may countersign, as the transcript's opening step lists them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Countersigner {
    pub role: Role,
    pub name: String,
    /// `ssh-ed25519 AAAA…`, without a comment; `None` when no key was registered (this person
    /// cannot countersign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}

/// An SSH Ed25519 public key, as a person registers it.
#[derive(Clone, PartialEq, Eq)]
pub struct SshKey(PublicKey);

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SshKey({})", self.fingerprint())
    }
}

impl SshKey {
    /// Parses an OpenSSH public key line (`ssh-ed25519 AAAA… comment`); only Ed25519 keys.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.len() > MAX_KEY_CHARS {
            return Err(Error::InvalidInput(format!(
                "an SSH public key of more than {MAX_KEY_CHARS} characters"
            )));
        }
        let key = PublicKey::from_openssh(text).map_err(|e| {
            Error::InvalidInput(format!(
                "not an OpenSSH public key (ssh-ed25519 AAAA…): {e}"
            ))
        })?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(Error::InvalidInput(format!(
                "an {} key: countersignatures take ssh-ed25519 keys only",
                key.algorithm()
            )));
        }
        // The comment is the owner's business (often an e-mail address): not kept.
        Ok(SshKey(PublicKey::from(key.key_data().clone())))
    }

    /// `ssh-ed25519 AAAA…`, no comment.
    pub fn to_openssh(&self) -> String {
        self.0.to_openssh().unwrap_or_default()
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A key registered for a person, by name.
#[derive(Clone, Debug)]
pub struct NamedKey {
    pub name: String,
    pub key: SshKey,
}

impl NamedKey {
    /// A `--ssh-key` argument: `NAME=ssh-ed25519 AAAA…` or `NAME=FILE.pub` (read, bounded).
    pub fn from_spec(spec: &str) -> Result<Self> {
        let (name, key) = spec.split_once('=').ok_or_else(|| {
            Error::InvalidInput(format!(
                "--ssh-key {spec:?}: expected NAME=ssh-ed25519 AAAA… or NAME=FILE.pub"
            ))
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--ssh-key {spec:?}: no name before '='"
            )));
        }
        let key = key.trim();
        let text = if ["ssh-", "sk-", "ecdsa-"].iter().any(|p| key.starts_with(p)) {
            key.to_owned()
        } else {
            let bytes = read_bounded(Path::new(key), MAX_KEY_CHARS as u64)?;
            String::from_utf8(bytes).map_err(|_| {
                Error::InvalidInput(format!("--ssh-key for {name}: {key} is not text"))
            })?
        };
        let key = SshKey::parse(&text).map_err(|e| match e {
            Error::InvalidInput(why) => Error::InvalidInput(format!("--ssh-key for {name}: {why}")),
            other => other,
        })?;
        Ok(NamedKey {
            name: name.to_owned(),
            key,
        })
    }
}

/// Why a countersignature is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The signer is not among the ceremony's people.
    #[error("not a participant of this ceremony")]
    NotInCeremony,
    /// The signer has no key registered in the transcript.
    #[error("no SSH key was registered for them at the ceremony")]
    NoKeyRegistered,
    /// Not an SSHSIG in PEM (`-----BEGIN SSH SIGNATURE-----`).
    #[error("not an SSH signature file: {0}")]
    NotASignature(String),
    /// Larger than any countersignature.
    #[error("larger than {} bytes", MAX_SIGNATURE_BYTES)]
    TooLarge,
    /// Made for another purpose than a berita acara.
    #[error(
        "made in namespace {found:?}, not {:?} (ssh-keygen -Y sign -n {})",
        NAMESPACE,
        NAMESPACE
    )]
    WrongNamespace { found: String },
    /// Made with a key other than the one registered for the signer.
    #[error("made with key {found}, not with their registered key {registered}")]
    OtherKey { found: String, registered: String },
    /// The signature does not cover these exact transcript bytes.
    #[error("it does not verify over this transcript's bytes (signed another file or version?)")]
    OtherBytes,
    /// The signer has already countersigned.
    #[error("already countersigned ({0})")]
    Duplicate(PathBuf),
}

/// Where a person's countersignature stands.
#[derive(Debug)]
#[non_exhaustive]
pub enum Standing {
    /// A valid countersignature, in this file.
    Countersigned(PathBuf),
    /// A key is registered; no countersignature yet.
    NotYet,
    /// No key registered: this person cannot countersign.
    NoKey,
    /// A file that does not verify (the transcript changed, or the file was replaced).
    Invalid(PathBuf, Refusal),
}

/// One person of the roster and where their countersignature stands.
#[derive(Debug)]
pub struct SignerStatus {
    pub signer: Countersigner,
    pub fingerprint: Option<String>,
    pub standing: Standing,
}

fn refuse(signer: &str, refusal: Refusal) -> Error {
    Error::Countersignature {
        signer: signer.to_owned(),
        refusal,
    }
}

/// A person's name as countersignatures match it (trimmed, Unicode lower case): two names
/// that are one person here must be one person in every roster.
pub fn norm(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The roster of a ceremony: every person with their role, and the key registered for them.
/// Refuses a key for someone who is not in the ceremony, two keys for one person, and one key
/// for two people (a countersignature must say who made it).
pub fn roster(people: &[(Role, &str)], keys: &[NamedKey]) -> Result<Vec<Countersigner>> {
    for (i, k) in keys.iter().enumerate() {
        if !people.iter().any(|(_, n)| norm(n) == norm(&k.name)) {
            return Err(Error::Roles(format!(
                "an SSH key was given for {}, who has no role in this ceremony",
                k.name
            )));
        }
        if let Some(other) = keys[..i].iter().find(|o| norm(&o.name) == norm(&k.name)) {
            return Err(Error::Roles(format!(
                "two SSH keys were given for {}",
                other.name
            )));
        }
        if let Some(other) = keys[..i].iter().find(|o| o.key == k.key) {
            return Err(Error::Roles(format!(
                "{} and {} gave the same SSH key {}: each person signs with their own",
                other.name,
                k.name,
                k.key.fingerprint()
            )));
        }
    }
    Ok(people
        .iter()
        .map(|(role, name)| Countersigner {
            role: *role,
            name: (*name).to_owned(),
            ssh_public_key: keys
                .iter()
                .find(|k| norm(&k.name) == norm(name))
                .map(|k| k.key.to_openssh()),
        })
        .collect())
}

/// The roster a transcript registered at its opening (`ceremony.opened`, field
/// `countersigners`); empty for a transcript written before countersignatures existed.
pub fn registered(t: &Transcript) -> Result<Vec<Countersigner>> {
    let Some(opened) = t.entries.iter().find(|e| e.step == "ceremony.opened") else {
        return Ok(Vec::new());
    };
    let Some(list) = opened.data.get("countersigners") else {
        return Ok(Vec::new());
    };
    let roster: Vec<Countersigner> =
        serde_json::from_value(list.clone()).map_err(|e| Error::Transcript {
            entry: Some(opened.seq),
            reason: format!("its list of countersigners is unreadable: {e}"),
        })?;
    for c in &roster {
        if let Some(k) = &c.ssh_public_key {
            SshKey::parse(k).map_err(|e| Error::Transcript {
                entry: Some(opened.seq),
                reason: format!("the key registered for {}: {e}", c.name),
            })?;
        }
    }
    Ok(roster)
}

/// The folder beside a transcript that holds its countersignatures.
pub fn folder(transcript: &Path) -> PathBuf {
    let mut name = transcript
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".countersignatures");
    transcript.with_file_name(name)
}

/// A person's countersignature file in [`folder`]: their place in the roster and their name.
fn file_name(index: usize, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    format!("{:02}-{}.sig", index + 1, slug.trim_end_matches('-'))
}

/// Reads at most `max` bytes of a file; a larger file is refused before it is read whole.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading", path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::InvalidInput(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Checks one countersignature: `signer` is in the roster with a key, and `signature` is an
/// SSHSIG in [`NAMESPACE`] by that key over exactly `transcript_bytes`. Returns the signer's
/// place in the roster.
pub fn check(
    transcript_bytes: &[u8],
    roster: &[Countersigner],
    signer: &str,
    signature: &[u8],
) -> Result<usize> {
    let (index, person) = roster
        .iter()
        .enumerate()
        .find(|(_, c)| norm(&c.name) == norm(signer))
        .ok_or_else(|| refuse(signer, Refusal::NotInCeremony))?;
    let key = person
        .ssh_public_key
        .as_deref()
        .ok_or_else(|| refuse(&person.name, Refusal::NoKeyRegistered))
        .and_then(SshKey::parse)?;
    verify(transcript_bytes, &key, signature).map_err(|r| refuse(&person.name, r))?;
    Ok(index)
}

fn verify(bytes: &[u8], key: &SshKey, signature: &[u8]) -> std::result::Result<(), Refusal> {
    if signature.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(Refusal::TooLarge);
    }
    let sig = SshSig::from_pem(signature).map_err(|e| Refusal::NotASignature(e.to_string()))?;
    if sig.namespace() != NAMESPACE {
        return Err(Refusal::WrongNamespace {
            found: sig.namespace().chars().take(64).collect(),
        });
    }
    if sig.public_key() != key.0.key_data() {
        return Err(Refusal::OtherKey {
            found: PublicKey::from(sig.public_key().clone())
                .fingerprint(HashAlg::Sha256)
                .to_string(),
            registered: key.fingerprint(),
        });
    }
    key.0
        .verify(NAMESPACE, bytes, &sig)
        .map_err(|_| Refusal::OtherBytes)
}

/// Checks a countersignature (see [`check`]) on the transcript at `transcript_path`, whose
/// bytes and parsed (verified) form the caller gives, and stores it beside the transcript.
/// A person countersigns once: a second signature is refused, even a valid one.
pub fn countersign(
    transcript_path: &Path,
    transcript_bytes: &[u8],
    t: &Transcript,
    signer: &str,
    signature: &[u8],
) -> Result<PathBuf> {
    let roster = registered(t)?;
    let index = check(transcript_bytes, &roster, signer, signature)?;
    let name = &roster[index].name;
    let dir = folder(transcript_path);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let path = dir.join(file_name(index, name));
    if path.exists() {
        return Err(refuse(name, Refusal::Duplicate(path)));
    }
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(refuse(name, Refusal::Duplicate(path)));
        }
        Err(e) => return Err(Error::io("creating", &path, e)),
    };
    std::io::Write::write_all(&mut f, signature)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("writing", &path, e))?;
    Ok(path)
}

/// Where each person of the roster stands: countersigned (the stored file verifies over these
/// bytes), not yet, no key, or a stored file that does not verify.
pub fn status(
    transcript_path: &Path,
    transcript_bytes: &[u8],
    t: &Transcript,
) -> Result<Vec<SignerStatus>> {
    let dir = folder(transcript_path);
    let roster = registered(t)?;
    let mut out = Vec::with_capacity(roster.len());
    for (i, c) in roster.into_iter().enumerate() {
        let key = c.ssh_public_key.as_deref().map(SshKey::parse).transpose()?;
        let fingerprint = key.as_ref().map(SshKey::fingerprint);
        let standing = match &key {
            None => Standing::NoKey,
            Some(key) => {
                let path = dir.join(file_name(i, &c.name));
                if path.exists() {
                    let sig = read_bounded(&path, MAX_SIGNATURE_BYTES).unwrap_or_default();
                    match verify(transcript_bytes, key, &sig) {
                        Ok(()) => Standing::Countersigned(path),
                        Err(r) => Standing::Invalid(path, r),
                    }
                } else {
                    Standing::NotYet
                }
            }
        };
        out.push(SignerStatus {
            signer: c,
            fingerprint,
            standing,
        });
    }
    Ok(out)
}

/// An `allowed_signers` file for `ssh-keygen -Y verify -f FILE -I ID -n sandi-berita-acara -s
/// SIG < TRANSCRIPT`: one line per person with a key, the identity being the name of their
/// file in [`folder`] without `.sig` (names may hold spaces; identities may not).
pub fn allowed_signers(t: &Transcript) -> Result<String> {
    let mut out = format!(
        "# Countersigners of ceremony {} ({}); namespace {NAMESPACE}\n",
        t.id, t.ceremony
    );
    for (i, c) in registered(t)?.iter().enumerate() {
        if let Some(k) = &c.ssh_public_key {
            let id = file_name(i, &c.name);
            let id = id.trim_end_matches(".sig");
            let name: String = c.name.chars().filter(|ch| !ch.is_control()).collect();
            let _ = writeln!(out, "# {name}\n{id} namespaces=\"{NAMESPACE}\" {k}");
        }
    }
    Ok(out)
}

/// The identity of a person in [`allowed_signers`], for `ssh-keygen -Y verify -I`.
pub fn identity(roster: &[Countersigner], name: &str) -> Option<String> {
    roster
        .iter()
        .enumerate()
        .find(|(_, c)| norm(&c.name) == norm(name))
        .map(|(i, c)| file_name(i, &c.name).trim_end_matches(".sig").to_owned())
}

/// How many of the roster have validly countersigned, one line per person (role, name, key
/// fingerprint, standing), and which stored files do not verify.
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub signed: usize,
    pub total: usize,
    /// The people whose stored countersignature does not verify, with why.
    pub invalid: Vec<String>,
    /// The people who have not (validly) countersigned: no file, or no key registered.
    pub missing: Vec<String>,
}

impl Report {
    pub fn of(statuses: &[SignerStatus]) -> Report {
        let width = statuses
            .iter()
            .map(|s| s.signer.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        let mut r = Report {
            text: String::new(),
            signed: 0,
            total: statuses.len(),
            invalid: Vec::new(),
            missing: Vec::new(),
        };
        for s in statuses {
            let (mark, text) = match &s.standing {
                Standing::Countersigned(_) => {
                    r.signed += 1;
                    ("x", "countersigned".to_owned())
                }
                Standing::NotYet => {
                    r.missing.push(s.signer.name.clone());
                    (" ", "not yet countersigned".to_owned())
                }
                Standing::NoKey => {
                    r.missing.push(s.signer.name.clone());
                    ("-", "no SSH key registered: cannot countersign".to_owned())
                }
                Standing::Invalid(path, why) => {
                    r.invalid.push(format!("{}: {why}", s.signer.name));
                    ("!", format!("INVALID ({}): {why}", path.display()))
                }
            };
            let _ = writeln!(
                r.text,
                "  [{mark}] {:<13} {:<width$}  {:<50}  {text}",
                format!("{:?}", s.signer.role).to_lowercase(),
                s.signer.name,
                s.fingerprint.as_deref().unwrap_or("-"),
            );
        }
        r
    }

    /// Refuses a stored countersignature that does not verify and, if `all`, anyone on the
    /// roster (or an empty roster) without a valid countersignature.
    pub fn require(&self, all: bool) -> Result<()> {
        if !self.invalid.is_empty() {
            return Err(Error::NotCountersigned(format!(
                "{} countersignature file(s) do not verify over this transcript ({})",
                self.invalid.len(),
                self.invalid.join("; ")
            )));
        }
        if all && self.total == 0 {
            return Err(Error::NotCountersigned(
                "the transcript names nobody who may countersign it (no --ssh-key at the ceremony)"
                    .into(),
            ));
        }
        if all && !self.missing.is_empty() {
            return Err(Error::NotCountersigned(format!(
                "{} of {} have not countersigned: {}",
                self.missing.len(),
                self.total,
                self.missing.join(", ")
            )));
        }
        Ok(())
    }
}
