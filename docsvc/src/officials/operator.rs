//! What an operator does offline with the keystore opened by the custodians' quorum (the
//! `docsvc official` CLI): register an official, active at once, the quorum that opened the
//! keystore being the second person (how a production node gets its first administrators);
//! and reset an official's secrets. Either way the official gets a one-time enrolment code and
//! sets their own password and PIN; the operator never sets or learns them. Logged as
//! `operator:cli`.

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::admin::NewOfficialRequest;
use crate::officials::directory::{self, Official};
use crate::officials::enrolment::{self, Code};
use crate::{Error, Result};

async fn log(node: &Node, action: &str, reason: String) -> Result<()> {
    crate::node::log_alone(
        node,
        &Entry::event(
            "operator:cli".into(),
            action,
            "allow",
            reason,
            node.policy.current().version(),
            None,
        ),
    )
    .await
}

/// Registers an official, active, with an enrolment code; the certificate request (PEM) for
/// their signing key comes back too.
pub async fn register(node: &Node, req: NewOfficialRequest) -> Result<(Official, String, Code)> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let (official, csr, code) =
        crate::officials::admin::create(node, req, policies::Status::Active).await?;
    log(
        node,
        "official_register",
        format!(
            "official {} registered by the operator under the custodians' quorum; enrolment code until {}",
            official.nip, code.expires_at
        ),
    )
    .await?;
    Ok((official, csr, code))
}

/// Resets an official's secrets (they stop working at once, sessions end): a new code.
pub async fn reset(node: &Node, nip: &str) -> Result<Code> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let (code, pending) = enrolment::issue(node.config.enrolment_seconds).await?;
    enrolment::reset_row(&node.store, nip, &pending).await?;
    log(
        node,
        "official_reset",
        format!(
            "official {nip}: secrets reset by the operator, sessions ended, new enrolment code until {}",
            code.expires_at
        ),
    )
    .await?;
    Ok(code)
}
