//! Revocation status from keymgr's CRLs, kept in the node's `crl/` directory (DER or PEM, as
//! `keymgr crl` writes them). A CRL counts only if its issuer's signature verifies and it
//! carries a CRL number and a nextUpdate. Of several CRLs of one issuer the highest CRL number
//! wins, and the cache never goes back to a lower one, whatever the directory holds later.
//! Revocation fails closed: a certificate whose issuer has no current CRL is `Unknown`, and
//! [`require`] refuses it (problem `revocation-unknown`, logged and counted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::parse_x509_crl;
use x509_parser::prelude::{ASN1Time, FromDer};

use crate::audit::Entry;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Good,
    Revoked {
        at: String,
    },
    /// No current CRL of the issuer is at hand.
    Unknown,
}

fn crl_ders(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "crl" || x == "der" || x == "pem")
        })
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|bytes| {
            if bytes.starts_with(b"-----BEGIN") {
                x509_parser::pem::parse_x509_pem(&bytes)
                    .ok()
                    .map(|(_, pem)| pem.contents)
            } else {
                Some(bytes)
            }
        })
        .collect()
}

/// The CRLs of a directory, verified and parsed once, reloaded when a file there changes
/// (checked on every call: a new CRL takes effect on the next request).
#[derive(Debug)]
pub struct CrlCache {
    dir: PathBuf,
    /// The CAs whose CRLs count: a CRL is kept only if one of them signed it.
    issuers: Vec<Vec<u8>>,
    cached: Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    stamp: Option<Vec<(PathBuf, Option<SystemTime>, u64)>>,
    /// The directory's own modification time at the last full look, and when that was.
    dir_mtime: Option<SystemTime>,
    looked_at: Option<std::time::Instant>,
    /// The highest-numbered CRL seen of each issuer (by issuer name, DER), kept across
    /// reloads: an older CRL put in the directory later never replaces it.
    best: HashMap<Vec<u8>, Parsed>,
}

#[derive(Debug)]
struct Parsed {
    /// The issuer name, readable.
    issuer_name: String,
    /// The CRL number, big-endian without leading zeros.
    number: Vec<u8>,
    next_update: ASN1Time,
    /// Revoked serials (raw bytes) and when.
    revoked: HashMap<Vec<u8>, ASN1Time>,
}

/// How current one issuer's CRL is, for `/readyz` and `/metrics`.
#[derive(Clone, Debug, Serialize)]
pub struct Freshness {
    pub issuer: String,
    /// The CRL number in hex; none when the node holds no CRL of this issuer.
    pub number: Option<String>,
    pub next_update: Option<String>,
    /// Seconds until the CRL goes stale (negative once it is); none without a CRL.
    pub seconds_left: Option<i64>,
}

/// How long the CRL directory's listing is trusted while the directory itself is unchanged.
const FULL_LOOK: std::time::Duration = std::time::Duration::from_secs(1);

fn stamp(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((e.path(), m.modified().ok(), m.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A CRL number as big-endian bytes without leading zeros, so that longer is larger.
fn trimmed(n: &[u8]) -> Vec<u8> {
    let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    n[first..].to_vec()
}

fn higher(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) > (b.len(), b)
}

impl CrlCache {
    pub fn new(dir: PathBuf, issuers: Vec<Vec<u8>>) -> Self {
        CrlCache {
            dir,
            issuers,
            cached: Mutex::default(),
        }
    }

    /// The cache, brought up to date with the directory. A CRL renamed into the directory (as
    /// an operator installs one) or a file removed changes the directory's own modification
    /// time and is seen at once; a file rewritten in place is seen within [`FULL_LOOK`]. Every
    /// request pays one `stat` of the directory, not a listing of it.
    fn current(&self) -> std::sync::MutexGuard<'_, Cached> {
        let dir_mtime = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        {
            let cached = self
                .cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if dir_mtime.is_some()
                && cached.dir_mtime == dir_mtime
                && cached.looked_at.is_some_and(|t| t.elapsed() < FULL_LOOK)
            {
                return cached;
            }
        }
        // The directory is listed outside the lock: requests do not queue behind each
        // other's system calls.
        let now_stamp = stamp(&self.dir);
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cached.dir_mtime = dir_mtime;
        cached.looked_at = Some(std::time::Instant::now());
        if cached.stamp.as_ref() != Some(&now_stamp) {
            for (issuer, crl) in load(&self.dir, &self.issuers) {
                let newer = cached
                    .best
                    .get(&issuer)
                    .is_none_or(|old| higher(&crl.number, &old.number));
                if newer {
                    cached.best.insert(issuer, crl);
                }
            }
            cached.stamp = Some(now_stamp);
        }
        cached
    }

    /// The status of `cert_der` at `at`.
    pub fn status(&self, cert_der: &[u8], at: OffsetDateTime) -> Status {
        self.status_with_time(cert_der, at).0
    }

    /// The status of `cert_der` at `at`, and when it was revoked if it was.
    pub fn status_with_time(
        &self,
        cert_der: &[u8],
        at: OffsetDateTime,
    ) -> (Status, Option<OffsetDateTime>) {
        let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
            return (Status::Unknown, None);
        };
        let cached = self.current();
        let Some(crl) = cached.best.get(cert.issuer().as_raw()) else {
            return (Status::Unknown, None);
        };
        if crl.next_update < ASN1Time::from(at) {
            return (Status::Unknown, None);
        }
        match crl.revoked.get(cert.tbs_certificate.raw_serial()) {
            Some(t) => (Status::Revoked { at: t.to_string() }, Some(t.to_datetime())),
            None => (Status::Good, None),
        }
    }

    /// How current the CRL of each issuer is at `at`.
    pub fn freshness(&self, at: OffsetDateTime) -> Vec<Freshness> {
        let cached = self.current();
        self.issuers
            .iter()
            .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .map(|ca| {
                let crl = cached.best.get(ca.subject().as_raw());
                Freshness {
                    issuer: crl.map_or_else(|| ca.subject().to_string(), |c| c.issuer_name.clone()),
                    number: crl.map(|c| hex::encode(&c.number)),
                    next_update: crl.map(|c| crate::rfc3339(c.next_update.to_datetime())),
                    seconds_left: crl.map(|c| (c.next_update.to_datetime() - at).whole_seconds()),
                }
            })
            .collect()
    }
}

