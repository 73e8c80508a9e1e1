//! The inventory: every certificate and key keymgr holds, its state and version, in SQLite (the
//! embedded default) or PostgreSQL (a `postgres://` URL). The SQL is in the store; here are the
//! rules callers rely on (serials in any spelling, a revocation that keeps its first time).

use time::OffsetDateTime;

use crate::ca::Ca;
pub use crate::records::{CertRecord, CertState, normalise_serial, parse_timestamp, timestamp};
use crate::store::{self, Store};
use crate::{Error, Result};

/// How many certificates the inventory holds, and how many of them are revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    pub certificates: i64,
    pub revoked: i64,
}

/// The inventory database.
#[derive(Clone, Debug)]
pub struct Inventory {
    store: Store,
    /// Issuances waiting for their group commit (shared by the clones).
    commits: std::sync::Arc<crate::group_commit::GroupCommit>,
}

impl Inventory {
    /// Connects and applies the migrations for the backend the URL names.
    pub async fn open(url: &str) -> Result<Self> {
        Ok(Inventory {
            store: Store::open(url).await?,
            commits: std::sync::Arc::default(),
        })
    }

    /// The default URL: a SQLite file in the CA home.
    pub fn default_url(home: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", home.join("inventory.db").display())
    }

    pub async fn insert(&self, r: &CertRecord) -> Result<()> {
        store::certificates::insert(&self.store, r).await
    }

    /// Records the CA certificates and keys of a new CA, all or nothing.
    pub async fn register(
        &self,
        certs: &[CertRecord],
        keys: &[(&str, hsm_shim::KeyInfo)],
    ) -> Result<()> {
        self.store.register_ca(certs, keys).await
    }

    /// Inserts a new version and marks the versions before it superseded, in one transaction.
    pub async fn insert_version(&self, r: &CertRecord) -> Result<()> {
        store::certificates::insert_version(&self.store, r).await
    }

    pub async fn get(&self, serial: &str) -> Result<CertRecord> {
        let serial = normalise_serial(serial);
        store::certificates::by_serial(&self.store, &serial)
            .await?
            .ok_or(Error::UnknownSerial(serial))
    }

    pub async fn list(&self) -> Result<Vec<CertRecord>> {
        store::certificates::all(&self.store).await
    }

    /// Inserts new versions (each superseding the versions before it), all in one
    /// transaction.
    pub(crate) async fn insert_versions(&self, rs: &[CertRecord]) -> Result<()> {
        store::certificates::insert_versions(&self.store, rs).await
    }

    /// The newest version of each subject that has one: (version, state, serial).
    pub(crate) async fn latest_versions(
        &self,
        subject_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, (i64, CertState, String)>> {
        store::certificates::latest_versions(&self.store, subject_ids).await
    }

    /// The group commit that issuance through this inventory goes through.
    pub(crate) fn commits(&self) -> &std::sync::Arc<crate::group_commit::GroupCommit> {
        &self.commits
    }

    /// The newest version for a logical subject.
    pub async fn latest(&self, subject_id: &str) -> Result<Option<CertRecord>> {
        store::certificates::latest(&self.store, subject_id).await
    }

    /// Active certificates of a profile that expire before `before`.
    pub async fn due(&self, profile: &str, before: OffsetDateTime) -> Result<Vec<CertRecord>> {
        store::certificates::due(&self.store, profile, before).await
    }

    /// Marks a certificate revoked. Revoking twice keeps the first time and reason.
    pub async fn revoke(
        &self,
        serial: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<CertRecord> {
        let current = self.get(serial).await?;
        if current.state == CertState::Revoked {
            return Ok(current);
        }
        store::certificates::set_revoked(&self.store, &current.serial, reason, at).await?;
        self.get(serial).await
    }

    /// Every revoked certificate an issuer has issued.
    pub async fn revoked(&self, issuer: Ca) -> Result<Vec<CertRecord>> {
        store::certificates::revoked_by(&self.store, issuer).await
    }

    /// What the certificates' statuses stand on: changes whenever a certificate is issued,
    /// rotated or revoked (by this process or another), so a cache of statuses knows to drop.
    pub async fn census(&self) -> Result<Census> {
        let (certificates, revoked) = store::certificates::census(&self.store).await?;
        Ok(Census {
            certificates,
            revoked,
        })
    }

    /// The next CRL number for an issuer; two runs never share one.
    pub async fn next_crl_number(&self, issuer: Ca) -> Result<i64> {
        store::crl_numbers::next(&self.store, issuer).await
    }

    /// The last CRL number `issuer` used, if it used one.
    pub async fn last_crl_number(&self, issuer: Ca) -> Result<Option<i64>> {
        store::crl_numbers::last(&self.store, issuer).await
    }

    /// Records (or updates) a key's attributes.
    pub async fn record_key(&self, keystore: &str, info: &hsm_shim::KeyInfo) -> Result<()> {
        store::keys::record(&self.store, keystore, info).await
    }

    /// Every key: (keystore, id, label, kind, version, state).
    pub async fn keys(&self) -> Result<Vec<(String, String, String, String, i64, String)>> {
        Ok(store::keys::all(&self.store)
            .await?
            .into_iter()
            .map(|k| (k.keystore, k.id, k.label, k.kind, k.version, k.state))
            .collect())
    }

    /// The store under the inventory, for the online CA's own tables.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}
