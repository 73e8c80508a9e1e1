//! What a disposisi signs: the canonical statements of the disposer and the reporter, and the
//! plaintext shapes of a report (sealed with [`crate::letters::sealed`]).

use serde::{Deserialize, Serialize};

pub(crate) use crate::letters::sealed::{Sealed, open, reseal, seal};
use crate::store::dispositions::{Disposition, Report};
use crate::{Error, Result};

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
    files_sha256: &'a str,
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
        files_sha256: &r.files_sha256,
        at: &r.at,
    })
    .map_err(|e| Error::encode("a report statement", e))
}

/// A report's text and the names of its files: what the chain shows.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub text: String,
    pub files: Vec<FileMeta>,
}

/// An attached file, named; its bytes are sealed apart (see [`Files`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMeta {
    pub name: String,
    pub media_type: String,
    pub size: usize,
    pub sha256: String,
}

/// A report's files' bytes, base64, in the order of [`Body::files`].
#[derive(Serialize, Deserialize)]
pub(crate) struct Files(pub Vec<String>);

impl Drop for Body {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.text.zeroize();
        for f in &mut self.files {
            f.name.zeroize();
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        for f in &mut self.0 {
            f.zeroize();
        }
    }
}
