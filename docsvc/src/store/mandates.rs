//! Mandates to sign on a head's behalf (a.n., Plt., Plh.): see migration 0027. Every row
//! carries the node's MAC over every field; the service checks it on every read.

use sqlx::FromRow;

use super::{Store, Tx};
use crate::Result;

#[derive(Clone, Debug, FromRow)]
pub struct Mandate {
    pub id: String,
    pub agency: String,
    pub grantor: String,
    pub delegate: String,
    pub kind: String,
    pub max_classification: String,
    pub valid_from: String,
    pub valid_until: String,
    pub statement: String,
    pub signature: Vec<u8>,
    pub granted_at: String,
    pub revoked_at: Option<String>,
    pub mac: String,
}

const DOMAIN: &str = "sandi mandates v1";

fn fields(m: &Mandate) -> Vec<Vec<u8>> {
    let b = |s: &str| s.as_bytes().to_vec();
    vec![
        b(&m.id),
        b(&m.agency),
        b(&m.grantor),
        b(&m.delegate),
        b(&m.kind),
        b(&m.max_classification),
        b(&m.valid_from),
        b(&m.valid_until),
        b(&m.statement),
        ring::digest::digest(&ring::digest::SHA256, &m.signature)
            .as_ref()
            .to_vec(),
        b(&m.granted_at),
        super::integrity::opt(m.revoked_at.as_deref()),
    ]
}

fn mac(store: &Store, m: &Mandate) -> Result<String> {
    let f = fields(m);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().mac(DOMAIN, &refs)
}

/// Whether `m` carries the node's MAC over every field.
pub fn holds(store: &Store, m: &Mandate) -> Result<bool> {
    let f = fields(m);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().verify(DOMAIN, &refs, Some(&m.mac))
}

const COLUMNS: &str = "id, agency, grantor, delegate, kind, max_classification, valid_from, \
     valid_until, statement, signature, granted_at, revoked_at, mac";

/// Writes a new mandate with the node's MAC (`revoked_at` as given: none).
pub async fn insert(tx: &mut Tx, store: &Store, m: &Mandate) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO mandates ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)"
    ))
    .bind(&m.id)
    .bind(&m.agency)
    .bind(&m.grantor)
    .bind(&m.delegate)
    .bind(&m.kind)
    .bind(&m.max_classification)
    .bind(&m.valid_from)
    .bind(&m.valid_until)
    .bind(&m.statement)
    .bind(&m.signature)
    .bind(&m.granted_at)
    .bind(mac(
        store,
        &Mandate {
            revoked_at: None,
            ..m.clone()
        },
    )?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Mandate>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM mandates WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// The mandates `nip` granted or holds, newest first (at most 200).
pub async fn of_official(store: &Store, nip: &str) -> Result<Vec<Mandate>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mandates WHERE grantor = $1 OR delegate = $1 \
         ORDER BY granted_at DESC, id DESC LIMIT 200"
    ))
    .bind(nip)
    .fetch_all(store.reader())
    .await?)
}

/// The unrevoked mandates `delegate` holds, at most 200.
pub async fn held(store: &Store, delegate: &str) -> Result<Vec<Mandate>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mandates WHERE delegate = $1 AND revoked_at IS NULL \
         ORDER BY granted_at DESC, id DESC LIMIT 200"
    ))
    .bind(delegate)
    .fetch_all(store.pool())
    .await?)
}

/// The unrevoked mandates `grantor` gave, at most 200.
pub async fn given(store: &Store, grantor: &str) -> Result<Vec<Mandate>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mandates WHERE grantor = $1 AND revoked_at IS NULL \
         ORDER BY granted_at DESC, id DESC LIMIT 200"
    ))
    .bind(grantor)
    .fetch_all(store.pool())
    .await?)
}

/// Revokes mandate `m` (as read and checked) at `at`, with a new MAC, only if it is still
/// unrevoked: whether this call revoked it.
pub async fn revoke(tx: &mut Tx, store: &Store, m: &Mandate, at: &str) -> Result<bool> {
    let now = Mandate {
        revoked_at: Some(at.to_owned()),
        ..m.clone()
    };
    let done = sqlx::query(
        "UPDATE mandates SET revoked_at = $2, mac = $3 \
         WHERE id = $1 AND revoked_at IS NULL AND mac = $4",
    )
    .bind(&m.id)
    .bind(at)
    .bind(mac(store, &now)?)
    .bind(&m.mac)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