/// Every CRL in `dir` whose signature verifies with one of `issuers` and that carries a CRL
/// number and a nextUpdate, by issuer name (DER).
fn load(dir: &Path, issuers: &[Vec<u8>]) -> Vec<(Vec<u8>, Parsed)> {
    let mut out = Vec::new();
    for der in crl_ders(dir) {
        let Ok((_, crl)) = parse_x509_crl(&der) else {
            continue;
        };
        let signed = issuers.iter().any(|i| {
            X509Certificate::from_der(i).is_ok_and(|(_, issuer)| {
                issuer.subject() == crl.issuer()
                    && crl.verify_signature(issuer.public_key()).is_ok()
            })
        });
        let (Some(number), Some(next_update)) = (crl.crl_number(), crl.next_update()) else {
            continue;
        };
        if signed {
            out.push((
                crl.issuer().as_raw().to_vec(),
                Parsed {
                    issuer_name: crl.issuer().to_string(),
                    number: trimmed(&number.to_bytes_be()),
                    next_update,
                    revoked: crl
                        .iter_revoked_certificates()
                        .map(|r| (r.raw_serial().to_vec(), r.revocation_date))
                        .collect(),
                },
            ));
        }
    }
    out
}

/// The revocation status of `der` now, failing closed: `Unknown` is refused as
/// [`Error::RevocationUnknown`], in the operator's log, the access log and
/// `docsvc_revocation_unknown_total`. `whose` names the certificate for the log
/// (e.g. `application certificate`).
pub fn require(node: &Node, der: &[u8], whose: &str) -> Result<Status> {
    let status = node.crls.status(der, OffsetDateTime::now_utc());
    if status == Status::Unknown {
        return Err(unknown(node, der, whose));
    }
    Ok(status)
}

/// Like [`require`], and a revoked certificate is refused too (for signing with it).
pub fn require_good(node: &Node, der: &[u8], whose: &str) -> Result<()> {
    match require(node, der, whose)? {
        Status::Revoked { at } => Err(Error::Forbidden {
            alasan: format!("ditolak: sertifikat {whose} dicabut pada {at}"),
            reason: format!("denied: the {whose} was revoked at {at}"),
            policies: vec![],
        }),
        _ => Ok(()),
    }
}

/// Refuses `der` for want of a current CRL: logged (operator's log and access log) and
/// counted.
fn unknown(node: &Node, der: &[u8], whose: &str) -> Error {
    let serial = X509Certificate::from_der(der)
        .map(|(_, c)| c.tbs_certificate.raw_serial_as_string())
        .unwrap_or_default();
    let why = format!(
        "no current CRL of the issuer of the {whose} (serial {serial}): refused until the \
         operator installs a fresh CRL"
    );
    tracing::warn!("revocation unknown: {why}");
    Metrics::inc(&node.metrics.revocation_unknown);
    let entry = Entry::event(
        format!("certificate:{serial}"),
        "revocation_check",
        "deny",
        why.clone(),
        node.policy.current().version(),
        None,
    );
    // The refusal does not wait for the log: a stale CRL must not also slow every caller.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let log = node.log.clone();
        rt.spawn(async move {
            if let Err(e) = log.append(entry).await {
                tracing::error!("the revocation refusal could not be logged: {e}");
            }
        });
    }
    Error::RevocationUnknown(why)
}

