//! Officials' sessions: an opaque cookie token (only its SHA-256 is stored), a CSRF token for
//! every state-changing request, and a PIN step-up that lasts a few minutes. Each row carries
//! the node's MAC ([`crate::integrity`]) over token hash, official, CSRF token, creation,
//! expiry and step-up, checked on every use: a row written into the database by anyone but
//! the node is refused and logged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sqlx::Row;
use time::OffsetDateTime;

use crate::officials::directory::{self, Official};
use crate::store::integrity::opt;
use crate::store::{Backend, Store};
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

/// A session's row as stored.
struct Stored {
    token_hash: String,
    nip: String,
    csrf: String,
    created_at: String,
    expires_at: String,
    step_up_until: Option<String>,
    mac: Option<String>,
}

const COLUMNS: &str = "token_hash, nip, csrf, created_at, expires_at, step_up_until, mac";

impl Stored {
    fn from_any(r: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(Stored {
            token_hash: r.try_get("token_hash")?,
            nip: r.try_get("nip")?,
            csrf: r.try_get("csrf")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            step_up_until: r.try_get("step_up_until")?,
            mac: r.try_get("mac")?,
        })
    }

    fn fields(&self) -> [Vec<u8>; 6] {
        [
            self.token_hash.as_bytes().to_vec(),
            self.nip.as_bytes().to_vec(),
            self.csrf.as_bytes().to_vec(),
            self.created_at.as_bytes().to_vec(),
            self.expires_at.as_bytes().to_vec(),
            opt(self.step_up_until.as_deref()),
        ]
    }

    fn mac(&self, store: &Store) -> Result<String> {
        let f = self.fields();
        store
            .integrity()
            .mac(DOMAIN, &f.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Whether the row carries the node's MAC.
    fn genuine(&self, store: &Store) -> Result<bool> {
        let f = self.fields();
        store.integrity().verify(
            DOMAIN,
            &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            self.mac.as_deref(),
        )
    }

    /// Logs the incident of a row without the node's MAC; the error to refuse with.
    async fn incident(&self, store: &Store) -> Error {
        store
            .integrity()
            .incident(
                &format!("official:{}", self.nip),
                &format!(
                    "a session row of official {} does not carry the node's MAC (forged or changed in the database)",
                    self.nip
                ),
            )
            .await
    }

    /// The row's MAC checked; a row that fails is an incident, logged, and refused.
    async fn check(&self, store: &Store) -> Result<()> {
        if self.genuine(store)? {
            Ok(())
        } else {
            Err(self.incident(store).await)
        }
    }

    /// Writes the row with a new MAC, if it is still as it was read (`old_mac`): a concurrent
    /// change (a withdrawn step-up) is never overwritten. Whether it was written.
    async fn save(&mut self, store: &Store, old_mac: Option<&str>) -> Result<bool> {
        self.mac = Some(self.mac(store)?);
        let done = sqlx::query(
            "UPDATE sessions SET expires_at = $1, step_up_until = $2, mac = $3 \
             WHERE token_hash = $4 AND nip = $5 AND mac = $6",
        )
        .bind(&self.expires_at)
        .bind(&self.step_up_until)
        .bind(&self.mac)
        .bind(&self.token_hash)
        .bind(&self.nip)
        .bind(old_mac)
        .execute(store.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    fn session(&self) -> Result<Session> {
        let bad = || Error::Integrity("a session row with a bad time".into());
        Ok(Session {
            token_hash: self.token_hash.clone(),
            csrf: self.csrf.clone(),
            step_up_until: self
                .step_up_until
                .as_deref()
                .map(|t| parse_time(t).ok_or_else(bad))
                .transpose()?,
            expires_at: parse_time(&self.expires_at).ok_or_else(bad)?,
        })
    }
}

async fn load(store: &Store, token_hash: &str) -> Result<Option<Stored>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(store.pool())
    .await?
    .as_ref()
    .map(Stored::from_any)
    .transpose()
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
    let mut row = Stored {
        token_hash: hash_token(&token),
        nip: nip.to_owned(),
        csrf: random_token()?,
        created_at: rfc3339(now),
        expires_at: rfc3339(now + time::Duration::minutes(minutes)),
        step_up_until: None,
        mac: None,
    };
    row.mac = Some(row.mac(store)?);
    sqlx::query(
        "INSERT INTO sessions (token_hash, nip, csrf, created_at, expires_at, mac) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.token_hash)
    .bind(&row.nip)
    .bind(&row.csrf)
    .bind(&row.created_at)
    .bind(&row.expires_at)
    .bind(&row.mac)
    .execute(store.pool())
    .await?;
    Ok((token, row.session()?))
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
    let mut row = load(store, &hash).await?.ok_or_else(expired)?;
    let now = OffsetDateTime::now_utc();
    let expires_at = parse_time(&row.expires_at).filter(|t| *t > now);
    if !row.genuine(store)? {
        // Refused and logged; kept as evidence. Expired either way, it answers as expired.
        let e = row.incident(store).await;
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
        if !row.save(store, old.as_deref()).await? {
            // Changed meanwhile (a step-up withdrawn): what is stored now holds.
            row = load(store, &hash).await?.ok_or_else(expired)?;
            row.check(store).await?;
        }
    }
    Ok((row.session()?, official))
}

/// Records a PIN step-up on the session.
pub async fn step_up(store: &Store, session: &Session) -> Result<OffsetDateTime> {
    let until = OffsetDateTime::now_utc() + time::Duration::minutes(STEP_UP_MINUTES);
    let gone = || Error::Unauthenticated("the session has expired; log in again".into());
    let mut row = load(store, &session.token_hash).await?.ok_or_else(gone)?;
    row.check(store).await?;
    let old = row.mac.clone();
    row.step_up_until = Some(rfc3339(until));
    if !row.save(store, old.as_deref()).await? {
        return Err(Error::Conflict(
            "the session changed meanwhile; enter the PIN again".into(),
        ));
    }
    Ok(until)
}

/// Withdraws the step-ups of every session of an official (a locked PIN).
pub async fn withdraw_step_ups(store: &Store, nip: &str) -> Result<()> {
    let lock = if store.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut tx = store.begin().await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE nip = $1 AND step_up_until IS NOT NULL{lock}"
    ))
    .bind(nip)
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        let mut row = Stored::from_any(r)?;
        let f = row.fields();
        let genuine = store.integrity().verify(
            DOMAIN,
            &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            row.mac.as_deref(),
        )?;
        row.step_up_until = None;
        // A row without the node's MAC keeps failing its check (and is refused at its next
        // use); it is never MAC'd here.
        let mac = if genuine {
            Some(row.mac(store)?)
        } else {
            row.mac.clone()
        };
        sqlx::query("UPDATE sessions SET step_up_until = NULL, mac = $1 WHERE token_hash = $2")
            .bind(mac)
            .bind(&row.token_hash)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
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
