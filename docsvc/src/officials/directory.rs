//! The directory of officials (pejabat): identity, clearance, roles, status, credentials and
//! their keys in the node's keystore.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use hsm_shim::{KeyId, KeyKind, KeyStore};
use policies::{Level, Person, Status};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::officials::row::{self, OfficialRow};
use crate::store::{Store, officials, sessions};
use crate::{Error, Result};

/// Failed logins before an account locks, and for how long.
pub const LOCKOUT_AFTER: i64 = crate::officials::lockout::MAX_FAILURES;
pub const LOCKOUT_MINUTES: i64 = crate::officials::lockout::LOCK_MINUTES;

/// An official as stored (without credentials).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Official {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: Level,
    pub roles: Vec<String>,
    pub compartments: Vec<String>,
    #[schema(value_type = crate::schema::StatusDoc)]
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

/// A new official's details and how their secrets come to be.
pub struct NewOfficial {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    pub clearance: Level,
    pub roles: Vec<String>,
    pub compartments: Vec<String>,
    pub secrets: Secrets,
    /// `Suspended` for a registration that waits for its second approval.
    pub status: Status,
}

/// How a new official's password and signing PIN are set.
#[allow(missing_debug_implementations)] // secrets: never printed
pub enum Secrets {
    /// By the official, with a one-time enrolment code (see `enrolment`): what every
    /// administrator's registration does. Until then no password or PIN matches.
    Enrol(crate::officials::enrolment::Pending),
    /// Set here, directly: the development path only (`docsvc quickstart`'s known dev
    /// officials, and tests that build a node as a library). Nothing over HTTP or the CLI
    /// reaches it.
    DevKnown {
        password: Zeroizing<String>,
        pin: Zeroizing<String>,
    },
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

/// An argon2id hash (random salt) of a secret: a password, a PIN or an enrolment code.
pub(crate) fn hash_secret(secret: &str) -> Result<String> {
    let salt = {
        let mut b = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
            .map_err(|_| Error::NoRandomness)?;
        SaltString::encode_b64(&b).map_err(|e| Error::Crypto {
            op: "encoding a password salt",
            detail: e.to_string(),
        })?
    };
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| Error::Crypto {
            op: "hashing a secret",
            detail: e.to_string(),
        })?
        .to_string())
}

/// Checks a secret against an argon2id hash (constant time inside argon2).
pub fn check_secret(hash: &str, secret: &str) -> bool {
    crate::officials::lockout::verify(hash, secret, false)
}

fn check_new(n: &NewOfficial) -> Result<()> {
    keymgr::ca::check_nip(&n.nip).map_err(|e| Error::invalid("nip", e.to_string()))?;
    for (what, v) in [
        ("name", &n.name),
        ("agency", &n.agency),
        ("position", &n.position),
    ] {
        if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
            return Err(Error::invalid(
                what,
                format!("{what} must be 1-200 printable characters"),
            ));
        }
    }
    if let Secrets::DevKnown { password, pin } = &n.secrets {
        check_password(password)?;
        check_pin_form(pin)?;
    }
    for r in &n.roles {
        if !ROLES.contains(&r.as_str()) {
            return Err(Error::invalid(
                "roles",
                format!("unknown role {r:?}: one of {}", ROLES.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The longest password or PIN read (argon2 hashes whatever it is given: bounded first).
pub const MAX_SECRET_CHARS: usize = 256;

/// A password's strength rule: 10 to 256 characters.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 10 {
        return Err(Error::invalid(
            "password",
            "kata sandi minimal 10 karakter / a password needs at least 10 characters",
        ));
    }
    if n > MAX_SECRET_CHARS {
        return Err(Error::invalid(
            "password",
            format!(
                "kata sandi paling banyak {MAX_SECRET_CHARS} karakter / a password is at most {MAX_SECRET_CHARS} characters"
            ),
        ));
    }
    Ok(())
}

/// A signing PIN's rule: 6 to 32 digits.
pub fn check_pin_form(pin: &str) -> Result<()> {
    if pin.len() < 6 || pin.len() > 32 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "pin",
            "PIN tanda tangan 6 sampai 32 angka / a signing PIN is 6 to 32 digits",
        ));
    }
    Ok(())
}

/// New secrets an official chooses: each of its form, and the PIN not the password.
pub fn check_new_secrets(password: &str, pin: &str) -> Result<()> {
    check_password(password)?;
    check_pin_form(pin)?;
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        password.as_bytes(),
        pin.as_bytes(),
    )) {
        return Err(Error::invalid(
            "pin",
            "PIN tanda tangan harus berbeda dari kata sandi / the signing PIN must differ from the password",
        ));
    }
    Ok(())
}

