//! A table from host names (SKU, location and channel ids) to 32-bit
//! values, for lookups on the hot path.
//!
//! Linear probing, at most 3/4 full. A name's home slot is the high bits of
//! its hash scaled to the table's length; the entry keeps the low 32 bits as
//! its tag and the name inline (up to 23 bytes), so a lookup usually reads
//! one 32-byte entry: no control bytes elsewhere, no pointer to follow.
//! Entries are never removed (names are never forgotten).

use crate::ids::Key;
use std::hash::BuildHasher;

/// The value of a free entry; stored values are below it.
const EMPTY: u32 = u32::MAX;

#[derive(Clone)]
#[repr(C, align(32))]
struct Entry {
    /// The low 32 bits of the name's hash (the high bits place it).
    tag: u32,
    /// `EMPTY` when the entry is free.
    value: u32,
    name: Key,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

/// The hash a [`NameTable`] places a name by (fixed: tables are rebuilt
/// from names, never stored).
#[inline]
pub(crate) fn hash(name: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(0x756e_6973_746f_636b).hash_one(name)
}

#[derive(Clone)]
pub(crate) struct NameTable {
    entries: Box<[Entry]>,
    len: usize,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable::with_capacity(0)
    }
}

impl std::fmt::Debug for NameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl NameTable {
    /// An empty table with room for `n` names.
    pub(crate) fn with_capacity(n: usize) -> NameTable {
        let cap = (n + n / 3 + 1).max(16);
        let empty = Entry {
            tag: 0,
            value: EMPTY,
            name: Key::default(),
        };
        NameTable {
            entries: vec![empty; cap].into_boxed_slice(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Entries, free ones included.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        ((u128::from(h) * self.entries.len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.entries.len() {
            0
        } else {
            i + 1
        }
    }

    /// Starts loading the entry a lookup of a name hashed `h` reads first.
    #[inline]
    pub(crate) fn prefetch(&self, h: u64) {
        crate::prefetch::lines(&self.entries[self.home(h)], 1);
    }

    /// The value stored under `name`, whose [`hash`] is `h`.
    #[inline]
    pub(crate) fn get(&self, name: &str, h: u64) -> Option<u32> {
        self.find(name, h).ok()
    }

    /// The value stored under `name`, or the free entry where it would go.
    #[inline]
    pub(crate) fn find(&self, name: &str, h: u64) -> Result<u32, usize> {
        self.probe(name, h).map(|i| self.entries[i].value)
    }

    /// The entry holding `name`, or the free entry where it would go.
    #[inline]
    fn probe(&self, name: &str, h: u64) -> Result<usize, usize> {
        let tag = h as u32;
        let mut i = self.home(h);
        loop {
            let e = &self.entries[i];
            if e.value == EMPTY {
                return Err(i);
            }
            if e.tag == tag && e.name.as_str().as_bytes() == name.as_bytes() {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// Fills the free entry `find` gave for `name`. The caller keeps the
    /// table at most 3/4 full (see [`NameTable::insert`]).
    pub(crate) fn fill(&mut self, slot: usize, name: Key, h: u64, value: u32) {
        debug_assert!(self.entries[slot].value == EMPTY && value != EMPTY);
        self.entries[slot] = Entry {
            tag: h as u32,
            value,
            name,
        };
        self.len += 1;
    }

    /// Stores `value` under `name`, replacing what was there; grows the
    /// table when it would be more than 3/4 full.
    pub(crate) fn insert(&mut self, name: Key, value: u32) {
        let h = hash(&name);
        match self.probe(&name, h) {
            Ok(i) => self.entries[i].value = value,
            Err(slot) if 4 * (self.len + 1) <= 3 * self.entries.len() => {
                self.fill(slot, name, h, value)
            }
            Err(_) => {
                let mut grown = NameTable::with_capacity(2 * (self.len + 1));
                for (k, v) in self.iter() {
                    grown.insert(k.clone(), v);
                }
                grown.insert(name, value);
                *self = grown;
            }
        }
    }

    /// The names and their values, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Key, u32)> {
        self.entries
            .iter()
            .filter(|e| e.value != EMPTY)
            .map(|e| (&e.name, e.value))
    }
}

impl FromIterator<(Key, u32)> for NameTable {
    fn from_iter<I: IntoIterator<Item = (Key, u32)>>(iter: I) -> Self {
        let mut t = NameTable::default();
        for (k, v) in iter {
            t.insert(k, v);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_map_while_growing_and_replacing() {
        let mut t = NameTable::default();
        let mut m = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Short names repeat (replacements), long ones are stored out
            // of line by `Key`.
            let name = if i % 2 == 0 {
                format!("n{}", x % 700)
            } else {
                format!("a-rather-long-location-name-{}", x % 3_000)
            };
            t.insert(Key::new(&name), i);
            m.insert(name, i);
            assert!(4 * t.len() <= 3 * t.capacity());
        }
        assert_eq!(t.len(), m.len());
        for (k, v) in &m {
            assert_eq!(t.get(k, hash(k)), Some(*v), "{k}");
        }
        assert_eq!(t.get("absent", hash("absent")), None);
        let mut listed: Vec<(String, u32)> = t.iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut want: Vec<(String, u32)> = m.into_iter().collect();
        listed.sort();
        want.sort();
        assert_eq!(listed, want);
    }
}
