//! Failure counters for officials' secrets (password and signing PIN), like Kanidm's softlock:
//! every check of a secret goes through here, so the count is one per official and secret
//! whichever path (API, web form, approval) asked.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::store::{Backend, Store};
use crate::{Error, Result, parse_time, rfc3339};

static REAL_CHECKS: AtomicU64 = AtomicU64::new(0);
static DUMMY_CHECKS: AtomicU64 = AtomicU64::new(0);

/// How many argon2 verifications this process ran: against officials' hashes, and against
/// the dummy hash (unknown NIP, locked account).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    pub real: u64,
    pub dummy: u64,
}

pub fn checks() -> Checks {
    Checks {
        real: REAL_CHECKS.load(Ordering::SeqCst),
        dummy: DUMMY_CHECKS.load(Ordering::SeqCst),
    }
}

/// Verifies `secret` against an argon2id `hash` (constant time inside argon2), counted.
pub(crate) fn verify(hash: &str, secret: &str, dummy: bool) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        let counter = if dummy { &DUMMY_CHECKS } else { &REAL_CHECKS };
        counter.fetch_add(1, Ordering::SeqCst);
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// Failures of one secret before it locks, and for how long it stays locked.
pub const MAX_FAILURES: i64 = 5;
pub const LOCK_MINUTES: i64 = 15;

/// Which of an official's secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    Password,
    Pin,
}

impl Secret {
    /// The columns of `officials` that hold its hash, failure count and lock.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Secret::Password => ("password_hash", "failed_logins", "locked_until"),
            Secret::Pin => ("pin_hash", "failed_pins", "pin_locked_until"),
        }
    }
}

/// What a check of a secret found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Right,
    /// Wrong; `locked` when this failure locked the secret (until then).
    Wrong { locked: Option<OffsetDateTime> },
    /// Locked by earlier failures until then: not checked.
    Locked(OffsetDateTime),
    /// No such official.
    Unknown,
}

/// An attempt allowed to check the hash: already counted as a failure.
enum Attempt {
    Unknown,
    Locked(OffsetDateTime),
    Go {
        hash: Zeroizing<String>,
        locks_at: Option<OffsetDateTime>,
    },
}

/// An argon2id hash of a random value, made once with the same parameters as officials'
/// hashes: what an unknown NIP or a locked account is checked against, so that the time of
/// the answer does not tell them from a known one.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = Zeroizing::new([0u8; 32]);
        let mut salt = [0u8; 16];
        let rng = ring::rand::SystemRandom::new();
        let made = ring::rand::SecureRandom::fill(&rng, secret.as_mut())
            .and_then(|()| ring::rand::SecureRandom::fill(&rng, &mut salt))
            .ok()
            .and_then(|()| SaltString::encode_b64(&salt).ok())
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(secret.as_ref(), &salt)
                    .ok()
                    .map(|h| h.to_string())
            });
        // Without randomness a fixed input still gives a hash of the same cost.
        made.unwrap_or_else(|| {
            SaltString::encode_b64(b"sandi-dummy-salt")
                .ok()
                .and_then(|salt| Argon2::default().hash_password(b"-", &salt).ok())
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
    })
}

/// Spends an argon2 check on the dummy hash.
pub(crate) async fn dummy_check(secret: &str) {
    let secret = Zeroizing::new(secret.to_owned());
    let _ = tokio::task::spawn_blocking(move || verify(dummy_hash(), &secret, true)).await;
}

/// Counts the attempt before the hash is checked, in one transaction with the row locked:
/// parallel attempts take their turn, and once `MAX_FAILURES` are counted the rest are
/// refused without a check. The attempt that reaches the limit sets the lock itself, so a
/// crash between counting and checking leaves the secret locked, not open.
async fn reserve(store: &Store, nip: &str, secret: Secret) -> Result<Attempt> {
    let (hash_col, count_col, until_col) = secret.columns();
    let lock = if store.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {hash_col}, {count_col}, {until_col} FROM officials WHERE nip = $1{lock}"
    ))
    .bind(nip)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Attempt::Unknown);
    };
    let now = OffsetDateTime::now_utc();
    let until = row
        .try_get::<Option<String>, _>(until_col)?
        .map(|t| parse_time(&t).ok_or_else(|| Error::Database(format!("bad {until_col}"))))
        .transpose()?;
    let mut failures: i64 = row.try_get(count_col)?;
    match until {
        Some(t) if t > now => return Ok(Attempt::Locked(t)),
        // A lock that has run out starts the count again.
        Some(_) => failures = 0,
        None => {}
    }
    failures += 1;
    let locks_at = (failures >= MAX_FAILURES).then(|| now + Duration::minutes(LOCK_MINUTES));
    sqlx::query(&format!(
        "UPDATE officials SET {count_col} = $1, {until_col} = $2 WHERE nip = $3"
    ))
    .bind(failures)
    .bind(locks_at.map(rfc3339))
    .bind(nip)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt::Go {
        hash: Zeroizing::new(row.try_get(hash_col)?),
        locks_at,
    })
}

/// Checks `presented` against the official's `secret`, counting failures: after
/// `MAX_FAILURES` in a row the secret is locked for `LOCK_MINUTES` (even the right one is
/// refused), and a locked signing PIN withdraws the official's step-ups.
pub async fn check(store: &Store, nip: &str, secret: Secret, presented: &str) -> Result<Verdict> {
    match reserve(store, nip, secret).await? {
        Attempt::Unknown => {
            dummy_check(presented).await;
            Ok(Verdict::Unknown)
        }
        Attempt::Locked(until) => {
            dummy_check(presented).await;
            Ok(Verdict::Locked(until))
        }
        Attempt::Go { hash, locks_at } => {
            let presented = Zeroizing::new(presented.to_owned());
            let right = tokio::task::spawn_blocking(move || verify(&hash, &presented, false))
                .await
                .map_err(|e| Error::Internal(format!("checking a secret: {e}")))?;
            if right {
                let (_, count_col, until_col) = secret.columns();
                sqlx::query(&format!(
                    "UPDATE officials SET {count_col} = 0, {until_col} = NULL WHERE nip = $1"
                ))
                .bind(nip)
                .execute(store.pool())
                .await?;
                return Ok(Verdict::Right);
            }
            Ok(Verdict::Wrong { locked: locks_at })
        }
    }
}
