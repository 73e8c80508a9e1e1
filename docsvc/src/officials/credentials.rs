//! An official presenting a credential, over the API or in a web page alike: the password to
//! log in, the signing PIN to step a session up. Each check is counted (see `lockout`) and
//! logged the same way whichever way it came.

use time::OffsetDateTime;

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::directory::{self, Official};
use crate::officials::session::{self, Session};
use crate::{Error, Result};

/// A login that succeeded: the official and their new session (the token goes in the cookie).
#[derive(Debug)]
pub struct LoggedIn {
    pub official: Official,
    pub token: String,
    pub session: Session,
}

/// Logs an official in with their password, logging the attempt either way; `how` is the
/// access log's reason for a success ("logged in", "logged in (web)"). `Ok(Err(e))` is a
/// refused login (wrong password, locked, not active: `e` says which), already logged.
/// The caller has checked the NIP's form and that the node is unsealed.
pub async fn log_in(
    node: &Node,
    nip: &str,
    password: &str,
    client: Option<String>,
    how: &str,
) -> Result<std::result::Result<LoggedIn, Error>> {
    let entry = |decision: &str, reason: String| {
        Entry::event(
            format!("official:{nip}"),
            "login",
            decision,
            reason,
            node.policy.current().version(),
            client.clone(),
        )
    };
    let official = match directory::login(&node.store, nip, password).await {
        Ok(o) => o,
        Err(e) => {
            // Sealed meanwhile: nothing can be logged, and the refusal stands as it is.
            if !node.is_sealed() {
                crate::node::log_alone(node, &entry("deny", e.to_string())).await?;
            }
            return Ok(Err(e));
        }
    };
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let (token, session) =
        session::create(&node.store, &official.nip, node.config.session_minutes).await?;
    crate::node::log_alone(node, &entry("allow", how.into())).await?;
    Ok(Ok(LoggedIn {
        official,
        token,
        session,
    }))
}

/// Steps `session` up for five minutes if `pin` is the official's signing PIN: `None` when
/// it is wrong (logged; a locked PIN is an error, see [`crate::officials::lockout::check_pin`]).
pub async fn step_up(
    node: &Node,
    nip: &str,
    session: &Session,
    pin: &str,
    client: Option<String>,
) -> Result<Option<OffsetDateTime>> {
    if !crate::officials::lockout::check_pin(node, nip, pin, client).await? {
        return Ok(None);
    }
    Ok(Some(session::step_up(&node.store, session).await?))
}
