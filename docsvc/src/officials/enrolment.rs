//! Officials own their secrets (like Kanidm's enrolment by intent token): an administrator
//! creates an official, or resets one, and receives a one-time enrolment code; the official
//! presents NIP and code once and sets their own password and signing PIN. The code is random
//! (128 bits), shown once, kept only as an argon2id hash with its expiry in the official's row
//! (under the row's MAC, so a database writer can neither plant a code nor reset anyone), and
//! checked through `lockout`, so wrong, used and expired codes count like failed logins.
//! Officials change their own password and PIN with the current one; an administrator never
//! learns or sets either.

use serde::{Serialize, Serializer};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::audit::Entry;
use crate::node::Node;
use crate::officials::directory::{self, MAX_SECRET_CHARS};
use crate::officials::lockout::{self, Secret, Verdict};
use crate::officials::row;
use crate::store::{Store, sessions};
use crate::{Error, Result, parse_time, rfc3339};

/// Random bytes in a code (128 bits), written as 32 hex digits in groups of four.
const CODE_BYTES: usize = 16;
/// The longest code text read: the digits with their separators, and some slack for spaces.
const MAX_CODE_CHARS: usize = 64;

/// An outstanding code as the official's row keeps it.
#[derive(Debug)]
pub struct Pending {
    pub(crate) hash: String,
    pub(crate) expires_at: OffsetDateTime,
}

/// A one-time enrolment code, for the administrator to hand to the official (shown once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Code {
    /// The code itself: 32 hex digits in groups of four. Only its hash is kept.
    #[serde(rename = "enrolment_code", serialize_with = "expose")]
    #[schema(value_type = String)]
    pub code: Zeroizing<String>,
    /// When it stops working (RFC 3339).
    #[serde(rename = "enrolment_expires_at")]
    pub expires_at: String,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn expose<S: Serializer>(code: &Zeroizing<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(code)
}

/// A new code valid for `seconds`: the code to show once and what the row keeps.
pub(crate) async fn issue(seconds: i64) -> Result<(Code, Pending)> {
    let mut b = Zeroizing::new([0u8; CODE_BYTES]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), b.as_mut())
        .map_err(|_| Error::NoRandomness)?;
    let digits = Zeroizing::new(hex::encode(&b[..]));
    let mut code = Zeroizing::new(String::with_capacity(40));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(c);
    }
    let hash = lockout::hashing("hashing an enrolment code", move || {
        directory::hash_secret(&digits)
    })
    .await??;
    let expires_at = OffsetDateTime::now_utc() + Duration::seconds(seconds.max(1));
    Ok((
        Code {
            code,
            expires_at: rfc3339(expires_at),
        },
        Pending { hash, expires_at },
    ))
}

/// The code as typed, bounded and reduced to its digits (separators, spaces and case
/// dropped), as it was hashed.
fn normalise(code: &str) -> Result<Zeroizing<String>> {
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(Error::invalid(
            "code",
            format!("an enrolment code is at most {MAX_CODE_CHARS} characters"),
        ));
    }
    Ok(Zeroizing::new(
        code.chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .flat_map(char::to_lowercase)
            .collect(),
    ))
}

/// What a refused enrolment answers, alike for an unknown NIP, a wrong, used or expired
/// code and a locked account.
fn refused() -> Error {
    Error::Unauthenticated(format!(
        "wrong NIP or enrolment code, or the code was used or has expired (kode pendaftaran \
         salah, sudah dipakai atau kedaluwarsa); after {} failures the account locks for {} \
         minutes",
        lockout::MAX_FAILURES,
        lockout::LOCK_MINUTES
    ))
}

async fn log(
    node: &Node,
    actor: &str,
    action: &str,
    decision: &str,
    reason: String,
    client: Option<String>,
) -> Result<()> {
    crate::node::log_alone(
        node,
        &Entry::event(
            actor.to_owned(),
            action,
            decision,
            reason,
            node.policy.current().version(),
            client,
        ),
    )
    .await
}

