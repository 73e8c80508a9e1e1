//! A node's key ceremonies: its keystore created sealed under named custodians, each share
//! dealt age-encrypted to its custodian ([`init`], `docsvc init`), and custodian turnover
//! ([`reshare()`], `docsvc reshare`). The steps a development node (`docsvc quickstart`) takes
//! too — the keystore and the node's keys, a share sealed to a custodian — live here, and
//! quickstart calls them.
//!
//! Each ceremony writes a transcript (keymgr's berita acara format: every step, who did it,
//! who witnessed it, hashes of what it produced), signed with the node's audit key; the
//! transcript lies in the data directory (`ceremonies/`) and beside the shares dealt. Its
//! opening step names the place and each person's SSH key ([`Minutes`]), so that each of them
//! countersigns it afterwards as keymgr's are (`docsvc ceremony countersign`, see
//! [`keymgr::countersign`]).

mod init;
mod reshare;

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use hsm_shim::{CustodianShare, KeyStore, Pkcs11KeyStore, Quorum, Sealable, SoftwareKeyStore};
pub use keymgr::ceremony::Minutes;
use keymgr::countersign::Role;
use keymgr::transcript::Transcript;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Layout, NodeKeys};
use crate::private_files::write_private;
use crate::{Error, Result};

pub use init::{INIT_SCRIPT, InitOutcome, InitPlan, init};
pub use reshare::{RESHARE_SCRIPT, ReshareOutcome, ResharePlan, reshare};

/// The longest name of a custodian or witness.
const MAX_NAME: usize = 100;
/// The largest share file read (a share is one line of about 100 characters; age adds a
/// header of a few hundred bytes per recipient).
const MAX_SHARE_FILE: u64 = 16 * 1024;

/// A key custodian: their name and the age recipient their share is encrypted to (the
/// identity stays with them).
#[derive(Clone, Debug)]
pub struct Custodian {
    pub name: String,
    pub recipient: age::x25519::Recipient,
}

impl std::str::FromStr for Custodian {
    type Err = Error;

    /// `Name=age1…`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, recipient) = s.rsplit_once('=').ok_or_else(|| {
            Error::invalid(
                "custodian",
                "a custodian is given as \"Name=age1…\" (their name and their age recipient)",
            )
        })?;
        let name = check_name("custodian", name)?;
        let recipient = recipient.trim().parse().map_err(|e| {
            Error::invalid(
                "custodian",
                format!("custodian {name}: {recipient:?} is not an age X25519 recipient: {e}"),
            )
        })?;
        Ok(Custodian { name, recipient })
    }
}

/// A person's name as a ceremony records it: trimmed, non-empty, printable, bounded.
pub fn check_name(what: &'static str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            what,
            format!("a {what}'s name must be 1 to {MAX_NAME} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The custodians and witnesses of the node's current shares (`custodians.json`): public, so
/// that the next reshare can say who leaves and who joins.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custodians {
    /// The ceremony that dealt the current shares.
    pub ceremony: uuid::Uuid,
    pub threshold: u8,
    pub custodians: Vec<CustodianRecord>,
    pub witnesses: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianRecord {
    pub index: u8,
    pub name: String,
    pub recipient: String,
    /// SHA-256 of the share file as dealt.
    pub file_sha256: String,
}

impl Custodians {
    fn path(layout: &Layout) -> PathBuf {
        layout.dir().join("custodians.json")
    }

    pub fn load(layout: &Layout) -> Result<Self> {
        let path = Self::path(layout);
        let text = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::invalid("custodians file", format!("{}: {e}", path.display())))
    }

    fn save(&self, layout: &Layout) -> Result<()> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| Error::encode("the custodians", e))?;
        super::write_new(&Self::path(layout), &text)
    }
}

/// Encrypts a node keystore share to a custodian's age recipient, in a new file (0600); an
/// existing file is never overwritten. Returns the file's SHA-256.
pub fn write_share(
    path: &Path,
    share: &CustodianShare,
    to: &age::x25519::Recipient,
) -> Result<String> {
    let text = share.to_text();
    let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))
        .map_err(|e| Error::age("encrypting a share", e))?;
    let mut out = Vec::new();
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| Error::age("encrypting a share", e))?;
    w.write_all(text.as_bytes())
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| Error::age("encrypting a share", e))?;
    write_private(path, &out)?;
    Ok(keymgr::transcript::sha256_hex(&out))
}

