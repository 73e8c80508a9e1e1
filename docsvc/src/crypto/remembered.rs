//! Checks remembered by the SHA-256 of what was checked, within a bound: a full memory starts
//! over rather than grow (what it held is checked again, once).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
pub(crate) struct Remembered<V> {
    entries: Mutex<HashMap<[u8; 32], V>>,
    max: usize,
}

impl<V: Clone> Remembered<V> {
    pub(crate) fn new(max: usize) -> Self {
        Remembered {
            entries: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], V>> {
        // A panic elsewhere cannot leave a half-made entry: inserts are single calls.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<V> {
        self.entries().get(key).cloned()
    }

    pub(crate) fn insert(&self, key: [u8; 32], value: V) {
        let mut entries = self.entries();
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, value);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    use super::Remembered;

    #[test]
    fn a_full_memory_starts_over_and_never_exceeds_its_bound() {
        let r = Remembered::new(2);
        r.insert([1; 32], 'a');
        r.insert([2; 32], 'b');
        assert_eq!((r.get(&[1; 32]), r.len()), (Some('a'), 2));
        r.insert([3; 32], 'c');
        assert_eq!(r.len(), 1);
        assert_eq!((r.get(&[1; 32]), r.get(&[3; 32])), (None, Some('c')));
    }
}
