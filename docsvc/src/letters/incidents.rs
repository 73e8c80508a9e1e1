//! A letter opened for a caller: loaded and checked, and a failed integrity check logged as an
//! incident in the caller's name, whichever way (API or web page) the caller came.

use crate::audit::Entry;
use crate::letters::documents::{self, Checked};
use crate::node::Node;
use crate::officials::Caller;
use crate::{Error, Result};

/// Loads and checks letter `id` (see [`documents::load_checked`]) for `caller`; an integrity
/// failure is logged as an incident about the letter, then named.
pub async fn load_checked(node: &Node, caller: &Caller, id: &str) -> Result<Checked> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    match documents::load_checked(node, id).await {
        Err(Error::Integrity(why)) => {
            crate::node::log_alone(
                node,
                &Entry::event(
                    caller.actor(),
                    "integrity_incident",
                    "error",
                    why.clone(),
                    node.policy.current().version(),
                    caller.client.clone(),
                )
                .about(id),
            )
            .await?;
            Err(Error::Integrity(why))
        }
        r => r,
    }
}