/// Decrypts a node keystore share file with an age identity file.
pub fn read_share(path: &Path, identity_file: &Path) -> Result<CustodianShare> {
    let ids = age::IdentityFile::from_file(identity_file.to_string_lossy().into_owned())
        .map_err(|e| Error::io("reading", identity_file, e))?
        .into_identities()
        .map_err(|e| {
            Error::invalid(
                "age identity file",
                format!("{}: {e}", identity_file.display()),
            )
        })?;
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    if len > MAX_SHARE_FILE {
        return Err(Error::invalid(
            "share file",
            format!(
                "{}: {len} bytes is too large for a share file",
                path.display()
            ),
        ));
    }
    let data = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let d = age::Decryptor::new(&data[..]).map_err(|e| {
        Error::invalid(
            "share file",
            format!("{}: not an age file: {e}", path.display()),
        )
    })?;
    let mut r = d
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| Error::invalid("share file", format!("{}: {e}", path.display())))?;
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut std::io::Read::take(&mut r, MAX_SHARE_FILE), &mut text)
        .map_err(|e| Error::invalid("share file", format!("{}: {e}", path.display())))?;
    Ok(CustodianShare::parse(text.trim())?)
}

/// A node keystore just made: the keystore the node uses (the software keystore, or it routed
/// with a PKCS#11 token for the signing keys) and its software half, which seals both.
pub struct NewKeystore {
    pub keystore: Arc<dyn Sealable>,
    pub software: Arc<SoftwareKeyStore>,
}

impl std::fmt::Debug for NewKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeystore")
            .field("backend", &self.keystore.backend())
            .field("software", &self.software.dir())
            .finish()
    }
}

/// Creates the node keystore under `quorum` and, with the freshly dealt shares still in hand,
/// opens it and generates the node's keys (TLS in the local TLS keystore; audit and archive
/// keys in the node keystore, the audit key on `token` if one is given, as quickstart's
/// PKCS#11 mode puts it), saved in `keys.json`. Returns the keystore (unsealed: the caller
/// seals it once done), the keys and the shares, which are the only copies of the master key.
pub fn create_node_keys(
    layout: &Layout,
    quorum: Quorum,
    token: Option<Arc<Pkcs11KeyStore>>,
) -> Result<(NewKeystore, NodeKeys, Vec<CustodianShare>)> {
    let (software, shares) = SoftwareKeyStore::create(&layout.keystore(), quorum)?;
    for share in shares.iter().take(usize::from(quorum.threshold)) {
        software.submit_share(share.clone())?;
    }
    let software = Arc::new(software);
    let keystore = super::routed(Arc::clone(&software), token);
    let tls = super::create_tls_key(layout)?;
    let keys = super::generate_node_keys(keystore.as_ref(), tls)?;
    keys.save(layout)?;
    Ok((NewKeystore { keystore, software }, keys, shares))
}

/// A file name part made of a person's name: lowercase ASCII letters and digits.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s: String = s.trim_matches('-').chars().take(40).collect();
    if s.is_empty() { "custodian".into() } else { s }
}

/// Where each custodian's share goes in `out`: named after the node, the ceremony, the
/// custodian's number and name.
fn share_paths(
    out: &Path,
    node_id: &str,
    ceremony: &str,
    custodians: &[Custodian],
) -> Vec<PathBuf> {
    custodians
        .iter()
        .enumerate()
        .map(|(i, c)| {
            out.join(format!(
                "{}-{ceremony}-custodian-{}-{}.age",
                slug(node_id),
                i + 1,
                slug(&c.name)
            ))
        })
        .collect()
}

/// The quorum of a production node's custodians, with every name distinct across roles.
fn check_people(
    administrator: &str,
    custodians: &[Custodian],
    witnesses: &[String],
    threshold: u8,
) -> Result<Quorum> {
    let n = u8::try_from(custodians.len())
        .map_err(|_| Error::invalid("custodians", "at most 255 custodians"))?;
    let quorum = Quorum {
        threshold,
        custodians: n,
    }
    .validate(hsm_shim::Mode::Production)
    .map_err(|e| Error::invalid("threshold", e.to_string()))?;
    if witnesses.is_empty() {
        return Err(Error::invalid(
            "witnesses",
            "a ceremony needs at least one witness (--witness NAME)",
        ));
    }
    let mut seen: Vec<String> = vec![administrator.trim().to_lowercase()];
    for name in custodians.iter().map(|c| &c.name).chain(witnesses) {
        let n = name.trim().to_lowercase();
        if seen.contains(&n) {
            return Err(Error::invalid(
                "custodians",
                format!("{name} is named twice: one person holds one role in a ceremony"),
            ));
        }
        seen.push(n);
    }
    let mut recipients: Vec<String> = Vec::new();
    for c in custodians {
        let r = c.recipient.to_string();
        if recipients.contains(&r) {
            return Err(Error::invalid(
                "custodians",
                format!(
                    "{}'s age recipient is another custodian's: each custodian keeps their own identity",
                    c.name
                ),
            ));
        }
        recipients.push(r);
    }
    Ok(quorum)
}

