//! What this node concludes about a certificate's revocation from its CRL cache
//! ([`crate::crypto::revocation`]): refused when unknown (fail closed), logged and counted;
//! a letter signature's standing; the CRLs' freshness for `/readyz` and the metrics.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::audit::Entry;
use crate::crypto::revocation::{SignatureStatus, Status};
use crate::crypto::signature::Verified;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::{Error, Result};

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

/// The revocation standing of a verified signature, judged at the time its verification used
/// ([`Verified::checked_at`]). With a time-stamp (every letter signature, approval and
/// destruction record carries one) that is the token's `genTime`: the TSA's certificate must
/// not have been revoked by then, and the signer's counts unless it was revoked by then, so a
/// revocation after signing leaves the signature standing and a key used after its revocation
/// signs nothing. Without one (an application's signature) it is the later of the signed
/// signing time and `stored_at` (neither a stolen key nor a database writer can move both
/// back before a revocation). Unknown is refused as in [`require`].
pub fn signature_status(
    node: &Node,
    verified: &Verified,
    stored_at: Option<&str>,
) -> Result<SignatureStatus> {
    let now = OffsetDateTime::now_utc();
    let signed = match &verified.timestamp {
        Some(stamp) => {
            stamp_stands(node, stamp)?;
            Some(stamp.at)
        }
        // Every time given must be readable, else the signature cannot be placed before the
        // revocation.
        None => [verified.signing_time.as_deref(), stored_at]
            .into_iter()
            .flatten()
            .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().max()),
    };
    let revocation = match node.crls.status_with_time(&verified.signer_der, now) {
        (Status::Unknown, _) => {
            return Err(unknown(node, &verified.signer_der, "signer's certificate"));
        }
        (Status::Good, _) | (Status::Revoked { .. }, None) => return Ok(SignatureStatus::Valid),
        (Status::Revoked { .. }, Some(r)) => r,
    };
    let revoked_at = crate::rfc3339(revocation.at);
    let reason = revocation.reason.map(str::to_owned);
    Ok(match signed {
        Some(t) if t < revocation.at => SignatureStatus::RevokedAfterSigning { revoked_at, reason },
        _ => SignatureStatus::RevokedBeforeSigning { revoked_at, reason },
    })
}

/// A time-stamp's TSA certificate was not revoked by the time it stamped (a revocation after
/// leaves the stamp standing); unknown is refused as in [`require`].
pub fn stamp_stands(node: &Node, stamp: &crate::crypto::timestamp::Stamp) -> Result<()> {
    match node
        .crls
        .status_with_time(&stamp.tsa_der, OffsetDateTime::now_utc())
    {
        (Status::Unknown, _) => Err(unknown(node, &stamp.tsa_der, "TSA certificate")),
        (Status::Revoked { .. }, Some(r)) if r.at <= stamp.at => Err(Error::Integrity(format!(
            "the time-stamp's TSA certificate was revoked at {}, before it stamped at {}",
            crate::rfc3339(r.at),
            stamp.gen_time
        ))),
        _ => Ok(()),
    }
}

/// Sets the CRL gauges of `/metrics`: seconds until each issuer's CRL is stale (-1 without
/// one) and how many are missing, stale or stale within `crl_warn_hours`.
pub fn set_metrics(node: &Node) {
    let now = OffsetDateTime::now_utc();
    let warn = node.config.crl_warn_hours.saturating_mul(3600);
    let fresh = node.crls.freshness(now);
    node.metrics.crl_seconds_until_stale.clear();
    for f in &fresh {
        node.metrics
            .crl_seconds_until_stale
            .get_or_create(&crate::metrics::IssuerLabel {
                issuer: f.issuer.clone(),
            })
            .set(f.seconds_left.unwrap_or(-1));
    }
    let soon = fresh
        .iter()
        .filter(|f| f.seconds_left.is_none_or(|s| s < warn))
        .count();
    node.metrics
        .crl_stale_soon
        .set(i64::try_from(soon).unwrap_or(i64::MAX));
}

/// [`signature_status`] of a stored letter: at its time-stamp; without one, stored when this
/// node received it, or, for a letter made here, when this node wrote its manifest.
pub async fn letter_signature_status(
    node: &Node,
    id: &str,
    created_at: &str,
    verified: &Verified,
) -> Result<SignatureStatus> {
    if verified.timestamp.is_some() {
        return signature_status(node, verified, None);
    }
    let received = crate::store::traffic::first_received_at(&node.store, id).await?;
    signature_status(
        node,
        verified,
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
