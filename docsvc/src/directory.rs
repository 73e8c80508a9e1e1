//! The directory of officials (pejabat): identity, clearance, roles, status, credentials and
//! their keys in the node's keystore.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use hsm_shim::{KeyId, KeyKind, KeyStore};
use policies::{Level, Person, Status};
use serde::Serialize;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::store::Store;
use crate::{Error, Result, now_rfc3339};

/// Failed logins before an account locks, and for how long.
pub const LOCKOUT_AFTER: i64 = crate::lockout::MAX_FAILURES;
pub const LOCKOUT_MINUTES: i64 = crate::lockout::LOCK_MINUTES;

/// An official as stored (without credentials).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Official {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    #[schema(value_type = crate::api::LevelDoc)]
    pub clearance: Level,
    pub roles: Vec<String>,
    pub compartments: Vec<String>,
    #[schema(value_type = crate::api::StatusDoc)]
    pub status: Status,
    #[serde(skip)]
    pub signing_key: Option<KeyId>,
    #[serde(skip)]
    pub encryption_key: Option<KeyId>,
    #[serde(skip)]
    pub certificate: Option<Vec<u8>>,
    pub personal_recipient: Option<String>,
}

impl Official {
    /// The official as the policy sees them.
    pub fn person(&self) -> Person {
        Person {
            id: self.nip.clone(),
            agency: self.agency.clone(),
            clearance: self.clearance,
            roles: self.roles.clone(),
            status: self.status,
            compartments: self.compartments.clone(),
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A new official's details and initial credentials.
pub struct NewOfficial {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    pub clearance: Level,
    pub roles: Vec<String>,
    pub compartments: Vec<String>,
    pub password: Zeroizing<String>,
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for NewOfficial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOfficial")
            .field("nip", &self.nip)
            .finish_non_exhaustive()
    }
}

pub const ROLES: [&str; 6] = [
    "pejabat",
    "sekretaris",
    "pengelola_sandi",
    "auditor",
    "admin",
    "approver",
];

fn hash_secret(secret: &str) -> Result<String> {
    let salt = {
        let mut b = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
            .map_err(|_| Error::Internal("no randomness".into()))?;
        SaltString::encode_b64(&b).map_err(|e| Error::Internal(e.to_string()))?
    };
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("hashing: {e}")))?
        .to_string())
}

/// Checks a secret against an argon2id hash (constant time inside argon2).
pub fn check_secret(hash: &str, secret: &str) -> bool {
    crate::lockout::verify(hash, secret, false)
}

fn check_new(n: &NewOfficial) -> Result<()> {
    keymgr::ca::check_nip(&n.nip).map_err(|e| Error::Invalid(e.to_string()))?;
    for (what, v) in [
        ("name", &n.name),
        ("agency", &n.agency),
        ("position", &n.position),
    ] {
        if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "{what} must be 1-200 printable characters"
            )));
        }
    }
    if n.password.chars().count() < 10 {
        return Err(Error::Invalid(
            "a password needs at least 10 characters".into(),
        ));
    }
    if n.pin.len() < 6 || !n.pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid("a signing PIN is at least 6 digits".into()));
    }
    for r in &n.roles {
        if !ROLES.contains(&r.as_str()) {
            return Err(Error::Invalid(format!(
                "unknown role {r:?}: one of {}",
                ROLES.join(", ")
            )));
        }
    }
    Ok(())
}

fn row_official(row: &sqlx::any::AnyRow) -> Result<Official> {
    let list = |s: String| {
        serde_json::from_str::<Vec<String>>(&s).map_err(|e| Error::Database(e.to_string()))
    };
    let key = |s: Option<String>| -> Result<Option<KeyId>> {
        s.map(|s| {
            s.parse::<uuid::Uuid>()
                .map(KeyId)
                .map_err(|e| Error::Database(e.to_string()))
        })
        .transpose()
    };
    Ok(Official {
        nip: row.try_get("nip")?,
        name: row.try_get("name")?,
        agency: row.try_get("agency")?,
        position: row.try_get("position")?,
        clearance: row
            .try_get::<String, _>("clearance")?
            .parse()
            .map_err(Error::Database)?,
        roles: list(row.try_get("roles")?)?,
        compartments: list(row.try_get("compartments")?)?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        signing_key: key(row.try_get("signing_key")?)?,
        encryption_key: key(row.try_get("encryption_key")?)?,
        certificate: row.try_get("certificate")?,
        personal_recipient: row.try_get("personal_recipient")?,
    })
}

pub fn parse_status(s: &str) -> Result<Status> {
    match s {
        "active" => Ok(Status::Active),
        "suspended" => Ok(Status::Suspended),
        "revoked" => Ok(Status::Revoked),
        other => Err(Error::Invalid(format!(
            "unknown status {other:?}: active, suspended or revoked"
        ))),
    }
}

const COLUMNS: &str = "nip, name, agency, position, clearance, roles, compartments, status, \
    signing_key, encryption_key, certificate, personal_recipient";

