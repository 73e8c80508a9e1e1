//! C2SP signed notes, checkpoints and cosignatures: the format in which keymgr's issuance log
//! and every node's access log publish their heads, so that witnesses and monitors written for
//! Certificate Transparency and the Go checksum database can follow them. Pure format code:
//! the keys stay in hsm-shim, and `sign` closures reach them.
//!
//! - `signed-note`: a text, a blank line, then `— <name> base64(keyhash[4] || signature)`
//!   lines; an Ed25519 key's hash is SHA-256(name || "\n" || 0x01 || key)[..4].
//! - `tlog-checkpoint`: the text is the origin, the size and the base64 root, one a line.
//! - `tlog-cosignature/v1`: a witness's line, key hash with type 0x04, then the time
//!   (big-endian seconds), then Ed25519 over `cosignature/v1\ntime <t>\n<text>`.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyId, KeyKind, KeyStore};

use crate::merkle::Hash;
use crate::{Error, Result};

/// The signature type byte of an Ed25519 note key (C2SP signed-note).
pub const ED25519_TYPE: u8 = 0x01;
/// The signature type byte of a witness cosignature (C2SP tlog-cosignature).
pub const COSIGNATURE_TYPE: u8 = 0x04;
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The longest note read: a checkpoint with a few dozen cosignatures is far below it.
pub const MAX_NOTE: usize = 16 * 1024;

/// The raw Ed25519 public key in a SubjectPublicKeyInfo, if it is one.
pub fn ed25519_public(spki: &[u8]) -> Option<[u8; 32]> {
    spki.strip_prefix(&SPKI_ED25519_PREFIX[..])
        .and_then(|k| k.try_into().ok())
}

/// A log's note key in a keystore: its name (the log's origin), raw Ed25519 public key and
/// key id.
#[derive(Clone, Debug)]
pub struct NoteKey {
    pub id: KeyId,
    pub name: String,
    pub public: [u8; 32],
}

impl NoteKey {
    pub fn vkey(&self) -> String {
        vkey(&self.name, &self.public)
    }

    /// The checkpoint of `size` and `root` signed with this key.
    pub fn checkpoint(&self, keys: &dyn KeyStore, size: u64, root: &Hash) -> Result<String> {
        self.statement(keys, &self.name, size, root)
    }

    /// A note in the checkpoint's shape under another first line (`origin`), signed with this
    /// key: a statement no verifier of this key's checkpoints takes for one, since they check
    /// the origin line.
    pub fn statement(
        &self,
        keys: &dyn KeyStore,
        origin: &str,
        size: u64,
        hash: &Hash,
    ) -> Result<String> {
        let handle = keys.info(self.id)?.handle();
        signed_note::<Error>(&body(origin, size, hash), &self.name, &self.public, |m| {
            Ok(keys.sign(&handle, m)?.bytes)
        })
    }

    /// This key's cosignature line, as witness `name`, over a checkpoint's `text` at `time`.
    pub fn cosign(&self, keys: &dyn KeyStore, name: &str, text: &str, time: u64) -> Result<String> {
        let handle = keys.info(self.id)?.handle();
        cosignature::<Error>(name, &self.public, text, time, |m| {
            Ok(keys.sign(&handle, m)?.bytes)
        })
    }
}

