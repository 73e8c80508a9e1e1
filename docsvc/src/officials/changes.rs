//! Dual control over who officials are. An administrator alone may not give anyone more than
//! they hold, nor let anyone in: a new official is registered suspended, and a raised clearance
//! is only asked for, until a second official with the role `pengelola_sandi` (not the one who
//! asked, not the official concerned, cleared at least as high, with their PIN step-up)
//! approves. Nobody asks for more than their own clearance. Lowering a clearance takes one.
//! Every request, approval and rejection is in the access log.

use policies::{Level, Status};
use serde::{Deserialize, Serialize};

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::Store;
use crate::store::official_changes::{self, ChangeRow};
use crate::{Error, Result, now_rfc3339};

/// The role that gives the second approval.
pub const APPROVER_ROLE: &str = "pengelola_sandi";
pub const REGISTER: &str = "register";
pub const CLEARANCE: &str = "clearance";

/// A change waiting for (or given) its second approval.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub id: String,
    pub nip: String,
    /// `register` or `clearance`.
    pub kind: String,
    /// The clearance asked for.
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: Level,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// `approved` or `rejected`; absent while pending.
    pub decision: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearanceRequest {
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: Level,
}

const DOMAIN: &str = "sandi official_changes v1";

/// The fields the node's MAC covers, in order.
fn fields(c: &Change) -> [Vec<u8>; 9] {
    [
        c.id.as_bytes().to_vec(),
        c.nip.as_bytes().to_vec(),
        c.kind.as_bytes().to_vec(),
        c.clearance.as_str().as_bytes().to_vec(),
        c.requested_by.as_bytes().to_vec(),
        c.requested_at.as_bytes().to_vec(),
        crate::store::integrity::opt(c.decided_by.as_deref()),
        crate::store::integrity::opt(c.decided_at.as_deref()),
        crate::store::integrity::opt(c.decision.as_deref()),
    ]
}

fn seal(store: &Store, c: &Change) -> Result<String> {
    let f = fields(c);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().mac(DOMAIN, &refs)
}

/// A row as stored, checked against its MAC: a forged or changed one is an integrity
/// incident (logged) to refuse with.
async fn row_change(store: &Store, row: ChangeRow) -> Result<Change> {
    let c = Change {
        id: row.id,
        nip: row.nip,
        kind: row.kind,
        clearance: row.clearance.parse().map_err(Error::Database)?,
        requested_by: row.requested_by,
        requested_at: row.requested_at,
        decided_by: row.decided_by,
        decided_at: row.decided_at,
        decision: row.decision,
    };
    let f = fields(&c);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    if store
        .integrity()
        .verify(DOMAIN, &refs, row.mac.as_deref())?
    {
        return Ok(c);
    }
    Err(store
        .integrity()
        .incident(
            &format!("official:{}", c.nip),
            &format!(
                "change {} to official {} does not carry the node's MAC (changed or forged in the database)",
                c.id, c.nip
            ),
        )
        .await)
}

fn forbidden(alasan: &str, reason: String) -> Error {
    Error::Forbidden {
        alasan: alasan.into(),
        reason,
        policies: vec!["dual-control-officials".into()],
    }
}

async fn log(
    node: &Node,
    actor: &Official,
    action: &str,
    decision: &str,
    reason: String,
    client: Option<String>,
) -> Result<()> {
    node.log
        .append(Entry::event(
            format!("official:{}", actor.nip),
            action,
            decision,
            reason,
            node.policy.current().version(),
            client,
        ))
        .await
}

/// Nobody asks for a clearance above their own.
pub async fn check_within_own(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    level: Level,
) -> Result<()> {
    if level <= admin.clearance {
        return Ok(());
    }
    let reason = format!(
        "denied: {} cannot give {nip} the clearance {}, above their own ({})",
        admin.nip,
        level.as_str(),
        admin.clearance.as_str()
    );
    log(
        node,
        admin,
        "official_change",
        "deny",
        reason.clone(),
        client,
    )
    .await?;
    Err(forbidden(
        "ditolak: tidak dapat memberi tingkat izin di atas tingkat izin sendiri",
        reason,
    ))
}

