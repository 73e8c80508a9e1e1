//! Officials' rows as the node MACs them: every security attribute (status, clearance, roles,
//! compartments, agency, password and PIN hashes, lockout counters, key ids, certificate, key
//! binding, personal recipient) is bound by a MAC made with the node's key on each change and
//! checked on every use ([`crate::integrity`]). Every read and write of `officials` for a
//! decision goes through here.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::integrity::{Integrity, opt};
use crate::store::{Backend, Store};
use crate::{Error, Result};

const DOMAIN: &str = "sandi:officials:v1";

const COLUMNS: &str = "nip, name, agency, position, clearance, roles, compartments, status, \
    password_hash, pin_hash, failed_logins, locked_until, failed_pins, pin_locked_until, \
    signing_key, encryption_key, certificate, personal_recipient, key_binding, mac";

/// What a row's MAC says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mac {
    Good,
    /// Good for the row as it was before its status was lowered without the key.
    Lowered,
    Bad,
}

/// One official's row, as stored.
#[derive(Clone)]
pub(crate) struct OfficialRow {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub position: String,
    pub clearance: String,
    pub roles: String,
    pub compartments: String,
    pub status: String,
    pub password_hash: String,
    pub pin_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<String>,
    pub failed_pins: i64,
    pub pin_locked_until: Option<String>,
    pub signing_key: Option<String>,
    pub encryption_key: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub personal_recipient: Option<String>,
    pub key_binding: Option<String>,
    pub mac: Option<String>,
}

impl std::fmt::Debug for OfficialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficialRow")
            .field("nip", &self.nip)
            .finish_non_exhaustive()
    }
}

impl OfficialRow {
    fn from_any(r: &AnyRow) -> Result<Self> {
        Ok(OfficialRow {
            nip: r.try_get("nip")?,
            name: r.try_get("name")?,
            agency: r.try_get("agency")?,
            position: r.try_get("position")?,
            clearance: r.try_get("clearance")?,
            roles: r.try_get("roles")?,
            compartments: r.try_get("compartments")?,
            status: r.try_get("status")?,
            password_hash: r.try_get("password_hash")?,
            pin_hash: r.try_get("pin_hash")?,
            failed_logins: r.try_get("failed_logins")?,
            locked_until: r.try_get("locked_until")?,
            failed_pins: r.try_get("failed_pins")?,
            pin_locked_until: r.try_get("pin_locked_until")?,
            signing_key: r.try_get("signing_key")?,
            encryption_key: r.try_get("encryption_key")?,
            certificate: r.try_get("certificate")?,
            personal_recipient: r.try_get("personal_recipient")?,
            key_binding: r.try_get("key_binding")?,
            mac: r.try_get("mac")?,
        })
    }

    /// What the MAC covers, with `status` as given.
    fn fields(&self, status: &str) -> Vec<Vec<u8>> {
        vec![
            self.nip.as_bytes().to_vec(),
            self.name.as_bytes().to_vec(),
            self.agency.as_bytes().to_vec(),
            self.position.as_bytes().to_vec(),
            self.clearance.as_bytes().to_vec(),
            self.roles.as_bytes().to_vec(),
            self.compartments.as_bytes().to_vec(),
            status.as_bytes().to_vec(),
            self.password_hash.as_bytes().to_vec(),
            self.pin_hash.as_bytes().to_vec(),
            self.failed_logins.to_string().into_bytes(),
            opt(self.locked_until.as_deref()),
            self.failed_pins.to_string().into_bytes(),
            opt(self.pin_locked_until.as_deref()),
            opt(self.signing_key.as_deref()),
            opt(self.encryption_key.as_deref()),
            self.certificate
                .as_ref()
                .map_or_else(|| vec![0], |c| [&[1u8][..], c.as_slice()].concat()),
            opt(self.personal_recipient.as_deref()),
            opt(self.key_binding.as_deref()),
        ]
    }

    fn mac_of(&self, i: &Integrity, status: &str) -> Result<String> {
        let f = self.fields(status);
        i.mac(DOMAIN, &f.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Sets the MAC over the row as it now is.
    pub(crate) fn seal(&mut self, i: &Integrity) -> Result<()> {
        let mac = self.mac_of(i, &self.status)?;
        self.mac = Some(mac);
        Ok(())
    }

    /// Whether the row carries the node's MAC. A status lowered without the key (the
    /// operator's `docsvc official set-status` while the node serves) is taken, as it can only
    /// take rights away ([`Mac::Lowered`]: to be MAC'd again at once).
    fn verify(&self, i: &Integrity) -> Result<Mac> {
        let check = |status: &str| {
            let f = self.fields(status);
            i.verify(
                DOMAIN,
                &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                self.mac.as_deref(),
            )
        };
        Ok(if check(&self.status)? {
            Mac::Good
        } else if (matches!(self.status.as_str(), "suspended" | "revoked") && check("active")?)
            || (self.status == "revoked" && check("suspended")?)
        {
            Mac::Lowered
        } else {
            Mac::Bad
        })
    }
}

/// Logs the incident of a row that fails its check; the error to refuse with.
async fn incident(store: &Store, nip: &str) -> Error {
    store
        .integrity()
        .incident(
            &format!("official:{nip}"),
            &format!(
                "the row of official {nip} does not carry the node's MAC (changed or forged in the database)"
            ),
        )
        .await
}

async fn checked(store: &Store, row: Option<AnyRow>) -> Result<Option<OfficialRow>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let r = OfficialRow::from_any(&row)?;
    match r.verify(store.integrity())? {
        Mac::Good => Ok(Some(r)),
        Mac::Lowered => Ok(update(store, &r.nip, |_| Ok(())).await?.map(|(r, ())| r)),
        Mac::Bad => Err(incident(store, &r.nip).await),
    }
}

/// One official's row, checked; `None` when there is no such official.
pub(crate) async fn load(store: &Store, nip: &str) -> Result<Option<OfficialRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM officials WHERE nip = $1"))
        .bind(nip)
        .fetch_optional(store.reader())
        .await?;
    checked(store, row).await
}