/// Finds the note key named in `key_file`, or makes one (labelled `label`) and names it
/// there. The file is written once (create-new), so every process and every restart signs
/// with the same key; of two processes racing to make it, the first name written wins and
/// the other key is destroyed.
pub fn load_or_create(
    keys: &dyn KeyStore,
    label: &str,
    name: &str,
    key_file: &Path,
) -> Result<NoteKey> {
    let bad = |reason: String| Error::Log { entry: 0, reason };
    let named = |text: &str| -> Result<KeyId> {
        text.trim()
            .parse()
            .map_err(|_| bad(format!("{}: not a key id", key_file.display())))
    };
    let id = match std::fs::read_to_string(key_file) {
        Ok(text) => named(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let made = keys.generate(KeyKind::Ed25519, label)?;
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(key_file)
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, format!("{}\n", made.id()).as_bytes())?;
                    f.sync_all()
                });
            match written {
                Ok(()) => made.id(),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = keys.destroy(&made);
                    named(
                        &std::fs::read_to_string(key_file)
                            .map_err(|e| Error::io("reading", key_file, e))?,
                    )?
                }
                Err(e) => return Err(Error::io("writing", key_file, e)),
            }
        }
        Err(e) => return Err(Error::io("reading", key_file, e)),
    };
    let info = keys.info(id)?;
    if info.kind != KeyKind::Ed25519 || info.state != hsm_shim::KeyState::Active {
        return Err(bad(format!(
            "the note key {id} is not an active Ed25519 key"
        )));
    }
    let public = ed25519_public(&keys.public_key(&info.handle())?)
        .ok_or_else(|| bad(format!("the note key {id} is not an Ed25519 key")))?;
    Ok(NoteKey {
        id,
        name: name.to_owned(),
        public,
    })
}

/// A key's 4-byte hash: SHA-256(name || "\n" || type || public key)[..4].
pub fn key_hash(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(name.as_bytes());
    d.update(b"\n");
    d.update(&[kind]);
    d.update(public);
    let h = d.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(&h.as_ref()[..4]);
    out
}

/// The verifier key as witnesses and `note` tools read it: `name+hash+base64(type||key)`.
pub fn vkey(name: &str, public: &[u8; 32]) -> String {
    let mut k = vec![ED25519_TYPE];
    k.extend_from_slice(public);
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, ED25519_TYPE, public)),
        B64.encode(k)
    )
}

/// The checkpoint body for `size` and `root` (C2SP tlog-checkpoint: origin, size, base64
/// root, each on its own line).
pub fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// The root of the empty tree: the hash of nothing (RFC 9162 2.1.1).
pub fn empty_root() -> Hash {
    let mut root = [0u8; 32];
    root.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b"").as_ref());
    root
}

/// A signed note of `text` by the key named `name` whose public key is `public`; `sign`
/// makes the Ed25519 signature over the text.
pub fn signed_note<E>(
    text: &str,
    name: &str,
    public: &[u8; 32],
    sign: impl FnOnce(&[u8]) -> std::result::Result<Vec<u8>, E>,
) -> std::result::Result<String, E> {
    let mut line = key_hash(name, ED25519_TYPE, public).to_vec();
    line.extend_from_slice(&sign(text.as_bytes())?);
    Ok(format!("{text}\n\u{2014} {name} {}\n", B64.encode(line)))
}

/// A witness's cosignature line over a checkpoint's `text` at `time` (seconds since the
/// epoch), as the witness named `name` with Ed25519 key `public`; `sign` signs the message.
pub fn cosignature<E>(
    name: &str,
    public: &[u8; 32],
    text: &str,
    time: u64,
    sign: impl FnOnce(&[u8]) -> std::result::Result<Vec<u8>, E>,
) -> std::result::Result<String, E> {
    let mut line = key_hash(name, COSIGNATURE_TYPE, public).to_vec();
    line.extend_from_slice(&time.to_be_bytes());
    line.extend_from_slice(&sign(cosigned_message(text, time).as_bytes())?);
    Ok(format!("\u{2014} {name} {}\n", B64.encode(line)))
}

fn cosigned_message(text: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// Another log's (or witness's) verifier key, parsed (`name+hash+base64(type||key)`, Ed25519
/// only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub public: [u8; 32],
}

/// Parses a verifier key; its hash must match its name and key.
pub fn parse_vkey(text: &str) -> Result<Verifier> {
    let bad = |why: &str| Error::InvalidInput(format!("note verifier key: {why}"));
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+hash+key"));
    };
    let raw = B64.decode(data).map_err(|_| bad("the key is not base64"))?;
    let Some((&ED25519_TYPE, key)) = raw.split_first() else {
        return Err(bad("not an Ed25519 key"));
    };
    let public = <[u8; 32]>::try_from(key).map_err(|_| bad("not an Ed25519 key"))?;
    if name.is_empty()
        || name.contains(char::is_whitespace)
        || hex::encode(key_hash(name, ED25519_TYPE, &public)) != hash
    {
        return Err(bad("its hash does not match its name and key"));
    }
    Ok(Verifier {
        name: name.to_owned(),
        public,
    })
}

