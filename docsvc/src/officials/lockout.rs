//! Failure counters for officials' secrets (password and signing PIN), like Kanidm's softlock:
//! every check of a secret goes through here, so the count is one per official and secret
//! whichever path (API, web form, approval) asked.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::row::{self, OfficialRow};
use crate::store::Store;
use crate::{Error, Result, parse_time, rfc3339};

static REAL_CHECKS: AtomicU64 = AtomicU64::new(0);
static DUMMY_CHECKS: AtomicU64 = AtomicU64::new(0);
static HASHING_NOW: AtomicU64 = AtomicU64::new(0);
static HASHING_MOST: AtomicU64 = AtomicU64::new(0);

/// How many argon2 verifications this process ran: against officials' hashes, and against
/// the dummy hash (unknown NIP, locked account); and the most argon2 computations that ever
/// ran at once through [`hashing`] (every check and new hash an HTTP request can cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    pub real: u64,
    pub dummy: u64,
    pub most_at_once: u64,
}

pub fn checks() -> Checks {
    Checks {
        real: REAL_CHECKS.load(Ordering::SeqCst),
        dummy: DUMMY_CHECKS.load(Ordering::SeqCst),
        most_at_once: HASHING_MOST.load(Ordering::SeqCst),
    }
}

/// How many argon2 computations may run at once: one a core (at most 8). Each holds 19 MiB
/// (argon2's default cost) and a core for tens of milliseconds, so more at once would finish
/// none sooner; a flood of logins waits for a turn instead of growing the node's memory and
/// filling the blocking pool.
pub fn hashing_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

/// How long a secret check waits for a turn before the caller is answered 503.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `work` (argon2: checking or hashing a secret) on a blocking thread once one of the
/// [`hashing_at_once`] turns is free. The turn goes with the work, not with the caller: a
/// client that hangs up while its check runs cannot hand its turn to the next one early.
pub(crate) async fn hashing<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static TURNS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    let task = |e: &dyn std::fmt::Display| Error::Task {
        what,
        detail: e.to_string(),
    };
    let turns = std::sync::Arc::clone(
        TURNS.get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(hashing_at_once()))),
    );
    // A wait with an end: under a flood, a caller is told to come back (503) rather than
    // queued behind thousands.
    let turn = tokio::time::timeout(TURN_WAIT, turns.acquire_owned())
        .await
        .map_err(|_| Error::Busy("too many secret checks at once; try again shortly".into()))?
        .map_err(|e| task(&e))?;
    tokio::task::spawn_blocking(move || {
        let done = {
            let _counted = Computing::start();
            work()
        };
        // Counted out before the turn is free, so the count never runs past the turns.
        drop(turn);
        done
    })
    .await
    .map_err(|e| task(&e))
}

/// One argon2 computation running, counted while it lasts.
struct Computing;

impl Computing {
    fn start() -> Computing {
        let now = HASHING_NOW.fetch_add(1, Ordering::SeqCst) + 1;
        HASHING_MOST.fetch_max(now, Ordering::SeqCst);
        Computing
    }
}

impl Drop for Computing {
    fn drop(&mut self) {
        HASHING_NOW.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Verifies `secret` against an argon2id `hash` (constant time inside argon2), counted. Call
/// it inside [`hashing`].
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
    /// The one-time enrolment code, counted with the password: wrong, used or expired codes
    /// lock logging in and enrolling alike.
    Enrolment,
}

/// What a check of a secret found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Right,
    /// Wrong; `locked` when this failure locked the secret (until then).
    Wrong {
        locked: Option<OffsetDateTime>,
    },
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
                .and_then(|salt| {
                    Argon2::default()
                        .hash_password(b"-", &salt)
                        .ok()
                        .map(|h| h.to_string())
                })
                .unwrap_or_default()
        })
    })
}

/// Spends an argon2 check on the dummy hash.
/// Fails only as a real check would (no turn free in time), so that the answer's kind does
/// not tell an unknown NIP from a known one either.
pub(crate) async fn dummy_check(secret: &str) -> Result<()> {
    let secret = Zeroizing::new(secret.to_owned());
    hashing("secret check", move || verify(dummy_hash(), &secret, true)).await?;
    Ok(())
}

/// The counter and lock of `secret` in an official's row, and its hash: empty (matching
/// nothing) for a secret not set yet and for an enrolment code that was used or has expired.
fn parts(
    r: &mut OfficialRow,
    secret: Secret,
    now: OffsetDateTime,
) -> (&mut i64, &mut Option<String>, &str) {
    match secret {
        Secret::Password => (&mut r.failed_logins, &mut r.locked_until, &r.password_hash),
        Secret::Pin => (&mut r.failed_pins, &mut r.pin_locked_until, &r.pin_hash),
        Secret::Enrolment => {
            // An unreadable expiry counts as expired.
            let live = r
                .enrolment_expires_at
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|t| t > now);
            let hash = if live {
                r.enrolment_hash.as_deref().unwrap_or("")
            } else {
                ""
            };
            (&mut r.failed_logins, &mut r.locked_until, hash)
        }
    }
}