/// Records a change asked for by `admin`, pending the second approval, and logs it.
pub async fn request(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    kind: &str,
    level: Level,
) -> Result<Change> {
    let id = uuid::Uuid::new_v4().to_string();
    let change = Change {
        id: id.clone(),
        nip: nip.to_owned(),
        kind: kind.to_owned(),
        clearance: level,
        requested_by: admin.nip.clone(),
        requested_at: now_rfc3339(),
        decided_by: None,
        decided_at: None,
        decision: None,
    };
    let row = ChangeRow {
        id: change.id.clone(),
        nip: change.nip.clone(),
        kind: change.kind.clone(),
        clearance: level.as_str().to_owned(),
        requested_by: change.requested_by.clone(),
        requested_at: change.requested_at.clone(),
        decided_by: None,
        decided_at: None,
        decision: None,
        mac: Some(seal(&node.store, &change)?),
    };
    official_changes::insert_pending(&node.store, &row).await?;
    log(
        node,
        admin,
        &format!("official_{kind}_requested"),
        "allow",
        format!(
            "change {id}: {kind} of official {nip} at {}, pending a second approval by a {APPROVER_ROLE}",
            level.as_str()
        ),
        client,
    )
    .await?;
    get(node, &id)
        .await?
        .ok_or(Error::Vanished { what: "change", id })
}

async fn get(node: &Node, id: &str) -> Result<Option<Change>> {
    match official_changes::get(&node.store, id).await? {
        Some(r) => Ok(Some(row_change(&node.store, r).await?)),
        None => Ok(None),
    }
}

