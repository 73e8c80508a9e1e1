//! Reporting back on a disposisi (tindak lanjut): text and files, encrypted like the note,
//! signed by the reporter with the PIN, `progress` until one says `done`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use policies::{Action, Decision};
use zeroize::Zeroizing;

use super::{FileInfo, ShownReport, sealed};
use crate::crypto::signature::Kind;
use crate::letters::content::stored_type;
use crate::letters::documents::{self, Checked, entry, forbidden, sign_as, signature_allowed};
use crate::node::Node;
use crate::officials::Caller;
use crate::store::dispositions::{self as rows, Report};
use crate::{Error, Result};

/// The text's longest, in characters.
const MAX_TEXT: usize = 4000;
/// At most this many reports on one disposisi.
const MAX_REPORTS: i64 = 20;
/// At most this many files in one report.
pub const MAX_FILES: usize = 5;
/// The files of one report together, at most (they are kept in the database, encrypted).
pub const MAX_BYTES: usize = 4 << 20;

/// A file attached to a report.
pub struct ReportFile {
    pub name: String,
    pub media_type: String,
    pub bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ReportFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReportFile({} bytes)", self.bytes.len())
    }
}

/// A report to make.
pub struct NewReport {
    pub text: String,
    /// The instruction is carried out: the disposisi is done.
    pub done: bool,
    pub files: Vec<ReportFile>,
}

impl std::fmt::Debug for NewReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewReport(done: {}, {:?})", self.done, self.files)
    }
}

fn check(n: &NewReport) -> Result<()> {
    let text_ok = n.text.chars().count() <= MAX_TEXT
        && !n.text.trim().is_empty()
        && !n
            .text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r');
    if !text_ok {
        return Err(Error::invalid(
            "text",
            format!("1-{MAX_TEXT} characters, without control characters"),
        ));
    }
    if n.files.len() > MAX_FILES {
        return Err(Error::invalid("file", format!("at most {MAX_FILES} files")));
    }
    if n.files.iter().map(|f| f.bytes.len()).sum::<usize>() > MAX_BYTES {
        return Err(Error::TooLarge(format!(
            "a report's files together may be at most {} MiB",
            MAX_BYTES >> 20
        )));
    }
    for f in &n.files {
        if f.name.is_empty() || f.name.chars().count() > 200 || f.name.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "file",
                "a file name is 1-200 characters without control characters",
            ));
        }
    }
    Ok(())
}

/// A report's text with its files' names, and its files' bytes, each sealed to `level`.
fn seal_report(
    node: &Node,
    level: policies::Level,
    n: &NewReport,
) -> Result<(sealed::Sealed, sealed::Sealed)> {
    let body = sealed::Body {
        text: n.text.clone(),
        files: n
            .files
            .iter()
            .map(|f| sealed::FileMeta {
                name: f.name.clone(),
                media_type: stored_type(Some(&f.media_type)).to_owned(),
                size: f.bytes.len(),
                sha256: crate::crypto::sha256_hex(&f.bytes),
            })
            .collect(),
    };
    let files = sealed::Files(n.files.iter().map(|f| B64.encode(&f.bytes[..])).collect());
    let seal_json = |what: &[u8]| sealed::seal(node, level, what);
    let body_sealed = seal_json(&Zeroizing::new(
        serde_json::to_vec(&body).map_err(|e| Error::encode("a report", e))?,
    ))?;
    let files_sealed = seal_json(&Zeroizing::new(
        serde_json::to_vec(&files).map_err(|e| Error::encode("a report", e))?,
    ))?;
    Ok((body_sealed, files_sealed))
}