fn official_of(r: &OfficialRow) -> Result<Official> {
    let list = |s: &str| {
        serde_json::from_str::<Vec<String>>(s).map_err(|e| Error::Database(e.to_string()))
    };
    let key = |s: Option<&str>| -> Result<Option<KeyId>> {
        s.map(|s| {
            s.parse::<uuid::Uuid>()
                .map(KeyId)
                .map_err(|e| Error::Database(e.to_string()))
        })
        .transpose()
    };
    Ok(Official {
        nip: r.nip.clone(),
        name: r.name.clone(),
        agency: r.agency.clone(),
        position: r.position.clone(),
        clearance: r.clearance.parse().map_err(Error::Database)?,
        roles: list(&r.roles)?,
        compartments: list(&r.compartments)?,
        status: parse_status(&r.status)?,
        signing_key: key(r.signing_key.as_deref())?,
        encryption_key: key(r.encryption_key.as_deref())?,
        certificate: r.certificate.clone(),
        personal_recipient: r.personal_recipient.clone(),
    })
}

pub fn parse_status(s: &str) -> Result<Status> {
    match s {
        "active" => Ok(Status::Active),
        "suspended" => Ok(Status::Suspended),
        "revoked" => Ok(Status::Revoked),
        other => Err(Error::invalid(
            "status",
            format!("unknown status {other:?}: active, suspended or revoked"),
        )),
    }
}

/// Adds an official with a new signing key (the kind `table` gives their clearance) and
/// encryption key (X25519) in `keys`; the row carries the node's MAC.
pub async fn add(
    store: &Store,
    keys: &dyn KeyStore,
    table: &policies::HandlingTable,
    n: &NewOfficial,
) -> Result<Official> {
    check_new(n)?;
    if get(store, &n.nip).await?.is_some() {
        return Err(Error::Conflict(format!(
            "official {} already exists",
            n.nip
        )));
    }
    let (password_hash, pin_hash, enrolment_hash, enrolment_expires_at) = match &n.secrets {
        Secrets::DevKnown { password, pin } => {
            (hash_secret(password)?, hash_secret(pin)?, None, None)
        }
        Secrets::Enrol(p) => (
            String::new(),
            String::new(),
            Some(p.hash.clone()),
            Some(crate::rfc3339(p.expires_at)),
        ),
    };
    let signing = keys.generate(
        crate::officials::signing_key_kind(table, n.clearance),
        &format!("official-{}-sign", n.nip),
    )?;
    let encryption = keys.generate(KeyKind::X25519, &format!("official-{}-enc", n.nip))?;
    let json =
        |v: &Vec<String>| serde_json::to_string(v).map_err(|e| Error::encode("a list field", e));
    let mut row = OfficialRow {
        nip: n.nip.clone(),
        name: n.name.trim().to_owned(),
        agency: n.agency.trim().to_owned(),
        position: n.position.trim().to_owned(),
        clearance: n.clearance.as_str().to_owned(),
        roles: json(&n.roles)?,
        compartments: json(&n.compartments)?,
        status: n.status.as_str().into(),
        password_hash,
        pin_hash,
        failed_logins: 0,
        locked_until: None,
        failed_pins: 0,
        pin_locked_until: None,
        signing_key: Some(signing.id().to_string()),
        encryption_key: Some(encryption.id().to_string()),
        certificate: None,
        personal_recipient: None,
        key_binding: None,
        enrolment_hash,
        enrolment_expires_at,
        mac: None,
    };
    row::insert(store, &mut row).await?;
    official_of(&row)
}

/// An official, their row's MAC checked (a changed row is an integrity error, logged).
pub async fn get(store: &Store, nip: &str) -> Result<Option<Official>> {
    row::load(store, nip)
        .await?
        .as_ref()
        .map(official_of)
        .transpose()
}

/// Every official whose row carries the node's MAC (a row that does not is logged and left
/// out). While the node is sealed (the offline `docsvc official list`), rows as stored.
pub async fn list(store: &Store) -> Result<Vec<Official>> {
    row::load_all(store)
        .await?
        .iter()
        .map(official_of)
        .collect()
}

/// Changes an official's row through [`row::update`]; not found is an error.
async fn change(store: &Store, nip: &str, f: impl FnOnce(&mut OfficialRow)) -> Result<()> {
    row::update(store, nip, |r| {
        f(r);
        Ok(())
    })
    .await?
    .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    Ok(())
}

