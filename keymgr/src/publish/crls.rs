//! The CRLs served: the newest (highest CRL number) of what is in HOME/crl/ and what this
//! service signed itself, re-signed on a schedule well before nextUpdate.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::SystemTime;

use bytes::Bytes;
use hsm_shim::KeyStore;
use time::{Duration, OffsetDateTime};

use crate::ca::{Ca, Home};
use crate::inventory::Inventory;
use crate::{Error, Result};

/// One CA's CRL as served.
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub(crate) number: u128,
    pub(crate) der: Bytes,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
}

/// What the file looked like when last read: a `keymgr crl` run rewrites it (by rename).
type Stamp = Option<(SystemTime, u64)>;

#[derive(Debug)]
pub(crate) struct CrlSlot {
    pub(crate) ca: Ca,
    current: RwLock<Option<Current>>,
    seen: RwLock<Stamp>,
}

/// What a look at one CA's CRL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    None,
    /// A newer CRL was found in HOME/crl/ (a `keymgr crl` run).
    Loaded(u128),
    /// This service signed a new CRL.
    Signed(u128),
}

impl CrlSlot {
    pub(crate) fn new(ca: Ca) -> Self {
        CrlSlot {
            ca,
            current: RwLock::new(None),
            seen: RwLock::new(None),
        }
    }

    pub(crate) fn current(&self) -> Option<Current> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn path(&self, home: &Home) -> PathBuf {
        home.dir()
            .join("crl")
            .join(self.ca.file_name().trim_end_matches(".pem"))
            .with_extension("crl")
    }

    fn stamp(&self, home: &Home) -> Stamp {
        std::fs::metadata(self.path(home))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    }

    /// Serves `candidate` if its CRL number is higher than the one served.
    fn offer(&self, candidate: Current) -> bool {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|c| c.number >= candidate.number)
        {
            return false;
        }
        *current = Some(candidate);
        true
    }

    /// Reads HOME/crl/ when the file changed since the last look; a CRL that does not parse, is
    /// not signed by the CA, or carries a lower number than the one served is ignored.
    pub(crate) fn reload(&self, home: &Home, ca_der: &[u8]) -> Result<Change> {
        let stamp = self.stamp(home);
        {
            let mut seen = self
                .seen
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if stamp.is_none() || *seen == stamp {
                return Ok(Change::None);
            }
            *seen = stamp;
        }
        let path = self.path(home);
        let der = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let candidate = parse(self.ca, &der, ca_der)?;
        let number = candidate.number;
        Ok(if self.offer(candidate) {
            Change::Loaded(number)
        } else {
            Change::None
        })
    }

    /// Whether the served CRL should be re-signed now: none served, half of `validity` passed
    /// since its thisUpdate, or its nextUpdate is less than half of `validity` away.
    pub(crate) fn due(&self, validity: Duration, now: OffsetDateTime) -> bool {
        let half = validity / 2;
        match self.current() {
            None => true,
            Some(c) => now >= c.this_update + half || c.next_update.is_none_or(|n| n <= now + half),
        }
    }

    /// Signs a new CRL with the CA's key (written to HOME/crl/ and logged, as `keymgr crl`
    /// does) and serves it.
    pub(crate) async fn sign(
        &self,
        home: &Home,
        store: &dyn KeyStore,
        inv: &Inventory,
        ca_der: &[u8],
        validity: Duration,
    ) -> Result<Change> {
        let crl = crate::revoke::crl(home, store, inv, self.ca, validity).await?;
        let candidate = parse(self.ca, &crl.der, ca_der)?;
        let number = candidate.number;
        // Our own write is not news at the next look.
        *self
            .seen
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = self.stamp(home);
        self.offer(candidate);
        Ok(Change::Signed(number))
    }
}

fn parse(ca: Ca, der: &[u8], ca_der: &[u8]) -> Result<Current> {
    let bad = |what: String| Error::Certificate(format!("{} CRL: {what}", ca.name()));
    let (_, crl) = x509_parser::parse_x509_crl(der).map_err(|e| bad(e.to_string()))?;
    let (_, issuer) = x509_parser::parse_x509_certificate(ca_der)
        .map_err(|e| bad(format!("unreadable CA certificate: {e}")))?;
    if crl.issuer() != issuer.subject() {
        return Err(bad("issued by another CA".into()));
    }
    crl.verify_signature(issuer.public_key())
        .map_err(|_| bad("its signature does not verify with the CA's key".into()))?;
    let digits = crl
        .crl_number()
        .ok_or_else(|| bad("no CRL number".into()))?
        .to_u64_digits();
    if digits.len() > 2 {
        return Err(bad("CRL number out of range".into()));
    }
    let number = digits
        .iter()
        .rev()
        .fold(0u128, |n, d| (n << 64) | u128::from(*d));
    Ok(Current {
        number,
        der: Bytes::copy_from_slice(der),
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
    })
}
