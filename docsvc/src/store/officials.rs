//! The `officials` table (and `login_decoy`, the write an attempt on an unknown NIP makes in
//! its place). The rows' MACs are made and checked by the officials' service
//! (`officials::row`); here only the SQL.

use crate::Result;
use crate::store::{Backend, Store, Tx};

const COLUMNS: &str = "nip, name, agency, position, clearance, roles, compartments, status, \
    password_hash, pin_hash, failed_logins, locked_until, failed_pins, pin_locked_until, \
    signing_key, encryption_key, certificate, personal_recipient, key_binding, enrolment_hash, \
    enrolment_expires_at, mac";

/// One official's row, as stored.
#[derive(Clone, sqlx::FromRow)]
pub struct OfficialRow {
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
    /// The argon2id hash of the one-time enrolment code, while one is outstanding.
    pub enrolment_hash: Option<String>,
    pub enrolment_expires_at: Option<String>,
    pub mac: Option<String>,
}

// Credentials and keys stay out of logs and panics.
impl std::fmt::Debug for OfficialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficialRow")
            .field("nip", &self.nip)
            .finish_non_exhaustive()
    }
}

/// One official's row, from the readers.
pub async fn get(store: &Store, nip: &str) -> Result<Option<OfficialRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM officials WHERE nip = $1"))
            .bind(nip)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// One official's row in `tx`, locked against other writers until it ends (PostgreSQL; on
/// SQLite the one writing connection already serialises transactions).
pub async fn get_for_update(
    tx: &mut Tx,
    backend: Backend,
    nip: &str,
) -> Result<Option<OfficialRow>> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM officials WHERE nip = $1{lock}"
    ))
    .bind(nip)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Every official's row, by agency and NIP (from the writer: the offline CLI reads what it
/// just wrote).
pub async fn all(store: &Store) -> Result<Vec<OfficialRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM officials ORDER BY agency, nip"
    ))
    .fetch_all(store.pool())
    .await?)
}

/// Adds a new official's row as given (its MAC already made).
pub async fn insert(store: &Store, row: &OfficialRow, created_at: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO officials (nip, name, agency, position, clearance, roles, compartments, status, \
         password_hash, pin_hash, failed_logins, locked_until, failed_pins, pin_locked_until, \
         signing_key, encryption_key, certificate, personal_recipient, key_binding, enrolment_hash, \
         enrolment_expires_at, mac, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23)",
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
    .bind(&row.enrolment_hash)
    .bind(&row.enrolment_expires_at)
    .bind(&row.mac)
    .bind(created_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Writes every column of the official's row (by its NIP) in `tx`.
pub async fn update(tx: &mut Tx, r: &OfficialRow) -> Result<()> {
    sqlx::query(
        "UPDATE officials SET name = $1, agency = $2, position = $3, clearance = $4, roles = $5, \
         compartments = $6, status = $7, password_hash = $8, pin_hash = $9, failed_logins = $10, \
         locked_until = $11, failed_pins = $12, pin_locked_until = $13, signing_key = $14, \
         encryption_key = $15, certificate = $16, personal_recipient = $17, key_binding = $18, \
         enrolment_hash = $19, enrolment_expires_at = $20, mac = $21 WHERE nip = $22",
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
    .bind(&r.enrolment_hash)
    .bind(&r.enrolment_expires_at)
    .bind(&r.mac)
    .bind(&r.nip)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets only the status, leaving the MAC as it was (the offline CLI without the node's key:
/// the node takes a lowered status and MACs the row again at its next use). Whether there
/// was such an official.
pub async fn set_status_unsealed(store: &Store, nip: &str, status: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE officials SET status = $1 WHERE nip = $2")
        .bind(status)
        .bind(nip)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() != 0)
}

/// Counts an attempt on an unknown NIP in `login_decoy`, in its own transaction.
pub async fn count_decoy(store: &Store) -> Result<()> {
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