/// Every official's row, checked; a row that fails is left out (and logged as an incident).
/// Without the key (the offline CLI on a sealed node) the rows as stored, for display only.
pub(crate) async fn load_all(store: &Store) -> Result<Vec<OfficialRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM officials ORDER BY agency, nip"
    ))
    .fetch_all(store.pool())
    .await?;
    if !store.integrity().has_key() {
        return rows.iter().map(OfficialRow::from_any).collect();
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match checked(store, Some(row)).await {
            Ok(Some(r)) => out.push(r),
            Ok(None) | Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Adds a new official's row with its MAC.
pub(crate) async fn insert(store: &Store, row: &mut OfficialRow) -> Result<()> {
    row.seal(store.integrity())?;
    sqlx::query(
        "INSERT INTO officials (nip, name, agency, position, clearance, roles, compartments, status, \
         password_hash, pin_hash, failed_logins, locked_until, failed_pins, pin_locked_until, \
         signing_key, encryption_key, certificate, personal_recipient, key_binding, mac, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21)",
    )
    .bind(&row.nip)
    .bind(&row.name)
    .bind(&row.agency)
    .bind(&row.position)
    .bind(&row.clearance)
    .bind(&row.roles)
    .bind(&row.compartments)
    .bind(&row.status)
    .bind(&row.password_hash)
    .bind(&row.pin_hash)
    .bind(row.failed_logins)
    .bind(&row.locked_until)
    .bind(row.failed_pins)
    .bind(&row.pin_locked_until)
    .bind(&row.signing_key)
    .bind(&row.encryption_key)
    .bind(&row.certificate)
    .bind(&row.personal_recipient)
    .bind(&row.key_binding)
    .bind(&row.mac)
    .bind(crate::now_rfc3339())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Changes one official's row: read with the row locked and checked, changed by `change`,
/// MAC'd again and written, in one transaction. `None` when there is no such official;
/// otherwise the row as written and what `change` returned.
pub(crate) async fn update<T>(
    store: &Store,
    nip: &str,
    change: impl FnOnce(&mut OfficialRow) -> Result<T>,
) -> Result<Option<(OfficialRow, T)>> {
    let lock = if store.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM officials WHERE nip = $1{lock}"
    ))
    .bind(nip)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut r = OfficialRow::from_any(&row)?;
    if r.verify(store.integrity())? == Mac::Bad {
        // The log is written after the transaction ends (SQLite has one writer).
        tx.rollback().await?;
        return Err(incident(store, nip).await);
    }
    let out = change(&mut r)?;
    r.seal(store.integrity())?;
    sqlx::query(
        "UPDATE officials SET name = $1, agency = $2, position = $3, clearance = $4, roles = $5, \
         compartments = $6, status = $7, password_hash = $8, pin_hash = $9, failed_logins = $10, \
         locked_until = $11, failed_pins = $12, pin_locked_until = $13, signing_key = $14, \
         encryption_key = $15, certificate = $16, personal_recipient = $17, key_binding = $18, \
         mac = $19 WHERE nip = $20",
    )
    .bind(&r.name)
    .bind(&r.agency)
    .bind(&r.position)
    .bind(&r.clearance)
    .bind(&r.roles)
    .bind(&r.compartments)
    .bind(&r.status)
    .bind(&r.password_hash)
    .bind(&r.pin_hash)
    .bind(r.failed_logins)
    .bind(&r.locked_until)
    .bind(r.failed_pins)
    .bind(&r.pin_locked_until)
    .bind(&r.signing_key)
    .bind(&r.encryption_key)
    .bind(&r.certificate)
    .bind(&r.personal_recipient)
    .bind(&r.key_binding)
    .bind(&r.mac)
    .bind(nip)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((r, out)))
}

/// A durable write for an attempt on an unknown NIP, shaped like counting one in a known
/// official's row (one transaction, one commit), so that the two take alike time.
pub(crate) async fn decoy(store: &Store) -> Result<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO login_decoy (id, attempts) VALUES (1, 1) \
         ON CONFLICT (id) DO UPDATE SET attempts = login_decoy.attempts + 1",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
