//! An official's consent to an application signing with their key: a delegation the official
//! grants themselves (with their PIN step-up), for one application, up to a classification and
//! until a time, revocable at any moment. The application's registration (`may_sign_for`, set by
//! an administrator) is not consent: `/api/v1/sign` signs as an official only under an active
//! delegation or with the official's PIN in the request. Every grant, revocation and use is in
//! the access log.

use policies::Level;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::store::delegations::{self, DelegationRow as Stored};
use crate::{Error, Result, now_rfc3339, officials::applications, parse_time, rfc3339};

/// The longest a delegation may run.
pub const MAX_DAYS: i64 = 366;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delegation {
    pub id: String,
    pub nip: String,
    pub application_id: String,
    /// The highest classification the application may sign at under it.
    #[schema(value_type = crate::schema::LevelDoc)]
    pub max_classification: Level,
    pub granted_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    /// Not revoked and not expired.
    pub active: bool,
}

/// What an official grants.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub application_id: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub max_classification: Level,
    /// How long it runs, 1 to 366 days.
    #[schema(minimum = 1, maximum = 366)]
    pub days: i64,
}

const DOMAIN: &str = "sandi delegations v1";

/// The fields the node's MAC covers, in order: every field that makes the row consent.
fn fields(r: &Stored) -> [Vec<u8>; 7] {
    [
        r.id.as_bytes().to_vec(),
        r.nip.as_bytes().to_vec(),
        r.application_id.as_bytes().to_vec(),
        r.max_classification.as_bytes().to_vec(),
        r.granted_at.as_bytes().to_vec(),
        r.expires_at.as_bytes().to_vec(),
        crate::store::integrity::opt(r.revoked_at.as_deref()),
    ]
}

fn seal(node: &Node, r: &mut Stored) -> Result<()> {
    let f = fields(r);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    r.mac = Some(node.store.integrity().mac(DOMAIN, &refs)?);
    Ok(())
}

/// The delegation, if its MAC holds; else an integrity incident (logged) to refuse with.
async fn checked(node: &Node, r: Stored, now: OffsetDateTime) -> Result<Delegation> {
    let f = fields(&r);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    if !node
        .store
        .integrity()
        .verify(DOMAIN, &refs, r.mac.as_deref())?
    {
        return Err(node
            .store
            .integrity()
            .incident(
                &format!("official:{}", r.nip),
                &format!(
                    "delegation {} does not carry the node's MAC (changed or forged in the database)",
                    r.id
                ),
            )
            .await);
    }
    let expires = parse_time(&r.expires_at)
        .ok_or_else(|| Error::Database(format!("delegation expiry {:?}", r.expires_at)))?;
    Ok(Delegation {
        max_classification: r.max_classification.parse().map_err(Error::Database)?,
        active: r.revoked_at.is_none() && now < expires,
        id: r.id,
        nip: r.nip,
        application_id: r.application_id,
        granted_at: r.granted_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    })
}

async fn log(
    node: &Node,
    nip: &str,
    action: &str,
    decision: &str,
    reason: String,
    client: Option<String>,
) -> Result<()> {
    log_alone(
        node,
        &Entry::event(
            format!("official:{nip}"),
            action,
            decision,
            reason,
            node.policy.current().version(),
            client,
        ),
    )
    .await
}

fn refused(alasan: &str, reason: &str) -> Error {
    Error::Forbidden {
        alasan: alasan.into(),
        reason: reason.into(),
        policies: vec!["delegation".into()],
    }
}

