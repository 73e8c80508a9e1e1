//! Officials' sessions: an opaque cookie token (only its SHA-256 is stored), a CSRF token for
//! every state-changing request, and a PIN step-up that lasts a few minutes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sqlx::Row;
use time::OffsetDateTime;

use crate::directory::{self, Official};
use crate::store::Store;
use crate::{Error, Result, parse_time, rfc3339};

/// How long a PIN step-up holds.
pub const STEP_UP_MINUTES: i64 = 5;

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

fn random_token() -> Result<String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Error::Internal("no randomness".into()))?;
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
    let s = Session {
        token_hash: hash_token(&token),
        csrf: random_token()?,
        step_up_until: None,
        expires_at: now + time::Duration::minutes(minutes),
    };
    sqlx::query(
        "INSERT INTO sessions (token_hash, nip, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&s.token_hash)
    .bind(nip)
    .bind(&s.csrf)
    .bind(rfc3339(now))
    .bind(rfc3339(s.expires_at))
    .execute(store.pool())
    .await?;
    Ok((token, s))
}

/// The session and its official, checked on every request: the session must not have been
/// idle for `minutes` nor be older than `absolute_hours` however active, and the official must
/// still be active (a suspension ends sessions at once).
pub async fn lookup(
    store: &Store,
    token: &str,
    minutes: i64,
    absolute_hours: i64,
) -> Result<(Session, Official)> {
    let expired = || Error::Unauthenticated("the session has expired; log in again".into());
    let hash = hash_token(token);
    let row = sqlx::query(
        "SELECT nip, csrf, created_at, expires_at, step_up_until FROM sessions WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(store.reader())
    .await?
    .ok_or_else(expired)?;
    let now = OffsetDateTime::now_utc();
    let expires_at = parse_time(&row.try_get::<String, _>("expires_at")?).ok_or_else(expired)?;
    if expires_at <= now {
        end(store, token).await?;
        return Err(expired());
    }
    // An unreadable start time counts as too old.
    let created_at = parse_time(&row.try_get::<String, _>("created_at")?);
    if created_at.is_none_or(|t| t + time::Duration::hours(absolute_hours) <= now) {
        end(store, token).await?;
        return Err(Error::Unauthenticated(format!(
            "the session is older than {absolute_hours} hours; log in again"
        )));
    }
    let nip: String = row.try_get("nip")?;
    let official = directory::get(store, &nip).await?.ok_or_else(expired)?;
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
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE token_hash = $2")
            .bind(rfc3339(new_expiry))
            .bind(&hash)
            .execute(store.pool())
            .await?;
    }
    Ok((
        Session {
            token_hash: hash,
            csrf: row.try_get("csrf")?,
            step_up_until: row
                .try_get::<Option<String>, _>("step_up_until")?
                .and_then(|t| parse_time(&t)),
            expires_at: new_expiry,
        },
        official,
    ))
}

/// Records a PIN step-up on the session.
pub async fn step_up(store: &Store, session: &Session) -> Result<OffsetDateTime> {
    let until = OffsetDateTime::now_utc() + time::Duration::minutes(STEP_UP_MINUTES);
    sqlx::query("UPDATE sessions SET step_up_until = $1 WHERE token_hash = $2")
        .bind(rfc3339(until))
        .bind(&session.token_hash)
        .execute(store.pool())
        .await?;
    Ok(until)
}

pub async fn end(store: &Store, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(hash_token(token))
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Compares a presented CSRF token with the session's in constant time.
pub fn csrf_ok(session: &Session, presented: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        session.csrf.as_bytes(),
        presented.as_bytes(),
    ))
}