/// `path` made absolute, its longest existing part resolved by the file system (symbolic
/// links and `..` in the order the kernel takes them), the rest (which does not exist yet, so
/// holds no link) resolved by hand: where a file would really go. `..` is not resolved by hand
/// in the existing part, since `link/..` is not the directory holding `link`.
fn resolved(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).map_err(|e| Error::io("resolving", path, e))?;
    let mut components = abs.components().peekable();
    let mut existing = PathBuf::new();
    while let Some(c) = components.peek() {
        let next = existing.join(c);
        if !existing.as_os_str().is_empty() && !next.exists() {
            break;
        }
        existing = next;
        components.next();
    }
    let mut out = existing
        .canonicalize()
        .map_err(|e| Error::io("resolving", &existing, e))?;
    for c in components {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Refuses an output directory for shares inside (or equal to) the data directory: a share
/// there would let whoever reads the data directory unseal the node.
fn check_outside(out: &Path, data_dir: &Path) -> Result<()> {
    let (o, d) = (resolved(out)?, resolved(data_dir)?);
    if o.starts_with(&d) {
        return Err(Error::invalid(
            "share output directory",
            format!(
                "{} is inside the data directory {}: the custodians' shares must never lie \
                 beside the keystore they open",
                out.display(),
                data_dir.display()
            ),
        ));
    }
    Ok(())
}

/// The opening step's data: `fields` (an object) with the place and the roster of
/// countersigners of `minutes` added. Refuses a key for someone not among `people`, two keys
/// for one person, one key for two.
fn opening(
    fields: serde_json::Value,
    minutes: &Minutes,
    people: &[(Role, &str)],
) -> Result<serde_json::Value> {
    let serde_json::Value::Object(mut all) = fields else {
        return Err(Error::invalid(
            "ceremony",
            "the opening step's data is an object",
        ));
    };
    if let serde_json::Value::Object(more) = minutes.opening(people, &minutes.signing_keys)? {
        all.extend(more);
    }
    Ok(serde_json::Value::Object(all))
}

/// Everyone in a ceremony, in the order its berita acara lists them.
fn roster<'a>(
    administrator: &'a str,
    custodians: impl IntoIterator<Item = &'a str>,
    witnesses: &'a [String],
) -> Vec<(Role, &'a str)> {
    let mut people = vec![(Role::Administrator, administrator)];
    people.extend(custodians.into_iter().map(|c| (Role::Custodian, c)));
    people.extend(witnesses.iter().map(|w| (Role::Witness, w.as_str())));
    people
}

/// A transcript under way: the steps name the administrator and the witnesses.
struct Proceedings {
    transcript: Transcript,
    admin: String,
    witnesses: Vec<String>,
}

impl Proceedings {
    fn open(
        ceremony: &str,
        script: &str,
        administrator: &str,
        witnesses: &[String],
    ) -> Result<Self> {
        let mut p = Proceedings {
            transcript: Transcript::new(ceremony),
            admin: format!("ceremony administrator: {administrator}"),
            witnesses: witnesses.iter().map(|w| format!("witness: {w}")).collect(),
        };
        p.record(
            "script",
            serde_json::json!({
                "script_sha256": keymgr::transcript::sha256_hex(script.as_bytes()),
                "tool": "docsvc",
                "version": env!("CARGO_PKG_VERSION"),
            }),
        )?;
        Ok(p)
    }

    fn record(&mut self, step: &str, data: serde_json::Value) -> Result<()> {
        Ok(self
            .transcript
            .record(step, &self.admin, &self.witnesses, data)?)
    }

    fn record_by_custodian(
        &mut self,
        custodian: &str,
        step: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        Ok(self.transcript.record(
            step,
            &format!("key custodian: {custodian}"),
            &self.witnesses,
            data,
        )?)
    }

