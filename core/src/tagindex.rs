//! An index from 32-bit tags (bits of a host id's hash) to slab slots, for
//! the hold table.
//!
//! One flat array of `(tag, slot)` pairs, 8 bytes each, open-addressed with
//! linear probing and filled to at most 5/8: a lookup reads the line its
//! home falls in (a miss reads about three entries), where a SwissTable
//! reads its control bytes and then, in another part of memory, the entry.
//! The caller confirms a tag match against the record itself (`eq`), so
//! tags may collide. Removal shifts the following entries back (no
//! tombstones), so lookups never slow down with churn.

/// An empty entry. Slot `u32::MAX` is never stored.
const EMPTY: u64 = u64::MAX;

/// Capacity of a new index (a power of two).
const MIN_CAPACITY: usize = 16;

pub(crate) struct TagIndex {
    entries: Box<[u64]>,
    len: usize,
    /// `entries.len() == 1 << bits`.
    bits: u32,
}

impl Default for TagIndex {
    fn default() -> Self {
        TagIndex {
            entries: vec![EMPTY; MIN_CAPACITY].into_boxed_slice(),
            len: 0,
            bits: MIN_CAPACITY.trailing_zeros(),
        }
    }
}

#[inline]
fn pack(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot)
}

#[inline]
fn tag_of(e: u64) -> u32 {
    (e >> 32) as u32
}

#[inline]
fn home(tag: u32, bits: u32) -> usize {
    (u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// Starts loading the line a lookup of `tag` reads first, in a table whose
/// [`TagIndex::shape`] was `(entries, bits)` (a stale shape prefetches a
/// wrong line, nothing worse).
#[inline]
pub(crate) fn prefetch_at(entries: *const u64, bits: u32, tag: u32) {
    if bits != 0 {
        crate::prefetch::lines(entries.wrapping_add(home(tag, bits)), 1);
    }
}

impl TagIndex {
    #[inline]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// Where a tag's probe starts: a multiply-shift, so that tags that
    /// differ only in their high bits still spread.
    #[inline]
    fn home(&self, tag: u32) -> usize {
        home(tag, self.bits)
    }

    /// Where the entries start and the table's size in bits: what
    /// [`prefetch_at`] needs to find a tag's home line without the table.
    pub(crate) fn shape(&self) -> (*const u64, u32) {
        (self.entries.as_ptr(), self.bits)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// The first slot stored under `tag` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, tag: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut i = self.home(tag);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if tag_of(e) == tag && eq(e as u32) {
                return Some(e as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `slot` under `tag`. The caller knows the pair is not stored.
    #[inline]
    pub(crate) fn insert(&mut self, tag: u32, slot: u32) {
        debug_assert!(slot != u32::MAX);
        if (self.len + 1) * 8 > self.entries.len() * 5 {
            self.grow();
        }
        self.place(pack(tag, slot));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mask = self.mask();
        let mut i = self.home(tag_of(e));
        while self.entries[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.entries[i] = e;
    }

    #[cold]
    fn grow(&mut self) {
        let bigger = vec![EMPTY; self.entries.len() * 2].into_boxed_slice();
        let old = std::mem::replace(&mut self.entries, bigger);
        self.bits += 1;
        for e in old.iter().copied().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Removes `slot` stored under `tag`; false if it is not there.
    pub(crate) fn remove(&mut self, tag: u32, slot: u32) -> bool {
        let mask = self.mask();
        let target = pack(tag, slot);
        let mut hole = self.home(tag);
        loop {
            match self.entries[hole] {
                EMPTY => return false,
                e if e == target => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Shift back every following entry of the run whose home is not
        // after the hole, so no probe meets an empty entry before its own.
        let mut j = (hole + 1) & mask;
        loop {
            let e = self.entries[j];
            if e == EMPTY {
                break;
            }
            let home = self.home(tag_of(e));
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts and removals against a map, with few distinct tags
    /// (collisions, long runs) and tables small enough to wrap around.
    #[test]
    fn agrees_with_a_map_under_churn() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for tags in [3u64, 50, 1 << 32] {
            let mut index = TagIndex::default();
            let mut model: HashMap<u32, u32> = HashMap::new(); // slot -> tag
            let mut next_slot = 0u32;
            for _ in 0..20_000 {
                let r = next();
                if r % 5 < 3 || model.is_empty() {
                    let tag = (next() % tags) as u32;
                    index.insert(tag, next_slot);
                    model.insert(next_slot, tag);
                    next_slot += 1;
                } else {
                    let slots: Vec<u32> = model.keys().copied().collect();
                    let slot = slots[(r as usize / 5) % slots.len()];
                    let tag = model.remove(&slot).unwrap();
                    assert!(index.remove(tag, slot));
                    assert!(!index.remove(tag, slot));
                }
                assert_eq!(index.len(), model.len());
                // Every stored pair is found; a pair not stored is not.
                for (&slot, &tag) in model.iter().take(64) {
                    assert_eq!(index.find(tag, |s| s == slot), Some(slot));
                }
                assert_eq!(index.find((next() % tags) as u32, |s| s == next_slot), None);
            }
            for (&slot, &tag) in &model {
                assert_eq!(index.find(tag, |s| s == slot), Some(slot));
            }
        }
    }
}