/// The caller's report on their disposisi `id` of letter `checked`.
pub async fn report(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    id: &str,
    n: NewReport,
) -> Result<String> {
    check(&n)?;
    let m = &checked.manifest;
    let Some(d) = super::held(node, &m.id, &caller.official)
        .await?
        .into_iter()
        .find(|d| d.id == id)
    else {
        return Err(Error::NotFound(format!(
            "disposisi {id} to you on letter {}",
            m.id
        )));
    };
    if super::done(node, &m.id, &d.id).await? {
        return Err(Error::Conflict(format!("disposisi {id} is done")));
    }
    if rows::report_count(&node.store, &d.id).await? >= MAX_REPORTS {
        return Err(Error::Conflict(format!(
            "disposisi {id} has {MAX_REPORTS} reports, the most it takes"
        )));
    }
    if !caller.stepped_up {
        return Err(Error::Forbidden {
            alasan: "ditolak: tindak lanjut ditandatangani dengan PIN".into(),
            reason: "denied: a report is signed with the PIN".into(),
            policies: vec!["pin-to-sign".into()],
        });
    }
    let read = documents::decide(node, caller, Action::Read, checked, true).await?;
    if !read.allowed {
        crate::node::log_alone(
            node,
            &entry(caller, "report", Some(&m.id), Some(m.classification), &read),
        )
        .await?;
        return Err(forbidden(&read));
    }
    signature_allowed(node, caller, "report", Some(&m.id), m.classification).await?;
    let (body_sealed, files_sealed) = seal_report(node, m.classification, &n)?;
    let mut r = Report {
        id: uuid::Uuid::new_v4().to_string(),
        disposition_id: d.id.clone(),
        nip: caller.official.nip.clone(),
        state: if n.done { "done" } else { "progress" }.into(),
        body: Some(body_sealed.cipher),
        body_sha256: body_sealed.sha256,
        files: Some(files_sealed.cipher),
        files_sha256: files_sealed.sha256,
        key_id: body_sealed.key_id,
        at: crate::now_micros(),
        signature: Vec::new(),
        mac: String::new(),
    };
    r.signature = sign_as(
        node,
        &caller.official,
        Kind::Disposition,
        m.classification,
        &sealed::report_statement(&r, &m.id)?,
    )
    .await?;
    let logged = Decision {
        alasan: format!("tindak lanjut disposisi {} ({})", d.id, r.state),
        reason: format!("report on disposisi {} ({})", d.id, r.state),
        ..read
    };
    let mut tx = node.store.begin().await?;
    rows::insert_report(&mut tx, &node.store, &r).await?;
    node.audit
        .commit_with(
            tx,
            &entry(
                caller,
                "report",
                Some(&m.id),
                Some(m.classification),
                &logged,
            ),
        )
        .await?;
    Ok(r.id)
}

async fn body(node: &Node, r: &mut Report) -> Result<sealed::Body> {
    let cipher = r.body.take().unwrap_or_default();
    if cipher.is_empty() {
        return Err(Error::Gone(format!(
            "report {} was destroyed with its letter",
            r.id
        )));
    }
    let plain = sealed::open(node, cipher, &r.body_sha256).await?;
    serde_json::from_slice(&plain).map_err(|e| Error::Integrity(format!("report {}: {e}", r.id)))
}

/// A report of a letter of `level`, decrypted for its chain.
pub(super) async fn shown(node: &Node, r: Report) -> Result<ShownReport> {
    let (id, nip, state, at) = (r.id.clone(), r.nip.clone(), r.state.clone(), r.at.clone());
    let mut r = r;
    let b = body(node, &mut r).await?;
    Ok(ShownReport {
        id,
        nip,
        state,
        at,
        text: b.text.clone(),
        files: b
            .files
            .iter()
            .map(|f| FileInfo {
                name: f.name.clone(),
                media_type: f.media_type.clone(),
                size: f.size,
            })
            .collect(),
    })
}

/// File `n` of report `id` on letter `checked`, for a caller the policy lets export the
/// letter (the decision logged): its name, type and bytes.
pub async fn file(
    node: &Node,
    caller: &Caller,
    checked: &Checked,
    id: &str,
    index: usize,
) -> Result<ReportFile> {
    let letter = &checked.manifest;
    let missing = || Error::NotFound(format!("file {index} of report {id}"));
    let r = rows::get_report(&node.store, id)
        .await?
        .ok_or_else(missing)?;
    let d = rows::get(&node.store, &r.disposition_id)
        .await?
        // Another agency's disposisi are its own business.
        .filter(|d| d.document_id == letter.id && d.agency == caller.official.agency)
        .ok_or_else(missing)?;
    if !rows::holds(&node.store, &d)? || !rows::report_holds(&node.store, &r)? {
        return Err(super::forged(node, &letter.id, &r.id).await);
    }
    documents::authorise(node, caller, Action::Export, checked).await?;
    let mut r = r;
    let files_cipher = r.files.take().unwrap_or_default();
    let files_sha256 = r.files_sha256.clone();
    let b = body(node, &mut r).await?;
    let f = b.files.get(index).ok_or_else(missing)?;
    let plain = sealed::open(node, files_cipher, &files_sha256).await?;
    let all: sealed::Files = serde_json::from_slice(&plain)
        .map_err(|e| Error::Integrity(format!("report {id}: {e}")))?;
    let bytes = Zeroizing::new(
        all.0
            .get(index)
            .and_then(|c| B64.decode(c.as_bytes()).ok())
            .filter(|b| crate::crypto::sha256_hex(b) == f.sha256)
            .ok_or_else(|| Error::Integrity(format!("report {id}: file {index} does not match")))?,
    );
    Ok(ReportFile {
        name: f.name.clone(),
        media_type: f.media_type.clone(),
        bytes,
    })
}
