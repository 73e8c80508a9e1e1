//! What the public verification page (`/verifikasi`) says of a signed letter: reached by the
//! token in its QR code, or for a PDF someone uploads. It says whether the signatures are
//! valid, by whom (name, NIP, agency), when (the TSA's time) and whether the certificate was
//! valid then; never the content, and for RAHASIA and above not even the perihal: only that a
//! letter of that level with that hash was signed. Every answer is logged.

use policies::Level;
use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::crypto::pades;
use crate::crypto::revocation::SignatureStatus;
use crate::letters::documents;
use crate::node::Node;
use crate::{Error, Result};

/// The largest PDF the page checks (an upload is bounded by the route before this).
pub const MAX_PDF: usize = 16 << 20;

/// Why something does not count, in both of the page's languages. A check's own technical
/// words (which name DER, CMS or a byte range) are given after the plain sentence, as they
/// are.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub id: String,
    pub en: String,
}

impl Problem {
    fn plain(id: &str, en: &str) -> Self {
        Problem {
            id: id.to_owned(),
            en: en.to_owned(),
        }
    }

    /// A sentence in each language, then the check's own words.
    fn technical(id: &str, en: &str, detail: &dyn std::fmt::Display) -> Self {
        Problem {
            id: format!("{id} (rincian teknis: {detail})"),
            en: format!("{en} ({detail})"),
        }
    }
}

/// A document time-stamp found and judged: sandi's TSA saw the whole file as it was then.
#[derive(Clone, Debug, Serialize)]
pub struct DocStamp {
    pub valid: bool,
    /// When the TSA saw the file (RFC 3339).
    pub at: Option<String>,
    /// The TSA certificate's subject.
    pub tsa: Option<String>,
    pub covers_whole: bool,
    pub problem: Option<Problem>,
}

impl DocStamp {
    /// A time-stamp found in `found` and not accepted, for `problem`.
    fn refused(found: &pades::Embedded, problem: Problem) -> Self {
        DocStamp {
            valid: false,
            at: None,
            tsa: None,
            covers_whole: found.covers_whole,
            problem: Some(problem),
        }
    }
}

/// One signature found and judged.
#[derive(Clone, Debug, Serialize)]
pub struct Signer {
    pub valid: bool,
    pub name: String,
    pub nip: Option<String>,
    pub agency: Option<String>,
    /// When sandi's TSA saw the signature (RFC 3339).
    pub signed_at: Option<String>,
    /// The certificate's standing at that time.
    pub certificate: SignatureStatus,
    /// Whether the signature covers the whole file (no byte added after it).
    pub covers_whole: bool,
    /// Why the signature does not count, when it does not.
    pub problem: Option<Problem>,
    /// The signer's certificate (DER), to check against keymgr's issuance log.
    #[serde(skip)]
    pub certificate_der: Vec<u8>,
}

/// What the page shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Every signature valid, and the file unchanged since the last one.
    pub valid: bool,
    pub level: Option<Level>,
    /// Only for BIASA and TERBATAS letters reached by their token.
    pub nomor: Option<String>,
    pub perihal: Option<String>,
    pub dated: Option<String>,
    /// The SHA-256 of the signed PDF (hex).
    pub sha256: String,
    pub signers: Vec<Signer>,
    /// The document time-stamps after the signatures (PAdES B-LTA).
    pub stamps: Vec<DocStamp>,
    /// Why the letter is not valid, when that is not one signature's fault.
    pub problem: Option<Problem>,
}

/// The field of a certificate subject with `oid`, if it has one.
fn subject_field(der: &[u8], oid: &x509_parser::der_parser::Oid<'_>) -> Option<String> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    c.subject()
        .iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned)
}

fn judge(node: &Node, pdf: &[u8], found: &pades::Embedded) -> Signer {
    use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_ORGANIZATIONAL_UNIT};
    let unknown = |problem: Problem| Signer {
        valid: false,
        name: "-".into(),
        nip: None,
        agency: None,
        signed_at: None,
        certificate: SignatureStatus::Valid,
        covers_whole: found.covers_whole,
        problem: Some(problem),
        certificate_der: Vec::new(),
    };
    let v = match pades::verify(pdf, found, &node.trust, OffsetDateTime::now_utc()) {
        Ok(v) => v,
        Err(e) => {
            return unknown(Problem::technical(
                "Tanda tangan ini tidak sah: pemeriksaan kriptografisnya gagal",
                "This signature is not valid: its cryptographic check failed",
                &e,
            ));
        }
    };
    let status = crate::node::revocation::signature_status(node, &v, None);
    let (certificate, problem) = match status {
        Ok(s) if s.is_valid() => (s, None),
        Ok(s) => (
            s,
            Some(Problem::plain(
                "Sertifikat penanda tangan telah dicabut sebelum surat ditandatangani.",
                "The signer's certificate was revoked before signing.",
            )),
        ),
        Err(e) => (
            SignatureStatus::Valid,
            Some(Problem::technical(
                "Status sertifikat penanda tangan tidak dapat dipastikan",
                "The signer's certificate status cannot be established",
                &e,
            )),
        ),
    };
    Signer {
        valid: problem.is_none(),
        certificate_der: v.signer_der.clone(),
        name: subject_field(&v.signer_der, &OID_X509_COMMON_NAME).unwrap_or(v.subject),
        nip: v.nip,
        agency: subject_field(&v.signer_der, &OID_X509_ORGANIZATIONAL_UNIT),
        signed_at: v.timestamp.map(|t| t.gen_time),
        certificate,
        covers_whole: found.covers_whole,
        problem,
    }
}

