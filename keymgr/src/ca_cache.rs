//! The CA state and the issuing CAs' certificates, held in memory between issuances.
//!
//! Reading and parsing `state.json` and the CA certificates for every certificate cost more
//! than the bookkeeping around the signature. The snapshot is kept with a fingerprint of the
//! three files (inode, length, modification and change times); every use re-checks the
//! fingerprint with a `stat` of each, so a ceremony or rotation, in this process or in
//! another, replaces the snapshot before the next issuance: every write of these files goes
//! through [`crate::ca::write_file`] (a new file renamed into place), which changes them all.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::ca::{Ca, CaState, Home};
use crate::inventory::normalise_serial;
use crate::{Error, Result};

/// What identifies one version of a file without reading it; `None` when it is absent.
type FileStamp = Option<(u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| {
        (
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        )
    })
}

/// The fingerprint of the files a snapshot was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint([FileStamp; 3]);

impl Fingerprint {
    fn of(home: &Home) -> Self {
        Fingerprint([
            stamp(&home.state_path()),
            stamp(&home.cert_path(Ca::Network)),
            stamp(&home.cert_path(Ca::Signing)),
        ])
    }
}

/// An issuing CA's certificate as issuance needs it.
#[derive(Debug)]
pub struct IssuingCa {
    pub der: Vec<u8>,
    /// Its serial, normalised as the inventory stores it (to see whether it was revoked).
    pub serial: String,
    not_before: i64,
    not_after: i64,
    /// How [`Error::CaExpired`] spells the end of its validity.
    not_after_text: String,
}

impl IssuingCa {
    fn parse(ca: Ca, der: Vec<u8>) -> Result<Self> {
        let (serial, not_before, not_after, not_after_text) = {
            let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
                Error::Certificate(format!("unreadable {} certificate: {e}", ca.name()))
            })?;
            let v = cert.validity();
            (
                normalise_serial(&cert.tbs_certificate.raw_serial_as_string()),
                v.not_before.timestamp(),
                v.not_after.timestamp(),
                v.not_after.to_string(),
            )
        };
        Ok(IssuingCa {
            der,
            serial,
            not_before,
            not_after,
            not_after_text,
        })
    }

    /// Refuses a CA certificate that is not valid now (the clock is read at every use).
    pub fn check_validity(&self, ca: Ca) -> Result<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if now < self.not_before || now > self.not_after {
            return Err(Error::CaExpired {
                ca: ca.name().into(),
                not_after: self.not_after_text.clone(),
            });
        }
        Ok(())
    }
}

/// The CA state and the online intermediates' certificates, as read together.
#[derive(Debug)]
pub struct CaSnapshot {
    pub state: CaState,
    network: Option<IssuingCa>,
    signing: Option<IssuingCa>,
}

impl CaSnapshot {
    fn load(home: &Home) -> Result<Self> {
        let state = home.load_state()?;
        let issuing = |ca: Ca| -> Result<Option<IssuingCa>> {
            if !home.cert_path(ca).exists() {
                return Ok(None);
            }
            IssuingCa::parse(ca, home.cert_der(ca)?).map(Some)
        };
        Ok(CaSnapshot {
            state,
            network: issuing(Ca::Network)?,
            signing: issuing(Ca::Signing)?,
        })
    }

    /// The certificate of an online intermediate.
    pub fn issuing(&self, home: &Home, ca: Ca) -> Result<&IssuingCa> {
        let held = match ca {
            Ca::Network => self.network.as_ref(),
            Ca::Signing => self.signing.as_ref(),
            Ca::Root => None,
        };
        match held {
            Some(c) => Ok(c),
            // Absent: the same error reading it would give.
            None => Err(home
                .cert_der(ca)
                .err()
                .unwrap_or_else(|| Error::InvalidInput(format!("no {} certificate", ca.name())))),
        }
    }
}

/// The cached snapshot of one home, shared by the clones of its [`Home`].
#[derive(Debug, Default)]
pub(crate) struct CaCache {
    held: Mutex<Option<(Fingerprint, Arc<CaSnapshot>)>>,
}

impl CaCache {
    /// The current snapshot: the cached one when the files did not change since it was read.
    pub(crate) fn get(&self, home: &Home) -> Result<Arc<CaSnapshot>> {
        // Stamped before reading: if the files change in between, the next call sees a
        // fingerprint that differs and reads again (never a stale snapshot kept as fresh).
        let now = Fingerprint::of(home);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, snapshot)) = held.as_ref()
            && *seen == now
        {
            return Ok(Arc::clone(snapshot));
        }
        let snapshot = Arc::new(CaSnapshot::load(home)?);
        *held = Some((now, Arc::clone(&snapshot)));
        Ok(snapshot)
    }

    /// Drops the snapshot (this process changed the state).
    pub(crate) fn forget(&self) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
