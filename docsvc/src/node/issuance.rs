//! What keymgr's issuance log vouches for, as this node holds it: the newest checkpoint of
//! the log that this node and enough peers cosigned (see `network::issuance`), and the
//! certificates found in it. Both caches are bounded; a certificate not found is asked about
//! again only after [`REASK`], so a caller cannot make this node hammer keymgr.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a certificate found missing from the log is refused without asking again.
pub const REASK: Duration = Duration::from_secs(30);
/// The most certificates remembered as logged (the set starts again when full).
const MAX_LOGGED: usize = 100_000;
/// The most certificates remembered as missing.
const MAX_MISSING: usize = 10_000;

/// A checkpoint of the issuance log cosigned by this node and at least the threshold of peers.
#[derive(Clone, Debug)]
pub struct Trusted {
    pub size: u64,
    pub root: [u8; 32],
    /// The checkpoint with the log's signature and every witness's cosignature counted.
    pub note: String,
    /// The peers whose cosignature was counted.
    pub witnesses: Vec<String>,
}

/// The issuance log as this node follows it.
#[derive(Debug, Default)]
pub struct IssuanceLog {
    trusted: RwLock<Option<Arc<Trusted>>>,
    /// When the saved checkpoint was last read (while none is trusted).
    saved_read: Mutex<Option<Instant>>,
    logged: Mutex<HashSet<[u8; 32]>>,
    /// Certificates proven in keymgr's newer tree of this size, not yet in the trusted one.
    pending: Mutex<HashMap<[u8; 32], u64>>,
    missing: Mutex<HashMap<[u8; 32], Instant>>,
}

impl IssuanceLog {
    pub fn trusted(&self) -> Option<Arc<Trusted>> {
        self.trusted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes `t` as the checkpoint proofs are checked against, unless a larger one is held.
    pub fn trust(&self, t: Trusted) {
        let mut held = self.trusted.write().unwrap_or_else(PoisonError::into_inner);
        if held.as_ref().is_none_or(|h| h.size <= t.size) {
            *held = Some(Arc::new(t));
            // Certificates missing from the smaller tree may be in this one.
            self.missing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// Trusts nothing any more (keymgr was seen to fork its log): every certificate is asked
    /// about again, and refused until an operator has dealt with it.
    pub fn distrust(&self) {
        *self.trusted.write().unwrap_or_else(PoisonError::into_inner) = None;
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The size of keymgr's tree `sha256` was proven in, if it is not yet in the trusted one.
    pub fn pending(&self, sha256: &[u8; 32]) -> Option<u64> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sha256)
            .copied()
    }

    pub fn logged_at(&self, sha256: [u8; 32], size: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_MISSING {
            pending.clear();
        }
        pending.insert(sha256, size);
    }

    /// Whether the saved checkpoint may be read now: at most once every [`REASK`].
    pub fn may_read_saved(&self) -> bool {
        let mut last = self
            .saved_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < REASK) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub fn is_logged(&self, sha256: &[u8; 32]) -> bool {
        self.logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(sha256)
    }

    pub fn found(&self, sha256: [u8; 32]) {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged.len() >= MAX_LOGGED {
            logged.clear();
        }
        logged.insert(sha256);
    }

    /// Whether `sha256` was found missing within [`REASK`].
    pub fn missing_lately(&self, sha256: &[u8; 32]) -> bool {
        self.missing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sha256)
            .is_some_and(|at| at.elapsed() < REASK)
    }

    pub fn not_found(&self, sha256: [u8; 32]) {
        let mut missing = self.missing.lock().unwrap_or_else(PoisonError::into_inner);
        if missing.len() >= MAX_MISSING {
            missing.retain(|_, at| at.elapsed() < REASK);
            if missing.len() >= MAX_MISSING {
                missing.clear();
            }
        }
        missing.insert(sha256, Instant::now());
    }
}
