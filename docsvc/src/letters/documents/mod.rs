//! Letters: create (policy, encrypt, sign, store, log in one transaction), open (policy,
//! integrity, decrypt as a stream), list what an official may see, and the second approval of
//! letters held by dual control. This module holds what they share: the letter's types and
//! states, the policy's view of a letter, signing as an official and whom a letter is wrapped
//! to.

mod approve;
mod ingest;
mod list;
mod open;
mod pdf;
mod sweep;

use std::sync::Arc;

use hsm_shim::{HandleIdentity, KeyStore, SignatureAlgorithm, age_recipient};
use policies::{Decision, Document, Level};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use self::approve::{approve, may_approve};
pub use self::ingest::Ingest;
pub use self::list::{Filter, Mailbox, Page, creatable, draft, list, mark_read, waiting};
pub(crate) use self::open::addressed_agencies;
pub use self::open::{
    Checked, authorise, decide, export_part, load_checked, open_part, reading_turn,
};
pub use self::pdf::{approved_pdf, letter_pdf, original_pdf};
pub use self::sweep::sweep_abandoned;
use crate::audit::Entry;
use crate::crypto::envelope::{Manifest, Urgency};
use crate::crypto::pades::{self, Prepared};
use crate::crypto::signature::{self, Kind};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::Official;
use crate::{Error, Result};

/// A new letter's metadata, as a client sends it.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLetter {
    /// The letter's number; absent or empty: the next of the agency's register (`[numbering]`).
    #[serde(default)]
    pub nomor: String,
    /// The archive classification code (kode klasifikasi arsip, e.g. `005`) the register's
    /// number starts with; needed when the letter brings no nomor.
    #[serde(default)]
    pub kode: Option<String>,
    pub perihal: String,
    /// sifat: biasa, terbatas, rahasia, sangat_rahasia.
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    /// derajat: biasa, segera, sangat_segera, kilat.
    pub urgency: Urgency,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub copies: Vec<String>,
    /// The letter's date, YYYY-MM-DD; today when absent.
    #[serde(default)]
    pub dated: Option<String>,
    /// The letter this one answers or passes on (one the writer may read).
    #[serde(default)]
    pub refers: Option<crate::letters::thread::NewReference>,
    /// The NIP of the head the letter is signed for (a.n., Plt., Plh.), under a mandate of
    /// theirs that runs today; none: the originator signs for themselves.
    #[serde(default)]
    pub on_behalf: Option<String>,
}

/// What a caller may see about a letter in a list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub id: String,
    pub nomor: String,
    pub perihal: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub classification: Level,
    pub urgency: String,
    pub originator: String,
    pub created_at: String,
    /// `sent`, `awaiting_approval` or `received` (from another node).
    pub state: String,
    /// Whether the caller has opened it.
    pub read: bool,
}

pub(crate) fn text_field(what: &'static str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            what,
            format!("{what} must be 1-{max} characters without control characters"),
        ));
    }
    Ok(())
}

pub(crate) fn entry(
    caller: &Caller,
    action: &str,
    doc: Option<&str>,
    level: Option<Level>,
    d: &Decision,
) -> Entry {
    let e = Entry::decided(caller.actor(), action, level, d, caller.client.clone());
    match doc {
        Some(id) => e.about(id),
        None => e,
    }
}

pub(crate) fn forbidden(d: &Decision) -> Error {
    Error::Forbidden {
        alasan: d.alasan.clone(),
        reason: d.reason.clone(),
        policies: d.policies.clone(),
    }
}