/// Adds an official with a new signing key (P-256) and encryption key (X25519) in `keys`.
pub async fn add(store: &Store, keys: &dyn KeyStore, n: &NewOfficial) -> Result<Official> {
    check_new(n)?;
    if get(store, &n.nip).await?.is_some() {
        return Err(Error::Conflict(format!(
            "official {} already exists",
            n.nip
        )));
    }
    let password_hash = hash_secret(&n.password)?;
    let pin_hash = hash_secret(&n.pin)?;
    let signing = keys.generate(KeyKind::EcdsaP256, &format!("official-{}-sign", n.nip))?;
    let encryption = keys.generate(KeyKind::X25519, &format!("official-{}-enc", n.nip))?;
    sqlx::query(
        "INSERT INTO officials (nip, name, agency, position, clearance, roles, compartments, status, \
         password_hash, pin_hash, failed_logins, signing_key, encryption_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, 0, $10, $11, $12)",
    )
    .bind(&n.nip)
    .bind(n.name.trim())
    .bind(n.agency.trim())
    .bind(n.position.trim())
    .bind(n.clearance.as_str())
    .bind(serde_json::to_string(&n.roles).map_err(|e| Error::Internal(e.to_string()))?)
    .bind(serde_json::to_string(&n.compartments).map_err(|e| Error::Internal(e.to_string()))?)
    .bind(password_hash)
    .bind(pin_hash)
    .bind(signing.id().to_string())
    .bind(encryption.id().to_string())
    .bind(now_rfc3339())
    .execute(store.pool())
    .await?;
    get(store, &n.nip)
        .await?
        .ok_or_else(|| Error::Internal("official vanished".into()))
}

pub async fn get(store: &Store, nip: &str) -> Result<Option<Official>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM officials WHERE nip = $1"))
        .bind(nip)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(row_official).transpose()
}

pub async fn list(store: &Store) -> Result<Vec<Official>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM officials ORDER BY agency, nip"
    ))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(row_official).collect()
}

pub async fn set_status(store: &Store, nip: &str, status: Status) -> Result<()> {
    let done = sqlx::query("UPDATE officials SET status = $1 WHERE nip = $2")
        .bind(status.as_str())
        .bind(nip)
        .execute(store.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("official {nip}")));
    }
    if status != Status::Active {
        // Open sessions end now, not at their expiry.
        sqlx::query("DELETE FROM sessions WHERE nip = $1")
            .bind(nip)
            .execute(store.pool())
            .await?;
    }
    Ok(())
}

pub async fn set_certificate(store: &Store, nip: &str, der: &[u8]) -> Result<()> {
    sqlx::query("UPDATE officials SET certificate = $1 WHERE nip = $2")
        .bind(der.to_vec())
        .bind(nip)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Stores an official's encryption key binding (keymgr's JSON, signed by the Signing CA).
pub async fn set_key_binding(store: &Store, nip: &str, binding: &str) -> Result<()> {
    sqlx::query("UPDATE officials SET key_binding = $1 WHERE nip = $2")
        .bind(binding)
        .bind(nip)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// An official's encryption key binding, if one is installed.
pub async fn key_binding(store: &Store, nip: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT key_binding FROM officials WHERE nip = $1")
            .bind(nip)
            .fetch_optional(store.reader())
            .await?
            .map(|r| r.try_get::<Option<String>, _>("key_binding"))
            .transpose()?
            .flatten(),
    )
}

pub async fn set_personal_recipient(store: &Store, nip: &str, recipient: &str) -> Result<()> {
    recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|e| Error::Invalid(format!("not an age recipient: {e}")))?;
    sqlx::query("UPDATE officials SET personal_recipient = $1 WHERE nip = $2")
        .bind(recipient)
        .bind(nip)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Checks a login. Wrong passwords count towards a lockout ([`crate::lockout`]). An unknown
/// NIP, a wrong password and a locked account answer alike (same message, and an argon2 check
/// each), so that the answer never tells whether the NIP exists.
pub async fn login(store: &Store, nip: &str, password: &str) -> Result<Official> {
    use crate::lockout::{self, Secret, Verdict};
    let refused = || {
        Error::Unauthenticated(format!(
            "wrong NIP or password (an account locks for {} minutes after {} failures)",
            lockout::LOCK_MINUTES,
            lockout::MAX_FAILURES
        ))
    };
    if lockout::check(store, nip, Secret::Password, password).await? != Verdict::Right {
        return Err(refused());
    }
    let o = get(store, nip).await?.ok_or_else(refused)?;
    if o.status != Status::Active {
        return Err(Error::Unauthenticated(format!(
            "the account is {}",
            o.status.as_str()
        )));
    }
    Ok(o)
}

/// Checks an official's signing PIN.
pub async fn check_pin(store: &Store, nip: &str, pin: &str) -> Result<bool> {
    let hash: Option<String> = sqlx::query("SELECT pin_hash FROM officials WHERE nip = $1")
        .bind(nip)
        .fetch_optional(store.pool())
        .await?
        .map(|r| r.try_get("pin_hash"))
        .transpose()?;
    Ok(hash.is_some_and(|h| check_secret(&h, pin)))
}
