//! Officials' sessions: an opaque cookie token (only its SHA-256 is stored), a CSRF token for
//! every state-changing request, and a PIN step-up that lasts a few minutes. Each row carries
//! the node's MAC ([`crate::store::integrity`]) over token hash, official, CSRF token, creation,
//! expiry and step-up, checked on every use: a row written into the database by anyone but
//! the node is refused and logged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use time::OffsetDateTime;

use crate::officials::directory::{self, Official};
use crate::store::Store;
use crate::store::integrity::opt;
use crate::store::sessions::{self, SessionRow as Stored};
use crate::{Error, Result, parse_time, rfc3339};

/// How long a PIN step-up holds.
pub const STEP_UP_MINUTES: i64 = 5;

const DOMAIN: &str = "sandi:sessions:v1";

#[derive(Clone, Debug)]
pub struct Session {
    pub token_hash: String,
    pub csrf: String,
    pub step_up_until: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

impl Session {
    pub fn stepped_up(&self) -> bool {
        self.step_up_until
            .is_some_and(|t| t > OffsetDateTime::now_utc())
    }
}

/// What the MAC covers, in order.
fn fields(r: &Stored) -> [Vec<u8>; 6] {
    [
        r.token_hash.as_bytes().to_vec(),
        r.nip.as_bytes().to_vec(),
        r.csrf.as_bytes().to_vec(),
        r.created_at.as_bytes().to_vec(),
        r.expires_at.as_bytes().to_vec(),
        opt(r.step_up_until.as_deref()),
    ]
}

fn mac(store: &Store, r: &Stored) -> Result<String> {
    let f = fields(r);
    store
        .integrity()
        .mac(DOMAIN, &f.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// Whether the row carries the node's MAC.
fn genuine(store: &Store, r: &Stored) -> Result<bool> {
    let f = fields(r);
    store.integrity().verify(
        DOMAIN,
        &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        r.mac.as_deref(),
    )
}

/// Logs the incident of a row without the node's MAC; the error to refuse with.
async fn incident(store: &Store, r: &Stored) -> Error {
    store
        .integrity()
        .incident(
            &format!("official:{}", r.nip),
            &format!(
                "a session row of official {} does not carry the node's MAC (forged or changed in the database)",
                r.nip
            ),
        )
        .await
}

/// The row's MAC checked; a row that fails is an incident, logged, and refused.
async fn check(store: &Store, r: &Stored) -> Result<()> {
    if genuine(store, r)? {
        Ok(())
    } else {
        Err(incident(store, r).await)
    }
}

/// Writes the row with a new MAC, if it is still as it was read (`old_mac`): a concurrent
/// change (a withdrawn step-up) is never overwritten. Whether it was written.
async fn save(store: &Store, r: &mut Stored, old_mac: Option<&str>) -> Result<bool> {
    r.mac = Some(mac(store, r)?);
    sessions::update_if_unchanged(store, r, old_mac).await
}

fn session_of(r: &Stored) -> Result<Session> {
    let bad = || Error::Integrity("a session row with a bad time".into());
    Ok(Session {
        token_hash: r.token_hash.clone(),
        csrf: r.csrf.clone(),
        step_up_until: r
            .step_up_until
            .as_deref()
            .map(|t| parse_time(t).ok_or_else(bad))
            .transpose()?,
        expires_at: parse_time(&r.expires_at).ok_or_else(bad)?,
    })
}

fn random_token() -> Result<String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Error::NoRandomness)?;
    Ok(B64URL.encode(b))
}

fn hash_token(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Starts a session; returns the cookie token (shown once) and the session.
pub async fn create(store: &Store, nip: &str, minutes: i64) -> Result<(String, Session)> {
    let token = random_token()?;
    let now = OffsetDateTime::now_utc();
    let mut row = Stored {
        token_hash: hash_token(&token),
        nip: nip.to_owned(),
        csrf: random_token()?,
        created_at: rfc3339(now),
        expires_at: rfc3339(now + time::Duration::minutes(minutes)),
        step_up_until: None,
        mac: None,
    };
    row.mac = Some(mac(store, &row)?);
    sessions::insert(store, &row).await?;
    Ok((token, session_of(&row)?))
}

/// The session and its official, checked on every request: the row must carry the node's
/// MAC, the session must not have been idle for `minutes` nor be older than `absolute_hours`
/// however active, and the official must still be active (a suspension ends sessions at once).
pub async fn lookup(
    store: &Store,
    token: &str,
    minutes: i64,
    absolute_hours: i64,
) -> Result<(Session, Official)> {
    let expired = || Error::Unauthenticated("the session has expired; log in again".into());
    let hash = hash_token(token);
    let mut row = sessions::get(store, &hash).await?.ok_or_else(expired)?;
    let now = OffsetDateTime::now_utc();
    let expires_at = parse_time(&row.expires_at).filter(|t| *t > now);
    if !genuine(store, &row)? {
        // Refused and logged; kept as evidence. Expired either way, it answers as expired.
        let e = incident(store, &row).await;
        return Err(if expires_at.is_none() { expired() } else { e });
    }
    let Some(expires_at) = expires_at else {
        end(store, token).await?;
        return Err(expired());
    };
    // An unreadable start time counts as too old.
    let created_at = parse_time(&row.created_at);
    if created_at.is_none_or(|t| t + time::Duration::hours(absolute_hours) <= now) {
        end(store, token).await?;
        return Err(Error::Unauthenticated(format!(
            "the session is older than {absolute_hours} hours; log in again"
        )));
    }
    let official = directory::get(store, &row.nip).await?.ok_or_else(expired)?;
    if official.status != policies::Status::Active {
        end(store, token).await?;
        return Err(Error::Unauthenticated(format!(
            "the account is {}",
            official.status.as_str()
        )));
    }
    // Sliding expiry: each request extends an idle session.
    let new_expiry = now + time::Duration::minutes(minutes);
    if new_expiry - expires_at > time::Duration::minutes(1) {
        let old = row.mac.clone();
        row.expires_at = rfc3339(new_expiry);
        if !save(store, &mut row, old.as_deref()).await? {
            // Changed meanwhile (a step-up withdrawn): what is stored now holds.
            row = sessions::get(store, &hash).await?.ok_or_else(expired)?;
            check(store, &row).await?;
        }
    }
    Ok((session_of(&row)?, official))
}

/// Records a PIN step-up on the session.
pub async fn step_up(store: &Store, session: &Session) -> Result<OffsetDateTime> {
    let until = OffsetDateTime::now_utc() + time::Duration::minutes(STEP_UP_MINUTES);
    let gone = || Error::Unauthenticated("the session has expired; log in again".into());
    let mut row = sessions::get(store, &session.token_hash)
        .await?
        .ok_or_else(gone)?;
    check(store, &row).await?;
    let old = row.mac.clone();
    row.step_up_until = Some(rfc3339(until));
    if !save(store, &mut row, old.as_deref()).await? {
        return Err(Error::Conflict(
            "the session changed meanwhile; enter the PIN again".into(),
        ));
    }
    Ok(until)
}

/// Withdraws the step-ups of every session of an official (a locked PIN).
pub async fn withdraw_step_ups(store: &Store, nip: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    let rows = sessions::stepped_up_for_update(&mut tx, store.backend(), nip).await?;
    for mut row in rows {
        let genuine = genuine(store, &row)?;
        row.step_up_until = None;
        // A row without the node's MAC keeps failing its check (and is refused at its next
        // use); it is never MAC'd here.
        let mac = if genuine {
            Some(mac(store, &row)?)
        } else {
            row.mac.clone()
        };
        sessions::clear_step_up(&mut tx, &row.token_hash, mac.as_deref()).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn end(store: &Store, token: &str) -> Result<()> {
    sessions::delete(store, &hash_token(token)).await
}

/// Compares a presented CSRF token with the session's in constant time.
pub fn csrf_ok(session: &Session, presented: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        session.csrf.as_bytes(),
        presented.as_bytes(),
    ))
}