/// Hashes a new password and PIN off the async threads.
async fn hash_pair(password: &str, pin: &str) -> Result<(Zeroizing<String>, Zeroizing<String>)> {
    let (password, pin) = (
        Zeroizing::new(password.to_owned()),
        Zeroizing::new(pin.to_owned()),
    );
    lockout::hashing("hashing new secrets", move || {
        Ok::<_, Error>((
            Zeroizing::new(directory::hash_secret(&password)?),
            Zeroizing::new(directory::hash_secret(&pin)?),
        ))
    })
    .await?
}

/// An official's first login: NIP and enrolment code, and the password and signing PIN they
/// choose. The code works once, until it expires; every refusal is logged and counted with
/// the official's failed logins. The official logs in afterwards as usual.
pub async fn enrol(
    node: &Node,
    nip: &str,
    code: &str,
    password: &str,
    pin: &str,
    client: Option<String>,
) -> Result<()> {
    keymgr::ca::check_nip(nip).map_err(|e| Error::invalid("nip", e.to_string()))?;
    directory::check_new_secrets(password, pin)?;
    let code = normalise(code)?;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let actor = format!("official:{nip}");
    let (verdict, matched) =
        lockout::check_against(&node.store, nip, Secret::Enrolment, &code).await?;
    if verdict != Verdict::Right {
        let why = match verdict {
            Verdict::Locked(until) => format!("locked until {}", rfc3339(until)),
            Verdict::Wrong {
                locked: Some(until),
            } => format!(
                "wrong, used or expired enrolment code: locked until {} after {} failures",
                rfc3339(until),
                lockout::MAX_FAILURES
            ),
            _ => "wrong, used or expired enrolment code".into(),
        };
        log(node, &actor, "enrol", "deny", why, client).await?;
        return Err(refused());
    }
    let (password_hash, pin_hash) = hash_pair(password, pin).await?;
    // Used once: the row must still hold the very code that matched (a parallel use, or a
    // reset meanwhile, leaves nothing to use).
    let now = OffsetDateTime::now_utc();
    let used = row::update(&node.store, nip, |r| {
        let same = r.enrolment_hash.as_deref().is_some_and(|h| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                h.as_bytes(),
                matched.as_bytes(),
            ))
        });
        let live = r
            .enrolment_expires_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| t > now);
        if !same || !live || r.status == "revoked" {
            return Ok(false);
        }
        r.password_hash = password_hash.to_string();
        r.pin_hash = pin_hash.to_string();
        r.enrolment_hash = None;
        r.enrolment_expires_at = None;
        r.failed_logins = 0;
        r.locked_until = None;
        r.failed_pins = 0;
        r.pin_locked_until = None;
        Ok(true)
    })
    .await?
    .is_some_and(|(_, used)| used);
    if !used {
        log(
            node,
            &actor,
            "enrol",
            "deny",
            "the enrolment code was used, replaced or revoked meanwhile".into(),
            client,
        )
        .await?;
        return Err(refused());
    }
    log(
        node,
        &actor,
        "enrol",
        "allow",
        "enrolled: set their own password and signing PIN".into(),
        client,
    )
    .await
}

/// Takes an official's secrets away and gives them a new outstanding code: their password
/// and PIN stop working at once, their sessions end, counters and locks start again.
pub(crate) async fn reset_row(store: &Store, nip: &str, pending: &Pending) -> Result<()> {
    row::update(store, nip, |r| {
        r.password_hash = String::new();
        r.pin_hash = String::new();
        r.enrolment_hash = Some(pending.hash.clone());
        r.enrolment_expires_at = Some(rfc3339(pending.expires_at));
        r.failed_logins = 0;
        r.locked_until = None;
        r.failed_pins = 0;
        r.pin_locked_until = None;
        Ok(())
    })
    .await?
    .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    sessions::delete_of_official(store, nip).await
}

/// What a current secret that was not right is logged as, and refused with.
fn wrong_current(what: &str, verdict: Verdict) -> (String, Error) {
    match verdict {
        Verdict::Wrong {
            locked: Some(until),
        }
        | Verdict::Locked(until) => (
            format!("{what} locked until {}", rfc3339(until)),
            Error::Locked(format!(
                "the {what} is locked after {} wrong entries until {}",
                lockout::MAX_FAILURES,
                rfc3339(until)
            )),
        ),
        _ => (
            format!("wrong current {what}"),
            Error::Unauthenticated(format!("the current {what} is wrong")),
        ),
    }
}