/// Pending changes, for administrators; a row that fails its MAC is left out (and logged).
pub async fn pending(node: &Node) -> Result<Vec<Change>> {
    let rows = official_changes::pending(&node.store).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match row_change(&node.store, r).await {
            Ok(c) => out.push(c),
            Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether `nip` was registered through a request that has not been approved: such an
/// official is not made active by a status change either. A row that fails its MAC counts
/// as unapproved (and is logged).
pub async fn registration_unapproved(store: &Store, nip: &str) -> Result<bool> {
    let rows = official_changes::of_official(store, nip, REGISTER).await?;
    let mut unapproved = false;
    for r in rows {
        unapproved |= match row_change(store, r).await {
            Ok(c) => c.decision.as_deref() != Some("approved"),
            Err(Error::Integrity(_)) => true,
            Err(e) => return Err(e),
        };
    }
    Ok(unapproved)
}

/// Why `me` may not decide `change` (`None`: they may).
fn refusal(me: &Official, change: &Change, approve: bool, stepped_up: bool) -> Option<String> {
    if !me.has_role(APPROVER_ROLE) || me.status != Status::Active {
        Some(format!(
            "denied: only an active {APPROVER_ROLE} approves changes to officials"
        ))
    } else if me.nip == change.requested_by {
        Some(
            "denied: the one who asked for a change cannot approve it; a second official must"
                .into(),
        )
    } else if me.nip == change.nip {
        Some("denied: nobody approves a change to themselves".into())
    } else if approve && me.clearance < change.clearance {
        Some(format!(
            "denied: approving clearance {} needs that clearance",
            change.clearance.as_str()
        ))
    } else if !stepped_up {
        Some("denied: approving a change to an official needs the signing PIN".into())
    } else {
        None
    }
}

/// On a node with an online CA (`[ca]`): the approved official's signing certificate and key
/// binding requested and installed. The approval stands if the CA cannot be reached; the
/// failure is logged and `docsvc certificate official` asks again.
async fn certify_from_ca(node: &Node, caller: &Caller, nip: &str) -> Result<()> {
    if node.config.ca.is_none() {
        return Ok(());
    }
    let (outcome, detail) = match crate::officials::certify::from_ca(node, nip).await {
        Ok(()) => (
            "allow",
            format!("official {nip}: certificate and key binding from the online CA installed"),
        ),
        Err(e) => {
            tracing::error!("official {nip}: no certificate from the online CA: {e}");
            (
                "error",
                format!("official {nip}: no certificate from the online CA: {e}"),
            )
        }
    };
    log(
        node,
        &caller.official,
        "official_certificate_ca",
        outcome,
        detail,
        caller.client.clone(),
    )
    .await
}

/// The second official approves (`approve`) or rejects a pending change; an approval applies
/// it: the registered official becomes active, or the clearance is raised.
pub async fn decide(node: &Node, caller: &Caller, id: &str, approve: bool) -> Result<Change> {
    let me = &caller.official;
    let change = get(node, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("change {id}")))?;
    let refusal = refusal(me, &change, approve, caller.stepped_up);
    if let Some(reason) = refusal {
        log(
            node,
            me,
            "official_change_decide",
            "deny",
            format!("change {id}: {reason}"),
            caller.client.clone(),
        )
        .await?;
        return Err(forbidden(
            "ditolak: perubahan data pejabat disetujui oleh pengelola sandi kedua",
            reason,
        ));
    }
    if approve && change.kind == REGISTER {
        // Only a registration still waiting becomes active: an official suspended or revoked
        // meanwhile stays so.
        let current = directory::get(&node.store, &change.nip)
            .await?
            .ok_or_else(|| Error::NotFound(format!("official {}", change.nip)))?;
        if current.status != Status::Suspended {
            return Err(Error::Conflict(format!(
                "change {id}: the official is {}, not waiting for approval",
                current.status.as_str()
            )));
        }
    }
    let decision = if approve { "approved" } else { "rejected" };
    let decided_at = now_rfc3339();
    let decided = Change {
        decided_by: Some(me.nip.clone()),
        decided_at: Some(decided_at.clone()),
        decision: Some(decision.to_owned()),
        ..change.clone()
    };
    let recorded = official_changes::decide(
        &node.store,
        id,
        &me.nip,
        &decided_at,
        decision,
        &seal(&node.store, &decided)?,
    )
    .await?;
    if !recorded {
        return Err(Error::Conflict(format!("change {id} was already decided")));
    }
    if approve {
        match change.kind.as_str() {
            REGISTER => {
                directory::set_status(&node.store, &change.nip, Status::Active).await?;
                certify_from_ca(node, caller, &change.nip).await?;
            }
            CLEARANCE => {
                directory::set_clearance(&node.store, &change.nip, change.clearance).await?;
                stronger_key_if_needed(node, caller, &change.nip, change.clearance).await?;
                certify_from_ca(node, caller, &change.nip).await?;
            }
            other => {
                return Err(Error::Integrity(format!(
                    "change {id}: unknown kind {other:?}"
                )));
            }
        }
    }
    log(
        node,
        me,
        &format!("official_{}_{decision}", change.kind),
        "allow",
        format!(
            "change {id}: {} of official {} at {}, asked by {}, {decision} as the second official",
            change.kind,
            change.nip,
            change.clearance.as_str(),
            change.requested_by
        ),
        caller.client.clone(),
    )
    .await?;
    get(node, id).await?.ok_or_else(|| Error::Vanished {
        what: "change",
        id: id.to_owned(),
    })
}

/// A clearance raised to a level whose handling gives a stronger signing key than the
/// official holds: they get one (the rule for a new official, applied on the raise), logged.
/// Until the key custodians certify it they sign nothing, rather than sign the new level with
/// a key its table refuses.
async fn stronger_key_if_needed(
    node: &Node,
    caller: &Caller,
    nip: &str,
    level: Level,
) -> Result<()> {
    let o = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let wanted = crate::officials::signing_key_kind(node.policy.current().handling(), level);
    let held = match o.signing_key {
        Some(k) => Some(node.keystore.info(k)?.kind),
        None => None,
    };
    let strength = |k: hsm_shim::KeyKind| match k {
        hsm_shim::KeyKind::EcdsaP384 => 2,
        hsm_shim::KeyKind::EcdsaP256 => 1,
        _ => 0,
    };
    if held.is_some_and(|h| strength(h) >= strength(wanted)) {
        return Ok(());
    }
    let key = directory::new_signing_key(&node.store, node.keystore.as_ref(), nip, wanted).await?;
    log(
        node,
        &caller.official,
        "official_signing_key",
        "allow",
        format!(
            "official {nip}: new {wanted} signing key {key} for clearance {}, which the handling \
             table asks for; the old certificate is withdrawn until the key custodians certify \
             the new key",
            level.as_str()
        ),
        caller.client.clone(),
    )
    .await
}

/// An administrator changes a clearance: lowering it is done at once; raising it is asked
/// for, up to their own clearance, and waits for the second approval (`None` when done).
pub async fn change_clearance(
    node: &Node,
    admin: &Official,
    client: Option<String>,
    nip: &str,
    level: Level,
) -> Result<Option<Change>> {
    let target = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    if level <= target.clearance {
        directory::set_clearance(&node.store, nip, level).await?;
        log(
            node,
            admin,
            "official_clearance",
            "allow",
            format!(
                "official {nip}: clearance {} -> {}",
                target.clearance.as_str(),
                level.as_str()
            ),
            client,
        )
        .await?;
        return Ok(None);
    }
    check_within_own(node, admin, client.clone(), nip, level).await?;
    request(node, admin, client, nip, CLEARANCE, level)
        .await
        .map(Some)
}
