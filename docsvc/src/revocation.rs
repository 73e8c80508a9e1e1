//! Revocation status from keymgr's CRLs, kept in the node's `crl/` directory (DER or PEM, as
//! `keymgr crl` writes them). A CRL counts only if its issuer's signature verifies.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::parse_x509_crl;
use x509_parser::prelude::{ASN1Time, FromDer};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

/// The status of `cert_der` at `at` according to the CRLs in `dir` signed by one of `issuers`.
pub fn status(dir: &Path, cert_der: &[u8], issuers: &[Vec<u8>], at: OffsetDateTime) -> Status {
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return Status::Unknown;
    };
    let now = ASN1Time::from(at);
    let serial = cert.tbs_certificate.raw_serial();
    for der in crl_ders(dir) {
        let Ok((_, crl)) = parse_x509_crl(&der) else {
            continue;
        };
        if crl.issuer() != cert.issuer() || crl.next_update().is_some_and(|n| n < now) {
            continue;
        }
        let signed = issuers.iter().any(|i| {
            X509Certificate::from_der(i).is_ok_and(|(_, issuer)| {
                issuer.subject() == crl.issuer()
                    && crl.verify_signature(issuer.public_key()).is_ok()
            })
        });
        if !signed {
            continue;
        }
        if let Some(r) = crl
            .iter_revoked_certificates()
            .find(|r| r.raw_serial() == serial)
        {
            return Status::Revoked {
                at: r.revocation_date.to_string(),
            };
        }
        return Status::Good;
    }
    Status::Unknown
}