/// A checkpoint opened: its text (the signed body) and what it says.
#[derive(Clone, Debug)]
pub struct Opened {
    pub text: String,
    /// The signature line by the log's key that verified (with its newline).
    pub sig_line: String,
    /// The other signature lines, unchecked (cosignatures among them), each with its newline.
    pub other_lines: Vec<String>,
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Opened {
    /// The times at which `witness` cosigned this checkpoint, from its valid lines.
    pub fn cosigned_by(&self, witness: &Verifier) -> Option<u64> {
        let hash = key_hash(&witness.name, COSIGNATURE_TYPE, &witness.public);
        let key =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, witness.public);
        self.other_lines.iter().find_map(|line| {
            let sig = line_signature(line, &witness.name)?;
            if sig.len() != 4 + 8 + 64 || sig[..4] != hash {
                return None;
            }
            let time = u64::from_be_bytes(sig[4..12].try_into().ok()?);
            key.verify(cosigned_message(&self.text, time).as_bytes(), &sig[12..])
                .ok()
                .map(|()| time)
        })
    }
}

/// The decoded signature of a `— name sig` line by `name`.
fn line_signature(line: &str, name: &str) -> Option<Vec<u8>> {
    line.trim_end_matches('\n')
        .strip_prefix("\u{2014} ")
        .and_then(|l| l.split_once(' '))
        .filter(|(n, _)| *n == name)
        .and_then(|(_, sig)| B64.decode(sig).ok())
}

