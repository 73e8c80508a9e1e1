//! Drafts (konsep), their versions and their reviews (paraf, koreksi): see migration 0026.
//! Every row carries the node's MAC; the service checks it on every read.

use sqlx::FromRow;

use super::{Store, Tx};
use crate::Result;

#[derive(Clone, Debug, FromRow)]
pub struct Draft {
    pub id: String,
    pub agency: String,
    pub author: String,
    pub signer: String,
    pub classification: String,
    pub urgency: String,
    pub perihal: String,
    pub meta: String,
    pub reviewers: String,
    pub version: i64,
    pub state: String,
    pub letter_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub mac: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Version {
    pub draft_id: String,
    pub version: i64,
    pub body: Vec<u8>,
    pub body_sha256: String,
    pub key_id: String,
    pub at: String,
    pub mac: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Review {
    pub id: String,
    pub draft_id: String,
    pub version: i64,
    pub nip: String,
    pub action: String,
    pub comment: Vec<u8>,
    pub comment_sha256: String,
    pub key_id: String,
    pub at: String,
    pub signature: Option<Vec<u8>>,
    pub mac: String,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn draft_fields(d: &Draft) -> Vec<Vec<u8>> {
    vec![
        b(&d.id),
        b(&d.agency),
        b(&d.author),
        b(&d.signer),
        b(&d.classification),
        b(&d.urgency),
        b(&d.perihal),
        b(&d.meta),
        b(&d.reviewers),
        d.version.to_be_bytes().to_vec(),
        b(&d.state),
        super::integrity::opt(d.letter_id.as_deref()),
        b(&d.created_at),
        // Changes with every step: the MAC is also the row's version for `update`.
        b(&d.updated_at),
    ]
}

fn version_fields(v: &Version) -> Vec<Vec<u8>> {
    vec![
        b(&v.draft_id),
        v.version.to_be_bytes().to_vec(),
        b(&v.body_sha256),
        b(&v.key_id),
        b(&v.at),
    ]
}

fn review_fields(r: &Review) -> Vec<Vec<u8>> {
    let sig = r.signature.as_deref().unwrap_or_default();
    vec![
        b(&r.id),
        b(&r.draft_id),
        r.version.to_be_bytes().to_vec(),
        b(&r.nip),
        b(&r.action),
        b(&r.comment_sha256),
        b(&r.key_id),
        b(&r.at),
        ring::digest::digest(&ring::digest::SHA256, sig)
            .as_ref()
            .to_vec(),
    ]
}

const DRAFT: &str = "sandi drafts v1";
const VERSION: &str = "sandi draft versions v1";
const REVIEW: &str = "sandi draft reviews v1";

fn refs(f: &[Vec<u8>]) -> Vec<&[u8]> {
    f.iter().map(Vec::as_slice).collect()
}

pub fn draft_holds(store: &Store, d: &Draft) -> Result<bool> {
    store
        .integrity()
        .verify(DRAFT, &refs(&draft_fields(d)), Some(&d.mac))
}

pub fn version_holds(store: &Store, v: &Version) -> Result<bool> {
    store
        .integrity()
        .verify(VERSION, &refs(&version_fields(v)), Some(&v.mac))
}

pub fn review_holds(store: &Store, r: &Review) -> Result<bool> {
    store
        .integrity()
        .verify(REVIEW, &refs(&review_fields(r)), Some(&r.mac))
}

const COLUMNS: &str = "id, agency, author, signer, classification, urgency, perihal, meta, \
     reviewers, version, state, letter_id, created_at, updated_at, mac";

/// Writes a new draft with the node's MAC.
pub async fn insert(tx: &mut Tx, store: &Store, d: &Draft) -> Result<()> {
    let mac = store.integrity().mac(DRAFT, &refs(&draft_fields(d)))?;
    sqlx::query(&format!(
        "INSERT INTO drafts ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&d.id)
    .bind(&d.agency)
    .bind(&d.author)
    .bind(&d.signer)
    .bind(&d.classification)
    .bind(&d.urgency)
    .bind(&d.perihal)
    .bind(&d.meta)
    .bind(&d.reviewers)
    .bind(d.version)
    .bind(&d.state)
    .bind(d.letter_id.as_deref())
    .bind(&d.created_at)
    .bind(&d.updated_at)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves draft `was` (as read) to `now`, with a new MAC; false when the stored row is no
/// longer at `was`'s version and state (someone moved it meanwhile).
/// `now.mac` is set to its new MAC.
pub async fn update(tx: &mut Tx, store: &Store, was: &Draft, now: &mut Draft) -> Result<bool> {
    let mac = store.integrity().mac(DRAFT, &refs(&draft_fields(now)))?;
    now.mac.clone_from(&mac);
    let done = sqlx::query(
        "UPDATE drafts SET perihal = $3, meta = $4, version = $5, state = $6, letter_id = $7, \
         updated_at = $8, mac = $9 WHERE id = $1 AND mac = $2",
    )
    .bind(&now.id)
    .bind(&was.mac)
    .bind(&now.perihal)
    .bind(&now.meta)
    .bind(now.version)
    .bind(&now.state)
    .bind(now.letter_id.as_deref())
    .bind(&now.updated_at)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Draft>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM drafts WHERE id = $1"))
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// The drafts `nip` wrote, reviews or signs in `agency`, newest first (at most 200).
pub async fn of_official(store: &Store, nip: &str, agency: &str) -> Result<Vec<Draft>> {
    let like = format!("%\"{nip}\"%");
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drafts WHERE agency = $2 \
         AND (author = $1 OR signer = $1 OR reviewers LIKE $3) \
         ORDER BY updated_at DESC, id DESC LIMIT 200"
    ))
    .bind(nip)
    .bind(agency)
    .bind(like)
    .fetch_all(store.reader())
    .await?)
}

pub async fn insert_version(tx: &mut Tx, store: &Store, v: &Version) -> Result<()> {
    let mac = store.integrity().mac(VERSION, &refs(&version_fields(v)))?;
    sqlx::query(
        "INSERT INTO draft_versions (draft_id, version, body, body_sha256, key_id, at, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&v.draft_id)
    .bind(v.version)
    .bind(&v.body)
    .bind(&v.body_sha256)
    .bind(&v.key_id)
    .bind(&v.at)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn version(store: &Store, id: &str, version: i64) -> Result<Option<Version>> {
    Ok(sqlx::query_as(
        "SELECT draft_id, version, body, body_sha256, key_id, at, mac FROM draft_versions \
         WHERE draft_id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(store.reader())
    .await?)
}

pub async fn insert_review(tx: &mut Tx, store: &Store, r: &Review) -> Result<()> {
    let mac = store.integrity().mac(REVIEW, &refs(&review_fields(r)))?;
    sqlx::query(
        "INSERT INTO draft_reviews (id, draft_id, version, nip, action, comment, comment_sha256, \
         key_id, at, signature, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&r.id)
    .bind(&r.draft_id)
    .bind(r.version)
    .bind(&r.nip)
    .bind(&r.action)
    .bind(&r.comment)
    .bind(&r.comment_sha256)
    .bind(&r.key_id)
    .bind(&r.at)
    .bind(r.signature.as_deref())
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The reviews of draft `id`, oldest first.
pub async fn reviews(store: &Store, id: &str) -> Result<Vec<Review>> {
    Ok(sqlx::query_as(
        "SELECT id, draft_id, version, nip, action, comment, comment_sha256, key_id, at, \
         signature, mac FROM draft_reviews WHERE draft_id = $1 ORDER BY at, id LIMIT 1000",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}

/// How many drafts wait for `nip`: their paraf is next, or their signature.
pub async fn waiting_candidates(store: &Store, nip: &str) -> Result<Vec<Draft>> {
    let like = format!("%\"{nip}\"%");
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drafts WHERE (state = 'review' AND reviewers LIKE $2) \
         OR (state = 'ready' AND signer = $1) LIMIT 200"
    ))
    .bind(nip)
    .bind(like)
    .fetch_all(store.reader())
    .await?)
}

/// The drafts `signer` signs in `agency` that are ready or being signed (at most 200, newest
/// first): what a delegate signing on their behalf sees.
pub async fn to_sign(store: &Store, signer: &str, agency: &str) -> Result<Vec<Draft>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drafts WHERE signer = $1 AND agency = $2 \
         AND state IN ('ready', 'signing') ORDER BY updated_at DESC, id DESC LIMIT 200"
    ))
    .bind(signer)
    .bind(agency)
    .fetch_all(store.reader())
    .await?)
}

/// The archive keys draft bodies and comments are encrypted to.
pub async fn key_ids(store: &Store) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT key_id FROM draft_versions WHERE length(body) > 0 \
         UNION SELECT key_id FROM draft_reviews",
    )
    .fetch_all(store.reader())
    .await?)
}

/// Empties the bodies of draft `id`'s versions (it was signed: the letter holds the words now,
/// and follows its own reclassification and destruction).
pub async fn shred_versions(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("UPDATE draft_versions SET body = $2 WHERE draft_id = $1")
        .bind(id)
        .bind(Vec::<u8>::new())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How many versions draft `id` has.
pub async fn version_count(store: &Store, id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM draft_versions WHERE draft_id = $1")
            .bind(id)
            .fetch_one(store.reader())
            .await?,
    )
}
