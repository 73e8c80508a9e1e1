//! Signed answers kept per CertID for requests without a nonce: bounded in number, each fresh
//! for half its validity, all dropped at once when the inventory changes.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;

/// At most this many answers are kept (about 1 KiB each): certificates asked about beyond
/// that, such as a flood of made-up serials, are signed each time instead.
pub(super) const MAX_ENTRIES: usize = 20_000;

struct Entry {
    der: Bytes,
    fresh_until: Instant,
}

/// A kept answer and the seconds it stays fresh.
pub(super) struct Hit {
    pub(super) der: Bytes,
    pub(super) max_age: u64,
}

pub(super) struct Cache {
    entries: RwLock<HashMap<Vec<u8>, Entry>>,
    /// Counts the clearings: an answer computed before one is not kept after it.
    generation: AtomicU64,
}

impl Cache {
    pub(super) fn new() -> Self {
        Cache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> Option<Hit> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = entries.get(key)?;
        let now = Instant::now();
        if e.fresh_until <= now {
            return None;
        }
        Some(Hit {
            der: e.der.clone(),
            max_age: (e.fresh_until - now).as_secs(),
        })
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps an answer computed at `generation`, unless the cache was cleared since or is full
    /// (stale entries are swept first).
    pub(super) fn insert(
        &self,
        generation: u64,
        key: Vec<u8>,
        der: Bytes,
        fresh_for: time::Duration,
    ) {
        let Ok(fresh_for) = std::time::Duration::try_from(fresh_for) else {
            return;
        };
        let now = Instant::now();
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Under the lock: a clear() that ran after `generation` was read is seen here.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, e| e.fresh_until > now);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                der,
                fresh_until: now + fresh_for,
            },
        );
    }

    pub(super) fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_computed_before_a_clear_is_not_kept() {
        let c = Cache::new();
        let g = c.generation();
        c.clear();
        c.insert(
            g,
            b"id".to_vec(),
            Bytes::from_static(b"old"),
            time::Duration::hours(1),
        );
        assert!(c.get(b"id").is_none());
        c.insert(
            c.generation(),
            b"id".to_vec(),
            Bytes::from_static(b"new"),
            time::Duration::hours(1),
        );
        assert_eq!(
            c.get(b"id").map(|h| h.der),
            Some(Bytes::from_static(b"new"))
        );
    }

    #[test]
    fn a_stale_answer_is_not_served() {
        let c = Cache::new();
        c.insert(
            c.generation(),
            b"id".to_vec(),
            Bytes::from_static(b"x"),
            time::Duration::ZERO,
        );
        assert!(c.get(b"id").is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = Cache::new();
        for i in 0..=MAX_ENTRIES {
            c.insert(
                c.generation(),
                i.to_be_bytes().to_vec(),
                Bytes::new(),
                time::Duration::hours(1),
            );
        }
        assert_eq!(c.len(), MAX_ENTRIES);
    }
}
