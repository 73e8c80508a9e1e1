//! The ceremony transcript (berita acara): every step with its time, who did it and who
//! witnessed it, and hashes of what it produced; each entry hash-linked to the one before and
//! the whole signed with the root key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyHandle, KeyStore, SignatureAlgorithm, verify_signature};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Error, Result};

const FORMAT: &str = "sandi-transcript-v1";
const ENTRY_CONTEXT: &[u8] = b"sandi transcript entry v1\0";
const SIGNATURE_CONTEXT: &[u8] = b"sandi transcript signature v1\0";

/// One step of a ceremony.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: usize,
    pub time: String,
    pub step: String,
    /// Who performed the step, as "role: name".
    pub actor: String,
    pub witnesses: Vec<String>,
    /// What the step produced: fingerprints, hashes, ids; never secrets.
    pub data: Value,
    /// Hex SHA-256 of the previous entry (zeros for the first).
    pub prev: String,
    pub hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptSignature {
    pub algorithm: SignatureAlgorithm,
    pub value: String,
}

/// A ceremony's whole record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    pub format: String,
    pub id: uuid::Uuid,
    /// Which ceremony: init, reshare, issue-intermediate, ...
    pub ceremony: String,
    /// SHA-256 of the root certificate (DER) whose key signs this transcript.
    pub root_certificate_sha256: String,
    pub entries: Vec<Entry>,
    pub signature: Option<TranscriptSignature>,
}

fn entry_hash(e: &Entry) -> Result<[u8; 32]> {
    let body = serde_json::json!({
        "seq": e.seq, "time": e.time, "step": e.step, "actor": e.actor,
        "witnesses": e.witnesses, "data": e.data,
    });
    let prev = hex::decode(&e.prev).map_err(|_| Error::Transcript {
        entry: Some(e.seq),
        reason: "the link to the previous entry is not hex".into(),
    })?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(ENTRY_CONTEXT);
    ctx.update(&prev);
    ctx.update(body.to_string().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

fn signed_message(t: &Transcript) -> Vec<u8> {
    let mut m = SIGNATURE_CONTEXT.to_vec();
    m.extend_from_slice(t.id.as_bytes());
    m.extend_from_slice(t.ceremony.as_bytes());
    m.push(0);
    m.extend_from_slice(t.root_certificate_sha256.as_bytes());
    m.push(0);
    if let Some(last) = t.entries.last() {
        m.extend_from_slice(last.hash.as_bytes());
    }
    m
}

pub(crate) fn now_text() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

impl Transcript {
    pub fn new(ceremony: &str) -> Self {
        Transcript {
            format: FORMAT.into(),
            id: uuid::Uuid::new_v4(),
            ceremony: ceremony.into(),
            root_certificate_sha256: String::new(),
            entries: Vec::new(),
            signature: None,
        }
    }

    /// Appends a step, linked to the one before.
    pub fn record(
        &mut self,
        step: &str,
        actor: &str,
        witnesses: &[String],
        data: Value,
    ) -> Result<()> {
        let prev = self
            .entries
            .last()
            .map_or_else(|| hex::encode([0u8; 32]), |e| e.hash.clone());
        let mut e = Entry {
            seq: self.entries.len(),
            time: now_text(),
            step: step.into(),
            actor: actor.into(),
            witnesses: witnesses.to_vec(),
            data,
            prev,
            hash: String::new(),
        };
        e.hash = hex::encode(entry_hash(&e)?);
        self.entries.push(e);
        Ok(())
    }

    /// Signs the transcript with the root key.
    pub(crate) fn sign(
        &mut self,
        store: &dyn KeyStore,
        root_key: &KeyHandle,
        root_cert_der: &[u8],
    ) -> Result<()> {
        self.root_certificate_sha256 = sha256_hex(root_cert_der);
        let sig = store.sign(root_key, &signed_message(self))?;
        self.signature = Some(TranscriptSignature {
            algorithm: sig.algorithm,
            value: B64.encode(sig.bytes),
        });
        Ok(())
    }

    /// Signs the transcript of a ceremony that has no root certificate (a docsvc node's init
    /// or reshare) with `key`, whose SubjectPublicKeyInfo (DER) is `spki`:
    /// `root_certificate_sha256` then holds the SHA-256 of that SubjectPublicKeyInfo, and
    /// [`Transcript::verify_with_key`] checks it.
    pub fn sign_with_key(
        &mut self,
        store: &dyn KeyStore,
        key: &KeyHandle,
        spki: &[u8],
    ) -> Result<()> {
        self.root_certificate_sha256 = sha256_hex(spki);
        let sig = store.sign(key, &signed_message(self))?;
        self.signature = Some(TranscriptSignature {
            algorithm: sig.algorithm,
            value: B64.encode(sig.bytes),
        });
        Ok(())
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses and verifies a transcript against the root certificate: every link, every hash,
    /// and the signature. The error names the first entry that does not match.
    pub fn verify(bytes: &[u8], root_cert_der: &[u8]) -> Result<Self> {
        let spki = crate::ca::spki_of_cert(root_cert_der)?;
        Self::verify_signed(bytes, &sha256_hex(root_cert_der), &spki, "root key's")
    }

    /// Parses and verifies a transcript signed by [`Transcript::sign_with_key`] against the
    /// signer's SubjectPublicKeyInfo (DER).
    pub fn verify_with_key(bytes: &[u8], spki: &[u8]) -> Result<Self> {
        Self::verify_signed(bytes, &sha256_hex(spki), spki, "signer's")
    }

    fn verify_signed(bytes: &[u8], signer_sha256: &str, spki: &[u8], whose: &str) -> Result<Self> {
        let t: Transcript = serde_json::from_slice(bytes).map_err(|e| Error::Transcript {
            entry: None,
            reason: format!("not a readable transcript: {e}"),
        })?;
        if t.format != FORMAT {
            return Err(Error::Transcript {
                entry: None,
                reason: format!("unknown format {:?}", t.format),
            });
        }
        let mut prev = hex::encode([0u8; 32]);
        for (i, e) in t.entries.iter().enumerate() {
            if e.seq != i {
                return Err(Error::Transcript {
                    entry: Some(i),
                    reason: format!("out of order (says it is entry {})", e.seq),
                });
            }
            if e.prev != prev {
                return Err(Error::Transcript {
                    entry: Some(i),
                    reason: "does not link to the entry before it".into(),
                });
            }
            if hex::encode(entry_hash(e)?) != e.hash {
                return Err(Error::Transcript {
                    entry: Some(i),
                    reason: format!("its content does not match its hash (step {:?})", e.step),
                });
            }
            prev.clone_from(&e.hash);
        }
        if t.root_certificate_sha256 != signer_sha256 {
            return Err(Error::Transcript {
                entry: None,
                reason: "it was signed for another root certificate or key".into(),
            });
        }
        let sig = t.signature.as_ref().ok_or(Error::Transcript {
            entry: None,
            reason: "it is not signed".into(),
        })?;
        let value = B64.decode(&sig.value).map_err(|_| Error::Transcript {
            entry: None,
            reason: "the signature is not base64".into(),
        })?;
        verify_signature(spki, sig.algorithm, &signed_message(&t), &value).map_err(|_| {
            Error::Transcript {
                entry: None,
                reason: format!("the {whose} signature does not verify"),
            }
        })?;
        Ok(t)
    }
}
