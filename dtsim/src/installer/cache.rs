//! A least-recently-used map with a fixed number of entries: the installer cache must not grow
//! with the tenants (one signed installer per environment, version and variant).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Installers kept by default: enough for a test suite's or a demo's environments, while 5,000
/// tenants no longer mean 5,000 kept installers (BENCHMARKS.md section 6).
pub const DEFAULT_CAPACITY: usize = 64;

pub struct Lru<K, V> {
    capacity: usize,
    /// Each key's value and its last use (a tick from `clock`).
    entries: HashMap<K, (V, u64)>,
    /// The same entries ordered by last use: the first is the one to evict.
    by_use: BTreeMap<u64, K>,
    clock: u64,
}

impl<K: Clone + Eq + Hash, V: Clone> Lru<K, V> {
    /// At least one entry, whatever `capacity` says: a zero cache could not hand out a value.
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The value for `key`, made by `make` when absent; the least recently used entry goes
    /// when this one would exceed the capacity.
    pub fn get_or_insert_with(&mut self, key: &K, make: impl FnOnce() -> V) -> V {
        self.clock += 1;
        let now = self.clock;
        if let Some((value, used)) = self.entries.get_mut(key) {
            self.by_use.remove(used);
            *used = now;
            self.by_use.insert(now, key.clone());
            return value.clone();
        }
        if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        let value = make();
        self.entries.insert(key.clone(), (value.clone(), now));
        self.by_use.insert(now, key.clone());
        value
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut made = Vec::new();
        let mut lru = Lru::new(2);
        let mut get = |lru: &mut Lru<&str, String>, k: &'static str| {
            lru.get_or_insert_with(&k, || {
                made.push(k);
                k.to_uppercase()
            })
        };
        assert_eq!(get(&mut lru, "a"), "A");
        get(&mut lru, "b");
        get(&mut lru, "a"); // a is now newer than b
        get(&mut lru, "c"); // evicts b
        assert_eq!(lru.len(), 2);
        fn kept(lru: &Lru<&'static str, String>) -> Vec<&'static str> {
            let mut k: Vec<&str> = lru.entries.keys().copied().collect();
            k.sort();
            k
        }
        assert_eq!(kept(&lru), ["a", "c"]);
        get(&mut lru, "b"); // made again, evicts a
        assert_eq!(kept(&lru), ["b", "c"]);
        assert_eq!(made, ["a", "b", "c", "b"]);
        assert_eq!(Lru::<u8, u8>::new(0).capacity, 1);
    }
}