    /// Signs with the node's audit key and writes the transcript in the data directory and
    /// beside the shares; returns both paths.
    fn close(
        mut self,
        layout: &Layout,
        keystore: &dyn KeyStore,
        keys: &NodeKeys,
        out: &Path,
        node_id: &str,
        undo: &mut Undo,
    ) -> Result<(PathBuf, PathBuf)> {
        let audit = keystore.info(keys.audit)?.handle();
        let spki = keystore.public_key(&audit)?;
        self.transcript.sign_with_key(keystore, &audit, &spki)?;
        let name = format!(
            "{}-{}-{}.json",
            slug(node_id),
            self.transcript.ceremony,
            self.transcript.id.simple()
        );
        let bytes = self.transcript.to_json();
        let dir = layout.ceremonies();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let inside = dir.join(&name);
        undo.file(&inside);
        super::write_new(&inside, &bytes)?;
        let beside = out.join(format!("transcript-{name}"));
        undo.file(&beside);
        super::write_new(&beside, &bytes)?;
        // What verifies the transcript: the audit key, also published for `audit verify`.
        let key_file = layout.dir().join("audit-key.der");
        if std::fs::read(&key_file).ok().as_deref() != Some(spki.as_slice()) {
            super::write_new(&key_file, &spki)?;
        }
        Ok((inside, beside))
    }
}

/// Step: each custodian's share encrypted to their recipient in their file, recorded as done
/// by that custodian; the files are removed again if the ceremony fails.
fn seal_shares(
    c: &mut Proceedings,
    undo: &mut Undo,
    custodians: &[Custodian],
    shares: &[CustodianShare],
    files: &[PathBuf],
) -> Result<Vec<CustodianRecord>> {
    let mut records = Vec::new();
    for (i, ((custodian, share), path)) in custodians.iter().zip(shares).zip(files).enumerate() {
        undo.file(path);
        let file_sha256 = write_share(path, share, &custodian.recipient)?;
        c.record_by_custodian(
            &custodian.name,
            "share.sealed",
            serde_json::json!({ "index": share.index(), "recipient": custodian.recipient.to_string(),
                    "file": path.file_name().map(|f| f.to_string_lossy().into_owned()),
                    "file_sha256": file_sha256 }),
        )?;
        records.push(CustodianRecord {
            index: u8::try_from(i + 1).unwrap_or(u8::MAX),
            name: custodian.name.clone(),
            recipient: custodian.recipient.to_string(),
            file_sha256,
        });
    }
    Ok(records)
}

/// Creates the output directory for shares (removed again on failure if it was new).
fn create_out_dir(out: &Path, undo: &mut Undo) -> Result<()> {
    let existed = out.exists();
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    if !existed {
        undo.dir(out);
    }
    Ok(())
}

/// Files a ceremony wrote, removed again unless it finished: a failed ceremony leaves nothing
/// half-written.
#[derive(Default)]
struct Undo {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    done: bool,
}

impl Undo {
    fn file(&mut self, p: &Path) {
        self.files.push(p.to_path_buf());
    }
    fn dir(&mut self, p: &Path) {
        self.dirs.push(p.to_path_buf());
    }
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custodians_parse_or_say_why() {
        let id = age::x25519::Identity::generate();
        let c: Custodian = format!("Ani Suryani = {}", id.to_public())
            .parse()
            .expect("custodian");
        assert_eq!(c.name, "Ani Suryani");
        assert!("Ani".parse::<Custodian>().is_err());
        assert!("Ani=age1nope".parse::<Custodian>().is_err());
        assert!(format!("={}", id.to_public()).parse::<Custodian>().is_err());
        assert!(
            format!("A\u{7}b={}", id.to_public())
                .parse::<Custodian>()
                .is_err()
        );
    }

    #[test]
    fn outputs_inside_the_data_directory_are_refused() {
        let t = tempfile::tempdir().expect("tmp");
        let data = t.path().join("node");
        std::fs::create_dir_all(&data).expect("mkdir");
        assert!(check_outside(&data.join("shares"), &data).is_err());
        assert!(check_outside(&data, &data).is_err());
        assert!(check_outside(&t.path().join("node/../node/x"), &data).is_err());
        assert!(check_outside(&t.path().join("out"), &data).is_ok());
        #[cfg(unix)]
        {
            let link = t.path().join("link");
            std::os::unix::fs::symlink(&data, &link).expect("symlink");
            assert!(check_outside(&link.join("x"), &data).is_err());
        }
    }
}