/// Signs `bytes` as `official`, a signature of `kind` on a letter of `level` (CMS detached,
/// with the Signing CA in the chain) using their key in the node's keystore, time-stamped by
/// the node's TSA; refused when their key is weaker than the level's handling asks, and when
/// no time-stamp can be had (`TimestampUnavailable`).
pub(crate) async fn sign_as(
    node: &Node,
    official: &Official,
    kind: Kind,
    level: Level,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    let cms = stamped(node, official, level, kind, |_| {
        Ok(signature::Content::Bytes(bytes))
    })
    .await?;
    // Checked as every reader checks it, before it is stored or sent: a signature the key
    // store got wrong never leaves here. The node's trust remembers the check, so the reads
    // and the delivery after do not make it again.
    signature::verify_detached(
        &cms,
        kind,
        signature::Content::Bytes(bytes),
        &node.trust,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| Error::Integrity(format!("the signature just made does not check: {e}")))?;
    Metrics::inc(&node.metrics.signatures);
    Ok(cms)
}

/// `pdf` PAdES-signed as `official` on a letter of `level` (the CMS carries the TSA's
/// time-stamp over its signature: B-T), then time-stamped as a document with the DSS brought
/// up to date (B-LTA), then checked as a verifier checks it before it is stored or sent: the
/// new signature valid, by `official`, its document time-stamp valid and covering the whole
/// file; and, for an update appended to a signed file of `before` bytes, the earlier
/// signatures and time-stamps still over exactly that file.
pub(crate) async fn sign_pdf(
    node: &Node,
    official: &Official,
    level: Level,
    pdf: Prepared,
    before: Option<usize>,
) -> Result<Vec<u8>> {
    let cms = stamped(node, official, level, Kind::Pdf, |algorithm| {
        let wrong = |_| Error::Invariant {
            what: "a digest of its algorithm's length",
        };
        Ok(match algorithm {
            SignatureAlgorithm::EcdsaP384Sha384 => signature::Content::Sha384(
                pdf.digest(&ring::digest::SHA384)
                    .try_into()
                    .map_err(wrong)?,
            ),
            _ => signature::Content::Sha256(
                pdf.digest(&ring::digest::SHA256)
                    .try_into()
                    .map_err(wrong)?,
            ),
        })
    })
    .await?;
    let signed = time_stamped(node, pdf.embed(&cms)?).await?;
    check_pdf(
        node,
        &signed,
        before,
        SignedBy::Is(&official.nip),
        Stamped::Required,
    )
    .map_err(|e| Error::Integrity(format!("the PDF just signed does not check: {e}")))?;
    Metrics::inc(&node.metrics.signatures);
    Ok(signed)
}

/// What a PDF's DSS holds when the node writes it (DER): sandi's root and the Signing CA (the
/// paths of every official's and the TSA's certificate), and the CRLs in force for them that
/// the node holds (the Signing CA's, the root's; one past its nextUpdate proves nothing).
pub(crate) fn validation_data(node: &Node) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let root = node.trust.root_der();
    let now = OffsetDateTime::now_utc();
    let certs = vec![root.to_vec(), node.signing_ca_der.clone()];
    let crls = [node.signing_ca_der.as_slice(), root]
        .into_iter()
        .filter_map(|ca| node.crls.current_der_at(ca, now))
        .collect();
    (certs, crls)
}

/// `signed` with a document time-stamp appended after its last signature (PAdES B-LTA): the
/// DSS as [`validation_data`] gives it, and the TSA's token over every byte before it.
async fn time_stamped(node: &Node, signed: Vec<u8>) -> Result<Vec<u8>> {
    let (certs, crls) = validation_data(node);
    let prepared = crate::letters::render::timestamp::update(
        &signed,
        &crate::letters::render::timestamp::Validation {
            certs: &certs,
            crls: &crls,
        },
    )?;
    let token =
        crate::node::tsa::stamp_digest(node, &prepared.digest(&ring::digest::SHA256)).await?;
    prepared.embed(&token)
}

/// Whether a PDF's last signature must be followed by its document time-stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stamped {
    Required,
    /// A letter signed before sandi time-stamped its PDFs (its first revision has none).
    Optional,
}

/// Whose the last signature of a PDF must be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SignedBy<'a> {
    /// This NIP's.
    Is(&'a str),
    /// An official of this agency (`agency`, the certificate's OU) other than this NIP: the
    /// approval of a letter received from another node (the originator cannot approve their
    /// own letter, and an approver is of the originator's agency).
    Other { not: &'a str, agency: &'a str },
}

