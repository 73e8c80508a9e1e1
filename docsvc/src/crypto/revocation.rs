//! Revocation status from keymgr's CRLs, kept in the node's `crl/` directory (DER or PEM, as
//! `keymgr crl` writes them). A CRL counts only if its issuer's signature verifies and it
//! carries a CRL number and a nextUpdate. Of several CRLs of one issuer the highest CRL number
//! wins, and the cache never goes back to a lower one, whatever the directory holds later.
//! Revocation fails closed: a certificate whose issuer has no current CRL is `Unknown`, and
//! `node::revocation::require` refuses it (problem `revocation-unknown`, logged and counted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::parse_x509_crl;
use x509_parser::prelude::{ASN1Time, FromDer};

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
    /// How many of `issuers`, from the first, must have a fresh CRL for the node to be ready;
    /// the rest (the root, whose CRL is signed only in ceremonies) are kept when held.
    required: usize,
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
    /// Revoked serials (raw bytes), when and why.
    revoked: HashMap<Vec<u8>, (ASN1Time, Option<&'static str>)>,
    /// The CRL as signed, for serving it on.
    der: Vec<u8>,
}

/// A CRL entry: when the certificate was revoked and the reason the CRL gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub at: OffsetDateTime,
    pub reason: Option<&'static str>,
}

/// The RFC 5280 name of a CRL reason code.
fn reason_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => return None,
    })
}

/// What became of a CRL offered to the cache (fetched from a distribution point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Newer than the one held: written to the CRL directory and in force now.
    Installed { number: String },
    /// Not newer than the one held: nothing changed.
    NotNewer { number: String },
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
                .filter_map(Result::ok)
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
            required: issuers.len(),
            issuers,
            cached: Mutex::default(),
        }
    }

    /// The cache also keeps the CRL of `ca_der` when it holds one (a signed PDF's long-term
    /// validation data carries it), without making the node's readiness wait for it.
    #[must_use]
    pub fn also_keeping(mut self, ca_der: Vec<u8>) -> Self {
        self.issuers.push(ca_der);
        self
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

    /// The status of `cert_der` at `at`, and its CRL entry if it was revoked.
    pub fn status_with_time(
        &self,
        cert_der: &[u8],
        at: OffsetDateTime,
    ) -> (Status, Option<Revocation>) {
        let Some(cert) = super::tbs::read(cert_der) else {
            return (Status::Unknown, None);
        };
        let cached = self.current();
        let Some(crl) = cached.best.get(cert.issuer) else {
            return (Status::Unknown, None);
        };
        if crl.next_update < ASN1Time::from(at) {
            return (Status::Unknown, None);
        }
        match crl.revoked.get(cert.serial_value) {
            Some((t, reason)) => (
                Status::Revoked { at: t.to_string() },
                Some(Revocation {
                    at: t.to_datetime(),
                    reason: *reason,
                }),
            ),
            None => (Status::Good, None),
        }
    }

    /// Takes a CRL fetched from a distribution point: one that a trusted CA signed and whose
    /// number is higher than the one held is written into the CRL directory (whole, then
    /// renamed, so a reader never sees half of it) and is in force at once; an older or equal
    /// one changes nothing. Anything else is refused.
    pub fn offer(&self, der: Vec<u8>) -> Result<Offer> {
        let (issuer, parsed) = parse_signed(der, &self.issuers).ok_or_else(|| {
            Error::invalid(
                "CRL",
                "not a CRL with a number and a nextUpdate signed by a CA this node trusts",
            )
        })?;
        let number = hex::encode(&parsed.number);
        let mut cached = self.current();
        if cached
            .best
            .get(&issuer)
            .is_some_and(|old| !higher(&parsed.number, &old.number))
        {
            return Ok(Offer::NotNewer { number });
        }
        let name = hex::encode(&ring::digest::digest(&ring::digest::SHA256, &issuer).as_ref()[..8]);
        let path = self.dir.join(format!("fetched-{name}.crl"));
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("creating", &self.dir, e))?;
        let tmp = self.dir.join(format!(
            ".fetched-{name}.{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        crate::private_files::write_private(&tmp, &parsed.der)?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io("renaming into place", &path, e)
        })?;
        cached.best.insert(issuer, parsed);
        Ok(Offer::Installed { number })
    }

    /// The CRL in force for the CA whose certificate is `ca_der`, as signed.
    pub fn current_der(&self, ca_der: &[u8]) -> Option<Vec<u8>> {
        let (_, ca) = X509Certificate::from_der(ca_der).ok()?;
        self.current()
            .best
            .get(ca.subject().as_raw())
            .map(|c| c.der.clone())
    }

    /// [`CrlCache::current_der`], if that CRL still stands at `at` (before its nextUpdate).
    pub fn current_der_at(&self, ca_der: &[u8], at: OffsetDateTime) -> Option<Vec<u8>> {
        let (_, ca) = X509Certificate::from_der(ca_der).ok()?;
        self.current()
            .best
            .get(ca.subject().as_raw())
            .filter(|c| c.next_update >= ASN1Time::from(at))
            .map(|c| c.der.clone())
    }

    /// How current the CRL of each issuer is at `at`.
    pub fn freshness(&self, at: OffsetDateTime) -> Vec<Freshness> {
        let cached = self.current();
        self.issuers
            .iter()
            .take(self.required)
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
        if let Some(parsed) = parse_signed(der, issuers) {
            out.push(parsed);
        }
    }
    out
}

/// A CRL whose signature verifies with one of `issuers` and that carries a CRL number and a
/// nextUpdate, with its issuer name (DER); none otherwise.
fn parse_signed(der: Vec<u8>, issuers: &[Vec<u8>]) -> Option<(Vec<u8>, Parsed)> {
    let (_, crl) = parse_x509_crl(&der).ok()?;
    let signed = issuers.iter().any(|i| {
        X509Certificate::from_der(i).is_ok_and(|(_, issuer)| {
            issuer.subject() == crl.issuer() && crl.verify_signature(issuer.public_key()).is_ok()
        })
    });
    let (Some(number), Some(next_update)) = (crl.crl_number(), crl.next_update()) else {
        return None;
    };
    if !signed {
        return None;
    }
    let issuer = crl.issuer().as_raw().to_vec();
    let parsed = Parsed {
        issuer_name: crl.issuer().to_string(),
        number: trimmed(&number.to_bytes_be()),
        next_update,
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| {
                let reason = r.reason_code().and_then(|(_, c)| reason_name(c.0));
                (r.raw_serial().to_vec(), (r.revocation_date, reason))
            })
            .collect(),
        der: Vec::new(),
    };
    Some((issuer, Parsed { der, ..parsed }))
}

/// A letter signature's standing once its signer's certificate is checked against the CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// The certificate is not revoked.
    Valid,
    /// Revoked after the signature was time-stamped (or, without a time-stamp, signed and
    /// stored): the signature stands.
    RevokedAfterSigning {
        revoked_at: String,
        /// The CRL's reason code, when it gives one.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Revoked before the signature was time-stamped (or signed or stored): it does not count.
    RevokedBeforeSigning {
        revoked_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl SignatureStatus {
    pub fn is_valid(&self) -> bool {
        !matches!(self, SignatureStatus::RevokedBeforeSigning { .. })
    }
}