/// An official changes their own password (`Secret::Password`) or signing PIN
/// (`Secret::Pin`), giving the current one: a wrong one is refused, logged and counted
/// toward the lockout of that secret. The new one keeps its form's rule and differs from the
/// other secret.
pub async fn change(
    node: &Node,
    nip: &str,
    which: Secret,
    current: &str,
    new: &str,
    client: Option<String>,
) -> Result<()> {
    let (action, what) = match which {
        Secret::Password => {
            directory::check_password(new)?;
            ("password_change", "password")
        }
        Secret::Pin => {
            directory::check_pin_form(new)?;
            ("pin_change", "signing PIN")
        }
        Secret::Enrolment => {
            return Err(Error::Invariant {
                what: "an enrolment code is not changed, only used",
            });
        }
    };
    if current.chars().count() > MAX_SECRET_CHARS {
        return Err(Error::invalid(
            "current",
            format!("the current {what} is at most {MAX_SECRET_CHARS} characters"),
        ));
    }
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let actor = format!("official:{nip}");
    let verdict = lockout::check(&node.store, nip, which, current).await?;
    if verdict != Verdict::Right {
        let (reason, refusal) = wrong_current(what, verdict);
        log(node, &actor, action, "deny", reason, client).await?;
        return Err(refusal);
    }
    let r = row::load(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let (other, verified) = match which {
        Secret::Password => (r.pin_hash.clone(), r.password_hash.clone()),
        _ => (r.password_hash.clone(), r.pin_hash.clone()),
    };
    let (other, verified) = (Zeroizing::new(other), Zeroizing::new(verified));
    // The row read here must still hold the secret just checked (a reset in between would have
    // replaced it), and the update below only lands if the row still holds that same hash.
    let expected = verified.clone();
    let (candidate, presented) = (
        Zeroizing::new(new.to_owned()),
        Zeroizing::new(current.to_owned()),
    );
    let (still_current, same_as_other, hash) =
        lockout::hashing("hashing a new secret", move || {
            let still = lockout::verify(&verified, &presented, false);
            let same = lockout::verify(&other, &candidate, false);
            directory::hash_secret(&candidate).map(|h| (still, same, Zeroizing::new(h)))
        })
        .await??;
    if !still_current {
        return Err(Error::Conflict(format!(
            "the {what} of {nip} changed meanwhile (reset?); log in again"
        )));
    }
    if same_as_other {
        return Err(Error::invalid(
            "new",
            "PIN tanda tangan dan kata sandi harus berbeda / the signing PIN and the password must differ",
        ));
    }
    row::update(&node.store, nip, |r| {
        let slot = match which {
            Secret::Password => &mut r.password_hash,
            _ => &mut r.pin_hash,
        };
        if *slot != *expected {
            return Err(Error::Conflict(format!(
                "the {what} of {nip} changed meanwhile (reset?); log in again"
            )));
        }
        *slot = hash.to_string();
        Ok(())
    })
    .await?
    .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    log(
        node,
        &actor,
        action,
        "allow",
        format!("{what} changed by the official"),
        client,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn codes_are_random_grouped_and_hashed() {
        let (a, pa) = issue(60).await.expect("code");
        let (b, _) = issue(60).await.expect("code");
        assert_ne!(a.code.as_str(), b.code.as_str());
        assert_eq!(
            a.code.len(),
            39,
            "32 digits in 8 groups: {}",
            a.code.as_str()
        );
        assert!(!pa.hash.contains(a.code.as_str()));
        let typed = normalise(&a.code.to_uppercase()).expect("bounded");
        assert!(lockout::verify(&pa.hash, &typed, false));
        assert!(!lockout::verify(&pa.hash, "0000", false));
    }

    #[test]
    fn long_codes_are_refused_before_use() {
        assert!(normalise(&"a".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn the_code_is_never_in_debug_output() {
        let (a, _) = issue(60).await.expect("code");
        assert!(!format!("{a:?}").contains(a.code.as_str()));
    }
}