/// The agency (subject OU) of an official's certificate.
fn agency_of(cert_der: &[u8]) -> Option<String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let ou = c
        .subject()
        .iter_organizational_unit()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(ou)
}

/// The last signature of `pdf` valid, by `signer`, followed by a valid document time-stamp that
/// covers the whole file (or, where `stamped` allows, covering the whole file itself); the
/// signatures and time-stamps before it each within the first `before` bytes, the last of
/// them over exactly them (`None`: nothing before it). Returns the signer's certificate (DER).
pub(crate) fn check_pdf(
    node: &Node,
    pdf: &[u8],
    before: Option<usize>,
    signer: SignedBy<'_>,
    stamped: Stamped,
) -> Result<Vec<u8>> {
    let found = pades::embedded(pdf)?;
    let end = |e: &pades::Embedded| e.ranges[2] + e.ranges[3];
    let (stamp, signatures) = match found.split_last() {
        Some((t, rest)) if t.timestamp => (Some(t), rest),
        _ if stamped == Stamped::Required => {
            return Err(Error::Signature(
                "the last signature has no document time-stamp after it".into(),
            ));
        }
        _ => (None, found.as_slice()),
    };
    let (last, earlier) = signatures
        .split_last()
        .filter(|(l, _)| !l.timestamp)
        .ok_or_else(|| Error::Signature("no signature".into()))?;
    let earlier_ok = match (earlier.split_last(), before) {
        (None, None) => true,
        (Some((prior, rest)), Some(len)) => {
            end(prior) == len && rest.iter().all(|e| end(e) <= len) && last.ranges[1] > len
        }
        _ => false,
    };
    if !earlier_ok {
        return Err(Error::Signature(
            "not the signatures the file should hold".into(),
        ));
    }
    let v = pades::verify(pdf, last, &node.trust, OffsetDateTime::now_utc())?;
    match stamp {
        // Only the update sandi writes may follow the signature: a time-stamp vouches for the
        // bytes before it, not for who added them.
        Some(t)
            if !t.covers_whole
                || !crate::letters::render::timestamp::is_update_of(
                    pdf,
                    end(last),
                    (t.ranges[1], t.ranges[2]),
                ) =>
        {
            return Err(Error::Signature(
                "the file holds more after the signature than its document time-stamp".into(),
            ));
        }
        Some(t) => {
            let stamp = pades::verify_timestamp(pdf, t, &node.trust)?;
            crate::node::revocation::stamp_stands(node, &stamp)?;
            if v.timestamp.as_ref().is_some_and(|s| stamp.at < s.at) {
                return Err(Error::Signature(
                    "the document time-stamp is older than the signature it follows".into(),
                ));
            }
        }
        None if !last.covers_whole => {
            return Err(Error::Signature(
                "the signature does not cover the whole file".into(),
            ));
        }
        None => {}
    }
    match (signer, v.nip.as_deref()) {
        (SignedBy::Is(nip), Some(by)) if by == nip => Ok(v.signer_der),
        (SignedBy::Other { not, agency }, Some(by))
            if by != not && agency_of(&v.signer_der).as_deref() == Some(agency) =>
        {
            // Given on another node: its approver's certificate was not revoked by then.
            if crate::node::revocation::signature_status(node, &v, None)?.is_valid() {
                Ok(v.signer_der)
            } else {
                Err(Error::Signature(
                    "the approver's certificate was revoked before approving".into(),
                ))
            }
        }
        (SignedBy::Is(nip), _) => Err(Error::Signature(format!("not signed by {nip}"))),
        (SignedBy::Other { not, agency }, _) => Err(Error::Signature(format!(
            "not signed by an official of {agency} other than {not}"
        ))),
    }
}