/// Opens a signed checkpoint: one signature line by `v` must verify over the text, whose
/// origin must be `origin`.
pub fn open(v: &Verifier, note: &str, origin: &str) -> Result<Opened> {
    let bad = |why: String| Error::InvalidInput(format!("checkpoint: {why}"));
    if note.len() > MAX_NOTE {
        return Err(bad(format!("longer than {MAX_NOTE} bytes")));
    }
    let at = note
        .rfind("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures".into()))?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    let hash = key_hash(&v.name, ED25519_TYPE, &v.public);
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, v.public);
    let mut sig_line = None;
    let mut other_lines = Vec::new();
    for line in sigs.split('\n').filter(|l| !l.is_empty()) {
        let good = sig_line.is_none()
            && line_signature(line, &v.name).is_some_and(|sig| {
                sig.len() == 68
                    && sig[..4] == hash
                    && key.verify(text.as_bytes(), &sig[4..]).is_ok()
            });
        if good {
            sig_line = Some(format!("{line}\n"));
        } else {
            other_lines.push(format!("{line}\n"));
        }
    }
    let Some(sig_line) = sig_line else {
        return Err(bad(format!("no valid signature by {}", v.name)));
    };
    let mut lines = text.split('\n');
    let (Some(o), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(bad("fewer than three lines".into()));
    };
    if o != origin {
        return Err(bad(format!("origin {o:?}, not {origin:?}")));
    }
    let size: u64 = size
        .parse()
        .ok()
        .filter(|_| size.bytes().all(|b| b.is_ascii_digit()))
        .filter(|_| size == "0" || !size.starts_with('0'))
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| bad("the size is not a decimal".into()))?;
    let root = B64
        .decode(root)
        .ok()
        .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
        .ok_or_else(|| bad("the root is not 32 bytes of base64".into()))?;
    if size == 0 && root != empty_root() {
        return Err(bad("an empty log's root is not the hash of nothing".into()));
    }
    Ok(Opened {
        text: text.to_owned(),
        sig_line,
        other_lines,
        origin: o.to_owned(),
        size,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(seed: u8) -> (ring::signature::Ed25519KeyPair, [u8; 32]) {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("seed");
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .try_into()
            .expect("32 bytes");
        (pair, public)
    }

    #[test]
    fn the_key_hash_and_vkey_follow_the_note_format() {
        let name = "sandi/dinkes/access-log";
        let v = vkey(name, &[7u8; 32]);
        let parts: Vec<&str> = v.split('+').collect();
        assert_eq!(parts[0], name);
        assert_eq!(
            parts[1],
            hex::encode(key_hash(name, ED25519_TYPE, &[7u8; 32]))
        );
        let raw = B64.decode(parts[2]).expect("base64");
        assert_eq!(raw[0], 0x01);
        assert_eq!(&raw[1..], &[7u8; 32]);
        assert_eq!(parse_vkey(&v).expect("parses").public, [7u8; 32]);
        // Another name, another key hash: a key cannot be reused under two origins unseen.
        assert_ne!(
            key_hash("sandi/bappeda/access-log", ED25519_TYPE, &[7u8; 32]),
            key_hash(name, ED25519_TYPE, &[7u8; 32])
        );
        assert!(parse_vkey(&v.replace("dinkes", "bappeda")).is_err());
    }

    /// The Go note package's published example (golang.org/x/mod/sumdb/note): its signer key,
    /// signed through [`signed_note`], gives its verifier key and its note byte for byte, so
    /// Go's witnesses and verifiers read our checkpoints.
    #[test]
    fn the_go_note_example_byte_for_byte() {
        let skey = B64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .expect("base64");
        assert_eq!(skey[0], ED25519_TYPE);
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&skey[1..]).expect("seed");
        let public: [u8; 32] = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .try_into()
            .expect("32 bytes");
        assert_eq!(
            vkey("PeterNeumann", &public),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = signed_note::<Error>(text, "PeterNeumann", &public, |m| {
            Ok(pair.sign(m).as_ref().to_vec())
        })
        .expect("signed");
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
    }

    #[test]
    fn cosignatures_verify_only_for_their_witness_and_text() {
        let (log, log_public) = pair(1);
        let (witness, witness_public) = pair(2);
        let (_, stranger_public) = pair(3);
        let origin = "sandi/keymgr/issuance-log";
        let text = body(origin, 3, &[9u8; 32]);
        let note = signed_note::<Error>(&text, origin, &log_public, |m| {
            Ok(log.sign(m).as_ref().to_vec())
        })
        .expect("signed");
        let line = cosignature::<Error>("w", &witness_public, &text, 1_700_000_000, |m| {
            Ok(witness.sign(m).as_ref().to_vec())
        })
        .expect("cosigned");
        let cosigned = format!("{note}{line}");
        let logv = parse_vkey(&vkey(origin, &log_public)).expect("vkey");
        let opened = open(&logv, &cosigned, origin).expect("opens");
        assert_eq!((opened.size, opened.root), (3, [9u8; 32]));
        let w = Verifier {
            name: "w".into(),
            public: witness_public,
        };
        assert_eq!(opened.cosigned_by(&w), Some(1_700_000_000));
        // Another key under the same name, or the line moved to another checkpoint: nothing.
        let s = Verifier {
            name: "w".into(),
            public: stranger_public,
        };
        assert_eq!(opened.cosigned_by(&s), None);
        let other = signed_note::<Error>(&body(origin, 4, &[9u8; 32]), origin, &log_public, |m| {
            Ok(log.sign(m).as_ref().to_vec())
        })
        .expect("signed");
        let moved = open(&logv, &format!("{other}{line}"), origin).expect("opens");
        assert_eq!(moved.cosigned_by(&w), None);
        // The log's own signature is not a cosignature, and a bad origin is refused.
        assert!(open(&logv, &cosigned, "sandi/other/issuance-log").is_err());
        assert!(
            open(&logv, &cosigned.replace("\n3\n", "\n03\n"), origin).is_err(),
            "a non-canonical size does not verify (the text changed) nor parse"
        );
    }
}
