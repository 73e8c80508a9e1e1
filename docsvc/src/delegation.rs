//! An official's consent to an application signing with their key: a delegation the official
//! grants themselves (with their PIN step-up), for one application, up to a classification and
//! until a time, revocable at any moment. The application's registration (`may_sign_for`, set by
//! an administrator) is not consent: `/api/v1/sign` signs as an official only under an active
//! delegation or with the official's PIN in the request. Every grant, revocation and use is in
//! the access log.

use policies::Level;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::documents::{Caller, log_alone};
use crate::node::Node;
use crate::{Error, Result, applications, now_rfc3339, parse_time, rfc3339};

/// The longest a delegation may run.
pub const MAX_DAYS: i64 = 366;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delegation {
    pub id: String,
    pub nip: String,
    pub application_id: String,
    /// The highest classification the application may sign at under it.
    #[schema(value_type = crate::api::LevelDoc)]
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
    #[schema(value_type = crate::api::LevelDoc)]
    pub max_classification: Level,
    /// How long it runs, 1 to 366 days.
    #[schema(minimum = 1, maximum = 366)]
    pub days: i64,
}

fn row_delegation(row: &sqlx::any::AnyRow, now: OffsetDateTime) -> Result<Delegation> {
    let expires_at: String = row.try_get("expires_at")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    let expires = parse_time(&expires_at)
        .ok_or_else(|| Error::Database(format!("delegation expiry {expires_at:?}")))?;
    Ok(Delegation {
        id: row.try_get("id")?,
        nip: row.try_get("nip")?,
        application_id: row.try_get("application_id")?,
        max_classification: row
            .try_get::<String, _>("max_classification")?
            .parse()
            .map_err(Error::Database)?,
        granted_at: row.try_get("granted_at")?,
        active: revoked_at.is_none() && now < expires,
        expires_at,
        revoked_at,
    })
}

const COLUMNS: &str =
    "id, nip, application_id, max_classification, granted_at, expires_at, revoked_at";

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
        return Err(Error::Invalid(format!(
            "a delegation runs 1 to {MAX_DAYS} days"
        )));
    }
    if g.max_classification > o.clearance {
        return Err(Error::Invalid(
            "a delegation cannot reach above the official's own clearance".into(),
        ));
    }
    let app = applications::get(&node.store, &g.application_id)
        .await?
        .filter(|a| a.status == policies::Status::Active)
        .ok_or_else(|| Error::Invalid(format!("no active application {:?}", g.application_id)))?;
    let now = OffsetDateTime::now_utc();
    let id = uuid::Uuid::new_v4().to_string();
    let expires_at = rfc3339(now + time::Duration::days(g.days));
    sqlx::query(&format!(
        "INSERT INTO delegations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
    ))
    .bind(&id)
    .bind(&o.nip)
    .bind(&app.id)
    .bind(g.max_classification.as_str())
    .bind(rfc3339(now))
    .bind(&expires_at)
    .execute(node.store.pool())
    .await?;
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
    get(node, &id)
        .await?
        .ok_or_else(|| Error::Internal("delegation vanished".into()))
}

async fn get(node: &Node, id: &str) -> Result<Option<Delegation>> {
    let now = OffsetDateTime::now_utc();
    sqlx::query(&format!("SELECT {COLUMNS} FROM delegations WHERE id = $1"))
        .bind(id)
        .fetch_optional(node.store.pool())
        .await?
        .map(|r| row_delegation(&r, now))
        .transpose()
}

/// The official's own delegations, newest first.
pub async fn list(node: &Node, nip: &str) -> Result<Vec<Delegation>> {
    let now = OffsetDateTime::now_utc();
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM delegations WHERE nip = $1 ORDER BY granted_at DESC, id"
    ))
    .bind(nip)
    .fetch_all(node.store.reader())
    .await?
    .iter()
    .map(|r| row_delegation(r, now))
    .collect()
}

/// The official revokes one of their own delegations (no PIN needed to withdraw consent).
pub async fn revoke(node: &Node, caller: &Caller, id: &str) -> Result<Delegation> {
    let nip = &caller.official.nip;
    let done = sqlx::query(
        "UPDATE delegations SET revoked_at = $1 WHERE id = $2 AND nip = $3 AND revoked_at IS NULL",
    )
    .bind(now_rfc3339())
    .bind(id)
    .bind(nip)
    .execute(node.store.pool())
    .await?;
    let d = get(node, id)
        .await?
        .filter(|d| &d.nip == nip)
        .ok_or_else(|| Error::NotFound(format!("delegation {id}")))?;
    if done.rows_affected() == 1 {
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
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM delegations WHERE nip = $1 AND application_id = $2 AND revoked_at IS NULL"
    ))
    .bind(nip)
    .bind(app)
    .fetch_all(node.store.pool())
    .await?;
    for r in &rows {
        let d = row_delegation(r, now)?;
        if d.active && level <= d.max_classification {
            return Ok(Some(d));
        }
    }
    Ok(None)
}