/// What came before a document time-stamp was not a valid signature.
#[derive(Clone, Copy, Debug)]
struct Invalid;

/// A document time-stamp judged: valid only as the update sandi writes after a signature
/// (`after`: where the signature before it ends), its token over it, its TSA standing then.
fn judge_stamp(
    node: &Node,
    pdf: &[u8],
    found: &pades::Embedded,
    after: Result<usize, Invalid>,
) -> DocStamp {
    if let Err(Invalid) = after {
        return DocStamp::refused(
            found,
            Problem::plain(
                "Tidak dinilai: tanda tangan sebelumnya tidak sah.",
                "Not judged: the signature before it is not valid.",
            ),
        );
    }
    let ours = after.is_ok_and(|from| {
        from > 0
            && crate::letters::render::timestamp::is_update_of(
                &pdf[..found.ranges[2] + found.ranges[3]],
                from,
                (found.ranges[1], found.ranges[2]),
            )
    });
    if !ours {
        return DocStamp::refused(
            found,
            Problem::plain(
                "Ini bukan stempel waktu dokumen yang dibuat sandi setelah tanda tangan: yang ditambahkan sebelumnya tidak dijamin siapa pun.",
                "This is not the document time-stamp sandi adds after a signature: what was added before it is vouched for by no one.",
            ),
        );
    }
    let checked = pades::verify_timestamp(pdf, found, &node.trust)
        .and_then(|t| crate::node::revocation::stamp_stands(node, &t).map(|()| t));
    match checked {
        Ok(t) => DocStamp {
            valid: true,
            at: Some(t.gen_time),
            tsa: Some(t.tsa),
            covers_whole: found.covers_whole,
            problem: None,
        },
        Err(e) => DocStamp::refused(
            found,
            Problem::technical(
                "Stempel waktu dokumen ini tidak sah",
                "This document time-stamp is not valid",
                &e,
            ),
        ),
    }
}

/// Verifications at once: each hashes up to [`MAX_PDF`] a few times and checks signatures,
/// CPU work that must not take every worker of the node from a public page.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// [`report_of`], two at a time, off the async workers where the runtime allows it; then each
/// valid signer's certificate against keymgr's issuance log.
async fn judged(node: &Node, pdf: &[u8]) -> Report {
    let mut report = {
        // The turn is for the CPU work only, not held while keymgr is asked below.
        let _turn = VERIFYING.acquire().await;
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| report_of(node, pdf))
            }
            _ => report_of(node, pdf),
        }
    };
    for signer in report.signers.iter_mut().filter(|s| s.valid) {
        let problem = match crate::network::issuance::require(node, &signer.certificate_der).await {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => Problem::plain(
                "Sertifikat penanda tangan tidak tercatat dalam log penerbitan keymgr.",
                &format!("The signer's {why}."),
            ),
            Err(e) => Problem::technical(
                "Pencatatan sertifikat penanda tangan tidak dapat dipastikan",
                "Whether keymgr logged the signer's certificate cannot be established",
                &e,
            ),
        };
        signer.valid = false;
        signer.problem = Some(problem);
        report.valid = false;
    }
    report
}

/// The signatures of `pdf`, judged.
fn report_of(node: &Node, pdf: &[u8]) -> Report {
    let sha256 = crate::crypto::sha256_hex(pdf);
    let mut report = Report {
        valid: false,
        level: None,
        nomor: None,
        perihal: None,
        dated: None,
        sha256,
        signers: Vec::new(),
        stamps: Vec::new(),
        problem: None,
    };
    match pades::embedded(pdf) {
        Ok(found) if found.iter().all(|f| f.timestamp) => {
            report.problem = Some(Problem::plain(
                "Berkas ini tidak memuat tanda tangan.",
                "The file holds no signature.",
            ));
        }
        Ok(found) => {
            // Where the signature before a stamp ends; `Ok(0)` (nothing before it) is no
            // revision sandi's writer made.
            let mut after = Ok(0);
            for f in &found {
                if f.timestamp {
                    report.stamps.push(judge_stamp(node, pdf, f, after));
                    after = Ok(0);
                } else {
                    let signer = judge(node, pdf, f);
                    // Only a valid signature's revision is rebuilt to judge the stamp after it.
                    after = if signer.valid {
                        Ok(f.ranges[2] + f.ranges[3])
                    } else {
                        Err(Invalid)
                    };
                    report.signers.push(signer);
                }
            }
            // An earlier signature or time-stamp covers the version it signed; the last (the
            // document time-stamp after the last signature) must cover the whole file.
            let whole = found.last().is_some_and(|f| f.covers_whole);
            if !whole {
                report.problem = Some(Problem::plain(
                    "Berkas telah diubah setelah tanda tangan atau stempel waktu terakhirnya.",
                    "The file was changed after its last signature or time-stamp.",
                ));
            }
            report.valid = whole
                && report.signers.iter().all(|s| s.valid)
                && report.stamps.iter().all(|s| s.valid);
        }
        Err(e) => {
            report.problem = Some(Problem::technical(
                "Tanda tangan dalam berkas ini tidak dapat dibaca",
                "The file's signatures cannot be read",
                &e,
            ));
        }
    }
    report
}