/// A CMS signature of `kind` by `official` on a letter of `level` over what `content` gives
/// for their key's algorithm, time-stamped by the node's TSA.
async fn stamped<'c>(
    node: &Node,
    official: &Official,
    level: Level,
    kind: Kind,
    content: impl FnOnce(SignatureAlgorithm) -> Result<signature::Content<'c>>,
) -> Result<Vec<u8>> {
    let (cert, key, algorithm) = signing_key(node, official, level)?;
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let cms = signature::sign_detached(
        kind,
        content(algorithm)?,
        algorithm,
        &cert,
        std::slice::from_ref(&node.signing_ca_der),
        OffsetDateTime::now_utc(),
        |msg| Ok(keys.sign(&key, msg)?.bytes),
    )?;
    crate::node::tsa::stamp(node, cms).await
}

/// The certificate, key and algorithm `official` signs a letter of `level` with: refused when
/// they have none, when their key is weaker than the level's handling asks, and when their
/// certificate is not good.
fn signing_key(
    node: &Node,
    official: &Official,
    level: Level,
) -> Result<(Vec<u8>, hsm_shim::KeyHandle, SignatureAlgorithm)> {
    let cert = official.certificate.clone().ok_or_else(|| {
        Error::invalid(
            "signing certificate",
            format!(
                "official {} has no signing certificate yet: the key custodians must issue one",
                official.nip
            ),
        )
    })?;
    crate::node::handling::require(node, level, &cert, &signer_name(official))?;
    crate::node::revocation::require_good(node, &cert, "signing certificate")?;
    let key = node.handle(official.signing_key.ok_or_else(|| {
        Error::invalid(
            "signing key",
            format!("official {} has no signing key", official.nip),
        )
    })?)?;
    let algorithm = key.kind().signature_algorithm().ok_or(Error::Invariant {
        what: "an official's signing key is a signing key",
    })?;
    Ok((cert, key, algorithm))
}

fn signer_name(official: &Official) -> String {
    format!("{} ({})", official.name, official.nip)
}

/// The handling table's signature check for `caller` signing a letter of `level`, before
/// anything is read or signed: a refusal is logged (action `action`) as the policy's are.
pub(crate) async fn signature_allowed(
    node: &Node,
    caller: &Caller,
    action: &str,
    doc: Option<&str>,
    level: Level,
) -> Result<()> {
    // Without a certificate there is nothing to judge: signing says what is missing.
    let Some(cert) = caller.official.certificate.as_deref() else {
        return Ok(());
    };
    match crate::node::handling::require(node, level, cert, &signer_name(&caller.official)) {
        Err(Error::Forbidden {
            alasan,
            reason,
            policies,
        }) => {
            let d = Decision {
                allowed: false,
                policies,
                alasan,
                reason,
                policy_version: node.policy.current().version().to_owned(),
            };
            Metrics::inc(&node.metrics.denials);
            crate::node::log_alone(node, &entry(caller, action, doc, Some(level), &d)).await?;
            Err(forbidden(&d))
        }
        other => other,
    }
}

/// The policy's view of a letter on node `here`. Only this node's officials are bare NIPs
/// (as their principals are): `NIP@here` is this node's `NIP`, while an official of another
/// node stays `NIP@node`, and a bare NIP in a letter from another node is that node's
/// official. So no official registered here, whatever NIP they are given, is taken for
/// another node's addressee or originator.
pub(crate) fn policy_document(m: &Manifest, agencies: Vec<String>, here: &str) -> Document {
    let principal = |a: &String| -> String {
        match crate::network::remote_address(a) {
            Some((nip, node)) if node == here => nip.to_owned(),
            Some(_) => a.clone(),
            None if m.node == here => a.clone(),
            None => format!("{a}@{}", m.node),
        }
    };
    let plain = |list: &[String]| -> Vec<String> { list.iter().map(principal).collect() };
    Document {
        id: m.id.clone(),
        classification: m.classification,
        originator: principal(&m.originator),
        recipients: plain(&m.recipients),
        copies: plain(&m.copies),
        grants: vec![],
        agency: m.agency.clone(),
        agencies,
        compartments: vec![],
    }
}