/// Sets an official's status. With the node's key the row is MAC'd again; without it (the
/// offline CLI while the node serves) only a suspension or revocation is written, which the
/// node MACs at the row's next use: re-activating needs the node unsealed.
pub async fn set_status(store: &Store, nip: &str, status: Status) -> Result<()> {
    if store.integrity().has_key() {
        change(store, nip, |r| r.status = status.as_str().into()).await?;
    } else if status == Status::Active {
        return Err(Error::Sealed);
    } else if !officials::set_status_unsealed(store, nip, status.as_str()).await? {
        return Err(Error::NotFound(format!("official {nip}")));
    }
    if status != Status::Active {
        // Open sessions end now, not at their expiry.
        sessions::delete_of_official(store, nip).await?;
    }
    Ok(())
}

/// Sets an official's clearance (raising one goes through `official_changes`' second approval).
pub async fn set_clearance(store: &Store, nip: &str, clearance: Level) -> Result<()> {
    change(store, nip, |r| r.clearance = clearance.as_str().into()).await
}

pub async fn set_certificate(store: &Store, nip: &str, der: &[u8]) -> Result<()> {
    change(store, nip, |r| r.certificate = Some(der.to_vec())).await
}

/// Gives an official a new signing key of `kind` in `keys` (their clearance was raised to a
/// level whose handling asks for a stronger key). The old certificate does not fit the new
/// key and goes: the official signs again once the key custodians certify the new key
/// (`csr` for an administrator, then the certificate installed). The old key signs nothing
/// more (deactivated); its certificate in the letters it signed still verifies them.
pub async fn new_signing_key(
    store: &Store,
    keys: &dyn KeyStore,
    nip: &str,
    kind: KeyKind,
) -> Result<KeyId> {
    let old = get(store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?
        .signing_key;
    let key = keys.generate(kind, &format!("official-{nip}-sign"))?.id();
    change(store, nip, |r| {
        r.signing_key = Some(key.to_string());
        r.certificate = None;
    })
    .await?;
    if let Some(old) = old {
        if let Ok(info) = keys.info(old) {
            if info.state == hsm_shim::KeyState::Active {
                keys.set_state(&info.handle(), hsm_shim::KeyState::Deactivated)?;
            }
        }
    }
    Ok(key)
}

/// Gives an official a new encryption key id.
pub async fn set_encryption_key(store: &Store, nip: &str, key: KeyId) -> Result<()> {
    change(store, nip, |r| r.encryption_key = Some(key.to_string())).await
}

/// Stores an official's encryption key binding (keymgr's JSON, signed by the Signing CA).
pub async fn set_key_binding(store: &Store, nip: &str, binding: &str) -> Result<()> {
    change(store, nip, |r| r.key_binding = Some(binding.to_owned())).await
}

/// An official's encryption key binding, if one is installed.
pub async fn key_binding(store: &Store, nip: &str) -> Result<Option<String>> {
    Ok(row::load(store, nip).await?.and_then(|r| r.key_binding))
}

pub async fn set_personal_recipient(store: &Store, nip: &str, recipient: &str) -> Result<()> {
    recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|e| Error::invalid("recipient", format!("not an age recipient: {e}")))?;
    change(store, nip, |r| {
        r.personal_recipient = Some(recipient.to_owned());
    })
    .await
}

/// Checks a login. Wrong passwords count towards a lockout ([`crate::officials::lockout`]). An unknown
/// NIP, a wrong password and a locked account answer alike (same message, and an argon2 check
/// each), so that the answer never tells whether the NIP exists.
pub async fn login(store: &Store, nip: &str, password: &str) -> Result<Official> {
    use crate::officials::lockout::{self, Secret, Verdict};
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

/// Checks an official's signing PIN, counting failures ([`crate::officials::lockout`]): `false` when
/// wrong; a locked PIN is an error that says until when.
pub async fn check_pin(store: &Store, nip: &str, pin: &str) -> Result<bool> {
    use crate::officials::lockout::{self, Secret, Verdict};
    match lockout::check(store, nip, Secret::Pin, pin).await? {
        Verdict::Right => Ok(true),
        Verdict::Wrong { locked: None } | Verdict::Unknown => Ok(false),
        Verdict::Wrong {
            locked: Some(until),
        }
        | Verdict::Locked(until) => Err(lockout::pin_locked(until)),
    }
}