/// Logs a check: refused, like any action, when the log cannot be written.
async fn log(
    node: &Node,
    client: Option<String>,
    doc: Option<&str>,
    allowed: bool,
    reason: String,
) -> Result<()> {
    let mut e = Entry::event(
        "public".into(),
        "verify",
        if allowed { "allow" } else { "deny" },
        reason,
        node.policy.current().version(),
        client,
    );
    if let Some(id) = doc {
        e = e.about(id);
    }
    node.log.append(e).await
}

/// What the log says of a report.
fn logged(r: &Report) -> String {
    format!(
        "public verification: {} ({} signature(s), {} document time-stamp(s), sha256 {})",
        if r.valid { "valid" } else { "not valid" },
        r.signers.len(),
        r.stamps.len(),
        r.sha256
    )
}

/// The letter whose QR code holds `token`, judged; `None` for a token the node never gave.
pub async fn by_token(node: &Node, token: &str, client: Option<String>) -> Result<Option<Report>> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let well_formed = (20..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let hashed = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    let id = if well_formed {
        crate::store::verifications::document_of(&node.store, &hashed).await?
    } else {
        None
    };
    let Some(id) = id else {
        log(
            node,
            client,
            None,
            false,
            "public verification: unknown token".into(),
        )
        .await?;
        return Ok(None);
    };
    let report = match letter_pdf(node, &id).await {
        Ok((checked, pdf)) => {
            let mut r = judged(node, &pdf).await;
            let m = &checked.manifest;
            r.level = Some(m.classification);
            // Held by dual control, a letter is not yet the agency's word, however signed.
            if checked.state == documents::AWAITING {
                r.valid = false;
                r.problem = Some(Problem::plain(
                    "Surat ini masih menunggu persetujuan keduanya.",
                    "The letter still awaits its second approval.",
                ));
            }
            if m.classification < Level::Rahasia {
                r.nomor = Some(m.nomor.clone());
                r.perihal = Some(m.perihal.clone());
                r.dated = Some(m.dated.clone());
            }
            r
        }
        Err(e) => Report {
            valid: false,
            level: None,
            nomor: None,
            perihal: None,
            dated: None,
            sha256: String::new(),
            signers: Vec::new(),
            stamps: Vec::new(),
            // Fixed words: an error's own text may name the letter or the node's state.
            problem: Some(match e {
                Error::NotFound(_) | Error::Gone(_) => Problem::plain(
                    "Surat ini tidak lagi disimpan di sini.",
                    "The letter is no longer held here.",
                ),
                Error::Integrity(_) => Problem::plain(
                    "Catatan surat ini di sini tidak lolos pemeriksaan: tidak sah.",
                    "The letter's record here does not check: not valid.",
                ),
                _ => Problem::plain(
                    "Surat ini tidak dapat diperiksa sekarang.",
                    "The letter cannot be checked now.",
                ),
            }),
        },
    };
    log(node, client, Some(&id), report.valid, logged(&report)).await?;
    Ok(Some(report))
}

/// The stored letter and its rendered PDF (part 0, with its approval when it has one),
/// checked as every reader checks it.
async fn letter_pdf(node: &Node, id: &str) -> Result<(documents::Checked, Vec<u8>)> {
    let checked = documents::load_checked(node, id).await?;
    let pdf = documents::letter_pdf(node, &checked)
        .await?
        .filter(|p| p.len() <= MAX_PDF)
        .ok_or_else(|| Error::Integrity("the letter's first part is not its signed PDF".into()))?;
    Ok((checked, pdf))
}

/// A PDF someone holds, judged.
pub async fn uploaded(node: &Node, pdf: &[u8], client: Option<String>) -> Result<Report> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    if pdf.len() > MAX_PDF {
        return Err(Error::TooLarge(format!(
            "the verification page checks PDFs of at most {} MiB",
            MAX_PDF >> 20
        )));
    }
    let report = judged(node, pdf).await;
    log(node, client, None, report.valid, logged(&report)).await?;
    Ok(report)
}
