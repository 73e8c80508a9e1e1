//! What a disposisi keeps secret and what it signs: notes and reports encrypted to the letter
//! level's archive key, and the canonical statements the disposer and the reporter sign.

use std::io::{Read as _, Write as _};

use policies::Level;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::letters::documents::{archive_identities, wrap_set};
use crate::node::Node;
use crate::store::dispositions::{Disposition, Report};
use crate::{Error, Result};

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// `plain` encrypted to the current archive key of `level`: the ciphertext and the key's id.
pub(crate) fn seal(node: &Node, level: Level, plain: &[u8]) -> Result<(Vec<u8>, String)> {
    let (ids, recipients) = wrap_set(node, &[], level)?;
    let key_id = ids
        .into_iter()
        .next()
        .ok_or_else(|| Error::KeyUnavailable(format!("no archive key of level {level}")))?;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::age("encrypting a disposisi", e))?;
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| Error::age("encrypting a disposisi", e))?;
    w.write_all(plain)
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| Error::age("encrypting a disposisi", e))?;
    Ok((out, key_id))
}

/// Decrypts what [`seal`] made with the level's archive keys (on a blocking thread: the keys
/// are in the keystore), checking it against the SHA-256 the MAC binds.
pub(crate) async fn open(
    node: &Node,
    level: Level,
    cipher: Vec<u8>,
    sha256: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let identities = archive_identities(node, level)?;
    let plain = tokio::task::spawn_blocking(move || -> Result<Zeroizing<Vec<u8>>> {
        let bad = |e: &dyn std::fmt::Display| Error::Integrity(format!("a disposisi: {e}"));
        let d = age::Decryptor::new(&cipher[..]).map_err(|e| bad(&e))?;
        let mut r = d
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| bad(&e))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| bad(&e))?;
        Ok(out)
    })
    .await
    .map_err(|e| Error::Integrity(format!("decrypting a disposisi: {e}")))??;
    if sha256_hex(&plain) != sha256 {
        return Err(Error::Integrity(
            "a disposisi's content does not match its hash".into(),
        ));
    }
    Ok(plain)
}

#[derive(Serialize)]
struct Statement<'a> {
    r#type: &'static str,
    id: &'a str,
    document: &'a str,
    parent: Option<&'a str>,
    agency: &'a str,
    from: &'a str,
    to: &'a str,
    instruction: &'a str,
    due: Option<&'a str>,
    note_sha256: &'a str,
    at: &'a str,
}

/// What the disposer signs: every field of the disposisi, the note by its hash.
pub(crate) fn statement(d: &Disposition) -> Result<Vec<u8>> {
    serde_json::to_vec(&Statement {
        r#type: "disposisi",
        id: &d.id,
        document: &d.document_id,
        parent: d.parent_id.as_deref(),
        agency: &d.agency,
        from: &d.from_nip,
        to: &d.to_nip,
        instruction: &d.instruction,
        due: d.due.as_deref(),
        note_sha256: &d.note_sha256,
        at: &d.at,
    })
    .map_err(|e| Error::encode("a disposisi statement", e))
}

#[derive(Serialize)]
struct ReportStatement<'a> {
    r#type: &'static str,
    id: &'a str,
    disposition: &'a str,
    document: &'a str,
    nip: &'a str,
    state: &'a str,
    body_sha256: &'a str,
    at: &'a str,
}

/// What the reporter signs: the report, its text and files by the body's hash.
pub(crate) fn report_statement(r: &Report, document: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(&ReportStatement {
        r#type: "tindak_lanjut",
        id: &r.id,
        disposition: &r.disposition_id,
        document,
        nip: &r.nip,
        state: &r.state,
        body_sha256: &r.body_sha256,
        at: &r.at,
    })
    .map_err(|e| Error::encode("a report statement", e))
}

/// A report's plaintext: its text and attached files.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub text: String,
    pub files: Vec<BodyFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BodyFile {
    pub name: String,
    pub media_type: String,
    /// Base64.
    pub content: String,
}

impl Drop for Body {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.text.zeroize();
        for f in &mut self.files {
            f.name.zeroize();
            f.content.zeroize();
        }
    }
}