/// Whom a letter of `level` is encrypted to: each of `officials` cleared for the level (by
/// their current encryption key, once each) and the level's current archive key. Returns the
/// key ids (what `documents.wrapped_to` records) and the age recipients.
pub(crate) fn wrap_set(
    node: &Node,
    officials: &[&Official],
    level: Level,
) -> Result<(Vec<String>, Vec<age::x25519::Recipient>)> {
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let mut ids = Vec::new();
    let mut recipients = Vec::new();
    for o in officials.iter().filter(|o| o.clearance >= level) {
        let id = o.encryption_key.ok_or_else(|| {
            Error::invalid(
                "encryption key",
                format!("official {} has no encryption key", o.nip),
            )
        })?;
        if ids.contains(&id.to_string()) {
            continue;
        }
        recipients.push(age_recipient(keys, &node.handle(id)?)?);
        ids.push(id.to_string());
    }
    let archive = node.keys.get().archive(level)?;
    recipients.push(age_recipient(keys, &node.handle(archive)?)?);
    ids.push(archive.to_string());
    Ok((ids, recipients))
}

/// The keys of officials of other nodes among what a letter is wrapped to (recorded by value,
/// `age1…`): kept by every rewrap so that a letter still to be delivered stays readable there.
pub(crate) fn remote_keys(wrapped_to: &[String]) -> Vec<(String, age::x25519::Recipient)> {
    wrapped_to
        .iter()
        .filter(|k| k.starts_with("age1"))
        .filter_map(|k| k.parse().ok().map(|r| (k.clone(), r)))
        .collect()
}

/// The identities that open a letter of `level` inside the node: every archive key of the
/// level it still holds, the current one first.
pub(crate) fn archive_identities(node: &Node, level: Level) -> Result<Vec<HandleIdentity>> {
    let mut out = Vec::new();
    for id in node.keys.get().archive_all(level)? {
        // A destroyed or missing key opens nothing; the others may.
        if let Ok(h) = node.handle(id) {
            if let Ok(i) = HandleIdentity::new(Arc::clone(&node.keystore) as Arc<dyn KeyStore>, h) {
                out.push(i);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::KeyUnavailable(format!(
            "no archive key of level {} is left on this node",
            level.as_str()
        )));
    }
    Ok(out)
}

/// The policy that holds a letter for a second approval.
pub(crate) const DUAL_CONTROL: &str = "dual-control";
pub const SENT: &str = "sent";
pub const AWAITING: &str = "awaiting_approval";
pub const DESTROYED: &str = "destroyed";

/// A stored letter and whether it went out or waits for approval.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub state: String,
    #[serde(flatten)]
    pub manifest: Manifest,
}

/// Where a letter stands with one destination node.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub node: String,
    /// `queued`, `sent`, `delivered`, `failed` (retrying) or `dead` (given up; an operator may
    /// retry).
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// When the destination node says it received the letter (from its signed receipt, which
    /// the sender checked).
    pub receipt_at: Option<String>,
    /// The signed receipt (tanda terima): CMS SignedData, DER, base64; `openssl cms -verify`
    /// checks it against the sandi root.
    pub receipt_cms: Option<String>,
}

/// The delivery of a letter to each destination node.
pub async fn deliveries(node: &Node, id: &str) -> Result<Vec<Delivery>> {
    Ok(crate::store::outbox::deliveries_of(&node.store, id)
        .await?
        .into_iter()
        .map(|r| {
            let receipt = r
                .receipt
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let field = |f: fn(&serde_json::Value) -> &serde_json::Value| {
                receipt
                    .as_ref()
                    .and_then(|v| f(v).as_str().map(str::to_owned))
            };
            Delivery {
                node: r.node_id,
                state: r.state,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                updated_at: r.updated_at,
                receipt_at: field(|v| &v["receipt"]["received_at"]),
                receipt_cms: field(|v| &v["cms"]),
            }
        })
        .collect())
}
