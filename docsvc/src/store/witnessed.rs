//! `witnessed`: other nodes' access logs as this node witnessed them (see
//! `network::witness`), one row per peer under the node's MAC: a database writer cannot plant
//! a smaller or forked checkpoint for the next round to accept, nor wipe a split view seen.

use super::Store;
use crate::Result;

const DOMAIN: &str = "sandi:witnessed:v1";

/// A peer's log as last witnessed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Witnessed {
    pub node: String,
    /// The peer's note key, pinned at first sight.
    pub vkey: String,
    pub size: i64,
    /// The root (base64), as the checkpoint has it.
    pub root: String,
    /// The checkpoint with this node's cosignature line.
    pub cosigned: String,
    pub seen_at: String,
    /// The split view seen, if any: what was held and what contradicted it.
    pub incident: Option<String>,
    pub mac: String,
}

fn fields(w: &Witnessed) -> Vec<Vec<u8>> {
    vec![
        w.node.as_bytes().to_vec(),
        w.vkey.as_bytes().to_vec(),
        w.size.to_be_bytes().to_vec(),
        w.root.as_bytes().to_vec(),
        w.cosigned.as_bytes().to_vec(),
        w.seen_at.as_bytes().to_vec(),
        super::integrity::opt(w.incident.as_deref()),
    ]
}

/// Whether `w` carries the node's MAC over every field.
pub fn holds(store: &Store, w: &Witnessed) -> Result<bool> {
    let f = fields(w);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    store.integrity().verify(DOMAIN, &refs, Some(&w.mac))
}

const COLUMNS: &str = "node, vkey, size, root, cosigned, seen_at, incident, mac";

/// Writes `w` (its `mac` ignored: the node's MAC is computed here) in place of the row kept,
/// unless that row holds a split view: the first incident stays, whoever writes after it (a
/// slower process of this node included).
pub async fn put(store: &Store, w: &Witnessed) -> Result<()> {
    let f = fields(w);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    let mac = store.integrity().mac(DOMAIN, &refs)?;
    sqlx::query(&format!(
        "INSERT INTO witnessed ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (node) DO UPDATE SET vkey = $2, size = $3, root = $4, cosigned = $5, \
         seen_at = $6, incident = $7, mac = $8 WHERE witnessed.incident IS NULL"
    ))
    .bind(&w.node)
    .bind(&w.vkey)
    .bind(w.size)
    .bind(&w.root)
    .bind(&w.cosigned)
    .bind(&w.seen_at)
    .bind(&w.incident)
    .bind(mac)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The row kept for `node`, if any (its MAC not yet checked: see [`holds`]).
pub async fn get(store: &Store, node: &str) -> Result<Option<Witnessed>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM witnessed WHERE node = $1"))
            .bind(node)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// Every peer witnessed, by node id (a network has a handful).
pub async fn all(store: &Store) -> Result<Vec<Witnessed>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM witnessed ORDER BY node LIMIT 1000"
    ))
    .fetch_all(store.reader())
    .await?)
}