/// The official grants `g`: only with their PIN step-up, for an active application, up to
/// their own clearance, for at most [`MAX_DAYS`].
pub async fn grant(node: &Node, caller: &Caller, g: &Grant) -> Result<Delegation> {
    let o = &caller.official;
    if !caller.stepped_up {
        log(
            node,
            &o.nip,
            "delegate",
            "deny",
            "without the signing PIN".into(),
            caller.client.clone(),
        )
        .await?;
        return Err(refused(
            "ditolak: pendelegasian tanda tangan memerlukan verifikasi PIN",
            "denied: delegating signing needs the signing PIN",
        ));
    }
    if !(1..=MAX_DAYS).contains(&g.days) {
        return Err(Error::invalid(
            "days",
            format!("a delegation runs 1 to {MAX_DAYS} days"),
        ));
    }
    if g.max_classification > o.clearance {
        return Err(Error::invalid(
            "max_classification",
            "a delegation cannot reach above the official's own clearance",
        ));
    }
    let app = applications::get(&node.store, &g.application_id)
        .await?
        .filter(|a| a.status == policies::Status::Active)
        .ok_or_else(|| {
            Error::invalid(
                "application_id",
                format!("no active application {:?}", g.application_id),
            )
        })?;
    let now = OffsetDateTime::now_utc();
    let id = uuid::Uuid::new_v4().to_string();
    let expires_at = rfc3339(now + time::Duration::days(g.days));
    let mut row = Stored {
        id: id.clone(),
        nip: o.nip.clone(),
        application_id: app.id.clone(),
        max_classification: g.max_classification.as_str().to_owned(),
        granted_at: rfc3339(now),
        expires_at: expires_at.clone(),
        revoked_at: None,
        mac: None,
    };
    seal(node, &mut row)?;
    delegations::insert(&node.store, &row).await?;
    log(
        node,
        &o.nip,
        "delegate",
        "allow",
        format!(
            "delegation {id}: application {} may sign as this official up to {} until {expires_at}",
            app.id,
            g.max_classification.as_str()
        ),
        caller.client.clone(),
    )
    .await?;
    get(node, &id).await?.ok_or(Error::Vanished {
        what: "delegation",
        id,
    })
}

async fn get(node: &Node, id: &str) -> Result<Option<Delegation>> {
    match delegations::get(&node.store, id).await? {
        Some(row) => Ok(Some(checked(node, row, OffsetDateTime::now_utc()).await?)),
        None => Ok(None),
    }
}

/// The official's own delegations, newest first; a row that fails its MAC is left out (and
/// logged as an incident).
pub async fn list(node: &Node, nip: &str) -> Result<Vec<Delegation>> {
    let now = OffsetDateTime::now_utc();
    let rows = delegations::of_official(&node.store, nip).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match checked(node, r, now).await {
            Ok(d) => out.push(d),
            Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The official revokes one of their own delegations (no PIN needed to withdraw consent).
pub async fn revoke(node: &Node, caller: &Caller, id: &str) -> Result<Delegation> {
    let nip = &caller.official.nip;
    let not_found = || Error::NotFound(format!("delegation {id}"));
    let mut row = delegations::get(&node.store, id)
        .await?
        .filter(|r| &r.nip == nip)
        .ok_or_else(not_found)?;
    // Checked before it is re-sealed: revoking never launders a forged row.
    checked(node, row.clone(), OffsetDateTime::now_utc()).await?;
    let mut revoked_now = false;
    if row.revoked_at.is_none() {
        let revoked_at = now_rfc3339();
        row.revoked_at = Some(revoked_at.clone());
        seal(node, &mut row)?;
        revoked_now =
            delegations::revoke(&node.store, id, nip, &revoked_at, row.mac.as_deref()).await?;
    }
    let d = get(node, id).await?.ok_or_else(not_found)?;
    if revoked_now {
        log(
            node,
            nip,
            "revoke_delegation",
            "allow",
            format!(
                "delegation {id} of application {} revoked",
                d.application_id
            ),
            caller.client.clone(),
        )
        .await?;
    }
    Ok(d)
}

/// The delegation under which `app` may sign as `nip` at `level` now, if there is one.
pub async fn active(node: &Node, nip: &str, app: &str, level: Level) -> Result<Option<Delegation>> {
    let now = OffsetDateTime::now_utc();
    for r in delegations::unrevoked(&node.store, nip, app).await? {
        let d = checked(node, r, now).await?;
        if d.active && level <= d.max_classification {
            return Ok(Some(d));
        }
    }
    Ok(None)
}