/// Counts the attempt before the hash is checked, in one transaction with the row locked
/// and its MAC checked and renewed ([`row::update`]): parallel attempts take their
/// turn, and once `MAX_FAILURES` are counted the rest are refused without a check. The
/// attempt that reaches the limit sets the lock itself, so a crash between counting and
/// checking leaves the secret locked, not open.
async fn reserve(store: &Store, nip: &str, secret: Secret) -> Result<Attempt> {
    let now = OffsetDateTime::now_utc();
    let done = row::update(store, nip, |r| {
        let (failures, until, hash) = parts(r, secret, now);
        let hash = Zeroizing::new(hash.to_owned());
        let locked = until
            .as_deref()
            .map(|t| parse_time(t).ok_or_else(|| Error::Integrity("a bad lock time".into())))
            .transpose()?;
        match locked {
            Some(t) if t > now => return Ok(Attempt::Locked(t)),
            // A lock that has run out starts the count again.
            Some(_) => *failures = 0,
            None => {}
        }
        *failures += 1;
        let locks_at = (*failures >= MAX_FAILURES).then(|| now + Duration::minutes(LOCK_MINUTES));
        *until = locks_at.map(rfc3339);
        Ok(Attempt::Go { hash, locks_at })
    })
    .await?;
    if let Some((_, a)) = done {
        return Ok(a);
    }
    // No row to count in: the same durable write elsewhere, for the same time.
    row::decoy(store).await?;
    Ok(Attempt::Unknown)
}

/// Clears the count after the right secret.
async fn reset(store: &Store, nip: &str, secret: Secret) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    row::update(store, nip, |r| {
        let (failures, until, _) = parts(r, secret, now);
        *failures = 0;
        *until = None;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Checks `presented` against the official's `secret`, counting failures: after
/// `MAX_FAILURES` in a row the secret is locked for `LOCK_MINUTES` (even the right one is
/// refused), and a locked signing PIN withdraws the official's step-ups.
pub async fn check(store: &Store, nip: &str, secret: Secret, presented: &str) -> Result<Verdict> {
    Ok(check_against(store, nip, secret, presented).await?.0)
}

/// [`check`], with the hash the secret was right against (for the enrolment code, which its
/// use must then find unchanged: see `enrolment`).
pub(crate) async fn check_against(
    store: &Store,
    nip: &str,
    secret: Secret,
    presented: &str,
) -> Result<(Verdict, Zeroizing<String>)> {
    let none = || Zeroizing::new(String::new());
    match reserve(store, nip, secret).await? {
        Attempt::Unknown => {
            dummy_check(presented).await?;
            Ok((Verdict::Unknown, none()))
        }
        Attempt::Locked(until) => {
            dummy_check(presented).await?;
            Ok((Verdict::Locked(until), none()))
        }
        // No secret to check (not set yet; a code used or expired): the same argon2 check's
        // time against the dummy hash, and a failure counted like any other.
        Attempt::Go { hash, locks_at } if hash.is_empty() => {
            dummy_check(presented).await?;
            Ok((Verdict::Wrong { locked: locks_at }, none()))
        }
        Attempt::Go { hash, locks_at } => {
            let presented = Zeroizing::new(presented.to_owned());
            let checked = Zeroizing::new(hash.to_string());
            let right = hashing("secret check", move || verify(&hash, &presented, false)).await?;
            if right {
                reset(store, nip, secret).await?;
                return Ok((Verdict::Right, checked));
            }
            if locks_at.is_some() && secret == Secret::Pin {
                crate::officials::session::withdraw_step_ups(store, nip).await?;
            }
            Ok((Verdict::Wrong { locked: locks_at }, none()))
        }
    }
}

/// The error for a locked signing PIN: its own problem type (`locked`, 429), until when.
pub fn pin_locked(until: OffsetDateTime) -> Error {
    Error::Locked(format!(
        "the signing PIN is locked after {MAX_FAILURES} wrong entries until {} (PIN terkunci)",
        rfc3339(until)
    ))
}

/// Checks an official's signing PIN for any path that asks for it (API step-up, web step-up,
/// approval form), counted together: `false` when wrong. The failure that locks the PIN
/// withdraws the official's step-ups; every failure and the lock are logged.
pub async fn check_pin(node: &Node, nip: &str, pin: &str, client: Option<String>) -> Result<bool> {
    let verdict = check(&node.store, nip, Secret::Pin, pin).await?;
    let log = |reason: String| {
        let entry = Entry::event(
            format!("official:{nip}"),
            "step_up",
            "deny",
            reason,
            node.policy.current().version(),
            client.clone(),
        );
        async move { crate::node::log_alone(node, &entry).await }
    };
    match verdict {
        Verdict::Right => Ok(true),
        Verdict::Wrong { locked: None } | Verdict::Unknown => {
            log("wrong signing PIN".into()).await?;
            Ok(false)
        }
        Verdict::Wrong {
            locked: Some(until),
        } => {
            log(format!(
                "wrong signing PIN: locked until {} after {MAX_FAILURES} wrong entries; the official's step-ups are withdrawn",
                rfc3339(until)
            ))
            .await?;
            Err(pin_locked(until))
        }
        Verdict::Locked(until) => {
            log(format!("signing PIN locked until {}", rfc3339(until))).await?;
            Err(pin_locked(until))
        }
    }
}
