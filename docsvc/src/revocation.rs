//! Revocation status from keymgr's CRLs, kept in the node's `crl/` directory (DER or PEM, as
//! `keymgr crl` writes them). A CRL counts only if its issuer's signature verifies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::parse_x509_crl;
use x509_parser::prelude::{ASN1Time, FromDer};

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
    stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
    crls: Vec<Parsed>,
}

#[derive(Debug)]
struct Parsed {
    /// The issuer name, DER.
    issuer: Vec<u8>,
    next_update: Option<ASN1Time>,
    /// Revoked serials (raw bytes) and when.
    revoked: HashMap<Vec<u8>, String>,
}

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

impl CrlCache {
    pub fn new(dir: PathBuf, issuers: Vec<Vec<u8>>) -> Self {
        CrlCache {
            dir,
            issuers,
            cached: Mutex::default(),
        }
    }

    /// The status of `cert_der` at `at`.
    pub fn status(&self, cert_der: &[u8], at: OffsetDateTime) -> Status {
        let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
            return Status::Unknown;
        };
        // The directory is looked at outside the lock: requests do not queue behind each
        // other's system calls.
        let now_stamp = stamp(&self.dir);
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now_stamp != cached.stamp {
            cached.crls = load(&self.dir, &self.issuers);
            cached.stamp = now_stamp;
        }
        let now = ASN1Time::from(at);
        for crl in &cached.crls {
            if crl.issuer != cert.issuer().as_raw() || crl.next_update.is_some_and(|n| n < now) {
                continue;
            }
            return match crl.revoked.get(cert.tbs_certificate.raw_serial()) {
                Some(at) => Status::Revoked { at: at.clone() },
                None => Status::Good,
            };
        }
        Status::Unknown
    }
}

/// Every CRL in `dir` whose signature verifies with one of `issuers`.
fn load(dir: &Path, issuers: &[Vec<u8>]) -> Vec<Parsed> {
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
        if signed {
            out.push(Parsed {
                issuer: crl.issuer().as_raw().to_vec(),
                next_update: crl.next_update(),
                revoked: crl
                    .iter_revoked_certificates()
                    .map(|r| (r.raw_serial().to_vec(), r.revocation_date.to_string()))
                    .collect(),
            });
        }
    }
    out
}