/// A letter signature's standing once its signer's certificate is checked against the CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// The certificate is not revoked.
    Valid,
    /// Revoked after the letter was signed and stored: the signature stands.
    RevokedAfterSigning { revoked_at: String },
    /// Revoked before the letter was signed or stored: the signature does not count.
    RevokedBeforeSigning { revoked_at: String },
}

impl SignatureStatus {
    pub fn is_valid(&self) -> bool {
        !matches!(self, SignatureStatus::RevokedBeforeSigning { .. })
    }
}

/// The revocation standing of a letter's signature: its signer's certificate against the
/// current CRL, at the later of the signed signing time and the time this node stored the
/// letter (neither a stolen key nor a database writer can move both back before a
/// revocation). Unknown is refused as in [`require`].
pub fn signature_status(
    node: &Node,
    signer_der: &[u8],
    signing_time: Option<&str>,
    stored_at: Option<&str>,
) -> Result<SignatureStatus> {
    let (status, revoked_at) = node
        .crls
        .status_with_time(signer_der, OffsetDateTime::now_utc());
    let revoked_at = match (status, revoked_at) {
        (Status::Unknown, _) => return Err(unknown(node, signer_der, "signer's certificate")),
        (Status::Good, _) | (Status::Revoked { .. }, None) => return Ok(SignatureStatus::Valid),
        (Status::Revoked { .. }, Some(t)) => t,
    };
    // Every time given must be readable, else the signature cannot be placed before the
    // revocation.
    let signed = [signing_time, stored_at]
        .into_iter()
        .flatten()
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    let at = crate::rfc3339(revoked_at);
    Ok(match signed {
        Some(t) if t < revoked_at => SignatureStatus::RevokedAfterSigning { revoked_at: at },
        _ => SignatureStatus::RevokedBeforeSigning { revoked_at: at },
    })
}

/// `/metrics` lines for the CRLs: seconds until each goes stale, and how many are stale or go
/// stale within the warning window.
pub fn render_metrics(node: &Node) -> String {
    use std::fmt::Write as _;
    let now = OffsetDateTime::now_utc();
    let warn = node.config.crl_warn_hours.saturating_mul(3600);
    let fresh = node.crls.freshness(now);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP docsvc_crl_seconds_until_stale Seconds until the issuer's CRL passes its nextUpdate (-1 without a CRL)."
    );
    let _ = writeln!(out, "# TYPE docsvc_crl_seconds_until_stale gauge");
    for f in &fresh {
        let _ = writeln!(
            out,
            "docsvc_crl_seconds_until_stale{{issuer=\"{}\"}} {}",
            f.issuer.replace(['"', '\\', '\n'], "_"),
            f.seconds_left.unwrap_or(-1)
        );
    }
    let soon = fresh
        .iter()
        .filter(|f| f.seconds_left.is_none_or(|s| s < warn))
        .count();
    let _ = writeln!(
        out,
        "# HELP docsvc_crl_stale_soon CRLs missing, stale, or stale within crl_warn_hours."
    );
    let _ = writeln!(out, "# TYPE docsvc_crl_stale_soon gauge");
    let _ = writeln!(out, "docsvc_crl_stale_soon {soon}");
    out
}

/// [`signature_status`] of a stored letter: stored when this node received it, or, for a
/// letter made here, when this node wrote its manifest.
pub async fn letter_signature_status(
    node: &Node,
    id: &str,
    created_at: &str,
    verified: &crate::signature::Verified,
) -> Result<SignatureStatus> {
    let received: Option<String> =
        sqlx::query_scalar("SELECT MIN(received_at) FROM received WHERE document_id = $1")
            .bind(id)
            .fetch_one(node.store.reader())
            .await?;
    signature_status(
        node,
        &verified.signer_der,
        verified.signing_time.as_deref(),
        Some(received.as_deref().unwrap_or(created_at)),
    )
}

/// What `/readyz` says of the CRLs: each issuer's, with `stale_soon` when it goes stale within
/// `crl_warn_hours`. A missing or stale CRL makes the node not ready (it refuses every
/// certificate of that issuer).
pub fn readiness(node: &Node) -> Result<Vec<serde_json::Value>> {
    let warn = node.config.crl_warn_hours.saturating_mul(3600);
    let fresh = node.crls.freshness(OffsetDateTime::now_utc());
    if let Some(f) = fresh.iter().find(|f| f.seconds_left.is_none_or(|s| s < 0)) {
        return Err(Error::RevocationUnknown(format!(
            "the CRL of {} is missing or stale: every certificate it covers is refused",
            f.issuer
        )));
    }
    Ok(fresh
        .into_iter()
        .map(|f| {
            let soon = f.seconds_left.is_none_or(|s| s < warn);
            if soon {
                tracing::warn!(issuer = %f.issuer, next_update = ?f.next_update, "a CRL goes stale soon");
            }
            serde_json::json!({
                "issuer": f.issuer,
                "number": f.number,
                "next_update": f.next_update,
                "seconds_left": f.seconds_left,
                "stale_soon": soon,
            })
        })
        .collect())
}
