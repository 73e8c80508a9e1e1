//! Officials' rows as the node MACs them: every security attribute (status, clearance, roles,
//! compartments, agency, password and PIN hashes, lockout counters, key ids, certificate, key
//! binding, personal recipient, outstanding enrolment code) is bound by a MAC made with the
//! node's key on each change and checked on every use ([`crate::store::integrity`]). Every
//! read and write of `officials` for a decision goes through here.

use crate::store::Store;
use crate::store::integrity::{Integrity, opt};
use crate::store::officials;
pub(crate) use crate::store::officials::OfficialRow;
use crate::{Error, Result};

const DOMAIN: &str = "sandi:officials:v1";

/// What a row's MAC says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mac {
    Good,
    /// Good for the row as it was before its status was lowered without the key.
    Lowered,
    Bad,
}

/// What the MAC covers, with `status` as given. An outstanding enrolment code (its hash and
/// expiry) is covered as two more fields, so that rows from before enrolment codes keep their
/// MAC, and a code planted, changed or removed by a database writer fails the check.
fn fields(r: &OfficialRow, status: &str) -> Vec<Vec<u8>> {
    let mut f = vec![
        r.nip.as_bytes().to_vec(),
        r.name.as_bytes().to_vec(),
        r.agency.as_bytes().to_vec(),
        r.position.as_bytes().to_vec(),
        r.clearance.as_bytes().to_vec(),
        r.roles.as_bytes().to_vec(),
        r.compartments.as_bytes().to_vec(),
        status.as_bytes().to_vec(),
        r.password_hash.as_bytes().to_vec(),
        r.pin_hash.as_bytes().to_vec(),
        r.failed_logins.to_string().into_bytes(),
        opt(r.locked_until.as_deref()),
        r.failed_pins.to_string().into_bytes(),
        opt(r.pin_locked_until.as_deref()),
        opt(r.signing_key.as_deref()),
        opt(r.encryption_key.as_deref()),
        r.certificate
            .as_ref()
            .map_or_else(|| vec![0], |c| [&[1u8][..], c.as_slice()].concat()),
        opt(r.personal_recipient.as_deref()),
        opt(r.key_binding.as_deref()),
    ];
    if r.enrolment_hash.is_some() || r.enrolment_expires_at.is_some() {
        f.push(opt(r.enrolment_hash.as_deref()));
        f.push(opt(r.enrolment_expires_at.as_deref()));
    }
    f
}

/// Sets the MAC over the row as it now is.
fn seal(r: &mut OfficialRow, i: &Integrity) -> Result<()> {
    let f = fields(r, &r.status);
    r.mac = Some(i.mac(DOMAIN, &f.iter().map(Vec::as_slice).collect::<Vec<_>>())?);
    Ok(())
}

/// Whether the row carries the node's MAC. A status lowered without the key (the
/// operator's `docsvc official set-status` while the node serves) is taken, as it can only
/// take rights away ([`Mac::Lowered`]: to be MAC'd again at once).
fn verify(r: &OfficialRow, i: &Integrity) -> Result<Mac> {
    let check = |status: &str| {
        let f = fields(r, status);
        i.verify(
            DOMAIN,
            &f.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            r.mac.as_deref(),
        )
    };
    Ok(if check(&r.status)? {
        Mac::Good
    } else if (matches!(r.status.as_str(), "suspended" | "revoked") && check("active")?)
        || (r.status == "revoked" && check("suspended")?)
    {
        Mac::Lowered
    } else {
        Mac::Bad
    })
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

async fn checked(store: &Store, row: Option<OfficialRow>) -> Result<Option<OfficialRow>> {
    let Some(r) = row else {
        return Ok(None);
    };
    match verify(&r, store.integrity())? {
        Mac::Good => Ok(Some(r)),
        Mac::Lowered => Ok(update(store, &r.nip, |_| Ok(())).await?.map(|(r, ())| r)),
        Mac::Bad => Err(incident(store, &r.nip).await),
    }
}

/// One official's row, checked; `None` when there is no such official.
pub(crate) async fn load(store: &Store, nip: &str) -> Result<Option<OfficialRow>> {
    let row = officials::get(store, nip).await?;
    checked(store, row).await
}

/// Every official's row, checked; a row that fails is left out (and logged as an incident).
/// Without the key (the offline CLI on a sealed node) the rows as stored, for display only.
pub(crate) async fn load_all(store: &Store) -> Result<Vec<OfficialRow>> {
    let rows = officials::all(store).await?;
    if !store.integrity().has_key() {
        return Ok(rows);
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
    seal(row, store.integrity())?;
    officials::insert(store, row, &crate::now_rfc3339()).await
}

/// Changes one official's row: read with the row locked and checked, changed by `change`,
/// MAC'd again and written, in one transaction. `None` when there is no such official;
/// otherwise the row as written and what `change` returned.
pub(crate) async fn update<T>(
    store: &Store,
    nip: &str,
    change: impl FnOnce(&mut OfficialRow) -> Result<T>,
) -> Result<Option<(OfficialRow, T)>> {
    let mut tx = store.begin().await?;
    let Some(mut r) = officials::get_for_update(&mut tx, store.backend(), nip).await? else {
        return Ok(None);
    };
    if verify(&r, store.integrity())? == Mac::Bad {
        // The log is written after the transaction ends (SQLite has one writer).
        tx.rollback().await?;
        return Err(incident(store, nip).await);
    }
    let out = change(&mut r)?;
    seal(&mut r, store.integrity())?;
    officials::update(&mut tx, &r).await?;
    tx.commit().await?;
    Ok(Some((r, out)))
}

/// A durable write for an attempt on an unknown NIP, shaped like counting one in a known
/// official's row (one transaction, one commit), so that the two take alike time.
pub(crate) async fn decoy(store: &Store) -> Result<()> {
    officials::count_decoy(store).await
}
